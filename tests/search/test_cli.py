"""``archlab study …`` through a local typer app (the lead registers study_app in archlab.cli)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from archlab.cli_study import study_app
from tests.search._util import dry_data

app = typer.Typer()
app.add_typer(study_app, name="study")
runner = CliRunner()


def _spec_file(tmp_path: Path, name: str, **over: object) -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(dry_data(name, **over)))
    return p


def test_cli_create_run_status_export_replay(tmp_path: Path) -> None:
    spec = _spec_file(tmp_path, "clidemo", budget={"n_trials": 4})
    url = f"journal:{tmp_path / 'cli.journal'}"
    r = runner.invoke(app, ["study", "create", str(spec), "--storage", url])
    assert r.exit_code == 0, r.output
    assert "clidemo" in r.output
    r = runner.invoke(app, ["study", "create", str(spec), "--storage", url])
    assert r.exit_code == 2 and "--if-exists load" in r.output
    r = runner.invoke(app, ["study", "create", str(spec), "--storage", url, "--if-exists", "load"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["study", "run", str(spec), "--storage", url, "--quiet"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["study", "status", "clidemo", "--storage", url, "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert {"n_complete", "n_fail", "n_pruned", "n_running", "n_waiting", "trials"} <= set(s)
    assert s["n_complete"] == 4 and len(s["trials"]) == 4
    r = runner.invoke(app, ["study", "status", "clidemo", "--storage", url])
    assert r.exit_code == 0 and "complete 4" in r.output
    out = tmp_path / "t.csv"
    r = runner.invoke(app, ["study", "export", "clidemo", "--storage", url, "--out", str(out)])
    assert r.exit_code == 0 and out.read_text().startswith("number,state,value_0")
    r = runner.invoke(app, ["study", "replay", "clidemo", "2", "--storage", url, "--json"])
    assert r.exit_code == 0, r.output
    rec = json.loads(r.output)
    assert rec["values"] == rec["stored_values"]
    r = runner.invoke(app, ["study", "repair", "clidemo", "--storage", url, "--older-than", "5"])
    assert r.exit_code == 0 and "failed 0" in r.output


def test_cli_bad_spec_is_one_line_naming_the_field(tmp_path: Path) -> None:
    spec = _spec_file(tmp_path, "bad", space={"widht": {"int": [8, 16]}})
    r = runner.invoke(app, ["study", "create", str(spec)])
    assert r.exit_code == 2
    assert "space.widht" in r.output and "Traceback" not in r.output


def test_cli_worker_needs_a_storage_and_unknown_study(tmp_path: Path) -> None:
    spec = _spec_file(tmp_path, "w")
    r = runner.invoke(app, ["study", "worker", str(spec), "--rank", "1"])
    assert r.exit_code == 2 and "--storage" in r.output
    url = f"journal:{tmp_path / 'none.journal'}"
    r = runner.invoke(app, ["study", "status", "nosuch", "--storage", url])
    assert r.exit_code == 2 and "unknown study" in r.output


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", "/tmp/x", "x" * 129, "a b"])
def test_study_names_on_the_command_line_cannot_leave_studies(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A study name names a file (studies/NAME.journal): it obeys the spec-name pattern."""
    work = tmp_path / "deep" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    for cmd in (["status", name], ["export", name, "--out", "t.csv"], ["repair", name]):
        res = runner.invoke(study_app, cmd)
        assert res.exit_code == 2, res.output
        assert "study name" in res.output and "Traceback" not in res.output
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []  # nothing written anywhere


def test_study_run_persists_by_default_and_says_what_happened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = _spec_file(tmp_path, "kept", budget={"n_trials": 3})
    r = runner.invoke(app, ["study", "run", str(spec)])  # one worker, no --storage
    assert r.exit_code == 0, r.output
    assert (tmp_path / "studies" / "kept.journal").is_file()
    # one plain line per trial without a terminal (CliRunner's output is not one), then the states
    assert sum("COMPLETE" in line and "trial" in line for line in r.output.splitlines()) == 3
    assert (
        "kept: 3 done (3 complete, 0 pruned), 0 failed, 0 running, 0 waiting; journal:studies/kept.journal"
        in r.output
    )
    r = runner.invoke(app, ["study", "run", str(spec), "--quiet"])  # resumed: the budget is done
    assert r.exit_code == 0 and "3 done" in r.output and "COMPLETE" not in r.output
    r = runner.invoke(app, ["study", "status", "kept"])  # found where run put it
    assert r.exit_code == 0 and "complete 3" in r.output
    mem = _spec_file(tmp_path, "gone", budget={"n_trials": 2})
    r = runner.invoke(app, ["study", "run", str(mem), "--storage", ":memory:", "--quiet"])
    assert r.exit_code == 0 and "in memory (not kept)" in r.output
    assert not (tmp_path / "studies" / "gone.journal").exists()


def test_study_run_exits_1_when_every_trial_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = _spec_file(
        tmp_path,
        "doomed",
        budget={"n_trials": 3},
        objective={"synthetic": {"nan_when": {"mixer": ["diag_rnn", "householder", "lstm"]}}},
    )
    r = runner.invoke(app, ["study", "run", str(spec), "--quiet"])
    assert r.exit_code == 1, r.output
    assert "0 done (0 complete, 0 pruned), 3 failed" in r.output
    assert "every trial of doomed failed" in r.output
