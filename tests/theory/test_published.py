"""The published cells (archlab.theory.published) against the engine: never contradicted."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from typer.testing import CliRunner

from archlab.cli import app
from archlab.config import ModelConfig
from archlab.probes import make_probe
from archlab.theory import predict
from archlab.theory.papers import published_class
from archlab.theory.published import PUBLISHED, Published

CLASSES = ("consistent", "not-learned", "bound-not-reached", "unknown")


def test_there_are_at_least_forty_rows_from_four_papers() -> None:
    assert len(PUBLISHED) >= 40
    assert len({row.paper for row in PUBLISHED}) >= 4
    for row in PUBLISHED:
        assert row.source and row.outcome in ("solved", "not solved", "partial")
        assert row.required in CLASSES
        assert row.required != "unknown" or row.why  # an unknown cell says why


@pytest.mark.parametrize(
    "row", PUBLISHED, ids=[f"{r.paper[:12]}-{r.architecture}-{r.task}" for r in PUBLISHED]
)
def test_published_cell(row: Published) -> None:
    pred = predict(make_probe(row.probe, **row.params), ModelConfig(**row.model), [row.length])[0]
    cls = published_class(pred, row.solved)
    assert cls != "contradicted", (pred.rule, pred.reason)
    assert cls == row.required, (pred.rule, pred.reason)


def test_classes_of_the_table() -> None:
    """The corrections the rows pin: no cell is contradicted, and each class occurs."""
    counts = Counter(row.required for row in PUBLISHED)
    assert counts["consistent"] >= 30 and counts["unknown"] >= 1


def test_cli_papers_json() -> None:
    r = CliRunner().invoke(app, ["theory", "papers", "--json"])
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == len(PUBLISHED)
    assert {"paper", "architecture", "task", "outcome", "verdict", "rule", "class"} <= set(rows[0])
    assert all(row["class"] != "contradicted" for row in rows)
    r = CliRunner().invoke(app, ["theory", "papers"])
    assert r.exit_code == 0 and "Grazzi" in r.stdout
