"""The mixer interface every registry entry implements, and the telemetry modules report through.

A **mixer** maps ``x [B, T, width] → y [B, T, width]`` and is the only part of a block that
moves information along the sequence. Besides ``forward`` it declares, as class methods of its
config, what theory rules need (:meth:`Mixer.transition`, :meth:`Mixer.eig_range`,
:meth:`Mixer.state_floats`) and what a search trades off (:meth:`Mixer.param_count`,
:meth:`Mixer.flops_per_token`). ``param_count`` is written out by hand for each mixer and the
registry-wide tests compare it with the instantiated module, so a formula that drifts from the
code fails a test.

Recurrent mixers also expose three hooks the fixed-point wrapper uses (THEORY.md §4)::

    u, ctx = mixer.fp_in(x)        # input side: B x_t and whatever the core needs (gates)
    h = mixer.fp_core(u, ctx)      # the recurrence over time, from an input sequence to states
    y = mixer.fp_out(h, ctx)       # read-out back to width

with ``forward(x) == fp_out(fp_core(*fp_in(x)))``. The defaults treat the whole mixer as the core.

**Telemetry.** Modules that measure something per forward pass (iterations used, fraction of
context kept) or add a regulariser (ponder cost, sparsity) derive from :class:`Reporting`:
``self.report_stat(name, value)`` and ``self.report_loss(tensor)``. The model clears and
collects these around each forward pass (:meth:`archlab.models.model.SequenceModel.forward`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from archlab.config import ModelConfig

__all__ = ["TRANSITIONS", "Mixer", "Reporting"]

#: Transition classes, as theory rules read them (THEORY.md §1).
TRANSITIONS = {
    "diagonal_real": "linear, diagonal, real eigenvalues (Mamba/GLA/LRU-style gates)",
    "diagonal_complex": "linear, diagonal, complex eigenvalues (rotations)",
    "householder_product": "linear, products of generalised Householder matrices (DeltaNet/DeltaProduct)",
    "dense": "linear, dense input-dependent matrix (IDS4-like)",
    "nonlinear": "nonlinear recurrence (tanh RNN, LSTM, GRU)",
    "attention": "softmax attention (state grows with the context)",
    "convolution": "finite receptive field (dilated convolution)",
    "pairwise": "2-D map of every pair of positions (the DNA pair-map network; no recurrence)",
}


class Reporting(nn.Module):
    """A module that reports per-forward statistics and auxiliary losses to its model."""

    def __init__(self) -> None:
        super().__init__()
        self._stats: dict[str, list[float]] = {}
        self._losses: list[Tensor] = []

    def clear_reports(self) -> None:
        self._stats = {}
        self._losses = []

    def report_stat(self, name: str, value: float | Tensor) -> None:
        """Record one value of statistic ``name`` for this forward pass (skipped on ``meta``)."""
        if isinstance(value, Tensor):
            if value.device.type == "meta":
                return
            value = float(value.detach())
        self._stats.setdefault(name, []).append(float(value))

    def report_loss(self, loss: Tensor) -> None:
        self._losses.append(loss)

    def set_progress(self, progress: float) -> None:
        """Training progress in [0, 1] (anneals e.g. pruning temperatures); default: nothing."""


class Mixer(Reporting):
    """Base class of sequence mixers. Subclasses set the class attributes and implement forward."""

    #: registry name (``mixer:`` in a ModelConfig)
    name: ClassVar[str] = ""
    #: one line for ``archlab model list``
    summary: ClassVar[str] = ""
    #: ModelConfig fields this mixer uses beyond the common ones → allowed values (``()`` = any
    #: value the field's own range allows). A field not listed is rejected for this mixer.
    options: ClassVar[dict[str, tuple[Any, ...]]] = {}
    #: default values of the options (when the config leaves them unset)
    defaults: ClassVar[dict[str, Any]] = {}
    #: a recurrence over time (can be wrapped by the fixed-point iteration)
    recurrent: ClassVar[bool] = False
    #: may run non-causally (``causal: false``, e.g. for DNA classification)
    supports_noncausal: ClassVar[bool] = False
    #: has a context-pruning mechanism (``prune: true``)
    supports_prune: ClassVar[bool] = False
    #: forward runs on the ``meta`` device (shape inference without memory)
    meta_forward: ClassVar[bool] = True
    #: why this mixer cannot train as a member of a stacked ensemble (:mod:`archlab.ensemble`,
    #: ``torch.func.vmap`` over members' parameters); empty: it can. Such cells fall back to
    #: training their members one by one.
    unstackable: ClassVar[str] = ""
    #: ``module:Class`` of a mixer from outside archlab (:mod:`archlab.models.plugins`), else ""
    plugin: ClassVar[str] = ""
    #: why this mixer cannot run a long sequence chunk by chunk with its state carried over
    #: (``chunk_len``, :meth:`forward_chunk`); empty: it can
    unstreamable: ClassVar[str] = "it has no chunked form (forward_chunk)"

    def __init__(self, cfg: ModelConfig, width: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.width = width
        #: run the plain per-step reference instead of the fast path (tests, benchmarks);
        #: mixers without a separate fast path ignore it
        self.reference = False
        #: on CUDA, use the optional ``gpu`` extra's kernels (:mod:`archlab.models.cuda`) where one
        #: maps to this mixer; False runs the pure-PyTorch path on the same device (benchmarks)
        self.kernels = True

    # -- options ---------------------------------------------------------------------------
    @classmethod
    def allowed_values(cls, field: str) -> tuple[Any, ...] | None:
        """Allowed values of option ``field`` (``()`` = any), or None if this mixer ignores it."""
        return cls.options.get(field)

    @classmethod
    def default_value(cls, field: str, cfg: ModelConfig) -> Any:
        """The value used for an unset option; may depend on the rest of the config."""
        return cls.defaults.get(field)

    @classmethod
    def opt(cls, cfg: ModelConfig, field: str) -> Any:
        """The effective value of option ``field`` under ``cfg``."""
        v = getattr(cfg, field)
        return cls.default_value(field, cfg) if v is None else v

    # -- features (class methods of the config: no module needed) ---------------------------
    @classmethod
    def transition(cls, cfg: ModelConfig) -> str:
        raise NotImplementedError

    @classmethod
    def eig_range(cls, cfg: ModelConfig) -> str | None:
        """``unit`` [0,1], ``signed`` [−1,1] or ``complex`` for linear recurrences, else None."""
        return None

    @classmethod
    def state_floats(cls, cfg: ModelConfig, width: int) -> int | None:
        """Floats of recurrent state carried per sequence by one layer; None if it grows with T."""
        raise NotImplementedError

    @classmethod
    def param_count(cls, cfg: ModelConfig, width: int) -> int:
        """Trainable parameters of one mixer instance, written out by hand."""
        raise NotImplementedError

    @classmethod
    def flops_per_token(cls, cfg: ModelConfig, width: int, seq_len: int) -> float:
        """Forward FLOPs per token of one mixer instance (multiply-add = 2), an estimate."""
        return 2.0 * cls.param_count(cfg, width)

    @classmethod
    def extra_features(cls, cfg: ModelConfig, width: int) -> dict[str, Any]:
        """Mixer-specific facts for theory (e.g. a convolution's receptive field)."""
        return {}

    # -- streaming ---------------------------------------------------------------------------
    def forward_chunk(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        """``forward`` on one chunk of a longer sequence: ``x [B, C, width]`` continues where
        ``state`` (what the previous chunk returned; None at the sequence's start) left off.
        Returns ``(y, state after the chunk)``; running the chunks in order gives exactly
        ``forward`` of the whole sequence. Mixers with an empty :attr:`unstreamable` implement it."""
        raise NotImplementedError(f"mixer {self.name!r} cannot run chunk by chunk: {self.unstreamable}")

    # -- fixed-point hooks -------------------------------------------------------------------
    @classmethod
    def fp_dim(cls, cfg: ModelConfig, width: int) -> int:
        """Size of the vector the fixed-point iteration mixes per position (``u`` and ``h``)."""
        return width

    def fp_in(self, x: Tensor) -> tuple[Tensor, Any]:
        return x, None

    def fp_core(self, u: Tensor, ctx: Any) -> Tensor:
        return self(u)

    def fp_out(self, h: Tensor, ctx: Any) -> Tensor:
        return h


def divisor_heads(width: int, prefer: tuple[int, ...] = (4, 2, 1)) -> int:
    """The default head count: the first of ``prefer`` that divides ``width``."""
    return next(h for h in prefer if width % h == 0)


def inverse_softplus(x: float) -> float:
    return float(torch.log(torch.expm1(torch.tensor(x))))
