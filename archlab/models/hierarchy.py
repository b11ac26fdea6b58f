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

**Dynamic chunking** (``hier_chunking: dynamic``) learns the boundaries instead of fixing them,
following H-Net's dynamic chunking (Hwang, Wang & Gu 2025, "Dynamic Chunking for End-to-End
Hierarchical Sequence Modeling", arXiv 2507.07955, §2.2; the facts below were read in the
authors' code, goombalab/hnet ``hnet/modules/dc.py``, ``hnet/models/hnet.py`` and
``hnet/utils/train.py``). Between level ℓ and ℓ+1:

* routing — ``p_t = ½(1 − cos(W_q y_{t−1}, W_k y_t))`` with ``p_0 = 1`` (W_q, W_k start as the
  identity); position t opens a new chunk iff ``p_t > ½``;
* downsampling — the next level runs over the boundary positions' vectors only (a ragged
  length per sequence, padded at the end), so its length is the number of chunks;
* smoothing (dechunking) — an EMA over the coarse outputs in chunk order,
  ``z̄_j = P_j z_j + (1 − P_j) z̄_{j−1}`` with ``P_j`` the boundary probability of chunk j's
  first position (clamped to [1e-4, 1 − 1e-4]), then every position takes its own chunk's
  ``z̄``; it is added as ``W_ℓ z̄ · STE(c_t)``, ``c_t = p_t`` at a boundary and ``1 − p_t``
  elsewhere, where the straight-through STE is 1 in the forward pass and passes c's gradient —
  the path by which the task loss trains the router;
* the ratio loss — ``α · N/(N−1) · ((N−1) F G + (1 − F)(1 − G))`` with F the fraction of
  positions that open a chunk, G the mean ``p_t`` and target ratio ``N = hier_stride``
  (``α = hier_ratio_loss``, default 0.03: the value a third-party reimplementation states, not
  read in the paper), added to the model's auxiliary loss in training.

Causal by construction: a position's chunk opened at or before it and every coarse output it
reads comes from boundary positions up to that one (the level's mixer is causal), so no shift is
needed. Reported per forward pass: ``hier_compression`` — positions per chunk, ``T`` over the
mean number of chunks (the fixed form's would be ``hier_stride``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archlab.models.base import Reporting
from archlab.models.scan_diag import diag_scan

__all__ = ["Hierarchy", "hierarchy_param_count"]


def hierarchy_param_count(levels: int, width: int, dynamic: bool = False) -> int:
    """Parameters the hierarchy adds besides its level mixers: the up projections, and the
    routers' W_q and W_k with dynamic chunking."""
    return (levels - 1) * width * width * (3 if dynamic else 1)


class Router(nn.Module):
    """H-Net's routing module: boundary probabilities from adjacent positions' cosine similarity."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.q = nn.Linear(width, width, bias=False)
        self.k = nn.Linear(width, width, bias=False)
        with torch.no_grad():
            if self.q.weight.device.type != "meta":
                self.q.weight.copy_(torch.eye(width))
                self.k.weight.copy_(torch.eye(width))

    def forward(self, y: Tensor) -> Tensor:
        """``y [B, T, d] → p [B, T]``, ``p_0 = 1``."""
        cos = (F.normalize(self.q(y[:, :-1]), dim=-1) * F.normalize(self.k(y[:, 1:]), dim=-1)).sum(-1)
        return F.pad(((1 - cos) / 2).clamp(0.0, 1.0), (1, 0), value=1.0)


class Hierarchy(Reporting):
    """``levels`` mixers made by ``make_mixer()``, run over strides 1, s, s², … (fixed chunks) or
    over learned chunks (``dynamic``, target ratio ``stride``, ratio-loss weight ``ratio_loss``)."""

    def __init__(
        self, make_mixer: Callable[[], nn.Module], levels: int, stride: int, width: int, causal: bool,
        dynamic: bool = False, ratio_loss: float = 0.03,
    ) -> None:  # fmt: skip
        super().__init__()
        self.levels = nn.ModuleList([make_mixer() for _ in range(levels)])
        ups = [nn.Linear(width, width, bias=False) for _ in range(levels - 1)]
        for lin in ups:
            nn.init.zeros_(lin.weight)
        self.up = nn.ModuleList(ups)
        self.stride = stride
        self.causal = causal
        self.dynamic = dynamic
        self.ratio_loss = ratio_loss
        self.routers = nn.ModuleList([Router(width) for _ in range(levels - 1)] if dynamic else [])

    def forward(self, x: Tensor) -> Tensor:
        return self._run(0, x)

    def _run(self, level: int, x: Tensor) -> Tensor:
        y = self.levels[level](x)
        if level + 1 == len(self.levels):
            return y
        if self.dynamic and y.device.type != "meta":
            return self._dynamic(level, y)
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

    def _dynamic(self, level: int, y: Tensor) -> Tensor:
        """Learned chunks (module doc): route, downsample, run the next level, smooth, plug back."""
        bsz, t, d = y.shape
        p = self.routers[level](y)  # [B, T]
        opens = p > 0.5
        n_chunks = opens.sum(1)  # ≥ 1: position 0 always opens one
        m = int(n_chunks.max())
        # boundary positions first, in order (the rest sorted after them)
        order = torch.argsort(torch.arange(t, device=y.device) + (~opens).long() * t, dim=1)[:, :m]
        selected = torch.gather(y, 1, order.unsqueeze(-1).expand(bsz, m, d))
        valid = torch.arange(m, device=y.device) < n_chunks[:, None]
        coarse = self._run(level + 1, selected * valid.unsqueeze(-1).to(y.dtype))
        big_p = torch.gather(p, 1, order).clamp(1e-4, 1 - 1e-4).unsqueeze(-1)  # [B, M, 1]
        smoothed = diag_scan((1 - big_p).expand(bsz, m, d), big_p * coarse)
        chunk_of = (opens.long().cumsum(1) - 1).unsqueeze(-1).expand(bsz, t, d)
        back = torch.gather(smoothed, 1, chunk_of)
        conf = torch.where(opens, p, 1 - p)
        ste = conf + (1 - conf).detach()  # 1 in the forward pass, conf's gradient in the backward
        self.report_stat("hier_compression", t * bsz / float(n_chunks.sum()))
        if self.training and self.ratio_loss > 0:
            n = float(self.stride)
            f, g = opens.to(y.dtype).mean(), p.mean()
            self.report_loss(self.ratio_loss * n / (n - 1) * ((n - 1) * f * g + (1 - f) * (1 - g)))
        return y + self.up[level](back) * ste.unsqueeze(-1)
