"""xLSTM's two cells as mixers (Beck et al., NeurIPS 2024, arXiv 2405.04517): mLSTM and sLSTM.

Both use exponential input gates with the stabiliser state m (their eqs. for the stabilised
gates), sigmoid forget gates (the official default, ``logsigmoid`` of the pre-activation), and
per-head group normalisation of the output. Layouts and initialisations follow the official code
(NX-AI/xlstm, read through ``read_file``: ``xlstm/blocks/mlstm/layer.py`` and ``cell.py``,
``xlstm/blocks/slstm/layer.py`` and ``cell.py``; the up/down projections keep torch's default
init where the official code uses its small/Wang inits):

* **mlstm** — the mLSTM layer: up-projection to 2 × ``expand``·width (the branch and its gate z),
  a kernel-4 causal conv with SiLU feeding q and k, block-diagonal q/k/v projections (blocks of 4),
  input and forget gates from [q, k, v] per head (forget bias linspace(3, 6), zero weights), the
  matrix memory with its normaliser, group norm, a learnable skip from the conv branch, ⊙ silu(z),
  down-projection. Transition per head: the scalar forget gate f ∈ (0, 1) times the identity —
  diagonal, non-negative (THEORY.md R1: no parity at any depth).
* **slstm** — the sLSTM layer: a kernel-4 causal conv with SiLU feeding the input and forget
  gates, block-diagonal (per head) input and recurrent weights for the z, i, f, o gates, the scalar
  memory c with normaliser n, h = o ⊙ c / n, group norm. The recurrent connections through h make
  it a nonlinear RNN (THEORY.md R9).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archlab.models.base import Mixer, divisor_heads
from archlab.models.scan_ssd import mlstm_chunked, mlstm_reference
from archlab.models.short_conv import ShortConv
from archlab.registry import MIXERS

if TYPE_CHECKING:
    from archlab.config import ModelConfig

__all__ = ["MLSTM", "SLSTM", "HeadwiseLinear"]

#: the official block size of the mLSTM's block-diagonal q/k/v projections
QKV_BLOCK = 4
#: guard of the sLSTM's c / n: n is 0 before the first write, and stays 0 when the first input
#: gate underflows (exp(ĩ − m) = 0 in fp32), which would make h = 0 / 0
SLSTM_EPS = 1e-6


class HeadwiseLinear(nn.Module):
    """Block-diagonal linear map: ``blocks`` independent (out/blocks × in/blocks) matrices, no bias."""

    def __init__(self, features: int, blocks: int, init_dim: int) -> None:
        super().__init__()
        self.blocks, self.d_in = blocks, features // blocks
        self.weight = nn.Parameter(torch.empty(blocks, self.d_in, self.d_in))
        # the official "small init", std √(2 / (5·dim)) with dim the block's embedding width
        nn.init.normal_(self.weight, std=math.sqrt(2 / (5 * init_dim)))

    def forward(self, x: Tensor) -> Tensor:
        xb = x.view(*x.shape[:-1], self.blocks, self.d_in)
        return torch.einsum("...hi,hoi->...ho", xb, self.weight).reshape(*x.shape[:-1], -1)


def _group_norm(x: Tensor, heads: int, weight: Tensor, eps: float = 1e-5) -> Tensor:
    """Layer norm within each head's features (no bias), x [..., heads·d], weight [heads·d]."""
    xh = x.view(*x.shape[:-1], heads, -1)
    return F.layer_norm(xh, xh.shape[-1:], eps=eps).reshape(x.shape) * weight


