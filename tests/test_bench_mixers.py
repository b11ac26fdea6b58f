"""Smoke test of benchmarks/bench_mixers.py: a tiny ``--quick --json`` run for two mixers."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("bench_mixers")


def _rows(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_quick_json_rows(bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from archlab.models import MIXERS

    # torch_lstm needs no registered mixer; diag_rnn covers a layer with a loop reference
    mixers = ["torch_lstm"] + (["diag_rnn"] if "diag_rnn" in MIXERS else ["scan:diag"])
    argv = ["--quick", "--json", "--T", "16", "--T", "32", "--batch", "2", "--width", "16"]
    argv += ["--threads", "1", "--out", str(tmp_path)]
    for m in mixers:
        argv += ["--mixer", m]
    assert bench.main(argv) == 0
    rows = _rows(capsys.readouterr().out)

    machine = {r["mixer"]: r for r in rows if r["mixer"].startswith("machine:")}
    assert machine["machine:gemm"]["flop_s"] > 0
    assert machine["machine:bandwidth"]["bytes_s"] > 0
    assert rows[-1]["mixer"] == "scaling"

    measured = [r for r in rows if not r["mixer"].startswith("machine:") and r["mixer"] != "scaling"]
    expected = (
        {"torch_lstm", "diag_rnn", "diag_rnn[signed]", "diag_rnn[complex]"} if "diag_rnn" in mixers else set()
    )
    names = {r["mixer"] for r in measured}
    assert {"torch_lstm"} | (expected or {"scan:diag"}) == names
    for r in measured:
        assert set(bench.REQUIRED_KEYS) <= set(r), r
        assert r.get("error") is None, r
        assert r["T"] in (16, 32)
        assert r["fwd_tok_s"] > 0 and r["fwdbwd_tok_s"] > 0
        assert r["roofline_frac"] is None or r["roofline_frac"] > 0
        if r["mixer"] == "torch_lstm":
            assert r["ref_fwdbwd_tok_s"] is None and r["ratio"] is None
        else:  # diag_rnn / scan:diag have a loop reference
            assert r["ref_fwdbwd_tok_s"] > 0
            assert r["ratio"] == pytest.approx(r["fwdbwd_tok_s"] / r["ref_fwdbwd_tok_s"])

    report = json.loads((tmp_path / "bench_mixers.json").read_text())
    assert len(report["rows"]) == len(measured)
    assert (tmp_path / "bench_mixers.png").read_bytes().startswith(b"\x89PNG")
    assert not list(tmp_path.glob(".*.tmp"))  # temporary files renamed into place


def test_unknown_mixer_is_rejected(bench: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="unknown mixer"):
        bench.main(["--quick", "--json", "--mixer", "no_such_mixer", "--out", str(tmp_path)])


def test_core_scan_rows(bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The published blocks' cores (Mamba's selective scan, Mamba-2's SSD) timed against their loops."""
    argv = ["--quick", "--json", "--T", "16", "--batch", "2", "--width", "16", "--threads", "1"]
    argv += ["--out", str(tmp_path), "--mixer", "scan:selective", "--mixer", "scan:ssd"]
    assert bench.main(argv) == 0
    rows = {r["mixer"]: r for r in _rows(capsys.readouterr().out) if r["mixer"].startswith("scan:")}
    assert set(rows) == {"scan:selective", "scan:ssd"}
    for r in rows.values():
        assert r.get("error") is None, r
        assert r["fwdbwd_tok_s"] > 0 and r["ref_fwdbwd_tok_s"] > 0
        assert r["ratio"] == pytest.approx(r["fwdbwd_tok_s"] / r["ref_fwdbwd_tok_s"])
    assert rows["scan:selective"]["D"] == 32 and rows["scan:ssd"]["N"] == 16


def test_bench_dna_long_section_rows(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """bench_dna's long-sequence section at tiny lengths: chunked and whole rows for a recurrent
    mixer, whole-only for attention, and one slope row per series and mode."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    bench = importlib.import_module("bench_dna")
    monkeypatch.setattr(bench, "LONG_CHUNK", 128)
    monkeypatch.setattr(bench, "WHOLE_MAX", 256)
    argv = ["--section", "long", "--json", "--mixer", "diag_rnn", "--mixer", "attention"]
    assert bench.main([*argv, "--length", "128", "--length", "256"]) == 0
    rows = _rows(capsys.readouterr().out)
    cells = [r for r in rows if r["bench"] == "long_seq"]
    assert all(r["status"] == "ok" and r["tokens_per_s"] > 0 for r in cells), cells
    diag = {(r["chunk_len"], r["mode"], r["length"]) for r in cells if r["mixer"] == "diag_rnn"}
    assert diag == {(c, m, n) for c in (128, None) for m in ("train", "eval") for n in (128, 256)}
    assert {r["chunk_len"] for r in cells if r["mixer"] == "attention"} == {None}
    slopes = [r for r in rows if r["bench"] == "long_seq_slope"]
    assert len(slopes) == 6 and all(r["time_slope"] is not None for r in slopes)
