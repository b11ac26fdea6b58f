"""Which synthetic grammar level predicts how architectures rank on real DNA tasks?

:func:`transfer` trains the same set of architectures (archlab ``ModelConfig``s, plus the one-hot
CNN baseline) on synthetic levels and on real labelled sets, scores each on its test split in the
task's headline metric (AUROC for binary classification, Pearson r for regression; mean over
seeds), and reports, for every (synthetic level, real task) pair, the Spearman rank correlation
between the architectures' scores on the two, with its p-value and the number of architectures.
A level whose ranking tracks a real task's is a cheap proxy for searching on that task.

With few architectures the rank correlation is coarse (with 5 architectures, only |ρ| = 1 reaches
p < 0.05): the table gives ``n_models`` and ``p`` beside every ρ so a reader can judge.

Each (architecture, task, seed) run is written to ``out_dir/runs/<arch>/<task>/seed_<s>.json``
and reused when present, so an interrupted transfer run resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from archlab.atomic import write_json_atomic
from archlab.dna.metrics import mean_sd
from archlab.dna.tasks import DnaTaskSpec, build_dataset, task_label

__all__ = ["correlations", "transfer"]


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


def correlations(
    scores: dict[str, dict[str, float]], synthetic: Sequence[str], real: Sequence[str]
) -> list[dict[str, Any]]:
    """Spearman ρ over architectures between each synthetic level's scores and each real task's
    (architectures with a finite score on both), plus ρ against the mean rank over the real tasks."""
    import numpy as np
    from scipy import stats

    archs = list(scores)
    rows: list[dict[str, Any]] = []
    targets = [*real, "mean rank (real)"] if len(real) > 1 else list(real)
    real_ranks = None
    if len(real) > 1:
        ok = [a for a in archs if all(math.isfinite(scores[a].get(r, math.nan)) for r in real)]
        if ok:
            ranks = np.mean([stats.rankdata([scores[a][r] for a in ok]) for r in real], axis=0)
            real_ranks = dict(zip(ok, ranks.tolist(), strict=True))
    for s in synthetic:
        for r in targets:
            if r == "mean rank (real)":
                assert real_ranks is not None
                pairs = [(scores[a].get(s, math.nan), real_ranks[a]) for a in real_ranks]
            else:
                pairs = [(scores[a].get(s, math.nan), scores[a].get(r, math.nan)) for a in archs]
            pairs = [(x, y) for x, y in pairs if math.isfinite(x) and math.isfinite(y)]
            rho = p = math.nan
            if len(pairs) >= 3 and len({x for x, _ in pairs}) > 1 and len({y for _, y in pairs}) > 1:
                res = stats.spearmanr([x for x, _ in pairs], [y for _, y in pairs])
                rho, p = float(res.statistic), float(res.pvalue)
            rows.append({"synthetic": s, "real": r, "spearman": rho, "p": p, "n_models": len(pairs)})
    return rows


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
    **train_kw: Any,
) -> dict[str, Any]:
    """Train every architecture on every task (once per seed); return scores and correlations.

    ``models``: ``(label, ModelConfig or CNNConfig)`` pairs; ``include_cnn`` adds the CNN
    baseline as ``cnn``. Returns ``{"models", "synthetic", "real", "metrics", "seeds", "scores":
    {model: {task: {"mean", "sd", "n", "values"}}}, "correlations": [...], "best_predictor":
    {real task: {"synthetic", "spearman", "p", "n_models"}}, "wall_time_s"}``; also written to
    ``out_dir/transfer.json`` when ``out_dir`` is given.
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
    for task, tname in zip(tasks, names, strict=True):
        ds = build_dataset(task, data_dir)
        metrics[tname] = ds.metric
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
    means = {a: {t: cell["mean"] for t, cell in row.items()} for a, row in table.items()}
    syn_names, real_names = names[: len(synthetic)], names[len(synthetic) :]
    corr = correlations(means, syn_names, real_names)
    best: dict[str, dict[str, Any]] = {}
    for r in {c["real"] for c in corr}:
        finite = [c for c in corr if c["real"] == r and math.isfinite(c["spearman"])]
        if finite:
            top = max(finite, key=lambda c: c["spearman"])
            best[r] = {k: top[k] for k in ("synthetic", "spearman", "p", "n_models")}
    result = {
        "models": labels,
        "synthetic": syn_names,
        "real": real_names,
        "metrics": metrics,
        "seeds": list(seeds),
        "scores": table,
        "correlations": corr,
        "best_predictor": best,
        "wall_time_s": time.perf_counter() - start,
    }
    if root is not None:
        write_json_atomic(root / "transfer.json", result)
    return result
