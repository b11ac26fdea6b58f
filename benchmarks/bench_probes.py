#!/usr/bin/env python
"""Probe generation speed: every probe's vectorised generator against its reference.

For each probe, tokens per second of ``probe.sample`` (batch 256 × length 512 by default) and of
``probe.reference_sample`` (the slow, obviously-correct implementation, on fewer rows) are
measured in the same run, and their ratio is printed. The ratio is what counts: these machines
are shared and noisy. Goals (issue 3): every ratio ≥ 50×; S5 ≥ 50 M tokens/s; parity ≥ 300 M.

Tokens counted = batch × T, where T = probe.seq_len(length) is the number of columns generated.

The process runs with glibc's allocator told to keep freed memory
(``GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=…``, see PERF.md): the
script re-executes itself with that setting unless ``--system-malloc`` is given, and reports it.

    python benchmarks/bench_probes.py [--quick] [--json] [--probe NAME …] [--check]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys

import numpy as np
from _common import measure, reexec_with_tunables

GOAL_RATIO = 50.0
GOAL_ABSOLUTE = {"S5": 50e6, "parity": 300e6}
EXTRA_GROUPS = ("S5", "A5", "A4xZ5", "Z60", "S3")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter timing windows and fewer reference rows")
    ap.add_argument("--json", action="store_true", help="one JSON object per probe and line")
    ap.add_argument("--probe", action="append", help="only these probes (repeatable)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--length", type=int, default=512)
    ap.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    ap.add_argument("--system-malloc", action="store_true", help="do not set GLIBC_TUNABLES")
    args = ap.parse_args()

    reexec_with_tunables(args.system_malloc)

    from archlab.probes import PROBES, make_probe

    names = args.probe or [*PROBES.names(), *EXTRA_GROUPS]
    ref_rows = 8 if args.quick else 32
    min_time = 0.2 if args.quick else 1.0
    batch, length = args.batch, args.length
    if not args.json:
        print(
            f"# probe generation, batch {batch} x length {length} (reference: {ref_rows} rows); "
            f"numpy {np.__version__}, python {platform.python_version()}, "
            f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '(unset)')}"
        )
        print(f"{'probe':<28} {'tokens/s':>12} {'ref tokens/s':>13} {'ratio':>8}  goals")
    missed = 0
    for name in names:
        probe = make_probe(name)
        t = probe.seq_len(length)
        rng = np.random.default_rng(0)
        fast = measure(functools.partial(probe.sample, rng, batch, length), batch * t, min_time, 5)
        ref = measure(
            functools.partial(probe.reference_sample, rng, ref_rows, length), ref_rows * t, min_time / 2, 2
        )
        ratio = fast / ref
        goals = [f"ratio>={GOAL_RATIO:g}x " + ("ok" if ratio >= GOAL_RATIO else "MISSED")]
        ok = ratio >= GOAL_RATIO
        if name in GOAL_ABSOLUTE:
            met = fast >= GOAL_ABSOLUTE[name]
            ok = ok and met
            goals.append(f">={GOAL_ABSOLUTE[name] / 1e6:g}M/s " + ("ok" if met else "MISSED"))
        missed += not ok
        if args.json:
            print(
                json.dumps(
                    {
                        "probe": name,
                        "tokens_per_s": fast,
                        "ref_tokens_per_s": ref,
                        "ratio": ratio,
                        "batch": batch,
                        "length": length,
                        "seq_len": t,
                        "goals_met": ok,
                    }
                ),
                flush=True,
            )
        else:
            print(
                f"{name:<28} {fast / 1e6:>10.1f} M {ref / 1e6:>11.3f} M {ratio:>7.0f}x  {', '.join(goals)}",
                flush=True,
            )
    if not args.json:
        print(f"# {len(names) - missed}/{len(names)} probes meet their goals")
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
