"""The 15 tasks of Delétang et al. (ICLR 2023), exactly as their code codes and scores them.

Source: google-deepmind/neural_networks_chomsky_hierarchy at 2b8eb4b (``tasks/``, ``experiments/
utils.py``), read for facts; nothing here is copied. Every probe of this module is named
``dm_<their task name>`` and keeps their token ids, so a row of their data is a row of ours:

* the model reads the task's input (``input_length`` tokens, their ids) and then
  ``output_length`` blank tokens (id ``input_size``, the extra one-hot dimension their
  ``make_model_with_empty_targets`` appends), and is scored on the last ``output_length``
  positions only;
* the scored part of the answer is theirs: every output position, except for
  binary_addition, binary_multiplication and stack_manipulation, which are scored up to and
  including the first termination token (their ``accuracy_mask``), so the 0-padding after it
  is never scored.

Sampling follows their generators' distributions (operand lengths, initial-stack sizes,
expression shapes); the random streams are numpy's, so a batch is theirs in law, not in bits.
``label`` turns any input rows into the scored batch, which is what the peer-fixture check
(:mod:`archlab.probes.fixtures`) compares with their own targets.
"""

from __future__ import annotations

import itertools
import math
from typing import ClassVar

import numpy as np

from archlab.errors import ConfigError
from archlab.probes.base import Batch, Draws, Param, Probe, TheoryTag, make_batch
from archlab.registry import PROBES

MODULUS = Param("m", int, 5, "modulus (the paper uses 5)", low=2, high=50)


