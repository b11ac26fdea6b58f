"""Hierarchy: a mixer stack over coarser and coarser timescales that feeds back to the finer one.

With ``hier_levels = L`` and ``hier_stride = s`` a block's mixer becomes L mixers of the same kind
(own weights). Level 0 runs over the tokens; level ℓ+1 runs over chunk summaries of level ℓ's
output (the mean over each chunk of s positions, so its length is ⌈T/s^{ℓ+1}⌉), and its output is
projected back and added to level ℓ's output at the finer positions (two timescales as in HRM,
Wang et al. 2025, here in a single pass)::

    y_ℓ = mixer_ℓ(x_ℓ);   x_{ℓ+1}[c] = mean(y_ℓ[c·s : (c+1)·s]);   y_ℓ[t] += W_ℓ y_{ℓ+1}[⌊t/s⌋ − 1]

The ``− 1`` is what makes it causal: a chunk's summary reaches only positions after the chunk
(position t sees summaries of whole chunks that ended at or before t − (t mod s) − 1). With
``causal: false`` (DNA classification) the same chunk's summary is used. ``W_ℓ`` starts at zero,
so an untrained hierarchy is the plain model. ``hier_levels = 1`` is the plain mixer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archlab.models.base import Reporting

__all__ = ["Hierarchy", "hierarchy_param_count"]


def hierarchy_param_count(levels: int, width: int) -> int:
    """Parameters the hierarchy adds besides its level mixers (the up projections)."""
    return (levels - 1) * width * width


class Hierarchy(Reporting):
    """``levels`` mixers made by ``make_mixer()``, run over strides 1, s, s², …"""

    def __init__(
        self, make_mixer: Callable[[], nn.Module], levels: int, stride: int, width: int, causal: bool
    ) -> None:
        super().__init__()
        self.levels = nn.ModuleList([make_mixer() for _ in range(levels)])
        ups = [nn.Linear(width, width, bias=False) for _ in range(levels - 1)]
        for lin in ups:
            nn.init.zeros_(lin.weight)
        self.up = nn.ModuleList(ups)
        self.stride = stride
        self.causal = causal

    def forward(self, x: Tensor) -> Tensor:
        return self._run(0, x)

    def _run(self, level: int, x: Tensor) -> Tensor:
        y = self.levels[level](x)
        if level + 1 == len(self.levels):
            return y
        bsz, t, d = y.shape
        s = self.stride
        n_chunks = -(-t // s)
        pad = n_chunks * s - t
        padded = F.pad(y, (0, 0, 0, pad))
        counts = torch.full((n_chunks,), float(s), dtype=y.dtype, device=y.device)
        if pad:
            counts[-1] = s - pad
        summary = padded.view(bsz, n_chunks, s, d).sum(2) / counts[:, None]
        coarse = self.up[level](self._run(level + 1, summary))
        if self.causal:  # chunk c receives the summary of chunks < c only
            coarse = F.pad(coarse, (0, 0, 1, 0))[:, :n_chunks]
        return y + coarse.repeat_interleave(s, dim=1)[:, :t]
