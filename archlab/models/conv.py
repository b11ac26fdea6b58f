"""Dilated 1-D convolution stack: a sequence mixer with a finite receptive field.

Layer ``ℓ = 0 … L−1`` (``L = conv_depth``) is a full ``Conv1d(width, width, k, dilation=2^ℓ)``
with bias (``k = conv_kernel``), applied residually with a GELU,

    x ← x + GELU(conv_ℓ(x)),   conv_ℓ(x)_t = b + Σ_{s=0}^{k−1} W_s x_{t − (k−1−s)·2^ℓ}   (causal),

the WaveNet-style doubling of dilations (van den Oord et al. 2016) that covers an exponentially
long window with ``L`` layers. Causal (the default): each layer pads ``(k−1)·2^ℓ`` zeros on the
left, so output ``t`` depends on inputs ``t − R + 1 … t`` only, with receptive field

    R = 1 + (k − 1)·Σ_ℓ 2^ℓ = 1 + (k − 1)(2^L − 1).

Non-causal (``causal: false``): "same" padding split evenly, the odd pad (even ``k``) on the
left, so each output sees about ``(R − 1) / 2`` positions on either side.

A streaming causal implementation keeps each layer's last ``(k−1)·2^ℓ`` inputs, ``(R − 1)·width``
floats in all: the state this mixer reports. No position can carry information further than
``R − 1`` steps, which is what theory rules about finite windows read (THEORY.md §1, transition
class ``convolution``).

Full convolutions, not depthwise + pointwise: the separable variant was not much faster where this
lab runs (forward + backward of the default 4-layer stack, batch 16, 2 CPU cores, torch 2.13:
35 vs 34 ms at width 64 / T 256, 202 vs 175 ms at 128 / 512, 1.36 vs 0.81 s at 256 / 1024) and
is a different, ``k`` times smaller model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archlab.models.base import Mixer
from archlab.registry import MIXERS

if TYPE_CHECKING:
    from archlab.config import ModelConfig

__all__ = ["DilatedConv"]


@MIXERS.register("conv")
class DilatedConv(Mixer):
    """A residual stack of ``conv_depth`` dilated convolutions (dilations 1, 2, 4, …), causal or not."""

    name = "conv"
    summary = "residual stack of dilated 1-D convolutions (dilation 2^l), finite receptive field"
    options: ClassVar[dict[str, tuple[Any, ...]]] = {"conv_kernel": (), "conv_depth": ()}
    defaults: ClassVar[dict[str, Any]] = {"conv_kernel": 3, "conv_depth": 4}
    recurrent = False
    supports_noncausal = True
    unstreamable = ""
    supports_prune = False

    def __init__(self, cfg: ModelConfig, width: int) -> None:
        super().__init__(cfg, width)
        self.kernel: int = self.opt(cfg, "conv_kernel")
        self.depth: int = self.opt(cfg, "conv_depth")
        self.causal = cfg.causal
        self.convs = nn.ModuleList(
            nn.Conv1d(width, width, self.kernel, dilation=2**i) for i in range(self.depth)
        )

    # -- features ------------------------------------------------------------------------------
    @classmethod
    def receptive_field(cls, cfg: ModelConfig) -> int:
        """Positions one causal mixer output depends on: ``1 + (k − 1)(2^L − 1)``."""
        kernel, depth = cls.opt(cfg, "conv_kernel"), cls.opt(cfg, "conv_depth")
        return int(1 + (kernel - 1) * (2**depth - 1))

    @classmethod
    def transition(cls, cfg: ModelConfig) -> str:
        return "convolution"

    @classmethod
    def state_floats(cls, cfg: ModelConfig, width: int) -> int | None:
        return (cls.receptive_field(cfg) - 1) * width

    @classmethod
    def param_count(cls, cfg: ModelConfig, width: int) -> int:
        kernel, depth = cls.opt(cfg, "conv_kernel"), cls.opt(cfg, "conv_depth")
        return int(depth * (kernel * width * width + width))

    @classmethod
    def flops_per_token(cls, cfg: ModelConfig, width: int, seq_len: int) -> float:
        """``2·k·width²`` per layer and token (multiply-adds of the dense taps); bias and GELU left out."""
        kernel, depth = cls.opt(cfg, "conv_kernel"), cls.opt(cfg, "conv_depth")
        return 2.0 * depth * kernel * width * width

    @classmethod
    def extra_features(cls, cfg: ModelConfig, width: int) -> dict[str, Any]:
        return {"receptive_field": cls.receptive_field(cfg)}

    # -- forward -------------------------------------------------------------------------------
    def _padding(self, dilation: int) -> tuple[int, int]:
        total = (self.kernel - 1) * dilation
        if self.causal:
            return total, 0
        right = total // 2
        return total - right, right

    def forward(self, x: Tensor) -> Tensor:
        h = x.transpose(1, 2)  # [B, width, T]: Conv1d's layout, kept through the stack
        for i, conv in enumerate(self.convs):
            h = h + F.gelu(conv(F.pad(h, self._padding(2**i))))
        return h.transpose(1, 2)

    def forward_chunk(self, x: Tensor, state: list[Tensor] | None) -> tuple[Tensor, list[Tensor]]:
        """Causal only. The state is each layer's last ``(k − 1)·2^ℓ`` inputs ``[B, width, ·]``
        (None: zeros, the sequence's start) — the streaming form of the module doc."""
        if not self.causal:
            raise ValueError("a non-causal convolution reads ahead: it cannot run chunk by chunk")
        h = x.transpose(1, 2)
        caches = []
        for i, conv in enumerate(self.convs):
            keep = (self.kernel - 1) * 2**i
            hp = F.pad(h, (keep, 0)) if state is None else torch.cat([state[i], h], dim=-1)
            caches.append(hp[..., hp.shape[-1] - keep :])
            h = h + F.gelu(conv(hp))
        return h.transpose(1, 2), caches
