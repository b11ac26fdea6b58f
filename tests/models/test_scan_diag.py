"""The chunked diagonal scan against its per-step loop reference: outputs and gradients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from archlab.models.scan_diag import auto_chunk, diag_scan, diag_scan_reference

REAL = (torch.float32, torch.float64)
COMPLEX = (torch.complex64, torch.complex128)


@pytest.fixture
def nan_empty() -> Iterator[None]:
    """``torch.empty`` filled with NaN, so a read of memory the scan never wrote shows up."""
    old = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = True  # type: ignore[attr-defined]
    yield
    torch.use_deterministic_algorithms(old)


def make_inputs(
    bsz: int, seq_len: int, dim: int, dtype: torch.dtype, kind: str = "signed", seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``a`` by kind — signed: uniform [−1, 1]; unit: ±1 (parity-like) or e^{iθ}; — ``b``, ``h0``."""
    g = torch.Generator().manual_seed(seed)
    real = torch.float64 if dtype in (torch.float64, torch.complex128) else torch.float32
    shape = (bsz, seq_len, dim)
    if dtype.is_complex:
        theta = torch.rand(shape, generator=g, dtype=real) * 2 * torch.pi
        radius = (
            torch.ones(shape, dtype=real) if kind == "unit" else torch.rand(shape, generator=g, dtype=real)
        )
        a = torch.polar(radius, theta)
        b = torch.complex(
            torch.randn(shape, generator=g, dtype=real), torch.randn(shape, generator=g, dtype=real)
        )
        h0 = torch.complex(
            torch.randn(bsz, dim, generator=g, dtype=real), torch.randn(bsz, dim, generator=g, dtype=real)
        )
    else:
        if kind == "unit":
            a = torch.randint(0, 2, shape, generator=g).to(real) * 2 - 1
        else:
            a = torch.rand(shape, generator=g, dtype=real) * 2 - 1
        b = torch.randn(shape, generator=g, dtype=real)
        h0 = torch.randn(bsz, dim, generator=g, dtype=real)
    return a, b, h0


def assert_close_scaled(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    """Tolerances relative to the largest entry: the scan associates products and sums differently."""
    tol = 1e-10 if expected.dtype in (torch.float64, torch.complex128) else 3e-5
    scale = 1.0 + float(expected.detach().abs().max()) if expected.numel() else 1.0
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol * scale, msg=lambda m: f"{what}: {m}")


def check_against_reference(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None, chunk: int | None, seed: int = 1
) -> None:
    leaves = [x.clone().requires_grad_() for x in (a, b)]
    if h0 is not None:
        leaves.append(h0.clone().requires_grad_())
    ref_leaves = [x.detach().clone().requires_grad_() for x in leaves]
    h0_fast = leaves[2] if h0 is not None else None
    h0_ref = ref_leaves[2] if h0 is not None else None
    out = diag_scan(leaves[0], leaves[1], h0_fast, chunk=chunk)
    ref = diag_scan_reference(ref_leaves[0], ref_leaves[1], h0_ref)
    assert_close_scaled(out, ref, "h")
    g = torch.Generator().manual_seed(seed)
    grad = torch.randn(out.shape, generator=g, dtype=out.dtype)
    fast_grads = torch.autograd.grad(out, leaves, grad)
    ref_grads = torch.autograd.grad(ref, ref_leaves, grad)
    for name, f, r in zip("abh", fast_grads, ref_grads, strict=False):
        assert_close_scaled(f, r, f"grad {name}")


@pytest.mark.parametrize("dtype", REAL + COMPLEX, ids=str)
@pytest.mark.parametrize("kind", ["signed", "unit"])
@pytest.mark.parametrize(
    ("seq_len", "chunk"),
    [(1, None), (1, 4), (3, 8), (7, 3), (12, 4), (13, 4), (16, 16), (40, 1), (45, 7), (100, None)],
)
@pytest.mark.parametrize("with_h0", [False, True])
def test_matches_reference(
    dtype: torch.dtype, kind: str, seq_len: int, chunk: int | None, with_h0: bool, nan_empty: None
) -> None:
    a, b, h0 = make_inputs(2, seq_len, 5, dtype, kind)
    check_against_reference(a, b, h0 if with_h0 else None, chunk)


@settings(max_examples=40, deadline=None)
@given(
    bsz=st.integers(1, 3),
    seq_len=st.integers(1, 70),
    dim=st.integers(1, 6),
    chunk=st.one_of(st.none(), st.integers(1, 80)),
    dtype=st.sampled_from(REAL + COMPLEX),
    kind=st.sampled_from(["signed", "unit"]),
    with_h0=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_matches_reference_random_shapes(
    bsz: int,
    seq_len: int,
    dim: int,
    chunk: int | None,
    dtype: torch.dtype,
    kind: str,
    with_h0: bool,
    seed: int,
) -> None:
    a, b, h0 = make_inputs(bsz, seq_len, dim, dtype, kind, seed)
    check_against_reference(a, b, h0 if with_h0 else None, chunk, seed)


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128], ids=str)
@pytest.mark.parametrize(("seq_len", "chunk"), [(1, 2), (2, 5), (6, 3), (7, 3), (9, 2)])
def test_gradcheck(dtype: torch.dtype, seq_len: int, chunk: int) -> None:
    a, b, h0 = make_inputs(2, seq_len, 3, dtype, seed=seq_len)
    inputs = tuple(x.requires_grad_() for x in (a, b, h0))
    assert torch.autograd.gradcheck(lambda a, b, h0: diag_scan(a, b, h0, chunk=chunk), inputs)


