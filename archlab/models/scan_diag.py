"""Diagonal linear recurrence ``h_t = a_t ⊙ h_{t−1} + b_t``: a fast chunked scan and its reference.

The recurrence is the core of every diagonal linear RNN / SSM mixer (Mamba-style selective scans,
LRU, the signed-diagonal models of THEORY.md §4). ``a`` may have any sign (eigenvalues in [−1, 1],
needed for parity) or be complex (rotations, needed for Z_m), so the closed form through a
cumulative sum of ``log a`` is not used: it overflows in fp32 and loses signs. The scan multiplies
``(a, b)`` pairs directly instead.

Fast path (:func:`diag_scan`) — a two-level chunked scan with a hand-written backward:

1. **Chunk summaries.** Time is cut into ``NC`` chunks of ``C`` steps. One loop over the ``C``
   positions inside a chunk advances all chunks at once: step ``c`` touches the strided view
   ``x[:, c::C]`` (``B × NC × D`` elements, each row contiguous), computing every chunk's end state
   from a zero start, ``E_k``, and its transition product ``P_k = Π a``.
2. **Carry.** A short loop over chunks, ``H_{k+1} = P_k ⊙ H_k + E_k`` (``H_0 = h0``), gives every
   chunk's true start state.
3. **Recompute.** The same loop over ``c`` runs again from the true start states and writes ``h``.

Step 3 recomputes instead of correcting a stored local scan (``h = h_loc + cumprod(a) ⊙ H``),
which would cost an extra read and write of the whole sequence. The whole forward reads ``a`` and
``b`` twice and writes ``h`` once; Python loops ``2C + NC`` times (``C ≈ 2√T``), each step an
elementwise op on ``B·NC·D`` numbers. The backward is the same recurrence run in reverse,
``g_t = ∂L/∂h_t + a_{t+1} g_{t+1}``, by the same three steps, with ``∂L/∂b_t = g_t``,
``∂L/∂a_t = g_t h_{t−1}`` (one elementwise op after the scan) and ``∂L/∂h0 = a_1 g_1``; for
complex inputs ``a``, ``h`` and ``h0`` enter conjugated (torch's convention for complex gradients).
Memory traffic, in whole [B, T, D] tensors: forward 5 (the bare recurrence needs 3), backward
2 + 3 + 3 = 8 (needs 5).

No custom kernels: plain torch ops, so it runs wherever the inputs live (CPU or CUDA).
"""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["auto_chunk", "diag_scan", "diag_scan_reference"]


