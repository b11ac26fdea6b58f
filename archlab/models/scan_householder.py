"""Delta-rule / generalised-Householder scans (DeltaNet, DeltaProduct): a loop and a chunkwise form.

The recurrence, per batch element and head (THEORY.md §4)::

    S_t = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,      o_t = S_tᵀ q_t

with S ∈ R^{d_k×d_v}, unit-norm k_t and β_t ∈ (0, 2): the transition I − β k kᵀ is a generalised
Householder matrix with eigenvalue 1 − β ∈ (−1, 1) along k and 1 elsewhere. β ∈ [0, 1] is the
"unit" eigenvalue range, β ∈ (0, 2) (e.g. ``2·sigmoid``) the "signed" one; β = 2 is a reflection.

Shapes: q, k [B, H, T, d_k], v [B, H, T, d_v], β [B, H, T], optional initial state
S0 [B, H, d_k, d_v]. Every function returns ``(o [B, H, T, d_v], S_T [B, H, d_k, d_v])``.

**Key normalisation.** With ``normalize_k=True`` (the default) k is L2-normalised inside
(differentiably), so raw projections can be passed. With ``normalize_k=False`` k is used as
given: the caller is responsible for unit norm if the Householder reading matters — the
algebra below (and therefore the agreement of the loop and the chunkwise form) holds for any k.
β is never clamped or checked.

**DeltaProduct** (:func:`householder_product_scan`): n_h factors per token; k, v, β carry a
factor axis after T ([B, H, T, n_h, d], β [B, H, T, n_h]). Token t applies
``(I − β_{t,n_h} k k ᵀ) ⋯ (I − β_{t,1} k kᵀ)`` (first factor first) with the matching rank-one
writes, i.e. exactly the delta rule on the interleaved sequence of length n_h·T
(``k.reshape(B, H, T·n_h, d)``), with the output read after each token's last factor.

**Chunkwise form** (Yang et al. 2024, "Parallelizing Linear Transformers with the Delta Rule
over Sequence Length", the WY/UT representation). Write the update as
S_t = S_{t−1} + k_t δ_tᵀ with δ_t = β_t (v_t − S_{t−1}ᵀ k_t). Inside a chunk of C positions
that starts from state S, S_{t−1} = S + Σ_{i<t} k_i δ_iᵀ, so the δ's solve the unit lower
triangular system

    (I + L) Δ = diag(β) (V − K S),   L = tril(diag(β) K Kᵀ, −1)

i.e. Δ = U − W S with W = (I + L)⁻¹ diag(β) K and U = (I + L)⁻¹ diag(β) V (the UT transform,
computed for all chunks at once by one batched triangular solve). Then

    O = Q S + mask(Q Kᵀ) Δ,     S_next = S + Kᵀ Δ

where mask keeps key positions at or before each query's read-out position. Only
Δ_n = U_n − W_n S_n and S_{n+1} = S_n + K_nᵀ Δ_n are sequential over chunks; the output terms
are batched after the loop. The whole chunkwise scan has a hand-written backward
(:class:`_ChunkScan`): it saves the chunk-boundary states, the Δ's and T⁻¹ and runs its own
reverse loop over chunks (two small matmuls per chunk), then the intra-chunk gradients
(Gram matrices, the inverse, masks) as batched matmuls. ``custom_backward=False`` runs the same
forward in plain torch ops and lets autograd differentiate it (the cross-check in the tests).

T need not be a multiple of the chunk: the sequence is padded with β = 0, k = v = q = 0 (an
identity transition and no write), which leaves the state and the real outputs unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from archlab.models.scan_diag import fold_members

__all__ = [
    "delta_rule_chunkwise",
    "delta_rule_reference",
    "householder_product_reference",
    "householder_product_scan",
]

DEFAULT_CHUNK = 32


def _check_shapes(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, n_h: int, s0: Tensor | None) -> None:
    if q.dim() != 4:
        raise ValueError(f"q must be [B, H, T, d_k], got {tuple(q.shape)}")
    b, h, t, dk = q.shape
    if k.shape != (b, h, t, n_h, dk):
        raise ValueError(f"k must be {(b, h, t, n_h, dk)}, got {tuple(k.shape)}")
    if v.shape[:4] != (b, h, t, n_h) or v.dim() != 5:
        raise ValueError(f"v must be {(b, h, t, n_h)} + (d_v,), got {tuple(v.shape)}")
    if beta.shape != (b, h, t, n_h):
        raise ValueError(f"beta must be {(b, h, t, n_h)}, got {tuple(beta.shape)}")
    if s0 is not None and s0.shape != (b, h, dk, v.shape[-1]):
        raise ValueError(f"initial_state must be {(b, h, dk, v.shape[-1])}, got {tuple(s0.shape)}")


def _add_factor_axis(
    k: Tensor, v: Tensor, beta: Tensor, n_h: int, q: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Accept k, v [B, H, T, d] and β [B, H, T] when n_h = 1 (DeltaNet layout)."""
    if n_h == 1 and k.dim() == q.dim() == 4:
        return k.unsqueeze(3), v.unsqueeze(3), beta.unsqueeze(3)
    return k, v, beta


