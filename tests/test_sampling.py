"""The fast random-draw and prefix-sum helpers the probes are built on."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from archlab.probes.sampling import count_below, prefix_sums, random_bits, residues, uniform_ints


@pytest.mark.parametrize("high", [2, 3, 5, 7, 16, 17, 60, 120, 1000, 65536])
def test_uniform_ints_are_uniform(high: int) -> None:
    x = uniform_ints(np.random.default_rng(high), high, (400, 500))
    assert x.min() >= 0 and x.max() < high
    counts = np.bincount(x.ravel().astype(np.int64), minlength=high)
    if high <= 1000:  # chi-square goodness of fit; p < 1e-4 would be a real bias
        assert stats.chisquare(counts).pvalue > 1e-4


def test_uniform_ints_rejects_bad_range() -> None:
    with pytest.raises(ValueError):
        uniform_ints(np.random.default_rng(0), 0, (2, 2))


def test_count_below_matches_probabilities() -> None:
    c = count_below(np.random.default_rng(0), [0.9, 0.1], (1000, 1000))
    freq = np.bincount(c.ravel(), minlength=3) / c.size
    np.testing.assert_allclose(freq, [0.1, 0.8, 0.1], atol=0.002)
    assert (count_below(np.random.default_rng(0), [1.0], (3, 3)) == 1).all()
    assert (count_below(np.random.default_rng(0), [0.0], (3, 3)) == 0).all()


def test_count_below_resolves_ties_exactly() -> None:
    # p = 0.5 + 2^-30: the top byte ties at 128 for 1/256 of the values; those must be resolved by
    # the next 24 bits, so the frequency is 0.5 (+ a negligible 2^-30), not 0.5 + 1/256.
    c = count_below(np.random.default_rng(1), [0.5 + 2**-30], (2000, 1000))
    assert abs(c.mean() - 0.5) < 0.0015


def test_random_bits_are_fair() -> None:
    b = random_bits(np.random.default_rng(0), (300, 1000))
    assert b.shape == (300, 1000) and abs(b.mean() - 0.5) < 0.005


@settings(max_examples=50, deadline=None)
@given(rows=st.integers(1, 5), cols=st.integers(1, 300), high=st.integers(1, 200), seed=st.integers(0, 10**6))
def test_prefix_sums_equal_cumsum(rows: int, cols: int, high: int, seed: int) -> None:
    v = np.random.default_rng(seed).integers(0, high, size=(rows, cols)).astype(np.uint8)
    np.testing.assert_array_equal(prefix_sums(v, (high - 1) * cols), np.cumsum(v, axis=1))
    np.testing.assert_array_equal(residues(prefix_sums(v, 10**6), 7, 0, 10**6), np.cumsum(v, axis=1) % 7)