def auto_chunk(seq_len: int) -> int:
    """Default chunk length for ``seq_len`` steps: near ``2√T``, preferring one that divides ``T``.

    The in-chunk passes loop ``C`` times and the carry pass ``T/C`` times; each step is one
    elementwise op on ``B·(T/C)·D`` numbers. Around ``C ≈ 2√T`` the slices are large enough to
    stream at memory speed while the loop count stays small (measured on 2 cores, B = 16, D = 256).
    Steps past the last whole chunk run one at a time, so a divisor of ``T`` within [0.75, 1.5]×
    of the target is preferred.
    """
    target = max(1, round(2 * math.sqrt(seq_len)))
    candidates = range(max(1, (3 * target) // 4), min(seq_len, (3 * target) // 2) + 1)
    return min(candidates, key=lambda c: (seq_len % c, abs(c - target)), default=max(1, min(target, seq_len)))


def _prepare(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    if a.dim() != 3:
        raise ValueError(f"a must have shape [B, T, D], got {tuple(a.shape)}")
    dtype = torch.promote_types(a.dtype, b.dtype)  # (torch.result_type breaks torch.compile graphs)
    if h0 is not None:
        dtype = torch.promote_types(dtype, h0.dtype)
    if not (dtype.is_floating_point or dtype.is_complex):
        raise TypeError(f"diag_scan needs floating or complex inputs, got {dtype}")
    a, b = torch.broadcast_tensors(a.to(dtype), b.to(dtype))
    bsz, _, dim = a.shape
    if h0 is None:
        h0 = a.new_zeros(bsz, dim)
    elif h0.shape != (bsz, dim):
        h0 = h0.to(dtype).expand(bsz, dim)
    return a, b, h0.to(dtype)


def diag_scan_reference(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """The obviously-correct loop: ``h_t = a_t ⊙ h_{t−1} + b_t``, autograd through every step.

    ``a``, ``b``: ``[B, T, D]``; ``h0``: ``[B, D]`` or ``None`` (zeros). Returns ``h``: ``[B, T, D]``.
    Iterates over ``unbind(1)`` (indexing ``x[:, t]`` in the loop makes the backward O(T²)).
    """
    a, b, h = _prepare(a, b, h0)
    out = []
    for a_t, b_t in zip(a.unbind(1), b.unbind(1), strict=True):
        h = a_t * h + b_t
        out.append(h)
    if not out:
        return b.clone()
    return torch.stack(out, dim=1)


def _addcmul_into(out: torch.Tensor, b: torch.Tensor, a: torch.Tensor, prev: torch.Tensor) -> None:
    """``out ← b + a ⊙ prev``. Eager: one pass, written straight into ``out`` (a strided view of
    ``h``). Under ``torch.compile``, which refuses a non-contiguous ``out=`` (a graph break per
    call), the same value through a temporary and a copy, which the compiler fuses."""
    if torch.compiler.is_compiling():
        out.copy_(torch.addcmul(b, a, prev))
    else:
        torch.addcmul(b, a, prev, out=out)


def _mul_into(out: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> None:
    """``out ← x ⊙ y`` (as :func:`_addcmul_into`)."""
    if torch.compiler.is_compiling():
        out.copy_(x * y)
    else:
        torch.mul(x, y, out=out)


def _chunks(x: torch.Tensor, chunk: int) -> tuple[torch.Tensor, ...]:
    """Views ``x[:, c::C]`` (``[B, NC, D]``, c = 0 … C − 1) of the first ``NC·C`` steps of ``x``."""
    bsz, seq_len, dim = x.shape
    nc = seq_len // chunk
    return x[:, : nc * chunk].view(bsz, nc, chunk, dim).unbind(2)


def _shifted(x: torch.Tensor, chunk: int, nc: int) -> torch.Tensor:
    """The ``[B, nc, D]`` view of steps ``(k + 1)·C`` (the step after each chunk), ``k < nc``."""
    return x[:, chunk::chunk][:, :nc]


def _forward(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor, chunk: int) -> torch.Tensor:
    """The chunked forward on contiguous ``a``, ``b`` (no autograd).

    The first ``NC·C`` steps run as ``NC`` chunks of ``C``; the ``T mod C`` steps after them
    (the tail) run as a plain loop from the last chunk's end state.
    """
    bsz, seq_len, dim = a.shape
    chunk = min(chunk, seq_len)
    nc = seq_len // chunk
    h = torch.empty_like(b)
    a_c, b_c, h_c = _chunks(a, chunk), _chunks(b, chunk), _chunks(h, chunk)
    # 1. chunk summaries: every chunk's end state from a zero start, and its product of a
    starts = torch.empty(bsz, nc, dim, dtype=a.dtype, device=a.device)
    starts[:, 0] = h0
    if nc > 1:
        end, prod = b_c[0].clone(), a_c[0].clone()
        for a_t, b_t in zip(a_c[1:], b_c[1:], strict=True):
            _addcmul_into(end, b_t, a_t, end)
            prod.mul_(a_t)
        # 2. carry across chunks: start(k+1) = prod(k) ⊙ start(k) + end(k)
        s = starts.unbind(1)
        for k, (p_k, e_k) in enumerate(zip(prod.unbind(1)[:-1], end.unbind(1)[:-1], strict=True)):
            _addcmul_into(s[k + 1], e_k, p_k, s[k])
    # 3. recompute every chunk from its true start state, writing h
    prev = starts
    for a_t, b_t, h_t in zip(a_c, b_c, h_c, strict=True):
        _addcmul_into(h_t, b_t, a_t, prev)
        prev = h_t
    # tail
    prev = h[:, nc * chunk - 1]
    for a_t, b_t, h_t in zip(
        a[:, nc * chunk :].unbind(1), b[:, nc * chunk :].unbind(1), h[:, nc * chunk :].unbind(1), strict=True
    ):
        _addcmul_into(h_t, b_t, a_t, prev)
        prev = h_t
    return h


def _backward(
    grad_h: torch.Tensor, a: torch.Tensor, h: torch.Tensor, h0: torch.Tensor, chunk: int, need_a: bool
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Reverse scan ``g_t = grad_h_t + a_{t+1} g_{t+1}``; returns ``(grad_b = g, grad_a, grad_h0)``.

    For complex inputs the caller passes ``conj(a)``, ``conj(h)``, ``conj(h0)``. Same chunk grid as
    :func:`_forward`; the tail runs first (right to left) and gives the last chunk its successor.
    """
    bsz, seq_len, dim = a.shape
    chunk = min(chunk, seq_len)
    nc = seq_len // chunk
    main = nc * chunk
    grad_b = torch.empty_like(grad_h)
    # tail, right to left
    nxt = torch.empty(bsz, nc, dim, dtype=a.dtype, device=a.device)  # nxt[:, k] = g at step (k+1)·C
    if main < seq_len:
        grad_b[:, -1] = grad_h[:, -1]
        succ = grad_b[:, -1]
        for gh_t, a_t, g_t in zip(
            grad_h[:, main:-1].unbind(1)[::-1],
            a[:, main + 1 :].unbind(1)[::-1],
            grad_b[:, main:-1].unbind(1)[::-1],
            strict=True,
        ):
            _addcmul_into(g_t, gh_t, a_t, succ)
            succ = g_t
        nxt[:, -1] = grad_b[:, main]
        a_last = _shifted(a, chunk, nc)  # every chunk has a successor step
    else:
        nxt[:, -1] = 0
        a_last = torch.cat([_shifted(a, chunk, nc - 1), a.new_zeros(bsz, 1, dim)], dim=1)
    gh_c, a_c, gb_c = _chunks(grad_h, chunk), _chunks(a, chunk), _chunks(grad_b, chunk)
    a_next = (*a_c[1:], a_last)  # a_{t+1} for offsets c = 0 … C − 1
    # 1. chunk summaries (right to left): g at each chunk's start with a zero successor state,
    #    and the product of the a_{t+1} over the chunk
    if nc > 1:
        loc = gh_c[-1].clone()
        prod = a_last.clone()
        for gh_t, an_t in zip(gh_c[-2::-1], a_next[-2::-1], strict=True):
            _addcmul_into(loc, gh_t, an_t, loc)
            prod.mul_(an_t)
        # 2. carry, right to left: start(k) = loc(k) + prod(k) ⊙ start(k+1); nxt[:, k−1] = start(k)
        s = nxt.unbind(1)
        for k in range(nc - 1, 0, -1):
            _addcmul_into(s[k - 1], loc[:, k], prod[:, k], s[k])
    # 3. recompute g from each chunk's true successor state
    prev = nxt
    for gh_t, an_t, g_t in zip(gh_c[::-1], a_next[::-1], gb_c[::-1], strict=True):
        _addcmul_into(g_t, gh_t, an_t, prev)
        prev = g_t
    grad_a = None
    if need_a:
        # one contiguous op after the scan: measured as fast as fusing it into step 3 per offset
        # (C fewer ops, and on a busy 2-core machine every parallel op risks a scheduler stall)
        grad_a = torch.empty_like(grad_h)
        _mul_into(grad_a[:, 1:], grad_b[:, 1:], h[:, :-1])
        _mul_into(grad_a[:, 0], grad_b[:, 0], h0)
    grad_h0 = grad_b[:, 0] * a[:, 0]
    return grad_b, grad_a, grad_h0


def fold_members(x: torch.Tensor, dim: int | None, size: int) -> torch.Tensor:
    """``x`` with its vmapped dimension ``dim`` (None: not vmapped, broadcast to ``size``) folded into
    its leading (batch) dimension: how the scans' vmap rules run a stacked ensemble as one batch."""
    x = x.movedim(dim, 0) if dim is not None else x.expand(size, *x.shape)
    return x.reshape(size * x.shape[1], *x.shape[2:])


class _DiagScan(torch.autograd.Function):
    @staticmethod
    def forward(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor, chunk: int) -> torch.Tensor:
        """``a``, ``b``, ``h0`` contiguous (:func:`diag_scan` and the vmap rule make them so, once:
        the backward reuses the saved tensors)."""
        return _forward(a, b, h0, chunk)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        a, _, h0, chunk = inputs
        ctx.save_for_backward(a, output, h0)
        ctx.chunk = chunk

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_h: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        a, h, h0 = ctx.saved_tensors
        if a.is_complex():
            a, h, h0 = (x.conj().resolve_conj() for x in (a, h, h0))
        need_a, need_b, _, _ = ctx.needs_input_grad
        grad_b, grad_a, grad_h0 = _backward(grad_h.contiguous(), a, h, h0, ctx.chunk, need_a)
        return grad_a, grad_b if need_b else None, grad_h0, None

    @staticmethod
    def vmap(info: Any, in_dims: tuple[int | None, ...], a: torch.Tensor, b: torch.Tensor,
             h0: torch.Tensor, chunk: int) -> tuple[torch.Tensor, int]:  # fmt: skip
        """Under ``torch.func.vmap`` (a stacked ensemble, :mod:`archlab.ensemble`): the rows of
        every member are independent recurrences, so the members fold into the batch and one scan
        runs over all of them."""
        k = info.batch_size
        folded = (fold_members(x, d, k).contiguous() for x, d in zip((a, b, h0), in_dims[:3], strict=True))
        h = _DiagScan.apply(*folded, chunk)
        return h.view(k, -1, *h.shape[1:]), 0


def diag_scan(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None, *, chunk: int | None = None
) -> torch.Tensor:
    """Diagonal linear recurrence ``h_t = a_t ⊙ h_{t−1} + b_t`` by a chunked two-level scan.

    ``a``, ``b``: ``[B, T, D]``, real (any sign) or complex; ``h0``: ``[B, D]`` or ``None`` (zeros).
    Returns ``h``: ``[B, T, D]``, differentiable in ``a``, ``b`` and ``h0`` through a hand-written
    backward (first order only). ``chunk``: steps per chunk, default :func:`auto_chunk`.
    Values match :func:`diag_scan_reference` up to rounding (products are associated differently).
    """
    a, b, h0 = _prepare(a, b, h0)
    seq_len = a.shape[1]
    if seq_len == 0:
        return b.clone()
    if chunk is None:
        chunk = auto_chunk(seq_len)
    if chunk < 1:
        raise ValueError(f"chunk must be ≥ 1, got {chunk}")
    return _DiagScan.apply(a.contiguous(), b.contiguous(), h0.contiguous(), chunk)
