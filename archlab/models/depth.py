"""Recurrence depth for any mixer: a weight-tied block repeated k times, with optional ACT halting.

``depth_repeat: k`` applies the same residual block k times (weights shared), so depth can be
searched for mixers that have no fixed-point form (attention, convolutions) as well.

``halting: act`` adds Adaptive Computation Time (Graves 2016, arXiv 1603.08983) per token: after
step n the block's output ``s^n_t`` gives a halting probability ``p^n_t = σ(w·s^n_t + b)``; a token
halts at the first step N_t where the cumulative probability reaches ``1 − ε`` (or at step k), its
last step getting the remainder ``R_t = 1 − Σ_{n<N_t} p^n_t``. The output is the mean state
``Σ_n p^n_t s^n_t`` (with the remainder as the last weight); the ponder cost
``τ · mean_t(N_t + R_t)`` is added to the loss (``ponder_cost`` = τ). Every position still runs
all k steps (a sequence mixer needs every position at every step, as in the Universal
Transformer); halted tokens simply stop contributing. Halting decisions at position t depend on
positions ≤ t only, so causality is kept. Reported: ``act_steps`` (mean N_t) per forward pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from archlab.models.base import Reporting

if TYPE_CHECKING:
    from archlab.config import ModelConfig

__all__ = ["ACT_EPS", "DepthLoop", "depth_loop_param_count"]

ACT_EPS = 0.01
#: initial halting bias: σ(−1) ≈ 0.27 per step, so tokens start by pondering a few steps
ACT_INIT_BIAS = -1.0


def depth_loop_param_count(cfg: ModelConfig, width: int) -> int:
    return width + 1 if cfg.halting == "act" else 0


class DepthLoop(Reporting):
    """Apply ``block`` ``cfg.depth_repeat`` times with shared weights (and ACT if asked)."""

    def __init__(self, block: nn.Module, cfg: ModelConfig, width: int) -> None:
        super().__init__()
        self.block = block
        self.steps = cfg.depth_repeat
        self.ponder_cost = cfg.ponder_cost
        self.halt = nn.Linear(width, 1) if cfg.halting == "act" else None
        if self.halt is not None:
            nn.init.zeros_(self.halt.weight)
            nn.init.constant_(self.halt.bias, ACT_INIT_BIAS)

    def forward(self, x: Tensor) -> Tensor:
        if self.halt is None:
            for _ in range(self.steps):
                x = self.block(x)
            return x
        cum = x.new_zeros(x.shape[:-1])  # Σ p so far
        running = torch.ones_like(cum, dtype=torch.bool)
        out = torch.zeros_like(x)
        n_steps = torch.zeros_like(cum)
        remainder = torch.zeros_like(cum)
        for n in range(self.steps):
            x = self.block(x)
            p = torch.sigmoid(self.halt(x)).squeeze(-1)
            run = running.to(x.dtype)
            halts = running & ((cum + p >= 1 - ACT_EPS) | (n == self.steps - 1))
            weight = torch.where(halts, 1 - cum, p) * run
            remainder = torch.where(halts, 1 - cum, remainder)
            out = out + weight.unsqueeze(-1) * x
            cum = cum + weight
            n_steps = n_steps + run
            running = running & ~halts
        self.report_loss(self.ponder_cost * (n_steps + remainder).mean())
        self.report_stat("act_steps", n_steps.mean())
        return out
