#!/usr/bin/env python
"""DNA data speed: synthetic grammar generation and the loaders' encoding, each against a
plain-Python reference measured in the same run.

Rows:

- ``generate``: :func:`archlab.dna.grammar.get_level("D0").sample` (PWM-sampled motif planted
  into an iid background, negatives rescanned for accidental hits) at 1 kb and 16 kb, against
  :func:`archlab.dna.grammar.sample_reference` (the same rule, one base at a time in Python).
  Throughput in bp/s; goal ≥ 20× the reference.
- ``encode``: FASTA/TSV text → codes (:func:`archlab.dna.data.encode`: a byte lookup table)
  against a per-character dict loop; goal ≥ 20×.
- ``one_hot``: codes → ``[n, 4, L]`` float32 (:func:`archlab.dna.data.one_hot`) against a
  per-base Python loop; goal ≥ 20×.
- ``hdf5_codes``: a Koo-lab one-hot HDF5 file → codes (:func:`archlab.dna.io.load`, the whole
  loader: read, argmax, N mask, checks) against a per-row Python argmax loop, when the shared
  IRF1 file is present.

Output: a table, or ``--json``: one object per line ``{"bench", "length", "bp_per_s",
"reference_bp_per_s", "ratio", "goal_met"}``.

**Long sequences** (``--section long``): for each mixer, one training step (forward and backward,
batch 4, the default 2-layer width-64 model with a pooled head, 2 threads) and one evaluation
pass at 1, 4, 16 and 64 kb, each cell in a fresh process after one warm-up step on the same path
(two chunks when the cell chunks): tokens/s (the best of the timed steps: at least one, up to
five within a second) and the peak memory the step added to the process (``VmHWM`` after it
minus ``VmRSS`` before, Linux). Streamable mixers
run with ``chunk_len`` 4096 (state carried, truncated BPTT); the reference measured in the same
run is the same mixer on the whole sequence (no chunks) at 1–16 kb. Attention and the non-causal
conv cannot chunk: they run whole, and a length whose time or memory, extrapolated from the
shorter ones with their measured log-log slope, would pass the cap is skipped with that
prediction. Rows ``{"bench": "long_seq", "mixer", "mode", "length", "chunk_len", "tokens_per_s",
"peak_mib", "budget_mib", "within_budget", "status"}``; then per mixer and mode ``{"bench":
"long_seq_slope", "time_slope", "memory_slope"}`` — the log-log slopes of seconds per step and
peak memory against length over the lengths run (1: linear; 0: constant).

    python benchmarks/bench_dna.py [--json] [--quick] [--section data|long|all]
        [--mixer NAME ...] [--length L ...]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archlab.dna.data import ALPHABET, encode, one_hot  # noqa: E402
from archlab.dna.io import catalogue_path, load  # noqa: E402
from archlab.errors import ArchlabError  # noqa: E402

GOAL = 20.0


def _best(fn: Callable[[], object], min_time: float = 0.3, repeats: int = 3) -> float:
    """Best seconds per call over ``repeats`` rounds of at least ``min_time`` each."""
    best = float("inf")
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= min_time:
                break
        best = min(best, dt / n)
    return best


def _row(bench: str, length: int, bp: int, fast_s: float, ref_s: float) -> dict[str, Any]:
    ratio = ref_s / fast_s
    return {
        "bench": bench,
        "length": length,
        "bp_per_s": bp / fast_s,
        "reference_bp_per_s": bp / ref_s,
        "ratio": ratio,
        "goal": f"ratio >= {GOAL:g}",
        "goal_met": ratio >= GOAL,
    }


def _encode_reference(seqs: list[str]) -> np.ndarray:
    table = {"A": 0, "C": 1, "G": 2, "T": 3, "N": 4}
    width = max(len(s) for s in seqs)
    out = np.full((len(seqs), width), 4, dtype=np.uint8)
    for i, s in enumerate(seqs):
        for j, ch in enumerate(s):
            out[i, j] = table[ch.upper()]
    return out


def _one_hot_reference(codes: np.ndarray) -> np.ndarray:
    n, width = codes.shape
    out = np.zeros((n, 4, width), dtype=np.float32)
    for i in range(n):
        for j in range(width):
            c = int(codes[i, j])
            if c < 4:
                out[i, c, j] = 1.0
    return out


def bench_generate(length: int, n: int, n_ref: int) -> dict[str, Any]:
    from archlab.dna.grammar import get_level, sample_reference

    level = get_level("D0")
    fast = _best(lambda: level.sample(np.random.default_rng(0), n, length))
    ref = _best(lambda: sample_reference("D0", np.random.default_rng(0), n_ref, length), repeats=1)
    return _row("generate", length, 1, fast / (n * length), ref / (n_ref * length))


def bench_encode(length: int, n: int, n_ref: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list(ALPHABET), size=length)) for _ in range(n)]
    codes, _ = encode(seqs)
    assert np.array_equal(codes[:n_ref], _encode_reference(seqs[:n_ref]))
    assert np.array_equal(one_hot(codes[:n_ref]), _one_hot_reference(codes[:n_ref]))
    enc = _best(lambda: encode(seqs))
    enc_ref = _best(lambda: _encode_reference(seqs[:n_ref]), repeats=1)
    oh = _best(lambda: one_hot(codes))
    oh_ref = _best(lambda: _one_hot_reference(codes[:n_ref]), repeats=1)
    return [
        _row("encode", length, 1, enc / (n * length), enc_ref / (n_ref * length)),
        _row("one_hot", length, 1, oh / (n * length), oh_ref / (n_ref * length)),
    ]


def bench_hdf5() -> dict[str, Any] | None:
    import h5py

    try:
        path = catalogue_path("irf1")
    except ArchlabError:
        return None
    with h5py.File(path, "r") as f:
        x = np.asarray(f["X_train"][:200])

    def reference() -> np.ndarray:
        out = np.full((x.shape[0], x.shape[2]), 4, dtype=np.uint8)
        for i in range(x.shape[0]):
            for j in range(x.shape[2]):
                col = x[i, :, j]
                if col.sum() > 0:
                    out[i, j] = int(np.argmax(col))
        return out

    ds = load(str(path))
    bp = sum(int(sp.lengths.sum()) for sp in ds.splits.values())
    fast = _best(lambda: load(str(path)), repeats=2)
    ref = _best(reference, repeats=1)
    return _row("hdf5_codes", int(x.shape[2]), 1, fast / bp, ref / (x.shape[0] * x.shape[2]))


# ---------------------------------------------------------------------------------------------
# long sequences
# ---------------------------------------------------------------------------------------------

LONG_LENGTHS = (1024, 4096, 16384, 65536)
#: the longest length the whole-sequence reference runs at
WHOLE_MAX = 16384
LONG_CHUNK = 4096
LONG_BATCH = 4
BUDGET_MIB = 8192
#: a cell is skipped when its predicted step time passes this
TIME_CAP_S = 300.0
CELL_TIMEOUT_S = 900


def _proc_mib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


def long_cell(mixer: str, mode: str, length: int, chunk: int | None, batch: int) -> dict[str, Any]:
    """One measurement, in this process (the parent runs each in a fresh one)."""
    import torch

    from archlab.config import ModelConfig
    from archlab.models.model import build_model

    torch.set_num_threads(2)
    causal = mixer != "conv:noncausal"
    name = mixer.split(":")[0]
    cfg = ModelConfig(mixer=name, head="pooled", init_seed=0, chunk_len=chunk, causal=causal)
    model = build_model(cfg, vocab_size=5, n_outputs=2, device="cpu")
    gen = torch.Generator().manual_seed(0)

    def step(tokens: torch.Tensor) -> None:
        if mode == "train":
            model.train()
            model.zero_grad(set_to_none=True)
            model(tokens).square().sum().backward()
        else:
            model.eval()
            with torch.no_grad():
                model(tokens)

    # warm-up (one-time costs), on the path the measurement takes: two chunks when it chunks
    warm = chunk + 512 if chunk is not None and length > chunk else min(length, 512)
    step(torch.randint(0, 4, (batch, warm), generator=gen))
    tokens = torch.randint(0, 4, (batch, length), generator=gen)
    before = _proc_mib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
    except OSError:
        before = None
    times = []
    while not times or (sum(times) < 1.0 and len(times) < 5):
        t0 = time.perf_counter()
        step(tokens)
        times.append(time.perf_counter() - t0)
    peak = _proc_mib("VmHWM")
    sec = min(times)
    peak_mib = None if before is None or peak is None else max(0, peak - before)
    return {
        "bench": "long_seq", "mixer": mixer, "mode": mode, "length": length, "chunk_len": chunk,
        "batch": batch, "seconds": sec, "tokens_per_s": batch * length / sec, "peak_mib": peak_mib,
        "budget_mib": BUDGET_MIB, "within_budget": peak_mib is not None and peak_mib <= BUDGET_MIB,
        "status": "ok",
    }  # fmt: skip


def _run_cell(mixer: str, mode: str, length: int, chunk: int | None, batch: int) -> dict[str, Any]:
    spec = json.dumps({"mixer": mixer, "mode": mode, "length": length, "chunk": chunk, "batch": batch})
    base = {"bench": "long_seq", "mixer": mixer, "mode": mode, "length": length, "chunk_len": chunk,
            "batch": batch, "budget_mib": BUDGET_MIB}  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    try:
        proc = subprocess.run([sys.executable, __file__, "--cell", spec], capture_output=True, text=True,
                              timeout=CELL_TIMEOUT_S, env=env)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {**base, "status": f"timeout after {CELL_TIMEOUT_S} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {**base, "status": f"failed: {tail}"}
    row: dict[str, Any] = json.loads(lines[-1])
    return row


def _slope(rows: list[dict[str, Any]], key: str) -> float | None:
    pts = [(math.log(r["length"]), math.log(max(r[key], 1e-9))) for r in rows if r.get(key)]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / den


def _predicted_skip(done: list[dict[str, Any]], length: int) -> str | None:
    """Why ``length`` is skipped (its extrapolated time or memory passes the cap), or None."""
    ok = [r for r in done if r.get("status") == "ok"]
    if len(ok) < 2:
        return None
    last = ok[-1]
    for key, cap, unit in (("seconds", TIME_CAP_S, "s"), ("peak_mib", BUDGET_MIB, "MiB")):
        slope = _slope(ok, key)
        if slope is None or not last.get(key):
            continue
        predicted = last[key] * (length / last["length"]) ** max(slope, 0.0)
        if predicted > cap:
            return (
                f"skipped: predicted {predicted:.0f} {unit} (log-log slope {slope:.2f}) > cap {cap:g} {unit}"
            )
    return None


def long_mixers() -> list[str]:
    from archlab.models import MIXERS

    names = [n for n, cls in MIXERS.items() if not cls.plugin]
    return [*names, "conv:noncausal"]


def bench_long(mixers: list[str], lengths: list[int], emit: Any) -> None:
    from archlab.models import MIXERS

    for mixer in mixers:
        streams = mixer != "conv:noncausal" and not MIXERS.get(mixer.split(":")[0]).unstreamable
        plans = [(LONG_CHUNK, lengths)] if streams else []
        plans.append((None, [n for n in lengths if n <= WHOLE_MAX] if streams else lengths))
        for chunk, lens in plans:
            for mode in ("train", "eval"):
                done: list[dict[str, Any]] = []
                for length in lens:
                    why = _predicted_skip(done, length)
                    if why is not None:
                        row = {"bench": "long_seq", "mixer": mixer, "mode": mode, "length": length,
                               "chunk_len": chunk, "budget_mib": BUDGET_MIB, "status": why}  # fmt: skip
                    else:
                        row = _run_cell(mixer, mode, length, chunk if length > (chunk or 0) else None,
                                        LONG_BATCH)  # fmt: skip
                        row["chunk_len"] = chunk  # the series; "chunked": whether this length was split
                        row["chunked"] = chunk is not None and length > chunk
                    done.append(row)
                    emit(row)
                ok = [r for r in done if r.get("status") == "ok"]
                emit({"bench": "long_seq_slope", "mixer": mixer, "mode": mode, "chunk_len": chunk,
                      "lengths": [r["length"] for r in ok], "time_slope": _slope(ok, "seconds"),
                      "memory_slope": _slope(ok, "peak_mib")})  # fmt: skip


def human_long(row: dict[str, Any]) -> str:
    how = f"chunks of {row['chunk_len']}" if row.get("chunk_len") else "whole"
    head = f"{row['mixer']:<19} {row['mode']:<5} {how:<15}"
    if row["bench"] == "long_seq_slope":
        ts, ms = row["time_slope"], row["memory_slope"]
        fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
        return f"{head} log-log slope: time {fmt(ts)}, memory {fmt(ms)} over {row['lengths']}"
    if row.get("status") != "ok":
        return f"{head} L={row['length']:<6} {row['status']}"
    mem = "n/a" if row["peak_mib"] is None else f"{row['peak_mib']:6d} MiB"
    flag = "" if row["within_budget"] else f"  OVER the {row['budget_mib']} MiB budget"
    return f"{head} L={row['length']:<6} {row['tokens_per_s'] / 1e3:8.1f} k tok/s  peak +{mem}{flag}"


def human(row: dict[str, Any]) -> str:
    if row["bench"].startswith("long_seq"):
        return human_long(row)
    return (
        f"{row['bench']:<11} L={row['length']:<6} {row['bp_per_s'] / 1e6:9.2f} M bp/s   reference "
        f"{row['reference_bp_per_s'] / 1e6:7.3f} M bp/s   ratio {row['ratio']:7.1f}x "
        f"({'met' if row['goal_met'] else 'MISSED'}: {row['goal']})"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="one JSON object per line on stdout")
    ap.add_argument("--quick", action="store_true", help="smaller batches; long section at 1 and 4 kb")
    ap.add_argument(
        "--section", choices=["data", "long", "all"], default="all", help="what to run (default all)"
    )
    ap.add_argument("--mixer", action="append", help="long section: this mixer only (repeatable; "
                    "'conv:noncausal' for the non-causal conv); default every registered mixer")  # fmt: skip
    ap.add_argument("--length", action="append", type=int, help="long section: this length (repeatable)")
    ap.add_argument("--cell", help=argparse.SUPPRESS)  # internal: one long-section measurement
    args = ap.parse_args(argv)
    if args.cell:
        spec = json.loads(args.cell)
        print(
            json.dumps(long_cell(spec["mixer"], spec["mode"], spec["length"], spec["chunk"], spec["batch"]))
        )
        return 0
    scale = 4 if args.quick else 1
    rows: list[dict[str, Any]] = []

    def emit(row: dict[str, Any] | None) -> None:
        if row is not None:
            rows.append(row)
            print(json.dumps(row) if args.json else human(row), flush=True)

    if args.section in ("data", "all"):
        for length, n, n_ref in ((1000, 2000 // scale, 40 // scale), (16000, 256 // scale, 4)):
            emit(bench_generate(length, n, n_ref))
        for row in bench_encode(1000, 2000 // scale, 100 // scale):
            emit(row)
        emit(bench_hdf5())
    if args.section in ("long", "all"):
        lengths = args.length or (list(LONG_LENGTHS[:2]) if args.quick else list(LONG_LENGTHS))
        bench_long(args.mixer or long_mixers(), sorted(lengths), emit)
    return 0  # a missed goal is reported in its row, not an error


if __name__ == "__main__":
    sys.exit(main())
