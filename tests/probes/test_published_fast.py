"""The vectorised samplers of the published-task probes (Delétang, Zoology, MAD): the variants
and code paths the registry-wide fast-vs-reference test does not reach, and the laws of the
vectorised draws against the generators they replace."""

from __future__ import annotations

import numpy as np
import pytest

from archlab.probes import make_probe
from archlab.probes.published.deletang2023 import uniform_ints
from archlab.probes.published.mad2024 import _first_with_key
from archlab.probes.published.zoology import distinct_ints, weighted_without_replacement

#: (probe, params, lengths): options and sizes that take other code paths than the defaults
CASES = [
    ("dm_modular_arithmetic", {"m": 7}, (3, 4, 30)),
    ("dm_modular_arithmetic", {"m": 2}, (1, 9)),
    ("dm_bucket_sort", {"vocab": 100}, (1, 40)),
    ("dm_reverse_string", {"vocab": 7}, (1, 20)),
    ("dm_stack_manipulation", {}, (1, 2, 3, 50)),
    ("dm_binary_addition", {}, (3, 4, 70, 130)),
    ("dm_binary_multiplication", {}, (3, 4, 70, 130)),
    ("dm_compute_sqrt", {}, (1, 2, 64, 129)),
    ("zoology_mqar", {"random_non_queries": False}, (32, 40)),
    ("zoology_mqar", {"kv": 30, "vocab": 128}, (120, 127)),  # dense gaps: the exponential race
    ("zoology_forgetting_mqar", {"kv": 4, "updates": 4}, (24, 40)),
    ("zoology_vocab_majority", {"vocab": 257}, (2, 300)),  # uint16 symbols, offset by 1
    ("zoology_vocab_majority", {"vocab": 3}, (2, 5, 9)),  # many ties
    ("mad_in_context_recall", {"vocab": 1024}, (4, 40)),  # many keys: first pairs by sorting
    ("mad_in_context_recall", {"vocab": 1024, "scoring": "lm"}, (5, 40)),
    ("mad_noisy_in_context_recall", {"frac_noise": 0.9}, (4, 5, 12)),  # rows of noise only
    ("mad_noisy_in_context_recall", {"vocab": 1024, "noise_vocab": 4, "frac_noise": 0.5}, (16,)),
    ("mad_fuzzy_in_context_recall", {"k_motif": 2}, (60, 100)),  # few key codes: the table
    ("mad_fuzzy_in_context_recall", {"vocab": 200, "scoring": "lm"}, (13, 80)),  # sparse motifs
    ("mad_fuzzy_in_context_recall", {"vocab": 1 << 16, "k_motif": 8}, (33,)),  # row by row
    ("mad_selective_copying", {"n_copy": 30, "vocab": 5}, (62, 100)),  # dense positions
    ("mad_memorization", {"vocab": 9}, (4, 33)),
]


