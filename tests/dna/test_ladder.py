"""The DNA ladder: the calibration table covers every level, controls are judged as stated,
runs resume, ``dna calibrate`` / ``dna ladder`` print what they measured and fail loudly."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import archlab.dna.grammar  # noqa: F401  (registers the levels)
import archlab.dna.ladder as ladder_mod
from archlab.cli import app
from archlab.dna.grammar import get_level, list_levels
from archlab.dna.ladder import (
    ARCHITECTURES,
    CALIBRATION,
    SOLVED,
    Calibration,
    Control,
    LongTest,
    calibrate,
    ladder,
    ladder_markdown,
    long_test_sets,
    parse_levels,
)
from archlab.errors import ArchlabError

pytestmark = pytest.mark.usefixtures("one_torch_thread")
runner = CliRunner()

CALIBRATE_KEYS = {"level", "control", "architecture", "expected", "metric", "mean", "best", "seeds", "passed"}


def test_every_level_has_a_calibration_with_valid_knobs_and_controls() -> None:
    assert set(CALIBRATION) == {level.name for level in list_levels()}
    for name, cal in CALIBRATION.items():
        level = get_level(name)
        level.resolve(**cal.params)  # unknown or bad knobs raise
        assert cal.positive, f"{name} has no positive control"
        assert cal.negative, f"{name} has no negative control"
        for _, ctl in cal.controls():
            assert ctl.architecture in ARCHITECTURES, (name, ctl.architecture)
            assert ctl.why
        for t in cal.test_long:
            level.resolve(**{**cal.params, **t.params})
            assert t.length >= cal.length or t.params, f"{name}: {t.name} is not a larger scale"
        assert cal.max_time_s <= 600, "a calibrated run must fit in 10 minutes"


@pytest.mark.parametrize("name", sorted(CALIBRATION))
def test_calibrated_defaults_generate_clean_rows_at_every_scale(name: str) -> None:
    cal = CALIBRATION[name]
    level = get_level(name)
    split = level.sample(np.random.default_rng(0), 8, cal.length, **cal.params)
    assert split.codes.shape == (8, cal.length)
    small = replace(cal, test_long=tuple(replace(t, n=4) for t in cal.test_long))
    sets = long_test_sets(small)
    assert [s[0] for s in sets] == [t.name for t in cal.test_long]
    for (_, sp, meta), t in zip(sets, cal.test_long, strict=True):
        assert sp.codes.shape == (4, t.length) and meta["length"] == t.length
    again = long_test_sets(small)
    for (_, a, _), (_, b, _) in zip(sets, again, strict=True):
        np.testing.assert_array_equal(a.codes, b.codes)  # deterministic


def test_unknown_level_and_architecture_list_the_valid_names() -> None:
    with pytest.raises(ArchlabError, match="D0, D1"):
        parse_levels("D0,D9")
    assert parse_levels("all") == list(CALIBRATION)
    with pytest.raises(ArchlabError, match="lstm"):
        ladder_mod.get_architecture("mamba9")


def _tiny(level: str = "D0", **kw: Any) -> Calibration:
    """A calibration small enough for a unit test (its figures mean nothing)."""
    base = Calibration(
        level, 100, {}, positive=(Control("gc", "solves", "test: GC cannot solve D0"),),
        negative=(Control("gc", "fails", "test: GC sits at chance"),),
        test_long=(LongTest(f"{level}@200", 200, n=40),), n_train=120, n_valid=40, n_test=60, steps=6,
        eval_every=3, patience=6,
    )  # fmt: skip
    return replace(base, **kw)


def test_calibrate_judges_controls_as_stated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(CALIBRATION, "D0", _tiny())
    rows = calibrate(["D0"], seeds=(0, 1), out_dir=tmp_path)
    assert [r["control"] for r in rows] == ["positive", "negative"]
    pos, neg = rows
    assert set(pos) >= CALIBRATE_KEYS
    assert pos["expected"] == "solves" and not pos["passed"] and pos["mean"] < SOLVED
    assert neg["expected"] == "fails" and neg["passed"] and neg["best"] <= 0.6
    assert pos["seeds"] == [0]  # a linear fit is deterministic: one run
    assert "D0@200" in pos["test_long"]
    assert json.loads((tmp_path / "calibration.json").read_text())[0]["level"] == "D0"


def test_cli_calibrate_exits_1_with_the_figures(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(CALIBRATION, "D0", _tiny())
    res = runner.invoke(app, ["dna", "calibrate", "D0", "--seeds", "1", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 1
    rows = json.loads(res.stdout)
    assert all(set(r) >= CALIBRATE_KEYS for r in rows)
    assert [r["passed"] for r in rows] == [False, True]
    res = runner.invoke(app, ["dna", "calibrate", "D0", "--seeds", "1", "--out", str(tmp_path)])
    assert res.exit_code == 1 and "positive control failed" in res.output and "needed ≥ 0.9" in res.output
    # only the passing control: exit 0
    monkeypatch.setitem(CALIBRATION, "D0", _tiny(positive=()))
    res = runner.invoke(app, ["dna", "calibrate", "D0", "--seeds", "1", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["dna", "calibrate", "D9"])
    assert res.exit_code == 2 and "D0, D1" in res.output


def test_ladder_resumes_finished_runs_and_writes_the_table(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(CALIBRATION, "D0", _tiny())
    monkeypatch.setitem(CALIBRATION, "D2", _tiny("D2"))
    first = ladder(["D0", "D2"], ["cnn", "gc"], seeds=(0, 1), out_dir=tmp_path)
    assert len(first["cells"]) == 4 and set(first["winners"]) == {"D0", "D2"}  # values: [] (none solves)
    cnn = next(c for c in first["cells"] if c["architecture"] == "cnn" and c["level"] == "D0")
    assert cnn["n"] == 2 and len(cnn["values"]) == 2 and math.isfinite(cnn["mean"])
    assert cnn["test_long"]["D0@200"]["n"] == 2
    assert cnn["theory"]["verdict"] in ("expressible", "impossible", "unknown")

    import archlab.dna.train as T

    def boom(*a: Any, **k: Any) -> None:
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(T, "train_dna", boom)
    again = ladder(["D0", "D2"], ["cnn", "gc"], seeds=(0, 1), out_dir=tmp_path)
    assert [c["values"] for c in again["cells"]] == [c["values"] for c in first["cells"]]
    md = ladder_markdown(again)
    assert "| D0 (100 bp, auroc) |" in md and "Test-long" in md and "D2@200" in md
    # tiny runs solve nothing: no winners, said so; a winner is shown in bold
    assert all(w == [] for w in again["winners"].values()) and "none (no architecture solves it)" in md
    again["cells"][0]["winner"] = True
    assert ladder_markdown(again).count("**") == 2
    # a changed setting is a different run
    monkeypatch.setitem(CALIBRATION, "D0", _tiny(steps=7))
    with pytest.raises(AssertionError, match="trained again"):
        ladder(["D0"], ["cnn"], seeds=(0,), out_dir=tmp_path)


def test_cli_ladder_quick_runs_and_writes_markdown(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["dna", "ladder", "--levels", "D0", "--models", "cnn,kmer", "--seeds", "1", "--quick",
              "--workers", "1", "--out", str(tmp_path)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "not measurements" in res.output and (tmp_path / "ladder.md").is_file()
    data = json.loads((tmp_path / "ladder.json").read_text())
    assert data["quick"] is True and {c["architecture"] for c in data["cells"]} == {"cnn", "kmer"}
    res = runner.invoke(app, ["dna", "ladder", "--models", "cnn,nope", "--quick", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "unknown ladder architecture 'nope'" in res.output


def test_transfer_from_the_ladder_reuses_its_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tests.dna.test_cli_dna import _fasta_dir

    monkeypatch.setitem(CALIBRATION, "D0", _tiny())
    monkeypatch.setitem(CALIBRATION, "D2", _tiny("D2"))
    monkeypatch.setattr(ladder_mod, "REAL_BUDGET", {"steps": 4, "eval_every": 2, "patience": 4})
    real = str(_fasta_dir(tmp_path / "fa", n=60, length=60))
    archs = ["cnn", "conv", "lstm"]
    ladder(["D0"], archs, seeds=(0,), out_dir=tmp_path / "lad")
    res = ladder_mod.ladder_transfer(["D0", "D2"], [real], archs, seeds=(0, 1), out_dir=tmp_path / "lad")
    assert res["models"] == archs and res["synthetic"] == ["D0", "D2"] and len(res["real"]) == 1
    for row in res["correlations"]:
        assert {"spearman", "p", "p_method", "rho_ci", "refused", "n_models"} <= set(row)
        if row["refused"] is None:
            assert row["p_method"] == "exact" and row["n_models"] == 3
    assert all(res["scores"][a]["D0"]["n"] == 2 for a in archs)
    assert (tmp_path / "lad" / "transfer.json").is_file()
    assert len(list((tmp_path / "lad" / "runs" / "real").rglob("result.json"))) == 6


def test_a_knob_outside_its_range_names_the_field_and_the_range() -> None:
    res = runner.invoke(app, ["dna", "sample", "D5", "--length", "300", "-p", "distance=500"])
    assert res.exit_code == 2 and "D5.distance" in res.output and "distance ≤ length − block" in res.output
    res = runner.invoke(app, ["dna", "sample", "D2", "--length", "300", "-p", "gap=1"])
    assert res.exit_code == 2 and "D2.gap" in res.output and "gap ≥ 2" in res.output


@pytest.mark.parametrize("label", sorted(ARCHITECTURES))
def test_every_ladder_architecture_builds_runs_and_gets_a_theory_verdict(label: str) -> None:
    import torch

    from archlab.dna.train import build_dna_model

    arch = ARCHITECTURES[label]
    cell = ladder_mod._theory(CALIBRATION["D5"], arch)
    assert cell["verdict"] in ("expressible", "impossible", "unknown", "—")
    if not arch.trained:
        assert arch.spec in ("gc", "kmer")
        return
    assert not isinstance(arch.spec, str)
    net = build_dna_model(arch.spec, 2, torch.device("cpu"), seed=0).eval()
    codes = torch.from_numpy(np.random.default_rng(0).integers(0, 4, (2, 64))).long()
    out = net(codes)
    assert out.shape == (2, 2) and torch.isfinite(out).all()


def test_an_architecture_is_not_run_beyond_its_max_length(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(CALIBRATION, "D0", _tiny())
    monkeypatch.setitem(ARCHITECTURES, "pairmap", replace(ARCHITECTURES["pairmap"], max_length=80))
    res = ladder(["D0"], ["gc", "pairmap"], seeds=(0,), out_dir=tmp_path)
    cell = next(c for c in res["cells"] if c["architecture"] == "pairmap")
    assert cell["n"] == 0 and "up to 80 bp" in cell["skipped"] and cell["metric"] == "auroc"
    assert not (tmp_path / "runs" / "D0" / "pairmap").exists()
    assert "| – " in ladder_markdown(res) or "–" in ladder_markdown(res)


def test_reuse_only_builds_the_table_without_training(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(CALIBRATION, "D0", _tiny())
    first = ladder(["D0"], ["cnn"], seeds=(0,), out_dir=tmp_path)
    import archlab.dna.train as T

    def boom(*a: Any, **k: Any) -> None:
        raise AssertionError("reuse_only trained a run")

    monkeypatch.setattr(T, "train_dna", boom)
    res = ladder(["D0"], ["cnn", "lstm"], seeds=(0, 1), out_dir=tmp_path, reuse_only=True)
    cnn, lstm = res["cells"]
    assert cnn["values"] == first["cells"][0]["values"] and cnn["n"] == 1  # seed 1 was never run
    assert lstm["n"] == 0 and "not run" in lstm["skipped"] and res["reuse_only"] is True
    res = runner.invoke(
        app, ["dna", "ladder", "--levels", "D0", "--models", "cnn,lstm", "--seeds", "1", "--reuse-only",
              "--out", str(tmp_path)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "| D0 (100 bp, auroc) |" in res.output
