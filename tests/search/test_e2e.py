"""One small real study: tiny models trained on two short probes, end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

from optuna.trial import TrialState

from archlab.search import create_study, replay, run_study, status, trial_record
from tests.search._util import dry_spec


def test_real_study_two_trials(tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 'e2e.journal'}"
    spec = dry_spec(
        "e2e",
        objective={"kind": "train", "train_lengths": [2, 4], "test_lengths": [4, 6]},
        model={"width": 8, "mlp_ratio": 1.0},
        train={"steps": 20, "batch": 8, "eval_every": 10, "val_batch": 8, "eval_batch": 8, "warmup": 2},
        space={
            "mixer": {"choices": ["lstm", "diag_rnn"]},
            "eig_range": {"choices": ["signed"], "when": {"mixer": ["diag_rnn"]}},
            "householder_factors": None,
        },
        pruner={"name": "wilcoxon"},
        budget={"n_trials": 2},
    )
    study = run_study(spec, url)
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE]
    for t in trials:
        u = trial_record(t)
        assert t.value is not None and len(u["scores"]) == 2
        assert math.isclose(t.value, sum(u["scores"]) / 2)
        assert [p["probe"] for p in u["predictions"]] == ["parity", "Z3"]
        assert all(p["verdict"] in ("impossible", "expressible", "unknown") for p in u["predictions"])
        assert len(u["agreement"]) == 2
        assert u["provenance"]["device"] == "cpu" and u["wall_time_s"] > 0
    lstm = next(t for t in trials if t.params["mixer"] == "lstm")
    assert [p["verdict"] for p in trial_record(lstm)["predictions"]] == ["expressible", "expressible"]
    assert status("e2e", url)["n_complete"] == 2
    rec = replay("e2e", url, trials[0].number)  # training is seeded: the value is reproduced
    assert rec["values"][0] == trials[0].value

    # the study doubles as a theory test: `archlab theory check NAME --storage URL` reads it back
    from typer.testing import CliRunner

    from archlab.cli import app

    r = CliRunner().invoke(app, ["theory", "check", "e2e", "--storage", url, "--json", "--all"])
    assert r.exit_code == 0, r.stderr
    cells = json.loads(r.stdout)["cells"]
    assert {c["probe"] for c in cells} == {"parity", "Z3"} and {c["length"] for c in cells} == {4, 6}
    lstm_cells = [c for c in cells if c["model"].startswith("lstm")]
    assert lstm_cells and all(c["verdict"] == "expressible" for c in lstm_cells)
    r = CliRunner().invoke(app, ["theory", "check", "nosuchstudy", "--storage", url])
    assert r.exit_code == 2 and "nosuchstudy" in r.stderr


def test_median_pruner_reads_the_training_curves(tmp_path: Path) -> None:
    """median/Hyperband: validation accuracy at every training evaluation, at step
    probe_index·steps + training step; a trial that does not learn is pruned mid-training."""
    spec = dry_spec(
        "curves",
        objective={"kind": "train", "train_lengths": [2, 4], "test_lengths": [4, 6]},
        model={"width": 16, "mlp_ratio": 1.0},
        train={
            "steps": 40,
            "batch": 16,
            "eval_every": 10,
            "val_batch": 32,
            "eval_batch": 8,
            "early_stop": False,
        },
        space={
            "mixer": {"choices": ["lstm"]},
            "eig_range": None,
            "householder_factors": None,
            "lr": {"float": [1e-7, 3e-2], "log": True},
        },
        pruner={"name": "median", "args": {"n_startup_trials": 1, "n_warmup_steps": 0}},
        budget={"n_trials": 2},
    )
    url = f"journal:{tmp_path / 'curves.journal'}"
    study = create_study(spec, url)
    study.enqueue_trial({"mixer": "lstm", "lr": 3e-2})  # learns
    study.enqueue_trial({"mixer": "lstm", "lr": 1e-7})  # cannot move in 40 steps
    study = run_study(spec, url)
    good, bad = study.trials
    assert good.state == TrialState.COMPLETE
    assert sorted(good.intermediate_values) == [10, 20, 30, 40, 50, 60, 70, 80]
    assert bad.state == TrialState.PRUNED, bad.intermediate_values
    assert max(bad.intermediate_values) < 80
