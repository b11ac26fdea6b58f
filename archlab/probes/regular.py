"""Regular-language probes with a running label (the label at step t depends on tokens 1…t).

All of them are word problems of small automata; the abelian ones (parity, modular sum, cycle
navigation) are word problems of cyclic groups, which is what the theory rules key on.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from archlab.errors import ConfigError
from archlab.probes.base import Batch, Draws, Param, Probe, TheoryTag, make_batch
from archlab.probes.sampling import (
    bernoulli,
    count_below,
    prefix_sums,
    random_bits,
    running_sum_mod,
    uniform_digits,
)
from archlab.registry import PROBES

FINAL_ONLY = Param("final_only", bool, False, "label only the last position")


def running_mask(batch: int, length: int, final_only: bool) -> np.ndarray:
    """All positions, or only the last one when ``final_only``."""
    if not final_only:
        return np.ones((batch, length), dtype=bool)
    mask = np.zeros((batch, length), dtype=bool)
    mask[:, -1] = True
    return mask


class RunningProbe(Probe):
    """A probe whose label at every position is a function of the prefix."""

    PARAMS: ClassVar[tuple[Param, ...]] = (FINAL_ONLY,)

    def _mask(self, batch: int, length: int) -> np.ndarray:
        return running_mask(batch, length, self.params["final_only"])

    def _batch(self, tokens: np.ndarray, targets: np.ndarray) -> Batch:
        b, t = tokens.shape
        return make_batch(tokens, targets, self._mask(b, t))

    def _reference_batch(self, tokens: np.ndarray, rows: list[list[int]]) -> Batch:
        return self._batch(tokens, np.array(rows, dtype=np.int64).reshape(tokens.shape))


@PROBES.register("parity")
class Parity(RunningProbe):
    """Parity of the bits seen so far (the Z2 word problem).

    Example: tokens ``1 0 1 1 0 1 0`` → targets ``1 1 0 1 1 0 0`` (the running count of ones,
    1 1 2 3 3 4 4, modulo 2). With ``final_only`` only the last label (0: four ones, even) counts.
    """

    name = "parity"
    family = "regular"
    level = "regular"
    task = "running parity of a bit string (Z2 word problem)"

    def token_labels(self) -> list[str]:
        return ["0", "1"]

    def target_labels(self) -> list[str]:
        return ["0", "1"]

    @property
    def theory(self) -> TheoryTag:
        return TheoryTag(self.level, self.task, {"equivalent_group": "Z2", "modulus": 2})

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        # 64 fair bits per word; bit t of a row is bit t % 64 (least significant first) of word t // 64.
        words = rng.bit_generator.random_raw(batch * (-(-length // 64)))
        return {"words": np.asarray(words, dtype="<u8").reshape(batch, -1)}

    @staticmethod
    def _unpack(words: np.ndarray, length: int) -> np.ndarray:
        b = words.shape[0]
        return np.unpackbits(words.view(np.uint8), axis=1, bitorder="little").reshape(b, -1)[:, :length]

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        words = draws["words"]
        # Prefix XOR inside every 64-bit word (log-step shifts), then the parity of the earlier
        # words of the row flips the whole word when it is odd.
        x = words.copy()
        for shift in (1, 2, 4, 8, 16, 32):
            x ^= x << np.uint64(shift)
        word_parity = (x >> np.uint64(63)) & np.uint64(1)
        carry = np.bitwise_xor.accumulate(word_parity, axis=1) ^ word_parity  # parity before the word
        x ^= np.uint64(0) - carry  # 0 → no change, 1 → all ones
        return self._batch(self._unpack(words, length), self._unpack(x, length))

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        rows, bit_rows = [], []
        for words in draws["words"].tolist():
            bits = [(words[t // 64] >> (t % 64)) & 1 for t in range(length)]
            ones, row = 0, []
            for b in bits:
                ones += b
                row.append(ones % 2)
            rows.append(row)
            bit_rows.append(bits)
        return self._reference_batch(np.array(bit_rows, dtype=np.int64), rows)


@PROBES.register("modular_sum")
class ModularSum(RunningProbe):
    """Running sum of digits modulo m (the Z_m word problem).

    Example (m = 3): tokens ``2 2 1 0 2`` → targets ``2 1 2 2 1`` (running sums 2 4 5 5 7 mod 3).
    """

    name = "modular_sum"
    family = "regular"
    level = "regular"
    task = "running sum of digits 0..m-1 modulo m (Z_m word problem)"
    PARAMS = (Param("m", int, 3, "modulus", low=2, high=1024), FINAL_ONLY)

    def token_labels(self) -> list[str]:
        return [str(i) for i in range(self.params["m"])]

    target_labels = token_labels

    @property
    def theory(self) -> TheoryTag:
        m = self.params["m"]
        return TheoryTag(self.level, self.task, {"equivalent_group": f"Z{m}", "modulus": m})

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        return {"digits": uniform_digits(rng, self.params["m"], (batch, length))}

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        return self._batch(draws["digits"], running_sum_mod(draws["digits"], self.params["m"]))

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        m, rows = self.params["m"], []
        for digits in draws["digits"].tolist():
            s, row = 0, []
            for d in digits:
                s = (s + d) % m
                row.append(s)
            rows.append(row)
        return self._reference_batch(draws["digits"], rows)


@PROBES.register("cycle_navigation")
class CycleNavigation(RunningProbe):
    """Position of an agent on a cycle of m nodes, starting at node 0 (Delétang et al.).

    Tokens: ``=`` stay, ``+`` one step forward, ``-`` one step back. Example (m = 5):
    ``+ + - = - -`` → targets ``1 2 1 1 0 4``.
    """

    name = "cycle_navigation"
    family = "regular"
    level = "regular"
    task = "position on a cycle of m nodes after stay/forward/back moves"
    PARAMS = (Param("m", int, 5, "cycle length", low=2, high=1024), FINAL_ONLY)

    def token_labels(self) -> list[str]:
        return ["=", "+", "-"]

    def target_labels(self) -> list[str]:
        return [str(i) for i in range(self.params["m"])]

    @property
    def theory(self) -> TheoryTag:
        m = self.params["m"]
        return TheoryTag(self.level, self.task, {"equivalent_group": f"Z{m}", "modulus": m})

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        return {"moves": uniform_digits(rng, 3, (batch, length))}

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        moves = draws["moves"]
        m = self.params["m"]
        # A step back is a step of m - 1 forward: the running sums stay non-negative.
        steps = np.array([0, 1, m - 1], dtype=np.uint16 if m > 256 else np.uint8)[moves]
        pos = running_sum_mod(steps, m)
        return self._batch(moves, pos)

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        m, rows = self.params["m"], []
        step = {0: 0, 1: 1, 2: -1}  # stay, forward, back
        for moves in draws["moves"].tolist():
            pos, row = 0, []
            for mv in moves:
                pos = (pos + step[mv]) % m
                row.append(pos)
            rows.append(row)
        return self._reference_batch(draws["moves"], rows)


@PROBES.register("even_pairs")
class EvenPairs(RunningProbe):
    """Whether the number of ``ab`` plus ``ba`` pairs in the prefix is even (Delétang et al.).

    The count is even exactly when the prefix starts and ends with the same letter.
    Example: ``a b b a b`` → pairs so far 0 1 1 2 3 → targets ``1 0 0 1 0`` (1 = even).
    """

    name = "even_pairs"
    family = "regular"
    level = "regular"
    task = "is the number of ab/ba pairs in the prefix even"

    def token_labels(self) -> list[str]:
        return ["a", "b"]

    def target_labels(self) -> list[str]:
        return ["odd", "even"]

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        return {"letters": random_bits(rng, (batch, length))}

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        x = draws["letters"]
        return self._batch(x, x == x[:, :1])

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        rows = []
        for letters in draws["letters"].tolist():
            pairs, prev, row = 0, None, []
            for x in letters:
                if prev is not None and x != prev:
                    pairs += 1  # an "ab" or a "ba"
                prev = x
                row.append(int(pairs % 2 == 0))
            rows.append(row)
        return self._reference_batch(draws["letters"], rows)


@PROBES.register("flip_flop")
class FlipFlop(Probe):
    """Flip-flop language (Liu et al. 2023): remember the last written bit, answer at reads.

    Tokens: ``w0 w1`` write a bit, ``i0 i1`` ignore a bit, ``r`` read. The first token is
    always a write and the last always a read, so every sequence has at least one label.
    Targets count only at reads: the last bit written.
    Example: ``w1 i0 r i1 w0 r r`` → ``· · 1 · · 0 0``.
    """

    name = "flip_flop"
    family = "regular"
    level = "regular"
    task = "output the last written bit at every read instruction"
    min_length = 2
    PARAMS = (
        Param("p_read", float, 0.1, "probability of a read instruction", low=0.0, high=1.0),
        Param("p_ignore", float, 0.8, "probability of an ignore instruction", low=0.0, high=1.0),
    )

    def _validate(self) -> None:
        p = self.params["p_read"] + self.params["p_ignore"]
        if p >= 1.0:
            raise ConfigError(
                "flip_flop.p_ignore",
                f"p_read + p_ignore = {p:g} leaves no probability for writes",
                "p_read + p_ignore < 1",
            )

    def token_labels(self) -> list[str]:
        return ["w0", "w1", "i0", "i1", "r"]

    def target_labels(self) -> list[str]:
        return ["0", "1"]

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        pr, pi = self.params["p_read"], self.params["p_ignore"]
        # 0 = write, 1 = ignore, 2 = read (a word below both thresholds is a read)
        kind = count_below(rng, [pr + pi, pr], (batch, length))
        return {"kind": kind, "bits": random_bits(rng, (batch, length))}

    def _instructions(self, kind: np.ndarray) -> np.ndarray:
        """0 = write, 1 = ignore, 2 = read; the first is a write, the last a read."""
        kind = kind.copy()
        kind[:, 0] = 0
        kind[:, -1] = 2
        return kind

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        kind, bits = self._instructions(draws["kind"]), draws["bits"]
        is_read = kind == 2
        tokens = 2 * kind + bits * ~is_read  # w0 w1 i0 i1 → 0..3, r → 4
        # Forward-fill the last written bit: at writes store 2·t + bit (increasing in t), carry the
        # running maximum, and its low bit is the bit of the latest write.
        code = (2 * np.arange(length, dtype=np.int32) + bits) * (kind == 0)
        value = np.maximum.accumulate(code, axis=1) & 1
        return make_batch(tokens, value, is_read)

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        kind = self._instructions(draws["kind"])
        tokens, targets, mask = [], [], []
        for ks, bs in zip(kind.tolist(), draws["bits"].tolist(), strict=True):
            memory = None
            for k, b in zip(ks, bs, strict=True):
                if k == 0:
                    memory = b
                    tokens.append(b)
                elif k == 1:
                    tokens.append(2 + b)
                else:
                    tokens.append(4)
                targets.append(memory if k == 2 else 0)
                mask.append(k == 2)
        shape = (batch, length)
        return make_batch(
            np.array(tokens).reshape(shape), np.array(targets).reshape(shape), np.array(mask).reshape(shape)
        )


@PROBES.register("count_threshold")
class CountThreshold(RunningProbe):
    """Whether at least k ones have been seen so far (a regular counting language).

    Example (k = 2): ``0 1 0 0 1 1`` → ``0 0 0 0 1 1``.
    """

    name = "count_threshold"
    family = "regular"
    level = "regular"
    task = "have at least k ones occurred in the prefix"
    PARAMS = (
        Param("k", int, 3, "threshold", low=1, high=1_000_000),
        Param("p_one", float, 0.2, "probability of a one", low=0.0, high=1.0),
        FINAL_ONLY,
    )

    def token_labels(self) -> list[str]:
        return ["0", "1"]

    target_labels = token_labels

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        return {"bits": bernoulli(rng, self.params["p_one"], (batch, length))}

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        bits = draws["bits"]
        return self._batch(bits, prefix_sums(bits, length) >= self.params["k"])

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        bits = draws["bits"]
        rows = []
        for row_bits in bits.tolist():
            seen, row = 0, []
            for b in row_bits:
                seen += b
                row.append(int(seen >= self.params["k"]))
            rows.append(row)
        return self._reference_batch(bits, rows)


@PROBES.register("majority")
class Majority(RunningProbe):
    """Whether ones outnumber zeros in the prefix (needs an unbounded counter: not regular).

    Example: ``1 0 0 1 1 1`` → ``1 0 0 0 1 1`` (a tie counts as 0).
    """

    name = "majority"
    family = "counter"
    level = "counter"
    task = "do ones strictly outnumber zeros in the prefix"

    def token_labels(self) -> list[str]:
        return ["0", "1"]

    target_labels = token_labels

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        return {"bits": random_bits(rng, (batch, length))}

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        bits = draws["bits"]
        ones = prefix_sums(bits, length).astype(np.int32)
        # ones > zeros  ⟺  2·ones > t + 1 at (0-based) position t
        return self._batch(bits, 2 * ones > np.arange(1, length + 1, dtype=np.int32))

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        rows = []
        for bits in draws["bits"].tolist():
            ones = zeros = 0
            row = []
            for b in bits:
                ones, zeros = ones + (b == 1), zeros + (b == 0)
                row.append(int(ones > zeros))
            rows.append(row)
        return self._reference_batch(draws["bits"], rows)
