"""The DNA ladder: calibrated levels D0–D7 with positive and negative controls, train-short /
test-long sets, and the levels × architectures table (``archlab dna calibrate`` / ``dna ladder``).

A grammar level is only useful as a benchmark when it separates architectures predictably. Each
level therefore has one :class:`Calibration` entry in :data:`CALIBRATION`:

* **defaults** — sequence length, rows per split and the level's difficulty knobs (gap,
  distance, count …), and the training budget (steps, batch, learning rate, evaluation cadence
  and patience in steps, a wall-clock cap), chosen so that a run takes at most 10 minutes on
  2 CPU cores;
* **positive controls** — architectures that must *solve* it (mean test AUROC or r ≥ 0.9 over
  the seeds): the level is learnable at these sizes;
* **negative controls** — architectures (or linear baselines) that must *fail* it (best
  seed ≤ ``max_best``) because a theorem or the construction says so: a convolution whose
  receptive field is shorter than the pairing distance, a bag of k-mers on a level whose
  classes have the same k-mers;
* **test-long sets** — the same rule at larger scales (longer sequences, longer distances or
  gaps), scored with the weights selected at the training scale, so a model that learned the
  rule and one that learned a local shortcut separate.

:func:`calibrate` runs the controls; :func:`ladder` runs every architecture of
:data:`ARCHITECTURES` on every level and adds the theory verdict of each cell. Runs are written
to ``out_dir/runs/<level>/<architecture>/seed_<s>/result.json`` (what ``archlab theory
check`` reads) and reused when their settings match
(an interrupted ladder resumes), and ``workers`` runs them in parallel processes (one torch
thread each).

Adding a level's calibration is one entry in :data:`CALIBRATION`; adding a ladder architecture is
one entry in :data:`ARCHITECTURES` (tests loop over both).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from archlab.atomic import write_json_atomic
from archlab.config import ModelConfig
from archlab.dna.cnn import CNNConfig
from archlab.dna.data import Split
from archlab.dna.grammar import xor_linear_ceiling
from archlab.dna.metrics import mean_sd
from archlab.dna.pairmap import PairMapConfig
from archlab.errors import ConfigError

__all__ = [
    "ARCHITECTURES",
    "CALIBRATION",
    "SOLVED",
    "Architecture",
    "Calibration",
    "Control",
    "LongTest",
    "calibrate",
    "calibration_for",
    "ladder",
    "long_test_sets",
    "run_cell",
]

#: a cell is solved when its test AUROC (or Pearson r) reaches this (the positive controls' bar)
SOLVED = 0.9
#: trained architectures whose mean is within this of a level's best all count as its winners
#: (a level has winners only when its best mean reaches :data:`SOLVED`)
TIE = 0.005
#: the one torch thread each ladder process uses (2 workers fill a 2-core machine)
THREADS_PER_WORKER = 1

# ---------------------------------------------------------------------------------------------
# architectures


@dataclass(frozen=True)
class Architecture:
    """A ladder column: a trained model (ModelConfig, or a DNA network's config) or a linear
    baseline (``gc``, ``kmer``), with the learning rate it is trained at. ``max_length``: the
    longest level it is trained on (its cells on longer levels are not run, and say why)."""

    label: str
    spec: ModelConfig | CNNConfig | PairMapConfig | Literal["gc", "kmer"]
    lr: float | None = None
    note: str = ""
    max_length: int | None = None

    @property
    def trained(self) -> bool:
        return not isinstance(self.spec, str)

    def runs_at(self, length: int) -> bool:
        return self.max_length is None or length <= self.max_length

    def skip_reason(self, length: int) -> str | None:
        if self.runs_at(length):
            return None
        return f"not run: {self.label} is trained on levels up to {self.max_length} bp ({self.note})"

    def config(self) -> dict[str, Any]:
        if isinstance(self.spec, str):
            return {"baseline": self.spec}
        if isinstance(self.spec, ModelConfig):
            return {"kind": "ModelConfig", **self.spec.identity_dump(mode="json")}
        return {"kind": type(self.spec).__name__, **self.spec.model_dump(mode="json")}


def _seq(**fields: Any) -> ModelConfig:
    return ModelConfig(head="pooled", **fields)


#: the ladder's architecture classes, one per reasoning archetype, plus the linear baselines
ARCHITECTURES: dict[str, Architecture] = {
    a.label: a
    for a in (
        Architecture("cnn", CNNConfig(), 2e-3, "one-hot CNN baseline (receptive field 58 bp)"),
        Architecture(
            "cnn relu",
            CNNConfig(activation="relu"),
            2e-3,
            "the same CNN with a ReLU first layer (Koo & Ploenzke 2021 compare it with exp)",
        ),
        Architecture(
            "conv",
            _seq(mixer="conv", causal=False, pool="max", layers=2, width=32),
            2e-3,
            "dilated conv stack (width 32, 2 layers of kernel 3, dilations 1–8): receptive field 61",
        ),
        Architecture(
            "diag_rnn signed",
            _seq(mixer="diag_rnn", eig_range="signed", pool="max", layers=2, width=64),
            3e-3,
            "diagonal linear RNN, eigenvalues in (−1, 1)",
        ),
        Architecture(
            "diag_rnn complex",
            _seq(mixer="diag_rnn", eig_range="complex", pool="max", layers=2, width=64),
            3e-3,
            "diagonal linear RNN, complex eigenvalues (rotations)",
        ),
        Architecture("lstm", _seq(mixer="lstm", pool="max", layers=1, width=64), 3e-3, "nonlinear RNN"),
        Architecture(
            "attention",
            _seq(
                mixer="attention",
                pos_enc="rope",
                causal=False,
                pool="max",
                layers=2,
                width=64,
                stem="conv",
                stem_kernel=12,
            ),
            1e-3,
            "bidirectional attention, RoPE, 12-bp conv stem",
        ),
        Architecture(
            "householder",
            _seq(
                mixer="householder", householder_factors=2, eig_range="signed", pool="max", layers=2, width=64
            ),
            3e-3,
            "DeltaProduct-style, 2 generalised Householder factors, β ∈ (0, 2)",
        ),
        Architecture(
            "pairmap",
            PairMapConfig(),
            3e-3,
            "2-D convolutions over the L × L map of base pairs; time and memory grow as L²",
            max_length=128,
        ),
        Architecture("kmer", "kmer", None, "logistic / ridge on k-mer counts, k = 1…6"),
        Architecture("gc", "gc", None, "logistic / OLS on GC fraction"),
    )
}


def get_architecture(label: str) -> Architecture:
    if label not in ARCHITECTURES:
        raise ConfigError("architecture", f"unknown ladder architecture {label!r}", ", ".join(ARCHITECTURES))
    return ARCHITECTURES[label]


# ---------------------------------------------------------------------------------------------
# calibration table


@dataclass(frozen=True)
class Control:
    """One control: ``architecture`` must ``solves`` (mean ≥ :data:`SOLVED`) or ``fails``
    (best seed ≤ ``max_best``) the level, for the stated reason."""

    architecture: str
    expected: Literal["solves", "fails"]
    why: str
    max_best: float = 0.6


@dataclass(frozen=True)
class LongTest:
    """A train-short/test-long set: the level at ``length`` bp with ``params`` overriding the
    training parameters; ``n`` test rows."""

    name: str
    length: int
    params: dict[str, Any] = field(default_factory=dict)
    n: int = 500


@dataclass(frozen=True)
class Calibration:
    """A level's calibrated defaults, budget, controls and test-long sets (module docstring)."""

    level: str
    length: int
    params: dict[str, Any]
    positive: tuple[Control, ...]
    negative: tuple[Control, ...]
    test_long: tuple[LongTest, ...] = ()
    n_train: int = 4000
    n_valid: int = 500
    n_test: int = 1000
    steps: int = 1500
    batch: int = 64
    eval_every: int = 100
    patience: int = 500
    max_time_s: float = 600.0
    note: str = ""

    def controls(self) -> list[tuple[str, Control]]:
        return [("positive", c) for c in self.positive] + [("negative", c) for c in self.negative]


#: D3's fraction of negatives holding both motifs (the rest hold neither): below 1/2, so that a
#: gradient finds the motifs, while a linear score stays at or below max(q, 1 − q)
D3_P_BOTH = 0.25

_KMER_SAME = "both classes hold the same motifs, so the same k-mers (the level's confound check)"
_GC_SAME = "decoys are permuted motif instances: both classes have the same base composition"

CALIBRATION: dict[str, Calibration] = {
    c.level: c
    for c in (
        Calibration(
            "D0",
            300,
            {},
            positive=(
                Control("cnn", "solves", "a matched filter and a global max-pool detect one motif"),
                Control("lstm", "solves", "a recurrent detector of one motif"),
            ),
            negative=(Control("gc", "fails", _GC_SAME),),
            test_long=(LongTest("D0@2000", 2000), LongTest("D0@8000", 8000, n=300)),
            steps=800,
        ),
        Calibration(
            "D1",
            300,
            {"k": 3, "max_extra": 1},
            positive=(Control("cnn", "solves", "global mean pooling sums motif detections"),),
            negative=(Control("gc", "fails", _GC_SAME),),
            test_long=(LongTest("D1@2000", 2000), LongTest("D1@8000", 8000, n=300)),
            note="counts in 300 bp, tested at 2 kb and 8 kb, where a count read from a mean over "
            "positions is diluted and a counter is not",
        ),
        Calibration(
            "D2",
            300,
            {"gap": 10},
            positive=(
                Control("cnn", "solves", "the A–gap–B block (≈ 45 bp) fits the CNN's 58-bp receptive field"),
            ),
            negative=(Control("kmer", "fails", _KMER_SAME), Control("gc", "fails", _GC_SAME)),
            test_long=(LongTest("D2@2000", 2000),),
        ),
        Calibration(
            "D3",
            300,
            {"p_both": D3_P_BOTH},
            positive=(Control("cnn", "solves", "two motif detectors and a non-linear head compute XOR"),),
            negative=(
                Control(
                    "kmer",
                    "fails",
                    f"a linear score of the two presences reaches at most max(q, 1 − q) = "
                    f"{xor_linear_ceiling(D3_P_BOTH):.2f} AUROC (q = p_both); k-mer counts only "
                    "approximate the presences",
                    max_best=xor_linear_ceiling(D3_P_BOTH) + 0.03,
                ),
            ),
            test_long=(LongTest("D3@2000", 2000),),
            note=f"a quarter of the negatives hold both motifs (p_both = {D3_P_BOTH}), so each motif "
            "carries a first-order signal and only the 'both' negatives need the XOR; at the balanced "
            "p_both = 0.5 no model tried learned it in 10 minutes (CNN at 150 or 300 bp with 4000 to "
            "16 000 rows, exp or ReLU activation, lr 1e-3 to 5e-3: test AUROC 0.50–0.53)",
        ),
        Calibration(
            "D4",
            300,
            {"max_turns": 4},
            positive=(
                Control("cnn", "solves", "spacings up to 4 turns (≈ 50 bp) fit the 58-bp receptive field"),
            ),
            negative=(Control("kmer", "fails", _KMER_SAME),),
            test_long=(LongTest("D4 turns 8", 600, {"max_turns": 8}),),
            note="trained on spacings of 1–4 helical turns, tested on 1–8 turns",
        ),
        Calibration(
            "D5",
            64,
            {"distance": 32, "block": 12},
            positive=(
                Control(
                    "pairmap",
                    "solves",
                    "in the pair map the block and its reverse complement are 12 complementary cells on "
                    "one anti-diagonal, a local pattern (R26)",
                ),
            ),
            negative=(
                Control("kmer", "fails", "the blocks are random: no k-mer marks a pair"),
                Control("gc", "fails", "both blocks are random bases: the classes have the same composition"),
            ),
            test_long=(
                LongTest("D5 distance 200", 256, {"distance": 200}),
                LongTest("D5 distance 400", 512, {"distance": 400}),
            ),
            n_train=8000,
            note="an inverted repeat 32 bp apart in 64 bp, tested at 200 and 400 bp apart. At 300 bp "
            "(distance 150), 200 (100), 160 (80) and 128 (64) no line model learned it in 10 minutes "
            "(attention with a 12-bp stem, width 32–64, lr 1e-3–3e-3, up to 2400 steps: test AUROC "
            "0.50–0.57; a dilated conv with a 127-bp field: 0.50); the pair map learns it at 64 bp, "
            "not yet at 96 bp (distance 64) within 550 steps. No convolution is a negative control "
            "here: at 64 bp the pair (44 bp) fits the conv's 61 and the CNN's 58 positions (the conv "
            "reached 0.62 with distance 32 and 0.66 with distance 44, one seed)",
        ),
        Calibration(
            "D6",
            150,
            {"gap1": 8, "gap2": 14},
            positive=(
                Control(
                    "cnn", "solves", "at 150 bp the two modules mostly lie within the 58-bp receptive field"
                ),
            ),
            negative=(Control("kmer", "fails", _KMER_SAME),),
            test_long=(LongTest("D6@1000", 1000),),
            steps=3000,
            patience=800,
            note="trained at 150 bp, where the modules are close; at 1000 bp module order is a "
            "long-range relation (the CNN reached 0.66 when trained at 300 bp)",
        ),
        Calibration(
            "D7",
            300,
            {"noise": 0.2},
            positive=(Control("cnn", "solves", "occupancy is a sum of PWM-like detections plus a product"),),
            negative=(
                Control("gc", "fails", "decoys match composition; GC carries no occupancy", max_best=0.3),
            ),
            test_long=(LongTest("D7@2000", 2000),),
            n_train=12000,
            steps=3000,
            patience=800,
            note="regression: Pearson r; noise of 0.2 × the signal's sd caps r at 1/√1.04 ≈ 0.98 "
            "(at the level's default 0.3, cap 0.96, the CNN reached r 0.8997 ± 0.0004 over 3 seeds "
            "in 3000 steps; with 4000 rows it plateaued at 0.85–0.86)",
        ),
    )
}


def calibration_for(level: str) -> Calibration:
    """The calibration of ``level`` (an unknown level lists the calibrated ones)."""
    import archlab.dna.grammar  # noqa: F401  (registers the levels)
    from archlab.dna.grammar import get_level

    name = get_level(level).name
    if name not in CALIBRATION:
        raise ConfigError("level", f"level {name} has no calibration", ", ".join(CALIBRATION))
    return CALIBRATION[name]


def parse_levels(text: str) -> list[str]:
    """``D0,D2`` or ``all`` → level names (unknown names list the valid ones)."""
    if text.strip().lower() == "all":
        return list(CALIBRATION)
    return [calibration_for(x.strip()).level for x in text.split(",") if x.strip()]


def quick_calibration(cal: Calibration) -> Calibration:
    """The smoke-test form (``--quick``): small sets, a few steps, and one test-long set at twice
    the training length; its figures are not measurements of the level, only a check that the
    machinery runs."""
    length = min(cal.length, 200)
    return replace(
        cal, length=length, n_train=200, n_valid=50, n_test=100, steps=20, eval_every=10, patience=20,
        max_time_s=60.0, test_long=(LongTest(f"{cal.level}@{2 * length}", 2 * length, n=40),),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# one cell


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_") or "x"


def _stored(path: Path, key: str) -> dict[str, Any] | None:
    """The finished record at ``path`` if it was made with the same settings (``cell_key``);
    None when it is missing, unreadable, unfinished or made otherwise (then the run is redone)."""
    if not path.is_file():
        return None
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if old.get("cell_key") == key and old.get("status") in ("ok", "timeout"):
        return dict(old)
    return None


def _cell_key(cal: Calibration, arch: Architecture, seed: int) -> str:
    blob = json.dumps([_cal_dict(cal), arch.config(), arch.lr, seed], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _cal_dict(cal: Calibration) -> dict[str, Any]:
    from dataclasses import asdict

    d = asdict(cal)
    d.pop("positive")
    d.pop("negative")
    d.pop("note")
    return d


def _task(cal: Calibration) -> Any:
    from archlab.dna.tasks import DnaTaskSpec

    return DnaTaskSpec(
        level=cal.level, length=cal.length, n_train=cal.n_train, n_valid=cal.n_valid, n_test=cal.n_test,
        params=dict(cal.params),
    )  # fmt: skip


def _metric(cal: Calibration) -> str:
    from archlab.dna.grammar import get_level

    return "pearson" if get_level(cal.level).task == "regression" else "auroc"


def long_test_sets(cal: Calibration, data_seed: int = 0) -> list[tuple[str, Split, dict[str, Any]]]:
    """The level's test-long splits, each from its own seed stream (disjoint from training)."""
    from archlab.dna.grammar import get_level

    level = get_level(cal.level)
    out = []
    for i, t in enumerate(cal.test_long):
        params = {**cal.params, **t.params}
        rng = np.random.default_rng([data_seed, 100 + i, 0x1ADDE5])
        split = level.sample(rng, t.n, t.length, **params)
        out.append((t.name, split, {"length": t.length, "params": dict(t.params)}))
    return out


def run_cell(
    cal: Calibration,
    arch: Architecture,
    seed: int,
    *,
    out_dir: str | Path | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Train (or fit) ``arch`` on the calibrated level with ``seed``; the record, with test-long
    scores. A record already in ``out_dir`` with the same settings is returned as it is."""
    path = None
    key = _cell_key(cal, arch, seed)
    if out_dir is not None:
        path = _cell_path(out_dir, cal, arch, seed)
        old = _stored(path, key)
        if old is not None:
            return old
    from archlab.dna.tasks import build_dataset

    ds = build_dataset(_task(cal))
    start = time.perf_counter()
    if isinstance(arch.spec, str):
        rec = _fit_linear(ds, arch.spec, long_test_sets(cal))
    else:
        from archlab.dna.train import train_dna

        rec = train_dna(
            ds, arch.spec, seed=seed, steps=cal.steps, batch=cal.batch, lr=arch.lr,
            eval_every=cal.eval_every, patience=cal.patience, max_time_s=cal.max_time_s,
            test_long=long_test_sets(cal), device=device,
        )  # fmt: skip
        rec.pop("curve", None)
    rec.update(
        level_calibration=_cal_dict(cal), architecture=arch.label, cell_key=key,
        cell_wall_time_s=time.perf_counter() - start,
    )  # fmt: skip
    rec.setdefault("seed", seed)
    if path is not None:
        write_json_atomic(path, rec)
    return rec


def _fit_linear(
    ds: Any, which: str, long_sets: Sequence[tuple[str, Split, dict[str, Any]]] = ()
) -> dict[str, Any]:
    """A GC or k-mer baseline as a ladder record (deterministic: the same for every seed), with
    ``long_sets`` scored by the same fit procedure."""
    from dataclasses import replace as dc_replace

    from archlab.dna.linear import fit_gc, fit_kmer
    from archlab.dna.train import level_info

    fit = fit_gc if which == "gc" else fit_kmer
    res = fit(ds)
    metric = ds.metric
    rec: dict[str, Any] = {
        "dataset": ds.name, "task": ds.task, "model": {"kind": which, "config": {}}, "metric": metric,
        "test": {metric: res.get(metric)}, "status": "ok", "stopped_by": "fit", "warnings": [],
        "constant_output": False, "details": {k: v for k, v in res.items() if np.isscalar(v)},
    }  # fmt: skip
    info = level_info(ds)
    if info is not None:
        rec["level"] = info
    longs = []
    for name, split, meta in long_sets:
        other = dc_replace(ds, splits={**ds.splits, "test": split})
        longs.append({"name": name, **meta, "metric": metric, "n": len(split),
                      "value": fit(other).get(metric), "status": "ok"})  # fmt: skip
    rec["test_long"] = longs
    return rec


# ---------------------------------------------------------------------------------------------
# many cells, in parallel


def _worker_init() -> None:
    import torch

    torch.set_num_threads(THREADS_PER_WORKER)


def _cell_path(out_dir: str | Path, cal: Calibration, arch: Architecture, seed: int) -> Path:
    return Path(out_dir) / "runs" / _slug(cal.level) / _slug(arch.label) / f"seed_{seed}" / "result.json"


def finished(cal: Calibration, arch: Architecture, seed: int, out_dir: str | Path) -> bool:
    """Whether ``out_dir`` holds a finished run of this cell with the same settings."""
    return _stored(_cell_path(out_dir, cal, arch, seed), _cell_key(cal, arch, seed)) is not None


def _job(args: tuple[Calibration, str, int, str | None, str]) -> dict[str, Any]:
    cal, label, seed, out_dir, device = args
    return run_cell(cal, get_architecture(label), seed, out_dir=out_dir, device=device)


def _map(
    fn: Callable[[Any], dict[str, Any]],
    args: Sequence[Any],
    workers: int,
    on_done: Callable[[dict[str, Any], int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """``[fn(a) for a in args]``, in ``workers`` spawned processes of one torch thread each when
    ``workers > 1``; ``on_done(record, done, total)`` as each finishes. Results in ``args`` order."""
    results: list[dict[str, Any] | None] = [None] * len(args)
    if workers <= 1:
        for i, a in enumerate(args):
            results[i] = fn(a)
            if on_done:
                on_done(results[i] or {}, i + 1, len(args))
    else:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init) as pool:
            futures = {pool.submit(fn, a): i for i, a in enumerate(args)}
            for done, fut in enumerate(as_completed(futures), 1):
                i = futures[fut]
                results[i] = fut.result()
                if on_done:
                    on_done(results[i] or {}, done, len(args))
    return [r for r in results if r is not None]


def run_cells(
    jobs: Sequence[tuple[Calibration, str, int]],
    *,
    out_dir: str | Path | None,
    workers: int = 1,
    device: str = "auto",
    on_done: Callable[[dict[str, Any], int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every ``(calibration, architecture label, seed)``; records in the order given."""
    args = [
        (cal, label, seed, None if out_dir is None else str(out_dir), device) for cal, label, seed in jobs
    ]
    return _map(_job, args, workers, on_done)


def _value(rec: dict[str, Any]) -> float:
    v = rec.get("test", {}).get(rec.get("metric", ""), math.nan)
    return float(v) if v is not None else math.nan


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean, sample sd, best and n of the test metric over one cell's seeds (NaN-free), and the
    same for every test-long set."""
    values = [_value(r) for r in records]
    finite = [v for v in values if math.isfinite(v)]
    mean, sd, n = mean_sd(values) if values else (math.nan, math.nan, 0)  # a cell not run
    longs: dict[str, dict[str, Any]] = {}
    for r in records:
        for t in r.get("test_long", []):
            longs.setdefault(t["name"], {"values": [], "length": t.get("length")})["values"].append(
                math.nan if t.get("value") is None else float(t["value"])
            )
    for entry in longs.values():
        m, s, k = mean_sd(entry["values"])
        ok = [v for v in entry["values"] if math.isfinite(v)]
        entry.update(mean=m, sd=s, n=k, best=max(ok) if ok else math.nan)
    return {
        "values": values, "mean": mean, "sd": sd, "n": n, "best": max(finite) if finite else math.nan,
        "constant_outputs": sum(bool(r.get("constant_output")) for r in records),
        "statuses": [r.get("status") for r in records],
        "wall_time_s": [r.get("cell_wall_time_s") or r.get("wall_time_s") for r in records],
        "test_long": longs,
    }  # fmt: skip


def _seeds_for(arch: Architecture, seeds: Sequence[int]) -> list[int]:
    return list(seeds) if arch.trained else list(seeds)[:1]  # a linear fit is deterministic


# ---------------------------------------------------------------------------------------------
# calibrate


def calibrate(
    levels: Sequence[str],
    *,
    seeds: Sequence[int] = (0, 1, 2),
    quick: bool = False,
    out_dir: str | Path | None = None,
    workers: int = 1,
    device: str = "auto",
    on_done: Callable[[dict[str, Any], int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Every control of every level: rows ``{"level", "control", "architecture", "expected",
    "metric", "mean", "best", "seeds", "passed", "values", "why", "test_long"}``.

    A positive control passes when its mean over seeds is ≥ :data:`SOLVED` and no run's output
    is constant; a negative one when its best seed is ≤ the control's ``max_best``.
    """
    cals = [calibration_for(x) for x in levels]
    if quick:
        cals = [quick_calibration(c) for c in cals]
    jobs: list[tuple[Calibration, str, int]] = []
    for cal in cals:
        for _, ctl in cal.controls():
            arch = get_architecture(ctl.architecture)
            jobs.extend(
                (cal, arch.label, s) for s in _seeds_for(arch, seeds) if (cal, arch.label, s) not in jobs
            )
    records = run_cells(jobs, out_dir=out_dir, workers=workers, device=device, on_done=on_done)
    by_cell: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for (cal, label, _), rec in zip(jobs, records, strict=True):
        by_cell.setdefault((cal.level, label), []).append(rec)
    rows = []
    for cal in cals:
        for kind, ctl in cal.controls():
            recs = by_cell[(cal.level, ctl.architecture)]
            s = summarise(recs)
            if ctl.expected == "solves":
                passed = math.isfinite(s["mean"]) and s["mean"] >= SOLVED and s["constant_outputs"] == 0
            else:
                passed = math.isfinite(s["best"]) and s["best"] <= ctl.max_best
            rows.append(
                {
                    "level": cal.level,
                    "control": kind,
                    "architecture": ctl.architecture,
                    "expected": ctl.expected,
                    "metric": recs[0].get("metric"),
                    "mean": s["mean"],
                    "best": s["best"],
                    "seeds": [r.get("seed") for r in recs],
                    "passed": bool(passed),
                    "values": s["values"],
                    "sd": s["sd"],
                    "threshold": SOLVED if ctl.expected == "solves" else ctl.max_best,
                    "why": ctl.why,
                    "test_long": s["test_long"],
                    "quick": quick,
                    "wall_time_s": s["wall_time_s"],
                }
            )
    if out_dir is not None:
        write_json_atomic(Path(out_dir) / "calibration.json", rows)
    return rows


# ---------------------------------------------------------------------------------------------
# the ladder table


def _theory(cal: Calibration, arch: Architecture) -> dict[str, Any]:
    """The theory verdict of (level, architecture) at the training length and at each test-long
    scale (:func:`archlab.theory.predict_level`); ``—`` for a linear baseline."""
    if isinstance(arch.spec, str):
        return {"verdict": "—", "rule": "", "reason": "linear baseline"}
    from archlab.theory import predict_level

    lengths = [cal.length, *[t.length for t in cal.test_long]]
    preds = predict_level(cal.level, arch.spec, lengths, **cal.params)
    first = preds[0]
    out: dict[str, Any] = {"verdict": first.verdict, "rule": first.rule, "reason": first.reason}
    out["test_long"] = {
        t.name: {"verdict": p.verdict, "rule": p.rule} for t, p in zip(cal.test_long, preds[1:], strict=False)
    }
    return out


def ladder(
    levels: Sequence[str],
    architectures: Sequence[str] | None = None,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    quick: bool = False,
    out_dir: str | Path | None = None,
    workers: int = 1,
    device: str = "auto",
    on_done: Callable[[dict[str, Any], int, int], None] | None = None,
    reuse_only: bool = False,
) -> dict[str, Any]:
    """Every architecture on every level: ``{"levels", "architectures", "seeds", "quick",
    "cells": [{"level", "architecture", "metric", "mean", "sd", "best", "n", "values",
    "test_long", "theory", "winner"}], "winners": {level: [architectures]}, "wall_time_s"}``,
    written to ``out_dir/ladder.json``. With ``reuse_only`` nothing is trained: the table is
    built from the finished runs in ``out_dir``, and a cell without them says it was not run."""
    start = time.perf_counter()
    labels = list(architectures) if architectures else list(ARCHITECTURES)
    archs = [get_architecture(a) for a in labels]
    cals = [calibration_for(x) for x in levels]
    if quick:
        cals = [quick_calibration(c) for c in cals]
    if reuse_only and out_dir is None:
        raise ConfigError("reuse_only", "needs out_dir: the finished runs are read from there")
    jobs = [
        (cal, a.label, s)
        for cal in cals
        for a in archs
        if a.runs_at(cal.length)
        for s in _seeds_for(a, seeds)
        if not reuse_only or finished(cal, a, s, cast(Path, out_dir))
    ]
    records = run_cells(jobs, out_dir=out_dir, workers=workers, device=device, on_done=on_done)
    by_cell: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for (cal, label, _), rec in zip(jobs, records, strict=True):
        by_cell.setdefault((cal.level, label), []).append(rec)
    cells = []
    winners: dict[str, list[str]] = {}
    for cal in cals:
        means: dict[str, float] = {}
        metric = _metric(cal)
        for a in archs:
            recs = by_cell.get((cal.level, a.label), [])
            s = summarise(recs)
            cell = {
                "level": cal.level,
                "architecture": a.label,
                "metric": metric,
                **s,
                "theory": _theory(cal, a),
            }
            if a.skip_reason(cal.length):
                cell["skipped"] = a.skip_reason(cal.length)
            elif not recs:
                cell["skipped"] = "not run: no finished run in the output folder (reuse_only)"
            cells.append(cell)
            if a.trained and math.isfinite(s["mean"]):
                means[a.label] = s["mean"]
        top = max(means.values(), default=math.nan)
        # a level nobody solves has no winner: ranking chance-level scores ranks noise
        winners[cal.level] = [a for a, m in means.items() if m >= top - TIE] if top >= SOLVED else []
    for c in cells:
        c["winner"] = c["architecture"] in winners.get(c["level"], [])
    result = {
        "levels": [c.level for c in cals], "architectures": labels, "seeds": list(seeds), "quick": quick,
        "calibration": {c.level: _cal_dict(c) for c in cals}, "cells": cells, "winners": winners,
        "wall_time_s": time.perf_counter() - start, "workers": workers, "cpu_count": os.cpu_count(),
        "reuse_only": reuse_only,
    }  # fmt: skip
    if out_dir is not None:
        write_json_atomic(Path(out_dir) / "ladder.json", result)
    return result


# ---------------------------------------------------------------------------------------------
# the table as markdown (README)

_GLYPH = {"expressible": "✓", "impossible": "✗", "unknown": "?", "—": ""}


def _num(x: float | None, digits: int = 2) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _cell_text(cell: dict[str, Any]) -> str:
    glyph = _GLYPH.get(cell["theory"].get("verdict", ""), "?")
    rule = cell["theory"].get("rule") or ""
    rule = "" if rule == "—" else rule
    theory = f" {glyph}{rule}" if glyph else ""
    if cell["n"] == 0:
        return f"–{theory}"
    spread = f" ± {_num(cell['sd'])}" if cell["n"] > 1 else ""
    best = f" ({_num(cell['best'])})" if cell["n"] > 1 else ""
    text = f"{_num(cell['mean'])}{spread}{best}{theory}"
    if cell.get("constant_outputs"):
        text += " c"
    return f"**{text}**" if cell.get("winner") else text


def ladder_markdown(result: dict[str, Any]) -> str:
    """Two markdown tables: test metric per (level, architecture) — mean ± sd (best of n),
    the theory verdict (✓ expressible, ✗ impossible, ? unknown, with the deciding rule), the
    winner among the trained architectures in bold, ``c`` for a constant output — and the
    test-long means."""
    archs = result["architectures"]
    cells = {(c["level"], c["architecture"]): c for c in result["cells"]}
    n_seeds = len(result["seeds"])
    lines = [
        "| level | " + " | ".join(archs) + " |",
        "|---" * (len(archs) + 1) + "|",
    ]
    for level in result["levels"]:
        cal = result["calibration"][level]
        metric = cells[(level, archs[0])]["metric"]
        head = f"{level} ({cal['length']} bp, {'r' if metric == 'pearson' else metric})"
        lines.append(f"| {head} | " + " | ".join(_cell_text(cells[(level, a)]) for a in archs) + " |")
    wins = "; ".join(
        f"{lv} {', '.join(w) or 'none (no architecture solves it)'}" for lv, w in result["winners"].items()
    )
    lines += [
        "",
        f"Winners (trained architectures within {TIE} of the best mean, when it is ≥ {SOLVED}): {wins}.",
    ]
    lines += ["", f"Test-long (mean over {n_seeds} seed(s), weights selected at the training scale):", ""]
    lines.append("| test set | " + " | ".join(archs) + " |")
    lines.append("|---" * (len(archs) + 1) + "|")
    for level in result["levels"]:
        names: list[str] = []
        for a in archs:
            for name in cells[(level, a)]["test_long"]:
                if name not in names:
                    names.append(name)
        for name in names:
            row = []
            for a in archs:
                t = cells[(level, a)]["test_long"].get(name)
                row.append(_num(t["mean"]) if t else "–")
            lines.append(f"| {name} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# transfer: do the ladder's rankings predict the rankings on real data?

#: how the ladder architectures are trained on a real set (early stop on its validation split)
REAL_BUDGET: dict[str, Any] = {"epochs": 15, "eval_every": 50, "patience": 300, "max_time_s": 300.0}


def run_real_cell(
    dataset: str,
    arch: Architecture,
    seed: int,
    *,
    out_dir: str | Path | None = None,
    data_dir: str | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Train (or fit) ``arch`` on a real set with :data:`REAL_BUDGET`; reused from ``out_dir``
    (``runs/real/<set>/<architecture>/seed_<s>/result.json``) when the settings match."""
    from archlab.dna.tasks import DnaTaskSpec, build_dataset, task_label

    task = DnaTaskSpec(dataset=dataset)
    name = task_label(task)
    key = hashlib.sha1(
        json.dumps([name, arch.config(), arch.lr, seed, REAL_BUDGET], sort_keys=True).encode()
    ).hexdigest()[:12]
    path = None
    if out_dir is not None:
        path = (
            Path(out_dir) / "runs" / "real" / _slug(name) / _slug(arch.label) / f"seed_{seed}" / "result.json"
        )
        old = _stored(path, key)
        if old is not None:
            return old
    ds = build_dataset(task, data_dir)
    if isinstance(arch.spec, str):
        rec = _fit_linear(ds, arch.spec)
    else:
        from archlab.dna.train import train_dna

        rec = train_dna(ds, arch.spec, seed=seed, lr=arch.lr, device=device, **REAL_BUDGET)
        rec.pop("curve", None)
    rec.update(architecture=arch.label, cell_key=key, real_set=name)
    rec.setdefault("seed", seed)
    if path is not None:
        write_json_atomic(path, rec)
    return rec


def _real_job(args: tuple[str, str, int, str | None, str | None, str]) -> dict[str, Any]:
    dataset, label, seed, out_dir, data_dir, device = args
    return run_real_cell(
        dataset, get_architecture(label), seed, out_dir=out_dir, data_dir=data_dir, device=device
    )


def ladder_transfer(
    levels: Sequence[str],
    real: Sequence[str],
    architectures: Sequence[str] | None = None,
    *,
    seeds: Sequence[int] = (0,),
    out_dir: str | Path | None = None,
    data_dir: str | None = None,
    workers: int = 1,
    device: str = "auto",
    on_done: Callable[[dict[str, Any], int, int], None] | None = None,
) -> dict[str, Any]:
    """The ladder's architectures on its calibrated levels (runs shared with :func:`ladder` in
    ``out_dir``) and on real sets; Spearman ρ of the rankings per (level, real set) with exact
    p-values, bootstrap intervals over seeds and refusals of at-chance tasks
    (:func:`archlab.dna.transfer.rank_tasks`). Written to ``out_dir/transfer.json``."""
    from archlab.dna.tasks import DnaTaskSpec, build_dataset, task_label
    from archlab.dna.transfer import rank_tasks

    start = time.perf_counter()
    default = [a for a, arch in ARCHITECTURES.items() if arch.max_length is None]
    labels = [get_architecture(a).label for a in (architectures or default)]
    short = [a for a in labels if get_architecture(a).max_length is not None]
    if short:
        raise ConfigError(
            "architectures",
            f"{', '.join(short)} run only on short levels (max_length), but transfer ranks every "
            "architecture on every level and real set",
            "leave them out",
        )
    cals = [calibration_for(x) for x in levels]
    jobs = [(cal, a, s) for cal in cals for a in labels for s in _seeds_for(get_architecture(a), seeds)]
    syn = run_cells(jobs, out_dir=out_dir, workers=workers, device=device, on_done=on_done)
    where = None if out_dir is None else str(out_dir)
    real_args = [
        (r, a, s, where, data_dir, device)
        for r in real
        for a in labels
        for s in _seeds_for(get_architecture(a), seeds)
    ]
    real_recs = _map(_real_job, real_args, workers, on_done)
    table: dict[str, dict[str, dict[str, Any]]] = {a: {} for a in labels}
    metrics: dict[str, str] = {}
    test_y: dict[str, Any] = {}
    groups: dict[tuple[str, str], list[float]] = {}
    for (cal, a, _), rec in zip(jobs, syn, strict=True):
        groups.setdefault((cal.level, a), []).append(_value(rec))
    for cal in cals:
        ds = build_dataset(_task(cal))
        metrics[cal.level], test_y[cal.level] = ds.metric, ds.splits["test"].y
    real_names = [task_label(DnaTaskSpec(dataset=r)) for r in real]
    for (r, a, _, *_), rec in zip(real_args, real_recs, strict=True):
        groups.setdefault((task_label(DnaTaskSpec(dataset=r)), a), []).append(_value(rec))
    for r, name in zip(real, real_names, strict=True):
        ds = build_dataset(DnaTaskSpec(dataset=r), data_dir)
        metrics[name], test_y[name] = ds.metric, ds.splits["test"].y
    for (task, a), values in groups.items():
        mean, sd, n = mean_sd(values)
        table[a][task] = {"mean": mean, "sd": sd, "n": n, "values": values}
    result = rank_tasks(table, metrics, test_y, [c.level for c in cals], real_names, seeds=seeds)
    result["wall_time_s"] = time.perf_counter() - start
    result["real_budget"] = REAL_BUDGET
    if out_dir is not None:
        write_json_atomic(Path(out_dir) / "transfer.json", result)
    return result
