"""``ModelConfig`` → :class:`SequenceModel`, and the features theory rules read from a config.

Layout::

    tokens [B, T] → embedding → [stem] → layers × Block → norm → head → logits [B, T, C] or [B, C]
    Block(x) = x + mixer(norm(x));  x + MLP(norm(x))          (pre-norm residual)
    stem: x = x + Stem(x)                                     (``stem: conv``, see :class:`Stem`)

The block's mixer is the registry entry ``cfg.mixer``, wrapped by the search axes, inner to outer:
fixed-point iteration (``fp_iters``, :mod:`.fixed_point`) → hierarchy (``hier_levels``,
:mod:`.hierarchy`); the whole block is then repeated with tied weights (``depth_repeat``,
``halting``, :mod:`.depth`). Context pruning lives inside the mixers (``prune``).

After each forward pass the model holds ``last_aux_loss`` (the sum of the regularisers its modules
reported — sparsity, ponder cost; add it to the task loss) and ``last_stats`` (means over layers of
what they measured: ``fp_iters``, ``kept_fraction``, ``act_steps`` …, plus ``fp_iters_max``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from archlab.config import ModelConfig
from archlab.models.base import Mixer, Reporting
from archlab.models.depth import DepthLoop, depth_loop_param_count
from archlab.models.fixed_point import FixedPoint, fixed_point_param_count
from archlab.models.hierarchy import Hierarchy, hierarchy_param_count
from archlab.registry import MIXERS

__all__ = [
    "Block",
    "ModelFeatures",
    "SequenceModel",
    "Stem",
    "build_model",
    "model_features",
    "resolve_device",
]

#: significand bits per float (the generous state-size bound of THEORY.md §1)
MANTISSA_BITS = {torch.float64: 53, torch.float32: 24, torch.float16: 11, torch.bfloat16: 8}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; anything else is passed to torch.device."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        from archlab.errors import ConfigError

        raise ConfigError("train.device", f"{device!r} asked for, but this machine has no CUDA", "auto, cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        from archlab.errors import ConfigError

        raise ConfigError(
            "train.device", f"{device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)",
            f"cuda:0 … cuda:{torch.cuda.device_count() - 1}, auto, cpu",
        )  # fmt: skip
    if dev.type == "mps" and not torch.backends.mps.is_available():
        from archlab.errors import ConfigError

        raise ConfigError("train.device", "'mps' asked for, but this machine has no MPS", "auto, cpu")
    return dev


def _norm(kind: str, width: int) -> nn.Module:
    if kind == "layernorm":
        return nn.LayerNorm(width)
    if kind == "rmsnorm":
        return nn.RMSNorm(width)
    return nn.Identity()


def _norm_params(kind: str, width: int) -> int:
    return {"layernorm": 2 * width, "rmsnorm": width}.get(kind, 0)


def _mlp_hidden(cfg: ModelConfig) -> int:
    return round(cfg.mlp_ratio * cfg.width)


def make_mixer(cfg: ModelConfig, width: int) -> nn.Module:
    """The block's mixer: the registry entry, fixed-point wrapped and/or hierarchical per cfg."""
    cls = MIXERS.get(cfg.mixer)

    def one() -> nn.Module:
        m = cls(cfg, width)
        return FixedPoint(m, cfg, width) if cfg.fp_iters is not None else m

    if cfg.hier_levels > 1:
        dynamic = cfg.hier_chunking == "dynamic"
        return Hierarchy(
            one, cfg.hier_levels, cfg.hier_stride, width, cfg.causal, dynamic, cfg.hier_ratio_loss
        )
    return one()


