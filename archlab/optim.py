"""AdamW and gradient clipping for one model or a stacked ensemble of ``K`` members.

``torch.optim.AdamW`` is the reference, but it is not used: its constructor imports
``torch._dynamo`` (``Optimizer.add_param_group`` is wrapped by ``torch._disable_dynamo``), which
costs 1–4 s per process — a third of a 20-step trial — and it takes one learning rate per
parameter group, where a stacked ensemble (:mod:`archlab.ensemble`) trains members with
different learning rates in the same tensor. :class:`AdamW` is the same update (Loshchilov &
Hutter 2019, decoupled weight decay, as ``torch.optim.AdamW`` with ``amsgrad=False``; the tests
compare the two step by step)::

    p ← p · (1 − lr·λ)
    m ← β₁ m + (1 − β₁) g;   v ← β₂ v + (1 − β₂) g²
    p ← p − lr / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)

With ``members=K`` every tensor has the members on dimension 0 and ``lr`` is a ``[K]`` tensor
(or a float for all). :func:`clip_grad_norm` clips each member's gradient to its own global norm,
as ``torch.nn.utils.clip_grad_norm_`` does for one model (``coef = min(1, max / (‖g‖ + 10⁻⁶))``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["AdamW", "clip_grad_norm"]


class AdamW:
    """Decoupled-weight-decay Adam over ``params``; ``decay[i]`` says whether ``params[i]`` decays."""

    def __init__(
        self,
        params: Sequence[Tensor],
        decay: Sequence[bool],
        weight_decay: float,
        *,
        members: int | None = None,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        if len(params) != len(decay):
            raise ValueError(f"{len(params)} parameters but {len(decay)} decay flags")
        self.params = list(params)
        self.decay = list(decay)
        self.weight_decay = weight_decay
        self.members = members
        self.betas = betas
        self.eps = eps
        self.steps = 0
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    @classmethod
    def decaying_matrices(
        cls, params: Sequence[Tensor], weight_decay: float, members: int | None = None
    ) -> AdamW:
        """Weight decay on matrices and filters only (≥ 2 dimensions per model; a stack's tensors
        carry one more, the members), none on biases, norms and initial states."""
        lead = 0 if members is None else 1
        params = list(params)
        return cls(params, [p.dim() >= 2 + lead for p in params], weight_decay, members=members)

    def _per_member(self, value: float | Tensor, like: Tensor) -> float | Tensor:
        if isinstance(value, Tensor) and self.members is not None:
            return value.to(like.dtype).view(-1, *([1] * (like.dim() - 1)))
        return value

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, lr: float | Tensor) -> None:
        """One update with learning rate ``lr`` (a ``[K]`` tensor: one per member)."""
        self.steps += 1
        b1, b2 = self.betas
        bc1 = 1 - b1**self.steps
        bc2_sqrt = math.sqrt(1 - b2**self.steps)
        for p, m, v, decays in zip(self.params, self.exp_avg, self.exp_avg_sq, self.decay, strict=True):
            if p.grad is None:
                continue
            g = p.grad
            rate = self._per_member(lr, p)
            if decays and self.weight_decay:
                p.mul_(1 - rate * self.weight_decay)
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v.sqrt() / bc2_sqrt).add_(self.eps)
            if isinstance(rate, Tensor):
                p.sub_(m / denom * (rate / bc1))
            else:
                p.addcdiv_(m, denom, value=-rate / bc1)

    def keep(self, index: Tensor, params: Sequence[Tensor]) -> None:
        """Members ``index`` stay (a stacked ensemble dropped the others): slice the moments and
        take ``params`` (the sliced parameters) as the tensors to update."""
        self.params = list(params)
        self.exp_avg = [m[index] for m in self.exp_avg]
        self.exp_avg_sq = [v[index] for v in self.exp_avg_sq]
        self.members = int(index.numel())


@torch.no_grad()
def clip_grad_norm(params: Sequence[Tensor], max_norm: float, members: int) -> Tensor:
    """Clip each member's gradient (dimension 0 of every tensor) to global norm ``max_norm``;
    returns the ``[K]`` norms before clipping."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(members)
    sq = torch.stack([g.reshape(members, -1).float().square().sum(1) for g in grads]).sum(0)
    norms = sq.sqrt()
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.to(g.dtype).view(-1, *([1] * (g.dim() - 1))))
    return norms
