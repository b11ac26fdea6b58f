"""Context pruning for recurrent mixers: a learned write gate that skips state updates.

For a linear recurrence ``h_t = A_t h_{t−1} + b_t`` a per-token gate ``w_t ∈ [0, 1]`` turns the
update into ``h_t = w_t (A_t h_{t−1} + b_t) + (1 − w_t) h_{t−1}``: with ``w_t = 0`` token ``t``
leaves the state untouched, so a sequential implementation could skip its update entirely — the
recurrent analogue of dropping a token from an attention context (the mechanism of Anagnostidis
et al., NeurIPS 2023, arXiv 2305.15805, carried over; THEORY.md R17 is the hypothesis it tests).

The gate is ``σ(z_t / τ)`` with ``z_t`` a linear function of the token's input. ``τ`` anneals
from 1 towards a hard step as training progresses (:meth:`WriteGate.set_progress`); in eval mode
the gate *is* the hard step (``z_t > 0``). A sparsity regulariser ``γ · mean(w)`` (or, with a
target keep fraction ``prune_keep``, ``γ · relu(mean(w) − prune_keep)``) sets the strength.
Every forward pass reports ``kept_fraction`` (fraction of tokens whose update is kept, hard
threshold) and ``compute_saved`` (fraction of state updates a sequential implementation skips).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from archlab.models.base import Reporting

if TYPE_CHECKING:
    from archlab.config import ModelConfig

__all__ = ["WriteGate"]

#: initial gate bias: σ(3) ≈ 0.95, nearly every update kept at the start
INIT_BIAS = 3.0
MIN_TEMPERATURE = 0.05


class WriteGate(Reporting):
    """Per-token write gate ``w_t`` in [0, 1] (``[B, T, 1]``) with annealing and telemetry."""

    def __init__(self, cfg: ModelConfig, width: int) -> None:
        super().__init__()
        self.proj = nn.Linear(width, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.constant_(self.proj.bias, INIT_BIAS)
        self.gamma = cfg.prune_gamma
        self.keep_target = cfg.prune_keep
        self.temperature = 1.0

    @staticmethod
    def param_count(width: int) -> int:
        return width + 1

    def set_progress(self, progress: float) -> None:
        self.temperature = max(MIN_TEMPERATURE, 1.0 - float(progress))

    def forward(self, x: Tensor) -> Tensor:
        z = self.proj(x)
        hard = (z > 0).to(x.dtype)
        if self.training:
            w = torch.sigmoid(z / self.temperature)
            mean_keep = w.mean()
            excess = mean_keep if self.keep_target is None else torch.relu(mean_keep - self.keep_target)
            self.report_loss(self.gamma * excess)
        else:
            w = hard
        kept = hard.mean()
        self.report_stat("kept_fraction", kept)
        self.report_stat("compute_saved", 1.0 - kept)
        return w
