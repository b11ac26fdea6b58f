"""Selective state-space blocks: Mamba (Gu & Dao 2023) and Mamba-2 (Dao & Gu 2024), with the
eigenvalue range of Grazzi et al. (ICLR 2025) as an option.

========= ====================================================== ==============================
mixer      state update (per channel / head)                      features
========= ====================================================== ==============================
mamba      h_t = exp(Δ_t A) ⊙ h_{t−1} + Δ_t B_t x_t,  A diagonal   diagonal_real, d_inner × d_state
mamba2     S_t = exp(Δ_t A_h) S_{t−1} + Δ_t x_t B_tᵀ, A_h scalar   diagonal_real, d_inner × d_state
========= ====================================================== ==============================

``eig_range``: ``unit`` is the published block (transition exp(ΔA) ∈ (0, 1): no parity at any
depth, THEORY.md R1); ``signed`` is Grazzi et al.'s Mamba[−1,1], the transition mapped to
2·exp(ΔA) − 1 ∈ (−1, 1) with the input term unchanged (read in their official code,
adankow/unlocking_state_tracking, ``fla/models/mamba_py/mamba_mod.py``,
``PositiveNegativeMambaBlock.selective_scan``: ``deltaA = deltaA * 2 - 1``).

Block layout and initialisation as in the official module (state-spaces/mamba,
``mamba_ssm/modules/mamba_simple.py`` and ``mamba2_simple.py``, read through ``read_file``):
in-projection to 2·d_inner (x and the gate z; Mamba-2 also B, C and Δ), a kernel-4 depthwise
causal conv with SiLU, Δ = softplus(·) initialised log-uniform in [1e-3, 1e-1] through its bias,
A = −exp(A_log) with A_log = log(1 … d_state) (Mamba) or log U(1, 16) per head (Mamba-2), a D
skip, y ⊙ silu(z) (Mamba) or RMSNorm(y ⊙ silu(z)) (Mamba-2), out-projection, no biases in the
projections. Mamba's Δ has rank ⌈width/16⌉; Mamba-2 uses one group of B, C (ngroups 1). One
default differs: ``d_state`` is 16 for both (Mamba's own; Mamba-2's modules default to 64 or 128,
which multiplies the state and the CPU cost — set ``d_state`` for paper-scale runs).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archlab.models import cuda
from archlab.models.base import Mixer
from archlab.models.scan_selective import selective_scan
from archlab.models.scan_ssd import ssd_chunked, ssd_reference
from archlab.models.short_conv import ShortConv
from archlab.registry import MIXERS

if TYPE_CHECKING:
    from archlab.config import ModelConfig

__all__ = ["Mamba", "Mamba2"]

#: Δ at initialisation: log-uniform in [DT_MIN, DT_MAX], floored at DT_FLOOR (official defaults)
DT_MIN, DT_MAX, DT_FLOOR = 1e-3, 1e-1, 1e-4


def _dt_bias(n: int) -> Tensor:
    """The bias whose softplus is a log-uniform Δ in [DT_MIN, DT_MAX] (the official init)."""
    dt = torch.exp(torch.rand(n) * (math.log(DT_MAX) - math.log(DT_MIN)) + math.log(DT_MIN))
    dt = dt.clamp(min=DT_FLOOR)
    return dt + torch.log(-torch.expm1(-dt))  # inverse softplus


class _SSMBlock(Mixer):
    """What Mamba and Mamba-2 share: options, the expanded inner width, eigenvalue range."""

    options: ClassVar[dict[str, tuple[Any, ...]]] = {
        "d_state": (),
        "expand": (),
        "conv_kernel": (),
        "eig_range": ("unit", "signed"),
    }
    defaults: ClassVar[dict[str, Any]] = {"d_state": 16, "expand": 2, "conv_kernel": 4, "eig_range": "unit"}
    recurrent = True
    unstreamable = ""

    @classmethod
    def _inner(cls, cfg: ModelConfig, width: int) -> tuple[int, int, int]:
        """(d_inner, d_state, conv kernel)."""
        return (
            int(cls.opt(cfg, "expand")) * width,
            int(cls.opt(cfg, "d_state")),
            int(cls.opt(cfg, "conv_kernel")),
        )

    @classmethod
    def transition(cls, cfg: ModelConfig) -> str:
        return "diagonal_real"

    @classmethod
    def eig_range(cls, cfg: ModelConfig) -> str | None:
        return str(cls.opt(cfg, "eig_range"))

    @classmethod
    def state_floats(cls, cfg: ModelConfig, width: int) -> int:
        d_inner, n, _ = cls._inner(cfg, width)
        return d_inner * n

    @classmethod
    def flops_per_token(cls, cfg: ModelConfig, width: int, seq_len: int) -> float:
        d_inner, n, _ = cls._inner(cfg, width)
        # projections and conv (2 per weight), then per state element: exp, the update (3), read-out (2)
        return 2.0 * cls.param_count(cfg, width) + 6.0 * d_inner * n

    def _transition(self, dt_a: Tensor) -> Tensor:
        """exp(ΔA), or Grazzi's 2·exp(ΔA) − 1 with ``eig_range: signed``."""
        a = torch.exp(dt_a)
        return 2 * a - 1 if self.signed else a


