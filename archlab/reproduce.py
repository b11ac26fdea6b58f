"""The reproduction matrix: published expressivity verdicts, rerun at CPU scale.

Each **row** is one published contrast (THEORY.md §1): a probe, a training protocol, and a few
**cases** — an architecture with the verdict the literature expects (``solves`` or ``fails``
length generalisation). Every case is trained with :func:`archlab.train.train_run` for each seed,
and its **measured** value is the mean over the test lengths *longer than any training length*
of the scaled token accuracy (1 = perfect, 0 = chance; see :mod:`archlab.train`). A case
*solves* when that mean is at least :data:`SOLVED` (0.9); ``agrees`` compares the seed mean with
the expected verdict, and ``verdict`` names a disagreement: ``not-learned`` (expected to solve,
did not within the budget: expressible but not found by training, not a theory violation) or
``violation`` (expected to fail, solved: contradicts a theorem, so suspect the probe first).

A "fails" verdict is only evidence when the row's "solves" cases succeed with the same budget:
``conclusive`` is false for a "fails" case in a row where no expected-success case succeeded (the
budget may simply be too small), and the table says so. Nothing is tuned per verdict: every case of
a row shares the probe, lengths, steps, batch and learning rate; only the architecture differs.

``quick`` runs rows 1–3 with one seed and small budgets (minutes on 2 CPU cores); the full run
adds rows 4–7 and uses ≥ 3 seeds.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import statistics
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archlab.atomic import atomic_write, write_json_atomic
from archlab.config import ModelConfig, TrainConfig
from archlab.ensemble import train_cell
from archlab.probes import make_probe
from archlab.train import finished_record, run_id

__all__ = ["ROWS", "SOLVED", "Case", "Row", "run_matrix", "summarise"]

#: mean scaled accuracy on the lengths beyond training that counts as "solves"
SOLVED = 0.9


@dataclass(frozen=True)
class Case:
    """One architecture in a row and the verdict the literature expects for it."""

    label: str
    model: dict[str, Any]
    expected: str  # "solves" | "fails"
    rule: str = ""  # THEORY.md rule id


@dataclass(frozen=True)
class Row:
    """One published contrast: a probe, a shared training protocol, and its cases."""

    id: str
    title: str
    source: str
    probe: str
    cases: tuple[Case, ...]
    train: dict[str, Any]
    probe_params: dict[str, Any] = field(default_factory=dict)
    quick_train: dict[str, Any] = field(default_factory=dict)
    in_quick: bool = False
    #: cases run in quick mode (labels); empty = all
    quick_cases: tuple[str, ...] = ()


def _diag(eig: str, **kw: Any) -> dict[str, Any]:
    return {"mixer": "diag_rnn", "eig_range": eig, **kw}


def _fp(cap: int) -> dict[str, Any]:
    """Fixed-point diag RNN with the shifted state dependence, trained at ``cap`` iterations with
    gradients through all of them, evaluated with up to 64 (the longest test length)."""
    return _diag("signed", fp_iters=cap, fp_tol=0.01, fp_shift=True, fp_grad="all", fp_eval_iters=64, **_W64)


def _hh(n_h: int, eig: str, **kw: Any) -> dict[str, Any]:
    return {"mixer": "householder", "householder_factors": n_h, "eig_range": eig, "heads": 4, **kw}


#: Grazzi et al. protocol (train 1–40, test beyond), CPU-sized: width 32, 2 layers. The whole
#: budget is trained (no early stop): these rows test up to 6.4× the training length, and a model
#: stopped as soon as it fits lengths ≤ 40 measures how far a barely-fitted model extrapolates
#: (Dyck: LSTM 0.90 vs transformer 0.88 with early stopping, 0.95 vs 0.64 without, one seed)
_FORMAL = {
    "batch": 64, "lr": 1e-2, "eval_every": 50, "train_lengths": {"min": 1, "max": 40},
    "test_lengths": [41, 64, 128, 256], "val_batch": 128, "eval_batch": 128, "early_stop": False,
}  # fmt: skip
#: Merrill et al. protocol (train at 16, test longer) with a short-to-long range for CPU budgets
_GROUPS = {
    "batch": 64, "lr": 3e-3, "steps": 2000, "eval_every": 100, "train_lengths": {"min": 2, "max": 16},
    "test_lengths": [16, 24, 32, 64], "val_batch": 128, "eval_batch": 128,
}  # fmt: skip
_W32 = {"width": 32, "layers": 2}
_W64 = {"width": 64, "layers": 1}
#: the word problems use the group's generators as tokens: the same NC1-complete problem for A5
#: and S5 (any element is a word of bounded length in the generators), learnable in CPU budgets
_GEN = {"generators": "generators"}

ROWS: tuple[Row, ...] = (
    Row(
        id="1",
        title="parity: negative eigenvalues unlock it, LSTM solves it, a transformer does not generalise",
        source="Grazzi et al. ICLR 2025 Thm 1 + §4; Sarrof et al. 2024; Delétang et al. ICLR 2023",
        probe="parity",
        train={**_FORMAL, "steps": 800},
        quick_train={"steps": 600},
        in_quick=True,
        cases=(
            Case("diag_rnn eig [0,1]", _diag("unit", **_W32), "fails", "R1"),
            Case("diag_rnn eig [-1,1]", _diag("signed", **_W32), "solves", "R2"),
            Case("lstm", {"mixer": "lstm", **_W32}, "solves", "R9"),
            Case("transformer (RoPE)", {"mixer": "attention", "pos_enc": "rope", **_W32}, "fails", "R16"),
        ),
    ),
    Row(
        id="2",
        title="counting mod 3 (Z3): real eigenvalues cannot, complex (rotations) can",
        source="Grazzi et al. ICLR 2025 Thms 2–3",
        probe="Z3",
        train={**_FORMAL, "steps": 1000},
        quick_train={"steps": 800},
        in_quick=True,
        cases=(
            Case("diag_rnn eig [0,1]", _diag("unit", **_W32), "fails", "R1/R3"),
            Case("diag_rnn eig [-1,1]", _diag("signed", **_W32), "fails", "R3"),
            Case("diag_rnn complex", _diag("complex", **_W32), "solves", "R4"),
        ),
    ),
    Row(
        id="3-A5",
        title="A5 (non-solvable): diagonal fails; LSTM, dense RNN, Householder n_h=2 [-1,1] solve; "
        "[0,1] fails",
        source="Merrill et al. ICML 2024 Cor 4.7, Thms 5.1–5.2; Grazzi et al. Thm 3; DeltaProduct 2025",
        probe="A5",
        probe_params=_GEN,
        train=_GROUPS,
        in_quick=True,
        quick_cases=(
            "diag_rnn complex",
            "lstm",
            "dense_rnn",
            "householder n_h=2 [-1,1]",
            "householder n_h=2 [0,1]",
        ),
        cases=(
            Case("diag_rnn complex", _diag("complex", width=64, layers=2), "fails", "R7"),
            Case("lstm", {"mixer": "lstm", "width": 128, "layers": 1}, "solves", "R9"),
            Case("dense_rnn", {"mixer": "dense_rnn", "state_size": 16, **_W64}, "solves", "R9"),
            Case("householder n_h=2 [-1,1]", _hh(2, "signed", **_W64), "solves", "R5"),
            Case("householder n_h=2 [0,1]", _hh(2, "unit", **_W64), "fails", "R6"),
        ),
    ),
    Row(
        id="3-S5",
        title="S5: Householder n_h=2 is not enough, n_h=4 is; LSTM and dense RNN solve; diagonal fails",
        source="Grazzi et al. Thm 3; DeltaProduct (Siems et al. 2025); Merrill et al. 2024",
        probe="S5",
        probe_params=_GEN,
        train=_GROUPS,
        in_quick=True,
        quick_cases=("lstm", "dense_rnn", "householder n_h=2 [-1,1]", "householder n_h=4 [-1,1]"),
        cases=(
            Case("diag_rnn complex", _diag("complex", width=64, layers=2), "fails", "R7"),
            Case("lstm", {"mixer": "lstm", "width": 128, "layers": 1}, "solves", "R9"),
            Case("dense_rnn", {"mixer": "dense_rnn", "state_size": 16, **_W64}, "solves", "R9"),
            Case("householder n_h=2 [-1,1]", _hh(2, "signed", **_W64), "fails", "R5"),
            Case("householder n_h=4 [-1,1]", _hh(4, "signed", **_W64), "solves", "R5"),
            Case("householder n_h=4 [0,1]", _hh(4, "unit", **_W64), "fails", "empirical (R6: n_h ≤ 2)"),
        ),
    ),
    Row(
        id="3-Z60",
        title="Z60 (abelian): a complex diagonal RNN solves it",
        source="Grazzi et al. Thm 3 (R4); Merrill et al. 2024",
        probe="Z60",
        # all elements as tokens: Z60's generating set is one 60-cycle, and with it alone the
        # label is a function of the position, with classes beyond the training lengths never seen
        train=_GROUPS,
        cases=(
            Case("diag_rnn complex", _diag("complex", width=64, layers=2), "solves", "R4"),
            Case("lstm", {"mixer": "lstm", "width": 128, "layers": 1}, "solves", "R9"),
        ),
    ),
    Row(
        id="3-A4xZ5",
        title="A4xZ5 (solvable, non-abelian): fixed-depth diagonal fails at length, LSTM solves",
        source="Merrill et al. ICML 2024 Fig. 3 (empirical, R8)",
        probe="A4xZ5",
        probe_params=_GEN,
        train=_GROUPS,
        cases=(
            Case("diag_rnn complex", _diag("complex", width=64, layers=2), "fails", "R8 (empirical)"),
            Case("lstm", {"mixer": "lstm", "width": 128, "layers": 1}, "solves", "R9"),
        ),
    ),
    Row(
        id="4",
        title="fixed-point RNN on A5: a larger iteration cap generalises further; a tiny cap does not",
        source="Movahedi et al. NeurIPS 2025 (R10)",
        probe="A5",
        probe_params=_GEN,
        train=_GROUPS,
        cases=(
            Case("diag_rnn fp cap 2", _fp(2), "fails", "R10 (empirical)"),
            Case("diag_rnn fp cap 4", _fp(4), "fails", "R10 (empirical)"),
            Case("diag_rnn fp cap 16", _fp(16), "solves", "R10 (empirical)"),
        ),
    ),
    Row(
        id="5",
        title="copy: attention copies longer strings than trained; a small fixed state cannot",
        source="Jelassi et al. ICML 2024 (R13)",
        probe="copy",
        probe_params={"alphabet": 8},
        train={
            **_FORMAL,
            "steps": 2000,
            "lr": 3e-3,
            "train_lengths": {"min": 4, "max": 20},
            "test_lengths": [24, 32, 40],
        },
        cases=(
            Case(
                "transformer (ALiBi)",
                {"mixer": "attention", "pos_enc": "alibi", "width": 64, "layers": 2},
                "solves",
                "R13",
            ),
            Case("diag_rnn 16 floats", _diag("complex", width=64, layers=2, state_size=8), "fails", "R13"),
        ),
    ),
    Row(
        id="6",
        title="MQAR: attention recalls at small width; a recurrent state too small for the pairs fails",
        source="Arora et al. (Zoology 2023, Based 2024) (R14)",
        probe="mqar",
        probe_params={"vocab": 64, "n_pairs": 16},
        train={**_FORMAL, "steps": 2000, "lr": 3e-3, "train_lengths": [96], "test_lengths": [96]},
        cases=(
            Case(
                "attention",
                {"mixer": "attention", "pos_enc": "rope", "width": 64, "layers": 2},
                "solves",
                "R14",
            ),
            Case("diag_rnn 8 floats", _diag("signed", width=64, layers=2, state_size=8), "fails", "R14"),
        ),
    ),
    Row(
        id="7",
        title="Dyck (balanced?): the LSTM generalises, the transformer does not",
        source="Delétang et al. ICLR 2023 (R15/R16, empirical)",
        probe="dyck",
        train={**_FORMAL, "steps": 2000, "lr": 3e-3},
        cases=(
            Case("lstm", {"mixer": "lstm", **_W32}, "solves", "R15"),
            Case("transformer (RoPE)", {"mixer": "attention", "pos_enc": "rope", **_W32}, "fails", "R16"),
        ),
    ),
)


def _case_train(row: Row, quick: bool, seed: int, lr: float | None = None) -> TrainConfig:
    data = {**row.train, **(row.quick_train if quick else {}), "seed": seed}
    if lr is not None:  # a point of the lr grid (``run_matrix(lrs=…)``) replaces the row's lr
        data["lr"] = lr
    return TrainConfig(**data)


def measured_value(record: dict[str, Any], train_max: int, metric: str = "scaled_acc") -> float | None:
    """Mean ``metric`` (scaled accuracy by default) over the test lengths longer than
    ``train_max`` — or over every test length when none is longer (MQAR: recall at the trained
    length). None: no evaluation."""
    evals = record.get("range_eval") or []
    rows = [r for r in evals if r["length"] > train_max] or evals
    if not rows:
        return None
    return statistics.fmean(float(r[metric]) for r in rows)


def _case_run_dir(
    row: Row, case: Case, seed: int, quick: bool, out_dir: str | Path | None, lr: float | None = None
) -> Path | None:
    if out_dir is None:
        return None
    probe = make_probe(row.probe, **row.probe_params)
    tcfg = _case_train(row, quick, seed, lr)
    return Path(out_dir) / "runs" / run_id(probe, ModelConfig(**case.model), tcfg)


@dataclass(frozen=True)
class _Job:
    """One (row, case, seed, lr) training run and the folder its record goes to (None: not
    saved); ``lr`` None is the row's own learning rate."""

    row: Row
    case: Case
    seed: int
    run_dir: Path | None
    lr: float | None = None

    @property
    def key(self) -> tuple[str, str, int, float | None]:
        return (self.row.id, self.case.label, self.seed, self.lr)


