"""Agreement classes, result-record checks and the ``archlab theory`` commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from archlab.cli import app
from archlab.config import ModelConfig, TrainConfig
from archlab.probes import make_probe
from archlab.theory import Measurement, Prediction, agreement, check_records, classify, load_records
from archlab.train import train_run

runner = CliRunner()


def _pred(verdict: str, scope: str = "length-gen", length: int = 64) -> Prediction:
    return Prediction("parity", "m", length, verdict, "R1", "cite", "why", scope)


@pytest.mark.parametrize(
    ("verdict", "scope", "solved", "in_training", "expected"),
    [
        ("impossible", "length-gen", False, False, "agree-impossible"),
        ("impossible", "length-gen", True, False, "violation"),
        ("impossible", "length-gen", True, True, "in-training"),
        ("impossible", "length", True, True, "violation"),  # a capacity bound holds at every length
        ("expressible", "length-gen", True, False, "agree-solved"),
        ("expressible", "length-gen", False, False, "not-learned"),
        ("expressible", "length", False, True, "not-learned"),
        ("unknown", "none", True, False, "unknown"),
        # R7 (TC0 vs NC1) is asymptotic: a success at a finite length does not contradict it
        ("impossible", "asymptotic", True, False, "bound-not-reached"),
        ("impossible", "asymptotic", False, False, "agree-impossible"),
    ],
)
def test_classify(verdict: str, scope: str, solved: bool, in_training: bool, expected: str) -> None:
    assert classify(_pred(verdict, scope), solved, in_training) == expected


def test_agreement_threshold_and_violation_explanation() -> None:
    preds = [_pred("impossible", length=64), _pred("expressible", length=128)]
    meas = [
        Measurement("parity", "m", 64, [0.95, 0.91], train_max=40),
        Measurement("parity", "m", 128, [0.85, 0.88], train_max=40),
        Measurement("parity", "other", 64, [1.0], train_max=40),  # no prediction: not a cell
    ]
    rep = agreement(preds, meas, threshold=0.9)
    assert [c.cls for c in rep.cells] == ["violation", "not-learned"]
    assert rep.counts["violation"] == 1 and rep.counts["not-learned"] == 1
    text = rep.to_dict()["violations"][0]["explanation"]
    assert "R1" in text and "best 0.950" in text and "mean 0.930" in text and "probe" in text
    assert agreement(preds, meas, threshold=0.96).cells[0].cls == "agree-impossible"
    assert "best run" in rep.solved_means


def test_one_seed_that_solves_an_impossible_cell_is_a_violation() -> None:
    """Best-of-k: the mean (0.6) is far below the threshold, one seed (0.97) is above it."""
    meas = Measurement("parity", "m", 64, [0.3, 0.5, 0.97], train_max=40)
    rep = agreement([_pred("impossible")], [meas], threshold=0.9)
    cell = rep.cells[0]
    assert cell.cls == "violation" and cell.to_dict()["measured_best"] == 0.97
    assert cell.to_dict()["measured_mean"] == pytest.approx(0.59) and cell.to_dict()["n_seeds"] == 3


TINY: dict[str, Any] = {
    "steps": 150, "batch": 32, "lr": 1e-2, "eval_every": 50, "train_lengths": {"min": 1, "max": 10},
    "test_lengths": [8, 24], "val_batch": 32, "eval_batch": 64, "device": "cpu",
}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Parity with a unit and a signed diagonal RNN, two seeds each (a few seconds)."""
    root = tmp_path_factory.mktemp("runs")
    for eig in ("unit", "signed"):
        cfg = ModelConfig(mixer="diag_rnn", eig_range=eig, width=16, layers=1)
        for seed in (0, 1):
            train_run(
                make_probe("parity"), cfg, TrainConfig(**TINY, seed=seed), out_dir=root / f"{eig}-{seed}"
            )
    return root


def test_check_records_on_real_runs(runs: Path) -> None:
    records = load_records([runs])
    assert len(records) == 4
    rep = check_records(records)
    by = {(c.prediction.model, c.measurement.length): c for c in rep.cells}
    label = "diag_rnn(layers=1, width=16, eig_range={})"
    unit = by[(label.format("unit"), 24)]
    assert unit.prediction.rule == "R1" and unit.cls == "agree-impossible"
    assert len(unit.measurement.values) == 2  # the two seeds form one cell
    assert by[(label.format("unit"), 8)].cls == "in-training"
    signed = by[(label.format("signed"), 24)]
    assert signed.prediction.verdict == "expressible" and signed.cls in ("agree-solved", "not-learned")
    assert rep.counts["violation"] == 0


