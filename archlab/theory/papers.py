"""The published-cells table (:mod:`archlab.theory.published`) with the engine's verdicts
beside the published outcomes: what ``archlab theory papers`` prints and the tests check."""

from __future__ import annotations

from typing import Any

from archlab.config import ModelConfig
from archlab.probes import make_probe
from archlab.theory.agreement import classify
from archlab.theory.predict import Prediction, predict
from archlab.theory.published import PUBLISHED, Published

__all__ = ["papers_table", "published_class"]

#: agreement classes (:func:`~archlab.theory.agreement.classify`) under their names in the table
_PUBLISHED_NAMES = {
    "agree-impossible": "consistent",
    "agree-solved": "consistent",
    "violation": "contradicted",
}


def published_class(pred: Prediction, solved: bool) -> str:
    """The class of a published outcome against a verdict: ``consistent``, ``not-learned``,
    ``bound-not-reached`` (asymptotic impossibility, finite-length success), ``unknown``, or
    ``contradicted`` (impossible at this length or every length, yet solved)."""
    # a published outcome is measured beyond training: never the in-training class
    cls = classify(pred, solved, in_training=False)
    return _PUBLISHED_NAMES.get(cls, cls)


def _row(cell: Published) -> dict[str, Any]:
    probe = make_probe(cell.probe, **cell.params)
    cfg = ModelConfig(**cell.model)
    pred = predict(probe, cfg, [cell.length])[0]
    return {
        "paper": cell.paper,
        "source": cell.source,
        "architecture": cell.architecture,
        "task": cell.task,
        "setting": cell.setting,
        "value": cell.value,
        "outcome": cell.outcome,
        "probe": probe.spec(),
        "model": pred.model,
        "length": cell.length,
        "verdict": pred.verdict,
        "rule": pred.rule,
        "scope": pred.scope,
        "reason": pred.reason,
        "class": published_class(pred, cell.solved),
        "required": cell.required,
        "note": cell.note,
    }


def papers_table() -> list[dict[str, Any]]:
    """One row per published cell, in the table's order."""
    return [_row(cell) for cell in PUBLISHED]
