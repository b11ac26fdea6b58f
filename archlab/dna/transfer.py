"""Which synthetic grammar level predicts how architectures rank on real DNA tasks?

:func:`transfer` trains the same set of architectures (archlab ``ModelConfig``s, plus the one-hot
CNN baseline) on synthetic levels and on real labelled sets, scores each on its test split in the
task's headline metric (AUROC for binary classification, Pearson r for regression, accuracy for
several classes; mean over seeds), and reports, for every (synthetic level, real task) pair, the
Spearman rank correlation between the architectures' mean scores on the two. A level whose
ranking tracks a real task's is a cheap proxy for searching on that task.

The statistics are built for few architectures (:mod:`archlab.dna.rankstats`):

- **p** is a two-sided permutation p-value: exact over all n! orderings of the ranks for
  n ≤ 9 architectures (``p_method = "exact"``), else a seeded Monte-Carlo permutation test
  (``"permutation"``, 100 000 draws). The t-approximation is not used: it reports p ≈ 0 for
  ρ = 1 with 3 architectures, whose exact p is 1/3. Without ties the smallest possible p is
  2/n!, so 3 or 4 architectures can never reach p < 0.05, and 5 only with |ρ| = 1 (ρ = 0.9
  gives p = 1/12).
- **rho_ci** is a 95 % bootstrap percentile interval over seeds: each (architecture, task)
  cell's per-seed scores are resampled with replacement, the means re-ranked and ρ recomputed.
  With one seed per cell there is nothing to resample, and the interval is null with a reason.
- **refused**: a task on which no architecture is above chance (0.5 AUROC, r = 0, the
  majority-class accuracy; judged by :func:`archlab.dna.rankstats.chance_check` from the seeds'
  t-interval and the test-set size) ranks noise, so its pairs get ``spearman``/``p`` null and
  the reason; ``refused_tasks`` in the result lists them. ``best_predictor`` skips them.

Each (architecture, task, seed) run is written to ``out_dir/runs/<arch>/<task>/seed_<s>.json``
and reused when present, so an interrupted transfer run resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from archlab.atomic import write_json_atomic
from archlab.dna.metrics import mean_sd
from archlab.dna.rankstats import (
    MAX_EXACT,
    N_PERM,
    ChanceCheck,
    bootstrap_cell_means,
    chance_check,
    chance_null,
    percentile_interval,
    spearman_rows,
    spearman_test,
)
from archlab.dna.tasks import DnaTaskSpec, build_dataset, task_label

__all__ = ["MEAN_RANK", "correlations", "transfer"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@=-]+", "_", text).strip("_") or "x"


def _run_one(ds: Any, spec: Any, seed: int, path: Path | None, train_kw: dict[str, Any]) -> dict[str, Any]:
    from archlab.dna.train import train_dna

    if path is not None and path.is_file():
        try:
            rec = json.loads(path.read_text())
            if rec.get("status") in ("ok", "timeout"):
                return dict(rec)
        except (OSError, json.JSONDecodeError):
            pass  # an unreadable record is redone
    rec = train_dna(ds, spec, seed=seed, **train_kw)
    rec.pop("curve", None)
    if path is not None:
        write_json_atomic(path, rec)
    return rec


MEAN_RANK = "mean rank (real)"
"""The target that stands for all real tasks at once (their mean rank per architecture)."""


def _boot_note(cells: list[int] | None) -> str | None:
    """Why no bootstrap interval can be given, from the seed counts of the cells a ρ uses
    (None: no per-seed values, or no draws asked for)."""
    if not cells:
        return "no per-seed values to resample"
    if max(cells) <= 1:
        return "one seed per cell: no spread over seeds to resample (run with more seeds)"
    return None


def correlations(
    scores: dict[str, dict[str, float]],
    synthetic: Sequence[str],
    real: Sequence[str],
    *,
    values: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
    refused: Mapping[str, str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    n_perm: int = N_PERM,
    max_exact: int = MAX_EXACT,
) -> list[dict[str, Any]]:
    """Spearman ρ over architectures between each synthetic level's scores and each real task's
    (architectures with a finite score on both), plus ρ against the mean rank over the real tasks.

    Every row has ``synthetic``, ``real``, ``spearman``, ``p``, ``n_models`` and:

    - ``p_method``: ``"exact"`` (all n! orderings, n ≤ ``max_exact``) or ``"permutation"``
      (``n_perm`` seeded draws), see :func:`archlab.dna.rankstats.spearman_test`; None when ρ is
      undefined (fewer than 3 architectures, or constant scores: ``spearman`` and ``p`` NaN);
    - ``rho_ci``: ``[lo, hi]``, the 95 % percentile interval of ρ over ``n_boot`` bootstrap
      draws in which every (architecture, task) cell's per-seed ``values`` are resampled with
      replacement (independently per cell, seeded by ``seed``, the same draws for every row) and
      the means re-ranked; ``n_boot`` is the number of draws in which ρ was defined. None (with
      ``n_boot`` 0 and the reason in ``rho_ci_note``) when every cell has one seed, so there is
      no spread to resample, or when ``values`` is not given;
    - ``refused``: None, or why the pair is not ranked: ``refused`` maps a task to its reason
      (every architecture within chance on it), and a row touching such a task has ``spearman``,
      ``p`` and ``rho_ci`` None. The mean rank uses the real tasks not refused (the row is
      refused when all are).
    """
    import numpy as np
    from scipy import stats

    refused = dict(refused or {})
    archs = list(scores)
    rows: list[dict[str, Any]] = []
    targets = [*real, MEAN_RANK] if len(real) > 1 else list(real)
    kept_real = [r for r in real if r not in refused]
    real_ranks = None
    mr_archs: list[str] = []
    if len(real) > 1 and kept_real:
        mr_archs = [a for a in archs if all(math.isfinite(scores[a].get(r, math.nan)) for r in kept_real)]
        if mr_archs:
            ranks = np.mean([stats.rankdata([scores[a][r] for a in mr_archs]) for r in kept_real], axis=0)
            real_ranks = dict(zip(mr_archs, ranks.tolist(), strict=True))
    # bootstrap means per cell, drawn once in a fixed order so every row sees the same draws
    boot: dict[tuple[str, str], Any] = {}
    seeds_in: dict[tuple[str, str], int] = {}
    if values is not None and n_boot > 0:
        rng = np.random.default_rng(seed)
        for a in archs:
            for t in [*synthetic, *real]:
                v = list(values.get(a, {}).get(t, []))
                seeds_in[(a, t)] = sum(1 for x in v if math.isfinite(x))
                boot[(a, t)] = bootstrap_cell_means(v, n_boot, rng)
    all_refused_real = "every real task is refused: " + "; ".join(refused[r] for r in real if r in refused)
    for s in synthetic:
        for r in targets:
            if r == MEAN_RANK:
                pairs_a = [a for a in (real_ranks or {}) if math.isfinite(scores[a].get(s, math.nan))]
                pairs = [(scores[a][s], (real_ranks or {})[a]) for a in pairs_a]
                why = [refused[s]] if s in refused else []
                if not kept_real:
                    why.append(all_refused_real)
            else:
                pairs_a = [
                    a
                    for a in archs
                    if math.isfinite(scores[a].get(s, math.nan)) and math.isfinite(scores[a].get(r, math.nan))
                ]
                pairs = [(scores[a][s], scores[a][r]) for a in pairs_a]
                why = [refused[t] for t in (s, r) if t in refused]
            row: dict[str, Any] = {
                "synthetic": s,
                "real": r,
                "spearman": None,
                "p": None,
                "n_models": len(pairs),
                "p_method": None,
                "rho_ci": None,
                "n_boot": 0,
                "rho_ci_note": None,
                "refused": "; ".join(why) or None,
            }
            rows.append(row)
            if why:
                row["rho_ci_note"] = "refused"
                continue
            test = spearman_test(
                [x for x, _ in pairs], [y for _, y in pairs], max_exact=max_exact, n_perm=n_perm, seed=seed
            )
            row.update(spearman=test.rho, p=test.p, p_method=test.p_method)
            if test.p_method is None:
                row["rho_ci_note"] = "ρ undefined (fewer than 3 architectures, or constant scores)"
                continue
            if r == MEAN_RANK:
                cells = [seeds_in.get((a, t), 0) for a in pairs_a for t in (s, *kept_real)]
            else:
                cells = [seeds_in.get((a, t), 0) for a in pairs_a for t in (s, r)]
            note = _boot_note(cells if boot else None)
            if note is not None:
                row["rho_ci_note"] = note
                continue
            bx = np.stack([boot[(a, s)] for a in pairs_a], axis=1)  # [n_boot, architectures]
            if r == MEAN_RANK:
                # re-rank every kept real task within each draw, over the architectures the
                # observed mean rank used, then keep those with a score on the level
                cols = [mr_archs.index(a) for a in pairs_a]
                ranked = [
                    stats.rankdata(np.stack([boot[(a, t)] for a in mr_archs], axis=1), axis=1)
                    for t in kept_real
                ]
                by = np.mean(ranked, axis=0)[:, cols]
            else:
                by = np.stack([boot[(a, r)] for a in pairs_a], axis=1)
            rho_b = spearman_rows(bx, by)
            lo, hi = percentile_interval(rho_b)
            used = int(np.count_nonzero(np.isfinite(rho_b)))
            if used:
                row.update(rho_ci=[lo, hi], n_boot=used)
            else:
                row["rho_ci_note"] = "ρ undefined in every bootstrap draw"
    return rows


def _chance_summary(
    task: str, metric: str, checks: dict[str, ChanceCheck], null_se: float | None, n_test: int
) -> str:
    """The refusal line: ``<task>: no architecture is above chance (…figures…)``."""
    chance = next(iter(checks.values())).chance
    cells = ", ".join(
        f"{a} {c.mean:.3f} [{c.lo:.3f}, {c.hi:.3f}]" if math.isfinite(c.mean) else f"{a} no score"
        for a, c in checks.items()
    )
    band = f", null SE {null_se:.3f} on {n_test} test rows" if null_se is not None else ""
    return f"{task}: no architecture is above chance ({metric} chance {chance:.3f}{band}; {cells})"


def transfer(
    models: Sequence[tuple[str, Any]],
    synthetic: Sequence[DnaTaskSpec],
    real: Sequence[DnaTaskSpec],
    *,
    seeds: Sequence[int] = (0,),
    data_dir: str | None = None,
    include_cnn: bool = True,
    out_dir: str | Path | None = None,
    on_step: Callable[[str], None] | None = None,
    n_boot: int = 2000,
    stats_seed: int = 0,
    **train_kw: Any,
) -> dict[str, Any]:
    """Train every architecture on every task (once per seed); return scores and correlations.

    ``models``: ``(label, ModelConfig or CNNConfig)`` pairs; ``include_cnn`` adds the CNN
    baseline as ``cnn``. ``n_boot`` bootstrap draws give each ρ's interval, and ``stats_seed``
    seeds them and any Monte-Carlo permutation test. Returns ``{"models", "synthetic", "real",
    "metrics", "seeds", "scores": {model: {task: {"mean", "sd", "n", "values"}}}, "chance":
    {task: {"metric", "chance", "null_se", "n_test", "cells": {model: {"mean", "lo", "hi",
    "within"}}}}, "refused_tasks": {task: reason}, "correlations": [...] (rows as in
    :func:`correlations`), "best_predictor": {real task: {"synthetic", "spearman", "p",
    "p_method", "rho_ci", "rho_ci_note", "n_models"}}, "stats": {...settings...},
    "wall_time_s"}``; also written to ``out_dir/transfer.json`` when ``out_dir`` is given.
    """
    from archlab.dna.cnn import CNNConfig

    if not synthetic or not real:
        raise ValueError("transfer needs at least one synthetic level and one real task")
    start = time.perf_counter()
    say = on_step or (lambda _line: None)
    archs: list[tuple[str, Any]] = list(models)
    if include_cnn and not any(label == "cnn" for label, _ in archs):
        archs.append(("cnn", CNNConfig()))
    labels = [label for label, _ in archs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"architecture labels must be unique: {labels}")
    tasks = [*synthetic, *real]
    names = [task_label(t) for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"task labels must be unique (give name: to tell them apart): {names}")
    root = Path(out_dir) if out_dir is not None else None
    table: dict[str, dict[str, dict[str, Any]]] = {label: {} for label in labels}
    metrics: dict[str, str] = {}
    total = len(archs) * len(tasks) * len(seeds)
    done = 0
    test_y: dict[str, Any] = {}
    for task, tname in zip(tasks, names, strict=True):
        ds = build_dataset(task, data_dir)
        metrics[tname] = ds.metric
        test_y[tname] = ds.splits["test"].y
        for label, spec in archs:
            values = []
            for seed in seeds:
                done += 1
                say(f"[{done}/{total}] {label} on {tname}, seed {seed}")
                path = root / "runs" / _slug(label) / _slug(tname) / f"seed_{seed}.json" if root else None
                rec = _run_one(ds, spec, seed, path, train_kw)
                values.append(float(rec.get("test", {}).get(ds.metric, math.nan)))
            mean, sd, n = mean_sd(values)
            table[label][tname] = {"mean": mean, "sd": sd, "n": n, "values": values}
    result = rank_tasks(
        table, metrics, test_y, names[: len(synthetic)], names[len(synthetic) :], seeds=seeds,
        n_boot=n_boot, stats_seed=stats_seed,
    )  # fmt: skip
    result["wall_time_s"] = time.perf_counter() - start
    if root is not None:
        write_json_atomic(root / "transfer.json", result)
    return result


def rank_tasks(
    table: dict[str, dict[str, dict[str, Any]]],
    metrics: Mapping[str, str],
    test_y: Mapping[str, Any],
    synthetic: Sequence[str],
    real: Sequence[str],
    *,
    seeds: Sequence[int] = (0,),
    n_boot: int = 2000,
    stats_seed: int = 0,
) -> dict[str, Any]:
    """Chance checks, refusals, correlations and best predictors from a score table
    ``{architecture: {task: {"mean", "sd", "n", "values"}}}`` (however it was measured: by
    :func:`transfer`, or from the DNA ladder's runs), the tasks' metrics and test labels."""
    chance: dict[str, dict[str, Any]] = {}
    refused: dict[str, str] = {}
    for tname in [*synthetic, *real]:
        level, null_se = chance_null(metrics[tname], test_y[tname])
        checks: dict[str, ChanceCheck] = {}
        if level is not None:
            for label, row in table.items():
                if tname in row:
                    checks[label] = chance_check(row[tname]["values"], level, null_se)
        chance[tname] = {
            "metric": metrics[tname],
            "chance": level,
            "null_se": null_se,
            "n_test": len(test_y[tname]),
            "cells": {
                a: {"mean": c.mean, "lo": c.lo, "hi": c.hi, "within": c.within, "how": c.how}
                for a, c in checks.items()
            },
        }
        if checks and all(c.within for c in checks.values()):
            refused[tname] = _chance_summary(tname, metrics[tname], checks, null_se, len(test_y[tname]))
    means = {a: {t: cell["mean"] for t, cell in row.items()} for a, row in table.items()}
    vals = {a: {t: cell["values"] for t, cell in row.items()} for a, row in table.items()}
    syn_names, real_names = list(synthetic), list(real)
    corr = correlations(
        means, syn_names, real_names, values=vals, refused=refused, n_boot=n_boot, seed=stats_seed
    )
    best: dict[str, dict[str, Any]] = {}
    for r in dict.fromkeys(c["real"] for c in corr):
        finite = [
            c
            for c in corr
            if c["real"] == r
            and c["refused"] is None
            and c["spearman"] is not None
            and math.isfinite(c["spearman"])
        ]
        if finite:
            top = max(finite, key=lambda c: c["spearman"])
            best[r] = {
                k: top[k]
                for k in ("synthetic", "spearman", "p", "p_method", "rho_ci", "rho_ci_note", "n_models")
            }
    result = {
        "models": list(table),
        "synthetic": syn_names,
        "real": real_names,
        "metrics": metrics,
        "seeds": list(seeds),
        "scores": table,
        "chance": chance,
        "refused_tasks": refused,
        "correlations": corr,
        "best_predictor": best,
        "stats": {
            "p": f"two-sided permutation test: exact for n ≤ {MAX_EXACT}, else {N_PERM} draws",
            "rho_ci": "95 % bootstrap percentile interval over seeds",
            "n_boot": n_boot,
            "seed": stats_seed,
        },
    }
    return result
