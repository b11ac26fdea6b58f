"""The MAD synthetic tasks (Poli et al. 2024, "Mechanistic Design and Scaling of Hybrid
Architectures"), with the layouts, token ids and targets of their code.

Source: athms/mad-lab at 0f49a45 (``mad/data/instances.py``, ``mad/registry.py``), read for
facts; nothing copied. Token ids are theirs (the vocabulary map to archlab is the identity);
the probes are named ``mad_<task>`` and run with ``multi_query`` on, as MAD's configs do.

The in-context-recall tasks have two scorings, as MAD has: ``scoring=lm`` (their training
split: the next token at every position) and ``scoring=recall`` (their test split: only where a
key seen before is followed by its value, and the final probe). Their rows are the sequence
without its last token (``inputs[:-1]``), labelled with the sequence shifted by one, so the last
label (the probed value) is not in the row: archlab finds it from the earlier binding.
The ``length`` of every probe here is MAD's ``seq_len``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from archlab.errors import ConfigError
from archlab.probes.base import Batch, Draws, Param, Probe, TheoryTag, make_batch
from archlab.probes.memory import ParamMinLength
from archlab.probes.published.deletang2023 import uniform_ints
from archlab.probes.published.zoology import distinct_ints
from archlab.registry import PROBES

PEER = "athms/mad-lab"
POLI = "Poli et al. 2024, MAD (arXiv 2403.17844), Sec. 3 and App. B (task definitions)"

SCORING = Param(
    "scoring",
    str,
    "recall",
    "lm: next token everywhere (MAD's training split); recall: the recalled values only (its test split)",
    choices=("lm", "recall"),
)


class MADTask(Probe):
    family = "mad2024"
    level = "memory"
    min_length = 4

    def token_labels(self) -> list[str]:
        return [str(i) for i in range(self.params["vocab"])]

    target_labels = token_labels

    @property
    def theory(self) -> TheoryTag:
        return TheoryTag(self.level, self.task, {"protocol": "mad2024", "source": POLI})

    def label(self, tokens: np.ndarray) -> Batch:
        """The labelled batch of given rows, row by row with :meth:`answer` (plain Python: the
        reference, which the peer check uses)."""
        rows = [self.answer(r) for r in np.asarray(tokens, dtype=np.int64).tolist()]
        targets = np.array([[max(v, 0) for v in r] for r in rows], dtype=np.int64)
        mask = np.array([[v >= 0 for v in r] for r in rows], dtype=bool)
        return make_batch(np.asarray(tokens), targets, mask)

    def answer(self, row: list[int]) -> list[int]:
        """Per position the label, or -1 where not scored."""
        raise NotImplementedError

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        return self.label(draws["tokens"])

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        return self.label(draws["tokens"])


class UnboundProbe(ValueError):
    """The row ends in a probe of a key it never bound: its last label is not in the row."""


def _segments(row: list[int], is_key: list[bool]) -> list[tuple[int, int, bool]]:
    """Maximal runs (start, end, is_key) of key tokens and of non-key tokens."""
    runs: list[tuple[int, int, bool]] = []
    for i, k in enumerate(is_key):
        if runs and runs[-1][2] == k:
            runs[-1] = (runs[-1][0], i + 1, k)
        else:
            runs.append((i, i + 1, k))
    return runs


@PROBES.register("mad_in_context_recall")
class MADInContextRecall(MADTask):
    """Key-value pairs ``k v k v …`` (keys and values from the two halves of the non-noise
    vocabulary; a key keeps its value), optionally noise pairs; the last pair is a probe of a key
    seen before; the row is the sequence without its last token (length − 1 tokens).
    Example (V = 8, recall scoring): ``0 5 1 6 0`` → label 5 at the last 0 (and 6 nowhere:
    key 1 is new)."""

    name = "mad_in_context_recall"
    task = "value of a key seen before, at the key (MAD's in-context recall)"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("vocab", int, 16, "vocabulary size (MAD: 16)", low=4, high=1 << 16),
        Param("noise_vocab", int, 0, "noise tokens (the top of the vocabulary)", low=0, high=1 << 16),
        Param("frac_noise", float, 0.0, "probability that a pair is noise", low=0.0, high=0.99),
        SCORING,
    )

    def _validate(self) -> None:
        if self.n_keys() < 1:
            raise ConfigError(f"{self.name}.noise_vocab", "leaves no keys", f"< {self.params['vocab'] - 1}")
        if self.params["frac_noise"] > 0 and self.params["noise_vocab"] == 0:
            raise ConfigError(f"{self.name}.noise_vocab", "0 with frac_noise > 0", ">= 1")

    def seq_len(self, length: int) -> int:
        return 2 * (length // 2) - 1  # MAD's seq_len is even; an odd one loses its last token

    def n_keys(self) -> int:
        return (self.params["vocab"] - self.params["noise_vocab"]) // 2

    def value_range(self) -> tuple[int, int]:
        return self.n_keys(), self.params["vocab"] - self.params["noise_vocab"]

    def sample_row(self, rng: np.random.Generator, length: int) -> list[int]:
        lo, hi = self.value_range()
        frac, noise_lo = self.params["frac_noise"], hi
        bound: dict[int, int] = {}
        seq: list[int] = []
        keep = int(rng.integers(0, length // 2))  # one pair is never noise
        for i in range(length // 2 - 1):
            if frac > 0 and i != keep and rng.random() < frac:
                seq += rng.integers(noise_lo, self.params["vocab"], size=2).tolist()
                continue
            k = int(rng.integers(0, self.n_keys()))
            v = bound.setdefault(k, int(rng.integers(lo, hi)))
            seq += [k, v]
        if not bound:  # every pair was noise: the kept pair was the probe slot
            k = int(rng.integers(0, self.n_keys()))
            seq[-2:] = [k, bound.setdefault(k, int(rng.integers(lo, hi)))]
        k = list(bound)[int(rng.integers(0, len(bound)))]
        return [*seq, k]  # the probe's value is the dropped last token

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        # :meth:`sample_row`'s law, vectorised: P = length//2 − 1 pairs, each noise with
        # probability frac_noise except pair ``keep``; a row of noise only has its last pair
        # made a real one; a key's value is uniform, drawn once per row; the probe asks for one
        # of the row's distinct keys, uniformly.
        hi = self.value_range()[1]  # the noise tokens are hi … vocab − 1
        frac, vocab, n_keys = self.params["frac_noise"], self.params["vocab"], self.n_keys()
        n_pairs = length // 2 - 1
        pair = np.arange(n_pairs)
        keep = rng.integers(0, length // 2, size=(batch, 1))
        noise = np.zeros((batch, n_pairs), dtype=bool)
        if frac > 0:
            noise = (rng.random((batch, n_pairs)) < frac) & (pair != keep)
            noise[noise.all(axis=1), -1] = False
        keys = uniform_ints(rng, n_keys, (batch, n_pairs)).astype(np.int64)
        if n_keys <= n_pairs:
            values, first, probe_key, probe_value = self._bind_by_table(rng, keys, noise)
        else:
            values, first, probe_key, probe_value = self._bind_by_sorting(rng, keys, noise)
        tokens = np.empty((batch, 2 * n_pairs + 1), dtype=np.int64)
        tokens[:, 0:-1:2], tokens[:, 1:-1:2] = keys, values
        if frac > 0:  # noise pairs: two tokens from the noise vocabulary
            junk = hi + uniform_ints(rng, vocab - hi, (batch, 2 * n_pairs)).astype(np.int64)
            tokens[:, :-1] = np.where(np.repeat(noise, 2, axis=1), junk, tokens[:, :-1])
        tokens[:, -1] = probe_key
        return {
            "tokens": tokens,
            "recalled": ~noise & ~first,  # real pairs whose key was seen before
            "probe_value": probe_value,
        }

    def _bind_by_table(
        self, rng: np.random.Generator, keys: np.ndarray, noise: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(each pair's value, whether it is its key's first real pair, the probe's key and
        value) for few keys: a value drawn per row and key (the law of a value drawn at the
        key's first occurrence), first occurrences by a scattered minimum, and the probe key
        uniform among the keys present."""
        batch, n_pairs = keys.shape
        lo, hi = self.value_range()
        n_keys = self.n_keys()
        table = lo + uniform_ints(rng, hi - lo, (batch, n_keys)).astype(np.int64)
        slot = keys + (np.arange(batch) * n_keys)[:, None]  # (row, key) → flat index
        values = table.ravel()[slot]
        first_at = np.full(batch * n_keys + 1, n_pairs)  # the last slot takes the noise pairs
        pair = np.broadcast_to(np.arange(n_pairs), keys.shape)
        np.minimum.at(first_at, np.where(noise, batch * n_keys, slot).ravel(), pair.ravel())
        first = (first_at[slot] == pair) & ~noise
        present = first_at[:-1].reshape(batch, n_keys) < n_pairs
        r = rng.integers(0, present.sum(axis=1))
        probe_key = np.argmax(present & (np.cumsum(present, axis=1) == (r + 1)[:, None]), axis=1)
        return values, first, probe_key, table[np.arange(batch), probe_key]

    def _bind_by_sorting(
        self, rng: np.random.Generator, keys: np.ndarray, noise: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`_bind_by_table` for many keys: a fresh value per pair, kept at each key's
        first real pair (:func:`first_equal`) and copied to its later ones;
        the probe is the r-th distinct key in order of first occurrence, r uniform."""
        batch, n_pairs = keys.shape
        lo, hi = self.value_range()
        fresh = lo + uniform_ints(rng, hi - lo, keys.shape).astype(np.int64)
        src = first_equal(np.where(noise, self.n_keys(), keys))  # noise: one key of its own
        values = np.take_along_axis(fresh, src, axis=1)
        first = (src == np.arange(n_pairs)) & ~noise
        r = rng.integers(0, first.sum(axis=1))
        at = np.argmax(first & (np.cumsum(first, axis=1) == (r + 1)[:, None]), axis=1)
        rows = np.arange(batch)
        return values, first, keys[rows, at], values[rows, at]

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        tokens = draws["tokens"]
        targets = np.zeros(tokens.shape, dtype=np.int64)
        if self.params["scoring"] == "lm":  # the next token everywhere, the probe's value last
            targets[:, :-1] = tokens[:, 1:]
            mask = np.ones(tokens.shape, dtype=bool)
        else:  # at each recalled key its value, and the probe's value at the probe
            mask = np.zeros(tokens.shape, dtype=bool)
            mask[:, 0:-1:2] = draws["recalled"]
            mask[:, -1] = True
            targets[:, 0:-1:2] = np.where(draws["recalled"], tokens[:, 1::2], 0)
        targets[:, -1] = draws["probe_value"]
        return Batch(tokens, targets, mask)

    def answer(self, row: list[int]) -> list[int]:
        n_keys, recall = self.n_keys(), self.params["scoring"] == "recall"
        bound: dict[int, int] = {}
        out = [-1] * len(row)
        final = None
        for t in range(0, len(row), 2):
            k = row[t]
            if k >= n_keys:  # a noise pair
                continue
            if t + 1 < len(row):
                v = row[t + 1]
            elif k in bound:  # the final probe: its value is the dropped token
                v = final = bound[k]
            else:
                raise ValueError(f"the probed key {k} was never bound")
            if k in bound:
                if bound[k] != v:
                    raise ValueError(f"key {k} bound to {bound[k]} and to {v}")
                if recall:
                    out[t] = v
            bound[k] = v
        if final is None:
            raise ValueError("the row does not end in a probe of a bound key")
        return out if recall else [*row[1:], final]


@PROBES.register("mad_noisy_in_context_recall")
class MADNoisyInContextRecall(MADInContextRecall):
    """In-context recall with noise pairs (MAD's noisy variant: V = 32, 16 noise tokens, 20 %
    noise). Example (V = 8, 2 noise tokens, recall): ``0 3 7 6 0`` → 3 at the last 0."""

    name = "mad_noisy_in_context_recall"
    PARAMS = (
        Param("vocab", int, 32, "vocabulary size (MAD: 32)", low=4, high=1 << 16),
        Param("noise_vocab", int, 16, "noise tokens (the top of the vocabulary)", low=1, high=1 << 16),
        Param("frac_noise", float, 0.2, "probability that a pair is noise", low=0.0, high=0.99),
        SCORING,
    )


@PROBES.register("mad_fuzzy_in_context_recall")
class MADFuzzyInContextRecall(MADTask):
    """Recall with multi-token keys and values (MAD's fuzzy variant): keys are runs of 1 … k key
    tokens (exactly k in the test split), values runs of 1 … v value tokens; the row is
    left-padded with the pad token (V − 1) and ends with a probe of a key seen before, minus the
    probe value's last token. A key may be re-bound (MAD plants the probe pair at a random point,
    over any earlier value of that key): the latest binding is the one recalled.
    Example (V = 16, recall): ``15 0 1 7 8 0 1 7`` → labels 7, 8 at the second ``1 7`` (the
    recalled value ``7 8`` shifted by one)."""

    name = "mad_fuzzy_in_context_recall"
    task = "multi-token value of a multi-token key seen before (MAD's fuzzy recall)"
    PARAMS = (
        Param("vocab", int, 16, "vocabulary size (MAD: 16; the last id is the pad)", low=5, high=1 << 16),
        Param("k_motif", int, 3, "longest key", low=1, high=8),
        Param("v_motif", int, 3, "longest value", low=1, high=8),
        SCORING,
    )

    #: room for at least one pair before the final probe
    min_length = ParamMinLength(lambda p: 2 * (p.params["k_motif"] + p.params["v_motif"]) + 1)

    def n_keys(self) -> int:
        return (self.params["vocab"] - 1) // 2

    def seq_len(self, length: int) -> int:
        return length

    def _sizes(self, length: int) -> tuple[int, int, int, int]:
        """(longest key, longest value, limit, pairs): motifs have distinct tokens, so they are
        capped at the key and value alphabets; pairs are added while the row is shorter than
        ``limit``, so a row has at most ``pairs`` of them (a pair has ≥ 2 tokens)."""
        nk, pad = self.n_keys(), self.params["vocab"] - 1
        km, vm = self.params["k_motif"], self.params["v_motif"]
        limit = length - 2 * (km + vm)
        return min(km, nk), min(vm, pad - nk), limit, (limit + 1) // 2

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        """The random choices, per row and pair: the key's and value's lengths (a recall key has
        the longest length), their tokens (uniform distinct tokens of each alphabet: a motif
        is a prefix), and per row a uniform in [0, 1) that picks the probed key."""
        nk, pad = self.n_keys(), self.params["vocab"] - 1
        km, vm, _, n_pairs = self._sizes(length)
        shape = (batch, n_pairs)
        if self.params["scoring"] == "recall":  # the test split: keys of exactly km tokens
            klen = np.full(shape, km, dtype=np.int64)
        else:
            klen = np.minimum(1 + uniform_ints(rng, self.params["k_motif"], shape).astype(np.int64), km)
        return {
            "klen": klen,
            "vlen": np.minimum(1 + uniform_ints(rng, self.params["v_motif"], shape).astype(np.int64), vm),
            "keys": distinct_ints(rng, nk, batch * n_pairs, km).reshape(*shape, km),
            "values": nk + distinct_ints(rng, pad - nk, batch * n_pairs, vm).reshape(*shape, vm),
            "pick": rng.random(batch),
        }

    def row_reference(self, draws: Draws, row: int, length: int) -> list[int]:
        """Row ``row`` of the draws in plain Python (the reference): pairs ``key value`` while the
        row is shorter than the limit, a key seen before keeping its first value; then a probe
        of one of the keys bound, the left padding, and the last token dropped."""
        pad, (_, _, limit, _) = self.params["vocab"] - 1, self._sizes(length)
        klen, vlen, keys, values = (draws[k][row].tolist() for k in ("klen", "vlen", "keys", "values"))
        bound: dict[tuple[int, ...], tuple[int, ...]] = {}
        seq: list[int] = []
        p = 0
        while len(seq) < limit:
            k = tuple(keys[p][: klen[p]])
            v = bound.setdefault(k, tuple(values[p][: vlen[p]]))
            seq += [*k, *v]
            p += 1
        k = list(bound)[int(draws["pick"][row] * len(bound))]
        seq = [pad] * (length + 1 - len(seq) - len(k) - len(bound[k])) + seq + [*k, *bound[k]]
        return seq[:-1]

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        return self.label(np.array([self.row_reference(draws, r, length) for r in range(batch)]))

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        # :meth:`row_reference` vectorised over rows and pairs: each pair's first pair with the same
        # key (whose value it takes), the pairs' first columns (a cumulative sum: the pairs used
        # are those starting before the limit, a prefix), the probe among the first pairs, and
        # then every token and label scattered into the padded row
        nk, pad = self.n_keys(), self.params["vocab"] - 1
        km, vm, limit, n_pairs = self._sizes(length)
        klen, keys, rows = draws["klen"], draws["keys"], np.arange(batch)[:, None]
        src = _first_with_key(keys, klen, nk)
        vlen, values = draws["vlen"][rows, src], draws["values"][rows, src]
        size = klen + vlen
        before = np.cumsum(size, axis=1) - size
        used = before < limit
        first = (src == np.arange(n_pairs)) & used
        n_keys = first.sum(axis=1)
        r = (draws["pick"] * n_keys).astype(np.int64)
        probe = np.argmax(first & (np.cumsum(first, axis=1) == (r + 1)[:, None]), axis=1)[:, None]

        def more(a: np.ndarray, extra: np.ndarray) -> np.ndarray:  # the probe pair, after the used
            return np.concatenate([a, extra], axis=1)

        klen, vlen, keys, values = (more(a, a[rows, probe]) for a in (klen, vlen, keys, values))
        total = (size * used).sum(axis=1, keepdims=True)
        ones = np.ones((batch, 1), dtype=bool)
        placed, seen = more(used, ones), more(used & ~first, ones)
        # first columns in the padded row of length + 1 (whose last token is dropped)
        start = more(before, total) + (length + 1 - total - size[rows, probe])
        full = np.full((batch, length + 1), pad, dtype=np.int64)
        flat_row = (np.arange(batch) * (length + 1))[:, None, None]
        for tokens, offset, n, width in ((keys, start, klen, km), (values, start + klen, vlen, vm)):
            where = placed[:, :, None] & (np.arange(width) < n[:, :, None])
            full.ravel()[(flat_row + offset[:, :, None] + np.arange(width))[where]] = tokens[where]
        tokens = np.ascontiguousarray(full[:, :length])
        targets = full[:, 1:].copy()
        if self.params["scoring"] == "lm":  # the next token everywhere
            return Batch(tokens, targets, np.ones(tokens.shape, dtype=bool))
        # a seen key's value, shifted by one (from the key's last token on): +1 where such a run
        # starts, −1 after it ends, summed along the row
        runs = np.zeros((batch, length + 2), dtype=np.int8)
        run_start = start + klen - 1 + (np.arange(batch) * (length + 2))[:, None]
        runs.ravel()[run_start[seen]] = 1
        runs.ravel()[(run_start + vlen)[seen]] = -1
        mask = np.cumsum(runs, axis=1)[:, :length] > 0
        targets[~mask] = 0
        return Batch(tokens, targets, mask)

    def answer(self, row: list[int], unknown: int | None = None) -> list[int]:
        """As :meth:`MADTask.answer`; with ``unknown``, a row whose final probe asks for a key it
        never bound (MAD's generator can end so: it plants the probe pair at a random point that
        the loop may never reach) gets ``unknown`` as that probe's last label instead of an error."""
        nk, pad = self.n_keys(), self.params["vocab"] - 1
        start = next((i for i, t in enumerate(row) if t != pad), len(row))
        runs = _segments(row[start:], [t < nk for t in row[start:]])
        bound: dict[tuple[int, ...], tuple[int, ...]] = {}
        out = [-1] * len(row)
        lm = self.params["scoring"] == "lm"
        if lm:
            out[: len(row) - 1] = row[1:]
        for j in range(0, len(runs), 2):
            k0, k1, is_key = runs[j]
            if not is_key:
                raise ValueError(f"a value run at position {start + k0} without a key")
            key = tuple(row[start + k0 : start + k1])
            last = j + 1 >= len(runs) or runs[j + 1][1] == len(row) - start
            v0, v1 = (runs[j + 1][0], runs[j + 1][1]) if j + 1 < len(runs) else (k1, k1)
            shown = tuple(row[start + v0 : start + v1])
            seen = key in bound
            if last:  # the final probe, cut one token short
                if seen and bound[key][: len(shown)] == shown and len(bound[key]) == len(shown) + 1:
                    value = bound[key]
                elif unknown is not None:  # its last token is in no way given by the row
                    value, seen = (*shown, unknown), True
                else:
                    raise UnboundProbe("the row does not end in a probe of a bound key")
            else:  # MAD plants the probe pair, which may re-bind a key: the latest binding holds
                value = bound[key] = shown
            if seen and not lm:  # the value's tokens, shifted by one
                for i, tok in enumerate(value):
                    out[start + v0 - 1 + i] = tok
            if last:
                out[len(row) - 1] = value[-1]
        return out


def _first_with_key(keys: np.ndarray, klen: np.ndarray, nk: int) -> np.ndarray:
    """Per row and pair, the first pair of that row with the same key (``keys`` [B, P, km]: its
    first ``klen`` tokens, from [0, nk)). Keys are coded as integers (tokens + 1 in base nk + 1)
    and found by a table of first pairs (a scattered minimum) when the codes are few, else by a
    stable sort of each row; keys too long for an int64 code are sorted column by column."""
    batch, n, km = keys.shape
    column = np.broadcast_to(np.arange(n), (batch, n))
    masked = np.where(np.arange(km) < klen[:, :, None], keys + 1, 0)
    if (nk + 1) ** km >= 1 << 62:
        rows = np.broadcast_to(np.arange(batch)[:, None], (batch, n)).ravel()
        order = np.lexsort([masked[:, :, j].ravel() for j in reversed(range(km))] + [rows])
        sort_key = masked.reshape(batch * n, km)[order]
        new = np.ones(batch * n, dtype=bool)
        new[1:] = (sort_key[1:] != sort_key[:-1]).any(axis=1) | (rows[order][1:] != rows[order][:-1])
        head = np.maximum.accumulate(np.where(new, np.arange(batch * n), 0))
        src = np.empty(batch * n, dtype=np.int64)
        src[order] = column.ravel()[order][head]
        return src.reshape(batch, n)
    space = (nk + 1) ** km
    code = masked[:, :, 0].copy()
    for j in range(1, km):  # column by column: a sum over a short last axis is slow in numpy
        code += masked[:, :, j] * (nk + 1) ** j
    if space <= 4 * n:
        slot = code + (np.arange(batch) * space)[:, None]
        first = np.full(batch * space, n)
        np.minimum.at(first, slot.ravel(), column.ravel())
        return first[slot]
    return first_equal(code)


def first_equal(code: np.ndarray) -> np.ndarray:
    """Per row and column of ``code`` [B, P], the first column of the row with an equal code:
    a stable sort of each row, each sorted run's head, scattered back."""
    order = np.argsort(code, axis=1, kind="stable")
    srt = np.take_along_axis(code, order, axis=1)
    new = np.ones(srt.shape, dtype=bool)
    new[:, 1:] = srt[:, 1:] != srt[:, :-1]
    head = np.maximum.accumulate(np.where(new, np.arange(code.shape[1]), 0), axis=1)
    src = np.empty_like(order)
    np.put_along_axis(src, order, np.take_along_axis(order, head, axis=1), axis=1)
    return src


@PROBES.register("mad_selective_copying")
class MADSelectiveCopying(MADTask):
    """MAD's selective copying: ``n`` symbols scattered among blanks (V − 2), the copy token
    (V − 1), then ``n`` blanks, on which the symbols are labelled in order; length = MAD's
    seq_len. Example (V = 6, n = 2, length 8): ``_ 3 _ 1 C _ _``… → labels 3 1 on the last two."""

    name = "mad_selective_copying"
    task = "copy the non-blank symbols in order after the copy token (MAD's selective copying)"
    PARAMS = (
        Param("vocab", int, 16, "vocabulary size (MAD: 16; up to 128 in its sweeps)", low=3, high=1 << 16),
        Param("n_copy", int, 16, "symbols to copy", low=1, high=1 << 14),
    )

    min_length = ParamMinLength(lambda p: 2 * p.params["n_copy"] + 2)

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        # n symbols at n distinct positions of the data part (a uniform n-subset), the rest blank
        n, v = self.params["n_copy"], self.params["vocab"]
        data_len = length - n - 1
        symbols = uniform_ints(rng, v - 2, (batch, n)).astype(np.int64)
        where = np.sort(distinct_ints(rng, data_len, batch, n), axis=1)
        tokens = np.full((batch, length), v - 2, dtype=np.int64)
        tokens[np.arange(batch)[:, None], where] = symbols
        tokens[:, data_len] = v - 1
        return {"tokens": tokens, "symbols": symbols}

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        # the symbols, in order, on the n blanks after the copy token
        tokens, n = draws["tokens"], self.params["n_copy"]
        targets = np.zeros(tokens.shape, dtype=np.int64)
        targets[:, -n:] = draws["symbols"]
        mask = np.zeros(tokens.shape, dtype=bool)
        mask[:, -n:] = True
        return Batch(tokens, targets, mask)

    def answer(self, row: list[int]) -> list[int]:
        n, v = self.params["n_copy"], self.params["vocab"]
        data = [t for t in row[: len(row) - n - 1] if t != v - 2]
        if row[len(row) - n - 1] != v - 1 or len(data) != n:
            raise ValueError(f"not a selective-copying row with {n} symbols")
        return [-1] * (len(row) - n) + data


@PROBES.register("mad_memorization")
class MADMemorization(MADTask):
    """MAD's memorization: pairs ``k INSERT`` whose label at INSERT is the key's value under one
    fixed key → value map for every sequence (MAD's ``generate_kv_map`` of the non-special
    vocabulary with seed ``map_seed``, reproduced: see :func:`kv_map`). Example (V = 256):
    ``118 255 46 255`` → 157 and 207 at the INSERTs (MAD's map, seed 12345)."""

    name = "mad_memorization"
    task = "the value of each key under a fixed map shared by all sequences (MAD's memorization)"
    PARAMS = (
        Param("vocab", int, 256, "vocabulary size (MAD: 256; the last id is INSERT)", low=5, high=1 << 14),
        Param("map_seed", int, 12345, "seed of the fixed key → value map (MAD: 12345)", low=0),
    )

    def _validate(self) -> None:
        self.map = kv_map(self.params["vocab"] - 1, self.params["map_seed"])
        # the map as a table, key → value (the keys are 0 … len(map) − 1)
        self.table = np.array([self.map[k] for k in range(len(self.map))], dtype=np.int64)

    def seq_len(self, length: int) -> int:
        return 2 * (length // 2)

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        keys = uniform_ints(rng, len(self.map), (batch, length // 2))
        tokens = np.empty((batch, 2 * (length // 2)), dtype=np.int64)
        tokens[:, 0::2], tokens[:, 1::2] = keys, self.params["vocab"] - 1
        return {"tokens": tokens}

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        # at every INSERT the value of the key before it
        tokens = draws["tokens"]
        targets = np.zeros(tokens.shape, dtype=np.int64)
        targets[:, 1::2] = self.table[tokens[:, 0::2]]
        mask = np.zeros(tokens.shape, dtype=bool)
        mask[:, 1::2] = True
        return Batch(tokens, targets, mask)

    def answer(self, row: list[int]) -> list[int]:
        out = [-1] * len(row)
        for t in range(1, len(row), 2):
            if row[t] != self.params["vocab"] - 1 or row[t - 1] not in self.map:
                raise ValueError(f"position {t - 1} is not a key followed by INSERT")
            out[t] = self.map[row[t - 1]]
        return out


@PROBES.register("mad_compression")
class MADCompression(MADTask):
    """MAD's compression: random symbols then the compression token (V − 1); MAD's generator
    returns the input as the target, so every position is labelled with its own token (an
    autoencoding target). Example: ``4 2 9 15`` → ``4 2 9 15``."""

    name = "mad_compression"
    task = "reproduce every token (MAD's compression, as its generator returns it)"
    PARAMS = (Param("vocab", int, 16, "vocabulary size (MAD: 16)", low=3, high=1 << 16),)

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        tokens = np.empty((batch, length), dtype=np.int64)
        tokens[:, :-1] = uniform_ints(rng, self.params["vocab"] - 1, (batch, length - 1))
        tokens[:, -1] = self.params["vocab"] - 1
        return {"tokens": tokens}

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        tokens = draws["tokens"]  # every token is its own label
        return Batch(tokens, tokens.copy(), np.ones(tokens.shape, dtype=bool))

    def answer(self, row: list[int]) -> list[int]:
        return list(row)


def kv_map(n: int, seed: int) -> dict[int, int]:
    """MAD's fixed memorization map over ``n`` non-special tokens: keys 0 … n//2−1 and values
    n//2 … n−1 are each put in the order of one ``default_rng(seed).shuffle`` (keys first), then
    paired in order (the facts of ``generate_kv_map`` with motif size 1)."""
    rng = np.random.default_rng(seed)
    keys = list(range(n // 2))
    values = list(range(n // 2, n))
    rng.shuffle(keys)
    rng.shuffle(values)
    return dict(zip(keys, values, strict=False))


# ---------------------------------------------------------------------------------------------
# their data, checked (archlab probe fixtures)

TASKS = {
    "in-context-recall": "mad_in_context_recall",
    "noisy-in-context-recall": "mad_noisy_in_context_recall",
    "fuzzy-in-context-recall": "mad_fuzzy_in_context_recall",
    "selective-copying": "mad_selective_copying",
    "memorization": "mad_memorization",
    "compression": "mad_compression",
}


def fixture_probe(task: str, params: dict) -> MADTask:
    from archlab.errors import ArchlabError
    from archlab.probes.fixtures import NotCheckable

    if task not in TASKS:
        raise NotCheckable(f"archlab has no variant of MAD's {task!r}")
    if not params.get("multi_query", True):
        raise NotCheckable("multi_query=False rows (a copy prefix token) have no archlab variant")
    cls: type[Probe] = PROBES.get(TASKS[task])
    names = {p.name for p in cls.PARAMS}
    ours = {
        "vocab": params["vocab_size"],
        "noise_vocab": params.get("noise_vocab_size", 0),
        "frac_noise": params.get("frac_noise", 0.0),
        "k_motif": params.get("k_motif_size"),
        "v_motif": params.get("v_motif_size"),
        "n_copy": params.get("num_tokens_to_copy"),
        "scoring": "lm" if params.get("is_training", True) else "recall",
    }
    try:
        probe = cls(**{k: v for k, v in ours.items() if k in names})
    except ArchlabError as e:
        raise NotCheckable(f"their parameters {params}: {e}") from None
    assert isinstance(probe, MADTask)
    return probe


def check_fixture_rows(task: str, rows: list[dict], vocab: dict) -> list[Any]:
    """Per row: None when our variant gives their targets at their scored positions."""
    from archlab.probes.fixtures import Agrees, compare, compare_ignore_index

    probe = fixture_probe(task, rows[0]["params"])
    results: list[Any] = []
    for row in rows:
        want = [int(v) for v in row["target"]]
        scored = [i for i, v in enumerate(want) if v != -100]
        try:
            batch = probe.label(np.array([row["input"]]))
        except UnboundProbe:
            # MAD's own quirk: the last label is given by nothing in the row. Compare the rest.
            assert isinstance(probe, MADFuzzyInContextRecall)
            out = probe.answer(row["input"], unknown=-2)
            ours = [i for i, v in enumerate(out) if v != -1]
            diff = compare(ours, scored, "scored positions") or compare(
                out[:-1], [want[i] if want[i] != -100 else -1 for i in range(len(want) - 1)], "target"
            )
            results.append(diff or Agrees(UNBOUND_NOTE))
            continue
        except ValueError as e:
            results.append(f"archlab cannot label this input: {e}")
            continue
        results.append(compare_ignore_index(batch, want))
    return results


UNBOUND_NOTE = (
    "the final probe asks for a key the row never bound (MAD's generator can skip planting it), "
    "so its last label is not in the row: compared at every other position"
)
