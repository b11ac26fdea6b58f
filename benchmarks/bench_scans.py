#!/usr/bin/env python
"""Scan speed: each fast scan against its per-step loop reference and the memory-bandwidth roofline.

Sections (one per mixer, ``SECTIONS`` below; add a new scan by adding a section function):

- ``scan:diag`` — :func:`archlab.models.scan_diag.diag_scan` vs ``diag_scan_reference`` on
  ``a, b ∈ R^{B×T×D}``, fp32, ``a`` uniform in [−1, 1], B = 16, D = 256, T ∈ {256, 1024, 4096}.

Tokens counted = B × T. Forward and forward+backward (``h.backward(grad)``, gradients for ``a`` and
``b``) tokens/s of the fast scan, forward+backward of the reference, measured in the same run, and
their ratio — the ratio is what counts: these machines are shared and noisy.

Roofline: the bandwidth is measured in the same run as ``torch.add(x, y, out=z)`` on three
256 MiB fp32 tensors, counting 3 × 256 MiB per call (2 reads + 1 write, like the scan). Byte model
of the bare diagonal recurrence (the least any implementation must move, n = B·T·D, 4 bytes each):
forward reads a, b and writes h = 3·4n bytes; backward reads ∂L/∂h, a, h and writes ∂L/∂a, ∂L/∂b
= 5·4n bytes; forward+backward = 8·4n bytes. ``roofline_frac`` = achieved fwd+bwd tokens/s ÷
(bandwidth ÷ bytes per token). Goals: fwd+bwd ratio ≥ 2.5× at T = 4096, roofline_frac ≥ 0.5.

The process runs with glibc's allocator told to keep freed memory
(``GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=…``, see PERF.md): the
script re-executes itself with that setting unless ``--system-malloc`` is given, and reports it.

    python benchmarks/bench_scans.py [--quick] [--json] [--mixer scan:diag …] [--T 256 …] [--check]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from _common import measure, reexec_with_tunables

GOAL_RATIO_T = 4096
GOAL_RATIO = 2.5
GOAL_ROOFLINE = 0.5


@dataclass
class Settings:
    batch: int
    dim: int
    lengths: list[int]
    min_time: float
    min_repeats: int
    ref_max_T: int
    bandwidth: float  # bytes/s
    chunk: int | None = None  # scan:diag chunk length (None: auto_chunk)


def measure_bandwidth(min_time: float, mib: int = 256) -> float:
    """Best bytes/s of ``torch.add(x, y, out=z)`` on ``mib`` MiB fp32 tensors (3 × ``mib`` MiB per
    call; keep it well above the L3 cache).

    The best call, not the median: the ceiling should not be lowered by a noisy neighbour.
    """
    import torch

    n = mib * 2**18
    x, y, z = torch.rand(n), torch.rand(n), torch.empty(n)
    torch.add(x, y, out=z)
    best = float("inf")
    start = time.perf_counter()
    while time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        torch.add(x, y, out=z)
        best = min(best, time.perf_counter() - t0)
    return 3 * 4 * n / best


def _fwd_bwd(fn: Callable[..., Any], a: Any, b: Any, grad: Any) -> Callable[[], None]:
    def run() -> None:
        a.grad = b.grad = None
        fn(a, b).backward(grad)

    return run


def section_diag(s: Settings) -> Iterator[dict[str, Any]]:
    """``scan:diag``: the chunked diagonal scan vs the per-step loop."""
    import torch

    from archlab.models.scan_diag import diag_scan, diag_scan_reference

    bytes_per_token = 8 * 4 * s.dim  # fwd: a, b, h; bwd: ∂h, a, h, ∂a, ∂b (fp32)
    ceiling = s.bandwidth / bytes_per_token
    for T in s.lengths:
        g = torch.Generator().manual_seed(T)
        a = (torch.rand(s.batch, T, s.dim, generator=g) * 2 - 1).requires_grad_()
        b = torch.randn(s.batch, T, s.dim, generator=g).requires_grad_()
        grad = torch.randn(s.batch, T, s.dim, generator=g)
        tokens = s.batch * T
        fast = functools.partial(diag_scan, chunk=s.chunk)
        with torch.no_grad():
            fwd = measure(functools.partial(fast, a, b), tokens, s.min_time, s.min_repeats, warmups=2)
        fwdbwd = measure(_fwd_bwd(fast, a, b, grad), tokens, s.min_time, s.min_repeats, warmups=2)
        ref_fwdbwd = None
        if s.ref_max_T >= T:
            ref_fwdbwd = measure(
                _fwd_bwd(diag_scan_reference, a, b, grad),
                tokens,
                s.min_time,
                max(2, s.min_repeats // 2),
                warmups=2,
            )
        yield {
            "mixer": "scan:diag",
            "T": T,
            "fwd_tok_s": fwd,
            "fwdbwd_tok_s": fwdbwd,
            "ref_fwdbwd_tok_s": ref_fwdbwd,
            "ratio": None if ref_fwdbwd is None else fwdbwd / ref_fwdbwd,
            "roofline_frac": fwdbwd / ceiling,
            "fwd_roofline_frac": fwd / (s.bandwidth / (3 * 4 * s.dim)),
        }


SECTIONS: dict[str, Callable[[Settings], Iterator[dict[str, Any]]]] = {
    "scan:diag": section_diag,
}


def goals(row: dict[str, Any]) -> tuple[bool, str]:
    """Goal check for one row: ratio ≥ 2.5× (at T = 4096 only) and roofline_frac ≥ 0.5."""
    notes, ok = [], True
    if row["T"] == GOAL_RATIO_T and row["ratio"] is not None:
        met = row["ratio"] >= GOAL_RATIO
        ok &= met
        notes.append(f"ratio>={GOAL_RATIO:g}x " + ("ok" if met else "MISSED"))
    met = row["roofline_frac"] >= GOAL_ROOFLINE
    ok &= met
    notes.append(f"roofline>={GOAL_ROOFLINE:g} " + ("ok" if met else "MISSED"))
    return ok, ", ".join(notes)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter timing windows, T ≤ 1024")
    ap.add_argument("--json", action="store_true", help="one JSON object per mixer and length")
    ap.add_argument("--mixer", action="append", choices=sorted(SECTIONS), help="only these (repeatable)")
    ap.add_argument("--T", type=int, action="append", help="sequence lengths (repeatable)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--chunk", type=int, help="scan:diag chunk length (default: auto_chunk(T))")
    ap.add_argument("--no-ref", action="store_true", help="skip the (slow) loop references")
    ap.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    ap.add_argument("--system-malloc", action="store_true", help="do not set GLIBC_TUNABLES")
    args = ap.parse_args()

    reexec_with_tunables(args.system_malloc)

    import torch

    load_before = _loadavg()
    lengths = args.T or ([256, 1024] if args.quick else [256, 1024, 4096])
    min_time = 0.3 if args.quick else 1.5
    s = Settings(
        batch=args.batch,
        dim=args.dim,
        lengths=lengths,
        min_time=min_time,
        min_repeats=3 if args.quick else 5,
        ref_max_T=0 if args.no_ref else max(lengths),
        bandwidth=measure_bandwidth(min_time),
        chunk=args.chunk,
    )
    if not args.json:
        print(
            f"# scans, batch {s.batch} x dim {s.dim}, fp32, {torch.get_num_threads()} threads; "
            f"torch {torch.__version__}, python {platform.python_version()}, "
            f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '(unset)')}"
        )
        print(
            f"# bandwidth (best torch.add out=, 3 x 256 MiB): {s.bandwidth / 1e9:.1f} GB/s; "
            f"load average before: {load_before}"
        )
        print(
            f"{'mixer':<12} {'T':>5} {'fwd tok/s':>11} {'fwd+bwd':>10} {'ref f+b':>10} "
            f"{'ratio':>6} {'roofline':>8}  goals"
        )
    missed = 0
    for name in args.mixer or list(SECTIONS):
        for row in SECTIONS[name](s):
            ok, notes = goals(row)
            missed += not ok
            if args.json:
                extra = {"bandwidth_gb_s": s.bandwidth / 1e9, "goals_met": ok, "loadavg": _loadavg()}
                print(json.dumps({**row, **extra}), flush=True)
            else:
                ref = row["ref_fwdbwd_tok_s"]
                print(
                    f"{row['mixer']:<12} {row['T']:>5} {row['fwd_tok_s'] / 1e6:>9.2f} M "
                    f"{row['fwdbwd_tok_s'] / 1e6:>8.2f} M "
                    + (f"{ref / 1e6:>8.2f} M {row['ratio']:>5.1f}x " if ref else f"{'-':>10} {'-':>6} ")
                    + f"{row['roofline_frac']:>8.2f}  {notes}",
                    flush=True,
                )
    if not args.json:
        print(f"# load average after: {_loadavg()} (a busy machine stalls every op; rerun when quiet)")
    return 1 if (args.check and missed) else 0


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