class Stem(nn.Module):
    """A short convolution over the embeddings, applied before the first block (``stem: conv``).

    ``Stem(x) = P(GELU(Conv1d(x)))`` with ``Conv1d(width, stem_width, stem_kernel)`` (full, with
    bias) and ``P`` a ``Linear(stem_width, width)`` back to the residual width, or the identity
    when ``stem_width == width``. The model adds it residually, ``x ← x + Stem(x)``, so the
    embedding itself still reaches the blocks. This is the short conv Mamba puts in front of its
    scan and the k-mer detecting first layer of DNA CNNs; it gives every mixer, recurrent or not,
    direct access to the last ``stem_kernel`` tokens.

    Causal (``cfg.causal``): ``stem_kernel − 1`` zeros padded on the left, so output ``t`` reads
    inputs ``t − k + 1 … t`` only. Non-causal: "same" padding split evenly, the odd pad (even
    ``k``) on the left, as in the ``conv`` mixer. Either way one output sees ``stem_kernel``
    positions: the stem widens a finite receptive field by ``stem_kernel − 1``.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        w = cfg.width
        self.kernel = cfg.stem_kernel
        self.causal = cfg.causal
        channels = _stem_channels(cfg)
        self.conv = nn.Conv1d(w, channels, self.kernel)
        self.proj: nn.Module = nn.Linear(channels, w) if channels != w else nn.Identity()

    def _padding(self) -> tuple[int, int]:
        total = self.kernel - 1
        if self.causal:
            return total, 0
        right = total // 2
        return total - right, right

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, T, width] → [B, T, width]`` (the increment; the caller adds it to ``x``)."""
        h = F.gelu(self.conv(F.pad(x.transpose(1, 2), self._padding())))
        out: Tensor = self.proj(h.transpose(1, 2))
        return out


def _stem_channels(cfg: ModelConfig) -> int:
    return cfg.stem_width if cfg.stem_width is not None else cfg.width


def _stem_params(cfg: ModelConfig) -> int:
    """Parameters of :class:`Stem` (0 without one): conv taps and bias, plus the projection."""
    if cfg.stem == "none":
        return 0
    w, c = cfg.width, _stem_channels(cfg)
    return c * w * cfg.stem_kernel + c + (c * w + w if c != w else 0)


def _stem_flops(cfg: ModelConfig) -> float:
    """Forward multiply-adds per token of :class:`Stem` (×2), bias and GELU left out."""
    if cfg.stem == "none":
        return 0.0
    w, c = cfg.width, _stem_channels(cfg)
    return 2.0 * c * w * cfg.stem_kernel + (2.0 * c * w if c != w else 0.0)


class Block(nn.Module):
    """Pre-norm residual block: ``x + mixer(norm(x))``, then ``x + MLP(norm(x))`` (if mlp_ratio > 0)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        w = cfg.width
        self.norm1 = _norm(cfg.norm, w)
        self.mixer = make_mixer(cfg, w)
        hidden = _mlp_hidden(cfg)
        self.mlp: nn.Module | None = None
        if hidden > 0:
            self.norm2 = _norm(cfg.norm, w)
            self.mlp = nn.Sequential(nn.Linear(w, hidden), nn.GELU(), nn.Linear(hidden, w))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self._channel(x + self.drop(self.mixer(self.norm1(x))))

    def forward_chunk(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        """One chunk of a longer sequence, the mixer's ``state`` carried (:meth:`Mixer.forward_chunk`)."""
        y, state = cast(Mixer, self.mixer).forward_chunk(self.norm1(x), state)
        return self._channel(x + self.drop(y)), state

    def _channel(self, x: Tensor) -> Tensor:
        if self.mlp is not None:
            x = x + self.drop(self.mlp(self.norm2(x)))
        return x


