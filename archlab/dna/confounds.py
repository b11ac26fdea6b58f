"""Confound checks for the synthetic grammar levels: can a shortcut solve the task?

:func:`check_level` generates a level's dataset and checks, as a JSON-able report:

* ``gc_auroc`` / ``kmer_auroc`` — GC-only and k-mer (k ≤ 6) linear baselines on the test
  split; each must stay within chance ± 0.05, i.e. in [1 − :data:`AUROC_LIMIT`,
  :data:`AUROC_LIMIT`] = [0.45, 0.55] (an AUROC well below 0.5 is a shortcut that predicts the
  label the other way round), for every baseline the level declares it defeats
  (``Level.defeats``); the others are reported with no limit (a motif's k-mers are evidence of
  presence, so D0/D1 cannot defeat k-mers). For regression, ``|Pearson r|`` ≤ :data:`R_LIMIT`.
* ``duplicates_across_splits`` — exact duplicates between any two splits, either strand: 0.
* ``deterministic`` — generating again with the same seed gives identical arrays.
* ``oracle`` — the generator's own rule applied by scanning: accuracy ≥ 0.99 (classification),
  Pearson r with the noisy target ≥ 0.9 (regression).
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from archlab.dna.data import DnaDataset
from archlab.dna.grammar import get_level, make_dataset, oracle_scores
from archlab.dna.linear import fit_gc, fit_kmer

__all__ = ["AUROC_LIMIT", "R_LIMIT", "check_dataset", "check_level", "cross_split_duplicates"]

AUROC_LIMIT = 0.55
R_LIMIT = 0.1
ORACLE_ACCURACY = 0.99
ORACLE_PEARSON = 0.9
#: short C grid for the k-mer check (the full grid's large C values take minutes to converge)
CHECK_CS = (0.1, 1.0, 10.0, 100.0)


def cross_split_duplicates(dataset: DnaDataset) -> int:
    """Pairs of rows in different splits that are equal on either strand
    (:func:`archlab.dna.leakage.exact_duplicates`)."""
    from archlab.dna.leakage import exact_duplicates

    pairs = cast(dict[str, dict[str, Any]], exact_duplicates(dataset)["pairs"])
    return sum(int(p["n"]) for p in pairs.values())


def _check(name: str, value: float | int | bool, limit: float | None, passed: bool) -> dict[str, Any]:
    return {"name": name, "value": value, "limit": limit, "passed": bool(passed)}


def check_dataset(
    dataset: DnaDataset, defeats: tuple[str, ...], seed: int = 0, k_max: int = 6
) -> list[dict[str, Any]]:
    """The baseline checks on any dataset (``defeats`` = baselines that must stay at chance)."""
    checks = []
    gc = fit_gc(dataset, seed)
    km = fit_kmer(dataset, seed, k_max=k_max, cs=CHECK_CS, max_iter=500)
    for tag, res in (("gc", gc), ("kmer", km)):
        limited = tag in defeats
        if dataset.task == "classification":
            v = float(res["auroc"])
            near_chance = abs(v - 0.5) <= AUROC_LIMIT - 0.5
            checks.append(
                _check(f"{tag}_auroc", v, AUROC_LIMIT if limited else None, (not limited) or near_chance)
            )
        else:
            v = float(res["pearson"])
            checks.append(
                _check(f"{tag}_pearson", v, R_LIMIT if limited else None, (not limited) or abs(v) <= R_LIMIT)
            )
    return checks


def check_level(
    name: str,
    length: int = 500,
    seed: int = 0,
    n: int = 2000,
    background: str = "iid",
    **params: Any,
) -> dict[str, Any]:
    """Run every confound check for level ``name`` with ``n`` training rows (valid n/4, test n/2).

    Returns ``{"level", "length", "background", "checks": [{"name", "value", "limit",
    "passed"}, …], "passed", "oracle_accuracy", "resampled"}`` (JSON-able).
    """
    level = get_level(name)
    sizes = {"n_train": n, "n_valid": max(n // 4, 2), "n_test": max(n // 2, 2)}
    ds = make_dataset(name, length, seed=seed, background=background, **sizes, **params)
    checks = check_dataset(ds, level.defeats, seed)
    dups = cross_split_duplicates(ds)
    checks.append(_check("duplicates_across_splits", dups, 0, dups == 0))
    small = make_dataset(
        name, length, seed=seed, background=background, n_train=64, n_valid=16, n_test=32, **params
    )
    again = make_dataset(
        name, length, seed=seed, background=background, n_train=64, n_valid=16, n_test=32, **params
    )
    same = all(
        np.array_equal(small.splits[s].codes, again.splits[s].codes)
        and np.array_equal(small.splits[s].y, again.splits[s].y)
        for s in small.splits
    )
    # the small set's train split must also be the start of nothing else: determinism only
    checks.append(_check("deterministic", bool(same), None, same))
    meta_params = cast(dict[str, Any], ds.meta["params"])
    lv_params = {k: v for k, v in meta_params.items() if k != "background"}
    orc = oracle_scores(name, ds.splits["test"], **lv_params)
    if level.task == "classification":
        acc = float(orc["accuracy"])
        checks.append(_check("oracle_accuracy", acc, ORACLE_ACCURACY, acc >= ORACLE_ACCURACY))
    else:
        acc = float(orc["pearson"])
        checks.append(_check("oracle_pearson", acc, ORACLE_PEARSON, acc >= ORACLE_PEARSON))
    return {
        "level": level.name,
        "length": int(length),
        "background": background,
        "seed": int(seed),
        "n": {k: int(v) for k, v in sizes.items()},
        "defeats": list(level.defeats),
        "checks": checks,
        "passed": all(c["passed"] for c in checks),
        "oracle_accuracy": acc,
        "resampled": ds.meta["resampled"],
    }
