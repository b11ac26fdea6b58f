"""Memory probes: copying and associative recall.

These probes test how much a model can *store*, not which automaton it can run. The label at a
position depends on tokens seen far earlier, so a recurrent model must carry them in its state.
Theory keys on how many bits the state must hold; every probe's :class:`TheoryTag` facts give

* ``info_bits_formula`` — the information the state must hold, as a formula of the parameters
  and ``L`` (the ``length`` argument);
* ``info_bits_per_length`` and ``info_bits_fixed`` — that formula evaluated for the probe's
  parameters, as ``info_bits(L) = info_bits_per_length * L + info_bits_fixed``;
* ``info_bits`` — the number itself, for probes where it does not depend on ``L``;
* ``theory_rule`` — the result it comes from.

Each probe also has :meth:`info_bits` (the number at a given length).

The rules: a model whose state holds s bits cannot copy more than about ``s / log2|alphabet|``
tokens (Jelassi et al., "Repeat After Me", ICML 2024); multi-query associative recall over N
pairs with c possible values needs about ``N log2 c`` bits of state (Arora et al., "Zoology",
2023).

Copying tasks (``copy``, ``selective_copy``) are duplicate-like languages (``{w | w}``), which are
context-sensitive but not context-free; their facts say so under ``language_class``.

Several probes need a ``length`` that depends on their parameters (``selective_copy`` needs room
for its data tokens, ``mqar`` for its pairs and queries): their ``min_length`` is computed per
instance (on the class it is the value at the default parameters).
"""

from __future__ import annotations

import heapq
import math
import string
from collections.abc import Callable
from typing import Any

import numpy as np

from archlab.errors import ConfigError
from archlab.probes.base import Batch, Draws, Param, Probe, TheoryTag, make_batch
from archlab.registry import PROBES

LETTERS = string.ascii_lowercase


def symbol_labels(n: int) -> list[str]:
    """Readable names of n ordinary symbols: letters a… when they fit, else t0, t1, …"""
    if n <= len(LETTERS):
        return list(LETTERS[:n])
    return [f"t{i}" for i in range(n)]


def small_int_dtype(n: int) -> type[np.integer[Any]]:
    """A compact dtype for draws in 0..n-1 (uint16 is numpy's fastest bounded draw, even beside uint8)."""
    return np.uint16 if n <= 65536 else np.int64


