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

    python benchmarks/bench_dna.py [--json] [--quick]
"""

from __future__ import annotations

import argparse
import json
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


def human(row: dict[str, Any]) -> str:
    return (
        f"{row['bench']:<11} L={row['length']:<6} {row['bp_per_s'] / 1e6:9.2f} M bp/s   reference "
        f"{row['reference_bp_per_s'] / 1e6:7.3f} M bp/s   ratio {row['ratio']:7.1f}x "
        f"({'met' if row['goal_met'] else 'MISSED'}: {row['goal']})"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="one JSON object per line on stdout")
    ap.add_argument("--quick", action="store_true", help="smaller batches (a smoke run)")
    args = ap.parse_args(argv)
    scale = 4 if args.quick else 1
    rows: list[dict[str, Any]] = []

    def emit(row: dict[str, Any] | None) -> None:
        if row is not None:
            rows.append(row)
            print(json.dumps(row) if args.json else human(row), flush=True)

    for length, n, n_ref in ((1000, 2000 // scale, 40 // scale), (16000, 256 // scale, 4)):
        emit(bench_generate(length, n, n_ref))
    for row in bench_encode(1000, 2000 // scale, 100 // scale):
        emit(row)
    emit(bench_hdf5())
    return 0  # a missed goal is reported in its row, not an error


if __name__ == "__main__":
    sys.exit(main())
