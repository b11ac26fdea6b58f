"""Tests of the memory probes: copy, selective_copy, mqar, induction_heads."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archlab.errors import ConfigError
from archlab.probes import make_probe
from archlab.probes.base import Batch, Probe
from archlab.probes.memory import (
    FLOYD_MAX,
    MemoryProbe,
    smallest_k_mask,
    smallest_k_positions,
    subset_mask,
    subset_positions,
)

NAMES = ("copy", "selective_copy", "mqar", "induction_heads")

#: Parameter sets that between them cover every code path (both copy modes, both subset samplers).
CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("copy", {}),
    ("copy", {"alphabet": 2}),
    ("copy", {"mode": "blank", "alphabet": 5}),
    ("selective_copy", {}),
    ("selective_copy", {"n_tokens": 1, "alphabet": 2}),
    ("selective_copy", {"n_tokens": FLOYD_MAX + 5}),
    ("mqar", {}),
    ("mqar", {"vocab": 4, "n_pairs": 2, "n_queries": 1}),
    ("mqar", {"vocab": 8, "n_pairs": 4, "n_queries": FLOYD_MAX + 3}),
    ("induction_heads", {}),
    ("induction_heads", {"vocab": 2}),
    ("induction_heads", {"vocab": 300}),
]


def labelled(probe: Probe, batch: Batch, row: int = 0) -> tuple[list[str], list[str]]:
    """Token labels and target labels of one row, with '-' for a masked target."""
    tl, ll = probe.token_labels(), probe.target_labels()
    toks = [tl[t] for t in batch.tokens[row].tolist()]
    tgts = [
        ll[y] if m else "-"
        for y, m in zip(batch.targets[row].tolist(), batch.mask[row].tolist(), strict=True)
    ]
    return toks, tgts


def words(text: str) -> list[str]:
    return text.split()


def memory_probe(name: str, **params: Any) -> MemoryProbe:
    p = make_probe(name, **params)
    assert isinstance(p, MemoryProbe)
    return p


def both(probe: Probe, draws: dict[str, Any], batch: int, length: int) -> Batch:
    """build and build_reference on hand-made draws; they must agree."""
    fast = probe.build(draws, batch, length)
    slow = probe.build_reference(draws, batch, length)
    assert fast.equals(slow)
    return fast


# -- worked docstring examples ------------------------------------------------------------------


def test_copy_autoregressive_example() -> None:
    p = make_probe("copy", alphabet=3)
    b = both(p, {"letters": np.array([[1, 0, 2]], dtype=np.uint16)}, 1, 3)
    assert b.shape == (1, 9) == (1, p.seq_len(3))
    assert labelled(p, b) == (words("$ b a c | b a c ."), words("- - - - b a c . -"))


def test_copy_blank_example() -> None:
    p = make_probe("copy", alphabet=3, mode="blank")
    b = both(p, {"letters": np.array([[1, 0, 2]], dtype=np.uint16)}, 1, 3)
    assert labelled(p, b) == (words("$ b a c | _ _ _ _"), words("- - - - - b a c ."))


def test_selective_copy_example() -> None:
    p = make_probe("selective_copy", alphabet=4, n_tokens=3)
    # Floyd's draws over range(6), k = 3: t0=0 -> {0}, t1=3 -> {0,3}, t2=5 -> {0,3,5}
    draws = {"slots": np.array([[0, 3, 5]]), "data": np.array([[1, 3, 0]], dtype=np.uint16)}
    b = both(p, draws, 1, 6)
    assert labelled(p, b) == (words("b - - d - a | _ _ _"), words("- - - - - - - b d a"))


def test_mqar_example() -> None:
    p = make_probe("mqar", vocab=8, n_pairs=2, n_queries=2)
    draws = {
        "key_order": np.array([[1, 5, 0, 9]], dtype=np.uint32),  # sorted: k2, k0, k1, k3
        "values": np.array([[1, 3]], dtype=np.uint16),  # k2 -> v1, k0 -> v3
        "query_slots": np.array([[1, 3]]),  # Floyd over range(4), k = 2: {1, 3} -> positions 5, 7
        "query_pairs": np.array([[1, 0]], dtype=np.uint16),  # ask k0, then k2
    }
    b = both(p, draws, 1, 8)
    assert labelled(p, b) == (words("k2 v1 k0 v3 - k0 - k2"), words("- - - - - v3 - v1"))


def test_induction_heads_example() -> None:
    p = make_probe("induction_heads", vocab=4)
    draws = {"symbols": np.array([[2, 0, 1, 3, 1, 0, 2]], dtype=np.uint16), "trigger_pos": np.array([2])}
    b = both(p, draws, 1, 7)
    assert labelled(p, b) == (words("c a * d b a *"), words("- - - - - - d"))


# -- semantics, checked by independent simple functions -----------------------------------------


def sample(name: str, seed: int = 0, batch: int = 64, length: int = 40, **params: Any) -> tuple[Probe, Batch]:
    p = make_probe(name, **params)
    return p, p.sample(np.random.default_rng(seed), batch, length)


@pytest.mark.parametrize("alphabet", [2, 7, 26])
def test_copy_semantics(alphabet: int) -> None:
    p, b = sample("copy", alphabet=alphabet, length=17)
    labels, classes = p.token_labels(), p.target_labels()
    for row in range(b.shape[0]):
        toks = [labels[t] for t in b.tokens[row]]
        sep = toks.index("|")
        assert toks[0] == "$" and toks[-1] == "." and sep == 18
        assert toks[1:sep] == toks[sep + 1 : -1]  # w | w
        # teacher forcing: every counted target is the next token, from "|" up to the last letter
        counted = np.flatnonzero(b.mask[row]).tolist()
        assert counted == list(range(sep, len(toks) - 1))
        assert [classes[b.targets[row, i]] for i in counted] == [toks[i + 1] for i in counted]


def test_copy_blank_semantics() -> None:
    p, b = sample("copy", mode="blank", alphabet=4, length=9)
    labels, classes = p.token_labels(), p.target_labels()
    for row in range(b.shape[0]):
        toks = [labels[t] for t in b.tokens[row]]
        assert toks[11:] == ["_"] * 10 and "_" not in toks[:11]
        counted = np.flatnonzero(b.mask[row]).tolist()
        assert counted == list(range(11, 21))
        assert [classes[b.targets[row, i]] for i in counted] == [*toks[1:10], "."]


@pytest.mark.parametrize("n_tokens", [1, 5, FLOYD_MAX + 1])
def test_selective_copy_semantics(n_tokens: int) -> None:
    length = 50
    _, b = sample("selective_copy", n_tokens=n_tokens, alphabet=6, length=length)
    noise, sep, blank = 6, 7, 8
    assert b.shape[1] == length + 1 + n_tokens
    for row in range(b.shape[0]):
        toks = b.tokens[row].tolist()
        data = [t for t in toks[:length] if t != noise]
        assert len(data) == n_tokens and toks[length] == sep and toks[length + 1 :] == [blank] * n_tokens
        assert b.mask[row].tolist() == [False] * (length + 1) + [True] * n_tokens
        assert b.targets[row, length + 1 :].tolist() == data


@pytest.mark.parametrize(("n_pairs", "n_queries"), [(8, 0), (3, 1), (4, FLOYD_MAX + 2)])
def test_mqar_semantics(n_pairs: int, n_queries: int) -> None:
    length = 90
    _, b = sample("mqar", vocab=16, n_pairs=n_pairs, n_queries=n_queries, length=length)
    h, filler = 8, 16
    q = n_queries or n_pairs
    for row in range(b.shape[0]):
        toks = b.tokens[row].tolist()
        keys, vals = toks[0 : 2 * n_pairs : 2], toks[1 : 2 * n_pairs : 2]
        assert len(set(keys)) == n_pairs and all(k < h for k in keys) and all(h <= v < 2 * h for v in vals)
        table = dict(zip(keys, vals, strict=True))
        mask = b.mask[row].tolist()
        assert sum(mask) == q and not any(mask[: 2 * n_pairs])
        for i in range(2 * n_pairs, length):
            if mask[i]:
                assert toks[i] in table and b.targets[row, i] == table[toks[i]] - h
            else:
                assert toks[i] == filler


def test_induction_heads_semantics() -> None:
    _, b = sample("induction_heads", vocab=5, length=30)
    trigger = 5
    for row in range(b.shape[0]):
        toks = b.tokens[row].tolist()
        where = [i for i, t in enumerate(toks) if t == trigger]
        assert len(where) == 2 and where[1] == 29 and where[0] <= 27
        assert b.mask[row].tolist() == [False] * 29 + [True]
        assert b.targets[row, -1] == toks[where[0] + 1]


@pytest.mark.parametrize(("name", "params"), CONFIGS)
def test_labels_are_informative(name: str, params: dict[str, Any]) -> None:
    p = make_probe(name, **params)
    b = p.sample(np.random.default_rng(1), 64, max(p.min_length, 60))
    counted = b.targets[b.mask]
    assert len(np.unique(counted)) >= 2
    assert Counter(counted.tolist()).most_common(1)[0][1] < 0.8 * counted.size


# -- shapes, ranges, edge lengths ---------------------------------------------------------------


@pytest.mark.parametrize(("name", "params"), CONFIGS)
def test_edge_lengths(name: str, params: dict[str, Any]) -> None:
    p = make_probe(name, **params)
    for length in (p.min_length, p.min_length + 1, p.min_length + 2, p.min_length + 33):
        for batch in (1, 3):
            b = p.sample(np.random.default_rng(length), batch, length)
            assert b.shape == (batch, p.seq_len(length))
            assert b.tokens.dtype == b.targets.dtype == np.int64 and b.mask.dtype == bool
            assert b.tokens.min() >= 0 and b.tokens.max() < p.vocab_size
            assert b.targets.min() >= 0 and b.targets.max() < p.n_classes
            assert b.mask.any(axis=1).all()
            assert not b.targets[~b.mask].any()
            assert b.equals(p.reference_sample(np.random.default_rng(length), batch, length))


def test_min_lengths() -> None:
    assert make_probe("copy").min_length == 1
    assert make_probe("induction_heads").min_length == 3
    assert make_probe("selective_copy", n_tokens=5).min_length == 5
    assert make_probe("mqar", n_pairs=3).min_length == 9
    assert make_probe("mqar", n_pairs=3, n_queries=2).min_length == 8
    # on the class: the value at the default parameters
    for name in NAMES:
        cls = type(make_probe(name))
        assert cls.min_length == make_probe(name).min_length


def test_seq_len() -> None:
    assert make_probe("copy").seq_len(10) == 23
    assert make_probe("selective_copy", n_tokens=4).seq_len(10) == 15
    assert make_probe("mqar").seq_len(30) == 30
    assert make_probe("induction_heads").seq_len(30) == 30


def test_deterministic() -> None:
    for name, params in CONFIGS:
        p = make_probe(name, **params)
        a = p.sample(np.random.default_rng(7), 4, p.min_length + 20)
        b = p.sample(np.random.default_rng(7), 4, p.min_length + 20)
        assert a.equals(b)


# -- parameter errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("copy", {"alphabet": 1}, "copy.alphabet"),
        ("copy", {"alphabet": 129}, "copy.alphabet"),
        ("copy", {"mode": "greedy"}, "copy.mode"),
        ("selective_copy", {"n_tokens": 0}, "selective_copy.n_tokens"),
        ("selective_copy", {"alphabet": 130}, "selective_copy.alphabet"),
        ("mqar", {"vocab": 9}, "mqar.vocab"),
        ("mqar", {"vocab": 2}, "mqar.vocab"),
        ("mqar", {"vocab": 8, "n_pairs": 5}, "mqar.n_pairs"),
        ("mqar", {"n_queries": -1}, "mqar.n_queries"),
        ("induction_heads", {"vocab": 1}, "induction_heads.vocab"),
        ("induction_heads", {"vocabulary": 4}, "induction_heads.vocabulary"),
    ],
)
def test_param_errors(name: str, params: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_probe(name, **params)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("name", "params", "length"),
    [
        ("copy", {}, 0),
        ("selective_copy", {"n_tokens": 8}, 7),
        ("mqar", {"n_pairs": 8}, 23),
        ("mqar", {"vocab": 8, "n_pairs": 2, "n_queries": 5}, 8),
        ("induction_heads", {}, 2),
    ],
)
def test_length_too_short(name: str, params: dict[str, Any], length: int) -> None:
    p = make_probe(name, **params)
    with pytest.raises(ConfigError) as err:
        p.sample(np.random.default_rng(0), 2, length)
    assert err.value.field == "length"
    assert str(p.min_length) in str(err.value)


# -- theory facts -------------------------------------------------------------------------------


def test_theory_facts() -> None:
    copy = memory_probe("copy", alphabet=4)
    facts = copy.theory.to_dict()
    assert facts["level"] == "memory" and facts["language_class"] == "context-sensitive"
    assert facts["info_bits_formula"] == "L*log2(alphabet)" and facts["info_bits_per_length"] == 2.0
    assert copy.info_bits(10) == 20.0 and "Jelassi" in facts["theory_rule"]
    assert memory_probe("copy").info_bits(5) == pytest.approx(5 * math.log2(26))

    sel = memory_probe("selective_copy", n_tokens=5, alphabet=8)
    assert sel.theory.facts["info_bits"] == 15.0 == sel.info_bits(100) == sel.info_bits(5)
    assert sel.theory.facts["language_class"] == "context-sensitive"

    mqar = memory_probe("mqar")
    assert mqar.theory.facts["info_bits_formula"] == "n_pairs*log2(vocab/2)"
    assert mqar.info_bits(64) == 8 * 5 == mqar.theory.facts["info_bits"]
    assert "Arora" in mqar.theory.facts["theory_rule"]

    ind = memory_probe("induction_heads", vocab=16)
    assert ind.info_bits(1000) == 4.0 == ind.theory.facts["info_bits"]
    for name in NAMES:
        p = make_probe(name)
        assert p.family == "memory" and p.theory.level == "memory"
        assert isinstance(p.theory.facts["info_bits_formula"], str)
        p.describe()  # JSON-ready description works with the per-instance min_length


def test_labels_readable() -> None:
    assert make_probe("copy", alphabet=3).token_labels() == ["a", "b", "c", "$", "|", "."]
    assert make_probe("copy", alphabet=3, mode="blank").token_labels()[-1] == "_"
    assert make_probe("mqar", vocab=4, n_pairs=2).token_labels() == ["k0", "k1", "v0", "v1", "-"]
    assert make_probe("induction_heads", vocab=30).token_labels()[:2] == ["t0", "t1"]
    for name in NAMES:
        p = make_probe(name)
        assert len(set(p.token_labels())) == p.vocab_size
        assert len(set(p.target_labels())) == p.n_classes


# -- subset sampling ----------------------------------------------------------------------------


def test_floyd_subsets_are_uniform() -> None:
    n, k, rows = 5, 2, 20000
    draw = np.random.default_rng(0).integers(0, np.arange(n - k + 1, n + 1), size=(rows, k))
    mask = subset_mask(draw, n, k)
    assert (mask.sum(axis=1) == k).all()
    counts = Counter(tuple(np.flatnonzero(r).tolist()) for r in mask)
    assert set(counts) == set(itertools.combinations(range(n), k))
    expected = rows / math.comb(n, k)
    assert all(abs(c - expected) < 5 * math.sqrt(expected) for c in counts.values())
    for r in range(50):
        assert subset_positions(draw[r].tolist(), n, k) == set(np.flatnonzero(mask[r]).tolist())


def test_subset_mask_offset() -> None:
    draw = np.array([[0, 3, 5]])
    mask = subset_mask(draw, 6, 3, offset=2)
    assert mask.tolist() == [[False, False, True, False, False, True, False, True]]


def test_smallest_k_with_ties() -> None:
    keys = np.array([[5, 1, 3, 1, 3, 3, 0], [2, 2, 2, 2, 2, 2, 2]], dtype=np.uint32)
    for k in range(1, 8):
        mask = smallest_k_mask(keys, k)
        for row in range(2):
            expected = sorted(smallest_k_positions(keys[row].tolist(), k))
            assert np.flatnonzero(mask[row]).tolist() == expected


# -- fast == reference --------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    config=st.sampled_from(CONFIGS),
    seed=st.integers(0, 2**32 - 1),
    batch=st.integers(1, 6),
    extra=st.integers(0, 40),
)
def test_sample_matches_reference(
    config: tuple[str, dict[str, Any]], seed: int, batch: int, extra: int
) -> None:
    name, params = config
    p = make_probe(name, **params)
    length = p.min_length + extra
    fast = p.sample(np.random.default_rng(seed), batch, length)
    slow = p.reference_sample(np.random.default_rng(seed), batch, length)
    assert fast.equals(slow)


def test_copy_alphabets_reach_128_with_distinct_token_names() -> None:
    """MAD and FP-RNN use copy vocabularies beyond 26 letters."""
    for name in ("copy", "selective_copy"):
        probe = make_probe(name, alphabet=128)
        labels = probe.token_labels()
        assert len(set(labels)) == len(labels) == probe.vocab_size
        b = probe.sample(np.random.default_rng(0), 16, 12)
        assert b.tokens.max() < probe.vocab_size and b.targets[b.mask].max() < 128 + 1
        assert (b.targets[b.mask] >= 26).any()  # letters beyond z are drawn
