#!/usr/bin/env python
"""Delta-rule (DeltaNet / Householder) scan speed: the chunkwise WY/UT form against the loop.

For each length T, tokens per second (batch × T) of the chunkwise path forward (no grad) and
forward+backward, and of the plain loop reference (``delta_rule_reference``) forward+backward,
all in the same process and timed in interleaved rounds. The ratio fast/loop forward+backward
is what counts: these machines are shared and noisy (another process using the cores preempts
torch's OpenMP threads and can slow any of these 10-100x for a while; check ``uptime``/``ps``
and rerun, or compare with ``--threads 1``). Goal: ratio ≥ 4× at T = 1024 (B = 8, H = 4,
d = 64, fp32).

The process runs with glibc's allocator told to keep freed memory
(``GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=…``, see PERF.md): the
script re-executes itself with that setting unless ``--system-malloc`` is given, and reports it.

    python benchmarks/bench_scan_householder.py [--quick] [--json] [--n-h N] [--chunk C] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

from _common import reexec_with_tunables

GOAL_RATIO = 4.0
GOAL_T = 1024


def measure_interleaved(
    fns: list[Callable[[], object]], tokens: int, min_time: float, min_rounds: int
) -> list[float]:
    """Median tokens/s of each function, timed in interleaved rounds (one call of each per round,
    at least ``min_rounds`` rounds and ``min_time`` s) so that load from other processes on a
    shared machine hits all of them alike."""
    for fn in fns:  # warm-up: allocator
        fn()
    times: list[list[float]] = [[] for _ in fns]
    start = time.perf_counter()
    while len(times[0]) < min_rounds or time.perf_counter() - start < min_time:
        for fn, ts in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [tokens / statistics.median(ts) for ts in times]


def bench_length(
    t: int,
    bsz: int,
    heads: int,
    dim: int,
    n_h: int,
    chunk: int,
    min_time: float,
    min_rounds: int = 5,
    with_ref: bool = True,
) -> tuple[float, float, float | None]:
    """(chunkwise fwd, chunkwise fwd+bwd, loop fwd+bwd) tokens/s at length t; β = 2·sigmoid.

    ``with_ref=False`` skips the (slow) loop and returns None in its place."""
    import torch

    from archlab.models.scan_householder import householder_product_reference, householder_product_scan

    gen = torch.Generator().manual_seed(t)
    q = torch.randn(bsz, heads, t, dim, generator=gen).requires_grad_()
    k = torch.randn(bsz, heads, t, n_h, dim, generator=gen).requires_grad_()
    v = torch.randn(bsz, heads, t, n_h, dim, generator=gen).requires_grad_()
    z = torch.randn(bsz, heads, t, n_h, generator=gen).requires_grad_()
    grad_out = torch.randn(bsz, heads, t, dim, generator=gen)
    tokens = bsz * t

    def fast_fwd() -> None:
        with torch.no_grad():
            householder_product_scan(q, k, v, 2 * torch.sigmoid(z), n_h, chunk_size=chunk)

    def fast_fwdbwd() -> None:
        o, _ = householder_product_scan(q, k, v, 2 * torch.sigmoid(z), n_h, chunk_size=chunk)
        o.backward(grad_out)

    def ref_fwdbwd() -> None:
        o, _ = householder_product_reference(q, k, v, 2 * torch.sigmoid(z))
        o.backward(grad_out)

    fns: list[Callable[[], object]] = (
        [fast_fwd, fast_fwdbwd, ref_fwdbwd] if with_ref else [fast_fwd, fast_fwdbwd]
    )
    speeds = measure_interleaved(fns, tokens, min_time, min_rounds)
    return speeds[0], speeds[1], speeds[2] if with_ref else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="T in {256, 512} and shorter timing windows")
    ap.add_argument("--json", action="store_true", help="one JSON object per length and line")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--dim", type=int, default=64, help="d_k = d_v")
    ap.add_argument("--n-h", type=int, default=1, help="Householder factors per token (1 = DeltaNet)")
    ap.add_argument("--chunk", type=int, default=32)
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument("--lengths", type=int, nargs="+", help="override the lengths")
    ap.add_argument("--check", action="store_true", help=f"exit 1 when ratio < {GOAL_RATIO}x at T={GOAL_T}")
    ap.add_argument("--system-malloc", action="store_true", help="do not set GLIBC_TUNABLES")
    args = ap.parse_args()

    reexec_with_tunables(args.system_malloc)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    lengths = args.lengths or ([256, 512] if args.quick else [256, 1024])
    min_time = 1.0 if args.quick else 4.0
    bsz, heads, dim, n_h = args.batch, args.heads, args.dim, args.n_h
    allocator = os.environ.get("GLIBC_TUNABLES", "(unset: system malloc)")
    if not args.json:
        print(
            f"# delta-rule scan, B={bsz} H={heads} d={dim} n_h={n_h} chunk={args.chunk} fp32; "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"python {platform.python_version()}, GLIBC_TUNABLES={allocator}"
        )
        print(f"{'T':>6} {'fwd tok/s':>12} {'fwd+bwd tok/s':>14} {'loop fwd+bwd':>13} {'ratio':>7}")
    missed = False
    for t in lengths:
        fwd, fwdbwd, ref = bench_length(t, bsz, heads, dim, n_h, args.chunk, min_time)
        assert ref is not None
        ratio = fwdbwd / ref
        if t == GOAL_T and ratio < GOAL_RATIO:
            missed = True
        if args.json:
            print(
                json.dumps(
                    {
                        "mixer": "scan:householder",
                        "T": t,
                        "fwd_tok_s": fwd,
                        "fwdbwd_tok_s": fwdbwd,
                        "ref_fwdbwd_tok_s": ref,
                        "ratio": ratio,
                        "batch": bsz,
                        "heads": heads,
                        "dim": dim,
                        "n_h": n_h,
                        "chunk": args.chunk,
                        "allocator": allocator,
                    }
                ),
                flush=True,
            )
        else:
            print(
                f"{t:>6} {fwd / 1e3:>10.1f} k {fwdbwd / 1e3:>12.1f} k {ref / 1e3:>11.1f} k {ratio:>6.1f}x",
                flush=True,
            )
    if not args.json and GOAL_T in lengths:
        print(f"# goal: fwd+bwd ratio >= {GOAL_RATIO:g}x at T={GOAL_T}: " + ("MISSED" if missed else "ok"))
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
