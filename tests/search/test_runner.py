"""The runner on in-memory and journal storages, with the dry (synthetic) objective."""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from archlab.search import (
    create_study,
    export,
    load_study,
    repair,
    replay,
    run_study,
    run_worker,
    status,
    trial_record,
)
from archlab.search.objective import RECORD_KEY, _Heartbeat
from archlab.search.runner import StudyExistsError, _worker_main, retried_from, theory_candidates
from archlab.search.space import build_configs, enumerate_choices
from tests.search._util import dry_spec

STATUS_KEYS = {
    "n_complete",
    "n_fail",
    "n_pruned",
    "n_running",
    "n_waiting",
    "trials",
    "best",
    "running",
    "failures",
}


def test_conditional_params_only_when_their_condition_holds() -> None:
    spec = dry_spec("cond", budget={"n_trials": 30})
    study = run_study(spec)
    assert len(study.trials) == 30
    mixers = set()
    for t in study.trials:
        m = t.params["mixer"]
        mixers.add(m)
        assert ("householder_factors" in t.params) == (m == "householder")
        assert ("eig_range" in t.params) == (m in ("diag_rnn", "householder"))
        assert "lr" in t.params
        model = trial_record(t)["config"]["model"]
        assert model["mixer"] == m and model["layers"] == 1
    assert mixers == {"diag_rnn", "householder", "lstm"}


def test_in_memory_run_records_provenance_and_is_reproducible() -> None:
    a = run_study(dry_spec("mem", budget={"n_trials": 6}))
    b = run_study(dry_spec("mem", budget={"n_trials": 6}))
    assert [t.params for t in a.trials] == [t.params for t in b.trials]  # seeded, sequential
    t = a.trials[0]
    assert t.state == TrialState.COMPLETE
    for key in ("config", "seeds", "provenance", "wall_time_s", "scores", "worker_rank", "sampler_seed"):
        assert key in trial_record(t), key
    assert trial_record(t)["provenance"]["versions"]["optuna"] == optuna.__version__
    assert trial_record(t)["sampler_seed"] == 0 and trial_record(t)["worker_rank"] == 0
    assert len(trial_record(t)["scores"]) == 3


def test_nan_and_caught_errors_fail_with_a_reason_and_the_study_goes_on() -> None:
    spec = dry_spec(
        "fails",
        budget={"n_trials": 12},
        objective={"synthetic": {"nan_when": {"mixer": ["lstm"]}, "raise_when": {"eig_range": ["unit"]}}},
    )
    study = run_study(spec)
    states = {t.number: t.state for t in study.trials}
    n_done = sum(st == TrialState.COMPLETE for st in states.values())
    n_fail = sum(st == TrialState.FAIL for st in states.values())
    assert n_done + n_fail == len(study.trials)
    assert n_done == 12 or n_fail >= 12  # failures do not count toward the budget (see below)
    assert TrialState.COMPLETE in states.values()
    for t in study.trials:
        if t.params["mixer"] == "lstm":
            assert t.state == TrialState.FAIL and trial_record(t)["fail_reason"].startswith("diverged")
        elif t.params.get("eig_range") == "unit":
            assert t.state == TrialState.FAIL and "TrialFailedError" in trial_record(t)["fail_reason"]
        else:
            assert t.state == TrialState.COMPLETE and "fail_reason" not in trial_record(t)
    s = status("fails", study._storage)
    assert s["n_fail"] == sum(st == TrialState.FAIL for st in states.values())
    assert all(f["reason"] for f in s["failures"])


def test_failed_trials_do_not_count_toward_the_budget() -> None:
    # one mixer of three diverges: the study runs until 12 trials are done, in rounds
    spec = dry_spec(
        "budget",
        budget={"n_trials": 12},
        objective={"synthetic": {"nan_when": {"mixer": ["lstm"]}}},
    )
    study = run_study(spec)
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) == 12
    assert states.count(TrialState.FAIL) == sum(t.params["mixer"] == "lstm" for t in study.trials) > 0
    # the second round's worker has a seed of its own (it proposes new architectures)
    assert {trial_record(t)["sampler_seed"] for t in study.trials} == {0, 1}
    assert [t.number for t in study.trials] == list(range(len(states)))
    run_study(spec, storage=study._storage)  # done: a rerun adds nothing
    assert len(load_study("budget", study._storage).trials) == len(states)


def test_a_study_whose_trials_all_fail_stops_at_its_budget_of_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec = dry_spec(
        "hopeless",
        budget={"n_trials": 5},
        objective={"synthetic": {"nan_when": {"mixer": ["diag_rnn", "householder", "lstm"]}}},
    )
    with caplog.at_level("WARNING"):
        study = run_study(spec)
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 5
    assert any("5 trials failed, as many as its budget" in r.getMessage() for r in caplog.records)


