"""A cell's seeds × learning rates trained together: one stacked model, one step for every member.

    records = train_cell(probe, ModelConfig(...), [TrainConfig(seed=s, lr=lr) for s in … for lr in …])

The lab's unit of work is a cell (one architecture × one probe × k seeds × a few learning rates).
Its models are small, so a step of one of them is many small kernels; trained together they make
fewer, larger ones. What happens, in order:

1. **Members.** Member ``i`` is the run :func:`archlab.train.train_run` would do with
   ``train_cfgs[i]``: the same initial weights (``init_seed`` = its seed), the same data stream
   (its seed's), the same schedule. The members' models are built one by one, exactly as
   ``train_run`` builds them, and their parameters stacked along a new dimension 0
   (``torch.func.stack_module_state``); the forward pass is ``torch.func.vmap`` of one template
   model over the members (``functional_call``). The hand-written scans fold the members into
   their batch (their ``vmap`` rules), so one scan runs for all.
2. **Data.** Every step each seed draws its own length and batch from its own stream; members that
   share a seed (a learning-rate grid) share the batch, as their separate runs would draw the
   same one. Different lengths are right-padded to the longest, the padding masked: the models
   are causal (non-causal configs are not stacked), so padding changes nothing at the real
   positions. A member's loss is its own masked mean.
3. **Optimisation.** The sum of the members' losses is backpropagated: members share no parameter,
   so each gets exactly its own gradient. Clipping is per member (its own global norm), AdamW
   (:mod:`archlab.optim`) has per-member state and per-member learning rates.
4. **Stopping** is per member, with ``train_run``'s rules (solved, token budget, divergence). A
   finished member leaves the stack — its parameters are set aside, the others re-stacked with
   their optimiser state — so it costs nothing after it stops.
5. **Evaluation.** Validation and the range evaluation run every member in one forward per length
   (and chunk of sequences), each on its own seed's test stream.
6. **Records.** One per member, with the keys and content of ``train_run``'s (agreeing to fp32
   tolerance: the tests train both ways per mixer family), plus ``cell``: the number of members,
   this member's index and the cell's wall time. ``wall_time_s`` is the cell's wall time divided
   by its members (what one run cost).

:func:`stack_support` says why a config cannot be stacked (the mixer declares it — torch.nn's fused
RNN kernels have no vmap rule —, data-dependent iteration or halting, pruning, dropout, bfloat16,
non-causal models); :func:`train_cell` then trains the members one after the other with
``train_run``, and does so too if the stacked cell runs out of memory.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from archlab.config import ModelConfig, TrainConfig
from archlab.errors import ConfigError
from archlab.models import SequenceModel, build_model, resolve_device
from archlab.optim import AdamW, clip_grad_norm
from archlab.probes.base import Batch, Probe
from archlab.registry import MIXERS
from archlab.train import (
    EVAL_CHUNK,
    DataSource,
    ProgressFn,
    class_counts,
    curriculum_length,
    finish_record,
    is_oom,
    lr_at,
    macro_accuracy,
    new_record,
    padding_counts,
    prepare_source,
    range_row,
    seeded,
    tally,
    train_run,
)

__all__ = ["StackedModel", "cell_entry", "retire", "stack_support", "step_members", "train_cell"]

log = logging.getLogger(__name__)

#: TrainConfig fields members of one cell may differ in
MEMBER_FIELDS = frozenset({"seed", "lr"})


def stack_support(model_cfg: ModelConfig, train_cfg: TrainConfig, padded: bool = True) -> str | None:
    """None if members of this config can train stacked, else why not (they then run one by one).
    ``padded``: members' sequences are padded to a common length (probes; DNA codes are not)."""
    reason = MIXERS.get(model_cfg.mixer).unstackable
    if reason:
        return f"mixer {model_cfg.mixer!r}: {reason}"
    checks = (
        (model_cfg.fp_iters is not None, "fp_iters: the iteration count depends on the input"),
        (model_cfg.halting != "none", "halting: adaptive computation time stops per token"),
        (model_cfg.prune, "prune: context pruning reports per-pass statistics as Python floats"),
        (model_cfg.hier_chunking == "dynamic", "hier_chunking: learned chunks differ per member"),
        (model_cfg.dropout > 0, "dropout: members would draw other masks than their separate runs"),
        (train_cfg.dtype == "bfloat16", "dtype bfloat16: autocast is not stacked"),
        (padded and not model_cfg.causal, "causal: false: padding to one length would change outputs"),
    )  # fmt: skip
    return next((why for bad, why in checks if bad), None)


