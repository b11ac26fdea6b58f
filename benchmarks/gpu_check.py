#!/usr/bin/env python
"""GPU check: the CUDA fast paths tested, timed, and put to one published cell, in ≤ 8 minutes.

    python benchmarks/gpu_check.py [--quick] [--budget SECONDS] [--skip tests|timing|train]

Needs a CUDA device (and, for the kernels, ``pip install 'archlab[gpu]'``); without one it prints
``no CUDA device: GPU unverified`` and exits with code 2. On one GPU, in order:

1. **Tests**: ``pytest -m gpu -q`` in a subprocess (every ``gpu`` test: the adapters of
   :mod:`archlab.models.cuda` against their float64 references, the zoo on CUDA); its summary line.
2. **Timing** (fwd + bwd, ``torch.cuda.synchronize`` around each call, after warm-up):
   each mixer of :data:`MIXER_NAMES` that is registered, built as one module at batch × T × width
   (8 × 2048 × 256; ``--quick`` 4 × 512 × 256), with its CUDA kernels on (``mixer.kernels =
   True``) and off (the pure-PyTorch path on the same GPU): tokens/s and their ratio. Then each
   adapter at the shapes those mixers use: archlab's adapter call (layout mapping, kernel, mapping
   back; and their backward) against the bare kernel call on the same values already in the
   kernel's layout (contiguous, :func:`archlab.models.cuda.kernel_call`): the adapter's overhead
   ratio, goal ≤ 1.15.
3. **Training**: Grazzi et al. (ICLR 2025, Table 3) parity with Mamba, ``eig_range`` signed
   (Mamba[−1, 1], published scaled accuracy 1.000) against unit (Mamba[0, 1], 0.000): 2 layers,
   width 128, batch 256, lr 1e-3, up to 20 000 steps (``--quick``: 2 000), trained on lengths
   3–40 and tested on 40–256 (the shipped suite ``grazzi2025``, probe ``dm_parity_check``),
   archlab's training loop (:func:`archlab.train.train_run`: early stop once validation at
   length 40 is solved). Score: ``scaled_acc_uniform`` averaged over the test lengths; mean ± sd
   and best over the seeds that fit.

**Time budget.** Every section checks one deadline (``--budget``, default 450 s, ``--quick``
240 s: the script ends within 8 minutes with start-up). The tests get a share of it (their
subprocess is stopped at that time); timing stops measuring when its share is spent; training is
planned from a measured step time: the step count is cut to what fits (and the table says so),
extra seeds run only when the full step count fits for all of them, and a run still going at
the deadline is stopped (and reported as not evaluated).

Exit code: 0, 1 if the ``gpu`` tests failed, 2 without CUDA.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import Tensor  # noqa: E402

NO_CUDA = "no CUDA device: GPU unverified"
#: the mixers timed, in this order (names not registered are skipped with a note)
MIXER_NAMES = (
    "diag_rnn",
    "householder",
    "mamba",
    "mamba2",
    "mlstm",
    "slstm",
    "gated_deltanet",
    "gated_deltaproduct",
)
PACKAGES = ("torch", "triton", "fla-core", "flash-linear-attention", "mamba-ssm", "causal-conv1d")
OVERHEAD_GOAL = 1.15
#: Grazzi et al. 2025, Table 3, parity (scaled accuracy, best of 3): eig_range → (model, value)
PUBLISHED = {"signed": ("Mamba[-1,1]", 1.000), "unit": ("Mamba[0,1]", 0.000)}
#: sequences per evaluation forward pass (archlab.train.EVAL_CHUNK)
EVAL_CHUNK = 128


@dataclass(frozen=True)
class Sizes:
    batch: int
    seq_len: int
    width: int
    warmup: int
    reps: int
    steps: int
    seeds: int
    eval_batch: int
    budget_s: float


FULL = Sizes(
    batch=8, seq_len=2048, width=256, warmup=2, reps=5, steps=20_000, seeds=3, eval_batch=256, budget_s=450
)
QUICK = Sizes(
    batch=4, seq_len=512, width=256, warmup=1, reps=3, steps=2_000, seeds=1, eval_batch=128, budget_s=240
)


class Deadline:
    """One wall-clock deadline that every section checks."""

    def __init__(self, seconds: float) -> None:
        self.start = time.monotonic()
        self.end = self.start + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def over(self) -> bool:
        return self.left() <= 0

    def elapsed(self) -> float:
        return time.monotonic() - self.start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fwd_bwd_seconds(
    fn: Callable[[], Tensor], device: torch.device, warmup: int, reps: int, limit_s: float = math.inf
) -> float:
    """Median seconds of ``fn()`` and the backward of its sum, after ``warmup`` untimed calls
    (kernel compilation, autotuning, the allocator; fewer once half of ``limit_s`` is spent); at
    least one timed call, fewer than ``reps`` once ``limit_s`` is spent."""
    start = time.perf_counter()
    for _ in range(warmup):
        fn().float().sum().backward()
        _sync(device)
        if time.perf_counter() - start > limit_s / 2:
            break
    times: list[float] = []
    for _ in range(max(1, reps)):
        t0 = time.perf_counter()
        fn().float().sum().backward()
        _sync(device)
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > limit_s:
            break
    return statistics.median(times)


# ---------------------------------------------------------------------------------------------
# 0. the machine
# ---------------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    out = {}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def header(device: torch.device) -> list[str]:
    from archlab.models import cuda

    lines = []
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        lines.append(
            f"device: {props.name} ({props.total_memory / 2**30:.0f} GiB, sm_{props.major}{props.minor}), "
            f"CUDA {torch.version.cuda}"
        )
    else:
        lines.append(f"device: {device}")
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    lines.append(
        "kernels import: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cuda.available().items())
    )
    if not cuda.switched_on():
        lines.append(f"note: {cuda.ENV}={os.environ.get(cuda.ENV)}: every kernel is switched off")
    return lines


# ---------------------------------------------------------------------------------------------
# 1. the gpu tests
# ---------------------------------------------------------------------------------------------


def run_gpu_tests(timeout_s: float, extra: Sequence[str] = ()) -> tuple[int | None, list[str]]:
    """``pytest -m gpu -q`` (rc, the summary and failure lines); rc None when it ran out of time."""
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", *extra]
    try:
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=max(1.0, timeout_s))
    except subprocess.TimeoutExpired:
        return None, [f"stopped after {timeout_s:.0f} s (its share of the time budget)"]
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    failures = [ln for ln in lines if ln.startswith(("FAILED", "ERROR"))][:20]
    summary = lines[-1] if lines else (res.stderr.strip().splitlines() or ["no output"])[-1]
    return res.returncode, [*failures, summary]


# ---------------------------------------------------------------------------------------------
# 2. timing
# ---------------------------------------------------------------------------------------------


@dataclass
class MixerTiming:
    name: str
    kernel_tok_s: float | None = None
    torch_tok_s: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.kernel_tok_s is None or self.torch_tok_s is None:
            return None
        return self.kernel_tok_s / self.torch_tok_s


def mixer_options(cls: Any) -> dict[str, Any]:
    """Options that put a mixer on its kernel path: ``eig_range: unit`` where it has one (Mamba's
    signed range has no kernel), two Householder factors for DeltaProduct."""
    opts: dict[str, Any] = {}
    if "unit" in (cls.allowed_values("eig_range") or ()):
        opts["eig_range"] = "unit"
    if cls.name == "gated_deltaproduct" and cls.allowed_values("householder_factors") is not None:
        opts["householder_factors"] = 2
    return opts


def time_mixers(
    device: torch.device,
    names: Sequence[str],
    batch: int,
    seq_len: int,
    width: int,
    warmup: int,
    reps: int,
    deadline: Deadline,
) -> list[MixerTiming]:
    """fwd+bwd tokens/s of each registered mixer with kernels on and off, on ``device``."""
    from archlab.config import ModelConfig
    from archlab.models import MIXERS

    rows = []
    tokens = batch * seq_len
    for name in names:
        row = MixerTiming(name)
        rows.append(row)
        if name not in MIXERS.names():
            row.note = "not registered: skipped"
            continue
        if deadline.over():
            row.note = "time budget spent: skipped"
            continue
        try:
            cls = MIXERS.get(name)
            torch.manual_seed(0)
            m = cls(ModelConfig(mixer=name, width=width, **mixer_options(cls)), width).to(device)
            switches = [mod for mod in m.modules() if hasattr(mod, "kernels")]
            x = torch.randn(batch, seq_len, width, device=device, requires_grad=True)

            def run(m: Any = m, x: Tensor = x) -> Tensor:
                return m(x)

            for on in (True, False):
                for mod in switches:  # the mixer and its parts (e.g. its short convolutions)
                    mod.kernels = on
                limit = max(1.0, deadline.left() / 4)
                tok_s = tokens / fwd_bwd_seconds(run, device, warmup, reps, limit)
                if on:
                    row.kernel_tok_s = tok_s
                else:
                    row.torch_tok_s = tok_s
            if not switches:
                row.note = "no `kernels` attribute: both runs took the same path"
        except Exception as exc:  # report and go on: one mixer must not end the check
            row.note = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


@dataclass
class AdapterTiming:
    adapter: str
    case: str
    used_by: str
    kernel: str = ""
    adapter_s: float | None = None
    bare_s: float | None = None
    note: str = ""

    @property
    def overhead(self) -> float | None:
        if self.adapter_s is None or self.bare_s is None:
            return None
        return self.adapter_s / self.bare_s


def mixer_shapes(name: str, width: int) -> dict[str, int] | None:
    """The sizes a registered mixer feeds its kernels at ``width`` (its module built on the
    ``meta`` device, attributes read off it), or None when it is not registered."""
    from archlab.config import ModelConfig
    from archlab.models import MIXERS

    if name not in MIXERS.names():
        return None
    cls = MIXERS.get(name)
    with torch.device("meta"):
        m = cls(ModelConfig(mixer=name, width=width, **mixer_options(cls)), width)
    conv = getattr(m, "conv", None) or getattr(m, "k_conv", None)
    out = {"kernel": int(getattr(conv, "kernel", 4))}
    for attr in ("d_inner", "n", "heads", "p", "d", "n_h"):
        if isinstance(getattr(m, attr, None), int):
            out[attr] = int(getattr(m, attr))
    return out


def adapter_cases(
    device: torch.device, batch: int, seq_len: int, width: int
) -> list[tuple[str, str, str, list[Tensor | None]]]:
    """(adapter, case, used by, inputs) at the sizes the registered mixers use at ``width``
    (:func:`mixer_shapes`; the official defaults where a mixer is not registered: Mamba's inner
    width 2·width, state 16, Mamba-2's heads of 64, 4 heads for the delta rule). The delta rule
    runs in float32 and bfloat16: different fla kernels."""
    import torch.nn.functional as F

    b, t = batch, seq_len
    g = torch.Generator(device="cpu").manual_seed(0)

    def rnd(*shape: int, dtype: torch.dtype = torch.float32) -> Tensor:
        return torch.randn(*shape, generator=g).to(device, dtype).requires_grad_()

    def pos(*shape: int) -> Tensor:
        return F.softplus(torch.randn(*shape, generator=g) - 2).to(device).requires_grad_()

    def neg(*shape: int) -> Tensor:
        return (-torch.exp(torch.randn(*shape, generator=g) / 2)).to(device).requires_grad_()

    def shapes(name: str, default: dict[str, int]) -> tuple[dict[str, int], str]:
        got = mixer_shapes(name, width)
        return ({**default, **got}, name) if got is not None else (default, f"{name} (not registered)")

    cases: list[tuple[str, str, str, list[Tensor | None]]] = []
    m1, who = shapes("mamba", {"d_inner": 2 * width, "n": 16, "kernel": 4})
    c, n, k = m1["d_inner"], m1["n"], m1["kernel"]
    cases.append(("causal_conv1d", f"C {c}, K {k}", who, [rnd(b, t, c), rnd(c, k), rnd(c)]))
    scan_in: list[Tensor | None] = [rnd(b, t, c), pos(b, t, c), neg(c, n), rnd(b, t, n), rnd(b, t, n), rnd(c)]
    cases.append(("selective_scan", f"D {c}, N {n}", f"{who}, unit", scan_in))
    inner = 2 * width
    m2, who = shapes("mamba2", {"d_inner": inner, "n": 64, "heads": max(1, inner // 64), "kernel": 4})
    h, n = m2["heads"], m2["n"]
    p = m2.get("p", m2["d_inner"] // h)
    c = m2["d_inner"] + 2 * n
    cases.append(
        ("causal_conv1d", f"C {c}, K {m2['kernel']}", who, [rnd(b, t, c), rnd(c, m2["kernel"]), rnd(c)])
    )
    ssd_in: list[Tensor | None] = [rnd(b, t, h, p), pos(b, t, h), neg(h), rnd(b, t, n), rnd(b, t, n), rnd(h)]
    cases.append(("ssd", f"H {h}, P {p}, N {n}", f"{who}, unit", ssd_in))
    heads = 4 if width % 4 == 0 else 1
    deltas = [({"heads": heads, "d": width // heads, "n_h": 1}, False, "ungated: no mixer yet")]
    for name, n_h in (("gated_deltanet", 1), ("gated_deltaproduct", 2)):
        sh, who = shapes(name, {"heads": heads, "d": width // heads, "n_h": n_h})
        deltas.append((sh, True, who))
    for sh, gated, who in deltas:
        h, d, n_h = sh["heads"], sh["d"], sh["n_h"]
        for dtype in (torch.float32, torch.bfloat16):
            k_ = (
                F.normalize(torch.randn(b, h, t, n_h, d, generator=g), dim=-1)
                .to(device, dtype)
                .requires_grad_()
            )
            beta = (2 * torch.rand(b, h, t, n_h, generator=g)).to(device, dtype).requires_grad_()
            log_alpha = (
                F.logsigmoid(torch.randn(b, h, t, generator=g) + 3).to(device).requires_grad_()
                if gated
                else None
            )
            inputs = [rnd(b, h, t, d, dtype=dtype), k_, rnd(b, h, t, n_h, d, dtype=dtype), beta, log_alpha]
            label = f"H {h}, d {d}, n_h {n_h}, {'gated' if gated else 'ungated'}, {str(dtype).split('.')[-1]}"
            cases.append(("delta_rule", label, who, inputs))
    return cases


def _leaf(v: Any) -> Any:
    """A kernel argument as a user of the kernel would hold it: contiguous, its own leaf."""
    if isinstance(v, Tensor) and v.is_floating_point():
        return v.detach().contiguous().requires_grad_(v.requires_grad)
    return v


def time_adapters(
    device: torch.device, batch: int, seq_len: int, width: int, warmup: int, reps: int, deadline: Deadline
) -> list[AdapterTiming]:
    """Each adapter (fwd+bwd) against the bare kernel on the same values in the kernel's layout."""
    from archlab.models import cuda

    rows = []
    for adapter, case, used_by, inputs in adapter_cases(device, batch, seq_len, width):
        row = AdapterTiming(adapter, case, used_by)
        rows.append(row)
        call = cuda.kernel_call(adapter, *inputs)
        if call is None:
            row.note = "no kernel here (not CUDA, package missing, or outside its limits): PyTorch path"
            continue
        row.kernel = call.name
        if deadline.over():
            row.note = "time budget spent: skipped"
            continue
        fn = getattr(cuda, adapter)
        args = tuple(_leaf(a) for a in call.args)
        kwargs = {k: _leaf(v) for k, v in call.kwargs.items()}

        def bare(call: Any = call, args: tuple[Any, ...] = args, kwargs: dict[str, Any] = kwargs) -> Tensor:
            out = call.fn(*args, **kwargs)
            return out[0] if isinstance(out, tuple) else out

        def adapted(fn: Any = fn, inputs: list[Tensor | None] = inputs) -> Tensor:
            return fn(*inputs)

        try:
            limit = max(1.0, deadline.left() / 8)
            row.adapter_s = fwd_bwd_seconds(adapted, device, warmup, reps, limit)
            row.bare_s = fwd_bwd_seconds(bare, device, warmup, reps, limit)
        except Exception as exc:
            row.note = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
    return rows


# ---------------------------------------------------------------------------------------------
# 3. training: Grazzi et al.'s parity cell
# ---------------------------------------------------------------------------------------------


class _OutOfTime(Exception):
    """Raised from the progress hook at the deadline (train_run re-raises it)."""


@dataclass
class ParityRow:
    eig_range: str
    model: str
    published: float
    steps: int
    seeds: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.scores) if self.scores else None

    @property
    def sd(self) -> float | None:
        return statistics.stdev(self.scores) if len(self.scores) > 1 else None

    @property
    def best(self) -> float | None:
        return max(self.scores) if self.scores else None