def test_invalid_combination_fails_the_trial_not_the_study() -> None:
    # fixed-point iterations need a recurrent mixer: attention trials FAIL with the field's name
    spec = dry_spec(
        "invalid",
        model={"fp_iters": 2},
        space={"mixer": {"choices": ["attention", "lstm"]}, "eig_range": None, "householder_factors": None},
        budget={"n_trials": 8},
    )
    study = run_study(spec)
    att = [t for t in study.trials if t.params["mixer"] == "attention"]
    assert att and all(t.state == TrialState.FAIL for t in att)
    assert "fp_iters" in trial_record(att[0])["fail_reason"]
    assert any(t.state == TrialState.COMPLETE for t in study.trials)


def test_multi_objective_with_constraint() -> None:
    spec = dry_spec(
        "multi",
        objective={"second": "params", "constraint": {"max_params": 3000}},
        sampler={"name": "nsga2", "args": {"population_size": 4}},
        budget={"n_trials": 8},
    )
    study = run_study(spec)
    t = study.trials[0]
    assert len(t.values) == 2 and t.values[1] == trial_record(t)["second"]
    assert "max_params" in str(t.system_attrs)  # set_constraint stores it for the sampler
    s = status("multi", study._storage)
    assert s["best"] and all(len(b["values"]) == 2 for b in s["best"])


def test_wilcoxon_pruner_prunes_with_synthetic_steps() -> None:
    spec = dry_spec(
        "prune",
        pruner={"name": "wilcoxon", "args": {"p_threshold": 0.5, "n_startup_steps": 1}},
        objective={"synthetic": {"n_steps": 8}},
        budget={"n_trials": 20},
    )
    study = run_study(spec)
    assert len(study.trials) == 20
    assert {t.state for t in study.trials} <= {TrialState.COMPLETE, TrialState.PRUNED}


def test_create_twice_and_spec_mismatch(tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 's.journal'}"
    spec = dry_spec("twice")
    create_study(spec, url)
    with pytest.raises(StudyExistsError, match="--if-exists load"):
        create_study(spec, url)
    assert create_study(spec, url, if_exists="load").study_name == "twice"
    other = dry_spec("twice", sampler={"seed": 7})
    with pytest.raises(StudyExistsError, match="different spec"):
        create_study(other, url, if_exists="load")
    with pytest.raises(StudyExistsError, match="another spec"):
        run_worker(other, url, n_trials=1)


def test_resume_continues_numbers_and_keeps_finished_trials(tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 'r.journal'}"
    spec = dry_spec("resume", budget={"n_trials": 4})
    first = run_study(spec, url)
    done = {t.number: (t.params, t.datetime_complete) for t in first.trials}
    run_study(spec, url)  # budget reached: nothing to do
    assert len(load_study("resume", url).trials) == 4
    run_study(spec, url, n_trials=7)
    trials = load_study("resume", url).trials
    assert [t.number for t in trials] == list(range(7))
    for t in trials[:4]:
        assert (t.params, t.datetime_complete) == done[t.number]


def test_a_resumed_run_gets_new_sampler_seeds(tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 'seeds.journal'}"
    spec = dry_spec("seeds", budget={"n_trials": 3})
    run_study(spec, url)
    run_study(spec, url, n_trials=6)  # resumed: rank 1, not rank 0 again
    trials = load_study("seeds", url).trials
    assert [trial_record(t)["sampler_seed"] for t in trials] == [0, 0, 0, 1, 1, 1]
    first, resumed = [t.params for t in trials[:3]], [t.params for t in trials[3:]]
    assert first != resumed  # the random sampler does not replay the first run's proposals


def test_status_export_replay(tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 'x.journal'}"
    spec = dry_spec(
        "inspect", budget={"n_trials": 5}, objective={"synthetic": {"nan_when": {"mixer": ["lstm"]}}}
    )
    run_study(spec, url)
    s = status("inspect", url)
    assert set(s) == STATUS_KEYS
    assert s["n_complete"] == 5 and s["n_running"] == s["n_waiting"] == 0
    assert {tuple(sorted(r)) for r in s["trials"]} == {("number", "retried_from", "state", "value", "values")}
    out = tmp_path / "trials.csv"
    assert export("inspect", url, out) == 5
    rows = list(csv.DictReader(out.open()))
    assert [int(r["number"]) for r in rows] == list(range(5))
    assert "params_mixer" in rows[0] and rows[0]["state"] in ("COMPLETE", "FAIL")
    done = next(t for t in load_study("inspect", url).trials if t.state == TrialState.COMPLETE)
    rec = replay("inspect", url, done.number)
    assert rec["values"] == pytest.approx(list(done.values))
    assert rec["user_attrs"]["config"] == trial_record(done)["config"]


