"""The command line: stable JSON outputs and one-line errors with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archlab.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_probe_list_json() -> None:
    code, out, _ = run("probe", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    names = {r["name"] for r in rows}
    assert {"parity", "word_problem", "dyck", "copy", "mqar", "S5", "A4xZ5"} <= names
    for r in rows:
        assert {"name", "family", "theory", "vocab_size", "params"} <= set(r)
        assert "level" in r["theory"]
    s5 = next(r for r in rows if r["name"] == "S5")
    assert s5["family"] == "group" and s5["theory"]["order"] == 120 and not s5["theory"]["solvable"]


def test_probe_list_table() -> None:
    code, out, _ = run("probe", "list")
    assert code == 0 and "parity" in out and "A4xZ5" in out


def test_probe_sample_json_group() -> None:
    code, out, _ = run("probe", "sample", "S5", "--length", "7", "--n", "2", "--seed", "3", "--json")
    assert code == 0
    d = json.loads(out)
    assert {"tokens", "targets", "mask", "vocab", "params"} <= set(d)
    assert len(d["tokens"]) == 2 and len(d["tokens"][0]) == 7
    assert d["vocab"]["0"] == "[0, 1, 2, 3, 4]" and len(d["vocab"]) == 120
    assert all(0 <= t < 120 for row in d["targets"] for t in row)
    # the group name and the generic form are the same probe
    code2, out2, _ = run(
        "probe",
        "sample",
        "word_problem",
        "--param",
        "group=S5",
        "--length",
        "7",
        "--n",
        "2",
        "--seed",
        "3",
        "--json",
    )
    d2 = json.loads(out2)
    assert code2 == 0 and d2["tokens"] == d["tokens"] and d2["targets"] == d["targets"]


def test_probe_sample_readable() -> None:
    code, out, _ = run("probe", "sample", "S3", "--length", "4", "--n", "1")
    assert code == 0 and "input" in out and "target" in out and "(" in out  # cycle notation
    code, out, _ = run("probe", "sample", "dyck", "--length", "10", "--n", "1")
    assert code == 0 and ("(" in out or ")" in out)


def test_probe_sample_params() -> None:
    code, out, _ = run("probe", "sample", "modular_sum", "-p", "m=7", "--length", "20", "--json")
    d = json.loads(out)
    assert code == 0 and d["params"]["m"] == 7 and len(d["vocab"]) == 7


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (("probe", "sample", "partiy"), "did you mean 'parity'"),
        (("probe", "sample", "X8"), "unknown probe 'X8'"),
        (
            ("probe", "sample", "modular_sum", "-p", "m=1"),
            "modular_sum.m: 1 is below the minimum (allowed: int in [2, 1024])",
        ),
        (("probe", "sample", "parity", "-p", "m=3"), "parity.m: unknown parameter"),
        (
            ("probe", "sample", "parity", "-p", "final_only"),
            "--param: 'final_only' is not of the form key=value",
        ),
        (("probe", "sample", "S9"), "too large to tabulate"),
        (("probe", "sample", "flip_flop", "--length", "1"), "length: 1 is below the minimum"),
        (("probe", "facts", "Z1"), "word_problem.group: Z1"),
        (("probe", "facts", "X8"), "not a group name"),
        (("probe", "suite", "nonexistent"), "unknown probe suite"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: tuple[str, ...], expect: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert expect in err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


def test_probe_facts() -> None:
    code, out, _ = run("probe", "facts", "A5", "--json")
    f = json.loads(out)
    assert code == 0 and f["order"] == 60 and f["solvable"] is False and f["perfect"] is True
    code, out, _ = run("probe", "facts", "a4xz5")
    assert code == 0 and "A4xZ5" in out and "derived_length" in out


def test_probe_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _ = run("probe", "suite", "state_tracking", "--json")
    d = json.loads(out)
    assert code == 0 and [p["probe"] for p in d["probes"]][-1] == "S5"
    code, out, _ = run("probe", "suite", "probes/chomsky.yaml")
    assert code == 0 and "reverse_string" in out


def test_demo_runs(tmp_path: Path, one_torch_thread: None) -> None:
    code, out, _ = run("demo", "--quick", "--out", str(tmp_path / "demo"))
    assert code == 0, out
    assert "A5" in out and "parity" in out
    assert "diag_rnn eig_range=signed" in out and "diag_rnn eig_range=unit" in out
    # the search, the DNA level and the report, all measured in this run
    assert "DNA D2: GC" in out and "what this run found" in out
    summary = tmp_path / "demo" / "summary.md"
    assert f"report: {summary}" in out.replace("\n", "")
    md = summary.read_text()
    assert "Study: 3 trials" in md and "## Theory vs measurement" in md and "## DNA" in md
    assert (tmp_path / "demo" / "summary.html").is_file()
    assert (tmp_path / "demo" / "plots" / "history.png").is_file()


def test_version_and_help() -> None:
    code, out, _ = run("--version")
    assert code == 0 and out.startswith("archlab ")
    code, out, _ = run("probe", "sample", "--help")
    assert code == 0 and "--length" in out


def test_model_list_json() -> None:
    code, out, _ = run("model", "list", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert {"diag_rnn", "householder", "dense_rnn", "lstm", "gru", "elman", "attention", "conv"} <= set(rows)
    diag = rows["diag_rnn"]
    assert diag["options"]["eig_range"] == {"allowed": ["unit", "signed", "complex"], "default": "unit"}
    assert diag["supports_fixed_point"] and diag["features"]["transition"] == "diagonal_real"
    assert rows["attention"]["features"]["state_floats"] is None
    assert not rows["lstm"]["supports_prune"]


def test_model_list_text() -> None:
    code, out, _ = run("model", "list")
    assert code == 0 and "householder" in out and "fixed-point" in out


def test_model_show_json_matches_built_model() -> None:
    from archlab.config import ModelConfig
    from archlab.models import build_model

    code, out, _ = run(
        "model", "show", "--set", "mixer=householder", "--set", "model.householder_factors=2",
        "--set", "eig_range=signed", "--set", "width=32", "--vocab", "9", "--outputs", "3", "--json",
    )  # fmt: skip
    assert code == 0
    shown = json.loads(out)
    assert shown["config"]["householder_factors"] == 2
    feats = shown["features"]
    assert (feats["transition"], feats["eig_range"], feats["householder_factors"]) == (
        "householder_product",
        "signed",
        2,
    )
    cfg = ModelConfig(mixer="householder", householder_factors=2, eig_range="signed", width=32)
    assert feats["params"] == sum(p.numel() for p in build_model(cfg, 9, 3, device="cpu").parameters())


def test_model_show_text_and_config_file(tmp_path: Path) -> None:
    spec = tmp_path / "m.yaml"
    spec.write_text("model:\n  mixer: diag_rnn\n  eig_range: complex\n  fp_iters: 4\n")
    code, out, _ = run("model", "show", "--config", str(spec), "--set", "layers=1")
    assert code == 0
    assert "parameters" in out and "diagonal_complex" in out and "FLOPs per token" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--set", "mixer=lstm", "--set", "householder_factors=2"], "householder_factors"),
        (["--set", "mixer=transformer"], "Valid:"),
        (["--set", "hier_levels=2", "--set", "hier_stride=1"], "hier_stride"),
        (["--set", "width"], "key=value"),
    ],
)
def test_model_show_bad_input(args: list[str], needle: str) -> None:
    code, _, err = run("model", "show", *args)
    assert code == 2 and needle in err and "Traceback" not in err


TINY_TRAIN = [
    "train", "--probe", "parity", "--model", "lstm", "--set", "model.width=8", "--set", "train.steps=3",
    "--set", "train.eval_batch=8", "--set", "train.test_lengths=[8]", "--json",
]  # fmt: skip


def test_train_refuses_a_bad_out_before_training(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    for out in (afile, afile / "sub"):
        res = runner.invoke(app, [*TINY_TRAIN, "--out", str(out)])
        assert res.exit_code == 2, res.output
        assert "--out" in res.output and "Traceback" not in res.output
        assert "steps" not in res.output  # refused before any training
    assert afile.read_text() == "keep me"


def test_train_reuses_finished_runs_and_fresh_retrains(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    first = runner.invoke(app, [*TINY_TRAIN, "--seeds", "0", "--out", str(out)])
    assert first.exit_code == 0, first.output
    (rec,) = json.loads(first.output)
    result = Path(rec["run_dir"]) / "result.json"
    stamp = result.stat().st_mtime_ns
    again = runner.invoke(app, [*TINY_TRAIN, "--seeds", "0,1", "--out", str(out)])
    assert again.exit_code == 0, again.output
    recs = json.loads(again.output)
    assert [r["seed"] for r in recs] == [0, 1] and recs[0]["wall_time_s"] == rec["wall_time_s"]
    assert result.stat().st_mtime_ns == stamp  # seed 0 reused, only seed 1 trained
    fresh = runner.invoke(app, [*TINY_TRAIN, "--seeds", "0", "--out", str(out), "--fresh"])
    assert fresh.exit_code == 0 and result.stat().st_mtime_ns != stamp
