"""The reproduction matrix: its rows are valid, verdict logic is right, and a tiny run works end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import archlab.reproduce as rp
from archlab.cli import app
from archlab.config import ModelConfig
from archlab.probes import make_probe


def test_every_row_builds_and_shares_one_budget() -> None:
    ids = [r.id for r in rp.ROWS]
    assert len(ids) == len(set(ids))
    assert {"1", "2", "3-A5", "3-S5", "4", "5", "6", "7"} <= set(ids)
    for row in rp.ROWS:
        make_probe(row.probe, **row.probe_params)
        assert {c.expected for c in row.cases} <= {"solves", "fails"}
        assert any(c.expected == "solves" for c in row.cases), f"row {row.id} has no positive control"
        for case in row.cases:
            ModelConfig(**case.model)
        rp._case_train(row, quick=False, seed=0)
        for label in row.quick_cases:
            assert label in {c.label for c in row.cases}
    assert [r.id for r in rp.ROWS if r.in_quick] == ["1", "2", "3-A5", "3-S5"]


def _rec(values: dict[int, float], train: list[int]) -> dict[str, Any]:
    return {"range_eval": [{"length": n, "scaled_acc": v} for n, v in values.items()], "train_lengths": train}


def test_measured_value_uses_lengths_beyond_training() -> None:
    assert rp.measured_value(_rec({10: 1.0, 20: 0.5, 30: 0.3}, [1, 10]), 10) == pytest.approx(0.4)
    assert rp.measured_value(_rec({96: 0.7}, [96]), 96) == pytest.approx(0.7)  # MQAR: same length
    assert rp.measured_value({"range_eval": []}, 10) is None


def test_fails_is_inconclusive_without_a_success_in_the_row() -> None:
    row = rp.Row("x", "t", "s", "parity", cases=(), train={})
    pos, neg = rp.Case("a", {}, "solves"), rp.Case("b", {}, "fails")
    results = [rp._summary(row, pos, [0.2], ["done"], []), rp._summary(row, neg, [0.1], ["done"], [])]
    rp._mark_conclusive(results)
    assert [r["agrees"] for r in results] == [False, True]
    assert [r["verdict"] for r in results] == ["not-learned", "agree"]
    assert [r["conclusive"] for r in results] == [True, False]
    results = [
        rp._summary(row, pos, [0.95, 0.99], ["solved"] * 2, []),
        rp._summary(row, neg, [0.97], ["solved"], []),
    ]
    rp._mark_conclusive(results)
    assert results[0]["measured_sd"] == pytest.approx(0.0283, abs=1e-3)
    assert results[1]["agrees"] is False and results[1]["conclusive"] is True
    assert results[1]["verdict"] == "violation"


TINY_TRAIN: dict[str, Any] = {
    "steps": 150, "batch": 32, "lr": 1e-2, "eval_every": 50, "train_lengths": {"min": 1, "max": 8},
    "test_lengths": [12], "val_batch": 32, "eval_batch": 64, "device": "cpu",
}  # fmt: skip
SIGNED = {"mixer": "diag_rnn", "eig_range": "signed", "width": 16, "layers": 1}
UNIT = {**SIGNED, "eig_range": "unit"}

TINY = (
    rp.Row(
        id="t1",
        title="tiny parity",
        source="smoke test",
        probe="parity",
        train=TINY_TRAIN,
        in_quick=True,
        cases=(
            rp.Case("signed", SIGNED, "solves", "R2"),
            rp.Case("unit", UNIT, "fails", "R1"),
        ),
    ),
)


def test_reproduce_smoke_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(rp, "ROWS", TINY)
    r = CliRunner().invoke(app, ["reproduce", "--quick", "--seeds", "2", "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [x["case"] for x in rows] == ["signed", "unit"]
    for x in rows:
        assert {"row", "expected", "measured_mean", "measured_sd", "agrees"} <= set(x)
        assert x["n_seeds"] == 2 and len(x["run_dirs"]) == 2
    assert rows[1]["measured"] == "fails" and rows[1]["agrees"]
    on_disk = json.loads((tmp_path / "reproduce.json").read_text())
    assert [x["case"] for x in on_disk] == ["signed", "unit"]
    assert (tmp_path / "reproduce.csv").read_text().splitlines()[0].startswith("row,probe,case")


def count_cells(monkeypatch: pytest.MonkeyPatch) -> list[list[Any]]:
    """Every train_cell call of run_matrix from now on, as the list of its members' output folders."""
    cells: list[list[Any]] = []
    real = rp.train_cell

    def counting(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        cells.append(list(kwargs["out_dirs"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(rp, "train_cell", counting)
    return cells


def test_matrix_resumes_from_finished_runs_and_parallel_workers_agree(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cells = count_cells(monkeypatch)
    first = rp.run_matrix(TINY, [0, 1], quick=True, out_dir=tmp_path)
    assert sum(len(c) for c in cells) == 4
    # an interrupted run is redone; finished ones are reused
    victim = Path(first[0]["run_dirs"][1]) / "result.json"
    rec = json.loads(victim.read_text())
    victim.write_text(json.dumps({**rec, "status": "interrupted"}))
    cells.clear()
    again = rp.run_matrix(TINY, [0, 1], quick=True, out_dir=tmp_path)
    assert [str(d) for c in cells for d in c] == [first[0]["run_dirs"][1]]
    assert [r["measured_per_seed"] for r in again] == [r["measured_per_seed"] for r in first]
    # two worker processes, fresh: the same numbers (each run is seeded), in the same order
    par = rp.run_matrix(TINY, [0, 1], quick=True, out_dir=tmp_path / "par", workers=2)
    assert [r["case"] for r in par] == [r["case"] for r in first]
    for a, b in zip(par, first, strict=True):
        assert a["measured_per_seed"] == pytest.approx(b["measured_per_seed"], abs=1e-6)


def test_matrix_stacked_cells_give_the_separate_runs_numbers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    alone = rp.run_matrix(TINY, [0, 1], quick=True, out_dir=tmp_path / "alone", lrs=[1e-2, 3e-3])
    cells = count_cells(monkeypatch)
    stacked = rp.run_matrix(
        TINY, [0, 1], quick=True, out_dir=tmp_path / "stacked", lrs=[1e-2, 3e-3], stacked=True
    )
    assert [len(c) for c in cells] == [4, 4]  # one cell per case: 2 seeds × 2 lrs
    for a, b in zip(stacked, alone, strict=True):
        assert a["case"] == b["case"] and a["lrs"] == b["lrs"]
        got = [r["value"] for r in a["measured_per_run"]]
        want = [r["value"] for r in b["measured_per_run"]]
        assert got == pytest.approx(want, abs=0.02)
    # the stacked records resume like any other: nothing is trained again
    cells.clear()
    rp.run_matrix(TINY, [0, 1], quick=True, out_dir=tmp_path / "stacked", lrs=[1e-2, 3e-3], stacked=True)
    assert cells == []


def test_reproduce_unknown_row() -> None:
    r = CliRunner().invoke(app, ["reproduce", "--rows", "9"])
    assert r.exit_code == 2 and "unknown reproduction row '9'" in r.stderr


def test_lr_grid_runs_every_lr_and_classifies_by_the_best_run(tmp_path: Path) -> None:
    res = rp.run_matrix(TINY, [0], quick=True, out_dir=tmp_path, lrs=[1e-3, 1e-2])
    for row in res:
        assert row["lrs"] == [1e-3, 1e-2] and len(row["measured_per_run"]) == 2
        assert {r["lr"] for r in row["measured_per_run"]} == {1e-3, 1e-2}
        assert row["measured_best"] == max(r["value"] for r in row["measured_per_run"])
        assert row["measured"] == ("solves" if row["measured_best"] >= rp.SOLVED else "fails")
        assert "best of 2 run(s)" in row["aggregation"]
    assert len({d for row in res for d in row["run_dirs"]}) == 4  # one folder per (case, lr)


def test_reproduce_bad_lrs() -> None:
    r = CliRunner().invoke(app, ["reproduce", "--rows", "1", "--lrs", "fast"])
    assert r.exit_code == 2 and "--lrs" in r.stderr