class SequenceModel(nn.Module):
    """Embedding → blocks → head, built from a :class:`~archlab.config.ModelConfig`."""

    def __init__(self, cfg: ModelConfig, vocab_size: int, n_outputs: int) -> None:
        super().__init__()
        if vocab_size < 1 or n_outputs < 1:
            raise ValueError(f"vocab_size and n_outputs must be >= 1, got {vocab_size}, {n_outputs}")
        self.cfg = cfg
        self.vocab_size = vocab_size
        self.n_outputs = n_outputs
        w = cfg.width
        self.embed = nn.Embedding(vocab_size, w)
        self.stem: Stem | None = Stem(cfg) if cfg.stem == "conv" else None
        blocks: list[nn.Module] = []
        for _ in range(cfg.layers):
            block: nn.Module = Block(cfg)
            if cfg.depth_repeat > 1:
                block = DepthLoop(block, cfg, w)
            blocks.append(block)
        self.blocks = nn.ModuleList(blocks)
        self.norm = _norm(cfg.norm, w)
        self.head = nn.Linear(w, n_outputs)
        self._reporters = [m for m in self.modules() if isinstance(m, Reporting)]
        self.last_aux_loss: Tensor = torch.zeros(())
        self.last_stats: dict[str, float] = {}

    def forward(self, tokens: Tensor) -> Tensor:
        """``tokens [B, T]`` (int) → logits ``[B, T, n_outputs]`` or ``[B, n_outputs]`` (pooled)."""
        for r in self._reporters:
            r.clear_reports()
        x = self.embed(tokens)
        if self.stem is not None:
            x = x + self.stem(x)
        chunk = self.cfg.chunk_len
        if chunk is not None and x.shape[1] > chunk:
            x = self._blocks_chunked(x, chunk)
        else:
            for block in self.blocks:
                x = block(x)
        x = self.norm(x)
        if self.cfg.head == "pooled":
            if self.cfg.pool == "mean":
                x = x.mean(dim=1)
            elif self.cfg.pool == "max":
                x = x.amax(dim=1)
            else:
                x = x[:, -1]
        logits: Tensor = self.head(x)
        self._collect(logits)
        return logits

    def _blocks_chunked(self, x: Tensor, chunk: int) -> Tensor:
        """The blocks over ``x [B, T, width]``, ``chunk`` positions at a time, every layer's state
        carried into the next chunk detached (see ``ModelConfig.chunk_len``). With gradients on,
        each chunk is checkpointed: its activations are recomputed in the backward pass, so memory
        holds one chunk's activations plus the chunk inputs, outputs and states."""
        states: list[Any] = [None] * len(self.blocks)

        def run(piece: Tensor, carried: list[Any]) -> tuple[Tensor, list[Any]]:
            after = []
            for block, state in zip(self.blocks, carried, strict=True):
                piece, state = cast(Block, block).forward_chunk(piece, state)
                after.append(state)
            return piece, after

        outs = []
        for lo in range(0, x.shape[1], chunk):
            piece = x[:, lo : lo + chunk]
            if torch.is_grad_enabled():
                y, states = checkpoint(run, piece, states, use_reentrant=False)
            else:
                y, states = run(piece, states)
            states = [_detached(s) for s in states]
            outs.append(y)
        return torch.cat(outs, dim=1)

    def _collect(self, like: Tensor) -> None:
        losses = [loss for r in self._reporters for loss in r._losses]
        self.last_aux_loss = torch.stack(losses).sum() if losses else like.new_zeros(())
        values: dict[str, list[float]] = {}
        for r in self._reporters:
            for k, v in r._stats.items():
                values.setdefault(k, []).extend(v)
        stats = {k: sum(v) / len(v) for k, v in values.items()}
        if "fp_iters_max" in values:
            stats["fp_iters_max"] = max(values["fp_iters_max"])
        self.last_stats = stats

    def set_progress(self, progress: float) -> None:
        """Tell annealed parts (pruning temperatures) how far training is, in [0, 1]."""
        for r in self._reporters:
            r.set_progress(progress)

    def mixers(self) -> Iterator[Mixer]:
        return (m for m in self.modules() if isinstance(m, Mixer))

    def set_reference(self, on: bool = True) -> None:
        """Switch every mixer to its plain per-step reference (or back to the fast path)."""
        for m in self.mixers():
            m.reference = on

    def features(self, seq_len: int = 256, dtype: torch.dtype = torch.float32) -> ModelFeatures:
        return model_features(self.cfg, self.vocab_size, self.n_outputs, seq_len, dtype)


def _detached(state: Any) -> Any:
    """``state`` (a tensor, or tuples and lists of them, or None) with every tensor detached."""
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(_detached(s) for s in state)
    return state


def build_model(
    cfg: ModelConfig, vocab_size: int, n_outputs: int, device: str | torch.device = "auto"
) -> SequenceModel:
    """Build a model on ``device`` (``"auto"``: CUDA if present); seeded by ``cfg.init_seed`` if set."""
    dev = resolve_device(device)
    ctx = torch.random.fork_rng(devices=[]) if cfg.init_seed is not None else contextlib.nullcontext()
    with ctx:
        if cfg.init_seed is not None:
            torch.manual_seed(cfg.init_seed)
        with torch.device(dev):
            return SequenceModel(cfg, vocab_size, n_outputs)