def position_keys(rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
    """Random sort keys (uint32: cheap to draw and to partition); ties are broken by position."""
    return rng.integers(0, 2**32, size=(batch, length), dtype=np.uint32)


def smallest_k_mask(keys: np.ndarray, k: int) -> np.ndarray:
    """Bool mask of the k smallest keys of every row, ties broken by position (earlier first).

    The same selection as :func:`smallest_k_positions`. The fast path compares with the k-th
    smallest key; when a tie there selects too many, it falls back to a stable sort.
    """
    kth = np.partition(keys, k - 1, axis=1)[:, k - 1 : k]
    chosen = keys <= kth
    if np.count_nonzero(chosen) == keys.shape[0] * k:
        return chosen
    order = np.argsort(keys, axis=1, kind="stable")[:, :k]
    chosen = np.zeros(keys.shape, dtype=bool)
    np.put_along_axis(chosen, order, True, axis=1)
    return chosen


def smallest_k_positions(keys: list[int], k: int) -> list[int]:
    """Positions of the k smallest keys, ties broken by position (plain-Python reference)."""
    return heapq.nsmallest(k, range(len(keys)), key=keys.__getitem__)  # == sorted(...)[:k], stable


#: Up to this many chosen positions, subsets are drawn with Floyd's algorithm (k random numbers
#: and a loop of k vectorised steps); above it, with one sort key per position.
FLOYD_MAX = 32


def draw_subset(rng: np.random.Generator, batch: int, n: int, k: int) -> np.ndarray:
    """Random numbers that choose a uniformly random k-subset of ``range(n)`` in every row.

    For k <= FLOYD_MAX: Floyd's algorithm, column i holds t_i uniform in [0, n - k + i]; otherwise
    sort keys (the k smallest are chosen). Read them with :func:`subset_mask` /
    :func:`subset_positions`.
    """
    if k <= FLOYD_MAX:
        return rng.integers(0, np.arange(n - k + 1, n + 1), size=(batch, k), dtype=np.int64)
    return position_keys(rng, batch, n)


def subset_mask(draw: np.ndarray, n: int, k: int, offset: int = 0) -> np.ndarray:
    """Bool [batch, offset + n] mask whose last n columns have exactly k True per row: the subset
    chosen by ``draw`` (the first ``offset`` columns are False)."""
    batch = draw.shape[0]
    mask = np.zeros((batch, offset + n), dtype=bool)
    if k > FLOYD_MAX:
        mask[:, offset:] = smallest_k_mask(draw, k)
        return mask
    chosen = mask[:, offset:]
    rows = np.arange(batch)
    for i in range(k):  # Floyd: add t, or the new top element j when t is already in the set
        j, t = n - k + i, draw[:, i]
        chosen[rows, np.where(chosen[rows, t], j, t)] = True
    return mask


def subset_positions(draw: list[int], n: int, k: int) -> set[int]:
    """The subset chosen by one row of ``draw`` (plain-Python reference of :func:`subset_mask`)."""
    if k > FLOYD_MAX:
        return set(smallest_k_positions(draw, k))
    chosen: set[int] = set()
    for i, t in enumerate(draw):
        j = n - k + i
        chosen.add(j if t in chosen else t)
    return chosen


class ParamMinLength:
    """A ``min_length`` that depends on the parameters.

    On an instance it is ``fn(instance)``; on the class it is the value at the default parameters
    (what ``make_probe(name)`` builds).
    """

    def __init__(self, fn: Callable[[Any], int]) -> None:
        self.fn = fn

    def __get__(self, obj: Probe | None, owner: type[Probe]) -> int:
        return self.fn(obj if obj is not None else owner())


def memory_facts(formula: str, per_length: float, fixed: float, rule: str, **extra: Any) -> dict[str, Any]:
    """The shared information-content facts of a memory probe (see the module docstring)."""
    facts: dict[str, Any] = {
        "info_bits_formula": formula,
        "info_bits_per_length": per_length,
        "info_bits_fixed": fixed,
    }
    if per_length == 0:
        facts["info_bits"] = fixed
    facts["theory_rule"] = rule
    facts.update(extra)
    return facts


JELASSI = (
    "a state of s bits cannot copy more than ~ s/log2|alphabet| tokens "
    "(Jelassi et al., Repeat After Me, ICML 2024)"
)
ARORA = (
    "multi-query associative recall of N pairs with c values needs ~ N*log2(c) bits of state "
    "(Arora et al., Zoology, 2023)"
)


class MemoryProbe(Probe):
    """A probe whose difficulty is the information the state must hold."""

    family = "memory"
    level = "memory"

    def _info(self) -> tuple[str, float, float]:
        """(formula, bits per unit of length, fixed bits) for the current parameters."""
        raise NotImplementedError

    def info_bits(self, length: int) -> float:
        """Bits a model's state must hold to solve the task at size parameter ``length``."""
        _, per_length, fixed = self._info()
        return per_length * length + fixed


@PROBES.register("copy")
class Copy(MemoryProbe):
    """Copy a random string after a separator (Jelassi et al., ICML 2024): ``$ s1..sL | s1..sL .``.

    ``length`` is L, the number of letters copied; T = 2L + 3. In the default ``autoregressive``
    mode the copy is teacher-forced like a language model: the target at ``|`` is s1, at the i-th
    copied letter it is s_{i+1}, and at the last copied letter it is the end token ``.``; only
    those L + 1 positions count. In ``blank`` mode the copy half (the L letters and the ``.``) is
    replaced by L + 1 blanks ``_`` and the targets at the blanks are s1..sL then ``.`` — the model
    never sees its own output.

    Example (alphabet = 3, L = 3, string ``b a c``; ``-`` marks a masked position)::

        autoregressive  tokens   $ b a c | b a c .
                        targets  - - - - b a c . -
        blank           tokens   $ b a c | _ _ _ _
                        targets  - - - - - b a c .
    """

    name = "copy"
    task = "copy a random string after a separator ({w|w}, a context-sensitive language)"
    PARAMS = (
        Param(
            "alphabet", int, 26, "number of letters (a, b, … for up to 26, else t0, t1, …)", low=2, high=128
        ),
        Param(
            "mode",
            str,
            "autoregressive",
            "autoregressive: teacher-forced next-token targets; blank: the copy half is blanks",
            choices=("autoregressive", "blank"),
        ),
    )

    def token_labels(self) -> list[str]:
        labels = [*symbol_labels(self.params["alphabet"]), "$", "|", "."]
        return [*labels, "_"] if self.params["mode"] == "blank" else labels

    def target_labels(self) -> list[str]:
        return [*symbol_labels(self.params["alphabet"]), "."]

    def seq_len(self, length: int) -> int:
        return 2 * length + 3

    def _info(self) -> tuple[str, float, float]:
        return "L*log2(alphabet)", math.log2(self.params["alphabet"]), 0.0

    @property
    def theory(self) -> TheoryTag:
        formula, per_length, fixed = self._info()
        return TheoryTag(
            self.level,
            self.task,
            memory_facts(
                formula,
                per_length,
                fixed,
                JELASSI,
                language_class="context-sensitive",
                teacher_forced=self.params["mode"] == "autoregressive",
            ),
        )

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        a = self.params["alphabet"]
        return {"letters": rng.integers(0, a, size=(batch, length), dtype=small_int_dtype(a))}

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        a, n = self.params["alphabet"], length
        dollar, bar, end, blank = a, a + 1, a + 2, a + 3
        s = draws["letters"]
        t = self.seq_len(n)
        tokens = np.empty((batch, t), dtype=np.int64)
        targets = np.zeros((batch, t), dtype=np.int64)
        mask = np.zeros((batch, t), dtype=bool)
        tokens[:, 0] = dollar
        tokens[:, 1 : n + 1] = s
        tokens[:, n + 1] = bar
        if self.params["mode"] == "autoregressive":
            tokens[:, n + 2 : 2 * n + 2] = s
            tokens[:, 2 * n + 2] = end
            targets[:, n + 1 : 2 * n + 1] = s
            targets[:, 2 * n + 1] = a  # the class "."
            mask[:, n + 1 : 2 * n + 2] = True
        else:
            tokens[:, n + 2 :] = blank
            targets[:, n + 2 : 2 * n + 2] = s
            targets[:, 2 * n + 2] = a
            mask[:, n + 2 :] = True
        return make_batch(tokens, targets, mask)

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        a, n = self.params["alphabet"], length
        dollar, bar, end, blank = a, a + 1, a + 2, a + 3
        blank_mode = self.params["mode"] == "blank"
        tokens, targets, mask = [], [], []
        for s in draws["letters"].tolist():
            answer = [*s, end]  # what follows the "|": the string, then the end token
            row = [dollar, *s, bar] + ([blank] * (n + 1) if blank_mode else answer)
            for i, tok in enumerate(row):
                tokens.append(tok)
                if blank_mode:
                    counts = i >= n + 2  # the blanks: the i-th one stands for answer[i - n - 2]
                    label = answer[i - n - 2] if counts else None
                else:
                    counts = n + 1 <= i <= 2 * n + 1  # from the "|" to the last copied letter
                    label = row[i + 1] if counts else None  # next-token prediction
                targets.append(0 if label is None else (a if label == end else label))
                mask.append(counts)
        shape = (batch, self.seq_len(n))
        return make_batch(
            np.array(tokens).reshape(shape), np.array(targets).reshape(shape), np.array(mask).reshape(shape)
        )


@PROBES.register("selective_copy")
class SelectiveCopy(MemoryProbe):
    """Selective copying (Gu & Dao, Mamba 2023): recall the data tokens hidden among noise.

    A region of ``length`` positions holds ``n_tokens`` data letters at random distinct positions
    and the noise token ``-`` everywhere else; then comes the separator ``|`` and ``n_tokens``
    blanks ``_``. The targets at the blanks are the data letters in the order they appeared; only
    the blanks count. T = length + 1 + n_tokens, and length >= n_tokens.

    Example (alphabet = 4, n_tokens = 3, length = 6; ``-`` in the targets marks a masked position)::

        tokens   b - - d - a | _ _ _
        targets  - - - - - - - b d a
    """

    name = "selective_copy"
    task = "after the separator, output the data tokens hidden among noise, in order (context-sensitive)"
    PARAMS = (
        Param("n_tokens", int, 8, "number of data tokens to copy", low=1, high=100_000),
        Param(
            "alphabet",
            int,
            8,
            "number of data letters (a, b, … for up to 26, else t0, t1, …)",
            low=2,
            high=128,
        ),
    )
    min_length = ParamMinLength(lambda p: p.params["n_tokens"])

    def token_labels(self) -> list[str]:
        return [*symbol_labels(self.params["alphabet"]), "-", "|", "_"]

    def target_labels(self) -> list[str]:
        return symbol_labels(self.params["alphabet"])

    def seq_len(self, length: int) -> int:
        return length + 1 + self.params["n_tokens"]

    def _info(self) -> tuple[str, float, float]:
        n, a = self.params["n_tokens"], self.params["alphabet"]
        return "n_tokens*log2(alphabet)", 0.0, n * math.log2(a)

    @property
    def theory(self) -> TheoryTag:
        formula, per_length, fixed = self._info()
        facts = memory_facts(formula, per_length, fixed, JELASSI, language_class="context-sensitive")
        return TheoryTag(self.level, self.task, facts)

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        n, a = self.params["n_tokens"], self.params["alphabet"]
        return {
            # which n of the length positions hold data (a random subset)
            "slots": draw_subset(rng, batch, length, n),
            "data": rng.integers(0, a, size=(batch, n), dtype=small_int_dtype(a)),
        }

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        n, a = self.params["n_tokens"], self.params["alphabet"]
        noise, sep, blank = a, a + 1, a + 2
        data = draws["data"]
        tokens = np.empty((batch, self.seq_len(length)), dtype=np.int64)
        region = tokens[:, :length]
        region[...] = noise
        # boolean assignment fills row by row, left to right: the j-th data slot gets data[:, j]
        region[subset_mask(draws["slots"], length, n)] = data.ravel()
        tokens[:, length] = sep
        tokens[:, length + 1 :] = blank
        targets = np.zeros_like(tokens)
        targets[:, length + 1 :] = data
        mask = np.zeros(tokens.shape, dtype=bool)
        mask[:, length + 1 :] = True
        return make_batch(tokens, targets, mask)

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        n, a = self.params["n_tokens"], self.params["alphabet"]
        noise, sep, blank = a, a + 1, a + 2
        tokens, targets, mask = [], [], []
        for slot_draw, data in zip(draws["slots"].tolist(), draws["data"].tolist(), strict=True):
            slots = subset_positions(slot_draw, length, n)
            row: list[int] = []
            hidden: list[int] = []
            for i in range(length):
                if i in slots:
                    row.append(data[len(hidden)])
                    hidden.append(row[-1])
                else:
                    row.append(noise)
            row += [sep] + [blank] * n
            for i, tok in enumerate(row):
                tokens.append(tok)
                counts = i > length  # the blanks after the separator
                targets.append(hidden[i - length - 1] if counts else 0)
                mask.append(counts)
        shape = (batch, self.seq_len(length))
        return make_batch(
            np.array(tokens).reshape(shape), np.array(targets).reshape(shape), np.array(mask).reshape(shape)
        )


@PROBES.register("mqar")
class MQAR(MemoryProbe):
    """Multi-query associative recall (Arora et al., Zoology 2023).

    The vocabulary of ``vocab`` symbols is split in half: keys ``k0…`` and values ``v0…``. A
    sequence starts with ``n_pairs`` key-value pairs ``k v k v …`` with distinct keys (values may
    repeat); the remaining ``length - 2*n_pairs`` positions hold ``n_queries`` queries at random
    distinct positions and the dedicated filler token ``-`` elsewhere. Each query is one of the
    pairs' keys (drawn uniformly, with replacement), and its target is that key's value; only the
    queries count. T = length, and length >= 2*n_pairs + n_queries.

    Example (vocab = 8, n_pairs = 2, n_queries = 2, length = 8; ``-`` in the targets: masked)::

        tokens   k2 v1 k0 v3 -  k0 -  k2
        targets  -  -  -  -  -  v3 -  v1
    """

    name = "mqar"
    task = "at each query key, output the value paired with it at the start of the sequence"
    PARAMS = (
        Param("vocab", int, 64, "keys + values (even: half keys, half values)", low=4, high=65536),
        Param("n_pairs", int, 8, "number of key-value pairs", low=1, high=32768),
        Param("n_queries", int, 0, "number of queries (0: same as n_pairs)", low=0, high=1_000_000),
    )
    min_length = ParamMinLength(lambda p: 2 * p.params["n_pairs"] + p.n_queries)

    def _validate(self) -> None:
        v, n = self.params["vocab"], self.params["n_pairs"]
        if v % 2:
            raise ConfigError(
                "mqar.vocab", f"{v} is odd; half the vocabulary are keys, half values", "even int >= 4"
            )
        if n > v // 2:
            raise ConfigError(
                "mqar.n_pairs",
                f"{n} pairs need {n} distinct keys but vocab={v} has {v // 2}",
                f"n_pairs <= {v // 2}",
            )

    @property
    def n_queries(self) -> int:
        return int(self.params["n_queries"] or self.params["n_pairs"])

    @property
    def half(self) -> int:
        return int(self.params["vocab"] // 2)

    def token_labels(self) -> list[str]:
        h = self.half
        return [f"k{i}" for i in range(h)] + [f"v{i}" for i in range(h)] + ["-"]

    def target_labels(self) -> list[str]:
        return [f"v{i}" for i in range(self.half)]

    def _info(self) -> tuple[str, float, float]:
        return "n_pairs*log2(vocab/2)", 0.0, self.params["n_pairs"] * math.log2(self.half)

    @property
    def theory(self) -> TheoryTag:
        formula, per_length, fixed = self._info()
        return TheoryTag(
            self.level, self.task, memory_facts(formula, per_length, fixed, ARORA, n_values=self.half)
        )

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        h, n, q = self.half, self.params["n_pairs"], self.n_queries
        return {
            # the keys: the first n key symbols sorted by these numbers (a random ordered subset)
            "key_order": position_keys(rng, batch, h),
            "values": rng.integers(0, h, size=(batch, n), dtype=small_int_dtype(h)),
            # which q of the positions after the pairs hold queries (a random subset)
            "query_slots": draw_subset(rng, batch, length - 2 * n, q),
            # which pair each query (left to right) asks for
            "query_pairs": rng.integers(0, n, size=(batch, q), dtype=small_int_dtype(n)),
        }

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        h, n, q = self.half, self.params["n_pairs"], self.n_queries
        filler = 2 * h
        # sorting (key, symbol) pairs packed in one uint64: unique, so as exact as a stable sort
        order = (draws["key_order"].astype(np.uint64) << np.uint64(32)) | np.arange(h, dtype=np.uint64)
        keys = np.argsort(order, axis=1)[:, :n]
        values = draws["values"].astype(np.int64)
        tokens = np.full((batch, length), filler, dtype=np.int64)
        tokens[:, 0 : 2 * n : 2] = keys
        tokens[:, 1 : 2 * n : 2] = h + values
        is_query = subset_mask(draws["query_slots"], length - 2 * n, q, offset=2 * n)
        pairs = draws["query_pairs"].astype(np.intp)
        targets = np.zeros((batch, length), dtype=np.int64)
        # flat indices run row by row, left to right: the j-th query asks pair query_pairs[:, j]
        where = np.flatnonzero(is_query)
        tokens.ravel()[where] = np.take_along_axis(keys, pairs, axis=1).ravel()
        targets.ravel()[where] = np.take_along_axis(values, pairs, axis=1).ravel()
        return make_batch(tokens, targets, is_query)

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        h, n, q = self.half, self.params["n_pairs"], self.n_queries
        filler = 2 * h
        tokens, targets, mask = [], [], []
        rows = zip(
            draws["key_order"].tolist(),
            draws["values"].tolist(),
            draws["query_slots"].tolist(),
            draws["query_pairs"].tolist(),
            strict=True,
        )
        for key_order, values, qslots, qpairs in rows:
            keys = sorted(range(h), key=lambda k: key_order[k])[:n]
            row = []
            for k, v in zip(keys, values, strict=True):
                row += [k, h + v]
            query_slots, asked = subset_positions(qslots, length - 2 * n, q), iter(qpairs)
            for i in range(length - 2 * n):
                row.append(keys[next(asked)] if i in query_slots else filler)
            table = {}  # read the pairs back from the sequence, then answer each query
            for i, tok in enumerate(row):
                if i < 2 * n and i % 2 == 0:
                    table[tok] = row[i + 1] - h
                counts = i >= 2 * n and tok != filler
                tokens.append(tok)
                targets.append(table[tok] if counts else 0)
                mask.append(counts)
        shape = (batch, length)
        return make_batch(
            np.array(tokens).reshape(shape), np.array(targets).reshape(shape), np.array(mask).reshape(shape)
        )


@PROBES.register("induction_heads")
class InductionHeads(MemoryProbe):
    """Induction heads (Olsson et al. 2022): after the trigger reappears, output what followed it.

    Random symbols from an alphabet of ``vocab`` letters, with the trigger ``*`` placed once at a
    random position (not one of the last two) and again at the end; the token b right after the
    first trigger is the target at the last position, the only one that counts. The trigger
    occurs nowhere else. T = length, length >= 3.

    Example (vocab = 4, length = 7; ``-`` in the targets: masked)::

        tokens   c a * d b a *
        targets  - - - - - - d
    """

    name = "induction_heads"
    task = "at the final trigger, output the token that followed the trigger's first occurrence"
    min_length = 3
    PARAMS = (
        Param("vocab", int, 16, "number of ordinary symbols (the trigger is extra)", low=2, high=65536),
    )

    def token_labels(self) -> list[str]:
        return [*symbol_labels(self.params["vocab"]), "*"]

    def target_labels(self) -> list[str]:
        return symbol_labels(self.params["vocab"])

    def _info(self) -> tuple[str, float, float]:
        return "log2(vocab)", 0.0, math.log2(self.params["vocab"])

    @property
    def theory(self) -> TheoryTag:
        formula, per_length, fixed = self._info()
        rule = "the state must hold the token after the trigger: log2(vocab) bits (+1 bit: trigger seen)"
        return TheoryTag(self.level, self.task, memory_facts(formula, per_length, fixed, rule))

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        v = self.params["vocab"]
        return {
            "symbols": rng.integers(0, v, size=(batch, length), dtype=small_int_dtype(v)),
            "trigger_pos": rng.integers(0, length - 2, size=batch),
        }

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        trigger = self.params["vocab"]
        tokens = draws["symbols"].astype(np.int64)
        pos = draws["trigger_pos"]
        rows = np.arange(batch)
        tokens[rows, pos] = trigger
        tokens[:, -1] = trigger
        targets = np.zeros((batch, length), dtype=np.int64)
        targets[:, -1] = tokens[rows, pos + 1]
        mask = np.zeros((batch, length), dtype=bool)
        mask[:, -1] = True
        return make_batch(tokens, targets, mask)

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        trigger = self.params["vocab"]
        tokens, targets, mask = [], [], []
        for symbols, p in zip(draws["symbols"].tolist(), draws["trigger_pos"].tolist(), strict=True):
            answer, prev = None, None
            for i, sym in enumerate(symbols):
                last = i == length - 1
                tok = trigger if i == p or last else sym
                if prev == trigger and answer is None:
                    answer = tok  # the token right after the first trigger
                tokens.append(tok)
                targets.append(answer if last else 0)
                mask.append(last)
                prev = tok
        shape = (batch, length)
        return make_batch(
            np.array(tokens).reshape(shape), np.array(targets).reshape(shape), np.array(mask).reshape(shape)
        )
