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
        """The output tokens of every row, [B, output_length]: the vectorised labelling (this
        default falls back to :meth:`answer` row by row)."""
        return np.array([self.answer(r) for r in inputs.tolist()], dtype=np.int64).reshape(len(inputs), -1)

    # -- the layout ------------------------------------------------------------------------------
    def _scored(self, outputs: np.ndarray) -> np.ndarray:
        if self.TERMINATION is None:
            return np.ones(outputs.shape, dtype=bool)
        # their accuracy_mask: positions up to the first maximum of the target ids, i.e. the
        # first termination token (the largest output id)
        first = np.argmax(outputs, axis=1)
        return np.arange(outputs.shape[1])[None, :] <= first[:, None]

    def _assemble(self, inputs: np.ndarray, outputs: np.ndarray) -> Batch:
        # written into preallocated arrays (no concatenation temporaries); the result already
        # meets the Batch contract (int64, C-contiguous, targets 0 where unscored)
        b, n_in = inputs.shape
        tokens = np.empty((b, n_in + outputs.shape[1]), dtype=np.int64)
        tokens[:, :n_in] = inputs
        tokens[:, n_in:] = self.blank
        targets = np.zeros(tokens.shape, dtype=np.int64)
        mask = np.zeros(tokens.shape, dtype=bool)
        if self.TERMINATION is None:
            targets[:, n_in:] = outputs
            mask[:, n_in:] = True
        else:
            scored = self._scored(outputs)
            np.multiply(outputs, scored, out=targets[:, n_in:], casting="unsafe")
            mask[:, n_in:] = scored
        return Batch(tokens, targets, mask)

    def label(self, inputs: np.ndarray) -> Batch:
        """The scored batch for given input rows (their ids, without the blanks), vectorised."""
        inputs = np.asarray(inputs).reshape(len(inputs), -1)
        return self._assemble(inputs, self.answers(inputs))

    def label_reference(self, inputs: np.ndarray) -> Batch:
        """:meth:`label` row by row in plain Python (:meth:`answer`, then the layout)."""
        tokens, targets, mask = [], [], []
        for row in np.asarray(inputs).reshape(len(inputs), -1).tolist():
            out = self.answer(row)
            # scored: every output position, or up to and including the first termination token
            stop = len(out) - 1 if self.TERMINATION is None else out.index(self.TERMINATION)
            tokens.append(row + [self.blank] * len(out))
            targets.append([0] * len(row) + [t if j <= stop else 0 for j, t in enumerate(out)])
            mask.append([False] * len(row) + [j <= stop for j in range(len(out))])
        return make_batch(np.array(tokens), np.array(targets), np.array(mask, dtype=bool))

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        return {"inputs": np.asarray(self.sample_inputs(rng, batch, length))}

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        return self.label(draws["inputs"])

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        return self.label_reference(draws["inputs"])

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
        return uniform_ints(rng, 2, (batch, length))

    def answer(self, row: list[int]) -> list[int]:
        return [sum(row) % 2]

    def answers(self, inputs: np.ndarray) -> np.ndarray:
        return (np.count_nonzero(inputs, axis=1) % 2)[:, None]


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
        return uniform_ints(rng, 2, (batch, length))

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
        return uniform_ints(rng, 3, (batch, length))

    def answer(self, row: list[int]) -> list[int]:
        return [sum(a - 1 for a in row) % 5]

    def answers(self, inputs: np.ndarray) -> np.ndarray:
        total = inputs.sum(axis=1, dtype=np.int64, keepdims=True) - inputs.shape[1]
        return total % 5


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
        out[:, ::2] = uniform_ints(rng, m, (batch, (n + 1) // 2))
        out[:, 1::2] = m + uniform_ints(rng, 3, (batch, n // 2))
        return out

    def answer(self, row: list[int]) -> list[int]:
        return [evaluate(row, self.params["m"])[0]]

    def answers(self, inputs: np.ndarray) -> np.ndarray:
        # Digits at even positions, operators between them: the value is the sum of the terms
        # (maximal ×-runs), each with the sign of the operator before it. The sign is folded into
        # the term's first digit; each term's product is then taken at its last digit, walking
        # left one digit per step over the terms still that long (a third as many each step).
        m = self.params["m"]
        digits = np.ascontiguousarray(inputs[:, 0::2], dtype=np.uint16)
        ops = inputs[:, 1::2]
        b, n = digits.shape
        start = np.ones((b, n), dtype=bool)  # a term starts at this digit
        start[:, 1:] = ops != m + 2
        neg = np.zeros((b, n), dtype=bool)
        neg[:, 1:] = ops == m + 1
        v = np.where(neg, (m - digits) % m, digits).ravel()
        times = (np.arange(m * m) // m * (np.arange(m * m) % m) % m).astype(np.uint16)  # a*m+b → ab mod m
        end = np.ones((b, n), dtype=bool)  # a term ends at this digit
        end[:, :-1] = start[:, 1:]
        pos = np.arange(b * n)
        first = np.maximum.accumulate(np.where(start.ravel(), pos, 0))  # each digit's term start
        ends = np.flatnonzero(end.ravel())
        left = ends - first[ends]  # digits of the term before its last one
        value = v[ends]
        todo, t = np.flatnonzero(left), 1
        while todo.size:
            value[todo] = times[value[todo] * m + v[ends[todo] - t]]
            t += 1
            todo = todo[left[todo] >= t]
        per_row = np.add.reduceat(value.astype(np.int64), np.searchsorted(ends, np.arange(b) * n))
        return (per_row % m)[:, None]


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
        return uniform_ints(rng, self.params["vocab"], (batch, length))

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
        return inputs[:, ::-1]


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
        bits = uniform_ints(rng, 2, (batch, length))
        actions = 2 + uniform_ints(rng, 3, (batch, length))
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

    def answers(self, inputs: np.ndarray) -> np.ndarray:
        # The stack depth after each token is a ±1 walk reflected at 0 (a POP on an empty stack
        # is ignored): depth = c − min(0, running min of c), c the unreflected sum. The symbol
        # pushed at t survives iff the depth never drops below its level afterwards; survivors
        # are written top first, level D (the final depth) at output position 0.
        b, n = inputs.shape
        x = np.asarray(inputs, dtype=np.int32)
        push = x != 2
        c = np.cumsum(push.astype(np.int32) * 2 - 1, axis=1, dtype=np.int32)
        depth = c - np.minimum(np.minimum.accumulate(c, axis=1), 0)
        later_min = np.minimum.accumulate(depth[:, ::-1], axis=1)[:, ::-1]
        final = depth[:, -1]
        # output column of each token's symbol if it survives; flat indices into out
        dest = (final[:, None] - depth) + (np.arange(b) * (n + 1))[:, None]
        keep = np.flatnonzero(push & (later_min >= depth))
        symbol = np.where(x < 2, x, x - 3).ravel()
        out = np.zeros((b, n + 1), dtype=np.int64)
        out.ravel()[dest.ravel()[keep]] = symbol[keep]
        out[np.arange(b), final] = 2
        return out


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

    def answer(self, row: list[int]) -> list[int]:
        return [evaluate(row, self.params["m"])[0]]

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        return expression_draws(rng, batch, length, self.params["m"], self.params["mult"])

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        # the values come from the generator's own trees (the reference parses the tokens)
        inputs, values = bracketed_expressions(draws, self.params["m"], self.params["mult"])
        return self._assemble(inputs, values[:, None])

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        m, mult = self.params["m"], self.params["mult"]
        rows = [bracketed_expression(d, o, sp, m, mult) for d, o, sp in _draw_rows(draws)]
        return self.label_reference(np.array(rows))


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

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        draws = expression_draws(rng, batch, length - 2, self.params["m"], mult=False)
        draws["x_at"] = rng.random(batch)  # where x goes: a uniform position, then the next digit
        return draws

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        m = self.params["m"]
        expr, total = bracketed_expressions(draws, m, mult=False)
        n, rows = length - 2, np.arange(batch)
        expr[expr >= m + 3] -= 1  # evaluate()'s ( ) ids → this task's (one lower: there is no ×)
        # their rule: a uniform position, then right (cyclically) to the next digit; that digit is
        # the solution, as x's coefficient is ±1 without × (the reference solves the equation)
        at = np.where(expr < m, np.arange(n), n)
        next_digit = np.minimum.accumulate(at[:, ::-1], axis=1)[:, ::-1]
        pick = next_digit[rows, (draws["x_at"] * n).astype(np.int64)]
        pick = np.where(pick < n, pick, next_digit[:, 0])
        solution = expr[rows, pick]
        expr[rows, pick] = m + 4
        inputs = np.empty((batch, length), dtype=np.int64)
        inputs[:, :n] = expr
        inputs[:, n] = m + 5
        inputs[:, n + 1] = total
        return self._assemble(inputs, solution[:, None])

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        m, rows = self.params["m"], []
        for digits, ops, splits, x_at in _draw_rows(draws):
            expr = bracketed_expression(digits, ops, splits, m, mult=False)
            value = evaluate(expr, m)[0]
            expr = [t - 1 if t >= m + 3 else t for t in expr]  # ( ) as this task codes them
            idx = int(x_at * len(expr))
            while expr[idx] >= m:  # walk right (cyclically) to the next digit
                idx = (idx + 1) % len(expr)
            expr[idx] = m + 4
            rows.append([*expr, m + 5, value])
        return self.label_reference(np.array(rows))

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
        s = uniform_ints(rng, 2, (batch, half))
        rows = np.empty((batch, length), dtype=np.uint8)
        rows[:, :half], rows[:, half : 2 * half], rows[:, 2 * half :] = s, s, 3
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
        return inputs[np.arange(len(inputs)), other][:, None]


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

    def combine_bits(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`combine`: little-endian bit rows [B, W] in, the result's bits out."""
        raise NotImplementedError

    def sample_inputs(self, rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
        # their law: x of n bits, n uniform in 1 … L−2, y of the other L−1−n, each uniform in
        # [1, 2**bits), i.e. iid bits conditioned on a 1 among them (rows redrawn until so)
        n = rng.integers(1, length - 1, size=(batch, 1))
        pos = np.arange(length)
        rows = uniform_ints(rng, 2, (batch, length))

        def zero_operand(r: np.ndarray, at: np.ndarray) -> np.ndarray:
            one = r.astype(bool)
            return np.asarray(~(one & (pos < at)).any(axis=1) | ~(one & (pos > at)).any(axis=1))

        bad = np.flatnonzero(zero_operand(rows, n))
        while bad.size:
            rows[bad] = uniform_ints(rng, 2, (bad.size, length))
            bad = bad[zero_operand(rows[bad], n[bad])]
        rows[np.arange(batch), n[:, 0]] = 2
        return rows

    def answer(self, row: list[int]) -> list[int]:
        op = row.index(2)
        x = sum(b << i for i, b in enumerate(row[:op]))
        y = sum(b << i for i, b in enumerate(row[op + 1 :]))
        z = self.combine(x, y)
        out = ([int(c) for c in reversed(f"{z:b}")] if z else []) + [2]
        return out + [0] * (self.output_length(len(row)) - len(out))

    def answers(self, inputs: np.ndarray) -> np.ndarray:
        b, n = inputs.shape
        bits = np.asarray(inputs, dtype=np.uint8)
        op = np.argmax(bits == 2, axis=1)  # the first operator token
        j = np.arange(n - 1)
        x = np.where(j < op[:, None], bits[:, : n - 1], np.uint8(0))
        # y's bits start after the operator: a window of each zero-padded row, gathered whole
        padded = np.zeros((b, 2 * n), dtype=np.uint8)
        padded[:, :n] = bits
        y = np.lib.stride_tricks.sliding_window_view(padded, n - 1, axis=1)[np.arange(b), op + 1]
        z = self.combine_bits(x, y)
        # the bits up to the highest 1 (none for 0), END, then 0-padding (z is 0 above its highest
        # 1, so END just overwrites the first of those zeros)
        width = z.shape[1]
        used = np.where(z.any(axis=1), width - np.argmax(z[:, ::-1], axis=1), 0)
        out = np.zeros((b, self.output_length(n)), dtype=np.int64)
        out[:, :width] = z
        out[np.arange(b), used] = 2
        return out


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

    def combine_bits(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        # carry lookahead: the carry out of bit j is the generate bit (x & y) of the last bit
        # at or below j that does not propagate (x ^ y == 0), or 0 when there is none. A running
        # max of the keys 2j + 2 + g (0 elsewhere) carries that bit along in its parity.
        g, p = x & y, x ^ y
        key = np.where(p == 0, 2 * np.arange(x.shape[1], dtype=np.int32) + 2 + g, 0)
        carry = (np.maximum.accumulate(key, axis=1) & 1).astype(np.uint8)
        z = np.empty((x.shape[0], x.shape[1] + 1), dtype=np.uint8)
        z[:, 0] = p[:, 0]
        z[:, 1:-1] = p[:, 1:] ^ carry[:, :-1]
        z[:, -1] = carry[:, -1]
        return z


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

    def combine_bits(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        # per row with Python's big integers, converted in bulk through packed bytes (the
        # product of a and b bits has at most a + b bits, which is the input's width here)
        width = x.shape[1]
        prods = [a * b for a, b in zip(to_ints(x), to_ints(y), strict=True)]
        return from_ints(prods, width)


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
        # n uniform in [1, 2**L): L iid bits, rows of zeros redrawn
        rows = uniform_ints(rng, 2, (batch, length))
        bad = np.flatnonzero(~rows.any(axis=1))
        while bad.size:
            rows[bad] = uniform_ints(rng, 2, (bad.size, length))
            bad = bad[~rows[bad].any(axis=1)]
        return rows

    def answer(self, row: list[int]) -> list[int]:
        n = int("".join(map(str, row)), 2)
        return little_endian(math.isqrt(n), self.output_length(len(row)))[::-1]

    def answers(self, inputs: np.ndarray) -> np.ndarray:
        roots = [math.isqrt(v) for v in to_ints(inputs[:, ::-1])]  # big-endian rows
        return from_ints(roots, self.output_length(inputs.shape[1]))[:, ::-1]


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
        return np.sort(inputs, axis=1, kind="stable")  # a radix sort for the small int dtypes


# ---------------------------------------------------------------------------------------------
# helpers: binary numbers, expressions

#: the variable's id in :func:`evaluate` (outside every modulus' token range)
X = -1


def uniform_ints(rng: np.random.Generator, high: int, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform integers in [0, high) of the given shape (uint8 up to 256, uint16 up to 65536),
    from the generator's raw bytes: several times faster than ``rng.integers`` for the small
    ranges of these tasks, and a deterministic function of the generator. Exactly uniform:
    ``high`` = 2 unpacks bits; otherwise Lemire's multiply-shift maps a w-bit word r to
    (r * high) >> w after redrawing the words whose low product part falls below 2**w mod high
    (the 2**w mod high surplus words, which would otherwise favour some values)."""
    n = math.prod(shape)
    if high == 2:
        return np.unpackbits(np.frombuffer(rng.bytes((n + 7) // 8), np.uint8), count=n).reshape(shape)
    if high > 1 << 16:
        return rng.integers(0, high, size=shape)
    bits = 8 if high <= 1 << 8 else 16
    word, wide = np.dtype(f"uint{bits}"), np.dtype(f"uint{2 * bits}")  # a draw, and its product with high

    def words(k: int) -> np.ndarray:
        return np.frombuffer(rng.bytes(k * bits // 8), dtype=word)

    if high & (high - 1) == 0:  # a power of two: the top bits of each word
        return np.right_shift(words(n), bits - high.bit_length() + 1).reshape(shape)
    prod = np.multiply(words(n), high, dtype=wide)
    threshold = (1 << bits) % high
    if threshold:
        low = (1 << bits) - 1
        bad = np.flatnonzero((prod & low) < threshold)
        while bad.size:
            prod[bad] = np.multiply(words(bad.size), high, dtype=wide)
            bad = bad[(prod[bad] & low) < threshold]
    return np.right_shift(prod, bits).astype(word).reshape(shape)


def little_endian(n: int, bits: int) -> list[int]:
    return [(n >> i) & 1 for i in range(bits)]


def to_ints(bits: np.ndarray) -> list[int]:
    """Each row of little-endian bits [B, W] as a Python integer (through packed bytes)."""
    packed = np.packbits(np.asarray(bits, dtype=np.uint8), axis=1, bitorder="little")
    raw, size = packed.tobytes(), packed.shape[1]
    return [int.from_bytes(raw[i : i + size], "little") for i in range(0, len(raw), size)]


def from_ints(values: list[int], width: int) -> np.ndarray:
    """Python integers below 2**width as rows of little-endian bits [B, width], uint8."""
    size = (width + 7) // 8
    raw = b"".join(v.to_bytes(size, "little") for v in values)
    packed = np.frombuffer(raw, np.uint8).reshape(len(values), size)
    return np.unpackbits(packed, axis=1, count=width, bitorder="little")


def expression_draws(rng: np.random.Generator, batch: int, length: int, m: int, mult: bool) -> Draws:
    """The random choices of a batch of bracketed expressions, one per row and token position
    (a segment of the expression's tree reads those of the position where it starts, and no two
    segments start at the same position): its digit, its operator, and the uniform in [0, 1)
    that picks its split. Both generators below read them, so they agree row for row."""
    if length < 1:
        raise ConfigError("length", f"{length} is too short for an expression", ">= 1")
    return {
        "digits": uniform_ints(rng, m, (batch, length)),
        "ops": uniform_ints(rng, 3 if mult else 2, (batch, length)),
        "splits": rng.random((batch, length)),
    }


def _draw_rows(draws: Draws) -> list[tuple]:
    """The draws row by row as plain Python: digits, operators, splits (the arguments of
    :func:`bracketed_expression`), then any further per-row draws."""
    keys = ["digits", "ops", "splits", *(k for k in draws if k not in ("digits", "ops", "splits"))]
    return list(zip(*(draws[k].tolist() for k in keys), strict=True))


def bracketed_expression(
    digits: list[int],
    ops: list[int],
    splits: list[float],
    m: int,
    mult: bool,
    start: int = 0,
    length: int = -1,
) -> list[int]:
    """One bracketed expression of Delétang et al.'s grammar (recursively; the reference), in
    the ids of :func:`evaluate` (digits, m + 0/1/2 = + − ×, m + 3/4 = ( )): lengths 1–4 are
    ``d``, ``-d``, ``(d)``, ``(-d)``; a longer one is ``(A op B)`` with A's length uniform in
    1 … length − 4. The segment starting at ``start`` reads its choices there (see
    :func:`expression_draws`)."""
    length = len(digits) if length < 0 else length
    d = digits[start]
    if length <= 4:
        return {1: [d], 2: [m + 1, d], 3: [m + 3, d, m + 4], 4: [m + 3, m + 1, d, m + 4]}[length]
    left = 1 + int(splits[start] * (length - 4))
    a = bracketed_expression(digits, ops, splits, m, mult, start + 1, left)
    b = bracketed_expression(digits, ops, splits, m, mult, start + 2 + left, length - left - 3)
    return [m + 3, *a, m + ops[start], *b, m + 4]


def bracketed_expressions(draws: Draws, m: int, mult: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`bracketed_expression` for every row of the draws, vectorised: the expressions
    [B, length] (int64) and their values mod m [B].

    The trees grow one level a step: of the pending segments (a flat start and a size), those
    of size ≤ 4 are leaves; a longer one becomes ``( A op B )``, and its two parts are the next
    step's segments (left parts first, then right parts, so a segment's children sit at j and
    n + j of the next level). The tokens are written once the trees are grown, and the values
    are combined from the deepest level up."""
    batch, length = draws["digits"].shape
    digits, ops, splits = draws["digits"].ravel(), draws["ops"].ravel(), draws["splits"].ravel()
    start = np.arange(batch, dtype=np.int32) * np.int32(length)
    size = np.full(batch, length, dtype=np.int32)
    inner_at, leaves, nodes = [], [], []  # per level: which are inner; leaves' starts, sizes; inner's
    while start.size:
        inner = size > 4
        inner_at.append(inner)
        leaves.append((start[~inner], size[~inner]))
        s, z = start[inner], size[inner]
        left = (splits[s] * (z - 4)).astype(np.int32) + 1
        nodes.append((s, z, left))
        start, size = np.concatenate([s + 1, s + 2 + left]), np.concatenate([left, z - 3 - left])
    out = np.empty((batch, length), dtype=np.int64)
    flat = out.ravel()
    s, z = (np.concatenate(k) for k in zip(*leaves, strict=True))
    d = digits[s]
    flat[s + (z >= 2) + (z == 4)] = d  # d, -d, (d), (-d)
    flat[s[z == 2]] = m + 1
    wrapped = z >= 3
    flat[s[wrapped]] = m + 3
    flat[(s + z - 1)[wrapped]] = m + 4
    flat[s[z == 4] + 1] = m + 1
    leaf_value = np.where((z == 2) | (z == 4), (m - d) % m, d)
    s, z, left = (np.concatenate(k) for k in zip(*nodes, strict=True))
    op = ops[s]
    flat[s] = m + 3
    flat[s + z - 1] = m + 4
    flat[s + 1 + left] = m + op
    # (op · m + a) · m + b → a op b mod m
    o, a, b = np.unravel_index(np.arange(3 * m * m), (3, m, m))
    table = (np.select([o == 0, o == 1], [a + b, a - b], a * b) % m).astype(np.int32)
    values = np.empty(0, dtype=np.int32)
    leaf_end, node_end = len(leaf_value), len(op)
    for inner, (ls, _), (ns, _, _) in reversed(list(zip(inner_at, leaves, nodes, strict=True))):
        here = np.empty(inner.size, dtype=np.int32)
        here[~inner] = leaf_value[leaf_end - ls.size : leaf_end]
        node_op = op[node_end - ns.size : node_end].astype(np.int32)
        here[inner] = table[(node_op * m + values[: ns.size]) * m + values[ns.size :]]
        values, leaf_end, node_end = here, leaf_end - ls.size, node_end - ns.size
    return out, values.astype(np.int64)


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
            batch = probe.label_reference(np.array([inputs]))
        except (ValueError, IndexError) as e:
            results.append(f"archlab cannot label this input: {e}")
            continue
        if not batch.equals(probe.label(np.array([inputs]))):  # the vectorised labelling too
            results.append("archlab's vectorised labelling differs from its reference on this row")
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
