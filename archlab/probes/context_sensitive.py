"""Context-sensitive probes of Delétang et al. (ICLR 2023): duplicate string, binary addition.

Both append an output segment of blanks ``_`` after the input; only the blanks are labelled.
"""

from __future__ import annotations

import numpy as np

from archlab.probes.base import Batch, Draws, Probe, make_batch
from archlab.probes.context_free import BitStringTransduction
from archlab.probes.sampling import random_bits
from archlab.registry import PROBES


@PROBES.register("duplicate_string")
class DuplicateString(BitStringTransduction):
    """Write a binary string twice (Delétang et al.).

    Layout (T = 3L + 1): the string w (L bits), a separator ``|``, then 2L blanks ``_``; the
    targets at the blanks are w w (the only labelled positions).
    Example (L = 3): ``1 1 0 | _ _ _ _ _ _`` → ``· · · · 1 1 0 1 1 0``.
    """

    name = "duplicate_string"
    family = "context-sensitive"
    level = "context-sensitive"
    task = "output the input bit string twice"
    OUTPUT_FACTOR = 2

    def output(self, w: np.ndarray) -> np.ndarray:
        return np.concatenate([w, w], axis=1)

    def output_reference(self, w: list[int]) -> list[int]:
        return [w[i % len(w)] for i in range(2 * len(w))]


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

    Why every blank is scored: where the sum ends is part of the answer (a model that does not
    know the sum's length cannot place END), and a fixed layout keeps every position's target
    defined. The cost: the ENDs after the first are padding — 25 % of the scored positions at
    L = 40 — and easy once the length is known, so token accuracy over all blanks overstates the
    arithmetic. The range evaluation therefore also reports ``content_token_acc`` (the sum's
    bits and its first END) and ``padding_token_acc`` apart (:meth:`Probe.padding_mask`).
    """

    name = "binary_addition"
    family = "context-sensitive"
    level = "context-sensitive"
    task = "output the sum of two little-endian binary numbers"
    min_length = 2

    PLUS, EQ, BLANK = 2, 3, 4
    END = 2
    padding_target = END

    def token_labels(self) -> list[str]:
        return ["0", "1", "+", "=", "_"]

    def target_labels(self) -> list[str]:
        return ["0", "1", "END"]

    def seq_len(self, length: int) -> int:
        return 2 * length + 2

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        return {
            "nx": rng.integers(1, length, size=batch),
            "bits": random_bits(rng, (batch, length)),
        }

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        bits, nx = draws["bits"], np.asarray(draws["nx"], dtype=np.int64)
        head, total, n_out = _add_words(bits, nx)
        big = 2 * length + 2
        # assemble both in uint8 and widen each in one contiguous pass (the int64 writes dominate)
        tokens = np.empty((batch, big), dtype=np.uint8)
        tokens[:, : length + 1] = np.unpackbits(head.view(np.uint8), axis=1, bitorder="little")[
            :, : length + 1
        ]
        tokens[np.arange(batch), nx] = self.PLUS
        tokens[:, length + 1] = self.EQ
        tokens[:, length + 2 :] = self.BLANK
        # targets at the blanks: the sum's bits (zero from n_out on), plus END from n_out on
        targets = np.zeros((batch, big), dtype=np.uint8)
        out = targets[:, length + 2 :]
        out[...] = np.unpackbits(total.view(np.uint8), axis=1, bitorder="little")[:, :length]
        i: np.ndarray = np.arange(length, dtype=np.int16 if length < 2**14 else np.int32)
        past = i >= n_out.astype(i.dtype)[:, None]
        out += past
        out += past  # END = 2
        mask = np.zeros((batch, big), dtype=bool)
        mask[:, length + 2 :] = True
        tokens = tokens.astype(np.int64)
        targets = targets.astype(np.int64)
        return Batch(tokens, targets, mask)

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


_ONES = np.uint64(2**64 - 1)
#: _LOW_MASKS[j]: the uint64 word with its low j bits set (j = 0 … 64)
_LOW_MASKS = np.array([(1 << j) - 1 for j in range(65)], dtype=np.uint64)


def _pack_words(flags: np.ndarray) -> np.ndarray:
    """Bool/0-1 array [B, n] → little-endian uint64 words [B, ceil(n / 64)] (bit j of the row is
    bit j % 64 of word j // 64)."""
    packed = np.packbits(flags, axis=1, bitorder="little")
    buf = np.zeros((flags.shape[0], -(-flags.shape[1] // 64) * 8), dtype=np.uint8)
    buf[:, : packed.shape[1]] = packed
    return buf.view(np.uint64)


def _bit_length(w: np.ndarray) -> np.ndarray:
    """``int.bit_length`` of uint64 values, exactly (float64 exponents of the 32-bit halves)."""
    hi = (w >> np.uint64(32)).astype(np.float64)
    lo = (w & np.uint64(0xFFFFFFFF)).astype(np.float64)
    return np.where(hi > 0, np.frexp(hi)[1] + 32, np.frexp(lo)[1])


def _add_words(bits: np.ndarray, nx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The binary addition of every row on little-endian uint64 words, where x is the low ``nx``
    input bits and y the rest. Returns the input with a 0 bit inserted at position nx (the
    tokens before ``=``, less the ``+``; [B, ceil((L + 1) / 64)] words), x + y as
    [B, ceil(L / 64)] words, and the bit length of x + y (1 for the sum 0)."""
    batch, length = bits.shape
    nw = -(-length // 64)
    # the input as words, followed by nw + 1 zero words (so the shifted reads below stay inside)
    words = np.zeros((batch, 2 * nw + 1), dtype=np.uint64)
    packed = np.packbits(bits, axis=1, bitorder="little")
    words.view(np.uint8)[:, : packed.shape[1]] = packed
    low = words[:, :nw]
    x = low & _LOW_MASKS.take(nx[:, None] - 64 * np.arange(nw), mode="clip")  # low nx bits
    high = low ^ x  # y << nx
    # the high part moved up one bit: x, a 0 at bit nx, then y
    head = np.zeros((batch, nw + 1), dtype=np.uint64)
    head[:, :nw] = x | (high << np.uint64(1))
    head[:, 1:] |= high >> np.uint64(63)
    # y = input >> nx: word k is (word k + q) >> r | (word k + q + 1) << (64 - r), nx = 64 q + r
    q, r = np.divmod(nx, 64)
    at = (q + np.arange(batch) * (2 * nw + 1))[:, None] + np.arange(nw)
    flat = words.reshape(-1)
    r = r.astype(np.uint64)[:, None]
    y = (flat.take(at) >> r) | ((flat.take(at + 1) << np.uint64(1)) << (np.uint64(63) - r))
    total = x + y  # word sums without the carries between words
    gen = total < x  # word k overflows: carry out of it whatever comes in
    if nw <= 63:
        # word-level carry lookahead, one word per bit: adding G and G|P (P: word is all ones,
        # passes a carry on) runs the carries through; bit k of the sum xor P is the carry into k
        g = _pack_words(gen)[:, 0]
        p = _pack_words(total == _ONES)[:, 0]
        carry_in = (g + (g | p)) ^ p
        total += np.unpackbits(carry_in.view(np.uint8).reshape(batch, 8), axis=1, bitorder="little")[:, :nw]
    else:
        carry = np.zeros(batch, dtype=np.uint64)
        for k in range(nw):
            t = total[:, k] + carry
            total[:, k] = t
            carry = (gen[:, k] | (t < carry)).astype(np.uint64)
    top = nw - 1 - np.argmax((total != 0)[:, ::-1], axis=1)  # highest nonzero word (or word 0)
    top_bits = _bit_length(total[np.arange(batch), top])
    return head, total, np.where(top_bits > 0, 64 * top + top_bits, 1)
