"""Agreement: every measured (model, probe, length) cell set beside its prediction.

Classes (THEORY.md; the threshold and metric are parameters, stated in every report):

* ``agree-impossible`` — predicted impossible, measured not solved;
* ``agree-solved`` — predicted expressible, measured solved;
* ``not-learned`` — predicted expressible, not solved: training did not find it (reported
  separately, not a theory violation);
* ``violation`` — predicted impossible, measured solved: contradicts a theorem (or the probe
  leaks: a shortcut in the data); shown in red and explained;
* ``unknown`` — no verdict to check (empirical notes only, or no rule applies);
* ``in-training`` — a statement about all lengths (scope ``length-gen``) at a length inside the
  training range, where any finite table can be memorised: not evidence either way.

Measurements come from result records (``archlab train`` / ``archlab reproduce``): one cell per
(model config, probe, length), the metric averaged over seeds (mean ± sd and the seed count are
kept). ``solved`` means mean ≥ threshold.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archlab.config import ModelConfig
from archlab.probes import make_probe
from archlab.theory.facts import probe_facts
from archlab.theory.predict import Prediction, config_label, predict

__all__ = [
    "CLASSES",
    "METRICS",
    "AgreementReport",
    "Cell",
    "Measurement",
    "agreement",
    "check_records",
    "classify",
    "load_records",
    "measurements_from_records",
    "records_from_study",
]

CLASSES = ("agree-impossible", "agree-solved", "not-learned", "violation", "unknown", "in-training")
METRICS = ("seq_acc", "token_acc", "scaled_acc")
LEAK_HINT = (
    "a theorem says this cannot be solved at all lengths: suspect the probe first (a shortcut or "
    "leak in the data — inspect it with `archlab probe sample`), then the evaluation lengths, then "
    "the rule's assumptions (`archlab theory explain`)"
)


@dataclass
class Measurement:
    """One measured cell: a metric at one length, over seeds."""

    probe: str
    model: str
    length: int
    values: list[float]
    train_max: int
    seeds: list[int] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def sd(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0


@dataclass
class Cell:
    prediction: Prediction
    measurement: Measurement
    solved: bool
    cls: str

    def to_dict(self) -> dict[str, Any]:
        m = self.measurement
        return {
            **self.prediction.to_dict(),
            "measured_mean": m.mean,
            "measured_sd": m.sd,
            "n_seeds": len(m.values),
            "train_max": m.train_max,
            "solved": self.solved,
            "class": self.cls,
            "runs": m.runs,
            **({"explanation": explain_violation(self)} if self.cls == "violation" else {}),
        }


@dataclass
class AgreementReport:
    cells: list[Cell]
    threshold: float
    metric: str

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(cell.cls for cell in self.cells)
        return {k: c.get(k, 0) for k in CLASSES}

    @property
    def violations(self) -> list[Cell]:
        return [c for c in self.cells if c.cls == "violation"]

    @property
    def conflicts(self) -> list[Cell]:
        return [c for c in self.cells if c.prediction.conflict]

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "metric": self.metric,
            "solved_means": f"mean {self.metric} over seeds >= {self.threshold}",
            "counts": self.counts,
            "cells": [c.to_dict() for c in self.cells],
            "violations": [c.to_dict() for c in self.violations],
        }


def classify(pred: Prediction, solved: bool, in_training: bool) -> str:
    """The agreement class of one cell (see the module docstring)."""
    if pred.verdict == "unknown":
        return "unknown"
    if pred.scope == "length-gen" and in_training:
        return "in-training"
    if pred.verdict == "impossible":
        return "violation" if solved else "agree-impossible"
    return "agree-solved" if solved else "not-learned"


def explain_violation(cell: Cell) -> str:
    p, m = cell.prediction, cell.measurement
    return (
        f"{p.rule} ({p.citation}) says {p.model} cannot solve {p.probe}: {p.reason}. Measured "
        f"{m.mean:.3f} ± {m.sd:.3f} over {len(m.values)} seed(s) at length {m.length} "
        f"(trained up to {m.train_max}). Hint: {LEAK_HINT}."
    )


def agreement(
    predictions: Iterable[Prediction],
    measurements: Iterable[Measurement],
    threshold: float = 0.9,
    metric: str = "seq_acc",
) -> AgreementReport:
    """Pair predictions with measurements (of ``metric``) by (probe, model, length) and classify
    every pair."""
    by_key = {(p.probe, p.model, p.length): p for p in predictions}
    cells: list[Cell] = []
    for m in measurements:
        pred = by_key.get((m.probe, m.model, m.length))
        if pred is None:
            continue
        solved = m.mean >= threshold
        cells.append(Cell(pred, m, solved, classify(pred, solved, m.length <= m.train_max)))
    return AgreementReport(cells, threshold, metric)


def load_records(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Result records from files (``result.json``) and folders (every ``result.json`` below)."""
    from archlab.errors import ConfigError

    records: list[dict[str, Any]] = []
    for path in map(Path, paths):
        if not path.exists():
            raise ConfigError("RESULTS", f"{path} does not exist", "a result.json file or a folder of runs")
        files = [path] if path.is_file() else sorted(path.rglob("result.json"))
        for f in files:
            try:
                rec = json.loads(f.read_text())
            except (OSError, ValueError) as e:
                raise ConfigError(
                    "RESULTS", f"{f} is not a readable JSON result record ({e})", "result.json"
                ) from e
            if isinstance(rec, dict) and "range_eval" in rec and "model" in rec:
                rec.setdefault("_path", str(f.parent))
                records.append(rec)
    return records


