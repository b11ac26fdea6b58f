"""The three search axes: fixed-point iteration, weight-tied depth with ACT, hierarchy, write gates."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from archlab.config import ModelConfig
from archlab.models import build_model, model_features
from archlab.models.depth import DepthLoop
from archlab.models.fixed_point import FixedPoint
from archlab.models.hierarchy import Hierarchy
from archlab.models.recurrent import DiagRNN

W = 8


def _dense_q(fp: FixedPoint, x: torch.Tensor) -> torch.Tensor:
    """Q_t as explicit [B, T, n, n] matrices (product of reflections, first one applied first)."""
    w, alpha = fp.make_q(x)
    b, t, r, n = w.shape
    q = torch.eye(n).expand(b, t, n, n)
    for j in range(r):
        wj = w[:, :, j]
        refl = torch.eye(n) - 2 * alpha[..., j, None, None] * wj.unsqueeze(-1) * wj.unsqueeze(-2)
        q = refl @ q
    return q


@pytest.mark.parametrize("eig_range", ["unit", "signed"])
def test_fixed_point_matches_the_papers_iteration(eig_range: str) -> None:
    """diag_rnn + FP = Movahedi et al.: h^ℓ_t = λ_t h^ℓ_{t−1} + (1−λ_t)(Q_t B x_t + (I − Q_t) h^{ℓ−1}_t)."""
    torch.manual_seed(0)
    cap = 4
    cfg = ModelConfig(mixer="diag_rnn", width=W, eig_range=eig_range, fp_iters=cap, fp_tol=1e-30)
    fp = FixedPoint(DiagRNN(cfg, W), cfg, W)
    with torch.no_grad():
        fp.mixer.h0.normal_()
    x = torch.randn(2, 9, W)
    y = fp(x)
    assert fp.last_iters == cap
    u0, (a, scale, _, _) = fp.mixer.fp_in(x)
    q = _dense_q(fp, x)
    h_prev = torch.zeros_like(u0)  # h^0
    for _ in range(cap):
        h = fp.mixer.h0.expand(2, W)
        hs = []
        for t in range(x.shape[1]):
            inp = q[:, t] @ u0[:, t, :, None] + (torch.eye(W) - q[:, t]) @ h_prev[:, t, :, None]
            h = a[:, t] * h + scale[:, t] * inp.squeeze(-1)
            hs.append(h)
        h_prev = torch.stack(hs, 1)
    expected = fp.mixer.fp_out(h_prev, fp.mixer.fp_in(x)[1])
    torch.testing.assert_close(y, expected, atol=1e-5, rtol=1e-4)


def test_fixed_point_counts_iterations_and_stops_at_tolerance() -> None:
    torch.manual_seed(0)
    loose = ModelConfig(mixer="diag_rnn", width=W, fp_iters=10, fp_tol=1e9)
    fp = FixedPoint(DiagRNN(loose, W), loose, W)
    fp(torch.randn(2, 12, W))
    assert fp.last_iters == 3  # two to measure a residual, then the differentiable one
    tight = loose.model_copy(update={"fp_tol": 1e-30})
    fp.tol = tight.fp_tol
    fp(torch.randn(2, 12, W))
    assert fp.last_iters == 10
    assert fp._stats["fp_iters"][-1] == 10


def test_fixed_point_needs_more_iterations_for_longer_prefixes() -> None:
    torch.manual_seed(1)
    cfg = ModelConfig(mixer="diag_rnn", width=W, eig_range="signed", fp_iters=40, fp_tol=1e-3)
    fp = FixedPoint(DiagRNN(cfg, W), cfg, W)
    with torch.no_grad():
        fp.mixer.proj.bias[:W] = 6.0  # |a| near 1: long memory, slow convergence along the sequence
    fp(torch.randn(4, 64, W))
    per_pos = fp.last_iters_per_position
    assert per_pos is not None and per_pos.shape == (64,)
    assert bool((per_pos[1:] >= per_pos[:-1]).all()), "a longer prefix never needs fewer iterations"
    assert per_pos[-1] > per_pos[0]


def _record_grad_mode(monkeypatch: pytest.MonkeyPatch, fp: FixedPoint) -> list[bool]:
    """Patch ``fp``'s core to record, per call, whether gradients were enabled."""
    calls: list[bool] = []
    core = fp.mixer.fp_core

    def counting(u: torch.Tensor, ctx: Any) -> torch.Tensor:
        calls.append(torch.is_grad_enabled())
        return core(u, ctx)

    monkeypatch.setattr(fp.mixer, "fp_core", counting)
    return calls


