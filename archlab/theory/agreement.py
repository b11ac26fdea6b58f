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
  training range, where any finite table can be memorised: not evidence either way;
* ``bound-not-reached`` — predicted impossible only *asymptotically* (scope ``asymptotic``: R7's
  TC0 vs NC1 says some large enough length defeats the model, not which) and measured solved at
  this length: consistent with the theorem, and reported, never counted as a violation.

Measurements come from result records (``archlab train`` / ``archlab reproduce``): one cell per
(model config, probe, length) over its runs — the seeds and, where a row has one, its
learning-rate grid. A cell is classified by its **best** run (``solved`` means best ≥
threshold), as the papers report (Grazzi et al.: best of 3 seeds; Delétang et al.: best over
seeds and learning rates): expressibility asks whether *some* training run finds a solution, and
one run that solves an "impossible" cell is a violation. The mean ± sd and n are kept beside it.

DNA runs (``result.json`` of :func:`archlab.dna.train.train_dna`, read with
``load_records(..., dna=True)``) are classified the same way. A record names its grammar level
(``level``: name, length, resolved parameters); the level at its length is one cell, and every
``test_long`` entry (another length and/or parameter overrides) is another. The metric is the
record's own (AUROC, or Pearson's r for D7), and a cell is solved when the **best** seed reaches
:data:`~archlab.theory.rules.DNA_SOLVED` (0.9; chance is AUROC 0.5 / r 0): one run that solves an
"impossible" cell is a violation (THEORY.md, Corrections: aggregation), and the mean ± sd is
kept beside it. Records without ``level`` (real data sets), linear baselines, and runs without a
test score are skipped, each with its reason (:attr:`AgreementReport.skipped`).
"""

from __future__ import annotations

import json
import logging
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archlab.config import ModelConfig
from archlab.errors import ArchlabError
from archlab.probes import make_probe
from archlab.theory.facts import probe_facts
from archlab.theory.predict import Prediction, config_label, predict
from archlab.theory.rules import DNA_SOLVED

log = logging.getLogger(__name__)

__all__ = [
    "CLASSES",
    "METRICS",
    "AgreementReport",
    "Cell",
    "Measurement",
    "agreement",
    "check_records",
    "classify",
    "dna_measurements",
    "is_dna_record",
    "load_records",
    "measurements_from_records",
]

CLASSES = (
    "agree-impossible",
    "agree-solved",
    "not-learned",
    "violation",
    "bound-not-reached",
    "unknown",
    "in-training",
)
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
    #: how the runs' values are compared with the threshold: ``best`` (the best run, as the
    #: papers report; the default) or ``mean``
    aggregate: str = "best"
    #: the metric the values are (None: the report's metric)
    metric: str | None = None

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def best(self) -> float:
        return max(self.values)

    @property
    def value(self) -> float:
        """The value compared with the threshold (the mean, or the best seed)."""
        return self.best if self.aggregate == "best" else self.mean

    def describe(self) -> str:
        """``0.931 ± 0.012 (n=3)``, or ``best 0.950 of 3 (mean 0.931 ± 0.012)``."""
        n = len(self.values)
        spread = f" ± {self.sd:.3f}" if n > 1 else ""  # one seed has no spread to show
        if self.aggregate == "best":
            return f"best {self.best:.3f} of {n} (mean {self.mean:.3f}{spread})"
        return f"{self.mean:.3f}{spread} (n={n})"

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
            "measured_best": m.best,
            "measured_value": m.value,
            "aggregate": m.aggregate,
            "metric": m.metric,
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
    #: the threshold DNA cells were classified with (best seed ≥ it), when there were any
    dna_threshold: float | None = None
    #: records left out, each ``{"run", "reason"}``
    skipped: list[dict[str, str]] = field(default_factory=list)

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
            "solved_means": self.solved_means,
            "dna_threshold": self.dna_threshold,
            "counts": self.counts,
            "cells": [c.to_dict() for c in self.cells],
            "violations": [c.to_dict() for c in self.violations],
            "skipped": list(self.skipped),
        }

    @property
    def solved_means(self) -> str:
        text = f"best run's {self.metric} (over seeds and learning rates) >= {self.threshold}"
        if self.dna_threshold is not None:
            text += f"; DNA cells: best seed's metric (AUROC / Pearson r) >= {self.dna_threshold}"
        return text


def classify(pred: Prediction, solved: bool, in_training: bool) -> str:
    """The agreement class of one cell (see the module docstring)."""
    if pred.verdict == "unknown":
        return "unknown"
    if pred.scope == "length-gen" and in_training:
        return "in-training"
    if pred.verdict == "impossible":
        if solved and pred.scope == "asymptotic":
            return "bound-not-reached"
        return "violation" if solved else "agree-impossible"
    return "agree-solved" if solved else "not-learned"


def explain_violation(cell: Cell) -> str:
    p, m = cell.prediction, cell.measurement
    spread = f" ± {m.sd:.3f}" if len(m.values) > 1 else " (1 seed)"
    measured = (
        f"best {m.best:.3f} (mean {m.mean:.3f}{spread})" if m.aggregate == "best" else f"{m.mean:.3f}{spread}"
    )
    what = f" {m.metric}" if m.metric else ""
    return (
        f"{p.rule} ({p.citation}) says {p.model} cannot solve {p.probe}: {p.reason}. Measured{what} "
        f"{measured} over {len(m.values)} seed(s) at length {m.length} "
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
        solved = m.value >= threshold
        cells.append(Cell(pred, m, solved, classify(pred, solved, m.length <= m.train_max)))
    return AgreementReport(cells, threshold, metric)


def record_problem(rec: dict[str, Any]) -> str | None:
    """Why a probe run record cannot be used (a field missing or of the wrong kind, a model config
    archlab cannot build), or None."""
    from pydantic import ValidationError

    for key, kind in (("probe", str), ("model", dict), ("range_eval", list)):
        if not isinstance(rec.get(key), kind):
            return f"field {key!r} is missing or not a {kind.__name__}"
    for i, ev in enumerate(rec["range_eval"]):
        if not isinstance(ev, dict) or not isinstance(ev.get("length"), int):
            return f"range_eval[{i}] has no integer 'length'"
    try:
        ModelConfig.model_validate(rec["model"])
    except (ValidationError, ArchlabError, KeyError, ValueError) as exc:
        first = str(exc).strip().splitlines()
        return f"its model config is not valid ({first[-1] if first else exc})"
    return None


def load_records(paths: Iterable[str | Path], dna: bool = False) -> list[dict[str, Any]]:
    """Result records from files (``result.json``) and folders (every ``result.json`` below).

    Probe runs always; with ``dna`` also DNA runs (:func:`is_dna_record`), which
    :func:`check_records` classifies (off by default: readers that expect probe records only,
    such as the report's run table, are not handed DNA ones). In a folder, a record that is
    not JSON or not usable (:func:`record_problem`) is skipped with a one-line warning naming
    the file; a file named directly is an error."""
    from archlab.errors import ConfigError

    records: list[dict[str, Any]] = []
    for path in map(Path, paths):
        if not path.exists():
            raise ConfigError("RESULTS", f"{path} does not exist", "a result.json file or a folder of runs")
        files = [path] if path.is_file() else sorted(path.rglob("result.json"))
        for f in files:
            try:
                rec = json.loads(f.read_text(encoding="utf-8"))
                problem = None
            except (OSError, ValueError) as e:
                rec, problem = None, f"not a readable JSON result record ({e})"
            if isinstance(rec, dict) and ("range_eval" in rec or "probe" in rec) and not is_dna_record(rec):
                problem = record_problem(rec)
            if problem is not None:
                if path.is_file():
                    raise ConfigError("RESULTS", f"{f}: {problem}", "a result.json of archlab train")
                log.warning("skipped %s: %s", f, problem)
                continue
            if isinstance(rec, dict) and (
                ("range_eval" in rec and "model" in rec) or (dna and is_dna_record(rec))
            ):
                rec.setdefault("_path", str(f.parent))
                records.append(rec)
    return records


def measurements_from_records(
    records: Iterable[dict[str, Any]], metric: str = "seq_acc"
) -> list[Measurement]:
    """One :class:`Measurement` per (probe, model config, length) over its runs (seeds and
    learning rates), classified by the best run."""
    if metric not in METRICS:
        from archlab.errors import UnknownNameError

        raise UnknownNameError("metric", metric, METRICS)
    cells: dict[tuple[str, str, int], Measurement] = {}
    grouped: defaultdict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    records = list(records)
    for rec in records:
        if is_dna_record(rec) or rec.get("status") not in ("solved", "completed"):
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
    return [*cells.values(), *dna_measurements(records)[0]]


def _model_label(model: dict[str, Any]) -> str:
    return config_label(ModelConfig(**{k: v for k, v in model.items() if k != "init_seed"}))


def check_records(
    records: list[dict[str, Any]],
    threshold: float = 0.9,
    metric: str = "seq_acc",
    dna_threshold: float = DNA_SOLVED,
) -> AgreementReport:
    """Predict every measured cell of ``records`` and classify it: probe runs against
    ``threshold`` (mean of ``metric`` over seeds), DNA runs against ``dna_threshold`` (best seed,
    each record's own metric)."""
    dna_recs = [r for r in records if is_dna_record(r)]
    records = [r for r in records if not is_dna_record(r)]
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
    report = agreement(predictions, measurements, threshold, metric)
    if not dna_recs:
        return report
    dna_meas, skipped, tasks = dna_measurements(dna_recs)
    dna_preds: list[Prediction] = []
    for (probe_label, model_label), (level, params, spec) in tasks.items():
        lengths = sorted({m.length for m in dna_meas if (m.probe, m.model) == (probe_label, model_label)})
        dna_preds += _predict_dna(level, params, spec, model_label, lengths)
    dna_report = agreement(dna_preds, dna_meas, dna_threshold, metric)
    dna_metrics = sorted({m.metric for m in dna_meas if m.metric})
    return AgreementReport(
        [*report.cells, *dna_report.cells],
        threshold,
        metric if records else "/".join(dna_metrics) or metric,
        dna_threshold,
        skipped,
    )


# -- DNA runs -----------------------------------------------------------------------------------

#: DNA run statuses that were scored (a timeout is scored with its best weights)
DNA_SCORED = ("ok", "timeout")


def is_dna_record(rec: dict[str, Any]) -> bool:
    """A result record of :func:`archlab.dna.train.train_dna` (or a baseline in that format):
    a ``model`` with a ``kind`` and a ``test`` score dict, no probe ``range_eval``."""
    model = rec.get("model")
    return (
        isinstance(model, dict)
        and "kind" in model
        and isinstance(rec.get("test"), dict)
        and "range_eval" not in rec
    )


def _dna_spec(rec: dict[str, Any]) -> Any:
    """The record's model as the theory engine takes it: a DNA network's config (the CNN, the
    pair map) or a ModelConfig (the evaluation's strand handling folded into ``rc``, which the
    rules read)."""
    from archlab.dna.nets import DNA_NETS

    model = rec["model"]
    kind, config = model.get("kind"), dict(model.get("config") or {})
    if isinstance(kind, str) and kind in DNA_NETS:
        return DNA_NETS.get(kind).config(**config)
    if kind == "sequence_model":
        cfg = ModelConfig(**{k: v for k, v in config.items() if k != "init_seed"})
        train = rec.get("train") or {}
        if train.get("rc_average") and cfg.rc not in ("both", "siamese"):
            cfg = cfg.model_copy(update={"rc": "both"})
        elif train.get("rc_average") is False and cfg.rc == "both":
            cfg = cfg.model_copy(update={"rc": "augment"})
        return cfg
    raise ValueError(f"model kind {kind!r} has no theory features (a linear baseline)")


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def dna_measurements(
    records: Iterable[dict[str, Any]],
) -> tuple[list[Measurement], list[dict[str, str]], dict[tuple[str, str], tuple[str, dict[str, Any], Any]]]:
    """DNA records → (one :class:`Measurement` per (level with parameters, model, length) over
    seeds, aggregated by the best seed; the skipped records with their reasons; the task behind
    every (probe label, model label): ``(level name, parameters, model spec)``)."""
    from archlab.theory.dna import dna_model_label, level_label

    grouped: defaultdict[tuple[str, str, int], list[tuple[float, str, dict[str, Any]]]] = defaultdict(list)
    skipped: list[dict[str, str]] = []
    tasks: dict[tuple[str, str], tuple[str, dict[str, Any], Any]] = {}
    for rec in records:
        if not is_dna_record(rec):
            continue
        run = str(rec.get("_path", rec.get("dataset", "")))
        reason = _dna_skip_reason(rec)
        if reason is not None:
            skipped.append({"run": run, "reason": reason})
            continue
        name = str(rec["level"]["name"])
        try:
            spec = _dna_spec(rec)
            model = dna_model_label(spec)
            cells = [
                (level_label(name, p), p, n, float(v), m) for p, n, v, m in _dna_entries(rec) if _finite(v)
            ]
        except (ArchlabError, ValueError, TypeError, KeyError) as exc:
            skipped.append({"run": run, "reason": f"cannot read the level or model: {exc}"})
            continue
        if not cells:
            skipped.append({"run": run, "reason": "no finite test score"})
            continue
        for label, p, n, v, m in cells:
            tasks.setdefault((label, model), (name, p, spec))
            grouped[(label, model, n)].append((v, m, rec))
    out: list[Measurement] = []
    for (label, model, n), rows in grouped.items():
        recs = [r for _, _, r in rows]
        trained = max(int(r["level"]["length"]) for r in recs)
        seeds = [int(r.get("seed", 0)) for r in recs]
        runs = [str(r.get("_path", "")) for r in recs]
        values = [v for v, _, _ in rows]
        out.append(Measurement(label, model, n, values, trained, seeds, runs, "best", rows[0][1]))
    return out, skipped, tasks


def _dna_entries(rec: dict[str, Any]) -> list[tuple[dict[str, Any], int, Any, str]]:
    """``(level parameters, length, value, metric)`` of the record's test score and of every
    ``test_long`` entry (its parameters override the level's)."""
    level = rec["level"]
    params, length, metric = dict(level.get("params") or {}), int(level["length"]), str(rec.get("metric"))
    out = [(params, length, (rec.get("test") or {}).get(metric), metric)]
    for e in rec.get("test_long") or []:
        merged = {**params, **dict(e.get("params") or {})}
        out.append((merged, int(e.get("length") or length), e.get("value"), str(e.get("metric") or metric)))
    return out


def _dna_skip_reason(rec: dict[str, Any]) -> str | None:
    level = rec.get("level")
    if not isinstance(level, dict) or not level.get("name") or level.get("length") is None:
        return f"no grammar `level` ({rec.get('dataset', 'a real data set')}): no facts to predict from"
    from archlab.dna.nets import DNA_NETS

    kind = rec["model"].get("kind")
    if kind != "sequence_model" and not (isinstance(kind, str) and kind in DNA_NETS):
        return f"model kind {rec['model'].get('kind')!r}: a linear baseline, no theory features"
    if rec.get("status") not in DNA_SCORED:
        return f"status {rec.get('status')!r}: the run was not scored"
    return None


def _predict_dna(
    level: str, params: dict[str, Any], spec: Any, label: str, lengths: list[int]
) -> list[Prediction]:
    from archlab.theory.dna import predict_level

    return predict_level(level, spec, lengths, label=label, **params)