@dataclass(frozen=True)
class ModelFeatures:
    """What theory rules (and searches) need to know about an architecture, from its config alone."""

    mixer: str
    transition: str
    eig_range: str | None
    #: generalised Householder factors per token (householder mixers), else None
    householder_factors: int | None
    layers: int
    width: int
    #: floats of recurrent state per layer (all hierarchy levels); None: grows with T (attention)
    state_floats_per_layer: int | None
    state_floats: int | None
    #: state_floats × significand bits of the dtype (the generous bound of THEORY.md §1)
    state_bits: int | None
    state_bits_bound: str
    causal: bool
    fp_iters: int | None
    fp_tol: float | None
    #: the iteration cap at evaluation (fp_eval_iters, default fp_iters)
    fp_eval_iters: int | None
    #: the fixed point's transition also depends on the previous state (a nonlinear RNN)
    fp_shift: bool
    depth_repeat: int
    halting: str
    hier_levels: int
    hier_stride: int | None
    #: ``fixed`` chunks of hier_stride, or ``dynamic`` (learned boundaries, target ratio
    #: hier_stride); None without a hierarchy
    hier_chunking: str | None
    prune: bool
    #: trainable parameters: the whole model / without embedding and head
    params: int
    params_body: int
    flops_per_token: float
    flops_seq_len: int
    extra: dict[str, Any] = field(default_factory=dict)
    #: the input stem (``none`` or ``conv``) and its kernel (None without a stem)
    stem: str = "none"
    stem_kernel: int | None = None
    #: reverse-complement handling of DNA training (``none``, ``augment``, ``both``, ``siamese``)
    rc: str = "both"
    #: input positions one output position can depend on, None when unbounded (any recurrent or
    #: attention mixer; hierarchy levels, whose range is not bounded here). Causal: the window
    #: ``t − R + 1 … t``; non-causal: the same count of positions, spread over both sides. Per
    #: position before the head: a pooled head then combines every position's window.
    receptive_field: int | None = None
    #: how a pooled head combines positions (``mean``, ``max``, ``last``; the DNA CNN: ``max+mean``),
    #: None with a per-token head
    pool: str | None = None

    @classmethod
    def stateless(cls, **fields: Any) -> ModelFeatures:
        """Features of a network with no recurrent state, no fixed point, hierarchy or pruning
        (the DNA CNN, the pair map): those fields at their neutral values, the rest given."""
        neutral: dict[str, Any] = dict(
            eig_range=None, householder_factors=None, state_floats_per_layer=None, state_floats=None,
            state_bits=None, causal=False, fp_iters=None, fp_tol=None, fp_eval_iters=None, fp_shift=False,
            depth_repeat=1, halting="none", hier_levels=1, hier_stride=None, hier_chunking=None, prune=False,
        )  # fmt: skip
        return cls(**{**neutral, **fields})

    @property
    def recurrent(self) -> bool:
        return self.transition not in ("attention", "convolution", "pairwise")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _block_params(cfg: ModelConfig) -> int:
    cls = MIXERS.get(cfg.mixer)
    w = cfg.width
    one = cls.param_count(cfg, w)
    if cfg.fp_iters is not None:
        one += fixed_point_param_count(cfg, w, cls.fp_dim(cfg, w))
    mixer = cfg.hier_levels * one + hierarchy_param_count(cfg.hier_levels, w, cfg.hier_chunking == "dynamic")
    hidden = _mlp_hidden(cfg)
    mlp = (2 * w * hidden + hidden + w + _norm_params(cfg.norm, w)) if hidden > 0 else 0
    return _norm_params(cfg.norm, w) + mixer + mlp + depth_loop_param_count(cfg, w)


def _receptive_field(cfg: ModelConfig) -> int | None:
    """Input positions one output can depend on (see :attr:`ModelFeatures.receptive_field`).

    Only a plain convolution stack is bounded: each of the ``layers × depth_repeat`` mixer
    applications (ACT halting runs at most ``depth_repeat``) widens the window by the mixer's
    ``R − 1``, the channel MLPs are per position, and a stem adds ``stem_kernel − 1``::

        1 + layers · depth_repeat · (R_mixer − 1) + (stem_kernel − 1 if stem else 0)

    Windows add the same way whether they reach back (causal) or both ways (non-causal). Every
    other mixer (recurrence, attention) sees the whole prefix or sequence, and a hierarchy mixes
    across pooled levels, so those are None.
    """
    cls = MIXERS.get(cfg.mixer)
    rf = cls.extra_features(cfg, cfg.width).get("receptive_field")
    if cls.transition(cfg) != "convolution" or rf is None or cfg.hier_levels != 1:
        return None
    stem = cfg.stem_kernel - 1 if cfg.stem == "conv" else 0
    return 1 + cfg.layers * cfg.depth_repeat * (int(rf) - 1) + stem