def _run_unit(unit: list[_Job], quick: bool, hook: Any = None) -> list[dict[str, Any]]:
    """Train a unit of work: one job, or (``stacked``) a case's jobs as one stacked cell."""
    row, case = unit[0].row, unit[0].case
    probe = make_probe(row.probe, **row.probe_params)
    cfgs = [_case_train(row, quick, j.seed, j.lr) for j in unit]
    return train_cell(
        probe, ModelConfig(**case.model), cfgs, out_dirs=[j.run_dir for j in unit], progress=hook
    )  # fmt: skip


def _worker_unit(unit: list[_Job], quick: bool, threads: int) -> list[dict[str, Any]]:
    """One unit of work in a worker process (``run_matrix(workers > 1)``)."""
    import torch

    torch.set_num_threads(threads)
    return _run_unit(unit, quick)


def run_matrix(
    rows: tuple[Row, ...] | list[Row],
    seeds: list[int],
    quick: bool,
    out_dir: str | Path | None = None,
    on_case: Callable[[Row, Case, int, dict[str, Any]], None] | None = None,
    progress_factory: Callable[[str, int], Any] | None = None,
    workers: int = 1,
    resume: bool = True,
    lrs: list[float] | None = None,
    stacked: bool = False,
) -> list[dict[str, Any]]:
    """Run every case of ``rows`` for every seed (and every learning rate of ``lrs``, when
    given, in place of the row's own); return one summary dict per case, classified by the best
    run over seeds × learning rates (a "fails" then means no run at any of them solved it).

    ``progress_factory(label, steps)``, if given, returns a context manager that yields the
    progress hook of one training run (sequential runs only). ``workers > 1`` trains that many
    runs at once in separate processes, ``cpu_count // workers`` torch threads each. With
    ``resume`` and an ``out_dir``, a run whose finished record is already in ``out_dir/runs``
    (same configuration and seed) is not trained again: an interrupted matrix picks up where it
    stopped. ``stacked`` trains the seeds × lrs of each case that are left to run as one
    stacked cell (:func:`archlab.ensemble.train_cell`: the same records as separate runs)."""
    cases = [
        (row, case)
        for row in rows
        for case in row.cases
        if not (quick and row.quick_cases and case.label not in row.quick_cases)
    ]
    grid: list[float | None] = list(lrs) if lrs else [None]
    jobs = [
        _Job(row, case, seed, _case_run_dir(row, case, seed, quick, out_dir, lr), lr)
        for row, case in cases
        for lr in grid
        for seed in seeds
    ]
    records: dict[tuple[str, str, int, float | None], dict[str, Any]] = {}

    def done(job: _Job, rec: dict[str, Any]) -> None:
        records[job.key] = rec
        if on_case is not None:
            on_case(job.row, job.case, job.seed, rec)

    todo: list[_Job] = []
    for job in jobs:
        old = finished_record(job.run_dir) if resume else None
        if old is not None:
            done(job, old)
        else:
            todo.append(job)
    units: list[list[_Job]] = [[j] for j in todo]
    if stacked:
        by_case: dict[tuple[str, str], list[_Job]] = {}
        for job in todo:
            by_case.setdefault((job.row.id, job.case.label), []).append(job)
        units = list(by_case.values())
    if workers <= 1 or len(units) <= 1:
        for unit in units:
            job = unit[0]
            lr_text = "" if job.lr is None else f" · lr {job.lr:g}"
            who = f"{len(unit)} runs (stacked)" if len(unit) > 1 else f"seed {job.seed}{lr_text}"
            label = f"row {job.row.id} · {job.case.label} · {who}"
            steps = _case_train(job.row, quick, job.seed, job.lr).steps
            bar = progress_factory(label, steps) if progress_factory else contextlib.nullcontext(None)
            with bar as hook:
                for j, rec in zip(unit, _run_unit(unit, quick, hook), strict=True):
                    done(j, rec)
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(_worker_unit, unit, quick, threads): unit for unit in units}
            try:
                for fut in as_completed(futures):
                    for j, rec in zip(futures[fut], fut.result(), strict=True):
                        done(j, rec)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    results: list[dict[str, Any]] = []
    for row, case in cases:
        mine = [j for j in jobs if j.row is row and j.case is case]
        runs = [(j, records[j.key]) for j in mine]
        scored = [(j, v) for j, r in runs if (v := measured_value(r, max(r["train_lengths"]))) is not None]
        values = [v for _, v in scored]
        statuses = [r["status"] for _, r in runs]
        run_dirs = [str(j.run_dir) for j in mine if j.run_dir is not None]
        summary = _summary(row, case, values, statuses, run_dirs)
        lr_of = {j.key: (j.lr if j.lr is not None else _case_train(row, quick, j.seed).lr) for j in mine}
        summary["lrs"] = sorted({lr_of[j.key] for j in mine})
        summary["measured_per_run"] = [{"seed": j.seed, "lr": lr_of[j.key], "value": v} for j, v in scored]
        results.append(summary)
    _mark_conclusive(results)
    return results