@pytest.mark.parametrize("name,params,lengths", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_fast_matches_reference_on_other_paths(name: str, params: dict, lengths: tuple[int, ...]) -> None:
    probe = make_probe(name, **params)
    for length in lengths:
        for seed in range(6):
            fast = probe.sample(np.random.default_rng(seed), 1 + seed % 4, length)
            slow = probe.reference_sample(np.random.default_rng(seed), 1 + seed % 4, length)
            assert fast.equals(slow), (name, params, length, seed)


@pytest.mark.parametrize("high", [2, 3, 5, 8, 100, 256, 257, 4095, 8192, 70000])
def test_uniform_ints_is_uniform(high: int) -> None:
    n = 200 * high if high <= 300 else 400_000
    x = uniform_ints(np.random.default_rng(high), high, (n,))
    assert x.min() >= 0 and x.max() < high
    counts = np.bincount(x.astype(np.int64), minlength=high)
    # chi-square against uniform, loose: mean high - 1, sd sqrt(2 (high - 1))
    chi2 = ((counts - n / high) ** 2 / (n / high)).sum()
    assert chi2 < high - 1 + 6 * np.sqrt(2 * (high - 1))
    assert (
        uniform_ints(np.random.default_rng(1), high, (50,)).tolist()
        == uniform_ints(np.random.default_rng(1), high, (50,)).tolist()
    )


def _law(samples: np.ndarray, n: int) -> np.ndarray:
    """Per column the empirical distribution over 0 … n−1, [k, n]."""
    return np.stack([np.bincount(c, minlength=n) / len(c) for c in samples.T])


@pytest.mark.parametrize("k", [3, 8])  # the iid-stream path and the exponential race
def test_weighted_without_replacement_has_numpys_law(k: int) -> None:
    a, n, rows = 0.01, 20, 12_000
    p = a * np.arange(1, n + 1.0) ** (a - 1)
    p /= p.sum()
    rng = np.random.default_rng(0)
    ours = weighted_without_replacement(rng, p, rows, k)
    assert all(len(set(r)) == k for r in ours.tolist())
    theirs = np.stack([rng.choice(n, k, replace=False, p=p) for _ in range(rows)])
    assert np.abs(_law(ours, n) - _law(theirs, n)).max() < 0.025


@pytest.mark.parametrize("n,k", [(50, 4), (10, 6)])  # rejection of repeats; a permutation
def test_distinct_ints_is_uniform_over_ordered_subsets(n: int, k: int) -> None:
    out = distinct_ints(np.random.default_rng(0), n, 20_000, k)
    assert all(len(set(r)) == k for r in out.tolist())
    assert np.abs(_law(out, n) - 1 / n).max() < 0.02


@pytest.mark.parametrize(
    "name,params,length",
    [
        ("mad_in_context_recall", {}, 12),
        ("mad_noisy_in_context_recall", {}, 12),
        ("mad_noisy_in_context_recall", {"frac_noise": 0.9}, 6),
        ("mad_in_context_recall", {"vocab": 1024}, 12),
    ],
)
def test_in_context_recall_draw_has_the_row_samplers_law(name: str, params: dict, length: int) -> None:
    probe = make_probe(name, **params)
    rng = np.random.default_rng(0)
    rows = 4000
    a = probe.draw(rng, rows, length)["tokens"]
    b = np.array([probe.sample_row(rng, length) for _ in range(rows)])  # type: ignore[attr-defined]
    assert abs(probe.label(a).mask.mean() - probe.label(b).mask.mean()) < 0.01  # type: ignore[attr-defined]
    hi = probe.value_range()[1]  # type: ignore[attr-defined]
    assert abs((a[:, :-1:2] >= hi).mean() - (b[:, :-1:2] >= hi).mean()) < 0.02  # noise pairs
    distinct_a = np.mean([len({t for t in r[:-1:2] if t < hi}) for r in a.tolist()])
    distinct_b = np.mean([len({t for t in r[:-1:2] if t < hi}) for r in b.tolist()])
    assert abs(distinct_a - distinct_b) < 0.05 * distinct_b
    v = probe.vocab_size
    freq_a, freq_b = (
        np.bincount(a.ravel(), minlength=v) / a.size,
        np.bincount(b.ravel(), minlength=v) / b.size,
    )
    assert np.abs(freq_a - freq_b).max() < 0.01


@pytest.mark.parametrize(
    "nk,km,n",
    [(3, 2, 40), (3, 2, 3), (2**40, 3, 30)],
    ids=["table of first pairs", "sorted codes", "sorted columns (codes would overflow)"],
)
def test_first_pair_with_the_same_key(nk: int, km: int, n: int) -> None:
    # keys from a small alphabet, so that they repeat whichever path the alphabet size selects
    rng = np.random.default_rng(nk)
    keys = rng.integers(0, 3, size=(50, n, km))
    klen = rng.integers(1, km + 1, size=(50, n))
    got = _first_with_key(keys, klen, nk)
    for b in range(50):
        first: dict[tuple[int, ...], int] = {}
        want = [first.setdefault(tuple(keys[b, p, : klen[b, p]].tolist()), p) for p in range(n)]
        assert got[b].tolist() == want


def test_binary_arithmetic_draw_keeps_their_operand_law() -> None:
    # n uniform in 1 … L−2 and both operands ≥ 1
    probe = make_probe("dm_binary_addition")
    rows = probe.draw(np.random.default_rng(0), 20_000, 6)["inputs"]
    op = np.argmax(rows == 2, axis=1)
    assert np.abs(np.bincount(op, minlength=5)[1:5] / len(op) - 0.25).max() < 0.02
    pos = np.arange(6)
    assert ((rows == 1) & (pos < op[:, None])).any(axis=1).all()
    assert ((rows == 1) & (pos > op[:, None])).any(axis=1).all()
    # x of one bit is always 1; x of two bits is 1, 2 or 3 equally often
    two = rows[op == 2, :2]
    value = two[:, 0] + 2 * two[:, 1]
    assert np.abs(np.bincount(value, minlength=4)[1:] / len(value) - 1 / 3).max() < 0.03
