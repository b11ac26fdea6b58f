"""Multi-head softmax attention, with four position encodings and dynamic context pruning.

``y = W_o · concat_h softmax(q_h k_hᵀ / √d_h + M_h) v_h`` with ``[q, k, v] = W_qkv x`` (no
biases), ``H`` heads of ``d_h = width / H`` channels, and ``M`` the additive mask: ``−∞`` above
the diagonal when causal, plus the ALiBi bias and the log keep probabilities of context pruning
when those are on. The fast path is :func:`torch.nn.functional.scaled_dot_product_attention`
(``is_causal=True`` when ``M`` is only the causal mask, else ``M`` as a float ``attn_mask``);
:func:`attention_reference` spells the same maths out with explicit matmuls
(``mixer.reference = True`` runs it).

Position encodings (``pos_enc``):

* ``none`` — no position information (causal attention still sees order through the mask);
* ``sinusoidal`` — the fixed table of Vaswani et al. (2017),
  ``P[t, 2i] = sin(t / 10000^{2i/D})``, ``P[t, 2i+1] = cos(t / 10000^{2i/D})``, added to the
  input of the query and key projections only (``v = W_v x`` stays position-free);
* ``rope`` — rotary embeddings (Su et al. 2021, "RoFormer"), rotate-half convention, base 10000:
  channel pairs ``(c, c + d/2)`` of ``q`` and ``k`` at position ``t`` rotate by ``t·θ_c``,
  ``θ_c = 10000^{−2c/d}``, so ``q_i · k_j`` depends on positions only through ``i − j``. An odd
  head dimension leaves its last channel unrotated;
* ``alibi`` — linear biases (Press et al. 2022, "Train short, test long"): head ``h`` adds
  ``−m_h (i − j)`` (causal) or ``−m_h |i − j|`` (non-causal) to the logit of query ``i`` and key
  ``j``, with slopes ``m_h = 2^{−8h/H}`` (for ``H`` not a power of two, the paper's rule: the
  slopes of the nearest lower power of two plus every other slope of the next one).

**Dynamic context pruning** (``prune: true``; Anagnostidis et al., "Dynamic Context Pruning for
Efficient and Interpretable Autoregressive Transformers", NeurIPS 2023, arXiv 2305.15805;
reference implementation ``sanagno/adaptively_sparse_attention``). Small per-head interaction
projections ``q^int, k^int ∈ R^r`` (``r = min(16, d_h)``) score every (query ``n``, key ``j``)
pair, ``z_h[n, j] = q^int_{h,n} · k^int_{h,j} / √r + b_h``, with a learned per-head bias
``b_h`` (the reference's ``int_bias``, initialised to 5: ``σ(5) ≈ 0.993``, so at the start almost
nothing is dropped). Query ``n`` keeps key ``j < n`` with probability ``σ(z_h[n, j] / τ)``, and
dropping is permanent: key ``j`` is still visible to query ``i`` only if every query in between
kept it,

    keep_h[i, j] = Π_{j < n ≤ i} σ(z_h[n, j] / τ),   keep_h[i, i] = 1,

computed in log space (``logsigmoid``, then a cumulative sum over the query axis) and added to the
attention logits as ``log keep``. The temperature ``τ`` anneals from 1 towards a hard step with
training progress ``p`` (:meth:`Attention.set_progress`: ``τ = max(0.05, 1 − p)``; the paper
anneals the α of an α-sigmoid instead). In eval mode the step itself is used: ``j`` is dropped
for query ``i`` iff ``z_h[n, j] < 0`` for some ``j < n ≤ i`` (``−∞`` in the logits), which is the
mask a sparse kernel with a shrinking KV cache would apply. In training the regulariser
``γ · mean(keep)`` (``prune_gamma``; with ``prune_keep`` set, ``γ · relu(mean(keep) −
prune_keep)``) is reported, the mean taken over heads, batch and causal pairs ``j ≤ i``. Every
forward pass reports ``kept_fraction`` (causal pairs with keep ≥ ½ — exactly the eval mask in
eval mode) and ``compute_saved = 1 − kept_fraction`` (the share of score and value FLOPs a sparse
kernel skips). Pruning is defined for causal attention only: "later queries" need an order, so
``prune`` with ``causal: false`` raises :class:`ValueError` when the mixer is built.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archlab.models.base import Mixer
from archlab.registry import MIXERS

if TYPE_CHECKING:
    from archlab.config import ModelConfig

__all__ = [
    "Attention",
    "alibi_bias",
    "alibi_slopes",
    "apply_rope",
    "attention_reference",
    "causal_mask",
    "rope_tables",
    "sinusoidal_table",
]

#: head counts tried, largest first, when ``heads`` is unset
DEFAULT_HEADS = (8, 4, 2, 1)
ROPE_BASE = 10000.0
SINUSOIDAL_BASE = 10000.0
#: interaction dimension of context pruning (capped by the head dimension)
PRUNE_RANK = 16
#: initial per-head bias of the pruning scores: σ(5) ≈ 0.993 (the reference implementation's value)
PRUNE_INIT_BIAS = 5.0
#: lowest temperature the annealing reaches before eval mode switches to the hard step
PRUNE_MIN_TEMPERATURE = 0.05


# ---------------------------------------------------------------------------------------------
# position encodings and masks
# ---------------------------------------------------------------------------------------------


def sinusoidal_table(seq_len: int, dim: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """``[T, dim]`` sinusoids ``P[t, 2i] = sin(t ω_i)``, ``P[t, 2i+1] = cos(t ω_i)``, ``ω_i = 10⁴^{−2i/dim}``.

    Computed in ``dtype`` but at least float32 (half precision cannot resolve large ``t ω_i``).
    """
    work = torch.promote_types(dtype, torch.float32)
    pos = torch.arange(seq_len, device=device, dtype=work)[:, None]
    omega = SINUSOIDAL_BASE ** (-torch.arange(0, dim, 2, device=device, dtype=work) / dim)
    angle = pos * omega  # [T, ⌈dim/2⌉]
    table = torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2)[:, :dim]
    return table.to(dtype)


def rope_tables(
    seq_len: int, head_dim: int, device: torch.device, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    """``cos`` and ``sin`` of the rotary angles, each ``[T, 2⌊d/2⌋]``: ``t θ_c`` for ``c < d/2``, repeated.

    Computed in ``dtype`` but at least float32, like :func:`sinusoidal_table`.
    """
    rot = head_dim - head_dim % 2
    work = torch.promote_types(dtype, torch.float32)
    theta = ROPE_BASE ** (-torch.arange(0, rot, 2, device=device, dtype=work) / rot)
    angle = torch.arange(seq_len, device=device, dtype=work)[:, None] * theta
    angle = torch.cat([angle, angle], dim=-1)
    return angle.cos().to(dtype), angle.sin().to(dtype)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate-half RoPE on ``x [..., T, d]``: ``x·cos + rotate_half(x)·sin`` on channels ``< 2⌊d/2⌋``."""
    rot = cos.shape[-1]
    x_rot, x_pass = x[..., :rot], x[..., rot:]
    x1, x2 = x_rot.chunk(2, dim=-1)
    rotated = x_rot * cos + torch.cat([-x2, x1], dim=-1) * sin
    return torch.cat([rotated, x_pass], dim=-1) if x_pass.shape[-1] else rotated


