"""Context-sensitive probes of Delétang et al. (ICLR 2023): duplicate string, binary addition.

Both append an output segment of blanks ``_`` after the input; only the blanks are labelled.
"""

from __future__ import annotations

import numpy as np

from archlab.probes.base import Batch, Draws, Probe, make_batch
from archlab.registry import PROBES


@PROBES.register("duplicate_string")
class DuplicateString(Probe):
    """Write a binary string twice (Delétang et al.).

    Layout (T = 3L + 1): the string w (L bits), a separator ``|``, then 2L blanks ``_``; the
    targets at the blanks are w w (the only labelled positions).
    Example (L = 3): ``1 1 0 | _ _ _ _ _ _`` → ``. . . . 1 1 0 1 1 0``.
    """

    name = "duplicate_string"
    family = "context_sensitive"
    level = "context-sensitive"
    task = "output the input bit string twice"

    SEP, BLANK = 2, 3

    def token_labels(self) -> list[str]:
        return ["0", "1", "|", "_"]

    def target_labels(self) -> list[str]:
        return ["0", "1"]

    def seq_len(self, length: int) -> int:
        return 3 * length + 1

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        return {"bits": rng.integers(0, 2, size=(batch, length), dtype=np.uint8)}

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        w = draws["bits"]
        big = 3 * length + 1
        tokens = np.full((batch, big), self.BLANK, dtype=np.int64)
        tokens[:, :length] = w
        tokens[:, length] = self.SEP
        targets = np.zeros((batch, big), dtype=np.int64)
        targets[:, length + 1 : 2 * length + 1] = w
        targets[:, 2 * length + 1 :] = w
        mask = np.zeros((batch, big), dtype=bool)
        mask[:, length + 1 :] = True
        return Batch(tokens, targets, mask)

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        tokens, targets, mask = [], [], []
        for w in draws["bits"].tolist():
            tokens.append(w + [self.SEP] + [self.BLANK] * (2 * length))
            out = []
            for i in range(2 * length):
                out.append(w[i % length])
            targets.append([0] * (length + 1) + out)
            mask.append([False] * (length + 1) + [True] * (2 * length))
        return make_batch(np.array(tokens), np.array(targets), np.array(mask))


@PROBES.register("binary_addition")
class BinaryAddition(Probe):
    """Sum of two binary numbers (Delétang et al.), all numbers little-endian (least significant
    bit first, so the carry flows left to right).

    ``length`` L counts the input bits: x has nx bits (nx uniform in 1..L-1), y the other
    L - nx; leading zeros may occur. Layout (T = 2L + 2): x, ``+``, y, ``=``, then L blanks
    ``_``. The targets at the blanks are the bits of x + y, little-endian and without leading
    zeros (the sum 0 is the single bit 0), then ``END`` on every remaining blank (the sum has at
    most max(nx, ny) + 1 <= L bits, so it always fits). All blanks are labelled.
    Example (L = 5): x = 3 (``1 1``), y = 6 (``0 1 1``): ``1 1 + 0 1 1 = _ _ _ _ _``
    → targets ``1 0 0 1 END`` at the blanks (9 = 1001 in binary, read backwards).
    """

    name = "binary_addition"
    family = "context_sensitive"
    level = "context-sensitive"
    task = "output the sum of two little-endian binary numbers"
    min_length = 2

    PLUS, EQ, BLANK = 2, 3, 4
    END = 2

    def token_labels(self) -> list[str]:
        return ["0", "1", "+", "=", "_"]

    def target_labels(self) -> list[str]:
        return ["0", "1", "END"]

    def seq_len(self, length: int) -> int:
        return 2 * length + 2

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        return {
            "nx": rng.integers(1, length, size=batch),
            "bits": rng.integers(0, 2, size=(batch, length), dtype=np.uint8),
        }

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        bits, nx = draws["bits"], draws["nx"][:, None]
        i = np.arange(length, dtype=np.int16 if length < 2**14 else np.int32)
        # the L input bits are x then y; align both on bit position i (zero beyond their width)
        x = np.where(i < nx, bits, np.uint8(0))
        padded = np.zeros((batch, 2 * length), dtype=np.uint8)
        padded[:, :length] = bits
        y = np.lib.stride_tricks.sliding_window_view(padded, length, axis=1)[np.arange(batch), nx[:, 0]]
        # carry into bit i + 1: the generate (1+1) or kill (0+0) bit at or below i that is
        # nearest to i decides it; forward-fill (2 i + generate) and read the low bit
        g = x & y
        decides = g | ~(x | y) & np.uint8(1)
        last = np.maximum.accumulate(np.where(decides == 1, 2 * i + g, -1), axis=1)
        carry = np.zeros((batch, length), dtype=np.uint8)
        carry[:, 1:] = (last[:, :-1] & 1) == 1  # -1 (no decider yet) has low bit 1 ...
        carry[:, 1:] &= last[:, :-1] >= 0  # ... so mask it out
        s = x ^ y ^ carry
        n_out = np.max(np.where(s == 1, i, 0), axis=1, keepdims=True) + 1  # 1 for the sum 0
        out = np.where(i < n_out, s, np.uint8(self.END))

        big = 2 * length + 2
        tokens = np.empty((batch, big), dtype=np.uint8)
        t = np.arange(length + 1)
        same = np.zeros((batch, length + 1), dtype=np.uint8)  # bit t (x part)
        same[:, :length] = bits
        shifted = np.zeros((batch, length + 1), dtype=np.uint8)  # bit t - 1 (y part, after "+")
        shifted[:, 1:] = bits
        tokens[:, : length + 1] = np.where(t < nx, same, np.where(t == nx, self.PLUS, shifted))
        tokens[:, length + 1] = self.EQ
        tokens[:, length + 2 :] = self.BLANK
        targets = np.zeros((batch, big), dtype=np.uint8)
        targets[:, length + 2 :] = out
        mask = np.zeros((batch, big), dtype=bool)
        mask[:, length + 2 :] = True
        return make_batch(tokens, targets, mask)

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        tokens, targets, mask = [], [], []
        for bits, nx in zip(draws["bits"].tolist(), draws["nx"].tolist(), strict=True):
            xb, yb = bits[:nx], bits[nx:]
            x = sum(b << k for k, b in enumerate(xb))
            y = sum(b << k for k, b in enumerate(yb))
            out = [int(c) for c in reversed(bin(x + y)[2:])]
            out += [self.END] * (length - len(out))
            tokens.append(xb + [self.PLUS] + yb + [self.EQ] + [self.BLANK] * length)
            targets.append([0] * (length + 2) + out)
            mask.append([False] * (length + 2) + [True] * length)
        return make_batch(np.array(tokens), np.array(targets), np.array(mask))
