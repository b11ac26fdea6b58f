"""The CUDA adapters (:mod:`archlab.models.cuda`) against plain PyTorch references of their semantics.

Three kinds of test:

* ``gpu`` (skipped without CUDA, and without the kernel's package): the adapter on CUDA inputs
  against a float64 CPU reference loop on the same inputs (the device tensors' values, so input
  rounding is not counted), outputs and the gradients of every input, at T = 1 and at lengths
  that are not a multiple of the kernels' chunk, β ≤ 1 and β up to 2 (negative eigenvalues);
* CPU, with stand-in kernels: each stand-in implements a kernel's documented contract in the
  kernel's own layout (shapes, dtype refusals, fla's interleaved ``(t n)`` factor axis, mamba's
  ``[B, D, L]``), so the adapters' layout mapping, path choice and gradient flow are checked in CI
  without a GPU;
* CPU: every adapter falls back (returns None) on CPU tensors and with ``ARCHLAB_KERNELS=off``,
  and importing archlab imports none of the kernel packages.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from archlab.models import cuda
from archlab.models.scan_householder import householder_product_reference

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

#: Tolerances: relative RMS error ‖kernel − reference‖ / ‖reference‖ over the whole tensor
#: (fla's own test metric), the reference in float64 on the CPU. Per adapter: (outputs, gradients).
TOL_FP32: dict[str, tuple[float, float]] = {
    # true float32 multiply-adds, at most 4 taps (and sums over B·T for the weight gradient)
    "causal_conv1d": (1e-5, 1e-4),
    # true float32 CUDA scan; reassociated products of exponentials
    "selective_scan": (1e-4, 1e-3),
    # Triton's tl.dot rounds float32 operands to TF32 (10-bit mantissa, as float16): fla's float16
    # tests allow 0.006 (outputs) to 0.02 (β and gate gradients)
    "ssd": (1e-2, 2e-2),
    "delta_rule": (1e-2, 2e-2),
}
#: bfloat16 inputs (8-bit mantissa: ≈ 8× float16's rounding), every adapter
TOL_BF16 = (5e-2, 1e-1)
#: the CPU stand-in tests: float64 paths, float32 paths (plain float32 arithmetic, no TF32)
TOL_FAKE = {torch.float64: 1e-10, torch.float32: 1e-5}


@pytest.fixture(autouse=True)
def _kernels_switched_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with kernels allowed; the tests of the switch set it themselves."""
    monkeypatch.delenv(cuda.ENV, raising=False)


def rel_err(got: Tensor, ref: Tensor) -> float:
    g, r = got.detach().double().cpu(), ref.detach().double().cpu()
    return float((g - r).norm() / r.norm().clamp_min(1e-30))


# ---------------------------------------------------------------------------------------------
# references: the semantics in archlab's layout, plain loops
# ---------------------------------------------------------------------------------------------


