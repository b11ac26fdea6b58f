"""Linear baselines: k-mer features against brute force, and the README's reference numbers."""

from __future__ import annotations

from itertools import product
from pathlib import Path

import numpy as np
import pytest

from archlab.dna.data import DnaDataset, Split
from archlab.dna.io import catalogue_path, load_hdf5
from archlab.dna.linear import fit_gc, fit_kmer, gc_features, kmer_features
from archlab.errors import ArchlabError


def _irf1() -> Path:
    try:
        return catalogue_path("irf1")
    except ArchlabError:
        return Path("/nonexistent/IRF1_400_h3k27ac.h5")


IRF1 = _irf1()


def test_kmer_features_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, (4, 30)).astype(np.uint8)
    codes[1, 7] = 4  # N: windows touching it are skipped
    lengths = np.array([30, 30, 25, 30])
    x = kmer_features(codes, lengths, k_max=3)
    assert x.shape == (4, 4 + 16 + 64) and x.dtype == np.float32
    for r in range(4):
        seq = codes[r, : lengths[r]]
        want = []
        for k in (1, 2, 3):
            counts = {km: 0 for km in product(range(4), repeat=k)}
            for p in range(len(seq) - k + 1):
                win = tuple(int(b) for b in seq[p : p + k])
                if 4 not in win:
                    counts[win] += 1
            want += list(counts.values())
        v = np.array(want, dtype=np.float64)
        np.testing.assert_allclose(x[r], v / np.linalg.norm(v), rtol=1e-5)
    sub = kmer_features(codes, lengths, k_max=3, k_min=2)
    assert sub.shape == (4, 16 + 64)


def _toy(gc_pos: float, gc_neg: float, n: int = 400, length: int = 200) -> DnaDataset:
    rng = np.random.default_rng(1)

    def draw(gc: float, m: int) -> np.ndarray:
        p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
        return rng.choice(4, (m, length), p=p).astype(np.uint8)

    splits = {}
    for name in ("train", "test"):
        codes = np.concatenate([draw(gc_neg, n), draw(gc_pos, n)])
        y = np.repeat([0, 1], n).astype(np.int64)
        splits[name] = Split(codes, y, np.full(2 * n, length, dtype=np.int32))
    return DnaDataset("toy", "classification", splits, ["negative", "positive"])


def test_gc_baseline_sees_a_gc_shift_and_not_its_absence() -> None:
    assert fit_gc(_toy(0.56, 0.44))["auroc"] > 0.9
    assert abs(fit_gc(_toy(0.5, 0.5))["auroc"] - 0.5) < 0.06
    ds = _toy(0.5, 0.5, n=50)
    assert gc_features(ds.splits["train"]).shape == (100, 1)


def test_regression_metrics() -> None:
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 4, (300, 100)).astype(np.uint8)
    y = (codes == 2).mean(1).astype(np.float32) + 0.01 * rng.standard_normal(300).astype(np.float32)
    sp = {
        s: Split(codes[i::2], y[i::2], np.full(150, 100, dtype=np.int32))
        for i, s in enumerate(("train", "test"))
    }
    ds = DnaDataset("reg", "regression", sp)
    out = fit_kmer(ds, k_max=2)
    assert out["metric"] == "pearson" and out["pearson"] > 0.9 and "spearman" in out


@pytest.mark.skipif(not IRF1.is_file(), reason="needs the shared IRF1 ChIP-seq file")
def test_gc_reference_number_on_irf1() -> None:
    out = fit_gc(load_hdf5(IRF1))
    assert out["auroc"] == pytest.approx(0.636, abs=0.02)
    assert out["coef"] < 0  # IRF1 positives are AT-richer


@pytest.mark.slow
@pytest.mark.skipif(not IRF1.is_file(), reason="needs the shared IRF1 ChIP-seq file")
def test_kmer_reference_number_on_irf1() -> None:
    out = fit_kmer(load_hdf5(IRF1))
    assert out["auroc"] == pytest.approx(0.852, abs=0.02)