def _summary(
    row: Row, case: Case, values: list[float], statuses: list[str], run_dirs: list[str]
) -> dict[str, Any]:
    mean = statistics.fmean(values) if values else None
    sd = statistics.stdev(values) if len(values) > 1 else 0.0 if values else None
    best = max(values) if values else None
    # best of the seeds, as the papers report (Grazzi et al.: best of 3): one run that solves
    # an "impossible" cell is a violation, and "fails" means no seed solved it
    solved = best is not None and best >= SOLVED
    return {
        "row": row.id,
        "title": row.title,
        "source": row.source,
        "probe": make_probe(row.probe, **row.probe_params).spec(),
        "case": case.label,
        "rule": case.rule,
        "model": case.model,
        "expected": case.expected,
        "metric": f"mean scaled token accuracy over test lengths beyond training (solves if >= {SOLVED})",
        "aggregation": f"best of {len(values)} run(s) (seeds × learning rates); mean ± sd beside it",
        "measured_best": best,
        "measured_mean": mean,
        "measured_sd": sd,
        "measured_per_seed": values,
        "n_seeds": len(values),
        "statuses": statuses,
        "measured": "solves" if solved else "fails",
        "agrees": (case.expected == "solves") == solved,
        "verdict": _verdict(case.expected, solved),
        "conclusive": True,
        "run_dirs": run_dirs,
    }