def test_theory_seeding_enqueues_only_expressible_architectures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    spec = dry_spec(
        "seeded",
        objective={"probes": None, "suite": "state_tracking", "train_lengths": None, "test_lengths": None},
        space={
            "mixer": {"choices": ["diag_rnn", "lstm", "householder", "attention"]},
            "eig_range": {"choices": ["unit", "signed"], "when": {"mixer": ["diag_rnn", "householder"]}},
            "householder_factors": None,
        },
        theory_seed=True,
        budget={"n_trials": 3},
    )
    seeds = theory_candidates(spec)
    assert {"mixer": "lstm"} in seeds
    assert {"mixer": "diag_rnn", "eig_range": "unit"} not in seeds
    assert all(p["mixer"] != "attention" for p in seeds)
    assert len(list(enumerate_choices(spec))) == 6  # 2 + 1 + 2 + 1
    study = create_study(spec)
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [t.system_attrs["fixed_params"] for t in waiting] == seeds
    run_worker(spec, study._storage, n_trials=len(seeds))
    assert study.trials[0].params["mixer"] == "lstm" and trial_record(study.trials[0])["theory_seed"]
    model_cfg, _ = build_configs(spec, seeds[0])
    assert model_cfg.mixer == "lstm"


@pytest.mark.slow  # 4 spawned processes (each imports torch): ~20–30 s on 2 busy cores
def test_journal_four_processes_exact_budget(tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 'j.journal'}"
    spec = dry_spec("journal4", budget={"n_trials": 40}, objective={"synthetic": {"sleep_s": 0.01}})
    run_study(spec, url, workers=4)
    trials = load_study("journal4", url).trials
    assert len(trials) == 40
    assert sorted(t.number for t in trials) == list(range(40))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert sorted({trial_record(t)["worker_rank"] for t in trials}) == [0, 1, 2, 3]
    assert {trial_record(t)["sampler_seed"] - trial_record(t)["worker_rank"] for t in trials} == {0}
    from archlab.search.objective import synthetic_scores

    for t in trials:  # value, params and user attrs of one trial agree
        scores = synthetic_scores(spec, t.params)
        assert trial_record(t)["scores"] == pytest.approx(scores)
        assert t.value == pytest.approx(sum(scores) / len(scores))
        assert trial_record(t)["config"]["model"]["mixer"] == t.params["mixer"]


def _wait_running(name: str, url: str, timeout: float = 60.0) -> None:
    start = time.time()
    while time.time() - start < timeout:
        try:
            if status(name, url)["n_running"]:
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise AssertionError("no trial started")


def test_journal_repair_fails_a_killed_workers_trial_and_retries_it(tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 'k.journal'}"
    spec = dry_spec(
        "killed",
        heartbeat={"interval_s": 1, "grace_s": 10},
        objective={"synthetic": {"sleep_s": 60, "sleep_trials": [0]}},
    )
    create_study(spec, url)
    proc = multiprocessing.get_context("spawn").Process(
        target=_worker_main, args=(spec, url, 0, 1, None, None, True)
    )
    proc.start()
    try:
        _wait_running("killed", url)
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.join(10)
    assert repair("killed", url, older_than_s=30) == []  # still fresh
    time.sleep(1.5)
    assert repair("killed", url, older_than_s=1.0) == [0]
    s = status("killed", url)
    assert s["n_running"] == 0 and s["n_fail"] == 1 and s["n_waiting"] == 1
    assert s["failures"][0]["reason"].startswith("stale")
    run_worker(spec, url, n_trials=2)
    s = status("killed", url)
    assert s["n_running"] == s["n_waiting"] == 0
    retry = next(t for t in s["trials"] if t["retried_from"] == 0)
    assert retry["state"] == "COMPLETE"
    assert retried_from(load_study("killed", url).trials[0]) is None


def test_the_record_is_one_json_user_attr_with_the_provenance_spliced_in() -> None:
    study = run_study(dry_spec("rec", budget={"n_trials": 2}))
    t = study.trials[0]
    # the record (one JSON string), and each score as an attr of its own for optuna-dashboard
    assert set(t.user_attrs) == {RECORD_KEY, "score: step 0", "score: step 1", "score: step 2"}
    assert [t.user_attrs[f"score: step {i}"] for i in range(3)] == trial_record(t)["scores"]
    raw = t.user_attrs[RECORD_KEY]
    assert isinstance(raw, str)
    rec = json.loads(raw)  # valid JSON as stored, provenance included
    assert rec == trial_record(t)
    assert rec["provenance"]["versions"]["optuna"] == optuna.__version__
    assert rec["config"]["model"]["mixer"] == t.params["mixer"]


