"""Mamba-1's selective scan in pure PyTorch, chunked in time with a hand-written backward.

Per batch element, channel d and state index n (Gu & Dao 2023, Algorithm 2)::

    h_t = ā_t ⊙ h_{t−1} + Δ_t x_t B_t,     ā_t = exp(Δ_t A)   (signed: 2·exp(Δ_t A) − 1)
    y_t = Σ_n C_t h_t

The state has d_inner × d_state numbers per sequence — 8 192 for width 256 — so materialising
ā, the writes and h for the whole sequence ([B, T, D, N], half a GiB each at B 16, T 1024) costs
more memory traffic than it saves. This function computes them step by step, as mamba-ssm's
kernel does on a GPU, without autograd's per-step bookkeeping: the forward keeps only every
C-th state (C = 64); the backward recomputes one chunk's states from its start, runs the reverse
recurrence ``g_t = C_t ∂y_t + ā_{t+1} ⊙ g_{t+1}`` over it and forms the gradients step by step::

    ∂ā = g ⊙ h_{t−1},  ∂(Δx) = Σ_n g B,  ∂B = Σ_d g Δx,  ∂C = Σ_d ∂y h,
    ∂(ΔA) = ∂ā ⊙ exp(ΔA) (× 2 signed),  ∂Δ = Σ_n ∂(ΔA) A + ∂(Δx) x,  ∂A = Σ ∂(ΔA) Δ,  ∂x = ∂(Δx) Δ

Keeping every state instead (2 × [T, B, D, N]) was tried and was no faster on 2 cores. Memory
beyond the inputs: T/C + C states per sequence.

The reference (the per-step autograd loop in :class:`~archlab.models.ssm.Mamba`) is held equal
to it, outputs and gradients, by the registry-wide tests.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from archlab.models.scan_diag import fold_members

__all__ = ["selective_scan"]

DEFAULT_CHUNK = 64


def _step(dt_t: Tensor, u_t: Tensor, b_t: Tensor, a: Tensor, signed: bool) -> tuple[Tensor, Tensor, Tensor]:
    """(exp(Δ_t A), ā_t, the write Δ_t x_t B_t) of one step, each [B, D, N]."""
    e = (dt_t.unsqueeze(-1) * a).exp_()
    return e, (2 * e - 1 if signed else e), u_t.unsqueeze(-1) * b_t.unsqueeze(1)


class _SelectiveScan(torch.autograd.Function):
    @staticmethod
    def forward(x: Tensor, dt: Tensor, a: Tensor, b: Tensor, c: Tensor, h0: Tensor, signed: bool,
                chunk: int) -> Any:  # fmt: skip
        h = h0
        starts, ys = [], []
        u = dt * x
        for i, (dt_t, u_t, b_t, c_t) in enumerate(zip(dt.unbind(1), u.unbind(1), b.unbind(1), c.unbind(1),
                                                      strict=True)):  # fmt: skip
            if i % chunk == 0:
                starts.append(h)
            _, trans, write = _step(dt_t, u_t, b_t, a, signed)
            h = torch.addcmul(write, trans, h)
            ys.append(torch.bmm(h, c_t.unsqueeze(-1)))  # Σ_n h C: [B, D, 1]
        return torch.stack(ys, dim=1).squeeze(-1), torch.stack(starts), h

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        x, dt, a, b, c, _, signed, chunk = inputs
        ctx.save_for_backward(x, dt, a, b, c, output[1])
        ctx.signed, ctx.chunk = signed, chunk
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gy: Tensor, _g_starts: Any, g_last: Tensor) -> Any:
        x, dt, a, b, c, starts = ctx.saved_tensors
        signed, chunk = ctx.signed, ctx.chunk
        t = x.shape[1]
        u = dt * x
        gy = gy.contiguous()
        gu, gb, gc = torch.empty_like(x), torch.empty_like(b), torch.empty_like(c)
        g_dta_a = torch.empty_like(x)  # Σ_n ∂(ΔA) A
        acc = torch.zeros_like(starts[0])  # Σ over steps of ∂(ΔA) Δ, per sequence
        carry = g_last  # ∂L/∂h_s from after step s: ā_{s+1} ⊙ g_{s+1}, at first the final state's
        for k in range(len(starts) - 1, -1, -1):
            lo, hi = k * chunk, min(t, (k + 1) * chunk)
            hs, es = [starts[k]], []  # recompute the chunk's states from its start
            for s in range(lo, hi):
                e, trans, write = _step(dt[:, s], u[:, s], b[:, s], a, signed)
                es.append(e)
                hs.append(torch.addcmul(write, trans, hs[-1]))
            for i in range(hi - lo - 1, -1, -1):
                s = lo + i
                e = es[i]
                gin = gy[:, s].unsqueeze(-1) * c[:, s].unsqueeze(1)
                g = gin.add_(carry)
                carry = (2 * e - 1 if signed else e) * g
                gc[:, s] = torch.bmm(gy[:, s].unsqueeze(1), hs[i + 1]).squeeze(1)  # Σ_d ∂y h
                gu[:, s] = torch.bmm(g, b[:, s].unsqueeze(-1)).squeeze(-1)  # Σ_n g B
                gb[:, s] = torch.bmm(u[:, s].unsqueeze(1), g).squeeze(1)  # Σ_d g Δx
                g_dta = (g * hs[i]).mul_(e)  # ∂(ΔA) = g ⊙ h_{t−1} ⊙ exp(ΔA)
                if signed:
                    g_dta.mul_(2)
                g_dta_a[:, s] = (g_dta * a).sum(-1)
                acc.addcmul_(g_dta, dt[:, s].unsqueeze(-1))
        gdt = g_dta_a + gu * x
        gx = gu * dt
        ga = acc.sum(0) if a.dim() == 2 else acc
        return gx, gdt, ga, gb, gc, carry, None, None

    @staticmethod
    def vmap(info: Any, in_dims: tuple[int | None, ...], x: Tensor, dt: Tensor, a: Tensor, b: Tensor,
             c: Tensor, h0: Tensor, signed: bool, chunk: int) -> Any:  # fmt: skip
        """Under ``torch.func.vmap`` (a stacked ensemble): the members fold into the batch, and A —
        one per member — is repeated for each of its member's sequences ([K·B, D, N])."""
        k = info.batch_size
        xf, dtf, bf, cf, hf = (fold_members(v, d, k) for v, d in zip((x, dt, b, c, h0),
                                                                      in_dims[:2] + in_dims[3:6],
                                                                      strict=True))  # fmt: skip
        per = xf.shape[0] // k
        ak = a.movedim(in_dims[2], 0) if in_dims[2] is not None else a.expand(k, *a.shape)
        af = ak.repeat_interleave(per, dim=0) if ak.dim() == 3 else ak.reshape(k * per, *ak.shape[2:])
        y, starts, last = _SelectiveScan.apply(xf.contiguous(), dtf.contiguous(), af, bf.contiguous(),
                                               cf.contiguous(), hf.contiguous(), signed, chunk)  # fmt: skip
        out = (y.view(k, per, *y.shape[1:]), starts.view(starts.shape[0], k, per, *starts.shape[2:]),
               last.view(k, per, *last.shape[1:]))  # fmt: skip
        return out, (0, 1, 0)