def _verdict(expected: str, solved: bool) -> str:
    """``agree``; ``not-learned`` (expected to solve, did not within the budget — the
    architecture can express it, training did not find it); ``violation`` (expected to fail,
    solved: a theorem contradicted, usually a leak in the probe or a bug — check first)."""
    if (expected == "solves") == solved:
        return "agree"
    return "not-learned" if expected == "solves" else "violation"


def _mark_conclusive(results: list[dict[str, Any]]) -> None:
    """A "fails" expectation is inconclusive when no expected-success case of its row succeeded."""
    by_row: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_row.setdefault(r["row"], []).append(r)
    for rows in by_row.values():
        positives = [r for r in rows if r["expected"] == "solves"]
        ok = any(r["measured"] == "solves" for r in positives)
        for r in rows:
            if r["expected"] == "fails" and positives and not ok:
                r["conclusive"] = False


def summarise(results: list[dict[str, Any]], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``reproduce.json`` and ``reproduce.csv`` (atomically) into ``out_dir``."""
    import csv

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "reproduce.json"
    write_json_atomic(json_path, results)
    cols = ["row", "probe", "case", "rule", "expected", "measured", "measured_best", "measured_mean",
            "measured_sd", "n_seeds", "agrees", "verdict", "conclusive", "source"]  # fmt: skip

    def write_csv(f: Any) -> None:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(results)

    csv_path = out / "reproduce.csv"
    atomic_write(csv_path, write_csv)
    return json_path, csv_path