def alibi_slopes(heads: int) -> Tensor:
    """ALiBi slopes of Press et al. (2022): ``2^{−8h/H}``, ``h = 1..H``, for ``H`` a power of two.

    Otherwise the paper's rule: the slopes for the largest power of two ``n < H``, then every
    other slope of the ``2n`` sequence until there are ``H``.
    """

    def geometric(n: int) -> list[float]:
        return [2.0 ** (-8.0 * (h + 1) / n) for h in range(n)]

    n = 2 ** math.floor(math.log2(heads))
    slopes = geometric(n) + geometric(2 * n)[0::2][: heads - n]
    return torch.tensor(slopes, dtype=torch.float32)


def causal_mask(seq_len: int, device: torch.device, dtype: torch.dtype = torch.float32) -> Tensor:
    """``[T, T]`` additive mask: 0 on and below the diagonal, ``−∞`` above (key after query)."""
    return torch.full((seq_len, seq_len), float("-inf"), device=device, dtype=dtype).triu(1)


def alibi_bias(heads: int, seq_len: int, causal: bool, device: torch.device) -> Tensor:
    """``[H, T, T]`` ALiBi bias: ``−m_h (i − j)``, ``−∞`` for ``j > i`` (causal); else ``−m_h |i − j|``."""
    pos = torch.arange(seq_len, device=device, dtype=torch.float32)
    dist = (pos[:, None] - pos[None, :]).abs()  # |i − j|, query i on rows
    bias = -alibi_slopes(heads).to(device)[:, None, None] * dist
    return bias + causal_mask(seq_len, device) if causal else bias


