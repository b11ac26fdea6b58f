"""Confound checks pass on every level and can fail on a confounded toy."""

from __future__ import annotations

import numpy as np
import pytest

from archlab.dna.confounds import AUROC_LIMIT, check_dataset, check_level, cross_split_duplicates
from archlab.dna.data import DnaDataset, Split

LEVELS = [f"D{i}" for i in range(8)]


@pytest.mark.parametrize("name", LEVELS)
def test_every_level_passes_its_confound_checks(name: str) -> None:
    rep = check_level(name, length=500, n=2000, seed=0)
    failed = [c for c in rep["checks"] if not c["passed"]]
    assert rep["passed"], failed
    names = {c["name"] for c in rep["checks"]}
    assert {"duplicates_across_splits", "deterministic"} <= names
    if rep["defeats"] and "kmer" in rep["defeats"]:
        kmer = next(c for c in rep["checks"] if c["name"] == "kmer_auroc")
        assert kmer["limit"] == AUROC_LIMIT and kmer["value"] <= AUROC_LIMIT
    assert rep["oracle_accuracy"] >= (0.99 if name != "D7" else 0.9)
    assert "train" in rep["resampled"]


def test_confounded_toy_fails_the_gc_check() -> None:
    rng = np.random.default_rng(0)

    def draw(gc: float, m: int) -> np.ndarray:
        return rng.choice(4, (m, 300), p=[(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]).astype(np.uint8)

    splits = {}
    for name, m in (("train", 300), ("valid", 100), ("test", 200)):
        codes = np.concatenate([draw(0.46, m), draw(0.54, m)])
        splits[name] = Split(
            codes, np.repeat([0, 1], m).astype(np.int64), np.full(2 * m, 300, dtype=np.int32)
        )
    ds = DnaDataset("toy", "classification", splits, ["negative", "positive"])
    checks = {c["name"]: c for c in check_dataset(ds, ("gc", "kmer"))}
    assert not checks["gc_auroc"]["passed"] and checks["gc_auroc"]["value"] > 0.8
    assert not checks["kmer_auroc"]["passed"]
    assert cross_split_duplicates(ds) == 0
    dup = DnaDataset("dup", "classification", {"train": splits["train"], "test": splits["train"]}, ["n", "p"])
    assert cross_split_duplicates(dup) == 600
