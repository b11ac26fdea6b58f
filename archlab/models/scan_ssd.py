"""Scalar-gated matrix recurrences in chunkwise form: Mamba-2's SSD and the xLSTM's mLSTM.

Both carry, per head, a matrix state updated by a **scalar** transition times the identity plus a
rank-one write, so inside a chunk of C steps the outputs are one masked C × C "attention" matrix
(the state space duality of Dao & Gu 2024, arXiv 2405.21060, §6) and only the chunk-boundary
states are sequential. Every function here has a plain per-step loop twin (``*_reference``) that
the tests hold it to, outputs and gradients; the chunkwise forms are plain torch ops
differentiated by autograd, so they run on any device.

**SSD** (:func:`ssd_chunked`), per batch element and head::

    S_t = a_t S_{t−1} + u_t b_tᵀ,      y_t = S_t c_t          (S ∈ R^{P×N}, a_t scalar)

with ``a`` of **any sign**: Grazzi et al.'s Mamba[−1,1] maps the transition to 2·exp(ΔA) − 1, so
the log-space cumulative sum of Mamba-2's own kernel cannot be used as is. The decay from step j
to step i is ``Π_{j<k≤i} a_k = (−1)^{n_i − n_j} · exp(Σ_{j<k≤i} log|a_k|)`` (n: how many negative
factors so far); the sum is a segment sum taken directly over the segment (not a difference of
prefix sums, which loses digits once the prefix is long), |a| floored at 1e-30 so log stays finite
(an exactly zero transition gets the right value and a zero gradient: a measure-zero case).

**mLSTM** (:func:`mlstm_chunked`), Beck et al. 2024 (arXiv 2405.04517) eqs. for the matrix memory
with exponential input gate and sigmoid forget gate, in their stabilised form::

    m_t = max(log f_t + m_{t−1}, ĩ_t)
    C_t = exp(log f_t + m_{t−1} − m_t) C_{t−1} + exp(ĩ_t − m_t) k_t v_tᵀ        (n_t likewise with k_t)
    h_t = C_tᵀ q_t / (max(|n_tᵀ q_t|, exp(−m_t)) + ε)

with no initial memory (m_0 = −∞), which is what the paper's parallel form computes
(m_t = max_{s≤t} of the log weights). The stabiliser cancels except inside the max, so the
chunkwise form reproduces it exactly: every chunk is computed with a local stabiliser, then
rescaled to the true running maximum once the carried states are known.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["mlstm_chunked", "mlstm_reference", "segsum", "ssd_chunked", "ssd_reference"]

DEFAULT_CHUNK = 64
#: SSD's chunk: its intra-chunk tensors grow like C per position; 16 was fastest on 2 cores
#: (B 16, T 1024, 8 heads of 64 × 16: fwd+bwd 0.14 s at 16, 0.16 at 32, 0.22 at 64, 0.36 at 128)
SSD_CHUNK = 16
#: floor of |a| before its log (an exact zero would make the log −∞ and its gradient NaN)
ABS_FLOOR = 1e-30
#: "no memory yet" stabiliser: finite so that differences stay defined, −∞ in effect
NO_STATE = -1e30
#: the mLSTM's denominator guard (the official implementation's eps)
MLSTM_EPS = 1e-6
#: the mLSTM's state between chunks: memory C [B, H, d, d_v], normaliser n [B, H, d], stabiliser m [B, H]
MLSTMState = tuple[Tensor, Tensor, Tensor]


def segsum(x: Tensor) -> Tensor:
    """``out[..., i, j] = Σ_{j<k≤i} x[..., k]`` for j ≤ i, −∞ above the diagonal; x [..., C]."""
    c = x.shape[-1]
    rows = x.unsqueeze(-1).expand(*x.shape, c)  # rows[..., k, j] = x_k
    strict = torch.ones(c, c, dtype=torch.bool, device=x.device).tril(-1)
    s = rows.masked_fill(~strict, 0.0).cumsum(-2)
    lower = torch.ones(c, c, dtype=torch.bool, device=x.device).tril()
    return s.masked_fill(~lower, float("-inf"))


def _pad_time(x: Tensor, pad: int, dim: int, value: float = 0.0) -> Tensor:
    if not pad:
        return x
    spec = [0, 0] * (x.dim() - 1 - dim % x.dim()) + [0, pad]
    return F.pad(x, spec, value=value)


# --------------------------------------------------------------------------------------------
# SSD
# --------------------------------------------------------------------------------------------


def ssd_reference(
    a: Tensor, u: Tensor, b: Tensor, c: Tensor, *, state: Tensor | None = None, return_state: bool = False
) -> Any:
    """The SSD recurrence step by step: a [B, T, H], u [B, T, H, P], b, c [B, T, N] → y [B, T, H, P].
    ``state`` [B, H, P, N]: the state before the first step (None: zeros); ``return_state``:
    return ``(y, the state after the last step)``."""
    bsz, _, h, p = u.shape
    s = u.new_zeros(bsz, h, p, b.shape[-1]) if state is None else state
    out = []
    for a_t, u_t, b_t, c_t in zip(a.unbind(1), u.unbind(1), b.unbind(1), c.unbind(1), strict=True):
        s = a_t[..., None, None] * s + u_t.unsqueeze(-1) * b_t[:, None, None, :]
        out.append((s @ c_t[:, None, :, None]).squeeze(-1))
    y = torch.stack(out, dim=1) if out else u.clone()
    return (y, s) if return_state else y


def ssd_chunked(
    a: Tensor, u: Tensor, b: Tensor, c: Tensor, chunk: int = SSD_CHUNK, *, nonnegative: bool = False,
    state: Tensor | None = None, return_state: bool = False,
) -> Any:  # fmt: skip
    """:func:`ssd_reference` in chunkwise form (same shapes, ``state`` and ``return_state``). ``a``
    may take any sign; ``nonnegative=True`` promises a ≥ 0 (Mamba-2's own exp(ΔA)) and skips the
    sign bookkeeping."""
    bsz, t, h, p = u.shape
    n = b.shape[-1]
    cs = max(1, min(chunk, t))
    nc = -(-t // cs)
    pad = nc * cs - t
    a = _pad_time(a, pad, 1, 1.0)  # a = 1, no write: padding leaves the state alone
    u, b, c = _pad_time(u, pad, 1), _pad_time(b, pad, 1), _pad_time(c, pad, 1)
    ac = a.view(bsz, nc, cs, h).permute(0, 1, 3, 2)  # [B, NC, H, C]
    uc = u.view(bsz, nc, cs, h, p).permute(0, 1, 3, 2, 4)  # [B, NC, H, C, P]
    bc, cc = b.view(bsz, nc, cs, n), c.view(bsz, nc, cs, n)

    log_abs = (ac if nonnegative else ac.abs()).clamp_min(ABS_FLOOR).log()
    decay = torch.exp(segsum(log_abs))  # [B, NC, H, C, C]: Π_{j<k≤i} |a_k|, 0 above
    from_start = torch.exp(log_abs.cumsum(-1))
    if not nonnegative:
        negative = (ac < 0).to(a.dtype)
        decay = decay * (1.0 - 2.0 * torch.remainder(segsum(negative).nan_to_num(neginf=0.0), 2.0))
        from_start = from_start * (1.0 - 2.0 * torch.remainder(negative.cumsum(-1), 2.0))
    gram = torch.matmul(cc, bc.transpose(-1, -2))  # [B, NC, C, C]: c_i · b_j
    y = torch.matmul(decay * gram.unsqueeze(2), uc)  # intra-chunk part [B, NC, H, C, P]

    to_end = decay[..., -1, :]  # [B, NC, H, C]: Π_{j<k≤C} a_k
    ends = torch.einsum("bnhc,bnhcp,bncs->bnhps", to_end, uc, bc)  # each chunk's end state from 0
    total = from_start[..., -1]  # [B, NC, H]
    state = u.new_zeros(bsz, h, p, n) if state is None else state
    starts = []
    # unbind, not [:, k]: the backward of each index would fill a whole-size zero tensor
    for tot_k, end_k in zip(total.unbind(1), ends.unbind(1), strict=True):
        starts.append(state)
        state = tot_k[..., None, None] * state + end_k
    start = torch.stack(starts, dim=1)  # [B, NC, H, P, N]
    y = y + from_start.unsqueeze(-1) * torch.einsum("bnhps,bncs->bnhcp", start, cc)
    y = y.permute(0, 1, 3, 2, 4).reshape(bsz, nc * cs, h, p)[:, :t]
    return (y, state) if return_state else y


# --------------------------------------------------------------------------------------------
# mLSTM
# --------------------------------------------------------------------------------------------


def mlstm_reference(
    q: Tensor, k: Tensor, v: Tensor, log_i: Tensor, log_f: Tensor, *, state: MLSTMState | None = None,
    return_state: bool = False,
) -> Any:  # fmt: skip
    """The stabilised mLSTM recurrence step by step (module doc). q, k, v [B, H, T, d]
    (k already scaled by 1/√d), log_i = ĩ and log_f = log σ(f̃) [B, H, T] → h [B, H, T, d].
    ``state``: ``(C [B, H, d, d_v], n [B, H, d], m [B, H])`` before the first step (None: empty);
    ``return_state``: return ``(h, the state after the last step)``."""
    bsz, h, _, d = q.shape
    if state is None:
        mem, norm, m = (
            q.new_zeros(bsz, h, d, v.shape[-1]),
            q.new_zeros(bsz, h, d),
            q.new_full((bsz, h), NO_STATE),
        )
    else:
        mem, norm, m = state
    out = []
    for q_t, k_t, v_t, i_t, f_t in zip(q.unbind(2), k.unbind(2), v.unbind(2), log_i.unbind(2),
                                       log_f.unbind(2), strict=True):  # fmt: skip
        m_new = torch.maximum(f_t + m, i_t)
        f_s = torch.exp(f_t + m - m_new)
        i_s = torch.exp(i_t - m_new)
        mem = f_s[..., None, None] * mem + i_s[..., None, None] * k_t.unsqueeze(-1) * v_t.unsqueeze(-2)
        norm = f_s[..., None] * norm + i_s[..., None] * k_t
        num = (q_t.unsqueeze(-2) @ mem).squeeze(-2)
        den = (q_t * norm).sum(-1).abs().maximum(torch.exp(-m_new)) + MLSTM_EPS
        out.append(num / den[..., None])
        m = m_new
    y = torch.stack(out, dim=2) if out else v.clone()
    return (y, (mem, norm, m)) if return_state else y


def mlstm_chunked(
    q: Tensor, k: Tensor, v: Tensor, log_i: Tensor, log_f: Tensor, chunk: int = DEFAULT_CHUNK, *,
    state: MLSTMState | None = None, return_state: bool = False,
) -> Any:  # fmt: skip
    """:func:`mlstm_reference` in chunkwise form (same shapes, result, ``state`` and ``return_state``)."""
    bsz, h, t, d = q.shape
    dv = v.shape[-1]
    cs = max(1, min(chunk, t))
    nc = -(-t // cs)
    pad = nc * cs - t
    q, k, v = (_pad_time(x, pad, 2) for x in (q, k, v))
    log_f = _pad_time(log_f, pad, 2)  # f = 1
    log_i = _pad_time(log_i, pad, 2, NO_STATE)  # i = 0: no write
    qc, kc, vc = (x.view(bsz, h, nc, cs, -1) for x in (q, k, v))
    li, lf = log_i.view(bsz, h, nc, cs), log_f.view(bsz, h, nc, cs)

    fcum = lf.cumsum(-1)  # log of Π_{k≤i} f_k within the chunk
    logw = segsum(lf) + li.unsqueeze(-2)  # [B, H, NC, C, C]: log weight of write j at step i
    m_intra = logw.amax(-1)  # [B, H, NC, C]
    w = torch.exp(logw - m_intra.unsqueeze(-1))
    scores = torch.matmul(qc, kc.transpose(-1, -2)) * w
    num_intra = torch.matmul(scores, vc)  # [B, H, NC, C, dv]
    den_intra = scores.sum(-1)  # [B, H, NC, C]

    logw_end = logw[..., -1, :]  # [B, H, NC, C]: weights of the writes in the chunk's end state
    m_end = logw_end.amax(-1)  # [B, H, NC]
    w_end = torch.exp(logw_end - m_end.unsqueeze(-1)).unsqueeze(-1)
    mem_end = torch.matmul((kc * w_end).transpose(-1, -2), vc)  # [B, H, NC, d, dv]
    norm_end = (kc * w_end).sum(-2)  # [B, H, NC, d]
    f_total = fcum[..., -1]  # [B, H, NC]

    if state is None:
        mem, norm, m = q.new_zeros(bsz, h, d, dv), q.new_zeros(bsz, h, d), q.new_full((bsz, h), NO_STATE)
    else:
        mem, norm, m = state
    mems, norms, ms = [], [], []
    for f_n, m_end_n, mem_n, norm_n in zip(f_total.unbind(-1), m_end.unbind(-1), mem_end.unbind(2),
                                           norm_end.unbind(2), strict=True):  # fmt: skip
        mems.append(mem)
        norms.append(norm)
        ms.append(m)
        m_new = torch.maximum(f_n + m, m_end_n)
        old = torch.exp(f_n + m - m_new)
        new = torch.exp(m_end_n - m_new)
        mem = old[..., None, None] * mem + new[..., None, None] * mem_n
        norm = old[..., None] * norm + new[..., None] * norm_n
        m = m_new
    mem_s, norm_s, m_s = torch.stack(mems, 2), torch.stack(norms, 2), torch.stack(ms, 2)

    m_inter = fcum + m_s.unsqueeze(-1)  # [B, H, NC, C]
    m_all = torch.maximum(m_inter, m_intra)
    s_inter = torch.exp(m_inter - m_all)
    s_intra = torch.exp(m_intra - m_all)
    num = s_inter.unsqueeze(-1) * torch.matmul(qc, mem_s) + s_intra.unsqueeze(-1) * num_intra
    den = s_inter * (qc * norm_s.unsqueeze(-2)).sum(-1) + s_intra * den_intra
    den = den.abs().maximum(torch.exp(-m_all)) + MLSTM_EPS
    out = (num / den.unsqueeze(-1)).reshape(bsz, h, nc * cs, dv)[:, :, :t]
    return (out, (mem, norm, m)) if return_state else out
