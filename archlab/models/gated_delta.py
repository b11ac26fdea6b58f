"""Gated DeltaNet and gated DeltaProduct: the delta rule with a scalar decay gate per token.

Per head (d = width / heads)::

    S_t = α_t (I − β_{t,n_h} k kᵀ) ⋯ (I − β_{t,1} k kᵀ) S_{t−1} + (the n_h writes β k vᵀ)
    o_t = S_tᵀ q_t / √d,     y_t = W_o (RMSNorm(o_t) ⊙ silu(W_g x_t))

``gated_deltanet`` is Yang, Kautz & Hatamizadeh (ICLR 2025, arXiv 2412.06464) with n_h = 1;
``gated_deltaproduct`` is Siems et al.'s DeltaProduct (arXiv 2502.10297) with the same gate,
``householder_factors`` (default 2) factors per token. Layer layout and initialisation as in
flash-linear-attention (fla-org/flash-linear-attention, ``fla/layers/gated_deltanet.py`` and
``fla/layers/gated_deltaproduct.py``, read in a fetched copy): q, k, v projections each followed
by a kernel-4 causal conv with SiLU (no conv bias), q and k L2-normalised, β = σ(W_β x) — or
2σ(W_β x) with ``eig_range: signed``, fla's ``allow_neg_eigval`` (Grazzi et al.) — and
log α = −exp(A_log) · softplus(W_a x + dt_bias) with A_log = log U(0, 16) and dt_bias the inverse
softplus of a log-uniform Δ in [1e-3, 1e-1]. The state starts at zero, as in fla. One
simplification: the value head dimension equals the key head dimension (fla's default
``expand_v`` is 2).

Features: the ``householder_product`` transition with the eigenvalue range of β (α ∈ (0, 1)
scales every eigenvalue by the same positive factor, which keeps each of them real and of the
same sign, so the rules for the ungated factors apply: THEORY.md R1/R2, R5, R6).
Fast path: the gated chunkwise WY/UT scan; on CUDA, fla's chunked gated delta rule kernels.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archlab.models import cuda
from archlab.models.base import divisor_heads
from archlab.models.recurrent import DeltaRuleMixer
from archlab.models.scan_householder import householder_product_reference, householder_product_scan
from archlab.models.short_conv import ShortConv
from archlab.models.ssm import _dt_bias
from archlab.registry import MIXERS

if TYPE_CHECKING:
    from archlab.config import ModelConfig

__all__ = ["GatedDeltaNet", "GatedDeltaProduct"]


@MIXERS.register("gated_deltanet")
class GatedDeltaNet(DeltaRuleMixer):
    """Gated DeltaNet (Yang et al. 2025); ``eig_range: signed`` lets β reach (0, 2)."""

    name = "gated_deltanet"
    summary = "Gated DeltaNet (Yang et al. 2025): α-gated delta rule, β in (0,1) or (0,2)"
    options: ClassVar[dict[str, tuple[Any, ...]]] = {
        "heads": (),
        "conv_kernel": (),
        "eig_range": ("unit", "signed"),
    }
    defaults: ClassVar[dict[str, Any]] = {"conv_kernel": 4, "eig_range": "unit"}
    recurrent = True
    unstreamable = ""

    @classmethod
    def default_value(cls, field: str, cfg: ModelConfig) -> Any:
        if field == "heads":
            return divisor_heads(cfg.width)
        return super().default_value(field, cfg)

    @classmethod
    def factors(cls, cfg: ModelConfig) -> int:
        return 1

    def __init__(self, cfg: ModelConfig, width: int) -> None:
        super().__init__(cfg, width)
        heads, n_h, kernel = int(self.opt(cfg, "heads")), self.factors(cfg), int(self.opt(cfg, "conv_kernel"))
        self.heads, self.n_h, self.d = heads, n_h, width // heads
        self.signed = self.opt(cfg, "eig_range") == "signed"
        self.q = nn.Linear(width, width, bias=False)
        self.k = nn.Linear(width, n_h * width, bias=False)
        self.v = nn.Linear(width, n_h * width, bias=False)
        self.q_conv = ShortConv(width, kernel, bias=False)
        self.k_conv = ShortConv(n_h * width, kernel, bias=False)
        self.v_conv = ShortConv(n_h * width, kernel, bias=False)
        self.beta = nn.Linear(width, n_h * heads, bias=False)
        self.a = nn.Linear(width, heads, bias=False)
        self.a_log = nn.Parameter(torch.zeros(heads))
        self.dt_bias = nn.Parameter(torch.zeros(heads))
        self.g = nn.Linear(width, width, bias=False)
        self.norm_weight = nn.Parameter(torch.ones(self.d))
        self.out = nn.Linear(width, width, bias=False)
        with torch.no_grad():
            if self.a_log.device.type != "meta":
                self.a_log.copy_(torch.log(torch.empty(heads).uniform_(0.0, 16.0).clamp_min(1e-4)))
                self.dt_bias.copy_(_dt_bias(heads))

    def forward(self, x: Tensor) -> Tensor:
        return self._run(x, None, streaming=False)[0]

    def forward_chunk(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        """The state is ``(the q, k, v convs' last K − 1 inputs, S_T [B, H, d, d])``; the
        pure-PyTorch scan."""
        return self._run(x, state, streaming=True)

    def _run(self, x: Tensor, state: Any, streaming: bool) -> tuple[Tensor, Any]:
        bsz, t, _ = x.shape
        h, d, n_h = self.heads, self.d, self.n_h
        caches, s0 = ((None, None, None), None) if state is None else state
        convs = (self.q_conv, self.k_conv, self.v_conv)
        raw = (self.q(x), self.k(x), self.v(x))
        if streaming:
            pairs = [conv.forward_chunk(y, cache) for conv, y, cache in zip(convs, raw, caches, strict=True)]
            (qx, kx, vx), caches = (tuple(p[0] for p in pairs)), tuple(p[1] for p in pairs)
        else:
            qx, kx, vx = (conv(y) for conv, y in zip(convs, raw, strict=True))
        q = F.normalize(qx.view(bsz, t, h, d), dim=-1).transpose(1, 2)
        k = F.normalize(kx.view(bsz, t, n_h, h, d).permute(0, 3, 1, 2, 4), dim=-1)
        v = vx.view(bsz, t, n_h, h, d).permute(0, 3, 1, 2, 4)
        z = self.beta(x).view(bsz, t, n_h, h).permute(0, 3, 1, 2)
        beta = 2 * torch.sigmoid(z) if self.signed else torch.sigmoid(z)
        log_alpha = (-torch.exp(self.a_log) * F.softplus(self.a(x) + self.dt_bias)).transpose(1, 2)
        q = q / math.sqrt(d)
        o, s_t = None, None
        if self.kernels and not self.reference and x.is_cuda and not streaming:
            o = cuda.delta_rule(q, k, v, beta, log_alpha)
        if o is None:
            if self.reference:
                o, s_t = householder_product_reference(
                    q, k, v, beta, s0, normalize_k=False, log_alpha=log_alpha
                )
            else:
                o, s_t = householder_product_scan(
                    q, k, v, beta, n_h, s0, normalize_k=False, log_alpha=log_alpha
                )
        o = F.rms_norm(o, (d,), self.norm_weight, eps=1e-5).transpose(1, 2).reshape(bsz, t, self.width)
        return self.out(o * F.silu(self.g(x))), (caches, s_t)

    @classmethod
    def param_count(cls, cfg: ModelConfig, width: int) -> int:
        heads, n_h, kernel = int(cls.opt(cfg, "heads")), cls.factors(cfg), int(cls.opt(cfg, "conv_kernel"))
        return (
            (1 + 2 * n_h) * width * width  # q, k, v (k and v once per factor)
            + (1 + 2 * n_h) * width * kernel  # their short convs (no bias)
            + n_h * heads * width + heads * width  # β and α projections
            + 2 * heads  # A_log, dt_bias
            + width * width + width // heads  # output gate, the per-head RMSNorm weight
            + width * width  # out
        )  # fmt: skip

    @classmethod
    def flops_per_token(cls, cfg: ModelConfig, width: int, seq_len: int) -> float:
        state = cls.state_floats(cfg, width)
        return 2.0 * cls.param_count(cfg, width) + 4.0 * cls.factors(cfg) * state + 2.0 * state

    @classmethod
    def extra_features(cls, cfg: ModelConfig, width: int) -> dict[str, Any]:
        return {"heads": int(cls.opt(cfg, "heads")), "gated": True}


@MIXERS.register("gated_deltaproduct")
class GatedDeltaProduct(GatedDeltaNet):
    """Gated DeltaProduct (Siems et al. 2025): ``householder_factors`` (default 2) per token."""

    name = "gated_deltaproduct"
    summary = "gated DeltaProduct (Siems et al. 2025): n_h Householder factors per token, α-gated"
    options: ClassVar[dict[str, tuple[Any, ...]]] = {**GatedDeltaNet.options, "householder_factors": ()}
    defaults: ClassVar[dict[str, Any]] = {**GatedDeltaNet.defaults, "householder_factors": 2}

    @classmethod
    def factors(cls, cfg: ModelConfig) -> int:
        return int(cls.opt(cfg, "householder_factors"))
