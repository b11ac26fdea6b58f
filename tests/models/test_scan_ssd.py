"""The chunkwise SSD, mLSTM and gated delta-rule scans against their step-by-step definitions.

Inputs are drawn wider than a trained model's (transitions of both signs, exact zeros, input
gates spread over ±8) so that the sign bookkeeping and the stabiliser are exercised; outputs and
gradients with respect to every input must agree at T = 1 and at lengths that are not a
multiple of the chunk.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from archlab.config import ModelConfig
from archlab.models import MIXERS
from archlab.models.scan_householder import householder_product_reference, householder_product_scan
from archlab.models.scan_ssd import (
    MLSTM_EPS,
    mlstm_chunked,
    mlstm_reference,
    segsum,
    ssd_chunked,
    ssd_reference,
)

TOL = {"atol": 1e-5, "rtol": 1e-4}
GRAD_TOL = {"atol": 1e-4, "rtol": 1e-3}


def _grads(loss: torch.Tensor, xs: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad(loss, xs)


def test_segsum_is_the_sum_over_the_segment() -> None:
    x = torch.randn(3, 7, dtype=torch.float64)
    s = segsum(x)
    for i in range(7):
        for j in range(7):
            expect = x[:, j + 1 : i + 1].sum(-1) if j <= i else torch.full((3,), -math.inf, dtype=x.dtype)
            torch.testing.assert_close(s[:, i, j], expect)


@pytest.mark.parametrize("t", [1, 5, 37])
@pytest.mark.parametrize("chunk", [4, 16, 64])
def test_ssd_chunked_matches_the_recurrence(t: int, chunk: int) -> None:
    gen = torch.Generator().manual_seed(t * 100 + chunk)
    b, h, p, n = 2, 3, 4, 5
    a = torch.rand(b, t, h, generator=gen) * 2 - 1  # both signs
    u = torch.randn(b, t, h, p, generator=gen)
    bb, cc = torch.randn(b, t, n, generator=gen), torch.randn(b, t, n, generator=gen)
    # exact zeros (the state is reset) agree in value; their gradient is 0 in the chunked form
    # (|a| is floored before its log), a measure-zero case left out of the gradient check
    a_zero = a.clone()
    a_zero[:, ::7, 0] = 0.0
    torch.testing.assert_close(
        ssd_chunked(a_zero, u, bb, cc, chunk=chunk), ssd_reference(a_zero, u, bb, cc), **TOL
    )
    xs = [x.requires_grad_() for x in (a, u, bb, cc)]
    y_ref = ssd_reference(*xs)
    y_fast = ssd_chunked(*xs, chunk=chunk)
    torch.testing.assert_close(y_fast, y_ref, **TOL)
    w = torch.randn(y_ref.shape, generator=gen)
    for g_f, g_r in zip(_grads((y_fast * w).sum(), xs), _grads((y_ref * w).sum(), xs), strict=True):
        torch.testing.assert_close(g_f, g_r, **GRAD_TOL)


def _mlstm_inputs(t: int, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    b, h, d = 2, 2, 4
    q, k, v = (torch.randn(b, h, t, d, generator=gen) for _ in range(3))
    log_i = 4 * torch.randn(b, h, t, generator=gen)  # spread: the stabiliser moves
    log_f = F.logsigmoid(3 * torch.randn(b, h, t, generator=gen))
    return [x.requires_grad_() for x in (q, k / math.sqrt(d), v, log_i, log_f)]


@pytest.mark.parametrize("t", [1, 6, 37])
@pytest.mark.parametrize("chunk", [4, 16, 64])
def test_mlstm_chunked_matches_the_stabilised_recurrence(t: int, chunk: int) -> None:
    xs = _mlstm_inputs(t, t * 10 + chunk)
    h_ref = mlstm_reference(*xs)
    h_fast = mlstm_chunked(*xs, chunk=chunk)
    torch.testing.assert_close(h_fast, h_ref, **TOL)
    w = torch.randn(h_ref.shape, generator=torch.Generator().manual_seed(1))
    for g_f, g_r in zip(_grads((h_fast * w).sum(), xs), _grads((h_ref * w).sum(), xs), strict=True):
        torch.testing.assert_close(g_f, g_r, **GRAD_TOL)


def test_mlstm_stabiliser_changes_nothing_but_the_guard() -> None:
    """The stabilised recurrence equals the paper's unstabilised definition
    h_t = C_tᵀ q_t / max(|n_tᵀ q_t|, 1) (in float64, moderate gates), with the ε guard scaled
    by exp(m_t) as the stabilised form divides by it."""
    q, k, v, log_i, log_f = (x.detach().double() for x in _mlstm_inputs(9, 0))
    log_i = log_i / 4
    h = mlstm_reference(q, k, v, log_i, log_f)
    fcum = log_f.cumsum(-1)
    for t in range(9):
        logw = fcum[..., t : t + 1] - fcum[..., : t + 1] + log_i[..., : t + 1]  # [B, H, s]
        m = logw.amax(-1)
        w = logw.exp()
        mem = torch.einsum("bhs,bhsd,bhse->bhde", w, k[:, :, : t + 1], v[:, :, : t + 1])
        norm = torch.einsum("bhs,bhsd->bhd", w, k[:, :, : t + 1])
        num = torch.einsum("bhd,bhde->bhe", q[:, :, t], mem)
        den = (q[:, :, t] * norm).sum(-1).abs().clamp_min(1.0) + MLSTM_EPS * m.exp()
        torch.testing.assert_close(h[:, :, t], num / den[..., None])


@pytest.mark.parametrize("n_h", [1, 2, 3])
@pytest.mark.parametrize("t", [1, 13, 37])
def test_gated_householder_scan_matches_the_loop(n_h: int, t: int) -> None:
    gen = torch.Generator().manual_seed(n_h * 100 + t)
    b, h, d = 2, 2, 4
    q = torch.randn(b, h, t, d, generator=gen)
    k = torch.randn(b, h, t, n_h, d, generator=gen)
    v = torch.randn(b, h, t, n_h, d, generator=gen)
    beta = 2 * torch.rand(b, h, t, n_h, generator=gen)
    log_alpha = -2 * torch.rand(b, h, t, generator=gen)
    s0 = torch.randn(b, h, d, d, generator=gen)
    xs = [x.requires_grad_() for x in (q, k, v, beta, log_alpha, s0)]
    o_ref, s_ref = householder_product_reference(*xs[:4], xs[5], log_alpha=xs[4])
    o_fast, s_fast = householder_product_scan(*xs[:4], n_h, xs[5], log_alpha=xs[4], chunk_size=8)
    torch.testing.assert_close(o_fast, o_ref, **TOL)
    torch.testing.assert_close(s_fast, s_ref, **TOL)
    w = torch.randn(o_ref.shape, generator=gen)
    loss_f, loss_r = (o_fast * w).sum() + s_fast.sum(), (o_ref * w).sum() + s_ref.sum()
    for g_f, g_r in zip(_grads(loss_f, xs), _grads(loss_r, xs), strict=True):
        torch.testing.assert_close(g_f, g_r, **GRAD_TOL)


def test_zero_gate_is_the_ungated_scan() -> None:
    gen = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(1, 2, 11, 4, generator=gen) for _ in range(3))
    beta = torch.rand(1, 2, 11, generator=gen)
    plain, _ = householder_product_scan(q, k, v, beta, 1)
    gated, _ = householder_product_scan(q, k, v, beta, 1, log_alpha=torch.zeros(1, 2, 11))
    torch.testing.assert_close(gated, plain, **TOL)


@pytest.mark.parametrize("name", ["mamba", "mamba2"])
def test_ssm_transitions_stay_in_the_declared_range(name: str) -> None:
    """The eigenvalue range the theory features declare is the one the module computes: exp(ΔA)
    in (0, 1] for ``unit``, 2·exp(ΔA) − 1 in [−1, 1) with negative values reached for ``signed``."""
    cls = MIXERS.get(name)
    for eig, low in (("unit", 0.0), ("signed", -1.0)):
        mixer = cls(ModelConfig(mixer=name, width=16, eig_range=eig), 16)
        assert cls.eig_range(mixer.cfg) == eig and cls.transition(mixer.cfg) == "diagonal_real"
        dt_a = -torch.rand(1000) * 20  # Δ·A over the range softplus(Δ) × A reaches
        a = mixer._transition(dt_a)
        assert bool(((a >= low) & (a <= 1.0)).all())
        assert bool((a < 0).any()) == (eig == "signed")


@pytest.mark.parametrize("kernel", [2, 4, 5])
@pytest.mark.parametrize("t", [1, 3, 20])
def test_short_conv_is_the_depthwise_causal_conv1d(kernel: int, t: int) -> None:
    from archlab.models.short_conv import ShortConv

    conv = ShortConv(6, kernel)
    x = torch.randn(2, t, 6)
    expect = F.conv1d(x.transpose(1, 2), conv.weight.unsqueeze(1), conv.bias, padding=kernel - 1, groups=6)
    torch.testing.assert_close(conv(x), F.silu(expect[..., :t].transpose(1, 2)))
