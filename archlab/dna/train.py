"""Train any model on a labelled DNA dataset and score it: one readable loop.

    record = train_dna(dataset, CNNConfig(), seed=0)                       # the one-hot CNN baseline
    record = train_dna(dataset, ModelConfig(mixer="diag_rnn"), seed=0)     # an archlab architecture
    summary = run_seeds(dataset, CNNConfig(), seeds=(0, 1, 2))             # mean ± sd over seeds

1. **Model.** A DNA-native network's config (:mod:`archlab.dna.nets`: the one-hot CNN's
   :class:`~archlab.dna.cnn.CNNConfig`, the pair map's :class:`~archlab.dna.pairmap.PairMapConfig`)
   builds that network; a
   :class:`~archlab.config.ModelConfig` builds an archlab :class:`~archlab.models.SequenceModel`
   over the codes as tokens (vocabulary 5: A C G T N) with ``head="pooled"`` forced, one output
   per class (or one for regression). Initial weights depend on ``seed`` only.
2. **Data.** Every split is turned into device tensors once (codes as ``int64``; the reverse
   complements of the training set are precomputed too). Each epoch is a seeded permutation of the
   training set in batches of ``batch`` (the last incomplete batch is dropped so batch norm never
   sees a tiny batch); with ``rc_augment`` each sequence is replaced by its reverse complement
   with probability ½.
3. **Optimisation.** AdamW (weight decay on matrices and filters only), linear warm-up over the
   first ``warmup`` fraction of the steps, cosine decay to ``min_lr_ratio·lr``, gradient clipping.
   Loss: cross-entropy for classification, MSE for regression on ``y`` standardised with the
   training mean and sd (predictions are mapped back: metrics are on the original scale).
4. **Model selection.** Every ``eval_every`` steps (default 100) the dataset's headline
   metric (:attr:`DnaDataset.metric`) is measured on the ``valid`` split, or, if the dataset has
   none, on a fixed held-out ``holdout`` fraction of ``train`` (the same rows for every seed).
   With ``early_stop`` training ends once ``patience`` steps (default 600) have passed since the
   best evaluation, never before ``min_steps``, and the best weights are restored; without it,
   all steps run and the final weights are scored. Patience is counted in steps, not
   evaluations or epochs, so a model that sits at chance for a few hundred steps before it
   learns (a recurrent model on D0) is not stopped before it starts.
5. **Scoring.** :func:`archlab.dna.metrics.score` on ``valid`` and ``test``; with ``rc_average``
   the prediction is the mean of the probabilities (or values) for the sequence and its reverse
   complement, so the model is strand-symmetric at evaluation. The reverse-complement policy
   comes from a ModelConfig's ``rc`` field (``none``, ``augment``, ``both`` = augment and
   average, ``siamese`` = the network itself averages its logits over both strands); the CNN
   augments and averages. ``test_long`` sets (longer sequences or other level parameters) are
   scored with the same weights. A run whose test predictions are all equal is flagged
   ``constant_output`` with a warning: its metric is chance by construction.
6. **Record.** A JSON-ready dict (dataset, the grammar ``level`` with its length and parameters
   when synthetic, model kind and config, seed, metric, test/valid scores, ``test_long``, best
   step, steps, ``stopped_by`` (budget, patience, max_time, diverged, oom), wall time,
   parameters, status, warnings, provenance, curve). NaN/inf loss ends a run as ``diverged``,
   running out of memory as ``oom``, passing ``max_time_s`` as ``timeout`` (the run is
   evaluated before it stops and the best weights so far are scored) — recorded, not raised.
   ``out_dir`` gets the record as ``result.json``, written atomically.

Deterministic per seed on CPU (same seed, same numbers).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archlab.atomic import write_json_atomic
from archlab.config import ModelConfig
from archlab.dna.cnn import CNNConfig, revcomp_tokens
from archlab.dna.data import DnaDataset, Split
from archlab.dna.metrics import mean_sd, score
from archlab.dna.nets import DNA_NETS, dna_net_for, is_dna_net
from archlab.dna.pairmap import PairMapConfig
from archlab.errors import ConfigError
from archlab.models import SequenceModel, build_model, resolve_device
from archlab.optim import AdamW
from archlab.train import ProgressFn, is_oom, provenance

__all__ = [
    "DEFAULT_LR",
    "HOLDOUT_SEED",
    "RCSiamese",
    "build_dna_model",
    "constant_output",
    "level_info",
    "predict",
    "rc_policy",
    "run_seeds",
    "train_dna",
]

#: the learning rate used when ``lr`` is not given, per model kind
DEFAULT_LR = {**{name: net.lr for name, net in DNA_NETS.items()}, "sequence_model": 1e-3}
#: seed of the fixed held-out slice of ``train`` used when a dataset has no ``valid`` split
HOLDOUT_SEED = 20_240_601
#: sequences per forward pass at evaluation
EVAL_BATCH = 256
#: at most this many bases per forward pass at evaluation
EVAL_TOKENS = 1 << 17

ModelSpec = CNNConfig | PairMapConfig | ModelConfig


def _kind(spec: ModelSpec) -> str:
    if isinstance(spec, ModelConfig):
        return "sequence_model"
    if is_dna_net(spec):
        return dna_net_for(spec).name
    raise TypeError(f"model must be a DNA network config or a ModelConfig, got {type(spec).__name__}")


def build_dna_model(
    spec: ModelSpec, n_outputs: int, device: torch.device, seed: int, vocab_size: int = 5
) -> nn.Module:
    """The network for ``spec``: the one-hot CNN, or an archlab model with a pooled head over the
    codes as tokens (vocabulary 5; 10 when the dataset keeps the soft mask, ``vocab_size``).
    Initial weights depend on ``seed`` unless ``spec.init_seed`` (ModelConfig) says otherwise."""
    if not isinstance(spec, ModelConfig):
        if vocab_size != 5:
            raise ConfigError(
                "--soft-mask", f"'keep' gives token models (a mixer) the mask; the {_kind(spec)} reads "
                "a one-hot of the bases and has no case channel", "upper, n",
            )  # fmt: skip
        net: nn.Module = dna_net_for(spec).build(spec, n_outputs, device=device, seed=seed)
        return net
    cfg = _as_pooled(spec, seed)
    return build_model(cfg, vocab_size=vocab_size, n_outputs=n_outputs, device=device)


def _as_pooled(spec: ModelConfig, seed: int) -> ModelConfig:
    update: dict[str, Any] = {"head": "pooled"}
    if spec.init_seed is None:
        update["init_seed"] = seed
    return spec.model_copy(update=update)


# ---------------------------------------------------------------------------------------------
# data and prediction
# ---------------------------------------------------------------------------------------------


class _Tensors:
    """One split as device tensors: tokens ``int64 [n, L]`` (the codes, with the soft mask when
    kept: :meth:`Split.tokens`), lengths, and targets for the loss."""

    def __init__(self, split: Split, device: torch.device, y_loss: np.ndarray) -> None:
        self.codes = torch.from_numpy(np.ascontiguousarray(split.tokens())).to(
            device=device, dtype=torch.long
        )
        self.lengths = torch.from_numpy(np.asarray(split.lengths, dtype=np.int64)).to(device)
        self.y = torch.from_numpy(y_loss).to(device)
        self.y_true = np.asarray(split.y)

    def __len__(self) -> int:
        return int(self.codes.shape[0])


@torch.no_grad()
def predict(
    model: nn.Module,
    codes: Tensor,
    lengths: Tensor | None = None,
    *,
    task: str = "classification",
    rc_average: bool = True,
    batch: int = EVAL_BATCH,
) -> np.ndarray:
    """Class probabilities ``[n, C]`` (classification) or outputs ``[n]`` (regression, on the
    model's scale) for codes ``[n, L]``, in eval mode, in chunks of at most ``batch`` sequences
    and :data:`EVAL_TOKENS` bases (so 8-kb test sets do not need 256 sequences at once).

    With ``rc_average`` each prediction is the mean over the sequence and its reverse complement
    (``lengths`` keeps the ``N`` padding at the end), so a sequence and its reverse complement get
    exactly the same prediction. An :class:`RCSiamese` model does that itself.
    """
    was_training = model.training
    model.eval()
    out: list[Tensor] = []
    step = max(1, min(batch, EVAL_TOKENS // max(1, int(codes.shape[-1]))))
    for lo in range(0, int(codes.shape[0]), step):
        x = codes[lo : lo + step]
        ln = lengths[lo : lo + step] if lengths is not None else None
        views = [x, revcomp_tokens(x, ln)] if rc_average else [x]
        preds = []
        for v in views:
            logits = (model(v, ln) if isinstance(model, RCSiamese) else model(v)).float()
            if task == "classification":
                preds.append(logits.softmax(-1))
            else:  # one value per target ([n], or [n, T] for several targets)
                preds.append(logits[:, 0] if logits.shape[-1] == 1 else logits)
        out.append(torch.stack(preds).mean(0))
    model.train(was_training)
    if not out:
        return np.zeros((0,), dtype=np.float64)
    return torch.cat(out).double().cpu().numpy()


def _holdout(n: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out rows): a fixed random ``fraction`` of ``n`` (at least 1, at most n-1)."""
    if n < 2:
        raise ValueError(f"a training split of {n} sequence(s) cannot spare a validation slice")
    k = min(n - 1, max(1, round(fraction * n)))
    perm = np.random.default_rng(HOLDOUT_SEED).permutation(n)
    return np.sort(perm[k:]), np.sort(perm[:k])


def _is_better(value: float, best: float) -> bool:
    return not math.isnan(value) and (math.isnan(best) or value > best)


def _lr_at(step: int, total: int, lr: float, warmup: int, min_lr_ratio: float) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


# ---------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------


#: default evaluation cadence and patience, in optimiser steps
DEFAULT_EVAL_EVERY = 100
DEFAULT_PATIENCE = 600
#: a spread of the predictions (max − min of the positive-class probability, or of the value in
#: training-set standard deviations) at or below this is a constant output: a network whose
#: dense units all died outputs p = 0.5 ± 1e-4 for every input
CONSTANT_SPREAD = 1e-3


class RCSiamese(nn.Module):
    """Strand-invariant by construction (``rc: siamese``): the wrapped network's logits averaged
    over a sequence and its reverse complement, in training and at evaluation."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, codes: Tensor, lengths: Tensor | None = None) -> Tensor:
        out: Tensor = 0.5 * (self.net(codes).float() + self.net(revcomp_tokens(codes, lengths)).float())
        return out


def rc_policy(spec: ModelSpec, rc_augment: bool | None, rc_average: bool | None) -> tuple[str, bool, bool]:
    """``(mode, augment, average)``: a ModelConfig's ``rc`` field (none | augment | both | siamese)
    unless ``rc_augment``/``rc_average`` are given; the CNN augments and averages by default."""
    mode = str(getattr(spec, "rc", "both")) if isinstance(spec, ModelConfig) else "both"
    augment = mode in ("augment", "both")
    average = mode == "both"
    if rc_augment is not None:
        augment = rc_augment
    if rc_average is not None:
        average = rc_average
    if mode == "siamese":
        augment = average = False  # the model itself sees both strands
    return mode, augment, average


def constant_output(pred: np.ndarray, scale: float | np.ndarray = 1.0) -> bool:
    """True when the predictions do not depend on the input: the positive-class probability
    (``pred [n, C]``) or the value (``pred [n]``, in units of ``scale``) spreads by at most
    :data:`CONSTANT_SPREAD` over the whole set; with several regression targets (``scale`` one
    per target, ``pred [n, T]``) every target's values do."""
    if pred.size == 0:
        return False
    if np.ndim(scale) > 0:
        return bool(np.all(np.ptp(pred, axis=0) <= CONSTANT_SPREAD * np.asarray(scale)))
    col = pred[:, -1] if pred.ndim == 2 else pred
    return bool(np.ptp(col) <= CONSTANT_SPREAD * scale)


def level_info(dataset: DnaDataset) -> dict[str, Any] | None:
    """``{"name", "length", "params"}`` of a synthetic grammar level's dataset, else None."""
    meta = dataset.meta or {}
    if "level" not in meta:
        return None
    params = meta.get("params")
    return {
        "name": meta["level"],
        "length": meta.get("length"),
        "params": dict(params) if isinstance(params, dict) else {},
    }


def train_dna(
    dataset: DnaDataset,
    model: ModelSpec,
    *,
    seed: int = 0,
    epochs: int = 10,
    steps: int | None = None,
    batch: int = 64,
    lr: float | None = None,
    weight_decay: float = 1e-2,
    warmup: float = 0.03,
    min_lr_ratio: float = 0.05,
    clip: float | None = 1.0,
    rc_augment: bool | None = None,
    rc_average: bool | None = None,
    early_stop: bool = True,
    patience: int | None = None,
    min_steps: int = 0,
    eval_every: int | None = None,
    holdout: float = 0.1,
    device: str | torch.device = "auto",
    progress: ProgressFn | None = None,
    max_time_s: float | None = None,
    test_long: Sequence[tuple[str, Split, dict[str, Any]]] = (),
    out_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Train ``model`` (a DNA network config or a :class:`ModelConfig`) on ``dataset``; score it.

    Budget: ``steps`` (if given) overrides ``epochs`` (passes over ``train``). Every
    ``eval_every`` steps (default :data:`DEFAULT_EVAL_EVERY`, at most the budget) the validation
    metric is measured; with ``early_stop`` training ends once ``patience`` steps (default
    :data:`DEFAULT_PATIENCE`) have passed since the best evaluation, but never before
    ``min_steps``. ``max_time_s`` ends a run early with its best scored weights (status
    ``timeout``); the run is always evaluated before it ends. ``lr`` defaults to
    :data:`DEFAULT_LR` of the model kind; ``warmup`` is a fraction of the steps.
    ``rc_augment``/``rc_average`` override the reverse-complement policy (:func:`rc_policy`).
    ``test_long``: ``(name, split, info)`` extra test sets (longer sequences, other level
    parameters: the train-short/test-long protocol), scored with the selected weights into the
    record's ``test_long`` list. See the module docstring for the record's keys.
    """
    start = time.perf_counter()
    dev = resolve_device(device)
    record = dna_record(
        dataset, model, seed, dev, epochs=epochs, steps=steps, batch=batch, lr=lr,
        weight_decay=weight_decay, warmup=warmup, min_lr_ratio=min_lr_ratio, clip=clip,
        rc_augment=rc_augment, rc_average=rc_average, early_stop=early_stop, patience=patience,
        min_steps=min_steps, eval_every=eval_every, max_time_s=max_time_s,
    )  # fmt: skip
    t = record["train"]
    task, metric, rc_mode = dataset.task, dataset.metric, t["rc"]
    curve: list[dict[str, float]] = record["curve"]
    step = 0
    try:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        data = DnaTensors(dataset, holdout, dev, t["rc_augment"])
        data.note(record)
        inner = build_dna_model(model, dataset.n_outputs, dev, seed, dataset.vocab_size)
        net: nn.Module = RCSiamese(inner) if rc_mode == "siamese" else inner
        record["params"] = sum(p.numel() for p in net.parameters())
        opt = AdamW.decaying_matrices(list(net.parameters()), weight_decay)
        plan = Schedule.of(record, len(data.train))
        best, best_state = float("nan"), None
        status = "ok"
        perm = flips = None
        net.train()
        for step in range(plan.total):
            pos = step % plan.per_epoch
            if pos == 0:
                perm, flips = data.epoch(rng)
            assert perm is not None
            x, target, lengths = data.batch(perm, flips, pos, plan.bsz)
            cur_lr = _lr_at(step, plan.total, t["lr"], plan.warm, min_lr_ratio)
            if isinstance(inner, SequenceModel):
                inner.set_progress(step / plan.total)
            out = net(x, lengths).float() if rc_mode == "siamese" else net(x).float()
            loss = dna_loss(task, out, target)
            if isinstance(inner, SequenceModel):
                loss = loss + inner.last_aux_loss.float()
            if not torch.isfinite(loss):
                status, record["reason"] = "diverged", f"loss is {float(loss.detach())} at step {step}"
                record["stopped_by"] = "diverged"
                break
            opt.zero_grad()
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
            opt.step(cur_lr)
            metrics = {"loss": float(loss.detach()), "lr": cur_lr}
            last = step + 1 == plan.total
            out_of_time = max_time_s is not None and time.perf_counter() - start > max_time_s
            if (step + 1) % plan.every == 0 or last or out_of_time:
                value = float(data.evaluate(net, data.valid, t["rc_average"])[0].get(metric, float("nan")))
                curve.append({"step": step + 1, "loss": metrics["loss"], f"valid_{metric}": value,
                              "elapsed_s": time.perf_counter() - start})  # fmt: skip
                metrics[f"valid_{metric}"] = value
                if _is_better(value, best):
                    best, record["best_step"] = value, step + 1
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            if progress is not None:
                progress(step + 1, plan.total, metrics)
            if last:
                record["stopped_by"] = "budget"
                break
            if out_of_time:
                status, record["stopped_by"] = "timeout", "max_time"
                record["reason"] = f"max_time_s={max_time_s} passed at step {step + 1}"
                break
            if plan.stop_now(record, step, best_state is not None):
                break
        record["steps"] = step + 1 if status != "diverged" else step
        if status != "diverged":
            finish_dna(record, net, data, best_state, test_long, dev)
        record["status"] = status
    except Exception as exc:
        if not is_oom(exc):
            raise
        record["status"], record["reason"] = "oom", f"out of memory at step {step}: {exc}"
        record["stopped_by"] = "oom"
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    record["wall_time_s"] = time.perf_counter() - start
    if out_dir is not None:
        write_json_atomic(Path(out_dir) / "result.json", record)
    return record


def dna_loss(task: str, out: Tensor, target: Tensor) -> Tensor:
    """MSE on the (standardised) values for regression (averaged over targets when there are
    several), cross-entropy for classification."""
    if task == "regression":
        return F.mse_loss(out[:, 0] if target.dim() == 1 else out, target)
    return F.cross_entropy(out, target)


def dna_record(
    dataset: DnaDataset, model: ModelSpec, seed: int, dev: torch.device, **train: Any
) -> dict[str, Any]:
    """A run's record before training (see the module docstring for its keys); ``train`` holds
    :func:`train_dna`'s keyword arguments, with the defaults (lr, RC policy) resolved here."""
    kind = _kind(model)
    lr = DEFAULT_LR[kind] if train["lr"] is None else train["lr"]
    rc_mode, augment, average = rc_policy(model, train.pop("rc_augment"), train.pop("rc_average"))
    dumped = (_as_pooled(model, seed) if isinstance(model, ModelConfig) else model).model_dump(mode="json")
    order = ("epochs", "steps", "batch", "lr", "weight_decay", "warmup", "min_lr_ratio", "clip")
    rest = ("early_stop", "patience", "min_steps", "eval_every", "max_time_s")
    record: dict[str, Any] = {
        "dataset": dataset.name,
        "task": dataset.task,
        "model": {"kind": kind, "config": dumped},
        "seed": seed,
        "metric": dataset.metric,
        "train": {
            **{k: (lr if k == "lr" else train[k]) for k in order},
            "rc": rc_mode,
            "rc_augment": augment,
            "rc_average": average,
            **{k: train[k] for k in rest},
        },
        "status": "running",
        "reason": "",
        "stopped_by": "",
        "test": {},
        "valid": {},
        "best_step": 0,
        "steps": 0,
        "params": 0,
        "constant_output": False,
        "warnings": [],
        "provenance": provenance(dev),
    }
    info = level_info(dataset)
    if info is not None:
        record["level"] = info
    record["curve"] = []
    return record


class DnaTensors:
    """A dataset's splits as device tensors (the same for every seed): ``train`` (minus the fixed
    holdout when the dataset has no ``valid`` split), ``valid``, ``test``; the training reverse
    complements when augmenting; regression targets standardised with the training statistics."""

    def __init__(self, dataset: DnaDataset, holdout: float, dev: torch.device, augment: bool) -> None:
        self.task: Literal["classification", "regression"] = dataset.task
        train_split = dataset.splits["train"]
        if "valid" in dataset.splits:
            valid_split, self.valid_source = dataset.splits["valid"], "valid"
        else:
            keep, held = _holdout(len(train_split), holdout)
            valid_split = train_split.subset(held)
            train_split = train_split.subset(keep)
            self.valid_source = f"train holdout ({len(held)} rows, fraction {holdout})"
        self.y_mean: float | np.ndarray = 0.0
        self.y_sd: float | np.ndarray = 1.0
        if self.task == "regression":
            y_train = np.asarray(train_split.y, dtype=np.float64)
            if y_train.ndim == 2:  # several targets: each standardised on its own
                self.y_mean = y_train.mean(axis=0)
                sd = y_train.std(axis=0)
                self.y_sd = np.where(sd > 0, sd, 1.0)
            else:
                self.y_mean = float(y_train.mean())
                self.y_sd = float(y_train.std()) or 1.0
        self.train = _Tensors(train_split, dev, self.loss_targets(train_split))
        self.valid = _Tensors(valid_split, dev, self.loss_targets(valid_split))
        self.test = _Tensors(dataset.splits["test"], dev, self.loss_targets(dataset.splits["test"]))
        self.train_rc = revcomp_tokens(self.train.codes, self.train.lengths) if augment else None
        self.dev = dev

    def note(self, record: dict[str, Any]) -> None:
        record["valid_source"] = self.valid_source
        if self.task == "regression":
            record["y_standardisation"] = {
                "mean": np.asarray(self.y_mean).tolist(),
                "sd": np.asarray(self.y_sd).tolist(),
            }

    def loss_targets(self, sp: Split) -> np.ndarray:
        if self.task == "regression":
            return ((np.asarray(sp.y, dtype=np.float64) - self.y_mean) / self.y_sd).astype(np.float32)
        return np.asarray(sp.y, dtype=np.int64)

    def epoch(self, rng: np.random.Generator) -> tuple[Tensor, Tensor | None]:
        """A seeded permutation of the training rows and, when augmenting, which rows flip strand."""
        n = len(self.train)
        perm = torch.from_numpy(rng.permutation(n)).to(self.dev)
        flips = torch.from_numpy(rng.random(n) < 0.5).to(self.dev) if self.train_rc is not None else None
        return perm, flips

    def batch(self, perm: Tensor, flips: Tensor | None, pos: int, bsz: int) -> tuple[Tensor, Tensor, Tensor]:
        """Batch ``pos`` of an epoch: codes (reverse-complemented where ``flips``), targets, lengths."""
        idx = perm[pos * bsz : (pos + 1) * bsz]
        x = self.train.codes[idx]
        if self.train_rc is not None and flips is not None:
            x = torch.where(flips[pos * bsz : (pos + 1) * bsz, None], self.train_rc[idx], x)
        return x, self.train.y[idx], self.train.lengths[idx]

    def scale(self, p: np.ndarray) -> np.ndarray:
        return p * self.y_sd + self.y_mean if self.task == "regression" else p

    def evaluate(self, net: nn.Module, t: _Tensors, average: bool) -> tuple[dict[str, Any], np.ndarray]:
        """Scores on ``t`` and the predictions (on the original scale)."""
        p = self.scale(predict(net, t.codes, t.lengths, task=self.task, rc_average=average))
        return score(self.task, t.y_true, p), p


@dataclass(frozen=True)
class Schedule:
    """Batch size, steps per epoch, total steps, evaluation cadence, patience and warm-up steps."""

    bsz: int
    per_epoch: int
    total: int
    every: int
    wait: int
    warm: int
    early_stop: bool
    min_steps: int
    metric: str

    @classmethod
    def of(cls, record: dict[str, Any], n: int) -> Schedule:
        """The schedule of ``record["train"]`` on ``n`` training rows (recorded back into it)."""
        t = record["train"]
        bsz = min(t["batch"], n)
        per_epoch = max(1, n // bsz)
        total = t["steps"] if t["steps"] is not None else t["epochs"] * per_epoch
        every = max(1, min(t["eval_every"] or DEFAULT_EVAL_EVERY, total))
        wait = DEFAULT_PATIENCE if t["patience"] is None else t["patience"]
        t.update(total_steps=total, eval_every=every, patience=wait)
        warm = round(t["warmup"] * total)
        return cls(
            bsz, per_epoch, total, every, wait, warm, t["early_stop"], t["min_steps"], record["metric"]
        )

    def stop_now(self, record: dict[str, Any], step: int, has_best: bool) -> bool:
        """Early stopping after ``step``: ``patience`` steps without a better validation score
        (never before ``min_steps``); records why."""
        stale = step + 1 - int(record["best_step"])
        if self.early_stop and step + 1 >= self.min_steps and has_best and stale >= self.wait:
            record["stopped_by"] = "patience"
            record["reason"] = (
                f"early stop: no better valid {self.metric} in {stale} steps (patience {self.wait})"
            )
            return True
        return False


def finish_dna(
    record: dict[str, Any],
    net: nn.Module,
    data: DnaTensors,
    best_state: dict[str, Tensor] | None,
    test_long: Sequence[tuple[str, Split, dict[str, Any]]],
    dev: torch.device,
) -> None:
    """Score a run that did not diverge: the best weights (early stop) or the last, on valid,
    test and the ``test_long`` sets; flag a constant output."""
    t, metric = record["train"], record["metric"]
    if t["early_stop"] and best_state is not None:
        net.load_state_dict(best_state)
    else:
        record["best_step"] = record["steps"]

    def evaluate(split: _Tensors) -> tuple[dict[str, Any], np.ndarray]:
        return data.evaluate(net, split, t["rc_average"])

    record["valid"] = evaluate(data.valid)[0]
    record["test"], test_pred = evaluate(data.test)
    if constant_output(test_pred, data.y_sd):
        record["constant_output"] = True
        record["warnings"].append(
            f"constant output: the test predictions spread by at most {CONSTANT_SPREAD:g} (the "
            f"model ignores its input; test {metric} {record['test'].get(metric)})"
        )
    record["test_long"] = [_score_extra(name, sp, meta, evaluate, data.loss_targets, dev, metric, data.y_sd)
                           for name, sp, meta in test_long]  # fmt: skip


def _score_extra(
    name: str,
    split: Split,
    meta: dict[str, Any],
    evaluate: Callable[[_Tensors], tuple[dict[str, Any], np.ndarray]],
    loss_targets: Callable[[Split], np.ndarray],
    dev: torch.device,
    metric: str,
    scale: float | np.ndarray,
) -> dict[str, Any]:
    """One train-short/test-long set scored with the selected weights (an OOM is recorded)."""
    entry: dict[str, Any] = {"name": name, **meta, "metric": metric, "n": len(split)}
    try:
        scores, pred = evaluate(_Tensors(split, dev, loss_targets(split)))
    except Exception as exc:
        if not is_oom(exc):
            raise
        return entry | {"value": None, "status": "oom", "reason": str(exc)}
    return entry | {"value": scores.get(metric), "scores": scores, "status": "ok",
                    "constant_output": constant_output(pred, scale)}  # fmt: skip


def run_seeds(
    dataset: DnaDataset,
    model: ModelSpec,
    seeds: tuple[int, ...] | list[int] = (0, 1, 2),
    out_dir: str | os.PathLike[str] | None = None,
    stacked: bool = False,
    **kw: Any,
) -> dict[str, Any]:
    """:func:`train_dna` once per seed; the test metric's mean, sample sd and count over seeds.

    Failed runs (diverged, oom) have no test score and are left out of the mean (``n`` says how
    many count). ``out_dir`` gets ``seed_<s>/result.json`` per run and ``summary.json``. Other
    keyword arguments go to :func:`train_dna`. ``stacked``: the seeds train as one stacked model
    where :func:`archlab.dna.stacked.dna_stack_support` allows it (the same records).
    """
    if not seeds:
        raise ValueError("run_seeds needs at least one seed")
    dirs = [Path(out_dir) / f"seed_{s}" if out_dir is not None else None for s in seeds]
    if stacked:
        from archlab.dna.stacked import train_dna_cell

        runs = train_dna_cell(dataset, model, list(seeds), out_dirs=dirs, **kw)
    else:
        runs = [train_dna(dataset, model, seed=s, out_dir=d, **kw) for s, d in zip(seeds, dirs, strict=True)]
    metric = dataset.metric
    values = [float(r["test"].get(metric, float("nan"))) for r in runs]
    mean, sd, n = mean_sd(values)
    summary = {
        "dataset": dataset.name,
        "model": runs[0]["model"],
        "metric": metric,
        "seeds": list(seeds),
        "values": values,
        "mean": mean,
        "sd": sd,
        "n": n,
        "wall_time_s": [r["wall_time_s"] for r in runs],
        "statuses": [r["status"] for r in runs],
        "runs": runs,
    }
    if dataset.targets:  # several regression targets: each one's mean ± sd over the seeds too
        summary["targets"] = list(dataset.targets)
        per = []
        for j, name in enumerate(dataset.targets):
            vals = [float(r["test"]["per_target"][j][metric]) if "per_target" in r["test"] else float("nan")
                    for r in runs]  # fmt: skip
            m, s, k = mean_sd(vals)
            per.append({"target": name, "values": vals, "mean": m, "sd": s, "n": k})
        summary["per_target"] = per
    if out_dir is not None:
        write_json_atomic(Path(out_dir) / "summary.json", summary)
    return summary
