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
        assert r["archlab_s_per_trial"] > 0
        assert r["estimate"] in ("marginal", "mean (noisy marginal; raise --trials)")


def test_overhead_falls_back_when_noise_beats_the_slope(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 3N run timed faster than the N run (noise at tiny N) must not give a negative ratio."""
    clock = iter([0.5, 0.5, 0.2, 0.2] * 3)  # T(N) > T(3N) for both loops, every round
    monkeypatch.setattr(bench, "_bare_run", lambda url, spec, n: next(clock))
    monkeypatch.setattr(bench, "_archlab_run", lambda url, n: next(clock))
    row = bench.bench_overhead("memory", ":memory:", 3, 3)
    assert row["estimate"].startswith("mean")
    assert row["bare_s_per_trial"] == pytest.approx(0.2 / 9) and row["ratio"] == pytest.approx(1.0)