class StackedModel:
    """``K`` models with one architecture as one callable: ``logits [K, B, T, C] = stack(tokens [K, B, T])``.

    ``params`` (leaves, members on dimension 0) are what the optimiser updates; ``member(i)`` is
    member ``i``'s state dict (a copy), ``keep(members, opt)`` drops the other members.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        self.template = models[0]
        params, buffers = stack_module_state(list(models))
        self.params: dict[str, Tensor] = params
        self.buffers: dict[str, Tensor] = buffers

    def _one(
        self, params: dict[str, Tensor], buffers: dict[str, Tensor], tokens: Tensor, *extra: Tensor
    ) -> Tensor:
        out: Tensor = functional_call(self.template, (params, buffers), (tokens, *extra))
        return out

    @property
    def members(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def __call__(
        self, tokens: Tensor, params: dict[str, Tensor] | None = None, *extra: Tensor, shared: bool = False
    ) -> Tensor:
        """Every member's output on its own ``tokens [K, …]`` (``shared``: one ``tokens [B, …]``
        for all members); ``extra`` arguments of the forward (DNA lengths) follow the tokens'
        layout."""
        dims = (0, 0, *((None if shared else 0) for _ in range(1 + len(extra))))
        with warnings.catch_warnings():
            # CPU attention has no vmap rule for its fused kernel and says so on every new shape;
            # the fallback (and what it costs) is documented in README → Speed → Training cells
            warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet")
            forward = vmap(self._one, in_dims=dims, randomness="error")
            return forward(self.params if params is None else params, self.buffers, tokens, *extra)

    def subset(self, members: list[int]) -> dict[str, Tensor]:
        """The parameters of ``members`` only (detached): to evaluate some members of the stack."""
        index = torch.tensor(members, device=next(iter(self.params.values())).device)
        return {k: v.detach()[index] for k, v in self.params.items()}

    def member(self, i: int) -> dict[str, Tensor]:
        return {k: v[i].detach().clone() for k, v in {**self.params, **self.buffers}.items()}

    def keep(self, members: list[int], opt: AdamW) -> None:
        """Only ``members`` (indices) stay, in the stack and in the optimiser's state."""
        index = torch.tensor(members, device=next(iter(self.params.values())).device)
        self.params = {k: v.detach()[index].requires_grad_(v.requires_grad) for k, v in self.params.items()}
        self.buffers = {k: v[index] for k, v in self.buffers.items()}
        opt.keep(index, list(self.params.values()))

    @staticmethod
    def stack(states: Sequence[dict[str, Tensor]]) -> dict[str, Tensor]:
        return {k: torch.stack([s[k] for s in states]) for k in states[0]}


def step_members(losses: Tensor, opt: AdamW, clip: float | None, lr: float | Tensor) -> tuple[Tensor, float]:
    """One optimiser step of a stack from its members' losses ``[K]``: the sum of the finite ones
    is backpropagated (members share no parameter, so each gets exactly its own gradient), each
    member's gradient is clipped to its own norm, AdamW steps. Returns the finite mask and the
    mean finite loss (NaN when none is)."""
    finite = torch.isfinite(losses.detach())
    opt.zero_grad()
    if bool(finite.any()):
        losses[finite].sum().backward()
    if clip is not None:
        clip_grad_norm(opt.params, clip, int(losses.numel()))
    opt.step(lr)
    kept = losses.detach()[finite]
    return finite, float(kept.mean()) if kept.numel() else float("nan")