def plan_runs(
    left_s: float, steps: int, seeds: int, step_s: float, eval_s: float, n_models: int = 2
) -> tuple[int, int]:
    """(steps per run, seeds): the requested steps for as many seeds as fit in ``left_s`` (each
    seed trains ``n_models`` runs of ``step_s`` per step plus ``eval_s`` of evaluation); if even
    one seed does not fit, one seed with the steps that do (at least 1)."""
    per_seed_full = n_models * (steps * step_s + eval_s)
    k = min(seeds, int(left_s // per_seed_full)) if per_seed_full > 0 else seeds
    if k >= 1:
        return steps, k
    fit = (left_s / n_models - eval_s) / max(step_s, 1e-9)
    return max(1, min(steps, int(fit))), 1


def _parity_source(train_lengths: list[int] | None, test_lengths: list[int] | None) -> Any:
    from archlab.probes.suite import ProbeSuite, find_suite
    from archlab.train import DataSource

    suite = ProbeSuite.load(find_suite("grazzi2025"))
    entry = next(e for e in suite if e.probe.name == "dm_parity_check")
    source = DataSource.from_suite(suite, entry)
    if train_lengths is not None:
        source.train_lengths = list(train_lengths)
    if test_lengths is not None:
        source.test_lengths = list(test_lengths)
    return source


def calibrate(
    source: Any,
    cfg: Any,
    device: torch.device,
    batch: int,
    eval_batch: int,
    val_batch: int,
    eval_every: int,
    steps: int,
) -> tuple[float, float]:
    """(seconds per training step, seconds of evaluation per run) of ``cfg``, measured: a few
    steps at the mean training length; one evaluation forward at the longest test length, scaled
    to every test length (the scans are linear in T) and the validation passes."""
    from archlab.config import TrainConfig
    from archlab.models import build_model
    from archlab.train import make_optimizer, masked_loss, to_device

    model = build_model(cfg, source.probe.vocab_size, source.probe.n_classes, device=device)
    opt = make_optimizer(model, TrainConfig(batch=batch))
    rng = source.rng("train", 10_000)
    length = max(1, round(statistics.fmean(source.train_lengths)))
    tokens, targets, mask = to_device(source.batch("train", rng, batch, length, 10_000), device)

    def step() -> None:
        loss = masked_loss(model(tokens), targets, mask)
        opt.zero_grad()
        loss.backward()
        opt.step(1e-3)

    step()
    _sync(device)
    t0 = time.perf_counter()
    n = 3
    for _ in range(n):
        step()
    _sync(device)
    step_s = (time.perf_counter() - t0) / n

    longest = max(source.test_lengths)
    rows = min(eval_batch, EVAL_CHUNK)
    toks, _, _ = to_device(source.batch("test", source.rng("test", 10_000, 1), rows, longest), device)
    with torch.no_grad():
        model(toks)
        _sync(device)
        t0 = time.perf_counter()
        model(toks)
        _sync(device)
    fwd_s = time.perf_counter() - t0
    per_len = math.ceil(eval_batch / EVAL_CHUNK) * fwd_s / longest
    eval_s = per_len * sum(source.test_lengths)
    eval_s += (steps // eval_every) * math.ceil(val_batch / EVAL_CHUNK) * per_len * max(source.train_lengths)
    return step_s, eval_s


def train_parity(
    device: torch.device,
    deadline: Deadline,
    *,
    steps: int = 20_000,
    seeds: int = 3,
    batch: int = 256,
    eval_batch: int = 256,
    lr: float = 1e-3,
    mixer: str = "mamba",
    width: int = 128,
    layers: int = 2,
    train_lengths: list[int] | None = None,
    test_lengths: list[int] | None = None,
    reserve_s: float = 5.0,
) -> tuple[list[ParityRow], list[str]]:
    """Train ``mixer`` signed and unit on Grazzi's parity (their sizes by default) within the
    deadline; rows per eig_range and notes."""
    from archlab.config import ModelConfig, TrainConfig
    from archlab.models import MIXERS
    from archlab.train import train_run

    notes: list[str] = []
    if mixer not in MIXERS.names():
        return [], [f"mixer {mixer!r} is not registered: training skipped"]
    source = _parity_source(train_lengths, test_lengths)
    base = TrainConfig(steps=steps, batch=batch, lr=lr, eval_batch=eval_batch, device=str(device))
    cfgs = {
        er: ModelConfig.model_validate({"mixer": mixer, "eig_range": er, "layers": layers, "width": width})
        for er in PUBLISHED
    }
    costs = [
        calibrate(source, c, device, batch, eval_batch, base.val_batch, base.eval_every, steps)
        for c in cfgs.values()
    ]
    step_s = sum(c[0] for c in costs) / len(costs)
    eval_s = sum(c[1] for c in costs) / len(costs)
    run_steps, k = plan_runs(deadline.left() - reserve_s, steps, seeds, 1.1 * step_s, 1.1 * eval_s, len(cfgs))
    notes.append(
        f"measured {1e3 * step_s:.1f} ms per step and ≈ {eval_s:.0f} s of evaluation per run "
        f"(batch {batch}, width {width}, {layers} layers, on {device})"
    )
    if run_steps < steps:
        notes.append(f"steps cut from {steps} to {run_steps} to fit the time budget: not the paper's budget")
    span = {"signed": "[-1,1]", "unit": "[0,1]"}
    rows = {
        er: ParityRow(
            er,
            f"{mixer}{span[er]}",
            PUBLISHED[er][1],
            run_steps,
            note=f"eig_range {er}; published: {PUBLISHED[er][0]}",
        )
        for er in cfgs
    }

    def hook(step: int, total: int, metrics: dict[str, float]) -> None:
        if deadline.over():
            raise _OutOfTime

    # seeds beyond the planned k run when early stops (solved runs) left the time for them
    pair_s = sum(1.1 * (run_steps * c[0] + c[1]) for c in costs)
    for seed in range(seeds):
        if seed >= k and deadline.left() - reserve_s < pair_s:
            notes.append(f"{seed} of {seeds} seeds fit the time budget")
            break
        for er, cfg in cfgs.items():
            row = rows[er]
            if deadline.over():
                notes.append(f"{row.model} seed {seed}: not started, time budget spent")
                continue
            tcfg = base.model_copy(update={"steps": run_steps, "seed": seed})
            try:
                rec = train_run(source, cfg, tcfg, progress=hook)
            except _OutOfTime:
                notes.append(f"{row.model} seed {seed}: stopped at the time budget, not evaluated")
                continue
            scores = [r["scaled_acc_uniform"] for r in rec["range_eval"]]
            row.seeds.append(seed)
            row.statuses.append(f"{rec['status']} after {rec['steps_run']} steps")
            if scores:
                row.scores.append(float(statistics.fmean(scores)))
    return list(rows.values()), notes


# ---------------------------------------------------------------------------------------------
# printing and main
# ---------------------------------------------------------------------------------------------


def _f(v: float | None, spec: str = ".2f") -> str:
    return "—" if v is None else format(v, spec)


def format_mixers(rows: Sequence[MixerTiming], batch: int, seq_len: int, width: int) -> list[str]:
    out = [
        f"mixers, fwd+bwd at batch {batch} × T {seq_len} × width {width} (tokens/s, millions):",
        f"  {'mixer':<20} {'kernels on':>11} {'PyTorch':>11} {'ratio':>7}  note",
    ]
    for r in rows:
        on = _f(None if r.kernel_tok_s is None else r.kernel_tok_s / 1e6, ".3f")
        off = _f(None if r.torch_tok_s is None else r.torch_tok_s / 1e6, ".3f")
        out.append(f"  {r.name:<20} {on:>11} {off:>11} {_f(r.ratio):>7}  {r.note}")
    return out


def format_adapters(rows: Sequence[AdapterTiming]) -> list[str]:
    out = [
        f"adapters, fwd+bwd: archlab's call / the bare kernel on the same values (goal ≤ {OVERHEAD_GOAL}):",
        f"  {'adapter':<15} {'case':<38} {'kernel':<38} {'adapter ms':>10} {'bare ms':>8} "
        f"{'overhead':>8}  used by",
    ]
    for r in rows:
        ms_a = _f(None if r.adapter_s is None else 1e3 * r.adapter_s, ".2f")
        ms_b = _f(None if r.bare_s is None else 1e3 * r.bare_s, ".2f")
        mark = "" if r.overhead is None else (" ok" if r.overhead <= OVERHEAD_GOAL else " over")
        line = f"  {r.adapter:<15} {r.case:<38} {r.kernel:<38} {ms_a:>10} {ms_b:>8} {_f(r.overhead):>8}{mark}"
        out.append(f"{line}  {r.used_by}" + (f"  ({r.note})" if r.note else ""))
    return out


def format_parity(rows: Sequence[ParityRow], notes: Sequence[str]) -> list[str]:
    out = [
        "Grazzi et al. 2025 (Table 3) parity, train 3–40, test 40–256, scaled accuracy "
        "(chance 1/2) averaged over the test lengths:",
        f"  {'model':<13} {'steps':>6} {'seeds':>5} {'mean ± sd':>15} {'best-of-k':>9} "
        f"{'published':>9}  runs",
    ]
    for r in rows:
        ms = "—" if r.mean is None else f"{r.mean:.3f}" + ("" if r.sd is None else f" ± {r.sd:.3f}")
        runs = "; ".join(r.statuses) or "none"
        out.append(
            f"  {r.model:<13} {r.steps:>6} {len(r.scores):>5} {ms:>15} {_f(r.best, '.3f'):>9} "
            f"{r.published:>9.3f}  {runs} ({r.note})"
        )
    out += [f"  note: {n}" for n in notes]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="smaller timing shapes, 2 000 steps, one seed")
    p.add_argument(
        "--budget", type=float, default=None, help="seconds for the whole check (450; --quick 240)"
    )
    p.add_argument("--skip", action="append", choices=("tests", "timing", "train"), default=[])
    p.add_argument("--parity-mixer", default="mamba", help="the mixer trained in section 3 (mamba)")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print(NO_CUDA)
        return 2
    sizes = QUICK if args.quick else FULL
    deadline = Deadline(args.budget if args.budget is not None else sizes.budget_s)
    device = torch.device("cuda")
    mode = "quick" if args.quick else "full"
    print(f"archlab GPU check ({mode}, budget {deadline.left():.0f} s)")
    for line in header(device):
        print(line)
    rc = 0

    if "tests" not in args.skip:
        print("\n[1] pytest -m gpu")
        t0 = time.monotonic()
        share = min(0.4 * deadline.left(), 100.0 if args.quick else 150.0)
        test_rc, lines = run_gpu_tests(share)
        for line in lines:
            print("  " + line)
        print(f"  ({time.monotonic() - t0:.0f} s)")
        if test_rc != 0:
            rc = 1

    if "timing" not in args.skip:
        print("\n[2] timing")
        share = min(0.4 * deadline.left(), 45.0 if args.quick else 90.0)
        b, t, w = sizes.batch, sizes.seq_len, sizes.width
        m_rows = time_mixers(device, MIXER_NAMES, b, t, w, sizes.warmup, sizes.reps, Deadline(0.6 * share))
        for line in format_mixers(m_rows, b, t, w):
            print(line)
        a_rows = time_adapters(device, b, t, w, sizes.warmup, sizes.reps, Deadline(0.4 * share))
        for line in format_adapters(a_rows):
            print(line)

    if "train" not in args.skip:
        print("\n[3] training")
        p_rows, notes = train_parity(
            device,
            deadline,
            steps=sizes.steps,
            seeds=sizes.seeds,
            eval_batch=sizes.eval_batch,
            mixer=args.parity_mixer,
        )
        if args.quick:
            notes.insert(
                0, f"--quick: at most {sizes.steps} steps and {sizes.seeds} seed (the paper: 20 000, 3)"
            )
        for line in format_parity(p_rows, notes):
            print(line)

    print(f"\ndone in {deadline.elapsed():.0f} s" + ("" if rc == 0 else " (gpu tests failed)"))
    return rc


if __name__ == "__main__":
    sys.exit(main())
