"""Recurrence depth by fixed-point iteration of a recurrent mixer (Movahedi et al., NeurIPS 2025).

Movahedi, Sarnthein, Cirone & Orvieto (arXiv 2503.10799) turn a diagonal linear RNN into one that
behaves like a dense RNN by iterating it with a channel mixer. With the mixer's hooks
(:class:`~archlab.models.base.Mixer`: ``u₀, ctx = fp_in(x)``, ``h = fp_core(u, ctx)``), iteration
``ℓ = 1 … ℓ_max`` computes, for every position at once::

    u^ℓ_t = Q_t u₀_t + (I − Q_t) h^{ℓ−1}_t        (= h^{ℓ−1}_t + Q_t (u₀_t − h^{ℓ−1}_t)),   h⁰ = 0
    h^ℓ   = fp_core(u^ℓ)                            (one parallel scan)

For ``diag_rnn`` this is the paper's ``h^ℓ_t = λ_t h^ℓ_{t−1} + (1 − λ_t)(Q_t B x_t + (I − Q_t) h^{ℓ−1}_t)``
exactly; for other recurrent mixers the whole layer is the core (a generalisation: the iterate is
fed back through the channel mixer at the layer's input). ``Q_t`` depends on the token ``x_t``
(and, with ``fp_shift``, on the previous iterate one step back), so every iterate stays causal and
parallel over time:

* ``fp_mixer: householder`` — ``Q_t = Π_{j=1}^{r} (I − 2 α_{t,j} w_{t,j} w_{t,j}ᵀ)``, unit
  ``w``, ``α = σ(·)`` (``r = fp_rank`` reflections);
* ``fp_mixer: lowrank`` — ``Q_t = I − U_t V_tᵀ / n`` with ``U_t, V_t ∈ R^{n×r}`` (``r = fp_rank``).

``fp_shift: true`` adds the paper's shifted hidden-state dependence: every iteration recomputes
the mixer's input side (gates, ``B x``) and ``Q_t`` from ``x_t + W h^{ℓ−1}_{t−1}`` (``W`` zero at
init, so the model starts as the unshifted one). The fixed point is then a *nonlinear* RNN
``h_t = F(h_{t−1}, x_t)``; the iteration is a Jacobi sweep, so position t is exact after at most t
iterations, and fewer where ``F`` contracts — the cap trades parallel depth for expressivity.

Stopping, per sequence and causally: after iteration ℓ ≥ 2 the relative residual of position t is
``r_t = max_{s ≤ t} ‖h^ℓ_s − h^{ℓ−1}_s‖∞ / ‖h^ℓ_s‖∞`` (a prefix maximum, so it never decreases
along the sequence); position t is frozen at the first ℓ with ``r_t < fp_tol`` (0.1 in the paper).
Frozen positions form a prefix that grows with ℓ, and whether t is frozen depends on positions
≤ t only — so the output stays exactly causal, and the iterations a prefix of length t needs are
recorded for every t (``last_iters_per_position``, the batch mean: "iterations to converge vs
sequence length"). With ``fp_grad: last`` (default) iterations run under ``no_grad`` until every
position is frozen or the cap is reached; then one more iteration runs with gradients from the
detached frozen iterate, so the gradient flows through one iteration only (a Jacobian-free
approximation of the implicit gradient, memory independent of the cap). ``fp_grad: all``
backpropagates through every iteration instead (memory and time grow with the iterations run):
with ``fp_shift`` the one-step gradient only sees one step of the state dependence, which in our
A5 runs was not enough to learn it. Reported per forward pass:
``fp_iters`` (mean over sequences of the iterations the whole sequence needed, the differentiable
one included) and ``fp_iters_max``.

``fp_sample: true``: during training the cap is drawn per forward pass from a Gamma(4, fp_iters/4)
distribution (mean ``fp_iters``; the paper samples ℓ_max from a Gamma(4, 1)-shaped law), rounded
up and clipped to [1, 4·fp_iters]. Evaluation uses ``fp_eval_iters`` (default ``fp_iters``): a cap
above the training cap lets a longer test sequence reach its fixed point (with ``fp_shift`` a
sequence of length T needs up to T iterations unless the map contracts).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archlab.models.base import Mixer, Reporting

if TYPE_CHECKING:
    from archlab.config import ModelConfig

__all__ = ["FixedPoint", "fixed_point_param_count"]


def fixed_point_param_count(cfg: ModelConfig, width: int, n: int) -> int:
    """Parameters of the channel mixer ``Q_t`` for iterate size ``n``."""
    r = cfg.fp_rank
    shift = n * width if cfg.fp_shift else 0
    if cfg.fp_mixer == "householder":
        return width * r * n + r * n + width * r + r + shift
    return 2 * (width * r * n + r * n) + shift


class FixedPoint(Reporting):
    """Wrap a recurrent mixer so that it runs to a fixed point (see the module docstring)."""

    def __init__(self, mixer: Mixer, cfg: ModelConfig, width: int) -> None:
        super().__init__()
        assert cfg.fp_iters is not None
        self.mixer = mixer
        self.n = type(mixer).fp_dim(cfg, width)
        self.rank = cfg.fp_rank
        self.kind = cfg.fp_mixer
        self.max_iters = cfg.fp_iters
        self.tol = cfg.fp_tol
        self.sample = cfg.fp_sample
        self.eval_iters = cfg.fp_eval_iters if cfg.fp_eval_iters is not None else cfg.fp_iters
        self.grad_all = cfg.fp_grad == "all"
        if self.kind == "householder":
            self.w = nn.Linear(width, self.rank * self.n)
            self.alpha = nn.Linear(width, self.rank)
        else:
            self.u = nn.Linear(width, self.rank * self.n)
            self.v = nn.Linear(width, self.rank * self.n)
        self.shift: nn.Linear | None = None
        if cfg.fp_shift:
            self.shift = nn.Linear(self.n, width, bias=False)
            if self.shift.weight.device.type != "meta":
                nn.init.zeros_(self.shift.weight)
        #: iterations the longest-running sequence of the last forward pass used (differentiable one
        #: included), and the batch mean of the iterations each prefix length needed
        self.last_iters = 0
        self.last_iters_per_position: Tensor | None = None

    def cap(self) -> int:
        """The iteration cap for this forward pass (sampled in training when ``fp_sample``)."""
        if not self.training:
            return self.eval_iters
        if not self.sample:
            return self.max_iters
        draw = torch.distributions.Gamma(4.0, 4.0 / self.max_iters).sample()
        return int(min(max(1, math.ceil(float(draw))), 4 * self.max_iters))

    def make_q(self, x: Tensor) -> Any:
        bsz, t, _ = x.shape
        if self.kind == "householder":
            w = F.normalize(self.w(x).view(bsz, t, self.rank, self.n), dim=-1)
            return w, torch.sigmoid(self.alpha(x))
        return self.u(x).view(bsz, t, self.rank, self.n), self.v(x).view(bsz, t, self.rank, self.n)

    def apply_q(self, q: Any, z: Tensor) -> Tensor:
        """``Q_t z_t`` for every position."""
        if self.kind == "householder":
            w, alpha = q
            for j in range(self.rank):  # reflection 1 first
                wj = w[:, :, j]
                z = z - (2 * alpha[..., j : j + 1]) * wj * (wj * z).sum(-1, keepdim=True)
            return z
        u, v = q
        return z - torch.einsum("btrn,btr->btn", u, torch.einsum("btrn,btn->btr", v, z)) / self.n

    def inputs(self, x: Tensor, h: Tensor | None) -> tuple[Tensor, Any, Any]:
        """``u₀, ctx, Q`` for one iteration: from ``x`` alone, or with ``fp_shift`` from
        ``x_t + W h_{t−1}`` (``h`` the previous iterate; ``None`` = zero)."""
        if self.shift is not None and h is not None:
            x = x + self.shift(F.pad(h, (0, 0, 1, 0))[:, :-1])
        u0, ctx = self.mixer.fp_in(x)
        return u0, ctx, self.make_q(x)

    def forward(self, x: Tensor) -> Tensor:
        u0, ctx, q = self.inputs(x, None)
        cap = self.cap()
        bsz, t = u0.shape[:2]
        h = torch.zeros_like(u0)
        frozen = torch.zeros_like(u0)
        done = torch.zeros(bsz, t, dtype=torch.bool, device=u0.device)
        iters_at = torch.zeros(bsz, t, device=u0.device)
        runs = 0
        meta = u0.device.type == "meta"
        grad = torch.is_grad_enabled() and self.grad_all
        with torch.set_grad_enabled(grad):
            while runs < cap - 1:
                if runs > 0 and self.shift is not None:
                    u0, ctx, q = self.inputs(x, h)
                h_new = self.mixer.fp_core(h + self.apply_q(q, u0 - h), ctx)
                runs += 1
                if runs > 1 and not meta:
                    conv = (self.prefix_residual(h_new, h) < self.tol) & ~done
                    frozen = torch.where(conv.unsqueeze(-1), h_new, frozen)
                    iters_at = torch.where(conv, float(runs), iters_at)
                    done |= conv
                h = h_new
                if not meta and bool(done.all()):
                    break
        frozen = torch.where(done.unsqueeze(-1), frozen, h)
        if not grad:
            frozen = frozen.detach()
        iters_at = torch.where(done, iters_at, float(runs)) + 1  # + the differentiable step
        if self.shift is not None:  # the differentiable step reads the frozen iterate (or h⁰ = 0)
            u0, ctx, q = self.inputs(x, frozen if runs > 0 else None)
        h_out = self.mixer.fp_core(frozen + self.apply_q(q, u0 - frozen), ctx)
        if not meta and t > 0:
            per_seq = iters_at[:, -1]  # a whole sequence needs the iterations of its last position
            self.report_stat("fp_iters", per_seq.mean())
            self.report_stat("fp_iters_max", per_seq.max())
            self.last_iters = int(per_seq.max())
            self.last_iters_per_position = iters_at.mean(0)
        return self.mixer.fp_out(h_out, ctx)

    @staticmethod
    def prefix_residual(new: Tensor, old: Tensor) -> Tensor:
        """``[B, T]``: max over positions s ≤ t of ``‖new_s − old_s‖∞ / ‖new_s‖∞`` (causal)."""
        ratio = (new - old).abs().amax(-1) / new.abs().amax(-1).clamp(min=1e-6)
        return ratio.cummax(dim=1).values
