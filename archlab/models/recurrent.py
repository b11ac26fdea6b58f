"""Recurrent mixers: diagonal, Householder-product and dense linear RNNs; LSTM, GRU, Elman.

Which transition a mixer uses decides what theory allows it to express (THEORY.md §1):

========== ============================================== =================================
mixer       state update                                   transition class (features)
========== ============================================== =================================
diag_rnn    h_t = a_t ⊙ h_{t−1} + (1 − |a_t|) ⊙ v_t        diagonal_real / diagonal_complex
householder S_t = Π_j (I − β_j k_j k_jᵀ) S_{t−1} + writes   householder_product (n_h factors)
dense_rnn   h_t = A(x_t) h_{t−1} + B x_t                   dense
lstm/gru    torch.nn.LSTM / GRU                            nonlinear
elman       h_t = tanh(W x_t + U h_{t−1} + b)              nonlinear
========== ============================================== =================================

The linear ones take ``prune: true`` (a write gate that skips updates, :mod:`.pruning`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archlab.models.base import Mixer, divisor_heads
from archlab.models.pruning import WriteGate
from archlab.models.scan_diag import diag_scan, diag_scan_reference
from archlab.models.scan_householder import householder_product_reference, householder_product_scan
from archlab.registry import MIXERS

if TYPE_CHECKING:
    from archlab.config import ModelConfig

__all__ = ["GRU", "LSTM", "DeltaRuleMixer", "DenseRNN", "DiagRNN", "Elman", "Householder"]

#: initial |eigenvalues| of the diagonal gates: spread over [A_LO, A_HI] (slow and fast memories)
A_LO, A_HI = 0.8, 0.99


def _logit(p: Tensor) -> Tensor:
    return torch.log(p) - torch.log1p(-p)


# ---------------------------------------------------------------------------------------------
# diag_rnn
# ---------------------------------------------------------------------------------------------


@MIXERS.register("diag_rnn")
class DiagRNN(Mixer):
    """Input-dependent diagonal linear recurrence with a learned initial state.

    ``h_t = a_t ⊙ h_{t−1} + (1 − |a_t|) ⊙ v_t``, ``y_t = W_o h_t`` (``W_o (h_t ⊙ silu(g_t))`` with
    ``gate: true``) with ``a_t``, ``v_t``, ``g_t`` linear in ``x_t`` (GLA/Mamba-style gates; the output
    gate is optional as in LRU, off by default: it costs a third more projection FLOPs and theory does
    not depend on it; the ``1 − |a|`` input scale keeps
    the scan's gain ≤ 1, the form the fixed-point iteration of Movahedi et al. uses). ``eig_range``:

    * ``unit``: ``a = σ(z) ∈ (0, 1)`` — cannot express parity (THEORY.md R1) nor mod-m counting (R3);
    * ``signed``: ``a = 2σ(z) − 1 ∈ (−1, 1)`` — parity in one layer (R2), with ``a = ±1`` reached
      in fp32 for large ``|z|``; the learned initial state ``h_0`` supplies the sign to flip;
    * ``complex``: ``a = σ(z) e^{iθ}``, ``θ = π tanh(z_θ)`` — rotations, Z_m counting (R4).
      ``v`` is complex; the read-out sees real and imaginary parts.

    ``state_size`` (default ``width``) diagonal channels; the state is ``state_size`` floats
    (twice that for complex). Fast path: :func:`~archlab.models.scan_diag.diag_scan`.
    """

    name = "diag_rnn"
    summary = (
        "minimal input-dependent diagonal linear RNN (not Mamba: see mamba), eig_range unit/signed/complex"
    )
    options: ClassVar[dict[str, tuple[Any, ...]]] = {
        "state_size": (),
        "eig_range": ("unit", "signed", "complex"),
        "gate": (True, False),
    }
    defaults: ClassVar[dict[str, Any]] = {"eig_range": "unit", "gate": False}
    recurrent = True
    supports_prune = True
    unstreamable = ""

    @classmethod
    def default_value(cls, field: str, cfg: ModelConfig) -> Any:
        return cfg.width if field == "state_size" else super().default_value(field, cfg)

    @classmethod
    def _sizes(cls, cfg: ModelConfig) -> tuple[int, bool]:
        return int(cls.opt(cfg, "state_size")), cls.opt(cfg, "eig_range") == "complex"

    @classmethod
    def _n_in(cls, cfg: ModelConfig) -> int:
        """Input-projection columns: z_a | (θ) | v | (v_im) | (g)."""
        n, cplx = cls._sizes(cfg)
        return ((4 if cplx else 2) + (1 if cls.opt(cfg, "gate") else 0)) * n

    def __init__(self, cfg: ModelConfig, width: int) -> None:
        super().__init__(cfg, width)
        n, cplx = self._sizes(cfg)
        self.n, self.complex, self.signed = n, cplx, self.opt(cfg, "eig_range") == "signed"
        self.proj = nn.Linear(width, self._n_in(cfg))
        self.out = nn.Linear((2 if cplx else 1) * n, width, bias=False)
        self.h0 = nn.Parameter(torch.zeros((2 if cplx else 1) * n))
        self.write = WriteGate(cfg, width) if cfg.prune else None
        with torch.no_grad():
            if self.proj.bias.device.type != "meta":
                mag = torch.linspace(A_LO, A_HI, n)
                z_a = _logit((mag + 1) / 2) if self.signed else _logit(mag)
                self.proj.bias[:n] = z_a
                if cplx:  # initial rotation angles spread over (−π/4, π/4)
                    self.proj.bias[n : 2 * n] = torch.atanh(torch.linspace(-0.25, 0.25, n))

    def fp_in(self, x: Tensor) -> tuple[Tensor, Any]:
        n = self.n
        p = self.proj(x)
        if self.complex:
            z_a, theta, v_re, v_im, *g = p.split(n, dim=-1)
            r = torch.sigmoid(z_a)
            ang = math.pi * torch.tanh(theta)
            a = torch.polar(r, ang)
            scale = 1 - r
            u = torch.cat([v_re, v_im], dim=-1)
        else:
            z_a, u, *g = p.split(n, dim=-1)
            a = 2 * torch.sigmoid(z_a) - 1 if self.signed else torch.sigmoid(z_a)
            scale = 1 - a.abs()
        w = self.write(x) if self.write is not None else None
        return u, (a, scale, w, g[0] if g else None)

    def _states(self, u: Tensor, ctx: Any, h0: Tensor | None) -> Tensor:
        """The diagonal states ``[B, T, n]`` (complex with ``eig_range: complex``) from ``h0``
        (None: the learned initial state)."""
        a, scale, w, _ = ctx
        n = self.n
        if self.complex:
            b = torch.complex(u[..., :n], u[..., n:]) * scale
            start = torch.complex(self.h0[:n], self.h0[n:])
        else:
            b = u * scale
            start = self.h0
        if w is not None:
            a = w * a + (1 - w)
            b = w * b
        h0 = start.expand(u.shape[0], n) if h0 is None else h0
        return diag_scan_reference(a, b, h0) if self.reference else diag_scan(a, b, h0)

    def fp_core(self, u: Tensor, ctx: Any) -> Tensor:
        h = self._states(u, ctx, None)
        return torch.cat([h.real, h.imag], dim=-1) if self.complex else h

    def fp_out(self, h: Tensor, ctx: Any) -> Tensor:
        if ctx[3] is None:
            return self.out(h)
        g = F.silu(ctx[3])
        if self.complex:
            g = torch.cat([g, g], dim=-1)
        return self.out(h * g)

    def forward(self, x: Tensor) -> Tensor:
        u, ctx = self.fp_in(x)
        return self.fp_out(self.fp_core(u, ctx), ctx)

    def forward_chunk(self, x: Tensor, state: Tensor | None) -> tuple[Tensor, Tensor]:
        """The state is the last diagonal state ``h_T [B, n]``."""
        u, ctx = self.fp_in(x)
        h = self._states(u, ctx, state)
        read = torch.cat([h.real, h.imag], dim=-1) if self.complex else h
        return self.fp_out(read, ctx), h[:, -1]

    @classmethod
    def transition(cls, cfg: ModelConfig) -> str:
        return "diagonal_complex" if cls._sizes(cfg)[1] else "diagonal_real"

    @classmethod
    def eig_range(cls, cfg: ModelConfig) -> str | None:
        return str(cls.opt(cfg, "eig_range"))

    @classmethod
    def state_floats(cls, cfg: ModelConfig, width: int) -> int:
        n, cplx = cls._sizes(cfg)
        return 2 * n if cplx else n

    @classmethod
    def fp_dim(cls, cfg: ModelConfig, width: int) -> int:
        return cls.state_floats(cfg, width)

    @classmethod
    def param_count(cls, cfg: ModelConfig, width: int) -> int:
        n, cplx = cls._sizes(cfg)
        n_in = cls._n_in(cfg)
        s = 2 * n if cplx else n
        gate = WriteGate.param_count(width) if cfg.prune else 0
        return width * n_in + n_in + s * width + s + gate

    @classmethod
    def flops_per_token(cls, cfg: ModelConfig, width: int, seq_len: int) -> float:
        n, cplx = cls._sizes(cfg)
        n_in = cls._n_in(cfg)
        s = 2 * n if cplx else n
        scan = 8 * n if cplx else 2 * n
        return float(2 * width * n_in + 2 * s * width + scan + 2 * s)


# ---------------------------------------------------------------------------------------------
# householder
# ---------------------------------------------------------------------------------------------


class DeltaRuleMixer(Mixer):
    """What the delta-rule mixers (householder, gated_deltanet, gated_deltaproduct) declare alike:
    the generalised-Householder transition with β's eigenvalue range, a d × d state per head."""

    @classmethod
    def transition(cls, cfg: ModelConfig) -> str:
        return "householder_product"

    @classmethod
    def eig_range(cls, cfg: ModelConfig) -> str | None:
        return str(cls.opt(cfg, "eig_range"))

    @classmethod
    def state_floats(cls, cfg: ModelConfig, width: int) -> int:
        heads = int(cls.opt(cfg, "heads"))
        return heads * (width // heads) ** 2


@MIXERS.register("householder")
class Householder(DeltaRuleMixer):
    """DeltaNet / DeltaProduct: per token, ``n_h`` generalised Householder factors and writes.

    Per head (``d = width / heads``)::

        S_t = (I − β_{t,n_h} k k ᵀ) ⋯ (I − β_{t,1} k kᵀ) S_{t−1} + (the n_h rank-one writes β k vᵀ),
        o_t = RMSNorm(S_tᵀ q_t) [⊙ silu(W_g x_t)],   y_t = W_o o_t

    with unit ``k`` and ``q`` (L2-normalised projections) and a learned initial state ``S_0``
    (the identity at initialisation, per head). ``eig_range``: ``unit`` (β = σ(z) ∈
    (0, 1): eigenvalues in [0, 1], THEORY.md R6) or ``signed`` (β = 2σ(z) ∈ (0, 2): eigenvalues
    in (−1, 1), reflections; with ``householder_factors`` ≥ 2 it can track A5, with 4 S5: R5).
    ``gate``: an output gate. Fast path: the chunkwise WY/UT scan
    (:func:`~archlab.models.scan_householder.householder_product_scan`).
    """

    name = "householder"
    summary = "DeltaNet/DeltaProduct (ungated, learned S_0): n_h Householder factors/token, β∈(0,1) or (0,2)"
    options: ClassVar[dict[str, tuple[Any, ...]]] = {
        "heads": (),
        "householder_factors": (),
        "eig_range": ("unit", "signed"),
        "gate": (True, False),
    }
    defaults: ClassVar[dict[str, Any]] = {"eig_range": "unit", "householder_factors": 1, "gate": False}
    recurrent = True
    supports_prune = True
    unstreamable = ""

    @classmethod
    def default_value(cls, field: str, cfg: ModelConfig) -> Any:
        return divisor_heads(cfg.width) if field == "heads" else super().default_value(field, cfg)

    def __init__(self, cfg: ModelConfig, width: int) -> None:
        super().__init__(cfg, width)
        self.heads = int(self.opt(cfg, "heads"))
        self.n_h = int(self.opt(cfg, "householder_factors"))
        self.signed = self.opt(cfg, "eig_range") == "signed"
        self.d = width // self.heads
        self.q = nn.Linear(width, width, bias=False)
        self.k = nn.Linear(width, self.n_h * width, bias=False)
        self.v = nn.Linear(width, self.n_h * width, bias=False)
        self.beta = nn.Linear(width, self.n_h * self.heads)
        self.g = nn.Linear(width, width, bias=False) if self.opt(cfg, "gate") else None
        self.out = nn.Linear(width, width, bias=False)
        self.write = WriteGate(cfg, width) if cfg.prune else None
        # learned initial state, the identity at first: S_t starts as the running product of the
        # transitions themselves (the construction behind THEORY.md R5)
        self.s0 = nn.Parameter(torch.eye(self.d).repeat(self.heads, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_chunk(x, None)[0]

    def forward_chunk(self, x: Tensor, state: Tensor | None) -> tuple[Tensor, Tensor]:
        """The state is ``S_T [B, heads, d, d]`` (None: the learned ``S_0``)."""
        bsz, t, _ = x.shape
        h, d, n_h = self.heads, self.d, self.n_h
        q = F.normalize(self.q(x).view(bsz, t, h, d), dim=-1).transpose(1, 2)
        k = self.k(x).view(bsz, t, n_h, h, d).permute(0, 3, 1, 2, 4)
        v = self.v(x).view(bsz, t, n_h, h, d).permute(0, 3, 1, 2, 4)
        z = self.beta(x).view(bsz, t, n_h, h).permute(0, 3, 1, 2)
        beta = 2 * torch.sigmoid(z) if self.signed else torch.sigmoid(z)
        if self.write is not None:
            beta = beta * self.write(x).view(bsz, 1, t, 1)
        s0 = self.s0.expand(bsz, h, d, d) if state is None else state
        if self.reference:
            o, s_t = householder_product_reference(q, k, v, beta, s0)
        else:
            o, s_t = householder_product_scan(q, k, v, beta, n_h, s0)
        o = F.rms_norm(o, (d,)).transpose(1, 2).reshape(bsz, t, self.width)
        if self.g is not None:
            o = o * F.silu(self.g(x))
        return self.out(o), s_t

    @classmethod
    def param_count(cls, cfg: ModelConfig, width: int) -> int:
        heads, n_h = int(cls.opt(cfg, "heads")), int(cls.opt(cfg, "householder_factors"))
        gate = width * width if cls.opt(cfg, "gate") else 0
        write = WriteGate.param_count(width) if cfg.prune else 0
        s0 = width * width // heads
        return (2 + 2 * n_h) * width * width + n_h * heads * (width + 1) + gate + write + s0

    @classmethod
    def flops_per_token(cls, cfg: ModelConfig, width: int, seq_len: int) -> float:
        n_h = int(cls.opt(cfg, "householder_factors"))
        # per factor: kᵀS and the rank-one update (4·d² per head); read-out 2·d² per head
        state = cls.state_floats(cfg, width)
        return 2.0 * cls.param_count(cfg, width) + 4.0 * n_h * state + 2.0 * state

    @classmethod
    def extra_features(cls, cfg: ModelConfig, width: int) -> dict[str, Any]:
        return {"heads": int(cls.opt(cfg, "heads"))}


# ---------------------------------------------------------------------------------------------
# dense_rnn
# ---------------------------------------------------------------------------------------------


@MIXERS.register("dense_rnn")
class DenseRNN(Mixer):
    """Input-dependent dense linear RNN (IDS4-like, Merrill et al. 2024 §5).

    ``h_t = Â_t h_{t−1} + B x_t``, ``y_t = C h_t``, with a learned ``h_0`` and ``A_t = I + W_A x_t + b_A``
    reshaped to ``d × d`` (initialised near the identity), scaled to
    ``Â_t = A_t / max(1, ‖A_t‖_F / √d)``: the root-mean-square singular value is at most 1, and
    orthogonal matrices — the permutation matrices a group word problem needs among them — pass
    unchanged. (A bound on the spectral norm, ``√(‖A‖₁‖A‖_∞)``, was tried first: it made A5 unlearnable
    in 2000 steps, val. sequence accuracy ≤ 0.03, where this one solves it in 400 and generalises from
    length 16 to 64; with no scaling at all length 64 fails.) ``state_size`` = d (default
    min(width, 32)); cost grows as d² per token. A per-step loop (there is no cheaper exact parallel
    form for dense transitions on a CPU).
    """

    name = "dense_rnn"
    summary = "input-dependent dense linear RNN (IDS4-like), A(x) ≈ I at init, RMS singular value ≤ 1"
    options: ClassVar[dict[str, tuple[Any, ...]]] = {"state_size": ()}
    recurrent = True
    supports_prune = True
    unstreamable = ""
    #: std of the input-dependent part of A at initialisation
    INIT_STD = 0.02

    @classmethod
    def default_value(cls, field: str, cfg: ModelConfig) -> Any:
        return min(cfg.width, 32) if field == "state_size" else super().default_value(field, cfg)

    def __init__(self, cfg: ModelConfig, width: int) -> None:
        super().__init__(cfg, width)
        d = self.d = int(self.opt(cfg, "state_size"))
        self.a = nn.Linear(width, d * d)
        self.b = nn.Linear(width, d, bias=False)
        self.c = nn.Linear(d, width, bias=False)
        self.write = WriteGate(cfg, width) if cfg.prune else None
        # learned initial state (a unit-norm random vector at first): the state can then track a
        # product of transitions applied to it, the construction behind THEORY.md R9
        self.h0 = nn.Parameter(torch.randn(d) / math.sqrt(d))
        nn.init.normal_(self.a.weight, std=self.INIT_STD / math.sqrt(width))
        nn.init.zeros_(self.a.bias)

    def transitions(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(Â [B, T, d, d], B x [B, T, d])`` after the write gate."""
        bsz, t, _ = x.shape
        d = self.d
        eye = torch.eye(d, dtype=x.dtype, device=x.device)
        a = self.a(x).view(bsz, t, d, d) + eye
        rms = a.square().sum((-1, -2)).sqrt() / math.sqrt(d)
        a = a / rms.clamp(min=1.0)[..., None, None]
        b = self.b(x)
        if self.write is not None:
            w = self.write(x)
            a = w[..., None] * a + (1 - w[..., None]) * eye
            b = w * b
        return a, b

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_chunk(x, None)[0]

    def forward_chunk(self, x: Tensor, state: Tensor | None) -> tuple[Tensor, Tensor]:
        """The state is ``h_T [B, d]`` (None: the learned ``h_0``)."""
        a, b = self.transitions(x)
        start = self.h0.to(x.dtype).expand(x.shape[0], self.d) if state is None else state
        h = start.unsqueeze(-1)
        hs = []
        for a_t, b_t in zip(a.unbind(1), b.unbind(1), strict=True):
            h = torch.baddbmm(b_t.unsqueeze(-1), a_t, h)
            hs.append(h)
        if not hs:
            return self.c(b), start
        return self.c(torch.stack(hs, dim=1).squeeze(-1)), h.squeeze(-1)

    @classmethod
    def transition(cls, cfg: ModelConfig) -> str:
        return "dense"

    @classmethod
    def state_floats(cls, cfg: ModelConfig, width: int) -> int:
        return int(cls.opt(cfg, "state_size"))

    @classmethod
    def param_count(cls, cfg: ModelConfig, width: int) -> int:
        d = int(cls.opt(cfg, "state_size"))
        write = WriteGate.param_count(width) if cfg.prune else 0
        return width * d * d + d * d + 2 * width * d + d + write

    @classmethod
    def flops_per_token(cls, cfg: ModelConfig, width: int, seq_len: int) -> float:
        d = int(cls.opt(cfg, "state_size"))
        return float(2 * width * d * d + 4 * width * d + 2 * d * d + 6 * d * d)  # + normalisation


# ---------------------------------------------------------------------------------------------
# lstm, gru, elman (torch.nn, oneDNN kernels on CPU, cuDNN on GPU)
# ---------------------------------------------------------------------------------------------


class _TorchRNN(Mixer):
    """A torch.nn recurrent layer of ``state_size`` units (default width), projected back to
    width when the sizes differ."""

    options: ClassVar[dict[str, tuple[Any, ...]]] = {"state_size": ()}
    recurrent = True
    unstreamable = ""
    #: gate blocks in torch's weight layout (LSTM 4, GRU 3, RNN 1)
    gates: ClassVar[int] = 1
    #: floats of state per unit (LSTM carries h and c)
    state_per_unit: ClassVar[int] = 1
    unstackable = "torch.nn's fused LSTM/GRU/RNN kernels have no vmap batching rule (aten::lstm etc.)"

    @classmethod
    def default_value(cls, field: str, cfg: ModelConfig) -> Any:
        return cfg.width if field == "state_size" else super().default_value(field, cfg)

    def __init__(self, cfg: ModelConfig, width: int) -> None:
        super().__init__(cfg, width)
        hidden = int(self.opt(cfg, "state_size"))
        self.rnn = self._make(width, hidden)
        self.proj = nn.Linear(hidden, width, bias=False) if hidden != width else None

    def _make(self, width: int, hidden: int) -> nn.RNNBase:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_chunk(x, None)[0]

    def forward_chunk(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        """The state is torch's ``h_n`` (``(h_n, c_n)`` for the LSTM); None: zeros."""
        y, state = self.rnn(x, state)
        return (self.proj(y) if self.proj is not None else y), state

    @classmethod
    def transition(cls, cfg: ModelConfig) -> str:
        return "nonlinear"

    @classmethod
    def state_floats(cls, cfg: ModelConfig, width: int) -> int:
        return cls.state_per_unit * int(cls.opt(cfg, "state_size"))

    @classmethod
    def param_count(cls, cfg: ModelConfig, width: int) -> int:
        hidden = int(cls.opt(cfg, "state_size"))
        proj = hidden * width if hidden != width else 0
        return cls.gates * hidden * (width + hidden) + 2 * cls.gates * hidden + proj

    @classmethod
    def flops_per_token(cls, cfg: ModelConfig, width: int, seq_len: int) -> float:
        hidden = int(cls.opt(cfg, "state_size"))
        return 2.0 * cls.param_count(cfg, width) + 4.0 * cls.gates * hidden


@MIXERS.register("lstm")
class LSTM(_TorchRNN):
    """torch.nn.LSTM: a nonlinear RNN, expressive for every regular language (THEORY.md R9)."""

    name = "lstm"
    summary = "torch.nn.LSTM (nonlinear, gated)"
    gates = 4
    state_per_unit = 2

    def _make(self, width: int, hidden: int) -> nn.RNNBase:
        return nn.LSTM(width, hidden, batch_first=True)


@MIXERS.register("gru")
class GRU(_TorchRNN):
    """torch.nn.GRU."""

    name = "gru"
    summary = "torch.nn.GRU (nonlinear, gated)"
    gates = 3

    def _make(self, width: int, hidden: int) -> nn.RNNBase:
        return nn.GRU(width, hidden, batch_first=True)


@MIXERS.register("elman")
class Elman(_TorchRNN):
    """Elman RNN ``h_t = tanh(W x_t + U h_{t−1} + b)`` (torch.nn.RNN)."""

    name = "elman"
    summary = "Elman tanh RNN (torch.nn.RNN)"

    def _make(self, width: int, hidden: int) -> nn.RNNBase:
        return nn.RNN(width, hidden, nonlinearity="tanh", batch_first=True)