def records_from_study(name: str, storage: str) -> list[dict[str, Any]]:
    """Result records rebuilt from a study's finished trials (the ``range_eval`` and ``config``
    user attrs every trial of ``archlab study`` stores), one per (trial, probe)."""
    import optuna

    from archlab.errors import ConfigError
    from archlab.search.objective import trial_record
    from archlab.search.runner import load_study

    try:
        study = load_study(name, storage)
    except KeyError as exc:
        raise ConfigError(
            "RESULTS", f"no study {name!r} in {storage}", "a study name in that storage"
        ) from exc
    records: list[dict[str, Any]] = []
    for t in study.get_trials(deepcopy=False):
        if t.state not in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
            continue
        rec = trial_record(t)
        config = rec.get("config")
        extra = {
            "provenance": rec.get("provenance"),
            "seed": (rec.get("seeds") or {}).get("train"),
            "trial": t.number,
        }
        for ev in rec.get("range_eval", []):
            if config:
                records.append({**ev, **extra, "model": config["model"], "_path": f"{name}#trial{t.number}"})
    return records


def measurements_from_records(
    records: Iterable[dict[str, Any]], metric: str = "seq_acc"
) -> list[Measurement]:
    """One :class:`Measurement` per (probe, model config, length), averaged over seeds."""
    if metric not in METRICS:
        from archlab.errors import UnknownNameError

        raise UnknownNameError("metric", metric, METRICS)
    cells: dict[tuple[str, str, int], Measurement] = {}
    grouped: defaultdict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        if rec.get("status") not in ("solved", "completed"):
            continue
        model = _model_label(rec["model"])
        for ev in rec.get("range_eval", []):
            grouped[(str(rec["probe"]), model, int(ev["length"]))].append({**ev, "_rec": rec})
    for (probe, model, length), evs in grouped.items():
        recs = [e["_rec"] for e in evs]
        cells[(probe, model, length)] = Measurement(
            probe, model, length, [float(e[metric]) for e in evs],
            max(max(r.get("train_lengths") or [0]) for r in recs),
            [int(r.get("seed", 0)) for r in recs], [str(r.get("_path", "")) for r in recs],
        )  # fmt: skip
    return list(cells.values())


def _model_label(model: dict[str, Any]) -> str:
    return config_label(ModelConfig(**{k: v for k, v in model.items() if k != "init_seed"}))


def check_records(
    records: list[dict[str, Any]], threshold: float = 0.9, metric: str = "seq_acc"
) -> AgreementReport:
    """Predict every measured cell of ``records`` and classify it."""
    measurements = measurements_from_records(records, metric)
    predictions: list[Prediction] = []
    seen: set[tuple[str, str]] = set()
    for rec in records:
        key = (str(rec["probe"]), _model_label(rec["model"]))
        if key in seen or rec.get("status") not in ("solved", "completed"):
            continue
        seen.add(key)
        probe = make_probe(rec["probe_name"], **rec.get("probe_params", {}))
        cfg = ModelConfig(**{k: v for k, v in rec["model"].items() if k != "init_seed"})
        lengths = sorted({m.length for m in measurements if (m.probe, m.model) == key})
        predictions += predict(probe, cfg, lengths, facts=probe_facts(probe))
    return agreement(predictions, measurements, threshold, metric)