@MIXERS.register("mamba")
class Mamba(_SSMBlock):
    """The Mamba-1 selective SSM block; ``eig_range: signed`` is Grazzi et al.'s Mamba[−1,1].

    Fast path: the chunked selective scan with a hand-written backward
    (:func:`~archlab.models.scan_selective.selective_scan`); on CUDA with ``eig_range: unit``,
    mamba-ssm's selective scan kernel.
    """

    name = "mamba"
    summary = "Mamba (Gu & Dao 2023) selective SSM block; eig_range signed = Grazzi's Mamba[-1,1]"

    @classmethod
    def _dt_rank(cls, width: int) -> int:
        return math.ceil(width / 16)

    def __init__(self, cfg: ModelConfig, width: int) -> None:
        super().__init__(cfg, width)
        d_inner, n, kernel = self._inner(cfg, width)
        r = self._dt_rank(width)
        self.d_inner, self.n, self.r = d_inner, n, r
        self.signed = self.opt(cfg, "eig_range") == "signed"
        self.in_proj = nn.Linear(width, 2 * d_inner, bias=False)
        self.conv = ShortConv(d_inner, kernel)
        self.x_proj = nn.Linear(d_inner, r + 2 * n, bias=False)
        self.dt_proj = nn.Linear(r, d_inner)
        self.a_log = nn.Parameter(torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(d_inner, 1))
        self.d = nn.Parameter(torch.ones(d_inner))
        self.out_proj = nn.Linear(d_inner, width, bias=False)
        with torch.no_grad():
            if self.dt_proj.bias.device.type != "meta":
                nn.init.uniform_(self.dt_proj.weight, -(r**-0.5), r**-0.5)
                self.dt_proj.bias.copy_(_dt_bias(d_inner))

    def forward(self, x: Tensor) -> Tensor:
        xi, z = self.in_proj(x).chunk(2, dim=-1)
        xc = self.conv(xi)
        dt, a, b, c = self._ssm_inputs(xc)
        y = None
        if self.kernels and not self.signed and not self.reference and x.is_cuda:
            y = cuda.selective_scan(xc, dt, a, b, c, self.d)
        if y is None:
            y = self._scan(xc, dt, a, b, c, None)[0] + self.d * xc
        return self.out_proj(y * F.silu(z))

    def forward_chunk(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        """The state is ``(the conv's last K − 1 inputs, h_T [B, D, N])``; the pure-PyTorch scan."""
        cache, h0 = (None, None) if state is None else state
        xi, z = self.in_proj(x).chunk(2, dim=-1)
        xc, cache = self.conv.forward_chunk(xi, cache)
        dt, a, b, c = self._ssm_inputs(xc)
        y, h = self._scan(xc, dt, a, b, c, h0)
        return self.out_proj((y + self.d * xc) * F.silu(z)), (cache, h)

    def _ssm_inputs(self, xc: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(Δ [B, T, D], A [D, N], B, C [B, T, N]) from the conv output."""
        dt_low, b, c = self.x_proj(xc).split([self.r, self.n, self.n], dim=-1)
        return F.softplus(self.dt_proj(dt_low)), -torch.exp(self.a_log), b, c

    def _scan(self, xc: Tensor, dt: Tensor, a: Tensor, b: Tensor, c: Tensor, h0: Tensor | None) -> Any:
        """``(y, h_T)`` from the state ``h0`` (None: zeros)."""
        if not self.reference:
            return selective_scan(xc, dt, a, b, c, signed=self.signed, h0=h0, return_state=True)
        bsz, _, dd = xc.shape
        trans = self._transition(dt.unsqueeze(-1) * a)  # [B, T, D, N]
        write = (dt * xc).unsqueeze(-1) * b.unsqueeze(2)  # Δ B x: [B, T, D, N]
        h = xc.new_zeros(bsz, dd, self.n) if h0 is None else h0
        ys = []
        for a_t, w_t, c_t in zip(trans.unbind(1), write.unbind(1), c.unbind(1), strict=True):
            h = a_t * h + w_t
            ys.append((h * c_t.unsqueeze(1)).sum(-1))
        return (torch.stack(ys, dim=1) if ys else xc.new_zeros(bsz, 0, dd)), h

    @classmethod
    def param_count(cls, cfg: ModelConfig, width: int) -> int:
        d_inner, n, kernel = cls._inner(cfg, width)
        r = cls._dt_rank(width)
        return (
            width * 2 * d_inner  # in_proj
            + ShortConv.param_count(d_inner, kernel)
            + d_inner * (r + 2 * n)  # x_proj
            + r * d_inner + d_inner  # dt_proj
            + d_inner * n + d_inner  # A_log, D
            + d_inner * width  # out_proj
        )  # fmt: skip


@MIXERS.register("mamba2")
class Mamba2(_SSMBlock):
    """The Mamba-2 (SSD) block: a scalar transition per head, state head_dim × d_state per head.

    ``heads`` (default: d_inner / 64 when that divides, else 1; head_dim = d_inner / heads).
    Fast path: the chunkwise SSD form (:func:`~archlab.models.scan_ssd.ssd_chunked`, sign-safe
    for ``eig_range: signed``); on CUDA with ``eig_range: unit``, mamba-ssm's SSD kernel.
    """

    name = "mamba2"
    summary = "Mamba-2 (Dao & Gu 2024) SSD block, scalar A per head; eig_range signed = Mamba-2[-1,1]"
    options: ClassVar[dict[str, tuple[Any, ...]]] = {**_SSMBlock.options, "heads": ()}
    #: head dimension the default head count aims for (``mamba2.py``'s default; ``mamba2_simple.py``
    #: uses 128)
    HEAD_DIM = 64

    @classmethod
    def default_value(cls, field: str, cfg: ModelConfig) -> Any:
        if field == "heads":
            d_inner = int(cls.opt(cfg, "expand")) * cfg.width
            return d_inner // cls.HEAD_DIM if d_inner % cls.HEAD_DIM == 0 else 1
        return super().default_value(field, cfg)

    def __init__(self, cfg: ModelConfig, width: int) -> None:
        super().__init__(cfg, width)
        d_inner, n, kernel = self._inner(cfg, width)
        heads = int(self.opt(cfg, "heads"))
        self.d_inner, self.n, self.heads, self.p = d_inner, n, heads, d_inner // heads
        self.signed = self.opt(cfg, "eig_range") == "signed"
        self.in_proj = nn.Linear(width, 2 * d_inner + 2 * n + heads, bias=False)
        self.conv = ShortConv(d_inner + 2 * n, kernel)
        self.dt_bias = nn.Parameter(torch.zeros(heads))
        self.a_log = nn.Parameter(torch.zeros(heads))
        self.d = nn.Parameter(torch.ones(heads))
        self.norm_weight = nn.Parameter(torch.ones(d_inner))
        self.out_proj = nn.Linear(d_inner, width, bias=False)
        with torch.no_grad():
            if self.dt_bias.device.type != "meta":
                self.dt_bias.copy_(_dt_bias(heads))
                self.a_log.copy_(torch.log(torch.empty(heads).uniform_(1.0, 16.0)))

    def forward(self, x: Tensor) -> Tensor:
        return self._run(x, None, streaming=False)[0]

    def forward_chunk(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        """The state is ``(the conv's last K − 1 inputs, S_T [B, H, P, N])``; the pure-PyTorch scan."""
        return self._run(x, state, streaming=True)

    def _run(self, x: Tensor, state: Any, streaming: bool) -> tuple[Tensor, Any]:
        bsz, t, _ = x.shape
        h, p, n = self.heads, self.p, self.n
        cache, s0 = (None, None) if state is None else state
        z, xbc, dt = self.in_proj(x).split([self.d_inner, self.d_inner + 2 * n, h], dim=-1)
        xbc, cache = self.conv.forward_chunk(xbc, cache) if streaming else (self.conv(xbc), None)
        xs, b, c = xbc.split([self.d_inner, n, n], dim=-1)
        dt = F.softplus(dt + self.dt_bias)  # [B, T, H]
        a = -torch.exp(self.a_log)  # [H]
        xh = xs.view(bsz, t, h, p)
        y, s_t = None, None
        if self.kernels and not self.signed and not self.reference and x.is_cuda and not streaming:
            y = cuda.ssd(xh, dt, a, b, c, self.d)
        if y is None:
            trans = self._transition(dt * a)
            u = xh * dt.unsqueeze(-1)
            if self.reference:
                core, s_t = ssd_reference(trans, u, b, c, state=s0, return_state=True)
            else:
                core, s_t = ssd_chunked(
                    trans, u, b, c, nonnegative=not self.signed, state=s0, return_state=True
                )
            y = core + self.d[:, None] * xh
        y = y.reshape(bsz, t, self.d_inner) * F.silu(z)
        return self.out_proj(F.rms_norm(y, (self.d_inner,), self.norm_weight, eps=1e-5)), (cache, s_t)

    @classmethod
    def state_floats(cls, cfg: ModelConfig, width: int) -> int:
        d_inner, n, _ = cls._inner(cfg, width)
        return d_inner * n  # heads × head_dim × d_state

    @classmethod
    def param_count(cls, cfg: ModelConfig, width: int) -> int:
        d_inner, n, kernel = cls._inner(cfg, width)
        heads = int(cls.opt(cfg, "heads"))
        return (
            width * (2 * d_inner + 2 * n + heads)  # in_proj: z, x, B, C, Δ
            + ShortConv.param_count(d_inner + 2 * n, kernel)
            + 3 * heads  # Δ bias, A_log, D
            + d_inner  # the gated RMSNorm's weight
            + d_inner * width  # out_proj
        )  # fmt: skip

    @classmethod
    def extra_features(cls, cfg: ModelConfig, width: int) -> dict[str, Any]:
        return {"heads": int(cls.opt(cfg, "heads"))}
