"""Honest statistics for rank correlations over a handful of architectures.

:mod:`archlab.dna.transfer` ranks a few architectures (often 3–8) on two tasks and asks whether
the rankings agree. With so few items the usual t-approximation of Spearman's p-value is badly
wrong (for ρ = 1 with 3 architectures it gives p ≈ 0 where the exact value is 1/3), so this
module gives:

- :func:`spearman_test`: Spearman ρ with a **permutation p-value**. For n ≤ ``max_exact`` (9)
  items every one of the n! orderings is enumerated (``p_method = "exact"``); beyond that a
  seeded Monte-Carlo permutation test is run (``p_method = "permutation"``, p = (1 + count) /
  (1 + B), which never reports 0 and is a valid p-value for any number of draws B). Ties are
  handled the standard way: both vectors are replaced by their average ranks (as observed) and
  the second rank vector is permuted, so ρ is the Pearson correlation of the rank vectors and
  the null distribution is that of ρ under random assignment of the observed ranks. The test is
  two-sided: p is the fraction of orderings with ``|ρ_perm| ≥ |ρ_obs|`` (within 1e-12, so that
  orderings tying the observed value in exact arithmetic are counted despite rounding).
- :func:`spearman_rows`: ρ of many pairs of score vectors at once (one pair per row), used to
  bootstrap ρ over seeds.
- :func:`bootstrap_cell_means` and :func:`percentile_interval`: resample one (architecture,
  task) cell's per-seed values with replacement and take a percentile interval.
- :func:`chance_null` and :func:`chance_check`: whether a cell's score is distinguishable from
  chance (see :func:`chance_check` for the rule).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

__all__ = [
    "ChanceCheck",
    "SpearmanTest",
    "bootstrap_cell_means",
    "chance_check",
    "chance_null",
    "percentile_interval",
    "spearman_rows",
    "spearman_test",
]

MAX_EXACT = 9
"""Largest number of items for which :func:`spearman_test` enumerates all n! orderings."""

N_PERM = 100_000
"""Default number of Monte-Carlo permutations beyond :data:`MAX_EXACT` items."""

TIE_TOL = 1e-12
"""Tolerance in ``|ρ_perm| ≥ |ρ_obs| − TIE_TOL`` (float rounding of tied values)."""

SINGLE_SEED_MARGIN = 0.05
"""With one seed and no test-set size, a score this close to chance counts as within chance."""

_CHUNK = 65_536  # rows of permutations scored at a time


@dataclass(frozen=True)
class SpearmanTest:
    """Spearman ρ over ``n`` items with its two-sided permutation p-value.

    ``p_method`` is ``"exact"`` (all n! orderings) or ``"permutation"`` (Monte-Carlo, ``n_perm``
    draws). ``rho`` and ``p`` are NaN and ``p_method`` is None when ρ is undefined (fewer than 3
    items, or one vector constant).
    """

    rho: float
    p: float
    p_method: Literal["exact", "permutation"] | None
    n: int
    n_perm: int = 0


def _permutations(n: int) -> np.ndarray:
    """All n! orderings of ``0..n-1`` as an ``int8`` array ``[n!, n]``, built without a Python
    loop over permutations: the orderings of ``0..k`` are those of ``0..k-1`` with ``k``
    inserted at each of the k + 1 positions (9! × 9 bytes = 3.3 MB)."""
    perms = np.zeros((1, 0), dtype=np.int8)
    for k in range(n):
        perms = np.concatenate([np.insert(perms, j, k, axis=1) for j in range(k + 1)], axis=0)
    return perms


def _centred_ranks(v: np.ndarray) -> np.ndarray:
    r = stats.rankdata(v).astype(np.float64)
    return r - r.mean()


def spearman_test(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    max_exact: int = MAX_EXACT,
    n_perm: int = N_PERM,
    seed: int = 0,
) -> SpearmanTest:
    """Spearman ρ of ``x`` and ``y`` (average ranks for ties) and its two-sided permutation p.

    Exact enumeration for ``len(x) ≤ max_exact``, else ``n_perm`` seeded random permutations
    with p = (1 + #{|ρ_perm| ≥ |ρ_obs|}) / (1 + n_perm). See the module docstring.
    """
    xa = np.asarray(x, dtype=np.float64).reshape(-1)
    ya = np.asarray(y, dtype=np.float64).reshape(-1)
    if xa.shape != ya.shape:
        raise ValueError(f"{xa.size} x values but {ya.size} y values")
    n = int(xa.size)
    if n < 3 or not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        return SpearmanTest(math.nan, math.nan, None, n)
    cx, cy = _centred_ranks(xa), _centred_ranks(ya)
    denom = math.sqrt(float(cx @ cx) * float(cy @ cy))
    if denom == 0.0:  # a constant vector: every rank tied
        return SpearmanTest(math.nan, math.nan, None, n)
    rho = float(cx @ cy) / denom
    bar = abs(rho) - TIE_TOL
    if n <= max_exact:
        perms = _permutations(n)
        hits = 0
        for i in range(0, len(perms), _CHUNK):
            r = (cy[perms[i : i + _CHUNK]] @ cx) / denom
            hits += int(np.count_nonzero(np.abs(r) >= bar))
        return SpearmanTest(rho, hits / len(perms), "exact", n)
    if n_perm < 1:
        raise ValueError("n_perm must be at least 1")
    rng = np.random.default_rng(seed)
    hits = 0
    for i in range(0, n_perm, _CHUNK // 8):
        m = min(_CHUNK // 8, n_perm - i)
        r = (rng.permuted(np.broadcast_to(cy, (m, n)), axis=1) @ cx) / denom
        hits += int(np.count_nonzero(np.abs(r) >= bar))
    return SpearmanTest(rho, (1 + hits) / (1 + n_perm), "permutation", n, n_perm)


def spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman ρ between ``a[i]`` and ``b[i]`` for every row ``i`` of two ``[rows, items]``
    arrays (average ranks for ties); NaN for a row where either side is constant."""
    ra = stats.rankdata(a, axis=1)
    rb = stats.rankdata(b, axis=1)
    ra = ra - ra.mean(axis=1, keepdims=True)
    rb = rb - rb.mean(axis=1, keepdims=True)
    num = np.sum(ra * rb, axis=1)
    den = np.sqrt(np.sum(ra * ra, axis=1) * np.sum(rb * rb, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return np.asarray(out, dtype=np.float64)


def bootstrap_cell_means(values: Sequence[float], n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` bootstrap means of one cell's finite per-seed ``values`` (seeds drawn with
    replacement). One finite value gives that value every time; none gives NaN."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return np.full(n_boot, np.nan)
    if v.size == 1:
        return np.full(n_boot, float(v[0]))
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    return np.asarray(v[idx].mean(axis=1), dtype=np.float64)


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of the finite ``samples``."""
    s = samples[np.isfinite(samples)]
    if s.size == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def chance_null(metric: str, test_y: np.ndarray | None) -> tuple[float | None, float | None]:
    """``(chance, null_se)`` for a headline metric on a test set with labels ``test_y``.

    Chance is 0.5 for ``auroc``, 0 for ``pearson`` and the majority-class fraction for
    ``accuracy`` (what a constant prediction scores). ``null_se`` is the standard error of the
    metric for a predictor unrelated to the labels, from the test-set size alone:

    - AUROC: the Mann–Whitney null variance ``(n_pos + n_neg + 1) / (12 n_pos n_neg)``;
    - Pearson r: ``1 / sqrt(n − 1)``, the null standard deviation of r;
    - accuracy: the binomial ``sqrt(p0 (1 − p0) / n)`` at the chance rate ``p0``.

    ``null_se`` is None when the labels are not given or too few; ``chance`` is None for a
    metric without a chance level here.
    """
    y = None if test_y is None else np.asarray(test_y).reshape(-1)
    if metric == "auroc":
        if y is not None:
            n_pos = int(np.count_nonzero(y == 1))
            n_neg = int(y.size - n_pos)
            if n_pos > 0 and n_neg > 0:
                return 0.5, math.sqrt((n_pos + n_neg + 1) / (12.0 * n_pos * n_neg))
        return 0.5, None
    if metric == "pearson":
        if y is not None and y.size > 2:
            return 0.0, 1.0 / math.sqrt(y.size - 1)
        return 0.0, None
    if metric == "accuracy":
        if y is None or y.size == 0:
            return None, None
        _, counts = np.unique(y, return_counts=True)
        p0 = float(counts.max() / y.size)
        return p0, math.sqrt(p0 * (1 - p0) / y.size) or None
    return None, None


@dataclass(frozen=True)
class ChanceCheck:
    """Whether one (architecture, task) cell is within chance, and on what evidence.

    ``lo``/``hi`` is the interval around the mean that decided it: the wider of the seeds'
    t-interval and the test-set null band (or the fixed margin for one seed without a test-set
    size); ``within`` is whether it shows no learning: the interval includes chance or lies
    below it (a score significantly *below* chance — a k-mer fit that does not transfer from its
    training rows — carries no more information about the rule than chance does); ``how`` gives
    the half-widths in words.
    """

    mean: float
    n: int
    chance: float
    lo: float
    hi: float
    within: bool
    how: str


def chance_check(
    values: Sequence[float],
    chance: float,
    null_se: float | None = None,
    *,
    level: float = 0.95,
    margin: float = SINGLE_SEED_MARGIN,
) -> ChanceCheck:
    """Is the cell's score indistinguishable from ``chance``?

    Two sources of noise are judged, and the cell is within chance if **either** cannot show it
    above chance at ``level`` (equivalently: the wider of the two intervals around the mean
    reaches down to chance or lies below it):

    - seeds (n ≥ 2): the t-interval ``mean ± t(n−1)·sd/√n`` over the finite per-seed values
      includes chance;
    - the test set (when ``null_se`` is known, from :func:`chance_null`): ``|mean − chance| <
      z·null_se``. Every seed is scored on the same test set, so averaging seeds does not shrink
      this part, and with one seed it is the only evidence there is.

    With one seed and no ``null_se``, the cell is within chance when ``|score − chance| <
    margin`` (0.05 by default), a rule of thumb for callers that do not know the test set;
    :func:`archlab.dna.transfer.transfer` always passes ``null_se``. A cell without a finite
    value is within chance (it shows no learning).
    """
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=np.float64)
    n = int(v.size)
    if n == 0:
        return ChanceCheck(math.nan, 0, chance, math.nan, math.nan, True, "no finite score")
    mean = float(v.mean())
    half = 0.0  # the half-width: the wider of the two sources that apply
    hows: list[str] = []
    if n >= 2:
        t_half = float(stats.t.ppf((1 + level) / 2, n - 1)) * float(v.std(ddof=1)) / math.sqrt(n)
        half = t_half
        hows.append(f"t-interval over {n} seeds ±{t_half:.3f}")
    if null_se is not None:
        z_half = float(stats.norm.ppf((1 + level) / 2)) * null_se
        half = max(half, z_half)
        hows.append(f"test-set null band ±{z_half:.3f}")
    elif n == 1:
        half = margin
        hows.append(f"one seed, margin ±{margin:g}")
    lo, hi = mean - half, mean + half
    return ChanceCheck(mean, n, chance, lo, hi, lo <= chance, "; ".join(hows))
