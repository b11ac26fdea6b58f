"""benchmarks/gpu_check.py on the CPU: its exit without CUDA, and each section's logic at tiny sizes
(every section function takes the device and the sizes, so 'cpu' runs them in seconds)."""

from __future__ import annotations

import importlib
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


@pytest.fixture
def check(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    return importlib.import_module("gpu_check")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present: the script would run")
def test_exits_2_without_cuda() -> None:
    res = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2, res.stderr
    assert res.stdout.strip() == "no CUDA device: GPU unverified"


def test_timing_sections_on_cpu(check: ModuleType, one_torch_thread: None) -> None:
    from archlab.models import MIXERS

    names = ["diag_rnn", "not_a_mixer", *(n for n in ("mamba", "gated_deltanet") if n in MIXERS.names())]
    rows = check.time_mixers(CPU, names, 2, 8, 16, 0, 1, check.Deadline(60))
    by = {r.name: r for r in rows}
    assert by["not_a_mixer"].note == "not registered: skipped"
    for name in names:
        if name != "not_a_mixer":
            r = by[name]
            assert r.note == "" and r.kernel_tok_s > 0 and r.torch_tok_s > 0 and r.ratio > 0, r
    spent = check.time_mixers(CPU, ["diag_rnn"], 2, 8, 16, 0, 1, check.Deadline(0))
    assert spent[0].note == "time budget spent: skipped"
    text = "\n".join(check.format_mixers(rows, 2, 8, 16))
    assert "diag_rnn" in text and "not registered" in text

    # on the CPU every adapter falls back: each case says so, nothing is timed
    adapters = check.time_adapters(CPU, 1, 8, 16, 0, 1, check.Deadline(60))
    assert {a.adapter for a in adapters} == {"causal_conv1d", "selective_scan", "ssd", "delta_rule"}
    assert all(a.overhead is None and "no kernel here" in a.note for a in adapters)
    assert "goal ≤ 1.15" in "\n".join(check.format_adapters(adapters))


def test_fwd_bwd_seconds_stops_at_its_limit(check: ModuleType) -> None:
    x = torch.randn(4, requires_grad=True)
    calls = []

    def fn() -> torch.Tensor:
        calls.append(1)
        return x * 2

    assert check.fwd_bwd_seconds(fn, CPU, warmup=3, reps=5) > 0
    assert len(calls) == 8
    calls.clear()
    check.fwd_bwd_seconds(fn, CPU, warmup=3, reps=5, limit_s=0.0)
    assert len(calls) == 2  # one warm-up, one timed call


def test_plan_runs(check: ModuleType) -> None:
    # everything fits: all seeds at the full step count
    assert check.plan_runs(1000, 100, 3, 0.1, 5) == (100, 3)
    # two of three seeds fit at full steps
    assert check.plan_runs(70, 100, 3, 0.1, 5) == (100, 2)
    # not even one: one seed, the steps that fit (2 models × (steps·0.1 + 5) ≤ 20 → 50)
    assert check.plan_runs(20, 100, 3, 0.1, 5) == (50, 1)
    assert check.plan_runs(0, 100, 3, 0.1, 5) == (1, 1)


def test_parity_training_on_cpu(check: ModuleType, one_torch_thread: None) -> None:
    from archlab.models import MIXERS

    mixer = "mamba" if "mamba" in MIXERS.names() else "diag_rnn"
    rows, notes = check.train_parity(
        CPU,
        check.Deadline(120),
        steps=2,
        seeds=2,
        batch=4,
        eval_batch=4,
        mixer=mixer,
        width=8,
        train_lengths=[3, 4],
        test_lengths=[40, 41],
        reserve_s=0.0,
    )
    assert [r.eig_range for r in rows] == ["signed", "unit"]
    assert [r.published for r in rows] == [1.0, 0.0]
    for r in rows:
        assert r.steps == 2 and r.seeds == [0, 1] and len(r.scores) == 2
        assert all(math.isfinite(s) for s in r.scores) and r.best == max(r.scores)
    assert any("ms per step" in n for n in notes)
    text = "\n".join(check.format_parity(rows, notes))
    assert "published" in text and f"{mixer}[-1,1]" in text

    # the deadline cuts the steps (and says so); an unregistered mixer is a note, not an error
    rows, notes = check.train_parity(
        CPU, check.Deadline(0), steps=2, seeds=1, batch=4, eval_batch=4, mixer=mixer, width=8,
        train_lengths=[3], test_lengths=[40],
    )  # fmt: skip
    assert all(r.scores == [] for r in rows) and any("not started" in n for n in notes)
    assert check.train_parity(CPU, check.Deadline(10), mixer="not_a_mixer")[0] == []