def conv_ref(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    t, (c, k) = x.shape[1], weight.shape
    y = F.conv1d(x.transpose(1, 2), weight[:, None, :], bias, padding=k - 1, groups=c)[..., :t]
    return F.silu(y.transpose(1, 2))


def delta_ref(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, log_alpha: Tensor | None) -> Tensor:
    b, h, t, d = q.shape
    n_h, dv = k.shape[3], v.shape[-1]
    s = q.new_zeros(b, h, d, dv)
    out = []
    for i in range(t):
        if log_alpha is not None:
            s = s * log_alpha[:, :, i].exp()[..., None, None]
        for j in range(n_h):
            kj, vj, bj = k[:, :, i, j], v[:, :, i, j], beta[:, :, i, j]
            err = vj - torch.einsum("bhkv,bhk->bhv", s, kj)
            s = s + bj[..., None, None] * kj[..., :, None] * err[..., None, :]
        out.append(torch.einsum("bhkv,bhk->bhv", s, q[:, :, i]))
    return torch.stack(out, dim=2)


def scan_ref(x: Tensor, dt: Tensor, a: Tensor, b: Tensor, c: Tensor, d: Tensor) -> Tensor:
    h = x.new_zeros(x.shape[0], *a.shape)
    ys = []
    for i in range(x.shape[1]):
        dt_i, x_i = dt[:, i], x[:, i]
        h = torch.exp(dt_i[..., None] * a) * h + (dt_i * x_i)[..., None] * b[:, i, None, :]
        ys.append((h * c[:, i, None, :]).sum(-1) + d * x_i)
    return torch.stack(ys, dim=1)


def ssd_ref(x: Tensor, dt: Tensor, a: Tensor, b: Tensor, c: Tensor, d: Tensor) -> Tensor:
    bsz, t, h, p = x.shape
    s = x.new_zeros(bsz, h, p, b.shape[-1])
    ys = []
    for i in range(t):
        dt_i, x_i = dt[:, i], x[:, i]  # [B, H], [B, H, P]
        s = (
            torch.exp(dt_i * a)[..., None, None] * s
            + (dt_i[..., None] * x_i)[..., None] * b[:, i, None, None]
        )
        ys.append(torch.einsum("bhpn,bn->bhp", s, c[:, i]) + d[:, None] * x_i)
    return torch.stack(ys, dim=1)


REFS: dict[str, Callable[..., Tensor]] = {
    "causal_conv1d": conv_ref,
    "delta_rule": delta_ref,
    "selective_scan": scan_ref,
    "ssd": ssd_ref,
}
ADAPTERS: dict[str, Callable[..., Tensor | None]] = {
    "causal_conv1d": cuda.causal_conv1d,
    "delta_rule": cuda.delta_rule,
    "selective_scan": cuda.selective_scan,
    "ssd": cuda.ssd,
}


# ---------------------------------------------------------------------------------------------
# inputs (float64, CPU; a test moves them to its device and dtype)
# ---------------------------------------------------------------------------------------------


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def conv_inputs(b: int, t: int, c: int, k: int, bias: bool, seed: int = 0) -> list[Tensor | None]:
    g = _gen(seed)
    x = torch.randn(b, t, c, generator=g, dtype=torch.float64)
    w = torch.randn(c, k, generator=g, dtype=torch.float64) / k**0.5
    return [x, w, torch.randn(c, generator=g, dtype=torch.float64) if bias else None]


def delta_inputs(
    b: int, h: int, t: int, n_h: int, d: int, dv: int, beta_max: float, gated: bool, seed: int = 0
) -> list[Tensor | None]:
    g = _gen(seed)
    q = torch.randn(b, h, t, d, generator=g, dtype=torch.float64)
    k = F.normalize(torch.randn(b, h, t, n_h, d, generator=g, dtype=torch.float64), dim=-1)
    v = torch.randn(b, h, t, n_h, dv, generator=g, dtype=torch.float64)
    beta = beta_max * torch.rand(b, h, t, n_h, generator=g, dtype=torch.float64)
    log_alpha = F.logsigmoid(torch.randn(b, h, t, generator=g, dtype=torch.float64) + 3) if gated else None
    return [q, k, v, beta, log_alpha]


def scan_inputs(b: int, t: int, dim: int, n: int, seed: int = 0) -> list[Tensor]:
    g = _gen(seed)
    x = torch.randn(b, t, dim, generator=g, dtype=torch.float64)
    dt = F.softplus(torch.randn(b, t, dim, generator=g, dtype=torch.float64) - 2)
    a = -torch.exp(torch.randn(dim, n, generator=g, dtype=torch.float64) / 2)
    bb = torch.randn(b, t, n, generator=g, dtype=torch.float64)
    cc = torch.randn(b, t, n, generator=g, dtype=torch.float64)
    return [x, dt, a, bb, cc, torch.randn(dim, generator=g, dtype=torch.float64)]


def ssd_inputs(b: int, t: int, h: int, p: int, n: int, seed: int = 0) -> list[Tensor]:
    g = _gen(seed)
    x = torch.randn(b, t, h, p, generator=g, dtype=torch.float64)
    dt = F.softplus(torch.randn(b, t, h, generator=g, dtype=torch.float64) - 2)
    a = -torch.exp(torch.randn(h, generator=g, dtype=torch.float64) / 2)
    bb = torch.randn(b, t, n, generator=g, dtype=torch.float64) / n**0.5
    cc = torch.randn(b, t, n, generator=g, dtype=torch.float64) / n**0.5
    return [x, dt, a, bb, cc, torch.randn(h, generator=g, dtype=torch.float64)]


def compare(
    adapter: str,
    inputs: Sequence[Tensor | None],
    device: str,
    dtype: torch.dtype,
    tol: tuple[float, float],
) -> None:
    """Run ``adapter`` on ``inputs`` (moved to device/dtype) and the float64 CPU reference on the
    same values; outputs and the gradients of every input within ``tol``."""
    dev = [None if t is None else t.to(device, dtype).requires_grad_() for t in inputs]
    ref_in = [None if t is None else t.detach().double().cpu().requires_grad_() for t in dev]
    out = ADAPTERS[adapter](*dev)
    assert out is not None, f"{adapter} fell back on {device}/{dtype}"
    ref = REFS[adapter](*ref_in)
    assert out.shape == ref.shape and out.dtype == dtype and out.device.type == torch.device(device).type
    gy = torch.randn(ref.shape, generator=_gen(1), dtype=torch.float64)
    (out.double() * gy.to(out.device)).sum().backward()
    (ref * gy).sum().backward()
    errs = {"output": rel_err(out, ref)}
    for i, (t, r) in enumerate(zip(dev, ref_in, strict=True)):
        if t is not None and r is not None:
            assert t.grad is not None and r.grad is not None, f"input {i} got no gradient"
            errs[f"grad {i}"] = rel_err(t.grad, r.grad)
    bad = {k: e for k, e in errs.items() if e > (tol[0] if k == "output" else tol[1])}
    assert not bad, f"{adapter} {dtype}: relative errors over {tol}: {bad} (all: {errs})"


# ---------------------------------------------------------------------------------------------
# GPU: the real kernels
# ---------------------------------------------------------------------------------------------


def _need(*specs: str) -> None:
    """importorskip for the kernels (also skips a package whose CUDA extension does not load)."""
    for spec in specs:
        if cuda._resolve(spec) is None:
            pytest.skip(f"{spec} does not import")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("t", [1, 100])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("c", [16, 12], ids=["channel_last", "channel_first"])
def test_causal_conv1d_cuda(c: int, k: int, bias: bool, t: int) -> None:
    _need(cuda.CONV)
    compare("causal_conv1d", conv_inputs(2, t, c, k, bias), "cuda", torch.float32, TOL_FP32["causal_conv1d"])


@pytest.mark.gpu
@needs_cuda
def test_causal_conv1d_cuda_bf16_and_limits() -> None:
    _need(cuda.CONV)
    compare("causal_conv1d", conv_inputs(2, 100, 16, 4, True), "cuda", torch.bfloat16, TOL_BF16)
    for width in (1, 5):  # outside the kernel's 2–4: fall back
        x, w, b = (None if z is None else z.float().cuda() for z in conv_inputs(1, 8, 16, width, True))
        assert x is not None and w is not None
        assert cuda.causal_conv1d(x, w, b) is None


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("t", [1, 100])
@pytest.mark.parametrize("beta_max", [1.0, 2.0], ids=["beta<=1", "beta<=2"])
@pytest.mark.parametrize("gated", [False, True], ids=["ungated", "gated"])
@pytest.mark.parametrize("n_h", [1, 2, 3])
def test_delta_rule_cuda_fp32(n_h: int, gated: bool, beta_max: float, t: int) -> None:
    _need(cuda.GATED_DELTA)
    inputs = delta_inputs(2, 2, t, n_h, 64, 32, beta_max, gated)
    compare("delta_rule", inputs, "cuda", torch.float32, TOL_FP32["delta_rule"])


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("gated", [False, True], ids=["ungated", "gated"])
@pytest.mark.parametrize("n_h", [1, 2])
def test_delta_rule_cuda_bf16(n_h: int, gated: bool) -> None:
    """bfloat16 takes fla's specialised kernels: chunk_delta_rule, chunk_gated_delta_rule,
    chunk_gated_delta_product (with and without a gate)."""
    _need(cuda.DELTA, cuda.GATED_DELTA, cuda.DELTA_PRODUCT)
    compare("delta_rule", delta_inputs(2, 2, 100, n_h, 64, 32, 2.0, gated), "cuda", torch.bfloat16, TOL_BF16)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("t", [1, 100])
def test_selective_scan_cuda(t: int) -> None:
    _need(cuda.SCAN, cuda.SCAN_EXT)
    compare("selective_scan", scan_inputs(2, t, 24, 16), "cuda", torch.float32, TOL_FP32["selective_scan"])


@pytest.mark.gpu
@needs_cuda
def test_selective_scan_cuda_bf16_and_limits() -> None:
    _need(cuda.SCAN, cuda.SCAN_EXT)
    compare("selective_scan", scan_inputs(2, 100, 24, 16), "cuda", torch.bfloat16, TOL_BF16)
    big = [z.float().cuda() for z in scan_inputs(1, 4, 8, cuda.MAX_STATE + 1)]
    assert cuda.selective_scan(*big) is None


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("t", [1, 100, 300])  # chunk 64 (T ≤ 256) and 256; neither a multiple
def test_ssd_cuda(t: int) -> None:
    _need(cuda.SSD)
    compare("ssd", ssd_inputs(2, t, 2, 32, 32), "cuda", torch.float32, TOL_FP32["ssd"])


@pytest.mark.gpu
@needs_cuda
def test_ssd_cuda_bf16() -> None:
    _need(cuda.SSD)
    compare("ssd", ssd_inputs(2, 100, 2, 32, 32), "cuda", torch.bfloat16, TOL_BF16)


def _all_inputs(device: str) -> dict[str, list[Tensor | None]]:
    raw: dict[str, Sequence[Tensor | None]] = {
        "causal_conv1d": conv_inputs(1, 8, 16, 4, True),
        "delta_rule": delta_inputs(1, 2, 8, 2, 16, 16, 2.0, True),
        "selective_scan": scan_inputs(1, 8, 8, 4),
        "ssd": ssd_inputs(1, 8, 2, 16, 16),
    }
    return {k: [None if z is None else z.float().to(device) for z in v] for k, v in raw.items()}


@pytest.mark.gpu
@needs_cuda
def test_switched_off_and_vmap_fall_back_on_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, inputs in _all_inputs("cuda").items():
        x = inputs[0]
        assert x is not None
        # inside torch.func.vmap (the stacked ensembles): no kernel, the PyTorch path
        rest = inputs[1:]
        seen: list[object] = []

        def one(
            xi: Tensor, name: str = name, rest: list[Tensor | None] = rest, seen: list[object] = seen
        ) -> Tensor:
            seen.append(ADAPTERS[name](xi.unsqueeze(0), *rest))
            return xi

        torch.func.vmap(one)(x)
        assert seen == [None], name
    monkeypatch.setenv(cuda.ENV, "off")
    for name, inputs in _all_inputs("cuda").items():
        assert ADAPTERS[name](*inputs) is None, name


# ---------------------------------------------------------------------------------------------
# CPU: fallbacks, the switch, lazy imports
# ---------------------------------------------------------------------------------------------


def test_every_adapter_falls_back_on_cpu() -> None:
    for name, inputs in _all_inputs("cpu").items():
        assert ADAPTERS[name](*inputs) is None, name
        assert cuda.kernel_call(name, *inputs) is None, name
    meta = torch.empty(2, 3, 16, device="meta")
    assert cuda.causal_conv1d(meta, torch.empty(16, 4, device="meta"), None) is None


def test_switch_and_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cuda.switched_on()
    for value in ("off", "OFF", " 0 ", "false", "no"):
        monkeypatch.setenv(cuda.ENV, value)
        assert not cuda.switched_on(), value
        assert not cuda.enabled(torch.zeros(1))
    monkeypatch.setenv(cuda.ENV, "on")
    assert cuda.switched_on()
    assert not cuda.enabled()  # no tensor
    assert not cuda.enabled(torch.zeros(1), None)  # CPU
    assert not cuda.enabled(torch.zeros(1, device="meta"))


def test_functorch_transforms_are_refused() -> None:
    """Inside torch.func.vmap (the stacked ensembles) tensors are wrapped: no kernel there."""
    seen: list[bool] = []

    def f(x: Tensor) -> Tensor:
        seen.append(cuda._transformed(x))
        return x

    torch.func.vmap(f)(torch.zeros(2, 3))
    assert seen == [True]
    assert not cuda._transformed(torch.zeros(1))


def test_available_reports_each_package() -> None:
    got = cuda.available()
    assert set(got) == {"causal_conv1d", "fla", "mamba_ssm"}
    assert all(isinstance(v, bool) for v in got.values())


def test_importing_archlab_imports_no_kernel_package() -> None:
    code = (
        "import sys, torch\n"
        "import archlab, archlab.models, archlab.models.cuda as c\n"
        "x = torch.zeros(1, 4, 8)\n"
        "assert c.causal_conv1d(x, torch.zeros(8, 4), None) is None\n"
        "print(sorted(m for m in ('fla', 'mamba_ssm', 'causal_conv1d', 'selective_scan_cuda') "
        "if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != cuda.ENV}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "[]"


def test_references_agree_with_archlab_scans() -> None:
    """The test's own references: the ungated delta loop is archlab's householder_product_reference;
    the SSD loop is the selective-scan loop with per-head parameters repeated over each head's P."""
    q, k, v, beta, _ = delta_inputs(2, 2, 9, 3, 5, 4, 2.0, gated=False)
    assert q is not None and k is not None and v is not None and beta is not None
    o, _ = householder_product_reference(q, k, v, beta, None, normalize_k=False)
    torch.testing.assert_close(delta_ref(q, k, v, beta, None), o)
    x, dt, a, b, c, d = ssd_inputs(2, 7, 3, 2, 4)
    bsz, t, h, p = x.shape
    a_rep = a.repeat_interleave(p)[:, None].expand(h * p, 4)
    y = scan_ref(x.flatten(2), dt.repeat_interleave(p, dim=-1), a_rep, b, c, d.repeat_interleave(p))
    torch.testing.assert_close(ssd_ref(x, dt, a, b, c, d), y.view(bsz, t, h, p))


# ---------------------------------------------------------------------------------------------
# CPU: stand-in kernels with the real ones' contracts, to check the adapters' mapping
# ---------------------------------------------------------------------------------------------


def _fla_loop(
    q: Tensor, k: Tensor, v: Tensor, g: Tensor | None, beta: Tensor, n: int, scale: float
) -> Tensor:
    """fla's layout: q [B, T, H, K], k/v/β of length T·n interleaved (t n), g [B, T, H] applied
    at each token's first factor, the output read after its last → o [B, T, H, V]."""
    bsz, t, h, dk = q.shape
    s = q.new_zeros(bsz, h, dk, v.shape[-1])
    out = []
    for i in range(t):
        if g is not None:
            s = s * g[:, i].exp()[..., None, None]
        for j in range(n):
            p = i * n + j
            kj, bj = k[:, p], beta[:, p]  # [B, H, K], [B, H]
            err = v[:, p] - torch.einsum("bhkv,bhk->bhv", s, kj)
            s = s + bj[..., None, None] * kj[..., :, None] * err[..., None, :]
        out.append(torch.einsum("bhkv,bhk->bhv", s, q[:, i]) * scale)
    return torch.stack(out, dim=1)


def _fla_common(kw: dict[str, Any]) -> None:
    assert kw.pop("initial_state") is None and kw.pop("output_final_state") is False
    assert kw.pop("use_qk_l2norm_in_kernel") is False
    assert not kw, f"unexpected arguments {sorted(kw)}"


def fake_chunk_delta_rule(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, scale: float, **kw: Any) -> Any:
    assert q.dtype != torch.float32, "ChunkDeltaRuleFunction does not support float32"
    assert q.dtype == k.dtype == v.dtype and beta.dim() == 3 and k.shape == q.shape
    _fla_common(kw)
    return _fla_loop(q, k, v, None, beta, 1, scale), None


def fake_chunk_gated_delta_rule(
    q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, scale: float, **kw: Any
) -> Any:
    assert g is not None and g.shape == beta.shape == q.shape[:3] and k.shape == q.shape
    _fla_common(kw)
    return _fla_loop(q, k, v, g, beta, 1, scale), None


def fake_chunk_gated_delta_product(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g: Tensor | None,
    beta: Tensor,
    num_householder: int,
    scale: float,
    **kw: Any,
) -> Any:
    assert q.dtype != torch.float32, "ChunkGatedDeltaProductFunction does not support float32"
    bsz, t, h, dk = q.shape
    n = num_householder
    assert k.shape == (bsz, t * n, h, dk) and v.shape[:3] == (bsz, t * n, h) and beta.shape == (bsz, t * n, h)
    assert g is None or g.shape == (bsz, t, h)
    _fla_common(kw)
    return _fla_loop(q, k, v, g, beta, n, scale), None


def fake_selective_scan_fn(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None, **kw: Any
) -> Tensor:
    assert A.dtype == torch.float32 and D is not None and D.dtype == torch.float32
    assert u.dtype == delta.dtype == B.dtype == C.dtype
    assert kw == {"z": None, "delta_bias": None, "delta_softplus": False, "return_last_state": False}
    bsz, dim, length = u.shape
    assert B.shape == C.shape == (bsz, A.shape[1], length) and A.shape[0] == dim
    h = u.new_zeros(bsz, *A.shape)
    ys = []
    for i in range(length):
        h = (
            torch.exp(delta[:, :, i, None] * A) * h
            + (delta[:, :, i] * u[:, :, i])[..., None] * B[:, None, :, i]
        )
        ys.append((h * C[:, None, :, i]).sum(-1) + D * u[:, :, i])
    return torch.stack(ys, dim=-1)  # [B, D, L]


def fake_mamba_chunk_scan_combined(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    chunk_size: int,
    D: Tensor | None = None,
    **kw: Any,
) -> Tensor:
    bsz, t, h, _ = x.shape
    assert not kw and D is not None and D.shape == (h,) and A.shape == (h,) and dt.shape == (bsz, t, h)
    assert B.shape == C.shape and B.shape[:3] == (bsz, t, 1), "one group: [B, T, 1, N]"
    assert chunk_size in (64, 256)
    return ssd_ref(x, dt, A, B[:, :, 0], C[:, :, 0], D)


def fake_causal_conv1d_fn(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, activation: str | None = None
) -> Tensor:
    assert activation == "silu"
    _, c, t = x.shape
    assert weight.shape[0] == c and 2 <= weight.shape[1] <= 4
    assert x.stride(2) == 1 or x.stride(1) == 1
    if x.stride(1) == 1 and x.stride(2) > 1:  # channel-last
        assert c % 8 == 0 and x.stride(2) % 8 == 0 and x.stride(0) % 8 == 0
    k = weight.shape[1]
    y = F.conv1d(x, weight[:, None, :], bias, padding=k - 1, groups=c)[..., :t]
    return F.silu(y)


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """The stand-in kernels in place of the packages, and ``enabled`` accepting CPU tensors of
    float32 / float64 (float64 exercises the bfloat16 / float16 paths at full precision).
    Yields the record of kernels called, per adapter."""
    calls: dict[str, list[str]] = {}

    def recorded(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.setdefault("all", []).append(name)
            return fn(*args, **kwargs)

        return wrapper

    fakes = {
        cuda.CONV: recorded("causal_conv1d_fn", fake_causal_conv1d_fn),
        cuda.DELTA: recorded("chunk_delta_rule", fake_chunk_delta_rule),
        cuda.GATED_DELTA: recorded("chunk_gated_delta_rule", fake_chunk_gated_delta_rule),
        cuda.DELTA_PRODUCT: recorded("chunk_gated_delta_product", fake_chunk_gated_delta_product),
        cuda.FLA_VERSION: "0.6.0",
        cuda.SCAN: recorded("selective_scan_fn", fake_selective_scan_fn),
        cuda.SCAN_EXT: object(),
        cuda.SSD: recorded("mamba_chunk_scan_combined", fake_mamba_chunk_scan_combined),
    }
    for spec, fn in fakes.items():
        monkeypatch.setitem(cuda._KERNELS, spec, fn)

    def cpu_enabled(*tensors: Tensor | None) -> bool:
        ts = [t for t in tensors if t is not None]
        return cuda.switched_on() and bool(ts) and all(t.dtype in (torch.float32, torch.float64) for t in ts)

    monkeypatch.setattr(cuda, "enabled", cpu_enabled)
    yield calls


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("t", [1, 37])
@pytest.mark.parametrize("beta_max", [1.0, 2.0], ids=["beta<=1", "beta<=2"])
@pytest.mark.parametrize("gated", [False, True], ids=["ungated", "gated"])
@pytest.mark.parametrize("n_h", [1, 3])
def test_delta_rule_mapping(
    stand_ins: dict[str, list[str]], n_h: int, gated: bool, beta_max: float, t: int, dtype: torch.dtype
) -> None:
    # the log gate goes to fla in float32 (also from float64 inputs)
    tol = max(TOL_FAKE[dtype], 1e-6) if gated else TOL_FAKE[dtype]
    compare("delta_rule", delta_inputs(2, 3, t, n_h, 5, 4, beta_max, gated), "cpu", dtype, (tol, tol))
    if dtype == torch.float32:  # every float32 variant: the gated kernel (interleaved for n_h ≥ 2)
        expected = "chunk_gated_delta_rule"
    elif n_h == 1:
        expected = "chunk_gated_delta_rule" if gated else "chunk_delta_rule"
    else:
        expected = "chunk_gated_delta_product"
    assert stand_ins["all"] == [expected]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("c", [16, 12], ids=["channel_last", "channel_first"])
@pytest.mark.parametrize("bias", [True, False])
def test_causal_conv1d_mapping(
    stand_ins: dict[str, list[str]], c: int, bias: bool, dtype: torch.dtype
) -> None:
    tol = TOL_FAKE[dtype]
    for t, k in ((1, 4), (13, 3), (13, 2)):
        compare("causal_conv1d", conv_inputs(2, t, c, k, bias), "cpu", dtype, (tol, tol))
    x, w, b = (None if z is None else z.to(dtype) for z in conv_inputs(1, 5, c, 5, bias))
    assert x is not None and w is not None
    assert cuda.causal_conv1d(x, w, b) is None  # width 5: the kernel has 2–4 only
    # a non-contiguous x (a slice of a wider projection) is passed as a contiguous [B, C, T] copy
    wide = torch.randn(2, 6, 2 * c, dtype=dtype)
    xs = wide[..., :c]
    y = cuda.causal_conv1d(xs, w[:, :4].contiguous(), b)
    assert y is not None
    torch.testing.assert_close(y, conv_ref(xs, w[:, :4], b))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("t", [1, 23])
def test_selective_scan_mapping(stand_ins: dict[str, list[str]], t: int, dtype: torch.dtype) -> None:
    # A and D go to the kernel as float32 (its requirement), so a float64 run is good to float32
    tol = max(TOL_FAKE[dtype], 1e-6)
    compare("selective_scan", scan_inputs(2, t, 6, 4), "cpu", dtype, (tol, tol))
    assert stand_ins["all"] == ["selective_scan_fn"]
    big = [z.to(dtype) for z in scan_inputs(1, 2, 3, cuda.MAX_STATE + 1)]
    assert cuda.selective_scan(*big) is None


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("t", [1, 23])
def test_ssd_mapping(stand_ins: dict[str, list[str]], t: int, dtype: torch.dtype) -> None:
    tol = max(TOL_FAKE[dtype], 1e-6)  # A, D as float32
    compare("ssd", ssd_inputs(2, t, 3, 2, 4), "cpu", dtype, (tol, tol))
    assert stand_ins["all"] == ["mamba_chunk_scan_combined"]


def test_kernel_call_and_fallbacks_with_stand_ins(
    stand_ins: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = _all_inputs("cpu")
    for name, args in inputs.items():
        call = cuda.kernel_call(name, *args)
        assert call is not None, name
        out = ADAPTERS[name](*args)
        assert out is not None
        torch.testing.assert_close(call(), out)
    # fla 0.3 refused float32 in chunk_gated_delta_rule too: then no kernel for float32
    monkeypatch.setitem(cuda._KERNELS, cuda.FLA_VERSION, "0.3.2")
    assert ADAPTERS["delta_rule"](*inputs["delta_rule"]) is None
    # a package that does not import, or mamba-ssm without its CUDA extension: fall back
    monkeypatch.setitem(cuda._KERNELS, cuda.SSD, None)
    assert ADAPTERS["ssd"](*inputs["ssd"]) is None
    monkeypatch.setitem(cuda._KERNELS, cuda.SCAN_EXT, None)
    assert ADAPTERS["selective_scan"](*inputs["selective_scan"]) is None
    assert ADAPTERS["causal_conv1d"](*inputs["causal_conv1d"]) is not None
    monkeypatch.setenv(cuda.ENV, "off")
    assert ADAPTERS["causal_conv1d"](*inputs["causal_conv1d"]) is None
