"""PostgreSQL: the multi-machine backend (RDBStorage with heartbeat and retries). Needs
ARCHLAB_TEST_DB_URL (.ci/run starts a cluster and sets it)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid

import pytest
from optuna.trial import TrialState

from archlab.search import create_study, load_study, run_worker, status, trial_record
from archlab.search.runner import _worker_main
from archlab.search.spec import StudySpec
from tests.search._util import dry_spec

pytestmark = pytest.mark.postgres


def _name(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}"


def _spawn(spec: StudySpec, url: str, rank: int, n: int | None) -> multiprocessing.process.BaseProcess:
    p = multiprocessing.get_context("spawn").Process(
        target=_worker_main, args=(spec, url, rank, n, None, None, True)
    )
    p.start()
    return p


@pytest.mark.slow  # 4 spawned processes (each imports torch): ~20–30 s on 2 busy cores
def test_postgres_four_workers_exact_budget(db_url: str) -> None:
    name = _name("pg4")
    spec = dry_spec(name, budget={"n_trials": 40}, objective={"synthetic": {"sleep_s": 0.01}})
    create_study(spec, db_url)  # once; the workers only load it
    procs = [_spawn(spec, db_url, rank, 10) for rank in range(4)]
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    trials = load_study(name, db_url).trials
    assert len(trials) == 40
    assert sorted(t.number for t in trials) == list(range(40))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    per_rank = {r: sum(trial_record(t)["worker_rank"] == r for t in trials) for r in range(4)}
    assert per_rank == {0: 10, 1: 10, 2: 10, 3: 10}
    for t in trials:
        assert trial_record(t)["config"]["model"]["mixer"] == t.params["mixer"]
        assert trial_record(t)["sampler_seed"] == trial_record(t)["worker_rank"]
        assert t.value == pytest.approx(sum(trial_record(t)["scores"]) / len(trial_record(t)["scores"]))
    # different seeds per worker: no duplicated proposals across the four workers' first trials
    firsts = [next(t.params for t in trials if trial_record(t)["worker_rank"] == r) for r in range(4)]
    assert len({tuple(sorted(p.items())) for p in firsts}) == 4


def test_postgres_killed_worker_is_failed_and_retried(db_url: str) -> None:
    name = _name("pgkill")
    spec = dry_spec(
        name,
        heartbeat={"interval_s": 1, "grace_s": 10, "max_retry": 2},  # the shortest grace a spec may set
        objective={"synthetic": {"sleep_s": 60, "sleep_trials": [0]}},
    )
    create_study(spec, db_url)
    proc = _spawn(spec, db_url, 0, 1)
    try:
        start = time.time()
        while status(name, db_url)["n_running"] == 0:
            assert time.time() - start < 60, "no trial started"
            time.sleep(0.2)
        # Optuna never calls a trial stale before its first heartbeat row is written (a worker
        # killed earlier leaves it RUNNING: `archlab study repair` handles that case)
        time.sleep(1.5)
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.join(10)
    time.sleep(11.0)  # > grace: the dead trial's heartbeat is stale
    run_worker(spec, db_url, rank=1, n_trials=3)  # fails the stale trial, runs its retry first
    s = status(name, db_url)
    assert s["n_running"] == 0 and s["n_waiting"] == 0
    states = {t["number"]: t["state"] for t in s["trials"]}
    assert states[0] == "FAIL"
    retries = [t for t in s["trials"] if t["retried_from"] == 0]
    assert len(retries) == 1 and retries[0]["state"] == "COMPLETE"
    assert s["failures"][0]["retried_by"] == [retries[0]["number"]]
    trials = load_study(name, db_url).trials
    assert trials[retries[0]["number"]].params == trials[0].params
    assert trial_record(trials[retries[0]["number"]])["worker_rank"] == 1


@pytest.mark.slow  # 32 spawned processes (each imports torch): ~1 min on 2 busy cores
def test_postgres_32_workers_soft_cap_and_connections(db_url: str) -> None:
    """The load test: 32 standalone workers sharing the budget's soft cap, a dry objective with a
    failing mixer. The study ends with its budget of done trials, overshot by at most
    workers − 1; every worker exits cleanly; the server sees at most 2 connections per worker."""
    import sqlalchemy

    workers, budget = 32, 64
    name = _name("pg32")
    spec = dry_spec(
        name,
        budget={"n_trials": budget},
        objective={"synthetic": {"sleep_s": 0.05, "nan_when": {"mixer": ["lstm"]}}},
    )
    create_study(spec, db_url)
    engine = sqlalchemy.create_engine(db_url, poolclass=sqlalchemy.pool.NullPool)
    count = sqlalchemy.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")

    def connections() -> int:
        with engine.connect() as conn:
            return int(conn.execute(count).scalar_one()) - 1  # not this query's own

    idle = connections()
    procs = [_spawn(spec, db_url, rank, None) for rank in range(workers)]
    most, deadline = 0, time.time() + 300
    while any(p.is_alive() for p in procs):
        assert time.time() < deadline, "the 32 workers did not finish in 5 minutes"
        most = max(most, connections() - idle)
        time.sleep(0.25)
    assert [p.exitcode for p in procs] == [0] * workers
    s = status(name, db_url)
    assert s["n_running"] == 0
    assert budget <= s["n_complete"] <= budget + workers - 1
    assert s["n_fail"] > 0  # the failing mixer's trials did not count toward the budget
    assert 0 < most <= 2 * workers, most
    print(f"32 workers: {s['n_complete']} done, {s['n_fail']} failed, at most {most} connections")