class _Finishing(Protocol):
    status: str | None
    state: dict[str, Tensor] | None


M = TypeVar("M", bound=_Finishing)


def retire(stack: StackedModel, opt: AdamW, active: list[M]) -> list[M]:
    """Members whose ``status`` is set leave the stack and the optimiser (a member that did not
    diverge keeps its final state dict in ``state``); returns those still training."""
    keep = [i for i, m in enumerate(active) if m.status is None]
    if len(keep) == len(active):
        return active
    for i, m in enumerate(active):
        if m.status is not None and m.status != "diverged":
            m.state = stack.member(i)
    if keep:
        stack.keep(keep, opt)
    return [active[i] for i in keep]


def cell_entry(record: dict[str, Any], index: int, members: int, wall_s: float) -> None:
    """A stacked member's ``cell`` key; its ``wall_time_s`` is its share of the cell's."""
    record["cell"] = {"members": members, "index": index, "wall_time_s": wall_s, "stacked": True}
    record["wall_time_s"] = wall_s / members


@dataclass
class _Member:
    index: int
    cfg: TrainConfig
    record: dict[str, Any]
    out_dir: Path | None
    curve: list[dict[str, Any]] = field(default_factory=list)
    tokens_seen: int = 0
    streak: int = 0
    step: int = 0
    #: None while training; then completed / solved / diverged
    status: str | None = None
    #: the state dict once finished (for the range evaluation and a checkpoint)
    state: dict[str, Tensor] | None = None


def _check_cell(train_cfgs: Sequence[TrainConfig]) -> None:
    if not train_cfgs:
        raise ConfigError("train", "a cell needs at least one member")
    ref = train_cfgs[0].model_dump(exclude=set(MEMBER_FIELDS))
    for i, cfg in enumerate(train_cfgs[1:], 1):
        other = cfg.model_dump(exclude=set(MEMBER_FIELDS))
        diff = sorted(k for k in ref if ref[k] != other[k])
        if diff:
            raise ConfigError(
                f"train.{diff[0]}", f"member {i} differs from member 0 in {', '.join(diff)}",
                "members of a cell differ only in seed and lr",
            )  # fmt: skip
    keys = [(c.seed, c.lr) for c in train_cfgs]
    if len(set(keys)) != len(keys):
        raise ConfigError("train", "two members of the cell have the same seed and lr")


def train_cell(
    probe: Probe | DataSource,
    model_cfg: ModelConfig,
    train_cfgs: Sequence[TrainConfig],
    *,
    out_dirs: Sequence[str | os.PathLike[str] | None] | None = None,
    progress: ProgressFn | None = None,
    stacked: bool | None = None,
) -> list[dict[str, Any]]:
    """Train every member of the cell (``train_cfgs``, differing only in seed and lr); one record each.

    ``stacked``: None (default) stacks when :func:`stack_support` allows it and there are ≥ 2
    members, False runs them one by one, True requires stacking (ConfigError naming why not).
    ``out_dirs[i]`` gets member ``i``'s ``result.json``, as ``train_run``'s ``out_dir``.
    """
    _check_cell(train_cfgs)
    dirs = list(out_dirs) if out_dirs is not None else [None] * len(train_cfgs)
    if len(dirs) != len(train_cfgs):
        raise ValueError(f"{len(train_cfgs)} members but {len(dirs)} output folders")
    why = stack_support(model_cfg, train_cfgs[0])
    if stacked and why:
        raise ConfigError("stacked", f"this cell cannot be trained stacked: {why}")

    def one_by_one() -> list[dict[str, Any]]:
        return [
            train_run(probe, model_cfg, c, out_dir=d, progress=progress)
            for c, d in zip(train_cfgs, dirs, strict=True)
        ]

    if why or stacked is False or (stacked is None and len(train_cfgs) < 2):
        if why and len(train_cfgs) > 1:
            log.info("training %d members one by one: %s", len(train_cfgs), why)
        return one_by_one()
    source = prepare_source(probe, model_cfg, train_cfgs[0])
    try:
        return _Cell(source, model_cfg, list(train_cfgs), dirs, progress).run()
    except _StackOOM as exc:
        log.warning("the stacked cell ran out of memory (%s); training its members one by one", exc)
        return one_by_one()