@MIXERS.register("mlstm")
class MLSTM(Mixer):
    """xLSTM's mLSTM layer: matrix memory, exponential input gate, sigmoid forget gate.

    ``heads`` (default 4 when it divides the inner width), ``expand`` (default 2, the paper's
    projection factor), ``conv_kernel`` (default 4). Fast path: the chunkwise stabilised form
    (:func:`~archlab.models.scan_ssd.mlstm_chunked`); reference: the per-step recurrence.
    """

    name = "mlstm"
    summary = "xLSTM mLSTM layer (Beck et al. 2024): matrix memory, exp. input gate, non-negative forget"
    options: ClassVar[dict[str, tuple[Any, ...]]] = {"heads": (), "expand": (), "conv_kernel": ()}
    defaults: ClassVar[dict[str, Any]] = {"expand": 2, "conv_kernel": 4}
    recurrent = True
    unstreamable = ""

    @classmethod
    def default_value(cls, field: str, cfg: ModelConfig) -> Any:
        if field == "heads":
            return divisor_heads(int(cls.opt(cfg, "expand")) * cfg.width)
        return super().default_value(field, cfg)

    @classmethod
    def _sizes(cls, cfg: ModelConfig, width: int) -> tuple[int, int, int, int]:
        """(inner width, heads, conv kernel, q/k/v blocks)."""
        inner = int(cls.opt(cfg, "expand")) * width
        blocks = inner // QKV_BLOCK if inner % QKV_BLOCK == 0 else 1
        return inner, int(cls.opt(cfg, "heads")), int(cls.opt(cfg, "conv_kernel")), blocks

    def __init__(self, cfg: ModelConfig, width: int) -> None:
        super().__init__(cfg, width)
        inner, heads, kernel, blocks = self._sizes(cfg, width)
        self.inner, self.heads, self.dh = inner, heads, inner // heads
        self.up = nn.Linear(width, 2 * inner, bias=False)
        self.conv = ShortConv(inner, kernel)
        self.q, self.k, self.v = (HeadwiseLinear(inner, blocks, width) for _ in range(3))
        self.igate = nn.Linear(3 * inner, heads)
        self.fgate = nn.Linear(3 * inner, heads)
        self.norm_weight = nn.Parameter(torch.ones(inner))
        self.skip = nn.Parameter(torch.ones(inner))
        self.down = nn.Linear(inner, width, bias=False)
        with torch.no_grad():
            if self.fgate.bias.device.type != "meta":
                nn.init.zeros_(self.fgate.weight)
                self.fgate.bias.copy_(torch.linspace(3.0, 6.0, heads))
                nn.init.zeros_(self.igate.weight)
                nn.init.normal_(self.igate.bias, std=0.1)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_chunk(x, None)[0]

    def forward_chunk(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        """The state is ``(the conv's last K − 1 inputs, (C, n, m))`` (see :data:`MLSTMState`)."""
        bsz, t, _ = x.shape
        h, dh = self.heads, self.dh
        cache, cell_state = (None, None) if state is None else state
        xm, z = self.up(x).chunk(2, dim=-1)
        xc, cache = self.conv.forward_chunk(xm, cache)
        q, k, v = self.q(xc), self.k(xc), self.v(xm)
        qkv = torch.cat([q, k, v], dim=-1)
        log_i = self.igate(qkv).transpose(1, 2)  # [B, H, T]
        log_f = F.logsigmoid(self.fgate(qkv)).transpose(1, 2)

        def heads_first(y: Tensor) -> Tensor:
            return y.view(bsz, t, h, dh).transpose(1, 2)

        qh, kh, vh = heads_first(q), heads_first(k) / math.sqrt(dh), heads_first(v)
        cell = mlstm_reference if self.reference else mlstm_chunked
        out, cell_state = cell(qh, kh, vh, log_i, log_f, state=cell_state, return_state=True)
        out = out.transpose(1, 2).reshape(bsz, t, self.inner)
        out = _group_norm(out, h, self.norm_weight) + self.skip * xc
        return self.down(out * F.silu(z)), (cache, cell_state)

    @classmethod
    def transition(cls, cfg: ModelConfig) -> str:
        return "diagonal_real"

    @classmethod
    def eig_range(cls, cfg: ModelConfig) -> str | None:
        return "unit"  # the sigmoid forget gate: f ∈ (0, 1) times the identity

    @classmethod
    def state_floats(cls, cfg: ModelConfig, width: int) -> int:
        inner, heads, _, _ = cls._sizes(cfg, width)
        dh = inner // heads
        return heads * (dh * dh + dh + 1)  # memory C, normaliser n, stabiliser m

    @classmethod
    def param_count(cls, cfg: ModelConfig, width: int) -> int:
        inner, heads, kernel, blocks = cls._sizes(cfg, width)
        return (
            width * 2 * inner  # up-projection
            + ShortConv.param_count(inner, kernel)
            + 3 * inner * (inner // blocks)  # block-diagonal q, k, v
            + 2 * (3 * inner * heads + heads)  # input and forget gates
            + 2 * inner  # group-norm weight, learnable skip
            + inner * width  # down-projection
        )  # fmt: skip

    @classmethod
    def flops_per_token(cls, cfg: ModelConfig, width: int, seq_len: int) -> float:
        inner, heads, _, _ = cls._sizes(cfg, width)
        dh = inner // heads
        return 2.0 * cls.param_count(cfg, width) + 8.0 * heads * dh * dh

    @classmethod
    def extra_features(cls, cfg: ModelConfig, width: int) -> dict[str, Any]:
        return {"heads": int(cls.opt(cfg, "heads"))}


@MIXERS.register("slstm")
class SLSTM(Mixer):
    """xLSTM's sLSTM layer: scalar memory, exponential gating, block-diagonal recurrence per head.

    ``heads`` (default 4 when it divides width), ``conv_kernel`` (default 4). No parallel form
    exists (the recurrence is nonlinear); the fast path computes every input-side projection
    for the whole sequence at once and runs the recurrence with one batched matmul per step;
    the reference computes each gate from its inputs at every step, as the cell's equations read.
    """

    name = "slstm"
    summary = "xLSTM sLSTM layer (Beck et al. 2024): scalar memory, exp. gating, recurrent heads"
    options: ClassVar[dict[str, tuple[Any, ...]]] = {"heads": (), "conv_kernel": ()}
    defaults: ClassVar[dict[str, Any]] = {"conv_kernel": 4}
    recurrent = True
    unstreamable = ""

    @classmethod
    def default_value(cls, field: str, cfg: ModelConfig) -> Any:
        if field == "heads":
            return divisor_heads(cfg.width)
        return super().default_value(field, cfg)

    def __init__(self, cfg: ModelConfig, width: int) -> None:
        super().__init__(cfg, width)
        heads = int(self.opt(cfg, "heads"))
        self.heads, self.dh = heads, width // heads
        self.conv = ShortConv(width, int(self.opt(cfg, "conv_kernel")))
        # input weights of the gates z, i, f, o (i and f read the conv branch), block-diagonal
        self.w_in = nn.ModuleList(HeadwiseLinear(width, heads, width) for _ in range(4))
        # the official defaults: recurrent weights zero, forget-gate bias "powerlaw_blockdependent"
        # (per head, 5 − 12·(j / (d − 1))^0.3 over its d units: from +5 down to −7), others zero
        self.recurrent_weight = nn.Parameter(torch.zeros(heads, self.dh, 4 * self.dh))
        self.bias = nn.Parameter(torch.zeros(4, width))
        self.norm_weight = nn.Parameter(torch.ones(width))
        with torch.no_grad():
            if self.bias.device.type != "meta":
                j = torch.arange(self.dh) / max(1, self.dh - 1)
                self.bias[2] = (5.0 - 12.0 * j**0.3).repeat(heads)

    def _inputs(self, x: Tensor, xc: Tensor) -> Tensor:
        """Input-side pre-activations [B, T, 4, width] (z, i, f, o) including the biases, from the
        input and its conv."""
        parts = [self.w_in[0](x), self.w_in[1](xc), self.w_in[2](xc), self.w_in[3](x)]
        return torch.stack(parts, dim=2) + self.bias

    def _recurrent(self, hidden: Tensor) -> Tensor:
        """R h per head → [B, 4, width] in the (z, i, f, o) layout of :meth:`_inputs`."""
        bsz = hidden.shape[0]
        r = torch.einsum("bhd,hde->bhe", hidden.view(bsz, self.heads, self.dh), self.recurrent_weight)
        return r.view(bsz, self.heads, 4, self.dh).transpose(1, 2).reshape(bsz, 4, self.width)

    @staticmethod
    def _step(pre: Tensor, c: Tensor, n: Tensor, m: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One stabilised sLSTM step from the gate pre-activations [B, 4, width]."""
        z_raw, i_raw, f_raw, o_raw = pre.unbind(1)
        log_f = F.logsigmoid(f_raw) + m
        m_new = torch.maximum(i_raw, log_f)
        i = torch.exp(i_raw - m_new)
        f = torch.exp(log_f - m_new)
        c = f * c + i * torch.tanh(z_raw)
        n = f * n + i
        return torch.sigmoid(o_raw) * c / (n + SLSTM_EPS), c, n, m_new

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_chunk(x, None)[0]

    def forward_chunk(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        """The state is ``(the conv's last K − 1 inputs, (h, c, n, m))``, each of the four [B, width]."""
        bsz, _, w = x.shape
        zeros = x.new_zeros(bsz, w)
        cache, (hidden, c, n, m) = (None, (zeros, zeros, zeros, zeros)) if state is None else state
        outs = []
        xc, cache = self.conv.forward_chunk(x, cache)
        if self.reference:
            for x_t, xc_t in zip(x.unbind(1), xc.unbind(1), strict=True):
                inp = [self.w_in[0](x_t), self.w_in[1](xc_t), self.w_in[2](xc_t), self.w_in[3](x_t)]
                pre = torch.stack(inp, dim=1) + self.bias + self._recurrent(hidden)
                hidden, c, n, m = self._step(pre, c, n, m)
                outs.append(hidden)
        else:
            r = self.recurrent_weight
            for pre_t in self._inputs(x, xc).unbind(1):
                rec = torch.bmm(hidden.view(bsz, self.heads, self.dh).transpose(0, 1), r)  # [H, B, 4·dh]
                rec = rec.view(self.heads, bsz, 4, self.dh).permute(1, 2, 0, 3).reshape(bsz, 4, w)
                hidden, c, n, m = self._step(pre_t + rec, c, n, m)
                outs.append(hidden)
        state = (cache, (hidden, c, n, m))
        if not outs:
            return x.new_zeros(bsz, 0, w), state
        return _group_norm(torch.stack(outs, dim=1), self.heads, self.norm_weight), state

    @classmethod
    def transition(cls, cfg: ModelConfig) -> str:
        return "nonlinear"

    @classmethod
    def state_floats(cls, cfg: ModelConfig, width: int) -> int:
        return 4 * width  # h, c, n, m

    @classmethod
    def param_count(cls, cfg: ModelConfig, width: int) -> int:
        heads = int(cls.opt(cfg, "heads"))
        kernel = int(cls.opt(cfg, "conv_kernel"))
        return (
            ShortConv.param_count(width, kernel)
            + 4 * width * (width // heads)  # block-diagonal input weights of z, i, f, o
            + 4 * width * (width // heads)  # block-diagonal recurrent weights
            + 4 * width  # gate biases
            + width  # group-norm weight
        )  # fmt: skip

    @classmethod
    def flops_per_token(cls, cfg: ModelConfig, width: int, seq_len: int) -> float:
        return 2.0 * cls.param_count(cfg, width) + 12.0 * width

    @classmethod
    def extra_features(cls, cfg: ModelConfig, width: int) -> dict[str, Any]:
        return {"heads": int(cls.opt(cfg, "heads"))}
