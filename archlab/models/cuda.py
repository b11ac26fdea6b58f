"""CUDA fast paths: thin adapters from archlab's tensors to the field's kernels (extra ``gpu``).

``pip install 'archlab[gpu]'`` brings flash-linear-attention's kernels (``fla-core``),
``mamba-ssm`` and ``causal-conv1d``. When a mixer's tensors are on CUDA and the kernel's package
imports, the mixer calls one of the four adapters below; each maps archlab's layout and
parametrisation to the kernel's, calls it and maps the result back. Every adapter returns
``None`` when it cannot run — tensors not on CUDA (CPU, ``meta``), a dtype the kernel lacks, the
package missing or broken, a size beyond the kernel's limits, tensors inside a ``torch.func``
transform (the stacked ensembles' ``vmap``: the kernels' autograd functions have no batching
rule), or ``ARCHLAB_KERNELS=off`` — and the mixer then runs its pure-PyTorch path, which is the
definition the kernels are tested against (``tests/models/test_cuda_kernels.py``, marked
``gpu``). The packages are imported on first use, never by ``import archlab``; the result (the
function, or None) is cached in :data:`_KERNELS`.

=================== ============================================= ===============================
adapter              kernel (package)                               archlab mixers
=================== ============================================= ===============================
``causal_conv1d``    ``causal_conv1d_fn(activation="silu")``        the short convolutions of
                     (causal-conv1d)                                mamba, mamba2, gated_delta*
``delta_rule``       n_h = 1: ``chunk_delta_rule`` (ungated),       gated_deltanet,
                     ``chunk_gated_delta_rule`` (gated);            gated_deltaproduct (unit and
                     n_h ≥ 2: ``chunk_gated_delta_product`` (fla)   signed)
``selective_scan``   ``selective_scan_fn`` (mamba-ssm, CUDA)        mamba, ``eig_range: unit``
``ssd``              ``mamba_chunk_scan_combined`` (mamba-ssm,      mamba2, ``eig_range: unit``
                     Triton)
=================== ============================================= ===============================

**What falls back, and why.**

* Mamba[−1, 1] and Mamba-2[−1, 1] (``eig_range: signed``, Grazzi et al. 2025: the transition
  ``2·exp(ΔA) − 1``) have no mamba-ssm kernel: both kernels compute ``exp(ΔA)`` inside, in
  (0, 1), and a sign cannot be passed through ``Δ`` or ``A``. The mixers do not call the adapters
  for them; they run the PyTorch scans.
* The delta-rule family keeps its negative-eigenvalue option: fla uses β as given (its layers'
  ``allow_neg_eigval`` is just ``beta * 2`` before the call), so β ∈ (0, 2) passes unchanged.
* ``diag_rnn`` has no adapter: fla's diagonal recurrences (``fla.ops.hgrn``, ``fla.ops.gla``)
  take the gate in log space (``h = exp(g)·h + x``), which covers ``unit`` only, not ``signed``
  (a < 0) nor ``complex``, and not ``diag_rnn``'s learned initial state with its ``1 − |a|`` input
  scale without extra passes; its chunked PyTorch scan runs on the GPU as it is.
* ``delta_rule`` starts from S₀ = 0 (the kernels' ``initial_state=None``): ``householder``, with
  its learned initial state (the identity at first), keeps its PyTorch scan.

**Dtypes.** fla's ``chunk_delta_rule`` and ``chunk_gated_delta_product`` refuse float32
(``assert q.dtype != torch.float32``), but ``chunk_gated_delta_rule`` takes it (fla ≥ 0.4; its
tests run it in float32). So for float32 every delta-rule variant runs as
``chunk_gated_delta_rule`` on the interleaved sequence of length n_h·T — factor j of token t at
position ``t·n_h + j``, the log gate at the first factor of each token (zero when ungated), q at
the last factor (zero elsewhere) and the output read there — which is exactly the product
recurrence (fla's own ``chunk_gated_delta_product`` backward does the same). bfloat16 / float16
go to the specialised kernels above. Triton's ``tl.dot`` rounds float32 operands to TF32 on
Ampere and later (fla and the SSD kernels do not turn that off), so their float32 results are
good to about 1e-3 relative, not 1e-6; ``selective_scan_fn`` and ``causal_conv1d_fn`` compute in
true float32. mamba-ssm wants ``A`` and ``D`` in float32 (``selective_scan.cpp`` checks it); the
adapters cast them.

**Sources read** (signatures, layouts, limits; nothing copied):

* fla-org/flash-linear-attention @bc3b101 (0.5.2): ``fla/ops/delta_rule/chunk.py``
  ``chunk_delta_rule(q, k, v, beta, scale=None, initial_state=None, output_final_state=False,
  use_qk_l2norm_in_kernel=False, cu_seqlens=None, …)``, layout ``[B, T, H, K]`` (``head_first``
  removed), float32 refused, ``scale`` default ``K**-0.5``; ``fla/ops/gated_delta_rule/chunk.py``
  ``chunk_gated_delta_rule(q, k, v, g, beta, scale=None, initial_state=None,
  output_final_state=False, use_qk_l2norm_in_kernel=False, use_beta_sigmoid_in_kernel=False,
  allow_neg_eigval=False, …)``, ``g`` the log decay ``[B, T, H]``, decay applied before the
  delta update (``naive.py``); ``fla/ops/gated_delta_product/chunk.py``
  ``chunk_gated_delta_product(q, k, v, g, beta, num_householder, scale=None, initial_state=None,
  output_final_state=False, use_qk_l2norm_in_kernel=False, …)``, k/v/β of length
  ``T·num_householder`` interleaved ``(t n)`` (as ``fla/layers/gated_deltaproduct.py``
  rearranges them), ``g`` ``[B, T, H]`` or None, float32 refused; head size ≤ 256
  (``fla/ops/common/chunk_delta_h.py``); ``tests/ops/test_gdn.py`` (float32 chunk tests);
  ``fla/ops/hgrn/chunk.py`` (log-space gate).
* state-spaces/mamba @e9594ce (2.3.2.post1): ``mamba_ssm/ops/selective_scan_interface.py``
  ``selective_scan_fn(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
  return_last_state=False)`` with u, delta ``[B, D, L]``, A ``[D, N]``, B, C ``[B, N, L]`` (and
  ``selective_scan_ref`` for the semantics; the CUDA extension ``selective_scan_cuda`` may be
  absent, then the module sets it to None); ``csrc/selective_scan/selective_scan.cpp`` (dtypes,
  ``dstate <= 256``); ``mamba_ssm/ops/triton/ssd_combined.py`` ``mamba_chunk_scan_combined(x, dt,
  A, B, C, chunk_size, D=None, z=None, dt_bias=None, initial_states=None, seq_idx=None,
  cu_seqlens=None, dt_softplus=False, dt_limit=(0.0, inf), return_final_states=False, …)`` with
  x ``[B, T, H, P]``, dt ``[B, T, H]``, A ``[H]``, B, C ``[B, T, G, N]``; T need not be a
  multiple of ``chunk_size`` (``ssd_chunk_state.py`` ``_chunk_cumsum_fwd``: ``nchunks =
  ceil(seqlen / chunk_size)``, the kernels mask the last chunk), so nothing is padded;
  ``mamba_ssm/modules/mamba2.py`` (``chunk_size=256``).
* Dao-AILab/causal-conv1d @0d2252d (1.6.1): ``causal_conv1d/causal_conv1d_interface.py``
  ``causal_conv1d_fn(x, weight, bias=None, seq_idx=None, initial_states=None,
  return_final_states=False, final_states_out=None, activation=None)`` with x ``[B, C, T]``,
  weight ``[C, K]``, ``activation`` None / "silu" / "swish"; ``csrc/causal_conv1d.cpp``: width
  2–4, and the channel-last layout (``x.stride(1) == 1``, i.e. our ``[B, T, C]`` transposed,
  no copy) needs C and the strides divisible by 8 — otherwise the adapter passes a contiguous
  ``[B, C, T]`` copy.

For benchmarks, :func:`kernel_call` returns the exact kernel call an adapter would make (the
function and its arguments in the kernel's layout), so the adapter's own cost can be measured
against a direct call (``benchmarks/gpu_check.py``).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "ENV",
    "KernelCall",
    "available",
    "causal_conv1d",
    "delta_rule",
    "enabled",
    "kernel_call",
    "selective_scan",
    "ssd",
    "switched_on",
]

log = logging.getLogger(__name__)

#: environment variable: ``off`` (or 0 / false / no) keeps every mixer on its PyTorch path
ENV = "ARCHLAB_KERNELS"
_OFF = frozenset({"off", "0", "false", "no"})
_DTYPES = (torch.float32, torch.bfloat16, torch.float16)

# "module:attribute" of every kernel the adapters call
CONV = "causal_conv1d:causal_conv1d_fn"
DELTA = "fla.ops.delta_rule:chunk_delta_rule"
GATED_DELTA = "fla.ops.gated_delta_rule:chunk_gated_delta_rule"
DELTA_PRODUCT = "fla.ops.gated_delta_product:chunk_gated_delta_product"
FLA_VERSION = "fla:__version__"
SCAN = "mamba_ssm.ops.selective_scan_interface:selective_scan_fn"
#: the compiled extension behind SCAN (mamba-ssm imports without it and sets it to None)
SCAN_EXT = "mamba_ssm.ops.selective_scan_interface:selective_scan_cuda"
SSD = "mamba_ssm.ops.triton.ssd_combined:mamba_chunk_scan_combined"

#: the largest head size (delta rule, fla) and state size (selective scan, mamba-ssm)
MAX_HEAD, MAX_STATE = 256, 256
#: causal-conv1d's kernel widths
CONV_WIDTHS = (2, 3, 4)
#: fla ≥ 0.4 runs chunk_gated_delta_rule in float32 (0.3 asserted bfloat16 / float16)
FLA_FP32 = (0, 4)

#: "module:attribute" → the object, or None when it does not import (filled on first use)
_KERNELS: dict[str, Any] = {}


def _resolve(spec: str) -> Any:
    """The object ``spec`` names ("module:attribute"), imported on first use; None if missing."""
    if spec in _KERNELS:
        return _KERNELS[spec]
    module, _, attr = spec.partition(":")
    try:
        obj: Any = getattr(importlib.import_module(module), attr)
    except Exception as exc:  # ImportError, or an extension built for another torch (OSError, …)
        log.debug("CUDA kernel %s unavailable: %s", spec, exc)
        obj = None
    _KERNELS[spec] = obj
    return obj


def _version(text: Any) -> tuple[int, ...]:
    parts = []
    for p in str(text).split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def available() -> dict[str, bool]:
    """Which kernel packages import (all the functions the adapters use from each):
    ``causal_conv1d``, ``fla`` (the three delta-rule kernels), ``mamba_ssm`` (the selective scan
    with its CUDA extension, and the SSD). Imports them (once) — not called at import time."""
    return {
        "causal_conv1d": _resolve(CONV) is not None,
        "fla": all(_resolve(s) is not None for s in (DELTA, GATED_DELTA, DELTA_PRODUCT)),
        "mamba_ssm": all(_resolve(s) is not None for s in (SCAN, SCAN_EXT, SSD)),
    }


def switched_on() -> bool:
    """False when ``ARCHLAB_KERNELS`` is ``off`` (read at every call, so tests can flip it)."""
    return os.environ.get(ENV, "").strip().lower() not in _OFF


def _transformed(t: Tensor) -> bool:
    """Inside ``torch.func.vmap`` / ``grad`` (the kernels' autograd functions cannot be batched)."""
    check = getattr(getattr(torch._C, "_functorch", None), "is_functorch_wrapped_tensor", None)
    return bool(check(t)) if check is not None else False


def enabled(*tensors: Tensor | None) -> bool:
    """Whether kernels may run on ``tensors`` (None entries are skipped): switched on, every
    tensor on CUDA in float32 / bfloat16 / float16, none inside a ``torch.func`` transform.
    Each adapter checks its kernel's own limits on top."""
    if not switched_on():
        return False
    ts = [t for t in tensors if t is not None]
    return bool(ts) and all(t.is_cuda and t.dtype in _DTYPES and not _transformed(t) for t in ts)


# ---------------------------------------------------------------------------------------------
# one kernel call, as data: what an adapter runs (and what a benchmark times without it)
# ---------------------------------------------------------------------------------------------


def _first(out: Any) -> Tensor:
    """The output tensor of a kernel that returns ``(o, final_state)`` or ``o``."""
    return out[0] if isinstance(out, tuple) else out


@dataclass(frozen=True)
class KernelCall:
    """``finish(fn(*args, **kwargs))`` is the adapter's result; ``fn`` alone is the bare kernel."""

    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    finish: Callable[[Tensor], Tensor] = lambda o: o

    def __call__(self) -> Tensor:
        return self.finish(_first(self.fn(*self.args, **self.kwargs)))


def _plan_conv(x: Tensor, weight: Tensor, bias: Tensor | None) -> KernelCall | None:
    if not enabled(x, weight, bias) or x.dim() != 3 or weight.dim() != 2:
        return None
    fn = _resolve(CONV)
    c, width = weight.shape
    if fn is None or width not in CONV_WIDTHS or x.shape[-1] != c:
        return None
    xt = x.transpose(1, 2)  # [B, C, T]: channel-last view of a contiguous [B, T, C], no copy
    if not (x.is_contiguous() and c % 8 == 0):
        # channel-first layout, any C: a fresh [B, C, T] with unit time stride (``contiguous()``
        # would keep the channel-last view at T = 1, which the kernel then reads as channel-last)
        xt = xt.clone(memory_format=torch.contiguous_format)
    b = bias.to(weight.dtype) if bias is not None else None
    return KernelCall(
        "causal_conv1d", fn, (xt, weight, b), {"activation": "silu"}, lambda y: y.transpose(1, 2)
    )


def _factors_last(t: Tensor) -> Tensor:
    """``[B, H, T, n_h, …]`` → fla's interleaved ``[B, T·n_h, H, …]`` (factor j of token t at
    ``t·n_h + j``); ``[B, H, T]`` → ``[B, T, H]``."""
    if t.dim() == 3:
        return t.transpose(1, 2)
    order = (0, 2, 3, 1, *range(4, t.dim()))
    return t.permute(order).flatten(1, 2)


def _plan_delta(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, log_alpha: Tensor | None) -> KernelCall | None:
    if not enabled(q, k, v, beta, log_alpha) or q.dim() != 4 or k.dim() != 5:
        return None
    b, h, t, d = q.shape
    n_h = k.shape[3]
    if d > MAX_HEAD:
        return None
    dtype = q.dtype
    q_ = q.transpose(1, 2)  # [B, T, H, d]
    k_, v_ = _factors_last(k).to(dtype), _factors_last(v).to(dtype)  # [B, T·n_h, H, ·]
    beta_ = _factors_last(beta).to(dtype)  # [B, T·n_h, H]
    g = log_alpha.transpose(1, 2).float() if log_alpha is not None else None  # [B, T, H]
    common: dict[str, Any] = {
        "scale": 1.0,
        "initial_state": None,
        "output_final_state": False,
        "use_qk_l2norm_in_kernel": False,
    }

    def back(o: Tensor) -> Tensor:  # [B, T, H, dv] → [B, H, T, dv]
        return o.transpose(1, 2)

    if dtype == torch.float32:
        fn = _resolve(GATED_DELTA)
        version = _resolve(FLA_VERSION)  # None: unreadable, taken as recent
        if fn is None or (version is not None and _version(version) < FLA_FP32):
            return None
        if g is None:
            g = q.new_zeros(b, t, h, dtype=torch.float32)
        if n_h == 1:
            kw = {"q": q_, "k": k_, "v": v_, "g": g, "beta": beta_, **common}
            return KernelCall("chunk_gated_delta_rule", fn, (), kw, back)
        # interleaved: q only at each token's last factor, the gate only at its first
        q_i = F.pad(q_.unsqueeze(2), (0, 0, 0, 0, n_h - 1, 0)).flatten(1, 2)
        g_i = F.pad(g.unsqueeze(2), (0, 0, 0, n_h - 1)).flatten(1, 2)
        kw = {"q": q_i, "k": k_, "v": v_, "g": g_i, "beta": beta_, **common}

        def back_last(o: Tensor) -> Tensor:  # [B, T·n_h, H, dv] → the last factors, [B, H, T, dv]
            return o.unflatten(1, (t, n_h))[:, :, -1].transpose(1, 2)

        return KernelCall("chunk_gated_delta_rule (interleaved)", fn, (), kw, back_last)
    if n_h == 1 and g is None:
        fn = _resolve(DELTA)
        kw = {"q": q_, "k": k_, "v": v_, "beta": beta_, **common}
        return None if fn is None else KernelCall("chunk_delta_rule", fn, (), kw, back)
    if n_h == 1:
        fn = _resolve(GATED_DELTA)
        kw = {"q": q_, "k": k_, "v": v_, "g": g, "beta": beta_, **common}
        return None if fn is None else KernelCall("chunk_gated_delta_rule", fn, (), kw, back)
    fn = _resolve(DELTA_PRODUCT)
    kw = {"q": q_, "k": k_, "v": v_, "g": g, "beta": beta_, "num_householder": n_h, **common}
    return None if fn is None else KernelCall("chunk_gated_delta_product", fn, (), kw, back)


def _plan_scan(x: Tensor, dt: Tensor, a: Tensor, b: Tensor, c: Tensor, d: Tensor) -> KernelCall | None:
    if not enabled(x, dt, a, b, c, d) or x.dim() != 3 or a.dim() != 2 or a.shape[1] > MAX_STATE:
        return None
    fn = _resolve(SCAN)
    if fn is None or _resolve(SCAN_EXT) is None:
        return None
    dtype = x.dtype
    args = (
        x.transpose(1, 2),  # u [B, D, L]
        dt.to(dtype).transpose(1, 2),  # delta [B, D, L]
        a.float(),  # A [D, N], float32
        b.to(dtype).transpose(1, 2),  # B [B, N, L]
        c.to(dtype).transpose(1, 2),  # C [B, N, L]
    )
    kw = {"D": d.float(), "z": None, "delta_bias": None, "delta_softplus": False, "return_last_state": False}
    return KernelCall("selective_scan_fn", fn, args, kw, lambda y: y.transpose(1, 2))


def ssd_chunk(seq_len: int) -> int:
    """The SSD chunk: mamba2's 256 for long sequences, 64 (as mamba-ssm's tests) for short ones."""
    return 256 if seq_len > 256 else 64


def _plan_ssd(x: Tensor, dt: Tensor, a: Tensor, b: Tensor, c: Tensor, d: Tensor) -> KernelCall | None:
    if not enabled(x, dt, a, b, c, d) or x.dim() != 4 or b.dim() != 3:
        return None
    fn = _resolve(SSD)
    if fn is None:
        return None
    dtype = x.dtype
    # one group: B, C [B, T, N] → [B, T, 1, N]
    args = (x, dt, a.float(), b.to(dtype).unsqueeze(2), c.to(dtype).unsqueeze(2), ssd_chunk(x.shape[1]))
    return KernelCall("mamba_chunk_scan_combined", fn, args, {"D": d.float()})


_PLANS: dict[str, Callable[..., KernelCall | None]] = {
    "causal_conv1d": _plan_conv,
    "delta_rule": _plan_delta,
    "selective_scan": _plan_scan,
    "ssd": _plan_ssd,
}


def kernel_call(adapter: str, *inputs: Tensor | None) -> KernelCall | None:
    """The kernel call ``adapter`` (one of the four below) would make on ``inputs``, or None
    when it would fall back; for benchmarks and tests."""
    return _PLANS[adapter](*inputs)


# ---------------------------------------------------------------------------------------------
# the adapters the mixers call
# ---------------------------------------------------------------------------------------------


def causal_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor | None:
    """``silu(depthwise causal conv)``: x [B, T, C], weight [C, K], bias [C] or None → [B, T, C],
    i.e. ``F.silu(F.conv1d(x.transpose(1, 2), weight[:, None], bias, padding=K − 1,
    groups=C)[..., :T].transpose(1, 2))``; None when it cannot run (K outside 2–4, …)."""
    call = _plan_conv(x, weight, bias)
    return None if call is None else call()


def delta_rule(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, log_alpha: Tensor | None) -> Tensor | None:
    """(Gated) delta rule / DeltaProduct from S₀ = 0, per batch element and head::

        S ← exp(log_alpha_t)·S                      (gated only)
        S ← S + β_{t,j} k_{t,j} (v_{t,j} − Sᵀ k_{t,j})ᵀ   for j = 1 … n_h
        o_t = Sᵀ q_t                                 (no 1/√d scale)

    q [B, H, T, d], k [B, H, T, n_h, d] (unit rows; not normalised here), v [B, H, T, n_h, dv],
    β [B, H, T, n_h] in (0, 2), log_alpha [B, H, T] ≤ 0 or None → o [B, H, T, dv]; None when
    it cannot run (d > 256, …)."""
    call = _plan_delta(q, k, v, beta, log_alpha)
    return None if call is None else call()


def selective_scan(x: Tensor, dt: Tensor, a: Tensor, b: Tensor, c: Tensor, d: Tensor) -> Tensor | None:
    """Mamba-1 selective scan (unit eigenvalue range): x, dt [B, T, D] (dt already softplus'ed),
    a [D, N] < 0, b, c [B, T, N], d [D]; ``h_t = exp(dt_t ⊗ a) ⊙ h_{t−1} + (dt_t x_t) ⊗ b_t``,
    ``y_t = h_t c_t + d ⊙ x_t`` from h_0 = 0 → y [B, T, D]; None when it cannot run (N > 256, …)."""
    call = _plan_scan(x, dt, a, b, c, d)
    return None if call is None else call()


def ssd(x: Tensor, dt: Tensor, a: Tensor, b: Tensor, c: Tensor, d: Tensor) -> Tensor | None:
    """Mamba-2 SSD (unit eigenvalue range, one group): x [B, T, H, P], dt [B, T, H] (softplus'ed),
    a [H] < 0, b, c [B, T, N], d [H]; per head ``S_t = exp(dt_t a) S_{t−1} + dt_t x_t b_tᵀ``,
    ``y_t = S_t c_t + d x_t`` from S_0 = 0 → y [B, T, H, P]; None when it cannot run."""
    call = _plan_ssd(x, dt, a, b, c, d)
    return None if call is None else call()
