"""The short causal depthwise convolution that Mamba, Mamba-2, xLSTM and Gated DeltaNet put before
their recurrences (kernel 4 in all their reference configurations).

``y_t = silu(Σ_{j<K} w_j ⊙ x_{t−K+1+j} + b)`` per channel, zero-padded on the left, so output t
sees inputs t−K+1 … t only. On CUDA it runs the ``causal-conv1d`` kernel when the ``gpu`` extra
is installed (:func:`archlab.models.cuda.causal_conv1d`), else K shifted multiply-adds (the same
sum as ``torch.nn.functional.conv1d`` with ``groups = channels``; a test holds them equal).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archlab.models import cuda

__all__ = ["ShortConv"]


class ShortConv(nn.Module):
    """Depthwise causal convolution of ``channels`` channels and ``kernel`` taps, then SiLU."""

    def __init__(self, channels: int, kernel: int, bias: bool = True) -> None:
        super().__init__()
        self.channels, self.kernel = channels, kernel
        self.weight = nn.Parameter(torch.empty(channels, kernel))
        self.bias = nn.Parameter(torch.empty(channels)) if bias else None
        # torch.nn.Conv1d's default initialisation (fan_in = kernel for a depthwise conv)
        bound = 1.0 / math.sqrt(kernel)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)
        #: use the causal-conv1d kernel on CUDA when importable (see :mod:`archlab.models.cuda`)
        self.kernels = True

    @staticmethod
    def param_count(channels: int, kernel: int, bias: bool = True) -> int:
        return channels * kernel + (channels if bias else 0)

    def forward(self, x: Tensor) -> Tensor:
        """x [B, T, C] → [B, T, C]."""
        if self.kernels and x.is_cuda:
            y = cuda.causal_conv1d(x, self.weight, self.bias)
            if y is not None:
                return y
        return self.forward_chunk(x, None)[0]

    def forward_chunk(self, x: Tensor, cache: Tensor | None) -> tuple[Tensor, Tensor]:
        """``forward`` on a chunk that continues a sequence: ``cache`` holds the previous chunk's
        last ``kernel − 1`` inputs ``[B, kernel − 1, C]`` (None: zeros, the sequence's start).
        Returns ``(y, the cache for the next chunk)``."""
        # K shifted multiply-adds: on the CPU, torch's depthwise conv1d backward is ~50× slower
        # than this (7 s of a 16 s Gated DeltaNet step at B 16, T 1024, width 256)
        t, k = x.shape[1], self.kernel
        xp = F.pad(x, (0, 0, k - 1, 0)) if cache is None else torch.cat([cache, x], dim=1)
        h = xp[:, k - 1 :] * self.weight[:, k - 1]
        for j in range(k - 1):
            h = torch.addcmul(h, xp[:, j : j + t], self.weight[:, j])
        if self.bias is not None:
            h = h + self.bias
        return F.silu(h), xp[:, xp.shape[1] - (k - 1) :]
