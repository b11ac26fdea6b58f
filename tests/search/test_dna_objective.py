"""Studies over DNA tasks (objective.kind: dna): spec validation and a tiny real run."""

from __future__ import annotations

import math
from typing import Any

import pytest

from archlab.errors import ConfigError
from archlab.search import parse_spec, replay, run_study, spec_hash, trial_record
from archlab.search.runner import theory_candidates


def _data(**objective: Any) -> dict[str, Any]:
    return {
        "name": "dna_tiny",
        "objective": {
            "kind": "dna",
            "dna": {
                "tasks": [{"level": "D0", "length": 120, "n_train": 300, "n_valid": 60, "n_test": 100}],
            },
            **objective,
        },
        "model": {"layers": 1, "width": 16, "head": "pooled", "causal": False},
        "train": {"steps": 40, "batch": 32, "eval_every": 20, "device": "cpu"},
        "space": {"mixer": {"choices": ["conv"]}, "pool": {"choices": ["max", "mean"]}},
        "sampler": {"name": "random", "seed": 0},
        "budget": {"n_trials": 2},
        "theory_seed": True,
    }


def test_a_dna_study_scores_each_task_on_validation_and_records_test(one_torch_thread: None) -> None:
    spec = parse_spec(_data())
    assert spec.is_dna and theory_candidates(spec) == []  # the rules speak about probes
    assert len(spec_hash(spec)) == 64
    study = run_study(spec)
    assert len(study.trials) == 2
    for t in study.trials:
        rec = trial_record(t)
        assert t.state.name == "COMPLETE", rec.get("fail_reason")
        (task,) = rec["dna"]
        assert task["task"] == "D0@120" and task["metric"] == "auroc" and task["selected_on"] == "valid"
        assert t.value == pytest.approx(task["valid"]["auroc"])  # selection on valid, never test
        assert 0.0 <= task["test"]["auroc"] <= 1.0 and "aupr" in task["test"]
        assert rec["config"]["model"]["head"] == "pooled"
        assert "predictions" not in rec
    again = replay("dna_tiny", study._storage, 0)
    assert again["values"] is not None and math.isfinite(again["values"][0])


def test_dna_tasks_are_checked_before_any_trial() -> None:
    bad = _data()
    bad["objective"]["dna"]["tasks"][0]["level"] = "D9"
    with pytest.raises(ConfigError, match=r"objective\.dna\.tasks\.0\.level.*D9.*D7"):
        parse_spec(bad)
    missing = _data()
    missing["objective"]["dna"]["tasks"] = [{"dataset": "/nonexistent/set.h5"}]
    with pytest.raises(ConfigError, match=r"objective\.dna\.tasks\.0\.dataset"):
        parse_spec(missing)
    with pytest.raises(ConfigError, match="needs a length"):
        parse_spec(_data(dna={"tasks": [{"level": "D0"}]}))
    with pytest.raises(ConfigError, match="not a suite or probes"):
        parse_spec(_data(suite="state_tracking"))
    plain = _data()
    plain["objective"]["kind"] = "train"
    with pytest.raises(ConfigError, match="dna.tasks needs kind: dna"):
        parse_spec(plain)