def attention_reference(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """``softmax(q kᵀ / √d + mask) v`` with explicit matmuls (the definition the fast path must match).

    ``q, k, v``: ``[B, H, T, d]``; ``mask``: an additive float mask broadcastable to
    ``[B, H, T, T]`` (``−∞`` = not visible) or None.
    """
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + mask
    return torch.softmax(scores, dim=-1) @ v


# ---------------------------------------------------------------------------------------------
# the mixer
# ---------------------------------------------------------------------------------------------


@MIXERS.register("attention")
class Attention(Mixer):
    """Multi-head softmax attention (causal or not) with none/sinusoidal/RoPE/ALiBi positions.

    See the module docstring for the maths, the position encodings and context pruning.
    ``heads`` defaults to the largest of 8, 4, 2, 1 that divides ``width``; ``pos_enc`` to RoPE.
    """

    name = "attention"
    summary = "multi-head softmax attention, pos_enc none/sinusoidal/rope/alibi, dynamic context pruning"
    options: ClassVar[dict[str, tuple[Any, ...]]] = {
        "heads": (),
        "pos_enc": ("none", "sinusoidal", "rope", "alibi"),
    }
    defaults: ClassVar[dict[str, Any]] = {"pos_enc": "rope"}
    recurrent = False
    supports_noncausal = True
    supports_prune = True
    unstreamable = (
        "its state is every key and value seen so far (a KV cache growing with T), so chunks would "
        "bound no memory; it runs at full length only"
    )

    def __init__(self, cfg: ModelConfig, width: int) -> None:
        super().__init__(cfg, width)
        self.heads = self._heads(cfg, width)
        if width % self.heads:
            raise ValueError(f"attention width {width} is not divisible by heads={self.heads}")
        self.head_dim = width // self.heads
        self.pos_enc: str = self.opt(cfg, "pos_enc")
        self.causal = cfg.causal
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.out = nn.Linear(width, width, bias=False)
        #: rotary tables per (device, dtype), grown to the longest sequence seen and sliced
        self._rope_cache: dict[tuple[torch.device, torch.dtype], tuple[Tensor, Tensor]] = {}

        self.prune = cfg.prune
        if self.prune:
            if not cfg.causal:
                raise ValueError(
                    "context pruning drops keys for all later queries and needs causal attention; "
                    "set causal: true or prune: false"
                )
            self.prune_rank = self._prune_rank(cfg, width)
            self.q_int = nn.Linear(width, self.heads * self.prune_rank, bias=False)
            self.k_int = nn.Linear(width, self.heads * self.prune_rank, bias=False)
            nn.init.normal_(self.q_int.weight, std=1.0 / math.sqrt(width))
            nn.init.normal_(self.k_int.weight, std=1.0 / math.sqrt(width))
            self.prune_bias = nn.Parameter(torch.full((self.heads,), PRUNE_INIT_BIAS))
            self.gamma = cfg.prune_gamma
            self.keep_target = cfg.prune_keep
            self.temperature = 1.0

    # -- options and features ----------------------------------------------------------------
    @staticmethod
    def _default_heads(width: int) -> int:
        return next(h for h in DEFAULT_HEADS if width % h == 0)

    @classmethod
    def _heads(cls, cfg: ModelConfig, width: int) -> int:
        return cfg.heads if cfg.heads is not None else cls._default_heads(width)

    @classmethod
    def _prune_rank(cls, cfg: ModelConfig, width: int) -> int:
        return min(PRUNE_RANK, width // cls._heads(cfg, width))

    @classmethod
    def default_value(cls, field: str, cfg: ModelConfig) -> Any:
        if field == "heads":
            return cls._default_heads(cfg.width)
        return super().default_value(field, cfg)

    @classmethod
    def transition(cls, cfg: ModelConfig) -> str:
        return "attention"

    @classmethod
    def state_floats(cls, cfg: ModelConfig, width: int) -> int | None:
        return None  # the KV cache grows with the context

    @classmethod
    def param_count(cls, cfg: ModelConfig, width: int) -> int:
        n = 3 * width * width + width * width  # W_qkv, W_o
        if cfg.prune:
            heads = cls._heads(cfg, width)
            n += 2 * width * heads * cls._prune_rank(cfg, width) + heads  # W_q^int, W_k^int, b
        return n

    @classmethod
    def flops_per_token(cls, cfg: ModelConfig, width: int, seq_len: int) -> float:
        """Projections ``2·params`` plus ``4·width`` per visible key (scores and weighted sum).

        A query sees ``(T + 1) / 2`` keys on average when causal, ``T`` otherwise; pruning adds
        ``2·H·r`` per causal pair for its scores. Elementwise work (softmax, RoPE, masks) is left out.
        """
        keys = (seq_len + 1) / 2 if cfg.causal else float(seq_len)
        flops = 2.0 * cls.param_count(cfg, width) + 4.0 * width * keys
        if cfg.prune:
            flops += 2.0 * cls._heads(cfg, width) * cls._prune_rank(cfg, width) * keys
        return flops

    @classmethod
    def extra_features(cls, cfg: ModelConfig, width: int) -> dict[str, Any]:
        return {"pos_enc": cls.opt(cfg, "pos_enc"), "heads": cls._heads(cfg, width)}

    # -- training-time hooks -------------------------------------------------------------------
    def set_progress(self, progress: float) -> None:
        """Anneal the pruning temperature: ``τ = max(0.05, 1 − progress)`` (no-op without pruning)."""
        if self.prune:
            self.temperature = max(PRUNE_MIN_TEMPERATURE, 1.0 - float(progress))

    # -- forward -------------------------------------------------------------------------------
    def _rope(self, seq_len: int, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        key = (device, dtype)
        cached = self._rope_cache.get(key)
        if cached is None or cached[0].shape[0] < seq_len:
            # normal tensors even when first built under inference_mode, so training can reuse them
            with torch.inference_mode(False):
                cached = rope_tables(seq_len, self.head_dim, device, dtype)
            self._rope_cache[key] = cached
        cos, sin = cached
        return cos[:seq_len], sin[:seq_len]

    def prune_log_keep(self, x_qk: Tensor) -> Tensor:
        """``log keep_h[i, j]`` as ``[B, H, T, T]`` (at least float32) from the query/key-side input ``x_qk``.

        Training: ``Σ_{j<n≤i} logsigmoid(z_h[n, j] / τ)``; eval: 0 if ``z_h[n, j] ≥ 0`` for every
        ``j < n ≤ i``, else ``−∞``. Entries with ``j ≥ i`` are 0 (the caller adds the causal mask).
        """
        bsz, seq_len, _ = x_qk.shape
        qi = self.q_int(x_qk).view(bsz, seq_len, self.heads, self.prune_rank).transpose(1, 2)
        ki = self.k_int(x_qk).view(bsz, seq_len, self.heads, self.prune_rank).transpose(1, 2)
        work = torch.promote_types(qi.dtype, torch.float32)
        z = (qi @ ki.transpose(-1, -2)).to(work) / math.sqrt(self.prune_rank)
        z = z + self.prune_bias.to(work)[:, None, None]  # z[b, h, n (query), j (key)]
        later = torch.ones(seq_len, seq_len, dtype=torch.bool, device=x_qk.device).tril(-1)  # n > j
        if self.training:
            return F.logsigmoid(z / self.temperature).masked_fill(~later, 0.0).cumsum(dim=-2)
        dropped = ((z < 0) & later).int().cumsum(dim=-2) > 0
        return torch.zeros_like(z).masked_fill(dropped, float("-inf"))

    def _report_pruning(self, log_keep: Tensor) -> None:
        bsz, heads, seq_len, _ = log_keep.shape
        pairs = torch.ones(seq_len, seq_len, dtype=torch.bool, device=log_keep.device).tril()  # j ≤ i
        n_pairs = bsz * heads * seq_len * (seq_len + 1) // 2
        if self.training:
            mean_keep = log_keep.exp().masked_fill(~pairs, 0.0).sum() / n_pairs
            excess = mean_keep if self.keep_target is None else torch.relu(mean_keep - self.keep_target)
            self.report_loss(self.gamma * excess)
        with torch.no_grad():
            kept = ((log_keep >= -math.log(2.0)) & pairs).sum() / n_pairs
        self.report_stat("kept_fraction", kept)
        self.report_stat("compute_saved", 1.0 - kept)

    def forward(self, x: Tensor) -> Tensor:
        bsz, seq_len, width = x.shape
        heads, head_dim = self.heads, self.head_dim

        if self.pos_enc == "sinusoidal":
            x_qk = x + sinusoidal_table(seq_len, width, x.device, x.dtype)
            qk = F.linear(x_qk, self.qkv.weight[: 2 * width])
            qkv = torch.cat([qk, F.linear(x, self.qkv.weight[2 * width :])], dim=-1)
        else:
            x_qk = x
            qkv = self.qkv(x)
        q, k, v = qkv.view(bsz, seq_len, 3, heads, head_dim).permute(2, 0, 3, 1, 4).unbind(0)  # [B,H,T,d]

        if self.pos_enc == "rope":
            cos, sin = self._rope(seq_len, q.device, q.dtype)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)

        mask: Tensor | None = None
        if self.pos_enc == "alibi":
            mask = alibi_bias(heads, seq_len, self.causal, x.device)
        if self.prune:
            log_keep = self.prune_log_keep(x_qk)
            self._report_pruning(log_keep)
            mask = log_keep + (mask if mask is not None else causal_mask(seq_len, x.device))

        if self.reference:
            if mask is None and self.causal:
                mask = causal_mask(seq_len, x.device)
            y = attention_reference(q, k, v, None if mask is None else mask.to(q.dtype))
        elif mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.to(q.dtype))
        return self.out(y.transpose(1, 2).reshape(bsz, seq_len, width))
