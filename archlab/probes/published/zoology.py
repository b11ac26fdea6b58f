"""Zoology's synthetic tasks (Arora et al. 2023), with its generators' semantics and token ids.

Source: HazyResearch/zoology at d88d6f5 (``zoology/data/multiquery_ar.py``, ``forgetting_mqar.py``,
``compositional_mqar.py``, ``circuits.py``), read for facts; nothing copied. Token ids are theirs,
so the vocabulary map to archlab is the identity; every probe here is named ``zoology_<task>``.

The MQAR family (``zoology_mqar``, ``zoology_forgetting_mqar``, ``zoology_compositional_mqar``):
the vocabulary is split into key and value ranges; the context holds the pairs (triples) with
distinct keys and distinct values; then the query region, where each key is queried exactly
once at an offset of 2·gap (3·gap) with gaps drawn without replacement from the power law
p(g) ∝ g^(a−1); every other position holds a uniform random token (``random_non_queries``), which
may by chance equal a key and is then not scored. So the query positions are part of an example,
not a function of its tokens: :meth:`ZoologyMQAR.label` takes them with the tokens and labels
each with the value bound to its key (the last one bound, for forgetting MQAR).

The circuits (parity, majority, vocab_majority, cumulative_parity, cumulative_majority): one
label at the end token, or one at every position.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from archlab.errors import ConfigError
from archlab.probes.base import Batch, Draws, Param, Probe, TheoryTag, make_batch
from archlab.probes.memory import ParamMinLength
from archlab.probes.published.deletang2023 import uniform_ints
from archlab.registry import PROBES

PEER = "HazyResearch/zoology"

ARORA = "Arora et al. 2023, Zoology (arXiv 2312.04927), Sec. 3 (MQAR)"


class ZoologyMQAR(Probe):
    """Multi-query associative recall as Zoology generates it (``multiquery_ar``): keys from
    1 … V/2−1, values from V/2 … V−1, both distinct; context ``k v k v …``; each key queried once
    in the rest, the label at the query being its value.

    Example (V = 16, 2 pairs, length 10, ``r`` = random token)::

        tokens   3 9 5 12 r 5 r r 3 r
        labels   · · · ·  · 12 · · 9 ·
    """

    name = "zoology_mqar"
    family = "zoology"
    level = "memory"
    task = "at each query key, the value bound to it in the context (Zoology's MQAR)"
    #: tokens of one context entry (key, value) and of one query (key)
    ENTRY: ClassVar[int] = 2
    QUERY: ClassVar[int] = 1
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param(
            "vocab", int, 8192, "vocabulary size V (Zoology: 8192; must exceed the length)", low=8, high=65536
        ),
        Param("kv", int, 8, "number of key-value pairs", low=1, high=4096),
        Param(
            "power_a", float, 0.01, "power-law exponent a of the query gaps (1 = uniform)", low=1e-6, high=1.0
        ),
        Param("random_non_queries", bool, True, "fill non-query positions with random tokens (else 0)"),
    )

    def _validate(self) -> None:
        v, kv = self.params["vocab"], self.params["kv"]
        if kv > self.n_keys() or kv > self.n_values():
            raise ConfigError(
                f"{self.name}.kv", f"{kv} pairs need more distinct keys/values than vocab={v} has"
            )

    min_length = ParamMinLength(lambda p: p.context_size() + p.ENTRY * p.params["kv"])

    def check_length(self, length: int) -> None:
        super().check_length(length)
        if length >= self.params["vocab"]:
            raise ConfigError(
                "length",
                f"{length} is not below vocab={self.params['vocab']}",
                "length < vocab (Zoology asserts it)",
            )

    def context_size(self) -> int:
        return self.ENTRY * self.params["kv"]

    def key_range(self) -> tuple[int, int]:
        return 1, self.params["vocab"] // 2

    def value_range(self) -> tuple[int, int]:
        return self.params["vocab"] // 2, self.params["vocab"]

    def n_keys(self) -> int:
        lo, hi = self.key_range()
        return hi - lo

    def n_values(self) -> int:
        lo, hi = self.value_range()
        return hi - lo

    def token_labels(self) -> list[str]:
        return [str(i) for i in range(self.params["vocab"])]

    target_labels = token_labels

    @property
    def theory(self) -> TheoryTag:
        kv = self.params["kv"]
        return TheoryTag(
            self.level,
            self.task,
            {
                "protocol": "zoology_mqar",
                "source": ARORA,
                "recall_bits": kv * math.log2(self.n_values()),
                "recall_bits_formula": "kv*log2(V/2)",
            },
        )

    # -- sampling ----------------------------------------------------------------------------------
    def _distinct(self, rng: np.random.Generator, lo: int, hi: int, batch: int, k: int) -> np.ndarray:
        return lo + distinct_ints(rng, hi - lo, batch, k)

    def context(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(context tokens [B, context_size], query keys [B, kv], their labels [B, kv])."""
        kv = self.params["kv"]
        keys = self._distinct(rng, *self.key_range(), batch, kv)
        values = self._distinct(rng, *self.value_range(), batch, kv)
        ctx = np.empty((batch, 2 * kv), dtype=np.int64)
        ctx[:, 0::2], ctx[:, 1::2] = keys, values
        return ctx, keys[:, :, None], values

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        kv, c = self.params["kv"], self.context_size()
        ctx, queries, labels = self.context(rng, batch)
        space = (length - c) // self.ENTRY
        a = self.params["power_a"]
        p = a * np.arange(1, space + 1, dtype=np.float64) ** (a - 1)
        p /= p.sum()
        gaps = weighted_without_replacement(rng, p, batch, kv)
        noise = uniform_ints(rng, self.params["vocab"], (batch, length))
        return {"ctx": ctx, "queries": queries, "labels": labels, "gaps": gaps, "noise": noise}

    def _layout(self, draws: Draws, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Tokens and the positions of the queries' labelled (last) token."""
        ctx, queries, gaps = draws["ctx"], draws["queries"], draws["gaps"]
        b, c = ctx.shape
        tokens = np.zeros((b, length), dtype=np.int64)
        if self.params["random_non_queries"]:
            tokens[:, c:] = draws["noise"][:, c:]
        tokens[:, :c] = ctx
        rows = np.arange(b)[:, None]
        for j in range(queries.shape[2]):
            tokens[rows, c + self.ENTRY * gaps + j] = queries[:, :, j]
        return tokens, c + self.ENTRY * gaps + queries.shape[2] - 1

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        # the labels are known from the draw: write them at the query positions
        tokens, at = self._layout(draws, length)
        targets = np.zeros_like(tokens)
        mask = np.zeros(tokens.shape, dtype=bool)
        rows = np.arange(batch)[:, None]
        targets[rows, at] = draws["labels"]
        mask[rows, at] = True
        return Batch(tokens, targets, mask)

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        # the labels found again from the tokens alone, row by row (as the peer check does)
        tokens, at = self._layout(draws, length)
        return self.label(tokens, at)

    # -- labelling ---------------------------------------------------------------------------------
    def bindings(self, ctx: list[int]) -> dict[tuple[int, ...], int]:
        """The context's key → value map (a later binding replaces an earlier one)."""
        e, q = self.ENTRY, self.QUERY
        return {tuple(ctx[i : i + q]): ctx[i + q] for i in range(0, len(ctx) - e + 1, e)}

    def label(self, tokens: np.ndarray, query_ends: np.ndarray) -> Batch:
        """Label given rows at the given query positions (each a query's last token).

        Raises ValueError when a position does not hold a key of the context, or a key is
        queried twice or never."""
        tokens = np.asarray(tokens, dtype=np.int64)
        c, q = self.context_size(), self.QUERY
        targets = np.zeros_like(tokens)
        mask = np.zeros(tokens.shape, dtype=bool)
        for i, row in enumerate(tokens.tolist()):
            bound = self.bindings(row[:c])
            asked = []
            for pos in np.asarray(query_ends[i]).tolist():
                key = tuple(row[pos - q + 1 : pos + 1])
                if pos < c or (pos - q + 1 - c) % self.ENTRY or key not in bound:
                    raise ValueError(f"position {pos} is not a query of a context key")
                asked.append(key)
                targets[i, pos], mask[i, pos] = bound[key], True
            if sorted(asked) != sorted(bound):
                raise ValueError("not every key is queried exactly once")
        return make_batch(tokens, targets, mask)


@PROBES.register("zoology_mqar")
class ZoologyMultiQueryAR(ZoologyMQAR):
    __doc__ = ZoologyMQAR.__doc__


@PROBES.register("zoology_forgetting_mqar")
class ZoologyForgettingMQAR(ZoologyMQAR):
    """MQAR with updates (Zoology's ``forgetting_mqar``): after the kv pairs, ``updates`` pairs
    re-bind distinct keys among them to new values (each differing from the key's first value);
    every key is queried once and labelled with its *last* value.
    Example (V = 16, kv = 1, 1 update): ``3 9 3 12 r 3`` → label 12 at the last 3."""

    name = "zoology_forgetting_mqar"
    task = "at each query key, the value bound to it last (Zoology's forgetting MQAR)"
    PARAMS = (*ZoologyMQAR.PARAMS, Param("updates", int, 4, "number of re-bound keys", low=0, high=4096))

    def _validate(self) -> None:
        super()._validate()
        if self.params["updates"] > self.params["kv"]:
            raise ConfigError(
                f"{self.name}.updates",
                f"{self.params['updates']} updates but kv={self.params['kv']}",
                "updates <= kv",
            )

    def context_size(self) -> int:
        return 2 * (self.params["kv"] + self.params["updates"])

    def context(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        kv, up = self.params["kv"], self.params["updates"]
        ctx, keys, values = super().context(rng, batch)
        lo, hi = self.value_range()
        rows = np.arange(batch)[:, None]
        which = self._distinct(rng, 0, kv, batch, up)  # the re-bound keys, in update order
        new = lo + uniform_ints(rng, hi - lo - 1, (batch, up)).astype(np.int64)
        first = values[rows, which]
        new = new + (new >= first)  # uniform among the values but the key's first one
        extra = np.empty((batch, 2 * up), dtype=np.int64)
        extra[:, 0::2], extra[:, 1::2] = keys[rows, which, 0], new
        final = values.copy()
        final[rows, which] = new
        return np.concatenate([ctx, extra], axis=1), keys, final


@PROBES.register("zoology_compositional_mqar")
class ZoologyCompositionalMQAR(ZoologyMQAR):
    """MQAR over two-token keys (Zoology's ``compositional_mqar``): kv = n² triples K1 K2 V over
    an n × n grid of (K1, K2), shuffled; K1 from 1 … V/3−1, K2 from V/3 … 2V/3−1, values above;
    each pair queried once as K1 K2 at 3·gap, labelled at the K2.
    Example (V = 30, kv = 1): ``2 13 25 r 2 13 r`` → label 25 at the second 13."""

    name = "zoology_compositional_mqar"
    task = "at each query key pair (K1 K2), the value bound to the pair (Zoology's compositional MQAR)"
    ENTRY = 3
    QUERY = 2
    PARAMS = (
        ZoologyMQAR.PARAMS[0],
        Param("kv", int, 4, "number of key-pair → value triples (a square)", low=1, high=4096),
        *ZoologyMQAR.PARAMS[2:],
    )

    def _validate(self) -> None:
        kv = self.params["kv"]
        if math.isqrt(kv) ** 2 != kv:
            raise ConfigError(
                f"{self.name}.kv", f"{kv} is not a square (the keys form an n x n grid)", "4, 9, 16, …"
            )
        super()._validate()

    def key_range(self) -> tuple[int, int]:
        return 1, self.params["vocab"] // 3

    def value_range(self) -> tuple[int, int]:
        return 2 * (self.params["vocab"] // 3), self.params["vocab"]

    def context(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        kv, third = self.params["kv"], self.params["vocab"] // 3
        n = math.isqrt(kv)
        k1 = self._distinct(rng, 1, third, batch, n)
        k2 = self._distinct(rng, third, 2 * third, batch, n)
        pairs = np.stack([np.repeat(k1, n, axis=1), np.tile(k2, (1, n))], axis=2)  # [B, kv, 2]
        perm = np.argsort(rng.random((batch, kv)), axis=1)
        pairs = np.take_along_axis(pairs, perm[:, :, None], axis=1)
        values = self._distinct(rng, *self.value_range(), batch, kv)
        ctx = np.empty((batch, 3 * kv), dtype=np.int64)
        ctx[:, 0::3], ctx[:, 1::3], ctx[:, 2::3] = pairs[:, :, 0], pairs[:, :, 1], values
        return ctx, pairs, values


def distinct_ints(rng: np.random.Generator, n: int, batch: int, k: int) -> np.ndarray:
    """Per row k distinct integers from [0, n) in uniformly random order (the law of
    ``rng.choice(n, k, replace=False)``), vectorised over the rows: int64 [B, k]."""
    if k * k > n and k <= 8:  # dense and short: one draw after another, as numpy's choice does
        return _sequential_distinct(rng, n, batch, k)
    if k * k > n:  # dense: the first k of a random permutation of every row
        return np.argsort(rng.random((batch, n)), axis=1)[:, :k]
    # sparse: iid uniform rows conditioned on having no repeat (rows with one are redrawn),
    # which is uniform over the ordered k-subsets; a repeat has probability < k²/2n <= 1/2
    out = uniform_ints(rng, n, (batch, k)).astype(np.int64)

    def repeats(rows: np.ndarray) -> np.ndarray:
        srt = np.sort(rows, axis=1)
        return (srt[:, 1:] == srt[:, :-1]).any(axis=1)

    bad = np.flatnonzero(repeats(out))
    while bad.size:
        out[bad] = uniform_ints(rng, n, (bad.size, k))
        bad = bad[repeats(out[bad])]
    return out


def _sequential_distinct(rng: np.random.Generator, n: int, batch: int, k: int) -> np.ndarray:
    """:func:`distinct_ints` by sampling without replacement step by step: draw j is uniform
    among the n − j values not drawn yet (a uniform index x, moved past each drawn value ≤ it,
    in ascending order). The drawn values are kept sorted column by column (an insertion by
    minimum and maximum), so every step is elementwise: O(k²) array operations, no sort."""
    out = np.empty((batch, k), dtype=np.int64)
    drawn: list[np.ndarray] = []  # the values drawn so far, ascending, one array per rank
    for j in range(k):
        x = uniform_ints(rng, n - j, (batch,)).astype(np.int64)
        for c in drawn:
            x += x >= c
        out[:, j] = x
        carry, ranked = x, []
        for c in drawn:
            ranked.append(np.minimum(c, carry))
            carry = np.maximum(c, carry)
        drawn = [*ranked, carry]
    return out


def weighted_without_replacement(rng: np.random.Generator, p: np.ndarray, batch: int, k: int) -> np.ndarray:
    """Per row k distinct indices drawn one after another with weights ``p`` among those not
    drawn yet: the law of ``rng.choice(len(p), k, replace=False, p=p)``, vectorised, [B, k]."""
    n = len(p)
    if 4 * k > n:
        # dense: an exponential race. Index i arrives at time E_i / p_i (E_i iid Exp(1)); the k
        # earliest arrivals, in order of arrival, have exactly that law.
        arrival = rng.standard_exponential((batch, n)) / p
        first = np.argpartition(arrival, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (batch, 1))
        order = np.argsort(np.take_along_axis(arrival, first, axis=1), axis=1)
        return np.take_along_axis(first, order, axis=1)
    # sparse: the first k distinct values of an iid stream from p have that law too (each new
    # value is drawn with weights p among the unseen ones). Rows whose stream has fewer than k
    # distinct values are extended (never redrawn, which would bias the law) until they do.
    cdf = np.cumsum(p)
    cdf /= cdf[-1]

    def draws(rows: int, t: int) -> np.ndarray:
        return np.minimum(np.searchsorted(cdf, rng.random((rows, t)), side="right"), n - 1)

    out = np.empty((batch, k), dtype=np.int64)
    rows, stream = np.arange(batch), draws(batch, 4 * k)
    while True:
        order = np.argsort(stream, axis=1, kind="stable")
        srt = np.take_along_axis(stream, order, axis=1)
        new = np.ones(stream.shape, dtype=bool)
        new[:, 1:] = srt[:, 1:] != srt[:, :-1]
        first = np.zeros(stream.shape, dtype=bool)  # the first occurrence of its value
        np.put_along_axis(first, order, new, axis=1)
        rank = np.cumsum(first, axis=1)
        done = rank[:, -1] >= k
        out[rows[done]] = stream[done][(first & (rank <= k))[done]].reshape(-1, k)
        rows, stream = rows[~done], stream[~done]
        if not rows.size:
            return out
        stream = np.concatenate([stream, draws(len(rows), stream.shape[1])], axis=1)


# ---------------------------------------------------------------------------------------------
# circuits


class ZoologyCircuit(Probe):
    """One of Zoology's circuit tasks (``circuits.py``): random symbols, labels from counts."""

    family = "zoology"
    level = "regular"
    min_length = 2
    #: whether a last end token carries the only label (else every position is labelled)
    END: ClassVar[int | None] = 2
    SYMBOLS: ClassVar[tuple[int, int]] = (0, 2)  # symbols drawn uniformly from [lo, hi)

    def n_symbols(self) -> int:
        return 3

    def token_labels(self) -> list[str]:
        return [str(i) for i in range(self.n_symbols())]

    def target_labels(self) -> list[str]:
        return [str(i) for i in range(self.n_symbols())]

    def symbols(self) -> tuple[int, int]:
        return self.SYMBOLS

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        lo, hi = self.symbols()
        n = length - 1 if self.END is not None else length
        symbols = uniform_ints(rng, hi - lo, (batch, n))  # a small unsigned dtype
        return {"symbols": symbols + lo if lo == 0 else symbols.astype(np.int64) + lo}

    def prepare(self, symbols: np.ndarray) -> np.ndarray:
        """The generator's own edits of the drawn symbols (vocab_majority breaks ties), vectorised."""
        return symbols

    def prepare_reference(self, symbols: np.ndarray) -> np.ndarray:
        """:meth:`prepare` row by row."""
        return symbols

    def answer(self, row: list[int]) -> list[int]:
        """Per input position the label (end-token tasks: one label, at the end)."""
        raise NotImplementedError

    def answers(self, tokens: np.ndarray) -> np.ndarray:
        """The labels of every row, vectorised: [B, T] (end-token tasks: [B], at the end)."""
        raise NotImplementedError

    def _tokens(self, sym: np.ndarray) -> np.ndarray:
        if self.END is None:
            return sym
        tokens = np.empty((len(sym), sym.shape[1] + 1), dtype=np.int64)
        tokens[:, :-1], tokens[:, -1] = sym, self.END
        return tokens

    def _layout(self, tokens: np.ndarray, labels: np.ndarray) -> Batch:
        if self.END is None:
            return make_batch(tokens, labels.reshape(tokens.shape), np.ones(tokens.shape, bool))
        targets = np.zeros(tokens.shape, dtype=np.int64)
        targets[:, -1] = labels
        mask = np.zeros(tokens.shape, dtype=bool)
        mask[:, -1] = True
        return Batch(tokens, targets, mask)

    def label(self, tokens: np.ndarray) -> Batch:
        """The labelled batch of given rows, vectorised."""
        tokens = np.asarray(tokens, dtype=np.int64)
        return self._layout(tokens, self.answers(tokens))

    def label_reference(self, tokens: np.ndarray) -> Batch:
        """:meth:`label` row by row with :meth:`answer` (plain Python: the reference)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        rows = [self.answer(r) for r in tokens.tolist()]
        labels = np.array(rows if self.END is None else [r[0] for r in rows], dtype=np.int64)
        return self._layout(tokens, labels)

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        tokens = self._tokens(self.prepare(draws["symbols"]))
        return self._layout(tokens, self.answers(tokens))

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        sym = self.prepare_reference(np.asarray(draws["symbols"], dtype=np.int64))
        return self.label_reference(self._tokens(sym))


@PROBES.register("zoology_parity")
class ZoologyParity(ZoologyCircuit):
    """Parity of L−1 random bits, labelled at the end token 2 (Zoology's ``parity``).
    Example: ``1 0 1 1 2`` → label 1 at the 2."""

    name = "zoology_parity"
    task = "parity of the bits, at the end token"

    def answer(self, row: list[int]) -> list[int]:
        return [sum(row[:-1]) % 2]

    def answers(self, tokens: np.ndarray) -> np.ndarray:
        return np.count_nonzero(tokens[:, :-1], axis=1) % 2


@PROBES.register("zoology_majority")
class ZoologyMajority(ZoologyCircuit):
    """1 when more than half of L−1 random bits are 1 (ties → 0), at the end token 2
    (Zoology's ``majority``). Example: ``1 0 1 0 2`` → 0 (a tie)."""

    name = "zoology_majority"
    level = "counter"
    task = "whether ones are the majority (ties: 0), at the end token"

    def answer(self, row: list[int]) -> list[int]:
        return [int(2 * sum(row[:-1]) > len(row) - 1)]

    def answers(self, tokens: np.ndarray) -> np.ndarray:
        return (2 * tokens[:, :-1].sum(axis=1) > tokens.shape[1] - 1).astype(np.int64)


@PROBES.register("zoology_cumulative_parity")
class ZoologyCumulativeParity(ZoologyCircuit):
    """The running parity of random bits, at every position (Zoology's ``cumulative_parity``;
    its rows have input_seq_len − 1 bits and no end token). Example: ``1 0 1 1`` → ``1 1 0 1``."""

    name = "zoology_cumulative_parity"
    task = "running parity of the bits"
    END = None
    min_length = 1

    def n_symbols(self) -> int:
        return 2

    def answer(self, row: list[int]) -> list[int]:
        return (np.cumsum(row) % 2).tolist()

    def answers(self, tokens: np.ndarray) -> np.ndarray:
        return np.bitwise_xor.accumulate(tokens.astype(np.uint8), axis=1)


@PROBES.register("zoology_cumulative_majority")
class ZoologyCumulativeMajority(ZoologyCircuit):
    """1 where the ones so far are at least as many as the zeros (ties → 1), at every position
    (Zoology's ``cumulative_majority``). Example: ``0 1 1 0`` → ``0 1 1 1``."""

    name = "zoology_cumulative_majority"
    level = "counter"
    task = "running majority of the bits (ties: 1)"
    END = None
    min_length = 1

    def n_symbols(self) -> int:
        return 2

    def answer(self, row: list[int]) -> list[int]:
        return (np.cumsum(2 * np.asarray(row) - 1) >= 0).astype(int).tolist()

    def answers(self, tokens: np.ndarray) -> np.ndarray:
        lead = np.cumsum(tokens.astype(np.int32) * 2 - 1, axis=1, dtype=np.int32)  # ones minus zeros
        return lead >= 0


@PROBES.register("zoology_vocab_majority")
class ZoologyVocabMajority(ZoologyCircuit):
    """The most frequent of L−1 symbols from 1 … V−1, at the end token 0 (Zoology's
    ``vocab_majority``). A tie is broken as theirs is: one occurrence of the first-seen other
    symbol becomes the smallest most-frequent one. Example: ``3 5 3 1 0`` → 3 at the 0."""

    name = "zoology_vocab_majority"
    level = "counter"
    task = "the most frequent symbol, at the end token"
    END = 0
    PARAMS = (Param("vocab", int, 8, "vocabulary size V (symbols 1..V-1, end token 0)", low=3, high=65536),)

    def n_symbols(self) -> int:
        return int(self.params["vocab"])

    def symbols(self) -> tuple[int, int]:
        return 1, self.n_symbols()

    def prepare_reference(self, symbols: np.ndarray) -> np.ndarray:
        out = symbols.copy()
        for row in out:
            values, counts = np.unique(row, return_counts=True)
            top = values[counts == counts.max()]
            if len(top) > 1:
                most = int(top.min())
                seq = row.tolist()
                other = next(k for k in dict.fromkeys(seq) if k != most)  # first seen
                row[seq.index(other)] = most
        return out

    def _counts(self, symbols: np.ndarray) -> np.ndarray:
        """Per row the count of every symbol id, [B, V]."""
        b, v = len(symbols), self.n_symbols()
        flat = (symbols.astype(np.int64) + (np.arange(b) * v)[:, None]).ravel()
        return np.bincount(flat, minlength=b * v).reshape(b, v)

    def prepare(self, symbols: np.ndarray) -> np.ndarray:
        # rows whose top count is shared: the first symbol (in row order) other than the smallest
        # most frequent one has that first occurrence replaced by it
        counts = self._counts(symbols)
        top = counts == counts.max(axis=1, keepdims=True)
        tied = np.flatnonzero(top.sum(axis=1) > 1)
        out = symbols.copy()
        if tied.size:
            most = np.argmax(top[tied], axis=1)
            where = np.argmax(symbols[tied] != most[:, None], axis=1)
            out[tied, where] = most
        return out

    def answer(self, row: list[int]) -> list[int]:
        values, counts = np.unique(row[:-1], return_counts=True)
        return [int(values[counts == counts.max()].min())]

    def answers(self, tokens: np.ndarray) -> np.ndarray:
        return np.argmax(self._counts(tokens[:, :-1]), axis=1)  # the smallest most frequent


# ---------------------------------------------------------------------------------------------
# their data, checked (archlab probe fixtures)

#: their task names → our probes; their parameter names → ours
TASKS = {
    "multiquery_ar": "zoology_mqar",
    "forgetting_mqar": "zoology_forgetting_mqar",
    "compositional_mqar": "zoology_compositional_mqar",
    "parity": "zoology_parity",
    "majority": "zoology_majority",
    "cumulative_parity": "zoology_cumulative_parity",
    "cumulative_majority": "zoology_cumulative_majority",
    "vocab_majority": "zoology_vocab_majority",
}
PARAMS = {
    "vocab_size": "vocab",
    "num_kv_pairs": "kv",
    "power_a": "power_a",
    "num_updates": "updates",
    "random_non_queries": "random_non_queries",
}


def check_fixture_rows(task: str, rows: list[dict], vocab: dict) -> list[str | None]:
    """Per row: None when our variant gives their labels at their scored positions."""
    from archlab.errors import ArchlabError
    from archlab.probes.fixtures import NotCheckable, compare_ignore_index

    if task not in TASKS:
        raise NotCheckable(f"archlab has no variant of Zoology's {task!r}")
    cls: type[Probe] = PROBES.get(TASKS[task])
    given = rows[0]["params"].get("config", rows[0]["params"])
    known = {p.name for p in cls.PARAMS}
    params = {PARAMS[k]: v for k, v in given.items() if k in PARAMS and PARAMS[k] in known}
    try:
        probe = cls(**params)
    except ArchlabError as e:
        raise NotCheckable(f"their parameters {given}: {e}") from None
    results: list[str | None] = []
    for row in rows:
        tokens = np.array([row["input"]])
        want = [int(v) for v in row["target"]]
        scored = [i for i, v in enumerate(want) if v != -100]
        try:
            if isinstance(probe, ZoologyMQAR):
                batch = probe.label(tokens, np.array([scored]))
            else:
                assert isinstance(probe, ZoologyCircuit)
                batch = probe.label_reference(tokens)
                if not batch.equals(probe.label(tokens)):
                    results.append("archlab's vectorised labelling differs from its reference on this row")
                    continue
        except ValueError as e:
            results.append(f"archlab cannot label this input: {e}")
            continue
        results.append(compare_ignore_index(batch, want))
    return results
