"""optuna-dashboard reads an archlab study legibly: named metrics, each score as a user attr,
the record kept (a real dashboard server on 127.0.0.1, queried through its JSON API)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from archlab.search import run_study
from archlab.search.runner import metric_names
from tests.search._util import dry_spec

pytest.importorskip("optuna_dashboard")

SERVER = """
import sys
import optuna_dashboard
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
storage = JournalStorage(JournalFileBackend(sys.argv[1]))
optuna_dashboard.run_server(storage, host="127.0.0.1", port=int(sys.argv[2]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as r:  # loopback only
        return json.loads(r.read())


@pytest.mark.slow  # starts a dashboard server process
def test_optuna_dashboard_shows_named_metrics_and_scores(tmp_path: Path) -> None:
    journal = tmp_path / "dash.journal"
    spec = dry_spec("dash", budget={"n_trials": 3}, objective={"second": "params"})
    run_study(spec, f"journal:{journal}")
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(journal), str(port)], stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}/api/studies"
        deadline = time.time() + 60
        while True:
            try:
                studies = _get(base)
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
                assert time.time() < deadline, "the dashboard did not start in 60 s"
                time.sleep(0.3)
        assert isinstance(studies, dict)
        (summary,) = studies["study_summaries"]
        detail = _get(f"{base}/{summary['study_id']}?after=0")
        assert isinstance(detail, dict)
        assert detail["objective_names"] == metric_names(spec)
        assert detail["objective_names"][0].startswith("synthetic score")
        assert detail["objective_names"][1] == "parameters"
        attrs = {a["key"]: a["value"] for a in detail["trials"][0]["user_attrs"]}
        assert {"score: step 0", "score: step 1", "score: step 2", "archlab"} <= set(attrs)
        assert 0.0 <= float(attrs["score: step 0"]) <= 1.0
        assert json.loads(attrs["archlab"])["worker_rank"] == 0  # the full record is still there
    finally:
        server.terminate()
        server.wait(10)
