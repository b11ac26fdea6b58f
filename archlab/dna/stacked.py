"""A DNA cell's seeds trained together: one stacked model, one step for every seed.

    records = train_dna_cell(dataset, ModelConfig(mixer="diag_rnn", ...), seeds=[0, 1, 2], steps=600)

The DNA counterpart of :func:`archlab.ensemble.train_cell`, with :func:`archlab.dna.train.train_dna`'s
protocol per member: member ``i`` is exactly the run ``train_dna(dataset, model, seed=seeds[i], **kw)``
— its own initial weights, its own epoch permutations and strand flips (its seed's generator), the
same schedule — and its record has that run's keys and content (to fp32 tolerance; tested), plus
``cell`` (members, index, the cell's wall time). What differs is how the work is done: the members'
parameters are stacked and ``torch.func.vmap`` runs one forward and one backward for all of them;
clipping and AdamW are per member; validation predicts every member in one pass (the validation
codes are the same for all); early stopping is per member, and a stopped member leaves the stack.
The final scoring (best weights, valid, test, ``test_long``, constant-output check) is
:func:`~archlab.dna.train.finish_dna` per member, as for a separate run.

DNA codes share one length per dataset, so nothing is padded and non-causal models stack too.
What is not stacked (the members then run one by one with ``train_dna``, and
:func:`dna_stack_support` says why): the DNA-native networks (cnn, pairmap: batch norm keeps
running statistics in place), ``max_time_s`` (a stack shares one clock), and what
:func:`archlab.ensemble.stack_support` refuses (torch.nn's RNNs, fixed-point iteration, ACT,
pruning, dropout).

On 2 CPU cores this does not pay: even one model over a 9× batch is 0.42–0.76× the speed of nine
separate steps at 300 bp (README → Speed → Training cells); it is for GPUs, where these kernels are
launch-bound. ``archlab dna train --stacked`` asks for it.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archlab.atomic import write_json_atomic
from archlab.config import ModelConfig, TrainConfig
from archlab.dna.cnn import revcomp_tokens
from archlab.dna.data import DnaDataset, Split
from archlab.dna.metrics import score
from archlab.dna.train import (
    EVAL_BATCH,
    EVAL_TOKENS,
    DnaTensors,
    ModelSpec,
    RCSiamese,
    Schedule,
    _is_better,
    _lr_at,
    _Tensors,
    build_dna_model,
    dna_record,
    finish_dna,
    train_dna,
)
from archlab.ensemble import StackedModel, cell_entry, retire, stack_support, step_members
from archlab.errors import ConfigError
from archlab.models import SequenceModel, resolve_device
from archlab.optim import AdamW
from archlab.train import ProgressFn

__all__ = ["dna_stack_support", "train_dna_cell"]

#: train_dna's keyword arguments that make a run's ``train`` record, with train_dna's own defaults
TRAIN_KW: dict[str, Any] = {
    name: inspect.signature(train_dna).parameters[name].default
    for name in ("epochs", "steps", "batch", "lr", "weight_decay", "warmup", "min_lr_ratio", "clip",
                 "rc_augment", "rc_average", "early_stop", "patience", "min_steps", "eval_every",
                 "max_time_s")
}  # fmt: skip


def dna_stack_support(model: ModelSpec, max_time_s: float | None = None) -> str | None:
    """None if seeds of ``model`` can train as one stacked DNA cell, else why not."""
    if not isinstance(model, ModelConfig):
        return (
            "DNA networks (cnn, pairmap) are not stacked: batch norm updates its running statistics in place"
        )
    if max_time_s is not None:
        return "max_time_s: the members of a stack share one clock"
    return stack_support(model, TrainConfig(), padded=False)


@dataclass
class _Member:
    index: int
    seed: int
    record: dict[str, Any]
    net: nn.Module
    rng: np.random.Generator
    out_dir: Path | None
    perm: Tensor | None = None
    flips: Tensor | None = None
    best: float = float("nan")
    best_state: dict[str, Tensor] | None = None
    status: str | None = None  # None while training; then ok / diverged
    #: the final state dict once stopped (not kept for a diverged seed)
    state: dict[str, Tensor] | None = None
    steps_done: int = 0


def train_dna_cell(
    dataset: DnaDataset,
    model: ModelSpec,
    seeds: Sequence[int],
    *,
    out_dirs: Sequence[str | os.PathLike[str] | None] | None = None,
    progress: ProgressFn | None = None,
    stacked: bool | None = None,
    holdout: float = 0.1,
    device: str | torch.device = "auto",
    test_long: Sequence[tuple[str, Split, dict[str, Any]]] = (),
    **kw: Any,
) -> list[dict[str, Any]]:
    """``train_dna(dataset, model, seed=s, **kw)`` for every seed ``s``, as one stacked model when
    :func:`dna_stack_support` allows it (``stacked``: None = when allowed and ≥ 2 seeds, False =
    one by one, True = stacked or a ConfigError naming why not). One record per seed."""
    unknown = sorted(set(kw) - set(TRAIN_KW))
    if unknown:
        raise TypeError(f"train_dna_cell got unexpected keyword arguments {unknown}")
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ConfigError("seeds", f"{list(seeds)} must be distinct and at least one")
    dirs = list(out_dirs) if out_dirs is not None else [None] * len(seeds)
    why = dna_stack_support(model, kw.get("max_time_s"))
    if stacked and why:
        raise ConfigError("stacked", f"this DNA cell cannot be trained stacked: {why}")
    common = {"holdout": holdout, "device": device, "test_long": test_long, **kw}
    if why or stacked is False or (stacked is None and len(seeds) < 2):
        return [
            train_dna(dataset, model, seed=s, out_dir=d, progress=progress, **common)
            for s, d in zip(seeds, dirs, strict=True)
        ]
    return _DnaCell(dataset, model, list(seeds), dirs, progress, holdout, device, test_long, kw).run()


class _DnaCell:
    def __init__(
        self,
        dataset: DnaDataset,
        model: ModelSpec,
        seeds: list[int],
        dirs: list[Any],
        progress: ProgressFn | None,
        holdout: float,
        device: str | torch.device,
        test_long: Sequence[tuple[str, Split, dict[str, Any]]],
        kw: dict[str, Any],
    ) -> None:
        self.start = time.perf_counter()
        self.dataset, self.model, self.progress, self.test_long = dataset, model, progress, test_long
        self.dev = resolve_device(device)
        train = {**TRAIN_KW, **kw}
        self.members: list[_Member] = []
        for i, (s, d) in enumerate(zip(seeds, dirs, strict=True)):
            record = dna_record(dataset, model, s, self.dev, **train)
            inner = build_dna_model(model, dataset.n_outputs, self.dev, s, dataset.vocab_size)
            net: nn.Module = RCSiamese(inner) if record["train"]["rc"] == "siamese" else inner
            record["params"] = sum(p.numel() for p in net.parameters())
            self.members.append(_Member(i, s, record, net, np.random.default_rng(s), Path(d) if d else None))
        self.t = self.members[0].record["train"]
        self.data = DnaTensors(dataset, holdout, self.dev, self.t["rc_augment"])
        for m in self.members:
            self.data.note(m.record)
        self.siamese = self.t["rc"] == "siamese"

    def run(self) -> list[dict[str, Any]]:
        data, t = self.data, self.t
        stack = StackedModel([m.net for m in self.members])
        opt = AdamW.decaying_matrices(list(stack.params.values()), t["weight_decay"], members=stack.members)
        plan = Schedule.of(self.members[0].record, len(data.train))
        for m in self.members[1:]:
            Schedule.of(m.record, len(data.train))  # records the resolved schedule in each
        metric = self.dataset.metric
        active = list(self.members)
        inner = stack.template.net if isinstance(stack.template, RCSiamese) else stack.template
        step = 0
        for step in range(plan.total):
            pos = step % plan.per_epoch
            xs, ys, lens = [], [], []
            for m in active:
                if pos == 0:
                    m.perm, m.flips = data.epoch(m.rng)
                assert m.perm is not None
                x, y, ln = data.batch(m.perm, m.flips, pos, plan.bsz)
                xs.append(x)
                ys.append(y)
                lens.append(ln)
            tokens, targets = torch.stack(xs), torch.stack(ys)
            lr = _lr_at(step, plan.total, t["lr"], plan.warm, t["min_lr_ratio"])
            if isinstance(inner, SequenceModel):
                inner.set_progress(step / plan.total)
            out = (stack(tokens, None, torch.stack(lens)) if self.siamese else stack(tokens)).float()
            k = len(active)
            if self.dataset.task == "regression":  # several targets: the mean over them too
                pred = out[..., 0] if targets.dim() == 2 else out
                losses = (pred - targets).square().flatten(1).mean(1)
            else:
                losses = (
                    F.cross_entropy(out.flatten(0, 1), targets.flatten(), reduction="none")
                    .view(k, -1)
                    .mean(1)
                )
            finite, mean_loss = step_members(losses, opt, t["clip"], lr)
            for i in torch.nonzero(~finite).flatten().tolist():
                m = active[i]
                m.status, m.steps_done = "diverged", step
                m.record["reason"] = f"loss is {float(losses[i].detach())} at step {step}"
                m.record["stopped_by"] = "diverged"
            last = step + 1 == plan.total
            due = [
                i for i, m in enumerate(active) if m.status is None and ((step + 1) % plan.every == 0 or last)
            ]
            if due:
                self._validate(stack, active, due, step, losses.detach(), metric)
            if self.progress is not None:
                metrics = {"loss": mean_loss, "lr": lr}
                if due:
                    metrics[f"valid_{metric}"] = max(
                        (float(active[i].record["curve"][-1][f"valid_{metric}"]) for i in due),
                        default=float("nan"),
                    )
                self.progress(step + 1, plan.total, metrics)
            for m in active:
                if m.status is not None:
                    continue
                if last:
                    m.record["stopped_by"] = "budget"
                    m.status = "ok"
                elif plan.stop_now(m.record, step, m.best_state is not None):
                    m.status = "ok"
                if m.status == "ok":
                    m.steps_done = step + 1
            active = retire(stack, opt, active)  # stopped seeds leave the stack
            if not active:
                break
        for m in self.members:
            r = m.record
            r["steps"] = m.steps_done
            if m.status != "diverged":
                assert m.state is not None
                m.net.load_state_dict(m.state)
                finish_dna(r, m.net, data, m.best_state, self.test_long, self.dev)
            r["status"] = "diverged" if m.status == "diverged" else "ok"
        wall = time.perf_counter() - self.start
        for m in self.members:
            cell_entry(m.record, m.index, len(self.members), wall)
            if m.out_dir is not None:
                write_json_atomic(m.out_dir / "result.json", m.record)
        return [m.record for m in self.members]

    def _validate(
        self,
        stack: StackedModel,
        active: list[_Member],
        due: list[int],
        step: int,
        losses: Tensor,
        metric: str,
    ) -> None:
        """The validation metric of members ``due`` (one stacked prediction), curve points, best weights."""
        preds = self._predict(stack, stack.subset(due), self.data.valid)
        for j, i in enumerate(due):
            m = active[i]
            p = self.data.scale(preds[j])
            value = float(score(self.data.task, self.data.valid.y_true, p).get(metric, float("nan")))
            m.record["curve"].append(
                {"step": step + 1, "loss": float(losses[i]), f"valid_{metric}": value,
                 "elapsed_s": time.perf_counter() - self.start}
            )  # fmt: skip
            if _is_better(value, m.best):
                m.best, m.record["best_step"] = value, step + 1
                m.best_state = stack.member(i)  # a copy

    @torch.no_grad()
    def _predict(self, stack: StackedModel, params: dict[str, Tensor], t: _Tensors) -> np.ndarray:
        """:func:`archlab.dna.train.predict` for every member of ``params`` at once: ``[K, n, …]``."""
        template = stack.template
        was_training = template.training
        template.eval()
        k = next(iter(params.values())).shape[0]
        width = int(t.codes.shape[-1])
        chunk = max(1, min(EVAL_BATCH, EVAL_TOKENS // max(1, width)) // k)
        out: list[Tensor] = []
        task = self.data.task
        for lo in range(0, len(t), chunk):
            x, ln = t.codes[lo : lo + chunk], t.lengths[lo : lo + chunk]
            views = [x, revcomp_tokens(x, ln)] if self.t["rc_average"] else [x]
            preds = []
            for v in views:
                logits = (
                    stack(v, params, ln, shared=True) if self.siamese else stack(v, params, shared=True)
                ).float()
                if task == "classification":
                    preds.append(logits.softmax(-1))
                else:  # one value per target: [K, n], or [K, n, T] for several targets
                    preds.append(logits[..., 0] if logits.shape[-1] == 1 else logits)
            out.append(torch.stack(preds).mean(0))
        template.train(was_training)
        return torch.cat(out, dim=1).double().cpu().numpy()