def test_the_budget_caps_a_worker_without_n_trials_and_n_trials_is_exact() -> None:
    spec = dry_spec("cap", budget={"n_trials": 5})
    storage = optuna.storages.InMemoryStorage()
    create_study(spec, storage)
    assert run_worker(spec, storage) == 5  # until the budget
    assert run_worker(spec, storage) == 0  # already there
    assert run_worker(spec, storage, n_trials=3) == 3  # exact, the budget is not consulted
    assert len(load_study("cap", storage).trials) == 8


def test_the_heartbeat_beats_only_while_a_trial_runs() -> None:
    study = optuna.create_study()
    trial = study.ask()
    beat = _Heartbeat(0.05, rank=3)
    beat.begin(trial)
    time.sleep(0.3)
    beat.end()
    attrs = study.trials[0].user_attrs
    assert attrs["worker_rank"] == 3
    last = attrs["heartbeat_at"]
    assert time.time() - last < 0.3
    time.sleep(0.2)  # ended: no more beats
    assert study.trials[0].user_attrs["heartbeat_at"] == last
    short = study.ask()
    beat.begin(short)  # shorter than one interval: nothing written
    beat.end()
    assert "heartbeat_at" not in study.trials[1].user_attrs
    beat.close()
    assert beat._thread is None


def test_run_worker_counts_its_own_trials_not_the_study_total() -> None:
    spec = dry_spec("own", budget={"n_trials": 50})
    storage = optuna.storages.InMemoryStorage()
    create_study(spec, storage)
    assert run_worker(spec, storage, n_trials=2) == 2
    other = load_study("own", storage)  # another process adding trials meanwhile is not counted
    other.enqueue_trial(other.trials[0].params)
    assert run_worker(spec, storage, n_trials=1) == 1


def test_a_worker_whose_trial_is_failed_under_it_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Under CPU starvation the RDB heartbeat may fail a live trial as stale; its worker must not
    crash when it then reports the result (Optuna: "Cannot tell a FAIL trial")."""
    import archlab.search.runner as runner_mod

    real = runner_mod.Objective
    calls = [0]

    class Starved(real):  # type: ignore[misc, valid-type]
        def __call__(self, trial: optuna.Trial) -> object:
            value = super().__call__(trial)
            calls[0] += 1
            if calls[0] == 2:  # as if another process failed it while it ran
                trial.study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            return value

    monkeypatch.setattr(runner_mod, "Objective", Starved)
    spec = dry_spec("starved", budget={"n_trials": 50})
    storage = optuna.storages.InMemoryStorage()
    create_study(spec, storage)
    with caplog.at_level("WARNING"):
        assert run_worker(spec, storage, n_trials=4) == 4
    states = [t.state for t in load_study("starved", storage).trials]
    assert states.count(TrialState.FAIL) == 1 and states.count(TrialState.COMPLETE) == 3
    assert any("failed under it" in r.getMessage() for r in caplog.records)


def test_each_failed_trial_names_its_direct_retry() -> None:
    """A retry of a retry: the first failure names the first retry, the failed retry the second
    (Optuna's retried_trial_number points both at the original, which would hide the middle)."""
    import warnings

    from optuna.storages import RetryHeartbeatStaleTrialCallback

    spec = dry_spec("chain")
    storage = optuna.storages.InMemoryStorage()
    create_study(spec, storage)
    study = optuna.load_study(study_name="chain", storage=storage)
    for _ in range(2):
        trial = study.ask()
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            RetryHeartbeatStaleTrialCallback(max_retry=3)(study, study.trials[trial.number])
    s = status("chain", storage)
    by = {f["number"]: f["retried_by"] for f in s["failures"]}
    assert by == {0: [1], 1: [2]}
    assert [t["retried_from"] for t in s["trials"]] == [None, 0, 0]  # the original, as before


@pytest.mark.slow  # 3 spawned processes (each imports torch)
def test_soft_cap_overshoot_is_at_most_workers_minus_one(tmp_path: Path) -> None:
    # standalone workers (no --n-trials) share the budget's soft cap on a journal file; failed
    # trials do not count, so the study still ends with its budget of done trials
    url = f"journal:{tmp_path / 'cap.journal'}"
    workers, budget = 3, 9
    spec = dry_spec(
        "cap",
        budget={"n_trials": budget},
        objective={"synthetic": {"sleep_s": 0.1, "nan_when": {"mixer": ["lstm"]}}},
    )
    create_study(spec, url)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_worker_main, args=(spec, url, rank, None, None, None, True))
        for rank in range(workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * workers
    s = status("cap", url)
    assert s["n_running"] == 0
    assert budget <= s["n_complete"] <= budget + workers - 1
    # a worker started after the budget is done runs nothing
    assert run_worker(spec, url, rank=workers) == 0
