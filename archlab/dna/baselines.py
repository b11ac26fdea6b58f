"""The baseline table of a DNA dataset: GC-only, k-mer and the one-hot CNN, on the same test split.

Recent benchmarks found that pretrained genomic language models give no clear edge over one-hot
CNNs trained from scratch (Tang, Somia, Yu & Koo, Genome Biology 2025; DART-Eval, NeurIPS 2024),
so every architecture archlab searches is reported beside these three, never instead of them:

- ``gc``: logistic regression (classification) or OLS (regression) on the GC fraction alone: what
  base composition explains (:func:`archlab.dna.linear.fit_gc`);
- ``kmer``: logistic or ridge regression on L2-normalised k-mer counts, k = 1…6
  (:func:`archlab.dna.linear.fit_kmer`): what motif words without positions explain;
- ``cnn``: the one-hot CNN of :mod:`archlab.dna.cnn` trained from scratch with reverse-complement
  augmentation and prediction averaging, mean ± sample sd over seeds (:func:`archlab.dna.train.run_seeds`).

The linear fits are deterministic (one value); the CNN is trained once per seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from archlab.dna.data import DnaDataset

__all__ = ["run_baselines"]


def run_baselines(
    dataset: DnaDataset,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    cnn: Any = None,
    device: str = "auto",
    on_step: Callable[[str], None] | None = None,
    **train_kw: Any,
) -> dict[str, Any]:
    """GC, k-mer and CNN scores on ``dataset``'s test split, in its headline metric.

    Returns ``{"dataset", "metric", "gc", "kmer", "cnn_mean", "cnn_sd", "cnn_n", "cnn_values",
    "seeds", "wall_time_s", "details"}`` (``details``: every metric of each baseline and the CNN
    runs without their curves). ``on_step`` is called with a line before each stage (progress).
    ``train_kw`` go to :func:`archlab.dna.train.train_dna` (e.g. ``epochs``, ``max_time_s``).
    """
    from archlab.dna.cnn import CNNConfig
    from archlab.dna.linear import fit_gc, fit_kmer
    from archlab.dna.train import run_seeds

    if not seeds:
        raise ValueError("run_baselines needs at least one seed")
    say = on_step or (lambda _line: None)
    start = time.perf_counter()
    metric = dataset.metric
    say(f"{dataset.name}: GC-only baseline")
    gc = fit_gc(dataset)
    say(f"{dataset.name}: k-mer baseline (k = 1…6)")
    kmer = fit_kmer(dataset)
    say(f"{dataset.name}: one-hot CNN, seeds {', '.join(map(str, seeds))}")
    cnn_cfg = cnn if cnn is not None else CNNConfig()
    summary = run_seeds(dataset, cnn_cfg, seeds=list(seeds), device=device, **train_kw)
    runs = [{k: v for k, v in r.items() if k != "curve"} for r in summary["runs"]]
    return {
        "dataset": dataset.name,
        "metric": metric,
        "gc": _headline(gc, metric),
        "kmer": _headline(kmer, metric),
        "cnn_mean": summary["mean"],
        "cnn_sd": summary["sd"],
        "cnn_n": summary["n"],
        "cnn_values": summary["values"],
        "seeds": list(seeds),
        "wall_time_s": time.perf_counter() - start,
        "details": {"gc": gc, "kmer": kmer, "cnn": {"config": cnn_cfg.model_dump(), "runs": runs}},
        **_per_target(dataset, gc, kmer, summary, metric),
    }


def _per_target(
    dataset: DnaDataset, gc: dict[str, Any], kmer: dict[str, Any], summary: dict[str, Any], metric: str
) -> dict[str, Any]:
    """``{"targets", "per_target"}`` for a multi-target regression (each target's GC, k-mer and
    CNN mean ± sd over seeds; the headline numbers are their means), else nothing."""
    if not dataset.targets:
        return {}
    rows = []
    for j, name in enumerate(dataset.targets):
        cnn = summary["per_target"][j]
        rows.append(
            {
                "target": name,
                "gc": float(gc["per_target"][j][metric]),
                "kmer": float(kmer["per_target"][j][metric]),
                "cnn_mean": cnn["mean"],
                "cnn_sd": cnn["sd"],
                "cnn_n": cnn["n"],
            }
        )
    return {"targets": list(dataset.targets), "per_target": rows}


def _headline(result: dict[str, Any], metric: str) -> float:
    """The baseline's value of the dataset's headline metric (NaN when it has none)."""
    value = result.get(metric, result.get("score"))
    return float(value) if value is not None else float("nan")
