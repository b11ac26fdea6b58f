"""The pair-map network: 2-D convolutions over the L × L map of base pairs.

RNA secondary-structure predictors read a sequence as a map of every pair of positions rather
than as a line: UFold (Fu et al. 2022, *Nucleic Acids Res.* 50(3):e14, Methods) feeds the
16-channel Kronecker product of the one-hot encoding to a 2-D U-Net, SPOT-RNA (Singh et al. 2019,
*Nat. Commun.* 10:5407) an outer concatenation to 2-D ResNets. In that map a stem — a block paired
with its reverse complement, whatever the distance between them — is a short anti-diagonal run of
complementary cells, a *local* pattern, so a small 2-D convolution can detect pairing at any
distance (theory rule R26). This is the ladder's architecture class for D5 (long-range pairing),
which no line model learned on 2 CPU cores (at 64 bp they reach AUROC 0.52–0.79, and chance when
the blocks are 200 bp apart)::

    codes [B, L] → one-hot [B, L, 4] (N = all zeros)
    → pair map [B, 16, L, L]: channel 4a + c at (i, j) is one-hot_a(i) · one-hot_c(j)
    → conv2d(16 → channels, kernel, dilation d₁) → ReLU
    → residual conv2d(channels → channels, kernel, dilation dₖ) → ReLU, for d₂ … dₖ
    → global max ⊕ mean over the map → linear → logits [B, C]

With the defaults (8 channels, kernel 5, dilations 1, 2, 4) one output cell sees a square of
``1 + (kernel − 1)·Σ dilations = 29`` cells on each side: two 29-bp windows, one around each
position of the pair, any distance apart. Memory and time grow as L² (a 64-bp sequence is 4096
cells, a 1200-bp one 1.44 M), so the forward pass splits a batch into chunks of at most
:data:`MAX_CELLS` map cells × rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from pydantic import Field, field_validator
from torch import Tensor, nn

from archlab.config import StrictModel

if TYPE_CHECKING:
    from archlab.models.model import ModelFeatures

__all__ = ["MAX_CELLS", "PairMapConfig", "PairMapNet", "build_pairmap", "pairmap_features", "pairmap_field"]

#: map cells (rows × L²) per forward chunk: 2^22 cells × 16 input channels × 4 B ≈ 268 MB
MAX_CELLS = 1 << 22


class PairMapConfig(StrictModel):
    """Hyper-parameters of :class:`PairMapNet`.

    ``channels``: width of every 2-D convolution; ``kernel``: its (square) kernel;
    ``dilations``: one convolution per entry, the first from the 16 pair channels, the rest
    residual.
    """

    channels: int = Field(default=8, ge=1, le=256)
    kernel: int = Field(default=5, ge=1, le=15)
    dilations: tuple[int, ...] = (1, 2, 4)

    @field_validator("kernel")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError(f"kernel must be odd (centred 'same' padding), got {v}")
        return v

    @field_validator("dilations")
    @classmethod
    def _dilations(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or len(v) > 8 or any(not 1 <= d <= 64 for d in v):
            raise ValueError(f"dilations must be 1 to 8 values in 1…64, got {list(v)}")
        return v


def pairmap_field(cfg: PairMapConfig) -> int:
    """Cells (= bp along each axis of the map) one output cell depends on: each convolution of
    kernel k and dilation d widens the square by ``(k − 1)·d``."""
    return int(1 + (cfg.kernel - 1) * sum(cfg.dilations))


class PairMapNet(nn.Module):
    """Codes ``[B, L]`` (A=0 C=1 G=2 T=3 N=4) → logits ``[B, n_outputs]`` (module docstring)."""

    def __init__(self, cfg: PairMapConfig, n_outputs: int) -> None:
        super().__init__()
        if n_outputs < 1:
            raise ValueError(f"n_outputs must be >= 1, got {n_outputs}")
        self.cfg = cfg
        self.n_outputs = n_outputs
        table = torch.cat([torch.eye(4), torch.zeros(1, 4)])
        self.register_buffer("one_hot_table", table, persistent=False)
        c, k = cfg.channels, cfg.kernel
        self.convs = nn.ModuleList(
            nn.Conv2d(16 if i == 0 else c, c, k, padding=(k - 1) // 2 * d, dilation=d)
            for i, d in enumerate(cfg.dilations)
        )
        self.head = nn.Linear(2 * c, n_outputs)

    def pair_map(self, codes: Tensor) -> Tensor:
        """Codes ``[B, L]`` → the outer product of the one-hot encoding ``[B, 16, L, L]``."""
        x = self.get_buffer("one_hot_table")[codes.long()]  # [B, L, 4]
        b, n, _ = x.shape
        return torch.einsum("bia,bjc->bacij", x, x).reshape(b, 16, n, n)

    def _forward(self, codes: Tensor) -> Tensor:
        h = torch.relu(self.convs[0](self.pair_map(codes)))
        for conv in self.convs[1:]:
            h = h + torch.relu(conv(h))
        feats = torch.cat([h.amax(dim=(2, 3)), h.mean(dim=(2, 3))], dim=1)
        out: Tensor = self.head(feats)
        return out

    def forward(self, codes: Tensor) -> Tensor:
        """Codes ``[B, L]`` (any integer dtype) → logits ``[B, n_outputs]``, in chunks of at most
        :data:`MAX_CELLS` map cells."""
        rows = max(1, MAX_CELLS // max(1, codes.shape[-1] ** 2))
        if codes.shape[0] <= rows:
            return self._forward(codes)
        return torch.cat([self._forward(part) for part in codes.split(rows)])


def build_pairmap(
    cfg: PairMapConfig, n_outputs: int, device: str | torch.device = "cpu", seed: int | None = None
) -> PairMapNet:
    """Build the network on ``device``; with ``seed``, its initial weights depend on that seed
    only (the global torch generator is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return PairMapNet(cfg, n_outputs).to(device)


def pairmap_features(cfg: PairMapConfig, n_outputs: int = 2, seq_len: int = 256) -> ModelFeatures:
    """The theory rules' view of :class:`PairMapNet`: transition ``pairwise`` (every pair of
    positions is a cell of the map, so no receptive field bounds which positions it relates), no
    recurrent state, non-causal, a global ``max+mean`` pool. ``extra["map_field"]`` is
    :func:`pairmap_field`; FLOPs per base grow with the length (L cells per base)."""
    from archlab.models.model import ModelFeatures

    net = PairMapNet(cfg, n_outputs)
    params = sum(p.numel() for p in net.parameters())
    body = sum(p.numel() for p in net.convs.parameters())
    per_cell = 2.0 * sum(p.numel() for name, p in net.convs.named_parameters() if name.endswith("weight"))
    return ModelFeatures.stateless(
        mixer="pairmap",
        transition="pairwise",
        layers=len(cfg.dilations),
        width=cfg.channels,
        state_bits_bound="no recurrent state: an L × L map of base pairs (memory grows as L²)",
        params=int(params),
        params_body=int(body),
        flops_per_token=per_cell * seq_len,
        flops_seq_len=int(seq_len),
        extra={
            "channels": cfg.channels,
            "kernel": cfg.kernel,
            "dilations": list(cfg.dilations),
            "map_field": pairmap_field(cfg),
        },
        receptive_field=None,
        pool="max+mean",
    )