def selective_scan(
    x: Tensor,
    dt: Tensor,
    a: Tensor,
    b: Tensor,
    c: Tensor,
    *,
    signed: bool = False,
    chunk: int = DEFAULT_CHUNK,
    h0: Tensor | None = None,
    return_state: bool = False,
) -> Any:
    """``y_t = Σ_n C_t h_t`` of the selective scan (module doc), without the D skip.

    x, dt [B, T, D] (Δ after its softplus), a [D, N] (A, negative; or one per sequence,
    [B, D, N]), b, c [B, T, N] → y [B, T, D].
    ``signed``: Grazzi et al.'s transition 2·exp(ΔA) − 1. ``h0`` [B, D, N]: the state before
    the first step (None: zeros); ``return_state``: return ``(y, h_T)``. Differentiable in x, Δ,
    A, B, C and h0.
    """
    bsz, t, d = x.shape
    start = x.new_zeros(bsz, d, a.shape[-1]) if h0 is None else h0
    if t == 0:
        y0 = x.new_zeros(x.shape)
        return (y0, start) if return_state else y0
    y, _, last = _SelectiveScan.apply(x.contiguous(), dt.contiguous(), a, b.contiguous(), c.contiguous(),
                                      start.contiguous(), signed, max(1, chunk))  # fmt: skip
    return (y, last) if return_state else y
