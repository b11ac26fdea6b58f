#!/usr/bin/env python
"""Mixer speed: every registered mixer layer, its loop reference, ``torch.nn.LSTM`` and the roofline.

What is measured, all in one process on one machine (fp32, torch's default thread count — 2 here):

- **Machine ceilings** (measured first, same run): GEMM FLOP/s — the best call of a square fp32
  matrix product (``torch.mm``, MKL; and oneDNN's ``mkldnn_linear`` where torch has it; the
  faster one is the ceiling) — and memory bandwidth (:func:`bench_scans.measure_bandwidth`: the
  best ``torch.add(x, y, out=z)`` on 256 MiB tensors, 3 × 256 MiB moved per call).
- **Whole mixer layers** (projections included): every entry of :data:`archlab.models.MIXERS`,
  built as ``cls(ModelConfig(mixer=name, width=W, …), W)``, plus variants (``diag_rnn[signed]``,
  ``diag_rnn[complex]``, ``householder[n_h=2]``, ``mamba[signed]`` …). Input ``x [B, T, W]``
  with ``requires_grad``;
  forward tokens/s under ``torch.no_grad()`` and forward+backward tokens/s (``y.backward(g)``:
  gradients for ``x`` and every parameter). The **loop reference** of a layer is the same
  instance with ``.reference = True``; a layer whose class never reads ``self.reference`` and
  whose output is bit-identical with and without it (no separate fast path: lstm, gru, elman,
  conv, dense_rnn as written; attention has one — SDPA vs explicit matmuls) gets
  ``ref_fwdbwd_tok_s = ratio = null``. A loop reference predicted slower than
  ``--ref-max-call-s`` per call (from the previous length, growing like T or like the fast
  path, whichever is faster), or one estimated to keep more than ``--ref-max-gib`` (default a
  quarter of the RAM) for its backward — every step's state, or attention's ``[B, H, T, T]``
  scores — is skipped (``ref_skipped`` says why; the Householder loops at T = 4096 keep ~13 GiB,
  and glibc, told to keep freed memory, would hold on to it for the rest of the run).
- ``torch_lstm``: ``torch.nn.LSTM(W, W, batch_first=True)`` at the same B, T, W (external reference).
- The bare recurrences: ``scan:diag`` (:func:`bench_scans.section_diag`: ``a, b ∈ R^{B×T×W}``) and
  ``scan:householder`` (:func:`bench_scan_householder.bench_length`: H = W/64 heads of d = 64,
  n_h = 1, chunk 32, β = 2·sigmoid) — their own measuring code, imported.

Tokens counted = B × T. Default B = 16, W = 256, T ∈ {256, 1024, 4096}; ``--quick``: B = 4,
W = 64, T ∈ {64, 256}, short timing windows (a smoke run, well under a minute). Each number is
the median of several calls after a warm-up (``_common.measure``); calls longer than ~1 s are
repeated only 1–2 times.

**Roofline.** For a layer, forward FLOPs per token come from the class method
``flops_per_token(cfg, W, T)``; forward+backward is taken as 3×. Bytes per token (fwd+bwd,
4 bytes a float), the least an unfused PyTorch layer moves:

    bytes = 4·(5·W + 8·R) + 4·3·P / (B·T)

— layer input/output (forward reads x, writes y; backward reads ∂y and x, writes ∂x: 5·W), the
recurrence's sequence of states for a recurrent mixer (R = ``fp_dim(cfg, W)``, real floats per
position; the bare diagonal recurrence moves 3·R forward and 5·R backward, see bench_scans.py),
and the parameters (read twice, gradient written once) per call. Roofline time per token =
max(3·flops / GEMM FLOP/s, bytes / bandwidth), ``bound`` says which term is larger, and
``roofline_frac`` = roofline time / measured fwd+bwd time (1.0 = at the ceiling). ``scan:diag``
uses the bench_scans byte model (8·4·W bytes per token); ``scan:householder`` counts the
recurrent form's FLOPs, (4·n_h + 2)·d² per head and token (a lower bound of the chunkwise form).

**Goals** (printed per row as met/MISSED with the number): ``scan:diag`` fwd+bwd ≥ 2.5× its loop
at T = 4096 and roofline_frac ≥ 0.5 (bench_scans.goals); every ``diag_rnn`` layer fwd+bwd ≥ 2×
``torch_lstm`` at the same T; ``scan:householder`` and the ``householder`` layers ≥ 4× their loop
at T = 1024 (fwd+bwd); the published-architecture mixers (``mamba``, ``mamba2``, ``mlstm``,
``slstm``, ``gated_deltanet``, ``gated_deltaproduct``, and their ``[signed]`` variants) ≥ 2× their
loop at T = 1024, each row also giving its ratio to ``torch_lstm`` (``vs_torch_lstm``, every layer
row), and so the cores that carry them, timed alone (``scan:selective``: Mamba's selective scan at
D = 2W, N = 16, against the Mamba layer's loop reference of it; ``scan:ssd``: Mamba-2's chunkwise
SSD at heads of 64, N = 16, against its ``ssd_reference``); scaling: seconds per batch (fwd+bwd)
against T on log-log axes, fitted slope per mixer (≈ 1 linear, ≈ 2 quadratic) — attention's slope
between its two longest lengths should be ≥ 1.5, every recurrent mixer's fitted slope ≤ 1.25.

**Output.** Human table on stdout (progress on stderr); ``--json``: one JSON object per line:
first ``{"mixer": "machine:gemm", "flop_s": …}`` and ``{"mixer": "machine:bandwidth",
"bytes_s": …}`` (with ``T`` etc. null), then one object per mixer and T with ``mixer``, ``T``,
``fwd_tok_s``, ``fwdbwd_tok_s``, ``ref_fwdbwd_tok_s``, ``ratio``, ``roofline_frac`` (plus
``bound``, ``goal``, ``goals_met``, ``batch``, ``width``, ``config``, ``error``, ``others_cores``
— the CPU cores other processes kept busy while the row was measured, from /proc/stat, see
below; ``waited_s``; ``ref_skipped``; ``ref_max_abs_diff``; ``vs_torch_lstm``; a mixer that
fails to build or run gets rows with ``error`` set and null numbers), last one
``{"mixer": "scaling", "slopes": {…}}``. In ``--out DIR`` (default ``benchmarks/out/``):
``bench_mixers.json`` (meta, rows, slopes) and ``bench_mixers.png`` (the scaling plot, ideal
linear and quadratic guides), each written to a temporary file and renamed into place.

**Shared machine.** On 2 cores, another process on one core stalls torch's threads at every
parallel op (10–100× slower rows were seen). So each row waits (up to ``--wait-quiet`` s,
default 30; 0 with ``--quick``) until other processes use at most the cores torch's threads
leave free + 0.2 (0.2 with 2 threads on 2 cores; ``--threads 1`` tolerates one busy core); a row
disturbed anyway is measured again (``--retries``, default 1) and, if still disturbed, flagged
"noisy" in the table. ``--mixer NAME`` selects a row name (``diag_rnn[signed]``, ``scan:diag``,
``torch_lstm``) or a registered mixer with all its variants (``diag_rnn``).

The process runs with glibc's allocator told to keep freed memory (see PERF.md): run as a script,
it re-executes itself with that setting unless ``--system-malloc`` is given, and reports it.

    python benchmarks/bench_mixers.py [--quick] [--json] [--mixer NAME …] [--T N …] [--out DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import math
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # siblings, also when imported by tests

import bench_scan_householder
import bench_scans
from _common import measure, reexec_with_tunables

from archlab.atomic import atomic_write

DEFAULT_OUT = Path(__file__).resolve().parent / "out"
GOAL_VS_LSTM = 2.0
GOAL_HH_RATIO = bench_scan_householder.GOAL_RATIO  # 4×
GOAL_HH_T = bench_scan_householder.GOAL_T  # at T = 1024
GOAL_QUADRATIC_SLOPE = 1.5
GOAL_LINEAR_SLOPE = 1.25
#: rows measured while other processes kept more than this many cores busy, beyond the cores
#: torch's threads leave free, are measured again and flagged noisy
BUSY_CORES = 0.2
#: extra configurations of registered mixers: (base name, row suffix, ModelConfig options)
VARIANTS: list[tuple[str, str, dict[str, Any]]] = [
    ("diag_rnn", "signed", {"eig_range": "signed"}),
    ("diag_rnn", "complex", {"eig_range": "complex"}),
    ("householder", "n_h=2", {"householder_factors": 2}),
    ("mamba", "signed", {"eig_range": "signed"}),
    ("mamba2", "signed", {"eig_range": "signed"}),
    ("gated_deltanet", "signed", {"eig_range": "signed"}),
]
#: the published-architecture mixers (issue 21): fast path ≥ GOAL_PUBLISHED_RATIO × its loop at T = 1024
PUBLISHED_MIXERS = ("mamba", "mamba2", "mlstm", "slstm", "gated_deltanet", "gated_deltaproduct")
GOAL_PUBLISHED_RATIO = 2.0
GOAL_PUBLISHED_T = 1024
REQUIRED_KEYS = ("mixer", "T", "fwd_tok_s", "fwdbwd_tok_s", "ref_fwdbwd_tok_s", "ratio", "roofline_frac")


@dataclass
class Run:
    """Settings of one run and the machine ceilings measured in it."""

    batch: int
    width: int
    lengths: list[int]
    min_time: float
    min_repeats: int
    ref_max_call_s: float
    no_ref: bool
    wait_quiet_s: float = 0.0
    retries: int = 0
    #: cores other processes may use without disturbing (free cores beyond torch's threads + BUSY_CORES)
    busy_cores: float = BUSY_CORES
    #: loop references estimated to keep more memory than this are skipped (:func:`loop_bytes`)
    ref_max_bytes: float = math.inf
    gemm_flop_s: float = 0.0
    bandwidth: float = 0.0  # bytes/s


@dataclass
class Entry:
    """One row group: a registered mixer (maybe a variant), ``torch_lstm`` or a bare scan."""

    name: str
    base: str
    kind: str  # "layer", "external", "scan"
    opts: dict[str, Any] = field(default_factory=dict)


def log(msg: str) -> None:
    print(f"[bench_mixers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- machine ceilings ----------------------------------------------------------------------------


def measure_gemm(min_time: float, n: int = 1024) -> dict[str, float]:
    """Best FLOP/s of an ``n × n`` fp32 matrix product, per backend (``torch.mm`` = MKL, and oneDNN
    through ``torch._C._nn.mkldnn_linear`` when available). The best call, as for the bandwidth."""
    import torch

    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    out = torch.empty(n, n)
    fns: dict[str, Callable[[], object]] = {"torch.mm (MKL)": lambda: torch.mm(a, b, out=out)}
    try:
        am, bm = a.to_mkldnn(), b.to_mkldnn()
        torch._C._nn.mkldnn_linear(am, bm, None)
        fns["mkldnn_linear (oneDNN)"] = lambda: torch._C._nn.mkldnn_linear(am, bm, None)
    except (AttributeError, RuntimeError):
        pass
    result = {}
    for name, fn in fns.items():
        fn()
        best = float("inf")
        start = time.perf_counter()
        while time.perf_counter() - start < min_time:
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        result[name] = 2 * n**3 / best
    return result


# -- timing --------------------------------------------------------------------------------------


def time_call(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure_adaptive(fn: Callable[[], object], tokens: int, run: Run) -> float:
    """Median tokens/s after a warm-up call. Calls over 1 s are repeated twice, over 4 s once:
    the slow loop references at T = 4096 would otherwise dominate the run."""
    first = time_call(fn)
    if first < 0.2:
        time_call(fn)  # a second warm-up for fast calls (allocator, caches)
    repeats = run.min_repeats if first < 1.0 else (2 if first < 4.0 else 1)
    return measure(fn, tokens, run.min_time, repeats, warmups=0)


# -- cost models ---------------------------------------------------------------------------------


def layer_bytes_per_token(width: int, rec_floats: int, params: int, tokens: int) -> float:
    """Forward+backward bytes per token (module docstring): layer I/O, states, parameters."""
    return 4.0 * (5 * width + 8 * rec_floats) + 4.0 * 3 * params / tokens


def roofline(
    row: dict[str, Any], flops_fwd: float | None, bytes_fb: float | None, run: Run
) -> dict[str, Any]:
    """Adds ``roofline_frac``, ``bound`` and the cost estimates to ``row`` (in place; returns it)."""
    row["flops_per_token"] = flops_fwd
    row["bytes_per_token"] = bytes_fb
    if flops_fwd is None or bytes_fb is None or not row.get("fwdbwd_tok_s"):
        row.setdefault("roofline_frac", None)
        return row
    t_compute = 3 * flops_fwd / run.gemm_flop_s
    t_memory = bytes_fb / run.bandwidth
    row["bound"] = "compute" if t_compute >= t_memory else "bandwidth"
    row["roofline_frac"] = max(t_compute, t_memory) * row["fwdbwd_tok_s"]
    return row


# -- entries -------------------------------------------------------------------------------------


def all_entries() -> list[Entry]:
    """Every row group this run can measure, in measuring order (torch_lstm first: the diag_rnn
    goal compares with it)."""
    from archlab.models import MIXERS

    entries = [Entry("torch_lstm", "torch_lstm", "external"), Entry("scan:diag", "scan:diag", "scan")]
    entries.append(Entry("scan:householder", "scan:householder", "scan"))
    entries += [Entry(name, name, "scan") for name in CORE_SCANS]
    for name, cls in MIXERS.items():
        entries.append(Entry(name, name, "layer"))
        for base, suffix, opts in VARIANTS:
            if base != name:
                continue
            if any(cls.allowed_values(k) is None for k in opts):
                continue  # this mixer (as written now) does not take the option
            entries.append(Entry(f"{name}[{suffix}]", name, "layer", opts))
    return entries


def select(entries: list[Entry], wanted: list[str] | None) -> list[Entry]:
    """Entries whose row name or base mixer name is in ``wanted`` (all when None)."""
    if not wanted:
        return entries
    keys = {w.lower() for w in wanted}
    unknown = keys - {e.name.lower() for e in entries} - {e.base.lower() for e in entries}
    if unknown:
        names = ", ".join(e.name for e in entries)
        raise SystemExit(f"bench_mixers: unknown mixer(s) {sorted(unknown)}; available: {names}")
    return [e for e in entries if e.name.lower() in keys or e.base.lower() in keys]


def base_row(entry: Entry, T: int | None, run: Run) -> dict[str, Any]:
    row: dict[str, Any] = {key: None for key in REQUIRED_KEYS}
    row.update(mixer=entry.name, T=T, batch=run.batch, width=run.width, config=entry.opts or None)
    return row


def error_rows(entry: Entry, run: Run, exc: BaseException, lengths: list[int]) -> Iterator[dict[str, Any]]:
    msg = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    log(f"{entry.name}: ERROR {msg}\n{traceback.format_exc()}")
    for T in lengths:
        yield {**base_row(entry, T, run), "error": msg}


def bench_layer(entry: Entry, run: Run) -> Iterator[dict[str, Any]]:
    """Rows of one registered mixer (or variant): fast path, loop reference, roofline."""
    import torch

    from archlab.config import ModelConfig
    from archlab.models import MIXERS

    W, B = run.width, run.batch
    try:
        cls = MIXERS.get(entry.base)
        cfg = ModelConfig(mixer=entry.base, width=W, **entry.opts)
        torch.manual_seed(0)
        layer = cls(cfg, W)
        has_ref, ref_diff = reference_differs(layer, W, min(run.lengths))
        params = sum(p.numel() for p in layer.parameters() if p.requires_grad)
        rec = int(cls.fp_dim(cfg, W)) if getattr(cls, "recurrent", False) else 0
        state = cls.state_floats(cfg, W)  # None: grows with T (attention: [B, H, T, T] scores)
        heads = int(cls.extra_features(cfg, W).get("heads", 1))
    except Exception as exc:
        yield from error_rows(entry, run, exc, run.lengths)
        return
    last: list[tuple[int, float, float]] = []  # (T, loop s/call, fast s/call) of the last loop timed

    def one(T: int) -> dict[str, Any]:
        row = {**base_row(entry, T, run), "ref_max_abs_diff": ref_diff}
        x, grad = _inputs(B, T, W)
        fwd, fwdbwd = _layer_fns(layer, x, grad)
        layer.reference = False
        row["fwd_tok_s"] = measure_adaptive(fwd, B * T, run)
        row["fwdbwd_tok_s"] = measure_adaptive(fwdbwd, B * T, run)
        if has_ref:
            fast_s = B * T / row["fwdbwd_tok_s"]
            skip = _ref_skip(run, T, last[-1] if last else None, fast_s)
            skip = skip or _ref_memory_skip(run, loop_bytes(state, heads, B, T))
            if skip:
                row["ref_skipped"] = skip
            else:
                layer.reference = True
                try:
                    row["ref_fwdbwd_tok_s"] = measure_adaptive(fwdbwd, B * T, run)
                finally:
                    layer.reference = False
                last.append((T, B * T / row["ref_fwdbwd_tok_s"], fast_s))
                row["ratio"] = row["fwdbwd_tok_s"] / row["ref_fwdbwd_tok_s"]
        try:
            flops: float | None = float(cls.flops_per_token(cfg, W, T))
        except NotImplementedError:
            flops = None
        return roofline(row, flops, layer_bytes_per_token(W, rec, params, B * T), run)

    for T in run.lengths:
        yield quietly(entry, T, run, one)


def quietly(entry: Entry, T: int, run: Run, one: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    """``one(T)`` — the measurement of one row — after waiting for the other processes to leave
    the cores (up to ``run.wait_quiet_s``), measured again (up to ``run.retries`` times) when they
    came back during it; ``others_cores`` records the disturbance of the attempt kept. An
    exception becomes an error row."""
    row: dict[str, Any] = {}
    for attempt in range(1 + run.retries):
        waited = wait_quiet(run.wait_quiet_s, run.busy_cores)
        snap = _cpu_snapshot()
        try:
            row = one(T)
        except Exception as exc:
            msg = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            log(f"{entry.name} T={T}: ERROR {msg}\n{traceback.format_exc()}")
            return {**base_row(entry, T, run), "error": msg}
        row["others_cores"] = others_cores(snap)
        row["waited_s"] = waited
        if (row["others_cores"] or 0.0) <= run.busy_cores or attempt == run.retries:
            break
        log(f"{entry.name} T={T}: other processes used {row['others_cores']:.1f} cores; measuring again")
    return row


def wait_quiet(max_wait: float, busy_cores: float, window: float = 1.0) -> float:
    """Wait until other processes used at most ``busy_cores`` cores over a ``window``-second
    sample, for at most ``max_wait`` seconds; returns the seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < max_wait:
        snap = _cpu_snapshot()
        time.sleep(window)
        busy = others_cores(snap)
        if busy is None or busy <= busy_cores:
            break
    return time.perf_counter() - start if max_wait > 0 else 0.0