# --------------------------------------------------------------------------------------------
# References: plain loops over time (iterating over unbind, not x[:, t] — see PERF.md).
# --------------------------------------------------------------------------------------------


def householder_product_reference(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    beta: Tensor,
    initial_state: Tensor | None = None,
    *,
    normalize_k: bool = True,
    log_alpha: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """DeltaProduct by its definition: per token, apply the n_h factors in order, then read out.

    k [B, H, T, n_h, d_k], v [B, H, T, n_h, d_v], β [B, H, T, n_h] (n_h inferred from k).
    ``log_alpha`` [B, H, T] (≤ 0): the gated form (Gated DeltaNet / gated DeltaProduct), each
    token first scales the state by α_t = exp(log_alpha_t), then applies its factors.
    """
    if k.dim() != 5:
        raise ValueError(f"k must be [B, H, T, n_h, d_k], got {tuple(k.shape)}")
    n_h = k.shape[3]
    _check_shapes(q, k, v, beta, n_h, initial_state)
    if normalize_k:
        k = F.normalize(k, dim=-1)
    b, h, _, dk = q.shape
    dv = v.shape[-1]
    s = q.new_zeros(b, h, dk, dv) if initial_state is None else initial_state
    outs: list[Tensor] = []
    gates = log_alpha.unbind(2) if log_alpha is not None else [None] * q.shape[2]
    for q_t, k_t, v_t, b_t, g_t in zip(q.unbind(2), k.unbind(2), v.unbind(2), beta.unbind(2), gates,
                                       strict=True):  # fmt: skip
        if g_t is not None:
            s = torch.exp(g_t)[..., None, None] * s
        for k_f, v_f, b_f in zip(k_t.unbind(2), v_t.unbind(2), b_t.unbind(2), strict=True):
            # (I − β k kᵀ) S + β k vᵀ  =  S + β k (v − Sᵀk)ᵀ
            k_s = (k_f.unsqueeze(-2) @ s).squeeze(-2)  # kᵀ S: [B, H, d_v]
            s = s + (b_f[..., None, None] * k_f.unsqueeze(-1)) * (v_f - k_s).unsqueeze(-2)
        outs.append((q_t.unsqueeze(-2) @ s).squeeze(-2))
    return torch.stack(outs, dim=2), s


def delta_rule_reference(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    beta: Tensor,
    initial_state: Tensor | None = None,
    *,
    normalize_k: bool = True,
) -> tuple[Tensor, Tensor]:
    """The delta rule (DeltaNet) as a plain differentiable loop over time. See the module doc."""
    return householder_product_reference(
        q, k.unsqueeze(3), v.unsqueeze(3), beta.unsqueeze(3), initial_state, normalize_k=normalize_k
    )


# --------------------------------------------------------------------------------------------
# Chunkwise form.
# --------------------------------------------------------------------------------------------


def _inter_chunk_forward(
    q: Tensor, k: Tensor, w: Tensor, u: Tensor, a: Tensor, s0: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The sequential part. Shapes: q [G, N, Cq, d_k], k/w [G, N, C, d_k], u [G, N, C, d_v],
    a [G, N, Cq, C] (masked Q Kᵀ), s0 [G, d_k, d_v]. Returns (o, S_N, states S_0..S_{N−1}, Δ).

    Plain torch ops, so it is differentiable by autograd as well (used to cross-check the
    hand-written backward)."""
    s = s0
    states: list[Tensor] = []
    deltas: list[Tensor] = []
    for k_n, w_n, u_n in zip(k.unbind(1), w.unbind(1), u.unbind(1), strict=True):
        states.append(s)
        d = torch.baddbmm(u_n, w_n, s, alpha=-1.0)  # Δ = U − W S
        deltas.append(d)
        s = torch.baddbmm(s, k_n.transpose(1, 2), d)  # S + Kᵀ Δ
    st = torch.stack(states, dim=1)  # [G, N, d_k, d_v]
    dl = torch.stack(deltas, dim=1)  # [G, N, C, d_v]
    o = torch.matmul(q, st) + torch.matmul(a, dl)
    return o, s, st, dl


def _inter_chunk_backward(
    q: Tensor, k: Tensor, w: Tensor, a: Tensor, st: Tensor, dl: Tensor, d_o: Tensor, d_s_last: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Hand-written backward of :func:`_inter_chunk_forward`: (∂q, ∂k, ∂w, ∂u, ∂a, ∂S0).

    Reverse recurrence (G = ∂L/∂S_{n+1} going in):
        ∂Δ_n = A_nᵀ ∂O_n + K_n G
        G   ← G + Q_nᵀ ∂O_n − W_nᵀ ∂Δ_n           (= ∂L/∂S_n)
    and, batched over chunks afterwards: ∂U = ∂Δ, ∂W = −∂Δ S_nᵀ, ∂Q = ∂O S_nᵀ,
    ∂A = ∂O Δ_nᵀ, ∂K = Δ_n (∂L/∂S_{n+1})ᵀ.
    """
    g = torch.zeros_like(st[:, 0]) if d_s_last is None else d_s_last.contiguous()
    at_do = torch.matmul(a.transpose(-1, -2), d_o)  # [G, N, C, d_v]
    qt_do = torch.matmul(q.transpose(-1, -2), d_o)  # [G, N, d_k, d_v]
    n_chunks = k.shape[1]
    d_delta: list[Tensor] = [g] * n_chunks
    g_next: list[Tensor] = [g] * n_chunks
    ks, ws, at_dos, qt_dos = k.unbind(1), w.unbind(1), at_do.unbind(1), qt_do.unbind(1)
    for n in range(n_chunks - 1, -1, -1):
        g_next[n] = g
        dd = torch.baddbmm(at_dos[n], ks[n], g)
        d_delta[n] = dd
        g = torch.baddbmm(g + qt_dos[n], ws[n].transpose(1, 2), dd, alpha=-1.0)
    dd_all = torch.stack(d_delta, dim=1)  # [G, N, C, d_v]
    gn_all = torch.stack(g_next, dim=1)  # [G, N, d_k, d_v]
    st_t = st.transpose(-1, -2)
    d_q = torch.matmul(d_o, st_t)
    d_k = torch.matmul(dl, gn_all.transpose(-1, -2))
    d_w = torch.matmul(dd_all, st_t).neg_()
    d_a = torch.matmul(d_o, dl.transpose(-1, -2))
    return d_q, d_k, d_w, dd_all, d_a, g


def _masks(c: int, cq: int, n_h: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """(strictly-lower C×C mask, Cq×C visibility mask: query i reads keys j < (i + 1)·n_h)."""
    strict_lower = torch.ones(c, c, dtype=torch.bool, device=device).tril(-1)
    pos = torch.arange(c, device=device)
    visible = pos[None, :] < (torch.arange(1, cq + 1, device=device) * n_h)[:, None]
    return strict_lower, visible


def _intra_chunk_forward(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, n_h: int
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The parallel part, all chunks at once: q [G, N, Cq, d_k], k [G, N, C, d_k],
    v [G, N, C, d_v], β [G, N, C, 1]. Returns (T⁻¹, βK, βV, W, U, A) with
    T = I + tril(diag(β) K Kᵀ, −1), [W U] = T⁻¹ [βK βV] and A = mask(Q Kᵀ)."""
    c, cq = k.shape[-2], q.shape[-2]
    strict_lower, visible = _masks(c, cq, n_h, q.device)
    kb = k * beta
    vb = v * beta
    lower = torch.matmul(kb, k.transpose(-1, -2)).masked_fill(~strict_lower, 0.0)
    eye = torch.eye(c, dtype=q.dtype, device=q.device).expand_as(lower)
    # explicit inverse (one solve with C right-hand sides) then two matmuls: faster here than
    # a solve with d_k + d_v right-hand sides
    t_inv = torch.linalg.solve_triangular(lower, eye, upper=False, unitriangular=True)
    w = torch.matmul(t_inv, kb)
    u = torch.matmul(t_inv, vb)
    a = torch.matmul(q, k.transpose(-1, -2)).masked_fill(~visible, 0.0)
    return t_inv, kb, vb, w, u, a


def _chunk_forward(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, s0: Tensor, n_h: int
) -> tuple[Tensor, Tensor]:
    """Whole chunkwise scan in plain torch ops (differentiable by autograd; the cross-check)."""
    _, _, _, w, u, a = _intra_chunk_forward(q, k, v, beta, n_h)
    o, s_last, _, _ = _inter_chunk_forward(q, k, w, u, a, s0)
    return o, s_last


class _ChunkScan(torch.autograd.Function):
    """The chunkwise scan with a hand-written backward for both parts.

    Intra-chunk part, given ∂W, ∂U, ∂A from the inter-chunk backward (M = T⁻¹):
        ∂A ← mask ⊙ ∂A;  ∂Q += ∂A K;  ∂K += ∂Aᵀ Q
        ∂M = ∂W (βK)ᵀ + ∂U (βV)ᵀ;  ∂(βK) = Mᵀ ∂W;  ∂(βV) = Mᵀ ∂U
        ∂L = −strict_lower ⊙ (Mᵀ ∂M Mᵀ)          (d(T⁻¹) = −T⁻¹ dT T⁻¹)
        ∂(βK) += ∂L K;  ∂K += ∂Lᵀ (βK)
        ∂K += β ∂(βK);  ∂V = β ∂(βV);  ∂β = Σ_d (∂(βK) ⊙ K + ∂(βV) ⊙ V)
    """

    @staticmethod
    def forward(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, s0: Tensor, n_h: int) -> Any:
        t_inv, kb, vb, w, u, a = _intra_chunk_forward(q, k, v, beta, n_h)
        o, s_last, st, dl = _inter_chunk_forward(q, k, w, u, a, s0)
        return o, s_last, (t_inv, kb, vb, w, a, st, dl)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        q, k, v, beta, _, n_h = inputs
        ctx.save_for_backward(q, k, v, beta, *output[2])
        ctx.n_h = n_h
        ctx.mark_non_differentiable(*output[2])

    @staticmethod
    def vmap(info: Any, in_dims: tuple[int | None, ...], *args: Any) -> Any:
        """Under ``torch.func.vmap`` (a stacked ensemble): every (member, batch, head) row is an
        independent scan, so the members fold into the leading dimension and one scan runs."""
        size = info.batch_size
        *tensors, n_h = args
        folded = (fold_members(x, d, size) for x, d in zip(tensors, in_dims, strict=False))
        o, s_last, saved = _ChunkScan.apply(*folded, n_h)

        def unfold(x: Tensor) -> Tensor:
            return x.view(size, -1, *x.shape[1:])

        return (unfold(o), unfold(s_last), tuple(unfold(x) for x in saved)), (0, 0, tuple(0 for _ in saved))

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        d_o, d_s_last = grads[:2]
        q, k, v, beta, t_inv, kb, vb, w, a, st, dl = ctx.saved_tensors
        if d_o is None:
            d_o = q.new_zeros((*q.shape[:-1], dl.shape[-1]))
        # incoming grads can be expanded (stride 0, e.g. from .sum()); bmm on such a batch
        # layout falls back to one small GEMM per matrix
        d_o = d_o.contiguous()
        d_q, d_k, d_w, d_u, d_a, d_s0 = _inter_chunk_backward(q, k, w, a, st, dl, d_o, d_s_last)
        strict_lower, visible = _masks(k.shape[-2], q.shape[-2], ctx.n_h, q.device)
        d_a.masked_fill_(~visible, 0.0)
        d_q = d_q + torch.matmul(d_a, k)
        d_k = d_k + torch.matmul(d_a.transpose(-1, -2), q)
        t_inv_t = t_inv.transpose(-1, -2)
        d_m = torch.matmul(d_w, kb.transpose(-1, -2)) + torch.matmul(d_u, vb.transpose(-1, -2))
        d_kb = torch.matmul(t_inv_t, d_w)
        d_vb = torch.matmul(t_inv_t, d_u)
        d_l = torch.matmul(torch.matmul(t_inv_t, d_m), t_inv_t).masked_fill_(~strict_lower, 0.0)
        d_kb = d_kb.sub_(torch.matmul(d_l, k))
        d_k = d_k.sub_(torch.matmul(d_l.transpose(-1, -2), kb)).add_(d_kb * beta)
        d_beta = (d_kb * k).sum(-1, keepdim=True) + (d_vb * v).sum(-1, keepdim=True)
        d_v = d_vb.mul_(beta)
        return d_q, d_k, d_v, d_beta, d_s0, None


def _chunked(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, n_h: int, chunk_size: int, log_alpha: Tensor | None = None
) -> tuple[list[Tensor], int]:
    """The chunk layout both chunkwise forms run on: q [G, N, Cq, d_k]; k [G, N, C, d_k],
    v [G, N, C, d_v], β [G, N, C, 1] interleaved (C = Cq·n_h); with ``log_alpha`` [B, H, T] also
    the per-position log gate [G, N, C], on each token's first factor (the gate is applied once
    per token). T is padded to whole chunks with q = k = v = 0, β = 0, log α = 0 (an identity step
    that writes nothing). Returns the tensors and Cq (tokens per chunk)."""
    b, h, t, dk = q.shape
    dv = v.shape[-1]
    g = b * h
    cq = max(1, chunk_size // n_h)  # tokens per chunk
    c = cq * n_h  # interleaved positions per chunk
    n_chunks = -(-t // cq)
    pad = n_chunks * cq - t  # tokens of padding (n_h interleaved positions each)
    flat = [
        q.reshape(g, t, dk),
        k.reshape(g, t * n_h, dk),
        v.reshape(g, t * n_h, dv),
        beta.reshape(g, t * n_h, 1),
    ]
    if log_alpha is not None:
        flat.append(F.pad(log_alpha.reshape(g, t, 1), (0, n_h - 1)).reshape(g, t * n_h, 1))
    if pad:
        flat = [F.pad(x, (0, 0, 0, pad if i == 0 else pad * n_h)) for i, x in enumerate(flat)]  # q: tokens
    sizes = [cq] + [c] * (len(flat) - 1)
    out = [x.reshape(g, n_chunks, size, x.shape[-1]) for x, size in zip(flat, sizes, strict=True)]
    if log_alpha is not None:
        out[-1] = out[-1].squeeze(-1)
    return out, cq


def _unchunked(o: Tensor, s_last: Tensor, q: Tensor, dv: int) -> tuple[Tensor, Tensor]:
    """Outputs [G, N, Cq, d_v] and the final state back to [B, H, T, d_v] and [B, H, d_k, d_v]."""
    b, h, t, dk = q.shape
    o = o.reshape(b * h, -1, dv)[:, :t]
    return o.reshape(b, h, t, dv), s_last.reshape(b, h, dk, dv)


def _chunk_scan(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    beta: Tensor,
    s0: Tensor | None,
    n_h: int,
    chunk_size: int,
    custom_backward: bool,
) -> tuple[Tensor, Tensor]:
    """q [B, H, T, d_k]; k, v, β with the factor axis [B, H, T, n_h, ...] (k already normalised)."""
    b, h, _, dk = q.shape
    dv = v.shape[-1]
    (qc, kc, vc, bc), _ = _chunked(q, k, v, beta, n_h, chunk_size)
    s_init = q.new_zeros(b * h, dk, dv) if s0 is None else s0.reshape(b * h, dk, dv)
    if custom_backward:
        o, s_last, _ = _ChunkScan.apply(qc, kc, vc, bc, s_init, n_h)
    else:
        o, s_last = _chunk_forward(qc, kc, vc, bc, s_init, n_h)
    return _unchunked(o, s_last, q, dv)


def _gated_chunk_scan(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, log_alpha: Tensor, s0: Tensor | None, n_h: int,
    chunk_size: int,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """The gated delta rule / gated DeltaProduct (Yang, Kautz & Hatamizadeh 2025, arXiv 2412.06464,
    §3; the gate once per token as in gated DeltaProduct) in WY/UT chunkwise form::

        S_t = α_t (I − β_{t,n_h} k kᵀ) ⋯ (I − β_{t,1} k kᵀ) S_{t−1} + (the n_h writes)

    On the interleaved sequence the gate sits on each token's first factor (α commutes with the
    factors). With g the in-chunk cumulative sum of log α (inclusive) and Γ_ij = exp(g_i − g_j),
    δ_t = β_t (v_t − α_t S_{t−1}ᵀ k_t) solves

        (I + tril(diag(β) (Γ ⊙ K Kᵀ), −1)) Δ = diag(β) V − diag(β e^g) K S

    so W = T⁻¹ diag(β e^g) K, U = T⁻¹ diag(β) V, Δ = U − W S, the outputs are
    O = diag(e^g) Q S + (mask ⊙ Γ ⊙ Q Kᵀ) Δ and S_next = e^{g_C} S + (Γ_C· ⊙ K)ᵀ Δ. Plain torch ops,
    differentiated by autograd. Shapes as :func:`householder_product_scan`, log α [B, H, T]."""
    b, h, _, dk = q.shape
    dv = v.shape[-1]
    g = b * h
    (qc, kc, vc, bc, la), cq = _chunked(q, k, v, beta, n_h, chunk_size, log_alpha)
    c = cq * n_h
    gc = la.cumsum(-1)  # [G, N, C]

    strict_lower, visible = _masks(c, cq, n_h, q.device)
    diff = gc.unsqueeze(-1) - gc.unsqueeze(-2)  # g_i − g_j
    on_or_below = torch.ones(c, c, dtype=torch.bool, device=q.device).tril()
    gamma = torch.exp(diff.masked_fill(~on_or_below, float("-inf")))  # Γ_ij for i ≥ j, else 0
    eg = torch.exp(gc).unsqueeze(-1)  # [G, N, C, 1]
    lower = (torch.matmul(kc * bc, kc.transpose(-1, -2)) * gamma).masked_fill(~strict_lower, 0.0)
    eye = torch.eye(c, dtype=q.dtype, device=q.device).expand_as(lower)
    t_inv = torch.linalg.solve_triangular(lower + eye, eye, upper=False, unitriangular=True)
    w = torch.matmul(t_inv, kc * (bc * eg))
    u = torch.matmul(t_inv, vc * bc)
    read = torch.arange(1, cq + 1, device=q.device) * n_h - 1  # position of each token's read-out
    a = (torch.matmul(qc, kc.transpose(-1, -2)) * gamma[:, :, read]).masked_fill(~visible, 0.0)
    eg_read = eg[:, :, read]  # [G, N, Cq, 1]
    to_end = gamma[:, :, -1].unsqueeze(-1)  # [G, N, C, 1]: Γ from each position to the chunk end

    s = q.new_zeros(g, dk, dv) if s0 is None else s0.reshape(g, dk, dv)
    states, deltas = [], []
    k_end = (kc * to_end).transpose(-1, -2)  # [G, N, d_k, C]
    # unbind, not [:, n]: the backward of each index would fill a whole-size zero tensor
    for u_n, w_n, ke_n, eg_n in zip(u.unbind(1), w.unbind(1), k_end.unbind(1), eg[:, :, -1:].unbind(1),
                                    strict=True):  # fmt: skip
        states.append(s)
        d = u_n - torch.matmul(w_n, s)
        deltas.append(d)
        s = eg_n * s + torch.matmul(ke_n, d)
    st, dl = torch.stack(states, dim=1), torch.stack(deltas, dim=1)
    o = eg_read * torch.matmul(qc, st) + torch.matmul(a, dl)
    return _unchunked(o, s, q, dv)


def householder_product_scan(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    beta: Tensor,
    n_h: int,
    initial_state: Tensor | None = None,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    normalize_k: bool = True,
    custom_backward: bool = True,
    log_alpha: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """DeltaProduct with n_h Householder factors per token, chunkwise (fast) form.

    k [B, H, T, n_h, d_k], v [B, H, T, n_h, d_v], β [B, H, T, n_h] in (0, 2); for n_h = 1 the
    DeltaNet layout (no factor axis) is accepted too. ``chunk_size`` counts interleaved
    positions; a chunk holds ``max(1, chunk_size // n_h)`` tokens. ``custom_backward=False``
    differentiates the chunk loop with autograd instead (slower; kept for cross-checks).
    ``log_alpha`` [B, H, T]: the gated form (see :func:`_gated_chunk_scan`; autograd only).
    Returns (o [B, H, T, d_v], S_T [B, H, d_k, d_v]).
    """
    if n_h < 1:
        raise ValueError(f"n_h must be >= 1, got {n_h}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    k, v, beta = _add_factor_axis(k, v, beta, n_h, q)
    _check_shapes(q, k, v, beta, n_h, initial_state)
    if normalize_k:
        k = F.normalize(k, dim=-1)
    if log_alpha is not None:
        if log_alpha.shape != q.shape[:3]:
            raise ValueError(f"log_alpha must be {tuple(q.shape[:3])}, got {tuple(log_alpha.shape)}")
        return _gated_chunk_scan(q, k, v, beta, log_alpha, initial_state, n_h, chunk_size)
    return _chunk_scan(q, k, v, beta, initial_state, n_h, chunk_size, custom_backward)


def delta_rule_chunkwise(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    beta: Tensor,
    initial_state: Tensor | None = None,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    normalize_k: bool = True,
    custom_backward: bool = True,
) -> tuple[Tensor, Tensor]:
    """The delta rule (DeltaNet), chunkwise WY/UT form: k, q [B, H, T, d_k], v [B, H, T, d_v],
    β [B, H, T]. Same result as :func:`delta_rule_reference`."""
    return householder_product_scan(
        q,
        k,
        v,
        beta,
        1,
        initial_state,
        chunk_size=chunk_size,
        normalize_k=normalize_k,
        custom_backward=custom_backward,
    )
