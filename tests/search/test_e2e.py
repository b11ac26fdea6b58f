"""One small real study: tiny models trained on two short probes, end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
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


def test_study_trains_several_seeds_per_probe_stacked_or_not(tmp_path: Path) -> None:
    """objective.seeds: every probe trained for seeds train.seed, +1; the score is their mean (or
    best); each seed's evaluation is kept and read back by theory check as one run."""
    import statistics

    values = {}
    for stacked, aggregate in ((False, "mean"), (True, "mean"), (True, "best")):
        name = f"seeds-{stacked}-{aggregate}"
        url = f"journal:{tmp_path / (name + '.journal')}"
        spec = dry_spec(
            name,
            objective={"kind": "train", "train_lengths": [2, 4], "test_lengths": [4, 6], "seeds": 2,
                       "stacked": stacked, "seed_aggregate": aggregate},
            model={"width": 8, "mlp_ratio": 1.0},
            train={"steps": 12, "batch": 8, "eval_every": 6, "val_batch": 8, "eval_batch": 16, "warmup": 2,
                   "seed": 5, "lr": 1e-2},
            space={"mixer": {"choices": ["diag_rnn"]}, "eig_range": {"choices": ["signed"], "when": None},
                   "householder_factors": None, "lr": None},
            budget={"n_trials": 1},
        )  # fmt: skip
        (trial,) = run_study(spec, url).trials
        assert trial.state == TrialState.COMPLETE
        u = trial_record(trial)
        assert [(e["probe"], e["seed"]) for e in u["range_eval"]] == [
            ("parity", 5), ("parity", 6), ("Z3", 5), ("Z3", 6)
        ]  # fmt: skip
        per_seed = [statistics.fmean(r["scaled_acc"] for r in e["range_eval"]) for e in u["range_eval"]]
        pick = max if aggregate == "best" else statistics.fmean
        assert u["scores"] == [pick(per_seed[:2]), pick(per_seed[2:])]
        values[(stacked, aggregate)] = trial.value
        from typer.testing import CliRunner

        from archlab.cli import app

        r = CliRunner().invoke(app, ["theory", "check", name, "--storage", url, "--json", "--all"])
        assert r.exit_code == 0, r.stderr
        cells = json.loads(r.stdout)["cells"]
        assert cells and all(c["n_seeds"] == 2 for c in cells), cells[0]
    assert values[(True, "mean")] == pytest.approx(values[(False, "mean")], abs=0.02)
    assert values[(True, "best")] >= values[(True, "mean")]