class _StackOOM(RuntimeError):
    pass


def _pad(b: Batch, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pad = length - b.tokens.shape[1]
    if pad == 0:
        return b.tokens, b.targets, b.mask
    widths = ((0, 0), (0, pad))
    return np.pad(b.tokens, widths), np.pad(b.targets, widths), np.pad(b.mask, widths)


class _Cell:
    """The stacked training loop (module docstring, steps 1–6)."""

    def __init__(
        self,
        source: DataSource,
        model_cfg: ModelConfig,
        cfgs: list[TrainConfig],
        dirs: list[Any],
        progress: ProgressFn | None,
    ) -> None:
        self.source = source
        self.model_cfg = model_cfg
        self.cfg = cfgs[0]
        self.device = resolve_device(self.cfg.device)
        self.progress = progress
        self.members = [
            _Member(
                i, c, new_record(source, seeded(model_cfg, c.seed), c, self.device), Path(d) if d else None
            )
            for i, (c, d) in enumerate(zip(cfgs, dirs, strict=True))
        ]
        self.start = time.perf_counter()

    # -- set-up ------------------------------------------------------------------------------
    def _build(self) -> StackedModel:
        probe = self.source.probe
        models = []
        for m in self.members:
            model = build_model(
                seeded(self.model_cfg, m.cfg.seed), probe.vocab_size, probe.n_classes, self.device
            )
            if self.cfg.dtype == "float64":
                model = model.double()
            model.train()
            models.append(model)
            m.record["curve"] = m.curve
            m.record["features"] = model.features(seq_len=max(self.source.test_lengths)).to_dict()
            m.record["n_params"] = sum(p.numel() for p in model.parameters())
        return StackedModel(models)

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> list[dict[str, Any]]:
        cfg = self.cfg
        self.step = 0
        try:
            stack = self._build()
            opt = AdamW.decaying_matrices(
                list(stack.params.values()), cfg.weight_decay, members=stack.members
            )
            self.rngs = {s: self.source.rng("train", s) for s in sorted({m.cfg.seed for m in self.members})}
            self.length_rng = self.source.length_rng(cfg.length_stream)
            active = list(self.members)
            for self.step in range(cfg.steps):
                self._step(stack, opt, active)
                active = retire(stack, opt, active)  # 4. finished members leave the stack
                if not active:
                    break
            self._range_eval(stack)
        except KeyboardInterrupt:
            for m in self.members:
                m.record["status"], m.record["reason"] = "interrupted", f"interrupted at step {self.step}"
                self._finish(m, interrupted_at=self.step)
            raise
        except Exception as exc:
            if is_oom(exc):
                raise _StackOOM(str(exc)) from exc
            raise
        for m in self.members:
            status = m.status or "completed"
            m.record["status"] = status
            m.record["solved_train"] = bool(
                status != "diverged" and m.curve and m.curve[-1]["val_seq_acc"] >= cfg.solve_threshold
            )
            self._finish(m)
        return [m.record for m in self.members]

    def _batch(self, active: list[_Member]) -> tuple[dict[int, Batch], Tensor, Tensor, Tensor]:
        """2. One batch per seed still training; tokens, targets, mask ``[K, B, T_max]`` (padded)."""
        cfg, source, step = self.cfg, self.source, self.step
        batches: dict[int, Batch] = {}
        shared = self.length_rng  # length_stream: shared — one length per step for every seed
        length = (
            curriculum_length(source.train_lengths, cfg.curriculum, step, cfg.steps, shared) if shared else 0
        )
        for m in active:
            seed = m.cfg.seed
            if seed not in batches:
                rng = self.rngs[seed]
                if shared is None:
                    length = curriculum_length(source.train_lengths, cfg.curriculum, step, cfg.steps, rng)
                batches[seed] = source.batch("train", rng, cfg.batch, length, seed)
        t_max = max(b.tokens.shape[1] for b in batches.values())
        padded = {s: _pad(b, t_max) for s, b in batches.items()}
        tokens, targets, mask = (
            torch.from_numpy(np.stack([padded[m.cfg.seed][j] for m in active])).to(self.device)
            for j in range(3)
        )
        return batches, tokens, targets, mask

    def _step(self, stack: StackedModel, opt: AdamW, active: list[_Member]) -> None:
        """One optimisation step of every active member, then validation where due (steps 2–4)."""
        cfg, step = self.cfg, self.step
        batches, tokens, targets, mask = self._batch(active)
        lrs = [lr_at(step, m.cfg) for m in active]
        template = stack.template
        assert isinstance(template, SequenceModel)
        template.set_progress(step / cfg.steps)
        logits = stack(tokens)
        k = len(active)
        ce = F.cross_entropy(logits.float().flatten(0, 2), targets.flatten(), reduction="none").view(k, -1)
        w = mask.view(k, -1).to(ce.dtype)
        losses = (ce * w).sum(1) / w.sum(1).clamp(min=1.0)
        # 3. one backward for all members, then clipping and AdamW per member
        finite, mean_loss = step_members(losses, opt, cfg.clip, torch.tensor(lrs, device=self.device))
        for i in torch.nonzero(~finite).flatten().tolist():
            m = active[i]
            m.status, m.step = "diverged", step
            m.record["reason"] = f"loss is {float(losses[i].detach())} at step {step}"
        # 4. stopping, per member, with train_run's rules
        due, last = [], set()
        for i, m in enumerate(active):
            if m.status is not None:
                continue
            m.tokens_seen += int(batches[m.cfg.seed].tokens.size)
            m.step = step
            budget = m.cfg.token_budget
            if step + 1 == cfg.steps or (budget is not None and m.tokens_seen >= budget):
                last.add(i)
            if (step + 1) % cfg.eval_every == 0 or i in last:
                due.append(i)
        metrics = {"loss": mean_loss, "lr": lrs[0]}
        if due:
            metrics["val_seq_acc"] = self._validate(stack, active, due, last, losses.detach(), lrs)
        metrics["members"] = float(sum(m.status is None for m in active))
        if self.progress is not None:
            self.progress(step + 1, cfg.steps, metrics)

    def _validate(
        self, stack: StackedModel, active: list[_Member], due: list[int], last: set[int], losses: Tensor,
        lrs: list[float],
    ) -> float:  # fmt: skip
        """Validation of members ``due`` at the longest training length; curve points, solved or
        completed; returns the best validation sequence accuracy."""
        cfg = self.cfg
        longest = max(self.source.train_lengths)
        rows = self._evaluate(
            stack, [active[i] for i in due], [longest], cfg.val_batch, "val", stack.subset(due)
        )
        best = 0.0
        for i, (val,) in zip(due, rows, strict=True):
            m = active[i]
            m.curve.append(
                {
                    "step": self.step + 1,
                    "tokens": m.tokens_seen,
                    "elapsed_s": time.perf_counter() - self.start,
                    "loss": float(losses[i]),
                    "aux_loss": 0.0,
                    "lr": lrs[i],
                    "val_length": longest,
                    "val_token_acc": val["token_acc"],
                    "val_seq_acc": val["seq_acc"],
                }
            )
            best = max(best, val["seq_acc"])
            m.streak = m.streak + 1 if val["seq_acc"] >= cfg.solve_threshold else 0
            if cfg.early_stop and m.streak >= cfg.solve_patience:
                m.status = "solved"
            elif i in last:
                m.status = "completed"
        return best

    def _range_eval(self, stack: StackedModel) -> None:
        """5. The range evaluation of every member that did not diverge, all in one stack."""
        ok = [m for m in self.members if m.status != "diverged" and m.state is not None]
        if not ok:
            return
        params = StackedModel.stack(
            [{k: m.state[k] for k in stack.params} for m in ok if m.state is not None]
        )
        rows = self._evaluate(stack, ok, self.source.test_lengths, self.cfg.eval_batch, "test", params)
        for m, r in zip(ok, rows, strict=True):
            m.record["range_eval"] = r

    def _finish(self, m: _Member, interrupted_at: int | None = None) -> None:
        step = interrupted_at if interrupted_at is not None else m.step
        cell_entry(m.record, m.index, len(self.members), time.perf_counter() - self.start)
        finish_record(
            m.record, self.start, m.tokens_seen, step, m.out_dir, m.state, m.cfg,
            wall_time_s=m.record["wall_time_s"],
        )  # fmt: skip

    # -- evaluation --------------------------------------------------------------------------
    @torch.no_grad()
    def _evaluate(
        self,
        stack: StackedModel,
        members: list[_Member],
        lengths: list[int],
        n_sequences: int,
        split: str,
        params: dict[str, Tensor],
    ) -> list[list[dict[str, Any]]]:
        """Per member, :func:`archlab.train.evaluate_lengths`' rows, with all members in one forward."""
        source = self.source
        template = stack.template
        was_training = template.training
        template.eval()
        seeds = sorted({m.cfg.seed for m in members})
        out: list[list[dict[str, Any]]] = [[] for _ in members]
        for length in lengths:
            rngs = {s: source.eval_rng(split, s, length) for s in seeds}
            probe = source.probe_of(split)
            n_classes = probe.n_classes
            counts = {s: np.zeros(n_classes, dtype=np.int64) for s in seeds}
            tallies = np.zeros((len(members), 4), dtype=np.int64)
            pads = np.zeros((len(members), 2), dtype=np.int64)
            per_class = np.zeros((len(members), 2, n_classes), dtype=np.int64)  # right, predicted
            left = n_sequences
            while left > 0:
                n = min(EVAL_CHUNK, left)
                batches = {s: source.batch(split, rngs[s], n, length) for s in seeds}
                left -= n
                for s, b in batches.items():
                    counts[s] += np.bincount(b.targets[b.mask], minlength=counts[s].size)
                tokens, targets, mask = (
                    torch.from_numpy(np.stack([getattr(batches[m.cfg.seed], f) for m in members])).to(
                        self.device
                    )
                    for f in ("tokens", "targets", "mask")
                )
                # as many sequences per forward as one model evaluates (EVAL_CHUNK): K times more
                # would leave the caches and make every elementwise op memory-bound
                piece = -(-n // len(members))
                pred = torch.cat([stack(x, params).argmax(-1) for x in tokens.split(piece, dim=1)], dim=1)
                tallies += tally(pred, targets, mask).cpu().numpy()
                pred_np = pred.cpu().numpy()
                for i, m in enumerate(members):
                    pads[i] += padding_counts(probe, batches[m.cfg.seed], pred_np[i])
                    per_class[i] += np.stack(class_counts(batches[m.cfg.seed], pred_np[i], n_classes))
            for i, m in enumerate(members):
                ct, nt, cs, ns = (int(x) for x in tallies[i])
                padding = (int(pads[i, 0]), int(pads[i, 1])) if probe.padding_target is not None else None
                macro = macro_accuracy(per_class[i, 0], counts[m.cfg.seed], per_class[i, 1])
                out[i].append(
                    range_row(length, ct, nt, cs, ns, counts[m.cfg.seed], n_sequences, {}, padding, macro)
                )
        template.train(was_training)
        return out
