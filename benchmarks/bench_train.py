#!/usr/bin/env python
"""Cells per hour: a cell's members trained stacked (archlab.ensemble) against one after another.

A **cell** is one case of the reproduction matrix (its row's probe, model and training protocol,
``archlab/reproduce.py``) trained for ``k`` members: k = 1 (seed 0), 3 (seeds 0–2), 9 (seeds 0–2 ×
the learning rates {row lr, row lr / 3, row lr / 10}). For each k, in one process and one run:

- ``sequential_s``: the members one after another (``train_cell(..., stacked=False)``: exactly
  ``train_run`` per member, as ``archlab train`` and ``reproduce`` ran them before);
- ``batched_s``: the same members as one stacked model (``train_cell``; a mixer that cannot be
  stacked — torch.nn's LSTM — falls back to the sequential path, and ``stacked`` says so);
- ``speedup`` = sequential_s / batched_s (goal ≥ 3 at 9 members), ``cells_per_hour`` for both.

Each k is measured with the protocol's own lengths (``length_stream: seed``: every seed draws its
own training length each step, so a stack pads its members to the longest) and, with
``--length-stream both`` (the default), also with ``length_stream: shared`` (one length per step
for every seed: no padding; a protocol choice, see TrainConfig).

Every member runs the whole step budget (``--steps``, early stopping off, the row's evaluation
schedule and range evaluation included), so both paths do the same work. One warm-up cell of a
few steps runs first (imports, allocator, first-touch), not timed. The first trained member of
each path is the same run, so ``first_loss_diff`` (their first curve losses) checks that the
timed runs agree.

Output: a table, or ``--json``: one JSON object per line with ``cell``, ``members``,
``batched_s``, ``sequential_s``, ``speedup``, ``stacked``, ``length_stream``, ``steps``,
``cells_per_hour_batched``, ``cells_per_hour_sequential``, ``first_loss_diff``, ``goal_met``
(9 members only; else null).

    python benchmarks/bench_train.py [--quick] [--json] [--steps N] [--cells a,b]
                                     [--length-stream seed|shared|both]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from archlab.config import ModelConfig, TrainConfig  # noqa: E402
from archlab.ensemble import stack_support, train_cell  # noqa: E402
from archlab.probes import make_probe  # noqa: E402
from archlab.reproduce import ROWS  # noqa: E402

GOAL = 3.0
#: bench cell → (reproduction row id, case label)
CELLS = {
    "diag_rnn_signed/parity": ("1", "diag_rnn eig [-1,1]"),
    "householder_nh2/A5": ("3-A5", "householder n_h=2 [-1,1]"),
    "lstm/S5": ("3-S5", "lstm"),
    "attention/copy": ("5", "transformer (ALiBi)"),
}
MEMBERS = (1, 3, 9)


def cell_setup(name: str, steps: int) -> tuple[Any, ModelConfig, TrainConfig]:
    row_id, label = CELLS[name]
    row = next(r for r in ROWS if r.id == row_id)
    case = next(c for c in row.cases if c.label == label)
    train = TrainConfig(**{**row.train, "steps": steps, "early_stop": False, "device": "cpu"})
    return make_probe(row.probe, **row.probe_params), ModelConfig(**case.model), train


def member_cfgs(train: TrainConfig, k: int) -> list[TrainConfig]:
    lrs = (train.lr, train.lr / 3, train.lr / 10) if k == 9 else (train.lr,)
    seeds = range(1) if k == 1 else range(3)
    return [train.model_copy(update={"seed": s, "lr": lr}) for s in seeds for lr in lrs]


def timed(
    probe: Any, model: ModelConfig, cfgs: list[TrainConfig], stacked: bool | None
) -> tuple[float, list[Any]]:
    t0 = time.perf_counter()
    recs = train_cell(probe, model, cfgs, stacked=stacked)
    return time.perf_counter() - t0, recs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 steps per member (a smoke run, ~2 min)")
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument("--steps", type=int, default=None, help="steps per member (default 150, quick 20)")
    ap.add_argument("--cells", default=",".join(CELLS), help=f"comma-separated, of: {', '.join(CELLS)}")
    ap.add_argument("--length-stream", choices=("seed", "shared", "both"), default="both")
    args = ap.parse_args()
    steps = args.steps or (20 if args.quick else 150)
    names = [c.strip() for c in args.cells.split(",") if c.strip()]
    unknown = [n for n in names if n not in CELLS]
    if unknown:
        sys.exit(f"unknown cell(s) {unknown}; valid: {', '.join(CELLS)}")
    torch.set_num_threads(torch.get_num_threads())
    rows = []
    for name in names:
        probe, model, train = cell_setup(name, steps)
        warm = member_cfgs(train.model_copy(update={"steps": 3, "eval_every": 3}), 3)
        train_cell(probe, model, warm)  # warm-up, not timed
        streams = ("seed", "shared") if args.length_stream == "both" else (args.length_stream,)
        for stream, k in ((st, k) for st in streams for k in MEMBERS):
            cfgs = member_cfgs(train.model_copy(update={"length_stream": stream}), k)
            seq_s, seq = timed(probe, model, cfgs, stacked=False)
            bat_s, bat = timed(probe, model, cfgs, stacked=None)
            speedup = seq_s / bat_s
            rows.append(
                {
                    "cell": name,
                    "members": k,
                    "batched_s": round(bat_s, 3),
                    "sequential_s": round(seq_s, 3),
                    "speedup": round(speedup, 3),
                    "stacked": k > 1 and stack_support(model, train) is None,
                    "length_stream": stream,
                    "steps": steps,
                    "cells_per_hour_batched": round(3600 / bat_s, 1),
                    "cells_per_hour_sequential": round(3600 / seq_s, 1),
                    "first_loss_diff": abs(bat[0]["curve"][0]["loss"] - seq[0]["curve"][0]["loss"]),
                    "goal_met": speedup >= GOAL if k == 9 else None,
                }
            )
            if args.json:
                print(json.dumps(rows[-1]), flush=True)
    if not args.json:
        print(
            f"{'cell':26} {'lengths':7} {'k':>2} {'sequential s':>12} {'batched s':>10} {'speedup':>8}"
            "  stacked"
        )
        for r in rows:
            print(
                f"{r['cell']:26} {r['length_stream']:7} {r['members']:>2} {r['sequential_s']:>12.2f} "
                f"{r['batched_s']:>10.2f} {r['speedup']:>7.2f}×  {r['stacked']}"
            )
        print(
            f"goal: ≥ {GOAL}× at 9 members; torch threads {torch.get_num_threads()}, {steps} steps per member"
        )


if __name__ == "__main__":
    main()