class DeepMindTask(Probe):
    """A task in Delétang et al.'s layout: input, then blanks; scored on the output segment."""

    family = "deletang2023"
    #: their input and output token meanings, by id
    INPUT_NAMES: ClassVar[tuple[str, ...]] = ()
    OUTPUT_NAMES: ClassVar[tuple[str, ...]] = ()
    #: the output token that ends the answer (scored up to and including it), or None
    TERMINATION: ClassVar[int | None] = None

    def input_names(self) -> list[str]:
        return list(self.INPUT_NAMES)

    def output_names(self) -> list[str]:
        return list(self.OUTPUT_NAMES)

    def token_labels(self) -> list[str]:
        return [*self.input_names(), "_"]

    def target_labels(self) -> list[str]:
        return self.output_names()

    @property
    def blank(self) -> int:
        return len(self.input_names())

    def input_length(self, length: int) -> int:
        return length

    def output_length(self, length: int) -> int:
        return 1

    def seq_len(self, length: int) -> int:
        return self.input_length(length) + self.output_length(length)

    # -- to override -----------------------------------------------------------------------------
    def sample_inputs(self, rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
        raise NotImplementedError

    def answer(self, row: list[int]) -> list[int]:
        """The output tokens for one input row (plain Python: the reference)."""
        raise NotImplementedError

    def answers(self, inputs: np.ndarray) -> np.ndarray:
        """The output tokens of every row, [B, output_length]; vectorised where it pays."""
        return np.array([self.answer([int(v) for v in r]) for r in inputs], dtype=np.int64)

    # -- the layout ------------------------------------------------------------------------------
    def _scored(self, outputs: np.ndarray) -> np.ndarray:
        if self.TERMINATION is None:
            return np.ones(outputs.shape, dtype=bool)
        # their accuracy_mask: positions up to the first maximum of the target ids, i.e. the
        # first termination token (the largest output id)
        first = np.argmax(outputs, axis=1)
        return np.arange(outputs.shape[1])[None, :] <= first[:, None]

    def _assemble(self, inputs: np.ndarray, outputs: np.ndarray) -> Batch:
        b, n_in = inputs.shape
        n_out = outputs.shape[1]
        tokens = np.concatenate([inputs, np.full((b, n_out), self.blank, dtype=np.int64)], axis=1)
        targets = np.concatenate([np.zeros((b, n_in), dtype=np.int64), outputs], axis=1)
        mask = np.concatenate([np.zeros((b, n_in), dtype=bool), self._scored(outputs)], axis=1)
        return make_batch(tokens, targets, mask)

    def label(self, inputs: np.ndarray) -> Batch:
        """The scored batch for given input rows (their ids, without the blanks)."""
        inputs = np.asarray(inputs, dtype=np.int64).reshape(len(inputs), -1)
        return self._assemble(inputs, self.answers(inputs))

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        return {"inputs": np.asarray(self.sample_inputs(rng, batch, length), dtype=np.int64)}

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        return self.label(draws["inputs"])

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        inputs = draws["inputs"]
        rows = [self.answer([int(v) for v in r]) for r in inputs]
        outputs = np.array(rows, dtype=np.int64).reshape(len(inputs), -1)
        return self._assemble(inputs, outputs)

    @property
    def theory(self) -> TheoryTag:
        return TheoryTag(self.level, self.task, {"protocol": "deletang2023", "scored": "output segment"})


# ---------------------------------------------------------------------------------------------
# regular


@PROBES.register("dm_parity_check")
class DMParityCheck(DeepMindTask):
    """Parity of the number of 1s (Delétang et al.'s parity_check): one answer after the input.

    Example: input ``1 0 1 1`` then one blank → target ``1`` (three ones) at the blank."""

    name = "dm_parity_check"
    level = "regular"
    task = "number of 1s mod 2, one answer after the input"
    INPUT_NAMES = ("0", "1")
    OUTPUT_NAMES = ("even", "odd")

    def sample_inputs(self, rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
        return rng.integers(0, 2, size=(batch, length))

    def answer(self, row: list[int]) -> list[int]:
        return [sum(row) % 2]

    def answers(self, inputs: np.ndarray) -> np.ndarray:
        return (inputs.sum(axis=1, keepdims=True) % 2).astype(np.int64)


@PROBES.register("dm_even_pairs")
class DMEvenPairs(DeepMindTask):
    """Whether the number of unequal adjacent pairs (01 or 10) is odd (their even_pairs: target
    1 = odd). It equals first bit XOR last bit. Example: ``0 1 1 0`` → 0 (two unequal pairs)."""

    name = "dm_even_pairs"
    level = "regular"
    task = "number of 01/10 pairs mod 2 (1 = odd), one answer"
    INPUT_NAMES = ("0", "1")
    OUTPUT_NAMES = ("even pairs", "odd pairs")

    def sample_inputs(self, rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
        return rng.integers(0, 2, size=(batch, length))

    def answer(self, row: list[int]) -> list[int]:
        return [sum(int(a != b) for a, b in itertools.pairwise(row)) % 2]

    def answers(self, inputs: np.ndarray) -> np.ndarray:
        return (inputs[:, :1] ^ inputs[:, -1:]).astype(np.int64)


@PROBES.register("dm_cycle_navigation")
class DMCycleNavigation(DeepMindTask):
    """Position on a 5-cycle after the moves, start 0 (their cycle_navigation: token 0 = left,
    1 = stay, 2 = right). Example: ``2 2 0 2`` → 2."""

    name = "dm_cycle_navigation"
    level = "regular"
    task = "sum of (action - 1) mod 5, one answer"
    INPUT_NAMES = ("left", "stay", "right")
    OUTPUT_NAMES = tuple(f"pos{i}" for i in range(5))

    def sample_inputs(self, rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
        return rng.integers(0, 3, size=(batch, length))

    def answer(self, row: list[int]) -> list[int]:
        return [sum(a - 1 for a in row) % 5]

    def answers(self, inputs: np.ndarray) -> np.ndarray:
        return ((inputs - 1).sum(axis=1, keepdims=True) % 5).astype(np.int64)


@PROBES.register("dm_modular_arithmetic")
class DMModularArithmetic(DeepMindTask):
    """Value mod m of an expression without brackets, × before + and − (their
    modular_arithmetic). Digits at even positions, operators (+, −, × uniformly) at odd ones;
    an even ``length`` gives an expression of length − 1, as theirs does.
    Example (m = 5): ``1 - 2 * 3`` → 0 (1 − 6 = −5)."""

    name = "dm_modular_arithmetic"
    level = "regular"
    task = "value mod m of a +,-,* expression with precedence, one answer"
    PARAMS = (MODULUS,)

    def input_names(self) -> list[str]:
        return [*(str(i) for i in range(self.params["m"])), "+", "-", "*", "_ (unused)"]

    def output_names(self) -> list[str]:
        return [str(i) for i in range(self.params["m"])]

    def token_labels(self) -> list[str]:
        return [*self.input_names(), "blank"]

    def input_length(self, length: int) -> int:
        return length if length % 2 else length - 1

    def sample_inputs(self, rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
        m, n = self.params["m"], self.input_length(length)
        out = np.empty((batch, n), dtype=np.int64)
        out[:, ::2] = rng.integers(0, m, size=(batch, (n + 1) // 2))
        out[:, 1::2] = m + rng.integers(0, 3, size=(batch, n // 2))
        return out

    def answer(self, row: list[int]) -> list[int]:
        return [evaluate(row, self.params["m"])[0]]


# ---------------------------------------------------------------------------------------------
# deterministic context-free


VOCAB = Param("vocab", int, 2, "number of symbols (theirs: 2; bucket_sort 5)", low=2, high=100)


class _StringTask(DeepMindTask):
    """A string over ``vocab`` symbols in, a rearrangement of it out."""

    PARAMS = (VOCAB,)

    def input_names(self) -> list[str]:
        return [str(i) for i in range(self.params["vocab"])]

    def output_names(self) -> list[str]:
        return self.input_names()

    def sample_inputs(self, rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
        return rng.integers(0, self.params["vocab"], size=(batch, length))

    def output_length(self, length: int) -> int:
        return length


@PROBES.register("dm_reverse_string")
class DMReverseString(_StringTask):
    """The input reversed, written on the L blanks after it (their reverse_string).
    Example: ``1 1 0`` → ``0 1 1``."""

    name = "dm_reverse_string"
    level = "context-free"
    task = "the input reversed"

    def answer(self, row: list[int]) -> list[int]:
        return row[::-1]

    def answers(self, inputs: np.ndarray) -> np.ndarray:
        return inputs[:, ::-1].copy()


@PROBES.register("dm_stack_manipulation")
class DMStackManipulation(DeepMindTask):
    """The final stack, top first, then the termination token and 0-padding to L + 1 (their
    stack_manipulation). Input: an initial stack of 1 … L−1 bits (bottom to top), then actions
    POP (ignored on an empty stack), PUSH 0, PUSH 1; at L = 1 the input is one stack bit.
    Scored up to and including the termination token.
    Example: ``0 1 | PUSH1 POP POP`` → ``0 END 0 0 0 0``, scored ``0 END``."""

    name = "dm_stack_manipulation"
    level = "context-free"
    task = "final stack (top first) after push/pop actions, then END"
    INPUT_NAMES = ("0", "1", "POP", "PUSH 0", "PUSH 1")
    OUTPUT_NAMES = ("0", "1", "END")
    TERMINATION = 2

    def output_length(self, length: int) -> int:
        return length + 1

    def sample_inputs(self, rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
        if length == 1:
            return rng.integers(0, 2, size=(batch, 1))
        stack_len = rng.integers(1, length, size=(batch, 1))
        bits = rng.integers(0, 2, size=(batch, length))
        actions = rng.integers(2, 5, size=(batch, length))
        return np.where(np.arange(length)[None, :] < stack_len, bits, actions)

    def answer(self, row: list[int]) -> list[int]:
        stack: list[int] = []
        acting = False  # the initial stack ends at the first action
        for tok in row:
            if tok in (0, 1):
                if acting:  # not an input their generator makes
                    raise ValueError(f"stack bit {tok} after an action")
                stack.append(tok)
                continue
            acting = True
            if tok == 2:
                if stack:
                    stack.pop()
            elif tok in (3, 4):
                stack.append(tok - 3)
            else:
                raise ValueError(f"unknown token {tok}")
        out = [*stack[::-1], 2]
        return out + [0] * (len(row) + 1 - len(out))


@PROBES.register("dm_modular_arithmetic_brackets")
class DMModularArithmeticBrackets(DeepMindTask):
    """Value mod m of a fully bracketed expression with +, −, × and unary minus, of exactly
    the given length (their modular_arithmetic_brackets with mult=True, as they run it).
    Lengths 1–4 are ``d``, ``-d``, ``(d)``, ``(-d)``; longer ones ``(A op B)`` with A's length
    uniform in 1 … L−4. Example (m = 5): ``((-3)*(2+4))`` → 2 (−18 mod 5)."""

    name = "dm_modular_arithmetic_brackets"
    level = "context-free"
    task = "value mod m of a bracketed +,-,* expression with unary minus, one answer"
    PARAMS = (MODULUS, Param("mult", bool, True, "use × as well as + and − (theirs: True)"))

    def input_names(self) -> list[str]:
        return [*(str(i) for i in range(self.params["m"])), "+", "-", "*", "(", ")", "x (unused)"]

    def output_names(self) -> list[str]:
        return [str(i) for i in range(self.params["m"])]

    def token_labels(self) -> list[str]:
        return [*self.input_names(), "blank"]

    @property
    def theory(self) -> TheoryTag:
        ops = "+-*" if self.params["mult"] else "+-"
        return TheoryTag(self.level, self.task, {"protocol": "deletang2023", "operators": ops})

    def sample_inputs(self, rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
        m = self.params["m"]
        return np.array([bracketed_expression(rng, length, m, self.params["mult"]) for _ in range(batch)])

    def answer(self, row: list[int]) -> list[int]:
        return [evaluate(row, self.params["m"])[0]]


@PROBES.register("dm_solve_equation")
class DMSolveEquation(DeepMindTask):
    """The digit x replaced in a bracketed +/− equation ``expr = v`` (their solve_equation):
    an expression of length L−2 (no ×, so the solution is unique), one digit replaced by x,
    then ``=`` and its value. Example (m = 5): ``(x-(-2))=4`` → 2."""

    name = "dm_solve_equation"
    level = "context-free"
    task = "solve a bracketed +/- equation mod m for x, one answer"
    min_length = 3
    PARAMS = (MODULUS,)

    def input_names(self) -> list[str]:
        return [*(str(i) for i in range(self.params["m"])), "+", "-", "(", ")", "x", "="]

    def output_names(self) -> list[str]:
        return [str(i) for i in range(self.params["m"])]

    def token_labels(self) -> list[str]:
        return [*self.input_names(), "blank"]

    def sample_inputs(self, rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
        m = self.params["m"]
        plus, minus, lpar, rpar, x, eq = m, m + 1, m + 2, m + 3, m + 4, m + 5
        # the expression generator's ids (+ - * ( )) → this task's ids (+ - ( ) x =)
        recode = {m: plus, m + 1: minus, m + 3: lpar, m + 4: rpar}
        rows = []
        for _ in range(batch):
            expr = bracketed_expression(rng, length - 2, m, mult=False)
            value = evaluate(expr, m)[0]
            expr = [recode.get(t, t) for t in expr]
            idx = int(rng.integers(0, len(expr)))
            while expr[idx] >= m:  # their rule: walk right (cyclically) to the next digit
                idx = (idx + 1) % len(expr)
            expr[idx] = x
            rows.append([*expr, eq, value])
        return np.array(rows)

    def answer(self, row: list[int]) -> list[int]:
        m = self.params["m"]
        eq = row.index(m + 5)
        # the expression's ids → evaluate()'s ids: ( ) move from m+2, m+3 to m+3, m+4
        recode = {m + 2: m + 3, m + 3: m + 4, m + 4: X}
        const, coef = evaluate([recode.get(t, t) for t in row[:eq]], m)
        value = row[eq + 1]
        if coef % m == 0:
            raise ValueError("the equation does not determine x")
        return [((value - const) * pow(coef, -1, m)) % m]


# ---------------------------------------------------------------------------------------------
# context-sensitive


@PROBES.register("dm_duplicate_string")
class DMDuplicateString(_StringTask):
    """The input written twice on the 2L blanks after it (their duplicate_string).
    Example: ``1 0`` → ``1 0 1 0``."""

    name = "dm_duplicate_string"
    level = "context-sensitive"
    task = "the input written twice"

    def output_length(self, length: int) -> int:
        return 2 * length

    def answer(self, row: list[int]) -> list[int]:
        return row + row

    def answers(self, inputs: np.ndarray) -> np.ndarray:
        return np.concatenate([inputs, inputs], axis=1)


@PROBES.register("dm_missing_duplicate_string")
class DMMissingDuplicateString(DeepMindTask):
    """The bit hidden by the placeholder in a string written twice (their
    missing_duplicate_string): L//2 bits, twice, one position replaced by token 2, and token 3
    as padding when L is odd. Example: ``1 0 2 0`` → 1."""

    name = "dm_missing_duplicate_string"
    level = "context-sensitive"
    task = "the bit hidden in a twice-written string, one answer"
    min_length = 2
    INPUT_NAMES = ("0", "1", "?", "pad")
    OUTPUT_NAMES = ("0", "1")

    def sample_inputs(self, rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
        half = length // 2
        s = rng.integers(0, 2, size=(batch, half))
        rows = np.concatenate([s, s, np.full((batch, length % 2), 3)], axis=1)
        hide = rng.integers(0, 2 * half, size=batch)
        rows[np.arange(batch), hide] = 2
        return rows

    def answer(self, row: list[int]) -> list[int]:
        half = len(row) // 2
        i = row.index(2)
        return [row[i + half] if i < half else row[i - half]]

    def answers(self, inputs: np.ndarray) -> np.ndarray:
        half = inputs.shape[1] // 2
        i = np.argmax(inputs == 2, axis=1)
        other = np.where(i < half, i + half, i - half)
        return inputs[np.arange(len(inputs)), other][:, None].copy()


@PROBES.register("dm_odds_first")
class DMOddsFirst(_StringTask):
    """The odd-numbered symbols then the even-numbered ones, 1-based as in the paper (their
    odds_first: ``input[1::2] + input[::2]`` in 0-based terms). Example: ``a b c d e`` →
    ``b d a c e``."""

    name = "dm_odds_first"
    level = "context-sensitive"
    task = "symbols at positions 2,4,... then 1,3,... (1-based)"

    def answer(self, row: list[int]) -> list[int]:
        return row[1::2] + row[::2]

    def answers(self, inputs: np.ndarray) -> np.ndarray:
        return np.concatenate([inputs[:, 1::2], inputs[:, ::2]], axis=1)


class _BinaryArithmetic(DeepMindTask):
    """x op y, both little-endian binary; output: the result little-endian, END, 0-padding."""

    min_length = 3
    INPUT_NAMES = ("0", "1", "op")
    OUTPUT_NAMES = ("0", "1", "END")
    TERMINATION = 2

    def combine(self, x: int, y: int) -> int:
        raise NotImplementedError

    def sample_inputs(self, rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
        rows = []
        for _ in range(batch):
            n = int(rng.integers(1, length - 1))
            x = int(rng.integers(1, 2**n)) if n < 63 else random_positive(rng, n)
            k = length - 1 - n
            y = int(rng.integers(1, 2**k)) if k < 63 else random_positive(rng, k)
            rows.append([*little_endian(x, n), 2, *little_endian(y, k)])
        return np.array(rows)

    def answer(self, row: list[int]) -> list[int]:
        op = row.index(2)
        x = sum(b << i for i, b in enumerate(row[:op]))
        y = sum(b << i for i, b in enumerate(row[op + 1 :]))
        z = self.combine(x, y)
        out = ([int(c) for c in reversed(f"{z:b}")] if z else []) + [2]
        return out + [0] * (self.output_length(len(row)) - len(out))


@PROBES.register("dm_binary_addition")
class DMBinaryAddition(_BinaryArithmetic):
    """x + y in little-endian binary (their binary_addition): operands of 1 … L−2 bits, value ≥ 1,
    leading zeros allowed; output the sum without leading zeros, END, 0-padding to L + 1.
    Scored up to END. Example: ``1 1 + 1`` (3 + 1) → ``0 0 1 END 0 0``, scored ``0 0 1 END``."""

    name = "dm_binary_addition"
    level = "context-sensitive"
    task = "x + y in little-endian binary, then END"
    INPUT_NAMES = ("0", "1", "+")

    def output_length(self, length: int) -> int:
        return length + 1

    def combine(self, x: int, y: int) -> int:
        return x + y


@PROBES.register("dm_binary_multiplication")
class DMBinaryMultiplication(_BinaryArithmetic):
    """x × y in little-endian binary (their binary_multiplication), output padded to L.
    Example: ``1 1 * 1 1`` (3 × 3) → ``1 0 0 1 END``."""

    name = "dm_binary_multiplication"
    level = "context-sensitive"
    task = "x * y in little-endian binary, then END"
    INPUT_NAMES = ("0", "1", "*")

    def output_length(self, length: int) -> int:
        return length

    def combine(self, x: int, y: int) -> int:
        return x * y


@PROBES.register("dm_compute_sqrt")
class DMComputeSqrt(DeepMindTask):
    """floor(sqrt(n)) for n written in exactly L big-endian bits (value ≥ 1), output in ⌈L/2⌉
    big-endian bits (their compute_sqrt). Example: ``1 0 1 0`` (10) → ``1 1`` (3)."""

    name = "dm_compute_sqrt"
    level = "context-sensitive"
    task = "floor(sqrt(n)) in big-endian binary"
    INPUT_NAMES = ("0", "1")
    OUTPUT_NAMES = ("0", "1")

    def output_length(self, length: int) -> int:
        return math.ceil(length / 2)

    def sample_inputs(self, rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
        rows = []
        for _ in range(batch):
            n = int(rng.integers(1, 2**length)) if length < 63 else random_positive(rng, length)
            rows.append(little_endian(n, length)[::-1])
        return np.array(rows)

    def answer(self, row: list[int]) -> list[int]:
        n = int("".join(map(str, row)), 2)
        return little_endian(math.isqrt(n), self.output_length(len(row)))[::-1]


@PROBES.register("dm_bucket_sort")
class DMBucketSort(_StringTask):
    """The input sorted ascending (their bucket_sort, vocabulary 5). Example: ``3 0 4 0`` →
    ``0 0 3 4``."""

    name = "dm_bucket_sort"
    level = "context-sensitive"
    task = "the input sorted ascending"
    PARAMS = (Param("vocab", int, 5, "number of symbols (theirs: 5)", low=2, high=100),)

    def output_length(self, length: int) -> int:
        return length

    def answer(self, row: list[int]) -> list[int]:
        return sorted(row)

    def answers(self, inputs: np.ndarray) -> np.ndarray:
        return np.sort(inputs, axis=1)


# ---------------------------------------------------------------------------------------------
# helpers: binary numbers, expressions

#: the variable's id in :func:`evaluate` (outside every modulus' token range)
X = -1


def little_endian(n: int, bits: int) -> list[int]:
    return [(n >> i) & 1 for i in range(bits)]


def random_positive(rng: np.random.Generator, bits: int) -> int:
    """A uniform integer in [1, 2**bits) for any number of bits."""
    while True:
        words = rng.integers(0, 2**32, size=(bits + 31) // 32, dtype=np.uint64)
        n = sum(int(w) << (32 * i) for i, w in enumerate(words)) & ((1 << bits) - 1)
        if n:
            return n


def bracketed_expression(rng: np.random.Generator, length: int, m: int, mult: bool) -> list[int]:
    """A random bracketed expression of exactly ``length`` tokens in the ids of
    :func:`evaluate` (digits, m + 0/1/2 = + − ×, m + 3/4 = ( )), following Delétang et al.'s
    grammar and split distribution."""
    plus, lpar, rpar = m, m + 3, m + 4
    if length < 1:
        raise ConfigError("length", f"{length} is too short for an expression", ">= 1")
    d = int(rng.integers(0, m))
    if length == 1:
        return [d]
    if length == 2:
        return [m + 1, d]
    if length == 3:
        return [lpar, d, rpar]
    if length == 4:
        return [lpar, m + 1, d, rpar]
    left = int(rng.integers(1, length - 3))
    op = plus + int(rng.integers(0, 3 if mult else 2))
    a = bracketed_expression(rng, left, m, mult)
    b = bracketed_expression(rng, length - left - 3, m, mult)
    return [lpar, *a, op, *b, rpar]


def evaluate(tokens: list[int], m: int) -> tuple[int, int]:
    """Value mod m of an expression over digits 0 … m−1, m + 0/1/2 = + − × (× binds tighter,
    left-associative), unary −, m + 3/4 = ( ) and the variable :data:`X`, as the linear form
    ``(constant, coefficient of X)``. × of two terms that both contain X is refused."""
    pos = 0

    def peek() -> int | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> int:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError("the expression ends early")
        pos += 1
        return tokens[pos - 1]

    def atom() -> tuple[int, int]:
        t = take()
        if t == m + 1:  # unary minus
            c, k = atom()
            return -c % m, -k % m
        if t == m + 3:
            v = expr()
            if take() != m + 4:
                raise ValueError("unbalanced brackets")
            return v
        if t == X:
            return 0, 1
        if 0 <= t < m:
            return t, 0
        raise ValueError(f"unexpected token {t}")

    def term() -> tuple[int, int]:
        c, k = atom()
        while peek() == m + 2:
            take()
            c2, k2 = atom()
            if k and k2:
                raise ValueError("x times x is not linear")
            c, k = (c * c2) % m, (c * k2 + k * c2) % m
        return c, k

    def expr() -> tuple[int, int]:
        c, k = term()
        while peek() in (m, m + 1):
            sign = 1 if take() == m else -1
            c2, k2 = term()
            c, k = (c + sign * c2) % m, (k + sign * k2) % m
        return c, k

    value = expr()
    if pos != len(tokens):
        raise ValueError(f"trailing tokens from position {pos}")
    return value


# ---------------------------------------------------------------------------------------------
# their data, checked (archlab probe fixtures)

PEER = "google-deepmind/neural_networks_chomsky_hierarchy"

#: Token map, their ids → ours: the identity on inputs and targets (each probe above keeps their
#: ids); their blank (the extra one-hot dimension) is our id ``input_size``. Their constructor
#: arguments map to our parameters as follows (``operators: None`` = all three operators).
CONSTRUCTOR_ARGS = {"modulus": "m", "vocab_size": "vocab", "mult": "mult"}


def fixture_probe(task: str, args: dict[str, object]) -> DeepMindTask:
    from archlab.probes.fixtures import NotCheckable

    name = f"dm_{task}"
    if name not in PROBES:
        raise NotCheckable(f"archlab has no paper-exact variant of {task!r} (no probe {name})")
    params = {}
    for key, value in args.items():
        if key == "operators" and value is None:
            continue
        if key not in CONSTRUCTOR_ARGS:
            raise NotCheckable(f"constructor argument {key}={value!r} has no archlab equivalent")
        params[CONSTRUCTOR_ARGS[key]] = value
    try:
        probe = PROBES.get(name)(**params)
    except ConfigError as e:
        raise NotCheckable(f"constructor arguments {args}: {e}") from None
    assert isinstance(probe, DeepMindTask)
    return probe


def check_fixture_rows(task: str, rows: list[dict], vocab: dict) -> list[str | None]:
    """Per row: None when our variant gives their target at their scored positions."""
    from archlab.probes.fixtures import NotCheckable, compare

    probe = fixture_probe(task, vocab.get("constructor_args") or {})
    sizes = vocab.get("vocabulary", {})
    if len(sizes.get("input", {})) != len(probe.input_names()) or len(sizes.get("target", {})) != len(
        probe.output_names()
    ):
        raise NotCheckable(
            f"vocabulary sizes differ: theirs {len(sizes.get('input', {}))} inputs / "
            f"{len(sizes.get('target', {}))} targets, ours {len(probe.input_names())} / "
            f"{len(probe.output_names())}"
        )
    results: list[str | None] = []
    for row in rows:
        inputs = row["input"]
        want = row["target"] if isinstance(row["target"], list) else [row["target"]]
        scored = row.get("scored_positions") or [1] * len(want)
        try:
            batch = probe.label(np.array([inputs]))
        except (ValueError, IndexError) as e:
            results.append(f"archlab cannot label this input: {e}")
            continue
        n_out = len(want)
        got = [int(v) for v in batch.targets[0, -n_out:]]
        mask = [int(v) for v in batch.mask[0, -n_out:]]
        if batch.tokens.shape[1] != len(inputs) + n_out:
            results.append(f"output length {batch.tokens.shape[1] - len(inputs)}, theirs {n_out}")
            continue
        diff = compare(mask, [int(v) for v in scored], "scored") or compare(
            [g for g, s in zip(got, mask, strict=True) if s],
            [w for w, s in zip(want, scored, strict=True) if s],
            "target",
        )
        results.append(diff)
    return results