def reference_differs(layer: Any, width: int, seq_len: int) -> tuple[bool, float]:
    """Whether ``.reference = True`` changes something — the code of the layer's class (below
    :class:`Mixer`) reads ``self.reference``, or the output changes — and the largest absolute
    difference of the outputs on a small input (B = 2, T = ``seq_len``)."""
    import torch

    from archlab.models.base import Mixer

    x = torch.randn(2, seq_len, width, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        layer.reference = False
        fast = layer(x)
        layer.reference = True
        try:
            ref = layer(x)
        finally:
            layer.reference = False
    _clear(layer)
    reads = False
    for klass in type(layer).__mro__:
        if klass is Mixer:
            break
        with contextlib.suppress(OSError, TypeError):
            reads |= "self.reference" in inspect.getsource(klass)
    return reads or not torch.equal(fast, ref), float((fast - ref).abs().max())


def loop_bytes(state_floats: int | None, heads: int, B: int, T: int) -> float:
    """Memory a loop reference keeps for its backward, estimated: every step's state (3 tensors of
    ``state_floats`` per sequence), or for a state that grows with T (attention) the
    ``[B, H, T, T]`` scores, softmax and their gradients."""
    if state_floats is None:
        return 4.0 * 4 * B * heads * T * T
    return 3.0 * 4 * B * T * state_floats


def _ref_memory_skip(run: Run, need: float) -> str | None:
    if need <= run.ref_max_bytes:
        return None
    return f"loop would keep ~{need / 2**30:.1f} GiB > {run.ref_max_bytes / 2**30:.1f} GiB (--ref-max-gib)"


def _mem_total() -> float:
    """Bytes of memory of the machine (``MemTotal`` of /proc/meminfo; 16 GiB where unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return 16.0 * 2**30


def _inputs(B: int, T: int, W: int) -> tuple[Any, Any]:
    import torch

    gen = torch.Generator().manual_seed(T)
    return torch.randn(B, T, W, generator=gen).requires_grad_(), torch.randn(B, T, W, generator=gen)


def _clear(module: Any) -> None:
    for m in module.modules():
        if hasattr(m, "clear_reports"):
            m.clear_reports()


def _layer_fns(
    module: Any, x: Any, grad: Any, call: Callable[[Any], Any] | None = None
) -> tuple[Callable[[], None], Callable[[], None]]:
    """(forward under no_grad, forward+backward) closures for ``module`` on ``x``."""
    import torch

    run = call or module

    def fwd() -> None:
        with torch.no_grad():
            run(x)
        _clear(module)

    def fwdbwd() -> None:
        x.grad = None
        module.zero_grad(set_to_none=True)
        run(x).backward(grad)
        _clear(module)

    return fwd, fwdbwd


def _ref_skip(
    run: Run, T: int, last: tuple[int, float, float] | None, fast_s: float | None = None
) -> str | None:
    """Why the loop reference at length T is skipped (None: measure it). ``last``: (length, loop
    seconds per call, fast seconds per call) at the previous length measured; the loop's time is
    predicted to grow like T or like the fast path's, whichever is faster."""
    if run.no_ref:
        return "--no-ref"
    if last is None:
        return None
    growth = T / last[0]
    if fast_s is not None:
        growth = max(growth, fast_s / last[2])
    predicted = last[1] * growth
    if predicted > run.ref_max_call_s:
        return f"loop predicted {predicted:.0f} s per call > --ref-max-call-s {run.ref_max_call_s:g}"
    return None


def bench_torch_lstm(entry: Entry, run: Run) -> Iterator[dict[str, Any]]:
    """``torch.nn.LSTM(W, W)`` (oneDNN/MKL kernels): the external reference."""
    import torch

    W, B = run.width, run.batch
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(W, W, batch_first=True)
    params = sum(p.numel() for p in lstm.parameters())
    flops = 2.0 * (4 * (W * W + W * W)) + 10.0 * W  # 4 gates × (input + recurrent matvec) + pointwise

    def one(T: int) -> dict[str, Any]:
        row = base_row(entry, T, run)
        x, grad = _inputs(B, T, W)
        fwd, fwdbwd = _layer_fns(lstm, x, grad, call=lambda x: lstm(x)[0])
        row["fwd_tok_s"] = measure_adaptive(fwd, B * T, run)
        row["fwdbwd_tok_s"] = measure_adaptive(fwdbwd, B * T, run)
        return roofline(row, flops, layer_bytes_per_token(W, W, params, B * T), run)

    for T in run.lengths:
        yield quietly(entry, T, run, one)


def bench_scan_diag(entry: Entry, run: Run) -> Iterator[dict[str, Any]]:
    """``scan:diag`` through bench_scans.section_diag (its own byte model and goals), one T at a time."""

    def one(T: int) -> dict[str, Any]:
        s = bench_scans.Settings(
            batch=run.batch,
            dim=run.width,
            lengths=[T],
            min_time=run.min_time,
            min_repeats=run.min_repeats,
            ref_max_T=0 if run.no_ref else T,
            bandwidth=run.bandwidth,
        )
        (row,) = bench_scans.section_diag(s)
        row = {**base_row(entry, T, run), **row, "bound": "bandwidth"}
        row["bytes_per_token"] = 8 * 4 * run.width
        return row

    for T in run.lengths:
        yield quietly(entry, T, run, one)


def bench_scan_hh(entry: Entry, run: Run) -> Iterator[dict[str, Any]]:
    """``scan:householder`` through bench_scan_householder.bench_length (interleaved rounds)."""
    from archlab.models.scan_householder import DEFAULT_CHUNK

    d = min(64, run.width)
    heads, n_h, chunk = max(1, run.width // d), 1, DEFAULT_CHUNK
    flops = float((4 * n_h + 2) * d * d * heads)
    bytes_fb = 4.0 * heads * (8 * d * n_h + 5 * d)  # q, k, v, β in; o out; their gradients
    last: list[tuple[int, float, float]] = []

    def one(T: int) -> dict[str, Any]:
        row = {**base_row(entry, T, run), "heads": heads, "head_dim": d, "n_h": n_h, "chunk": chunk}
        prev = last[-1] if last else None
        skip = _ref_skip(run, T, prev) or _ref_memory_skip(run, loop_bytes(heads * d * d, 1, run.batch, T))
        slow = prev is not None and prev[1] * T / prev[0] > 1.0
        fwd, fwdbwd, ref = bench_scan_householder.bench_length(
            T,
            run.batch,
            heads,
            d,
            n_h,
            chunk,
            run.min_time,
            min_rounds=2 if slow else run.min_repeats,
            with_ref=skip is None,
        )
        row.update(fwd_tok_s=fwd, fwdbwd_tok_s=fwdbwd, ref_fwdbwd_tok_s=ref)
        if ref is not None:
            row["ratio"] = fwdbwd / ref
            last.append((T, run.batch * T / ref, run.batch * T / fwdbwd))
        else:
            row["ref_skipped"] = skip
        return roofline(row, flops, bytes_fb, run)

    for T in run.lengths:
        yield quietly(entry, T, run, one)


#: the cores of the published blocks, timed alone (their layers share projections with the loop)
CORE_SCANS = ("scan:selective", "scan:ssd")


def _core_fns(name: str, B: int, T: int, W: int) -> tuple[Callable[[bool], Any], dict[str, Any], int]:
    """(call(reference) → output with grad, shapes, state floats per sequence) of a core scan at the
    shapes its layer uses at width W: Mamba's selective scan (D = 2W, N = 16) or Mamba-2's SSD
    (heads of 64, N = 16, unit range)."""
    import torch

    from archlab.config import ModelConfig
    from archlab.models.scan_ssd import ssd_chunked, ssd_reference
    from archlab.models.ssm import Mamba

    gen = torch.Generator().manual_seed(0)
    n = 16
    if name == "scan:selective":
        m = Mamba(ModelConfig(mixer="mamba", width=W), W)
        d = m.d_inner
        x = torch.randn(B, T, d, generator=gen).requires_grad_()
        dt = (0.1 * torch.rand(B, T, d, generator=gen)).requires_grad_()
        a = (-torch.exp(m.a_log)).detach().requires_grad_()
        b, c = (torch.randn(B, T, n, generator=gen).requires_grad_() for _ in range(2))

        def call(reference: bool) -> Any:
            m.reference = reference
            return m._scan(x, dt, a, b, c, None)[0]

        return call, {"D": d, "N": n}, d * n
    heads = max(1, 2 * W // 64)
    p = 2 * W // heads
    a = (0.5 + 0.5 * torch.rand(B, T, heads, generator=gen)).requires_grad_()
    u = torch.randn(B, T, heads, p, generator=gen).requires_grad_()
    b, c = (torch.randn(B, T, n, generator=gen).requires_grad_() for _ in range(2))

    def call_ssd(reference: bool) -> Any:
        return ssd_reference(a, u, b, c) if reference else ssd_chunked(a, u, b, c, nonnegative=True)

    return call_ssd, {"heads": heads, "head_dim": p, "N": n}, heads * p * n


def bench_scan_core(entry: Entry, run: Run) -> Iterator[dict[str, Any]]:
    """``scan:selective`` / ``scan:ssd``: a published block's core, fast path against its loop."""
    import torch

    last: list[tuple[int, float, float]] = []

    def one(T: int) -> dict[str, Any]:
        call, shapes, state = _core_fns(entry.name, run.batch, T, run.width)
        row = {**base_row(entry, T, run), **shapes}
        grad = torch.randn(call(False).shape)

        def fwd() -> None:
            with torch.no_grad():
                call(False)

        def fwdbwd(reference: bool = False) -> None:
            call(reference).backward(grad)

        row["fwd_tok_s"] = measure_adaptive(fwd, run.batch * T, run)
        row["fwdbwd_tok_s"] = measure_adaptive(fwdbwd, run.batch * T, run)
        fast_s = run.batch * T / row["fwdbwd_tok_s"]
        skip = _ref_skip(run, T, last[-1] if last else None, fast_s)
        skip = skip or _ref_memory_skip(run, loop_bytes(state, 1, run.batch, T))
        if skip:
            row["ref_skipped"] = skip
        else:
            row["ref_fwdbwd_tok_s"] = measure_adaptive(lambda: fwdbwd(True), run.batch * T, run)
            last.append((T, run.batch * T / row["ref_fwdbwd_tok_s"], fast_s))
            row["ratio"] = row["fwdbwd_tok_s"] / row["ref_fwdbwd_tok_s"]
        return roofline(row, None, None, run)

    for T in run.lengths:
        yield quietly(entry, T, run, one)


def bench_entry(entry: Entry, run: Run) -> Iterator[dict[str, Any]]:
    if entry.kind == "layer":
        yield from bench_layer(entry, run)
        return
    fn = {"torch_lstm": bench_torch_lstm, "scan:diag": bench_scan_diag, "scan:householder": bench_scan_hh}
    fn.update(dict.fromkeys(CORE_SCANS, bench_scan_core))
    try:
        yield from fn[entry.name](entry, run)
    except Exception as exc:
        yield from error_rows(entry, run, exc, run.lengths)


# -- goals, scaling, output ----------------------------------------------------------------------


def row_goals(row: dict[str, Any], lstm: dict[int, float]) -> tuple[bool | None, str | None]:
    """(all goals of this row met — None when it has none, "goal text … met/MISSED")."""
    if row.get("error") or row["fwdbwd_tok_s"] is None:
        return None, None
    name, T = row["mixer"], row["T"]
    notes: list[str] = []
    ok = True
    if name == "scan:diag":
        ok, text = bench_scans.goals(row)
        notes.append(text.replace(" ok", " met"))
    if T in lstm and not name.startswith(("scan:", "torch_lstm")):
        row["vs_torch_lstm"] = row["fwdbwd_tok_s"] / lstm[T]
    if name.startswith("diag_rnn"):
        if T in lstm:
            vs = row["vs_torch_lstm"]
            met = vs >= GOAL_VS_LSTM
            ok &= met
            notes.append(f"{vs:.2f}x torch_lstm (>= {GOAL_VS_LSTM:g}x) {'met' if met else 'MISSED'}")
        else:
            notes.append("vs torch_lstm: n/a (not measured)")
    if (name.split("[")[0] in PUBLISHED_MIXERS or name in CORE_SCANS) and T == GOAL_PUBLISHED_T:
        if row["ratio"] is None:
            notes.append(f"ratio >= {GOAL_PUBLISHED_RATIO:g}x: n/a (no loop)")
        else:
            met = row["ratio"] >= GOAL_PUBLISHED_RATIO
            ok &= met
            lstm_note = f", {row['vs_torch_lstm']:.2f}x torch_lstm" if "vs_torch_lstm" in row else ""
            verdict = "met" if met else "MISSED"
            notes.append(f"{row['ratio']:.2f}x loop (>= {GOAL_PUBLISHED_RATIO:g}x) {verdict}{lstm_note}")
    if (name == "scan:householder" or name.startswith("householder")) and T == GOAL_HH_T:
        if row["ratio"] is None:
            notes.append(f"ratio >= {GOAL_HH_RATIO:g}x: n/a (no loop)")
        else:
            met = row["ratio"] >= GOAL_HH_RATIO
            ok &= met
            notes.append(f"{row['ratio']:.2f}x loop (>= {GOAL_HH_RATIO:g}x) {'met' if met else 'MISSED'}")
    if not notes:
        return None, None
    return ok, "; ".join(notes)


def slopes(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per mixer: least-squares log-log slope of fwd+bwd seconds per batch against T, the slope
    between its two longest lengths, and the scaling goal where one applies."""
    from archlab.models import MIXERS

    by: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        if r.get("T") and r.get("fwdbwd_tok_s"):
            by.setdefault(r["mixer"], []).append((r["T"], r["batch"] * r["T"] / r["fwdbwd_tok_s"]))
    out: dict[str, dict[str, Any]] = {}
    for name, pts in by.items():
        if len(pts) < 2:
            continue
        pts.sort()
        lx = [math.log(t) for t, _ in pts]
        ly = [math.log(s) for _, s in pts]
        mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
        fit = sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)
        last = (ly[-1] - ly[-2]) / (lx[-1] - lx[-2])
        entry: dict[str, Any] = {"slope": fit, "last_slope": last, "goal": None, "goal_met": None}
        base = name.split("[")[0]
        recurrent = name in ("torch_lstm", "scan:diag", "scan:householder", *CORE_SCANS) or (
            base in MIXERS and getattr(MIXERS.get(base), "recurrent", False)
        )
        if base == "attention":
            met = last >= GOAL_QUADRATIC_SLOPE
            entry.update(goal=f"quadratic: last slope {last:.2f} >= {GOAL_QUADRATIC_SLOPE}", goal_met=met)
        elif recurrent:
            met = fit <= GOAL_LINEAR_SLOPE
            entry.update(goal=f"linear: slope {fit:.2f} <= {GOAL_LINEAR_SLOPE}", goal_met=met)
        out[name] = entry
    return out


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Log-log plot of fwd+bwd seconds per batch against T, one line per mixer, with guides."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        if r.get("T") and r.get("fwdbwd_tok_s"):
            by.setdefault(r["mixer"], []).append((r["T"], r["batch"] * r["T"] / r["fwdbwd_tok_s"]))
    fig, ax = plt.subplots(figsize=(8, 6))
    colors = [plt.get_cmap("tab20")(i / 20) for i in range(20)]
    for i, (name, pts) in enumerate(sorted(by.items())):
        pts.sort()
        style = "--" if name.startswith(("scan:", "torch_")) else "-"
        ax.plot(
            [t for t, _ in pts],
            [s for _, s in pts],
            style,
            marker="os^Dv"[i % 5],
            color=colors[i % 20],
            label=name,
        )
    if by:
        ts = sorted({t for pts in by.values() for t, _ in pts})
        at_t0 = sorted(s for pts in by.values() for t, s in pts if t == ts[0])
        y0 = math.exp(sum(math.log(s) for s in at_t0) / len(at_t0))
        for power, label in ((1, "ideal linear (∝ T)"), (2, "ideal quadratic (∝ T²)")):
            ax.plot(
                ts,
                [y0 * (t / ts[0]) ** power for t in ts],
                ":",
                color="gray" if power == 1 else "k",
                label=label,
            )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("seconds per batch, forward+backward")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110), mode="wb")
    plt.close(fig)


def _fmt_tok(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1e6:.2f} M" if v >= 1e6 else f"{v / 1e3:.1f} k"


def human_row(row: dict[str, Any], busy_cores: float = BUSY_CORES) -> str:
    head = f"{row['mixer']:<20} {row['T']!s:>5} "
    if row.get("error"):
        return head + f"ERROR {row['error']}"
    ref = _fmt_tok(row["ref_fwdbwd_tok_s"])
    if row.get("ref_skipped"):
        ref = "skipped"
    ratio = "-" if row["ratio"] is None else f"{row['ratio']:.1f}x"
    roof = "-" if row["roofline_frac"] is None else f"{row['roofline_frac']:.3f} {row.get('bound', '')[:2]}"
    vs = "-" if row.get("vs_torch_lstm") is None else f"{row['vs_torch_lstm']:.2f}x"
    goal = "" if row.get("goal") is None else row["goal"]
    if row.get("ref_skipped"):
        goal += f" (loop skipped: {row['ref_skipped']})"
    if (row.get("others_cores") or 0) > busy_cores:
        goal += f" [other processes used {row['others_cores']:.1f} cores: noisy]"
    return (
        head + f"{_fmt_tok(row['fwd_tok_s']):>10} {_fmt_tok(row['fwdbwd_tok_s']):>10} {ref:>10} "
        f"{ratio:>7} {vs:>7} {roof:>10}  {goal}"
    )


def _cpu_snapshot() -> tuple[float, float, float] | None:
    """(wall s, CPU seconds busy on the whole machine, CPU seconds of this process); None off Linux."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    own = os.times()
    return time.perf_counter(), (sum(ticks) - ticks[3] - ticks[4]) / hz, own.user + own.system


def others_cores(before: tuple[float, float, float] | None) -> float | None:
    """Cores kept busy by other processes since ``before`` (0 = the machine was ours alone)."""
    now = _cpu_snapshot()
    if before is None or now is None or now[0] <= before[0]:
        return None
    return max(0.0, ((now[1] - before[1]) - (now[2] - before[2])) / (now[0] - before[0]))


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: B=4, W=64, T in {64, 256}")
    ap.add_argument("--json", action="store_true", help="one JSON object per line on stdout")
    ap.add_argument("--mixer", action="append", help="only these rows or mixers (repeatable)")
    ap.add_argument("--T", type=int, action="append", help="sequence lengths (repeatable)")
    ap.add_argument("--batch", type=int, help="batch size (default 16; --quick 4)")
    ap.add_argument("--width", type=int, help="layer width (default 256; --quick 64)")
    ap.add_argument("--min-time", type=float, help="seconds per timed measurement (default 1.0)")
    ap.add_argument("--ref-max-call-s", type=float, default=12.0, help="skip slower loop references")
    ap.add_argument(
        "--ref-max-gib", type=float, help="skip loops keeping more memory (default: a quarter of the RAM)"
    )
    ap.add_argument("--no-ref", action="store_true", help="skip every loop reference")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the JSON rows and plot")
    ap.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    ap.add_argument(
        "--wait-quiet",
        type=float,
        help="seconds to wait for other processes to leave the cores (default 30)",
    )
    ap.add_argument("--retries", type=int, help="re-measure a row disturbed by other processes (default 1)")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument("--system-malloc", action="store_true", help="do not set GLIBC_TUNABLES")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; ``argv`` None = a script run (re-executes with the allocator setting)."""
    args = parse_args(argv)
    if argv is None:
        reexec_with_tunables(args.system_malloc)

    import torch

    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return run_benchmark(args)
    finally:
        torch.set_num_threads(threads)  # main() may run inside another process (tests)


def run_benchmark(args: argparse.Namespace) -> int:
    """Measure, print, write the JSON report and the plot; returns the exit status."""
    import torch

    started = time.perf_counter()
    run = Run(
        batch=args.batch or (4 if args.quick else 16),
        width=args.width or (64 if args.quick else 256),
        lengths=sorted(set(args.T or ([64, 256] if args.quick else [256, 1024, 4096]))),
        min_time=args.min_time if args.min_time is not None else (0.05 if args.quick else 1.0),
        min_repeats=2 if args.quick else 5,
        ref_max_call_s=args.ref_max_call_s,
        no_ref=args.no_ref,
        wait_quiet_s=args.wait_quiet if args.wait_quiet is not None else (0.0 if args.quick else 30.0),
        retries=args.retries if args.retries is not None else (0 if args.quick else 1),
        busy_cores=max(0, (os.cpu_count() or 1) - torch.get_num_threads()) + BUSY_CORES,
        ref_max_bytes=(args.ref_max_gib or _mem_total() / 2**30 / 4) * 2**30,
    )
    entries = select(all_entries(), args.mixer)
    allocator = os.environ.get("GLIBC_TUNABLES") or "(unset: system malloc defaults)"
    load_before = _loadavg()
    log(f"measuring GEMM and bandwidth; then {len(entries)} row groups x T={run.lengths}")
    wait_quiet(run.wait_quiet_s, run.busy_cores)  # the ceilings too: a neighbour lowers them
    snap = _cpu_snapshot()
    gemm = measure_gemm(0.2 if args.quick else 1.0)
    run.gemm_flop_s = max(gemm.values())
    run.bandwidth = bench_scans.measure_bandwidth(0.2 if args.quick else 1.0, mib=64 if args.quick else 256)
    machine_others = others_cores(snap)
    meta = {
        "batch": run.batch,
        "width": run.width,
        "lengths": run.lengths,
        "dtype": "float32",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "allocator": f"glibc, GLIBC_TUNABLES={allocator}",
        "loadavg_before": load_before,
        "others_cores_machine": machine_others,
        "quick": args.quick,
    }
    machine = [
        {
            **dict.fromkeys(REQUIRED_KEYS),
            "mixer": "machine:gemm",
            "flop_s": run.gemm_flop_s,
            "by_backend": gemm,
        },
        {**dict.fromkeys(REQUIRED_KEYS), "mixer": "machine:bandwidth", "bytes_s": run.bandwidth},
    ]
    if args.json:
        for m in machine:
            print(json.dumps({**m, **meta}), flush=True)
    else:
        print(
            f"# mixers, batch {run.batch} x width {run.width}, fp32, {meta['threads']} threads; "
            f"torch {meta['torch']}, python {meta['python']}, allocator {meta['allocator']}; "
            f"load before: {load_before}; cores used by other processes: {machine_others or 0:.1f}"
        )
        backends = ", ".join(f"{k} {v / 1e9:.1f}" for k, v in gemm.items())
        print(
            f"{'machine:gemm':<20} {run.gemm_flop_s / 1e9:8.1f} GFLOP/s  (best 1024^3 fp32 GEMM: {backends})"
        )
        mib = 64 if args.quick else 256
        print(
            f"{'machine:bandwidth':<20} {run.bandwidth / 1e9:8.1f} GB/s     (best torch.add, 3 x {mib} MiB)"
        )
        print(
            f"{'mixer':<20} {'T':>5} {'fwd tok/s':>10} {'fwd+bwd':>10} {'loop f+b':>10} {'ratio':>7} "
            f"{'vs lstm':>7} {'roofline':>10}  goals"
        )
    rows: list[dict[str, Any]] = []
    lstm: dict[int, float] = {}
    missed = 0
    for entry in entries:
        log(f"{entry.name} ... (elapsed {time.perf_counter() - started:.0f} s, load {_loadavg()})")
        for row in bench_entry(entry, run):
            if row["mixer"] == "torch_lstm" and row.get("fwdbwd_tok_s"):
                lstm[row["T"]] = row["fwdbwd_tok_s"]
            row["goals_met"], row["goal"] = row_goals(row, lstm)
            missed += row["goals_met"] is False
            row["loadavg"] = _loadavg()
            rows.append(row)
            print(json.dumps(row) if args.json else human_row(row, run.busy_cores), flush=True)
    scaling = slopes(rows)
    missed += sum(s["goal_met"] is False for s in scaling.values())
    elapsed = time.perf_counter() - started
    meta.update(loadavg_after=_loadavg(), elapsed_s=elapsed)
    if args.json:
        print(json.dumps({"mixer": "scaling", "slopes": scaling}), flush=True)
    else:
        print("# log-log slope of fwd+bwd seconds per batch vs T (1 = linear, 2 = quadratic):")
        for name, s in scaling.items():
            goal = "" if s["goal"] is None else f"  {s['goal']}: {'met' if s['goal_met'] else 'MISSED'}"
            print(f"{name:<20} fit {s['slope']:5.2f}  last {s['last_slope']:5.2f}{goal}")
        print(
            f"# {len(rows)} rows in {elapsed:.0f} s; goals missed: {missed}; load average after: "
            f"{meta['loadavg_after']} (a busy machine stalls every op; rerun when quiet)"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"meta": meta, "machine": machine, "rows": rows, "slopes": scaling}
    atomic_write(args.out / "bench_mixers.json", lambda f: json.dump(report, f, indent=1))
    title = f"mixers fwd+bwd, B={run.batch} W={run.width} fp32, {meta['threads']} threads"
    plot(rows, args.out / "bench_mixers.png", title)
    log(f"wrote {args.out / 'bench_mixers.json'} and {args.out / 'bench_mixers.png'}")
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
