"""Smoke test of benchmarks/bench_search.py: a tiny overhead run (no scaling processes)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.delenv("ARCHLAB_TEST_DB_URL", raising=False)
    return importlib.import_module("bench_search")


def test_overhead_json_rows(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--json", "--trials", "3", "--no-scaling"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [r["storage"] for r in rows] == ["memory", "journal"]
    for r in rows:
        assert r["bench"] == "overhead" and r["ratio"] > 0 and r["bare_s_per_trial"] > 0