def test_fixed_point_gradient_flows_through_one_iteration_only(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = ModelConfig(mixer="diag_rnn", width=W, fp_iters=6, fp_tol=1e-30)
    fp = FixedPoint(DiagRNN(cfg, W), cfg, W)
    calls = _record_grad_mode(monkeypatch, fp)
    fp(torch.randn(2, 5, W)).sum().backward()
    assert calls == [False] * 5 + [True]


def test_fixed_point_sampled_cap_varies_in_training_only() -> None:
    cfg = ModelConfig(mixer="diag_rnn", width=W, fp_iters=6, fp_sample=True)
    fp = FixedPoint(DiagRNN(cfg, W), cfg, W)
    torch.manual_seed(0)
    caps = {fp.cap() for _ in range(200)}
    assert len(caps) > 3 and min(caps) >= 1 and max(caps) <= 24
    fp.eval()
    assert {fp.cap() for _ in range(20)} == {6}


def test_fixed_point_eval_cap_is_used_in_evaluation_only() -> None:
    cfg = ModelConfig(mixer="diag_rnn", width=W, fp_iters=3, fp_eval_iters=9, fp_tol=1e-30)
    fp = FixedPoint(DiagRNN(cfg, W), cfg, W)
    fp(torch.randn(2, 5, W))
    assert fp.last_iters == 3
    fp.eval()
    fp(torch.randn(2, 5, W))
    assert fp.last_iters == 9


def test_fixed_point_grad_all_backpropagates_through_every_iteration(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = ModelConfig(mixer="diag_rnn", width=W, fp_iters=4, fp_tol=1e-30, fp_grad="all")
    fp = FixedPoint(DiagRNN(cfg, W), cfg, W)
    calls = _record_grad_mode(monkeypatch, fp)
    x = torch.randn(2, 5, W, requires_grad=True)
    fp(x).sum().backward()
    assert calls == [True] * 4
    with torch.no_grad():  # evaluation under no_grad stays gradient-free
        calls.clear()
        fp(x)
    assert calls == [False] * 4


def test_fixed_point_shift_starts_as_the_plain_iteration_and_is_a_nonlinear_rnn() -> None:
    """fp_shift: W = 0 at init gives the unshifted model; with W ≠ 0 and enough iterations the
    output is the sequential fixed point of h_t = F(h_{t−1}, x_t), computed here position by position."""
    torch.manual_seed(0)
    t_len = 6
    plain = ModelConfig(mixer="diag_rnn", width=W, eig_range="signed", fp_iters=t_len + 2, fp_tol=1e-30)
    shifted = plain.model_copy(update={"fp_shift": True})
    a = FixedPoint(DiagRNN(plain, W), plain, W)
    b = FixedPoint(DiagRNN(shifted, W), shifted, W)
    b.load_state_dict(a.state_dict(), strict=False)
    x = torch.randn(2, t_len, W)
    torch.testing.assert_close(b(x), a(x))
    assert b.shift is not None
    with torch.no_grad():
        b.shift.weight.normal_(std=0.5)
        y = b(x)
        # sequential reference: at position t the inputs depend on the converged h_{t-1}; solve the
        # per-position implicit equation with many plain iterations on the prefix
        h_prev = torch.zeros(2, b.n)
        hs: list[torch.Tensor] = []
        for t in range(t_len):
            xt = x[:, t : t + 1] + b.shift(h_prev)[:, None]
            u0, ctx = b.mixer.fp_in(xt)
            q = b.make_q(xt)
            h = torch.zeros(2, 1, b.n)
            for _ in range(200):
                # one position: the scan's state before t is the converged prefix state
                u = h + b.apply_q(q, u0 - h)
                a_t, scale, _, _ = ctx
                prev = hs[-1][:, None] if hs else b.mixer.h0.expand(2, 1, b.n)
                h = a_t * prev + scale * u
            hs.append(h[:, 0])
            h_prev = h[:, 0]
        expected = b.mixer.fp_out(
            torch.stack(hs, 1),
            b.mixer.fp_in(x + b.shift(torch.nn.functional.pad(torch.stack(hs, 1), (0, 0, 1, 0))[:, :-1]))[1],
        )
    torch.testing.assert_close(y, expected, atol=1e-4, rtol=1e-3)


class _AddOne(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 1


@pytest.mark.parametrize(("bias", "steps"), [(20.0, 1), (-20.0, 4)])
def test_act_halts_early_or_runs_to_the_cap(bias: float, steps: int) -> None:
    cfg = ModelConfig(width=W, depth_repeat=4, halting="act", ponder_cost=0.5)
    loop = DepthLoop(_AddOne(), cfg, W)
    with torch.no_grad():
        loop.halt.bias.fill_(bias)  # type: ignore[union-attr]
    x = torch.zeros(2, 3, W)
    y = loop(x)
    assert loop._stats["act_steps"] == [steps]
    if steps == 1:
        torch.testing.assert_close(y, x + 1)
    else:  # p ≈ 0 at every step: the last step takes the whole remainder
        torch.testing.assert_close(y, x + 4, atol=1e-6, rtol=0)
    ponder = float(loop._losses[0].detach())
    assert ponder == pytest.approx(0.5 * (steps + 1), abs=1e-4)  # τ·(N + R), R ≈ 1


def test_act_weights_sum_to_one() -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(width=W, depth_repeat=5, halting="act")
    loop = DepthLoop(nn.Identity(), cfg, W)  # the state never changes: output = (Σ weights)·x
    with torch.no_grad():
        loop.halt.weight.normal_()  # type: ignore[union-attr]
    x = torch.randn(3, 7, W)
    torch.testing.assert_close(loop(x), x)


def test_hierarchy_is_the_plain_mixer_at_init_and_uses_the_coarse_level_after() -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(mixer="diag_rnn", width=W, hier_levels=2, hier_stride=4)
    hier = Hierarchy(lambda: DiagRNN(cfg, W), 2, 4, W, causal=True)
    x = torch.randn(2, 10, W)
    torch.testing.assert_close(hier(x), hier.levels[0](x))
    with torch.no_grad():
        hier.up[0].weight.normal_()
    y = hier(x)
    plain = hier.levels[0](x)
    # positions in the first chunk see no summary; later chunks do
    torch.testing.assert_close(y[:, :4], plain[:, :4])
    assert not torch.allclose(y[:, 4:], plain[:, 4:])
    # a change inside chunk 1 (positions 4..7) reaches chunk 2 (8..) through the coarse level
    x2 = x.clone()
    x2[:, 5] += 1
    y2 = hier(x2)
    torch.testing.assert_close(y2[:, :5], y[:, :5])


def test_hierarchy_summary_is_the_chunk_mean() -> None:
    cfg = ModelConfig(mixer="lstm", width=W, hier_levels=2, hier_stride=3, causal=True)
    seen: list[torch.Tensor] = []

    class Record(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x)
            return x

    hier = Hierarchy(Record, cfg.hier_levels, cfg.hier_stride, W, causal=True)
    x = torch.randn(1, 7, W)
    hier(x)
    coarse = seen[1]
    assert coarse.shape == (1, 3, W)
    torch.testing.assert_close(coarse[:, 0], x[:, 0:3].mean(1))
    torch.testing.assert_close(coarse[:, 2], x[:, 6:7].mean(1))  # partial last chunk


def test_write_gate_closed_freezes_the_state_and_reports() -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(mixer="diag_rnn", width=W, prune=True)
    mixer = DiagRNN(cfg, W)
    with torch.no_grad():
        mixer.h0.normal_()
        assert mixer.write is not None
        mixer.write.proj.bias.fill_(-30.0)
    mixer.eval()
    x = torch.randn(2, 6, W)
    u, ctx = mixer.fp_in(x)
    h = mixer.fp_core(u, ctx)
    torch.testing.assert_close(h, mixer.h0.expand(2, 6, W))
    assert mixer.write._stats["kept_fraction"] == [0.0]
    assert mixer.write._stats["compute_saved"] == [1.0]


def test_write_gate_regulariser_and_annealing() -> None:
    cfg = ModelConfig(mixer="householder", width=W, prune=True, prune_gamma=0.3, prune_keep=0.5)
    model = build_model(cfg, 5, 3, device="cpu")
    model.train()
    model(torch.randint(0, 5, (2, 9)))
    # initial gate ≈ σ(3) ≈ 0.95 > target 0.5: γ·(0.95 − 0.5) per layer
    assert float(model.last_aux_loss.detach()) == pytest.approx(
        2 * 0.3 * (torch.sigmoid(torch.tensor(3.0)).item() - 0.5), rel=1e-4
    )
    assert model.last_stats["kept_fraction"] == 1.0
    model.set_progress(0.99)
    gates = [m for m in model.modules() if type(m).__name__ == "WriteGate"]
    assert gates and all(g.temperature == pytest.approx(0.05) for g in gates)


def test_features_of_known_architectures() -> None:
    def f(**kw: Any) -> Any:
        return model_features(ModelConfig(**kw), 10, 2)

    assert f(mixer="diag_rnn", width=32).state_floats_per_layer == 32
    assert f(mixer="diag_rnn", width=32, eig_range="complex", state_size=8).state_floats_per_layer == 16
    hh = f(mixer="householder", width=32, heads=2, householder_factors=3, eig_range="signed", layers=1)
    assert (hh.transition, hh.eig_range, hh.householder_factors, hh.state_floats) == (
        "householder_product",
        "signed",
        3,
        2 * 16 * 16,
    )
    assert f(mixer="lstm", width=32, state_size=10, layers=3).state_floats == 3 * 20
    assert f(mixer="diag_rnn", width=32, hier_levels=3).state_floats_per_layer == 96
    fp = f(mixer="diag_rnn", width=32, fp_iters=7)
    assert (fp.fp_iters, fp.fp_tol) == (7, 0.1)
    assert f(mixer="diag_rnn", width=32).eig_range == "unit"
    assert f(mixer="lstm", width=32).eig_range is None
    cheap, dear = f(mixer="diag_rnn", width=32), f(mixer="diag_rnn", width=32, fp_iters=5)
    assert dear.flops_per_token > 2 * cheap.flops_per_token  # five passes of the mixer at the cap