def test_cli_check(runs: Path) -> None:
    r = runner.invoke(app, ["theory", "check", str(runs), "--json"])
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["threshold"] == 0.9 and data["metric"] == "seq_acc"
    assert set(data["counts"]) >= {"agree-impossible", "agree-solved", "not-learned", "violation"}
    r = runner.invoke(app, ["theory", "check", str(runs), "--metric", "scaled_acc", "--threshold", "0.5"])
    assert r.exit_code == 0 and "counts:" in r.stdout
    r = runner.invoke(app, ["theory", "check", str(runs), "--metric", "f1"])
    assert r.exit_code == 2 and "seq_acc" in r.stderr


def test_cli_predict_single_pair_json() -> None:
    r = runner.invoke(
        app,
        ["theory", "predict", "--probe", "S5", "--model", "householder", "--set", "householder_factors=2",
         "--set", "eig_range=signed", "--set", "layers=1", "--lengths", "16,64", "--json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [x["length"] for x in rows] == [16, 64]
    for x in rows:
        assert {"probe", "model", "length", "verdict", "rule", "citation", "reason"} <= set(x)
        assert x["verdict"] == "impossible" and x["rule"] == "R5"


def test_cli_predict_suite_and_zoo(tmp_path: Path) -> None:
    r = runner.invoke(
        app,
        [
            "theory",
            "predict",
            "--probes",
            "probes/state_tracking.yaml",
            "--models",
            "search/zoo.yaml",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)
    assert {x["probe"] for x in rows} >= {"Z2", "A5", "S5"}
    assert all(x["conflict"] is None for x in rows)
    a5_lstm = [x for x in rows if x["probe"] == "A5" and x["name"] == "lstm"]
    assert a5_lstm and all(x["verdict"] == "expressible" for x in a5_lstm)
    r = runner.invoke(app, ["theory", "predict", "--probes", "parity,A5", "--models", "lstm,diag_rnn"])
    assert r.exit_code == 0 and "R9" in r.stdout
    # the table folds consecutive lengths with one verdict into a span; --json keeps each length
    r = runner.invoke(
        app, ["theory", "predict", "--probes", "A5", "--models", "lstm,conv", "--lengths", "4,8,16", "--json"]
    )
    assert len(json.loads(r.stdout)) == 6
    r = runner.invoke(
        app, ["theory", "predict", "--probes", "A5", "--models", "lstm,conv", "--lengths", "4,8,16"]
    )
    assert r.exit_code == 0 and r.stdout.count("4–16") == 2
    bad = tmp_path / "zoo.yaml"
    bad.write_text("models:\n  x: {mixer: lstm, eig_range: signed}\n")
    r = runner.invoke(app, ["theory", "predict", "--probes", "parity", "--models", str(bad)])
    assert r.exit_code == 2 and "models.x" in r.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["theory", "predict", "--probe", "parity"], "--model"),
        (["theory", "predict", "--probe", "parityy", "--model", "lstm"], "parity"),
        (["theory", "predict", "--probe", "parity", "--model", "lstmm"], "lstm"),
        (["theory", "predict", "--probe", "parity", "--model", "lstm", "--lengths", "a,b"], "--lengths"),
        (["theory", "predict", "--probe", "S8", "--model", "lstm"], "5040"),
        (["theory", "explain", "R99"], "R9"),
        (["theory", "check", "/nonexistent/dir"], "does not exist"),
    ],
)
def test_cli_bad_input(args: list[str], needle: str) -> None:
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.stdout
    assert needle in r.stderr


def test_cli_explain() -> None:
    r = runner.invoke(app, ["theory", "explain", "R7"])
    assert r.exit_code == 0 and "Merrill" in r.stdout and "assumptions" in r.stdout
    r = runner.invoke(app, ["theory", "explain", "all"])
    assert r.exit_code == 0 and "R18" in r.stdout