def test_gradcheck_without_h0() -> None:
    a, b, _ = make_inputs(1, 8, 2, torch.float64)
    inputs = (a.requires_grad_(), b.requires_grad_())
    assert torch.autograd.gradcheck(lambda a, b: diag_scan(a, b, chunk=3), inputs)


@pytest.mark.parametrize("kind", ["signed", "unit", "tiny"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64], ids=str)
def test_long_sequences_stay_finite(kind: str, dtype: torch.dtype) -> None:
    """|a| ≤ 1 over 20 000 steps: no overflow (log-space cumulative products would overflow fp32)."""
    a, b, _ = make_inputs(2, 20_000, 4, dtype, "unit" if kind == "unit" else "signed")
    if kind == "tiny":
        a = a * 1e-3  # products underflow to 0 within a chunk, which is exact enough
    a.requires_grad_()
    b.requires_grad_()
    h = diag_scan(a, b)
    assert torch.isfinite(h).all()
    h.real.sum().backward()
    assert a.grad is not None and b.grad is not None
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()
    if kind == "unit" and not dtype.is_complex:
        # a = ±1: h_t = s_t · Σ_{u≤t} s_u b_u with s_t = Π_{u≤t} a_u (exact signs)
        s = torch.cumprod(a.detach().double(), dim=1)
        expect = s * torch.cumsum(s * b.detach().double(), dim=1)
        torch.testing.assert_close(h.double(), expect, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("chunk", [None, 4])
def test_causal(chunk: int | None) -> None:
    a, b, h0 = make_inputs(2, 30, 4, torch.float64)
    h = diag_scan(a, b, h0, chunk=chunk)
    for t in (0, 3, 4, 17, 28):
        a2, b2 = a.clone(), b.clone()
        a2[:, t + 1 :] = torch.rand_like(a2[:, t + 1 :])
        b2[:, t + 1 :] += 1.0
        h2 = diag_scan(a2, b2, h0, chunk=chunk)
        torch.testing.assert_close(h2[:, : t + 1], h[:, : t + 1], rtol=0, atol=0)
        assert not torch.equal(h2[:, t + 1 :], h[:, t + 1 :])


def test_gradient_only_flows_backwards_in_time() -> None:
    """∂h_t/∂(a, b)_s = 0 for s > t."""
    a, b, h0 = make_inputs(1, 20, 3, torch.float64)
    a.requires_grad_()
    b.requires_grad_()
    h = diag_scan(a, b, h0, chunk=6)
    ga, gb = torch.autograd.grad(h[:, 9].sum(), (a, b))
    assert (ga[:, 10:] == 0).all() and (gb[:, 10:] == 0).all()
    assert (gb[:, :10] != 0).any()


def test_input_handling() -> None:
    a, b, h0 = make_inputs(2, 10, 3, torch.float32)
    # h0 = None is zeros; h0 broadcast from [D]
    torch.testing.assert_close(diag_scan(a, b), diag_scan(a, b, torch.zeros(2, 3)))
    torch.testing.assert_close(diag_scan(a, b, h0[0]), diag_scan_reference(a, b, h0[0].expand(2, 3)))
    # a broadcast over the batch, non-contiguous b
    a1 = a[:1].expand(2, 10, 3)
    bt = b.transpose(0, 1).contiguous().transpose(0, 1)
    torch.testing.assert_close(diag_scan(a1, bt, chunk=4), diag_scan_reference(a1, bt))
    # real a, complex b promotes
    bc = b.to(torch.complex64)
    torch.testing.assert_close(diag_scan(a, bc, chunk=3), diag_scan_reference(a, bc))
    # empty time axis
    assert diag_scan(a[:, :0], b[:, :0]).shape == (2, 0, 3)
    with pytest.raises(ValueError):
        diag_scan(a[0], b[0])
    with pytest.raises(ValueError):
        diag_scan(a, b, chunk=0)
    with pytest.raises(TypeError):
        diag_scan(a.long(), b.long())


def test_auto_chunk() -> None:
    assert auto_chunk(1) >= 1
    for seq_len in (16, 256, 1000, 4096, 10**6):
        c = auto_chunk(seq_len)
        assert 1 <= c <= max(seq_len, 16)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    a, b, h0 = make_inputs(2, 50, 8, torch.float64)
    cuda = [x.cuda().requires_grad_() for x in (a, b, h0)]
    out = diag_scan(*cuda, chunk=8)
    out.sum().backward()
    cpu = [x.clone().requires_grad_() for x in (a, b, h0)]
    ref = diag_scan_reference(*cpu)
    ref.sum().backward()
    torch.testing.assert_close(out.cpu(), ref.detach())
    for c, r in zip(cuda, cpu, strict=True):
        assert c.grad is not None and r.grad is not None
        torch.testing.assert_close(c.grad.cpu(), r.grad)


def test_diag_scan_traces_into_one_torch_compile_graph() -> None:
    """No graph break (a non-contiguous ``out=``, ``torch.result_type``, ``storage_offset`` each
    broke it): under torch.compile the whole scan is one graph."""
    import torch._dynamo as dynamo

    a = torch.rand(2, 13, 4, requires_grad=True)
    b = torch.randn(2, 13, 4, requires_grad=True)
    h0 = torch.zeros(2, 4)
    explained = dynamo.explain(lambda a, b, h0: diag_scan(a, b, h0, chunk=4).sum())(a, b, h0)
    assert explained.graph_break_count == 0, [str(r.reason)[:200] for r in explained.break_reasons]
    assert explained.graph_count == 1