def _block_flops(cfg: ModelConfig, seq_len: int) -> float:
    cls = MIXERS.get(cfg.mixer)
    w = cfg.width
    total = 0.0
    for level in range(cfg.hier_levels):
        rate = cfg.hier_stride ** (-level) if cfg.hier_levels > 1 else 1.0
        length = max(1, seq_len // (cfg.hier_stride**level if cfg.hier_levels > 1 else 1))
        one = cls.flops_per_token(cfg, w, length)
        if cfg.fp_iters is not None:  # at the cap (an upper bound): each iteration mixes and scans
            n = cls.fp_dim(cfg, w)
            one = cfg.fp_iters * (one + 4.0 * cfg.fp_rank * n + (2.0 * n * w if cfg.fp_shift else 0.0))
        total += rate * one + (2.0 * w * w * rate if level > 0 else 0.0)
        if cfg.hier_chunking == "dynamic" and level + 1 < cfg.hier_levels:
            total += 4.0 * w * w * rate  # the router's W_q and W_k at this level's positions
    total += 4.0 * w * _mlp_hidden(cfg)
    return total * cfg.depth_repeat


def model_features(
    cfg: ModelConfig,
    vocab_size: int,
    n_outputs: int,
    seq_len: int = 256,
    dtype: torch.dtype = torch.float32,
) -> ModelFeatures:
    """Features of the model ``build_model(cfg, vocab_size, n_outputs)`` would build."""
    cls = MIXERS.get(cfg.mixer)
    w = cfg.width
    per_mixer = cls.state_floats(cfg, w)
    per_layer = None if per_mixer is None else per_mixer * cfg.hier_levels
    total = None if per_layer is None else per_layer * cfg.layers
    bits = MANTISSA_BITS.get(dtype, torch.finfo(dtype).bits if dtype.is_floating_point else 32)
    body = _stem_params(cfg) + cfg.layers * _block_params(cfg) + _norm_params(cfg.norm, w)
    params = body + vocab_size * w + w * n_outputs + n_outputs
    flops = _stem_flops(cfg) + cfg.layers * _block_flops(cfg, seq_len) + 2.0 * w * n_outputs
    n_h = (
        cls.opt(cfg, "householder_factors") if cls.allowed_values("householder_factors") is not None else None
    )
    if n_h is None and cls.transition(cfg) == "householder_product":
        n_h = 1  # one factor per token when the mixer has no such option (Gated DeltaNet)
    return ModelFeatures(
        mixer=cfg.mixer,
        transition=cls.transition(cfg),
        eig_range=cls.eig_range(cfg),
        householder_factors=None if n_h is None else int(n_h),
        layers=cfg.layers,
        width=w,
        state_floats_per_layer=per_layer,
        state_floats=total,
        state_bits=None if total is None else total * bits,
        state_bits_bound=f"{bits} significand bits per float ({dtype}), the generous bound",
        causal=cfg.causal,
        fp_iters=cfg.fp_iters,
        fp_tol=cfg.fp_tol if cfg.fp_iters is not None else None,
        fp_eval_iters=None if cfg.fp_iters is None else (cfg.fp_eval_iters or cfg.fp_iters),
        fp_shift=cfg.fp_iters is not None and cfg.fp_shift,
        depth_repeat=cfg.depth_repeat,
        halting=cfg.halting,
        hier_levels=cfg.hier_levels,
        hier_stride=cfg.hier_stride if cfg.hier_levels > 1 else None,
        hier_chunking=cfg.hier_chunking if cfg.hier_levels > 1 else None,
        prune=cfg.prune,
        params=params,
        params_body=body,
        flops_per_token=flops,
        flops_seq_len=seq_len,
        extra=dict(cls.extra_features(cfg, w)),
        stem=cfg.stem,
        stem_kernel=cfg.stem_kernel if cfg.stem == "conv" else None,
        rc=cfg.rc,
        receptive_field=_receptive_field(cfg),
        pool=cfg.pool if cfg.head == "pooled" else None,
    )
