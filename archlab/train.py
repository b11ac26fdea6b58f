"""Train one model on one probe, then measure length generalisation: one readable loop.

    record = train_run(probe, ModelConfig(...), TrainConfig(...))

1. **Data.** Every step draws a fresh batch from the probe's *training* seed stream at a length
   chosen by the curriculum (``uniform`` over the training lengths, or ``increasing``: the
   longest allowed length grows linearly over the first half of training), drawn from the same
   stream (``length_stream: seed``) or from one stream of lengths shared by every seed
   (``shared``). Validation batches
   come from a separate stream of the training distribution; range evaluation uses the *test*
   stream only (:func:`archlab.probes.base.stream_rng`: the streams never share a state). Inside a
   suite, ``forbid_test_in_train`` keeps test sequences out of training (:mod:`archlab.probes.suite`).
2. **Optimisation.** AdamW (:mod:`archlab.optim`; weight decay on matrices only), linear
   warm-up then cosine decay to ``min_lr_ratio·lr``, gradient clipping; the loss is the
   cross-entropy at the probe's masked positions plus the model's auxiliary losses (sparsity,
   ponder cost).
3. **Stopping.** Every ``eval_every`` steps the validation accuracy at the longest training length
   is measured; the run ends as ``solved`` once its sequence accuracy is ≥ ``solve_threshold`` for
   ``solve_patience`` evaluations in a row. A NaN/inf loss ends it as ``diverged``, running out of
   memory as ``oom`` — recorded with the reason, not raised.
4. **Range evaluation** (Delétang et al. 2023): for every test length, per-token accuracy (over
   masked positions), whole-sequence accuracy (every masked position right), and scaled accuracy
   ``(token_acc − chance) / (1 − chance)`` (Grazzi et al. 2025: 1 = perfect, 0 = chance), with
   ``chance`` the accuracy of always predicting the most frequent target class of that test set
   (a stricter baseline than 1/classes when labels are imbalanced; it is stored beside it, and
   scaled accuracy is not clipped, so below-chance shows as negative).
5. **Record.** A JSON-ready dict: status, seed, configs, versions, git SHA, device, wall time,
   tokens seen, training curve, range evaluation, model features and telemetry. ``out_dir``
   gets it as ``result.json`` (written atomically), and ``checkpoint.pt`` if asked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import archlab
from archlab.atomic import atomic_write, write_json_atomic
from archlab.config import ModelConfig, TrainConfig, expand_lengths
from archlab.errors import ConfigError
from archlab.models import SequenceModel, build_model, resolve_device
from archlab.optim import AdamW
from archlab.probes.base import Batch, Probe, stream_rng
from archlab.probes.suite import ProbeSuite, SuiteEntry

__all__ = [
    "DEFAULT_TEST_LENGTHS",
    "DEFAULT_TRAIN_LENGTHS",
    "DataSource",
    "evaluate_lengths",
    "provenance",
    "train_run",
]

log = logging.getLogger(__name__)

DEFAULT_TRAIN_LENGTHS = list(range(1, 41))
DEFAULT_TEST_LENGTHS = [41, 48, 64, 96, 128, 192, 256]
#: TrainConfig fields newer than the first run ids, hashed only when not at this default (so
#: earlier runs keep their folders and ``reproduce`` still resumes them)
LATER_FIELDS: dict[str, Any] = {"length_stream": "seed"}

#: sequences per forward pass during evaluation (bounds memory at long lengths)
EVAL_CHUNK = 128
DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}
#: a hook called after every step with (step, total steps, metrics); the CLI draws its progress bar
ProgressFn = Callable[[int, int, dict[str, float]], None]


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


@dataclass
class DataSource:
    """Where batches come from: a probe alone, or one entry of a suite (which may filter)."""

    probe: Probe
    train_lengths: list[int]
    test_lengths: list[int]
    suite: ProbeSuite | None = None
    entry: SuiteEntry | None = None

    @classmethod
    def from_probe(
        cls, probe: Probe, train: list[int] | None = None, test: list[int] | None = None
    ) -> DataSource:
        lo = probe.min_length
        return cls(
            probe,
            train or [n for n in DEFAULT_TRAIN_LENGTHS if n >= lo] or [lo],
            test or [n for n in DEFAULT_TEST_LENGTHS if n >= lo] or [lo],
        )

    @classmethod
    def from_suite(cls, suite: ProbeSuite, entry: SuiteEntry) -> DataSource:
        return cls(entry.probe, list(entry.train_lengths), list(entry.test_lengths), suite, entry)

    @property
    def index(self) -> int:
        return self.entry.index if self.entry is not None else 0

    def rng(self, split: str, seed: int, *sub: int) -> np.random.Generator:
        """``split``: "train", "val" (a sub-stream of train) or "test"."""
        if split == "val":
            return stream_rng(seed, "train", self.index, 1)
        return stream_rng(seed, split, self.index, *sub)

    def eval_rng(self, split: str, seed: int, length: int) -> np.random.Generator:
        """The evaluation stream: ``val`` (the same validation set at every evaluation) or
        ``test`` (its own stream per test length)."""
        return self.rng(split, seed) if split == "val" else self.rng(split, seed, 1_000_000 + length)

    def length_rng(self, stream: str) -> np.random.Generator | None:
        """The generator of training lengths: None for ``length_stream: seed`` (the lengths come
        from the run's data stream), else one stream shared by every seed."""
        return None if stream == "seed" else stream_rng(0, "train", self.index, 2)

    def probe_of(self, split: str) -> Probe:
        """The probe that labels ``split``: a suite's ``test_params`` give the test split its own."""
        return self.entry.test_probe if split == "test" and self.entry is not None else self.probe

    def batch(
        self, split: str, rng: np.random.Generator, batch: int, length: int, seed: int | None = None
    ) -> Batch:
        """A batch of ``split``; ``seed`` (the run's, for training batches) selects a suite's
        finite training set where it has one (``train_set_size``)."""
        if self.suite is not None and self.entry is not None:
            if split == "test":
                return self.suite.test_batch(self.entry, rng, batch, length)
            return self.suite.train_batch(self.entry, rng, batch, length, seed if split == "train" else None)
        return self.probe.sample(rng, batch, length)


def _lengths(spec: Any, default: list[int]) -> list[int]:
    return expand_lengths(spec) if spec is not None else default


def curriculum_length(lengths: list[int], kind: str, step: int, steps: int, rng: np.random.Generator) -> int:
    """The training length for ``step``: uniform over ``lengths``, or over a growing prefix."""
    if kind == "increasing":
        frac = min(1.0, (step + 1) / max(1, steps // 2))
        lengths = lengths[: max(1, math.ceil(frac * len(lengths)))]
    return int(lengths[int(rng.integers(len(lengths)))])


def to_device(b: Batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        torch.from_numpy(b.tokens).to(device, non_blocking=True),
        torch.from_numpy(b.targets).to(device, non_blocking=True),
        torch.from_numpy(b.mask).to(device, non_blocking=True),
    )


# ---------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------


def masked_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the masked positions."""
    flat = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")
    m = mask.flatten().to(flat.dtype)
    return (flat * m).sum() / m.sum().clamp(min=1.0)


@torch.no_grad()
def tally(pred: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``[..., 4]`` over the last two dimensions (sequences, positions): correct masked tokens,
    masked tokens, correct sequences (every masked position right), sequences with a masked
    position. Leading dimensions (a stack's members) are kept."""
    hit = pred == targets
    has = mask.any(dim=-1)
    return torch.stack(
        [
            (hit & mask).sum((-2, -1)),
            mask.sum((-2, -1)),
            ((hit | ~mask).all(dim=-1) & has).sum(-1),
            has.sum(-1),
        ],
        dim=-1,
    )


@torch.no_grad()
def accuracy_counts(
    model: SequenceModel, tokens: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
) -> tuple[int, int, int, int, torch.Tensor]:
    """(correct tokens, masked tokens, correct sequences, sequences with a masked position,
    predictions)."""
    pred = model(tokens).argmax(-1)
    ct, nt, cs, ns = (int(x) for x in tally(pred, targets, mask).tolist())
    return ct, nt, cs, ns, pred


@torch.no_grad()
def evaluate_lengths(
    model: SequenceModel,
    source: DataSource,
    lengths: list[int],
    n_sequences: int,
    seed: int,
    device: torch.device,
    split: str = "test",
) -> list[dict[str, Any]]:
    """Per-length token / sequence / scaled accuracy on ``n_sequences`` sequences of ``split``."""
    was_training = model.training
    model.eval()
    rows = []
    for length in lengths:
        rng = source.eval_rng(split, seed, length)
        ct = nt = cs = ns = 0
        probe = source.probe_of(split)
        counts = np.zeros(probe.n_classes, dtype=np.int64)
        right = np.zeros(probe.n_classes, dtype=np.int64)  # per target class, predicted right
        predicted = np.zeros(probe.n_classes, dtype=np.int64)  # per class, predicted at a scored position
        pad = np.zeros(2, dtype=np.int64)  # padding positions right, padding positions
        stats: dict[str, list[float]] = {}
        left = n_sequences
        while left > 0:
            b = source.batch(split, rng, min(EVAL_CHUNK, left), length)
            left -= b.tokens.shape[0]
            counts += np.bincount(b.targets[b.mask], minlength=counts.size)
            a, n, s, m, pred = accuracy_counts(model, *to_device(b, device))
            ct, nt, cs, ns = ct + a, nt + n, cs + s, ns + m
            p = pred.cpu().numpy()
            pad += padding_counts(probe, b, p)
            r, q = class_counts(b, p, right.size)
            right, predicted = right + r, predicted + q
            for k, v in model.last_stats.items():
                stats.setdefault(k, []).append(v)
        padding = (int(pad[0]), int(pad[1])) if probe.padding_target is not None else None
        macro = macro_accuracy(right, counts, predicted)
        rows.append(range_row(length, ct, nt, cs, ns, counts, n_sequences, stats, padding, macro))
    model.train(was_training)
    return rows


def class_counts(batch: Batch, pred: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per class: scored positions of that target predicted right, and scored positions where it
    was predicted (the tallies :func:`macro_accuracy` needs)."""
    hit = batch.mask & (pred == batch.targets)
    right = np.bincount(batch.targets[hit], minlength=n_classes)
    predicted = np.bincount(np.clip(pred[batch.mask], 0, n_classes - 1), minlength=n_classes)
    return right, predicted


def macro_accuracy(right: np.ndarray, support: np.ndarray, predicted: np.ndarray) -> float:
    """Per-class accuracy (recall) averaged over the classes that occur as a target or as a
    prediction at a scored position — torchmetrics' ``MulticlassAccuracy(average="macro")``,
    which MAD reports: a class that is only ever predicted, never a target, counts as 0."""
    present = (support + predicted) > 0
    if not present.any():
        return 0.0
    per_class = np.divide(right, support, out=np.zeros(right.size), where=support > 0)
    return float(per_class[present].mean())


def padding_counts(probe: Probe, batch: Batch, pred: np.ndarray) -> np.ndarray:
    """``[padding positions predicted right, padding positions]`` of a batch (zeros when the probe
    has no padding target, :meth:`~archlab.probes.base.Probe.padding_mask`)."""
    pad = probe.padding_mask(batch)
    if pad is None:
        return np.zeros(2, dtype=np.int64)
    return np.array([int(((pred == batch.targets) & pad).sum()), int(pad.sum())], dtype=np.int64)


def range_row(
    length: int, ct: int, nt: int, cs: int, ns: int, counts: np.ndarray, n_sequences: int,
    stats: dict[str, list[float]], padding: tuple[int, int] | None = None, macro: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One row of a range evaluation from its tallies: ``ct`` of ``nt`` masked tokens right, ``cs``
    of ``ns`` sequences right, ``counts`` the targets per class (for chance), ``stats`` telemetry;
    ``scaled_acc`` takes chance from the most frequent target class of the test set,
    ``scaled_acc_uniform`` from a uniform guess over the target classes;
    ``padding`` = (right, total) over the scored padding positions, for probes that have them:
    then ``content_token_acc`` (the answer itself), ``padding_token_acc`` and ``padding_fraction``
    are reported beside ``token_acc`` (which counts both). ``macro`` is the per-class accuracy
    averaged over classes (:func:`macro_accuracy`), reported as ``macro_acc``."""
    token_acc = ct / max(nt, 1)
    chance = float(counts.max() / max(counts.sum(), 1))
    row: dict[str, Any] = {
        "length": int(length),
        "token_acc": token_acc,
        "seq_acc": cs / max(ns, 1),
        "scaled_acc": (token_acc - chance) / (1 - chance) if chance < 1 else float(token_acc == 1.0),
        "chance": chance,
        # chance = 1 / (number of target classes): Grazzi et al.'s scaling (0.5 for parity, 0.2
        # for arithmetic mod 5; automl/unlocking_state_tracking xlstm/experiments/eval-chomsky.py)
        "scaled_acc_uniform": (token_acc - 1 / counts.size) / (1 - 1 / counts.size)
        if counts.size > 1
        else 1.0,
        "n_sequences": n_sequences,
        "n_tokens": nt,
    }
    if macro is not None:
        row["macro_acc"] = macro
    if padding is not None:
        pr, pn = padding
        row["content_token_acc"] = (ct - pr) / max(nt - pn, 1)
        row["padding_token_acc"] = pr / pn if pn else None
        row["padding_fraction"] = pn / max(nt, 1)
    row.update({k: float(np.mean(v)) for k, v in stats.items()})
    return row


# ---------------------------------------------------------------------------------------------
# provenance and files
# ---------------------------------------------------------------------------------------------


def _git_sha() -> str | None:
    root = Path(archlab.__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def provenance(device: torch.device) -> dict[str, Any]:
    """Versions, git SHA and machine: what a result needs to be traced back."""
    return {
        "versions": {
            "archlab": archlab.__version__,
            "torch": torch.__version__,
            "optuna": _version("optuna"),
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "git_sha": _git_sha(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "torch_threads": torch.get_num_threads(),
        "host": platform.node(),
    }


def run_id(probe: Probe, model_cfg: ModelConfig, train_cfg: TrainConfig) -> str:
    """A readable, unique folder name: ``<probe>-<mixer>-s<seed>-<config hash>``."""
    train = train_cfg.model_dump(exclude={"seed"})
    for name, default in LATER_FIELDS.items():  # fields added after run ids were first written
        if train.get(name) == default:
            del train[name]
    blob = json.dumps(
        [probe.spec(), model_cfg.identity_dump(), train],
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha1(blob.encode()).hexdigest()[:8]
    safe = "".join(c if c.isalnum() or c in "-_=" else "_" for c in probe.spec())
    return f"{safe}-{model_cfg.mixer}-s{train_cfg.seed}-{digest}"


# ---------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``min_lr_ratio·lr`` at the end."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    span = max(1, cfg.steps - cfg.warmup)
    progress = min(1.0, (step - cfg.warmup) / span)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model: SequenceModel, cfg: TrainConfig) -> AdamW:
    """AdamW with weight decay on matrices only (:mod:`archlab.optim`: not ``torch.optim``,
    whose constructor imports ``torch._dynamo``, seconds per process)."""
    return AdamW.decaying_matrices(list(model.parameters()), cfg.weight_decay)


@contextlib.contextmanager
def _autocast(device: torch.device, dtype: str) -> Iterator[None]:
    if dtype == "bfloat16":
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def prepare_source(probe: Probe | DataSource, model_cfg: ModelConfig, train_cfg: TrainConfig) -> DataSource:
    """The run's data source with ``train_cfg``'s lengths applied; bad lengths or head → ConfigError."""
    source = probe if isinstance(probe, DataSource) else DataSource.from_probe(probe)
    source = DataSource(
        source.probe,
        _lengths(train_cfg.train_lengths, source.train_lengths),
        _lengths(train_cfg.test_lengths, source.test_lengths),
        source.suite,
        source.entry,
    )
    for split, lengths in (("train_lengths", source.train_lengths), ("test_lengths", source.test_lengths)):
        if lengths[0] < source.probe.min_length:
            raise ConfigError(
                f"train.{split}", f"length {lengths[0]} is below the minimum of probe {source.probe.name!r}",
                f">= {source.probe.min_length}",
            )  # fmt: skip
    if model_cfg.head != "token":
        raise ConfigError("model.head", "probes label every position; use head: token", "token")
    return source


def seeded(model_cfg: ModelConfig, seed: int) -> ModelConfig:
    """``model_cfg`` with ``init_seed`` = the run's seed unless the config fixes it."""
    return model_cfg.model_copy(update={"init_seed": seed}) if model_cfg.init_seed is None else model_cfg


def protocol_deviations(source: DataSource) -> list[str]:
    """How a run on a protocol suite departs from the suite (lengths overridden with ``--set``);
    empty when it follows the suite, which the suite's load checked against the protocol."""
    entry = source.entry
    if entry is None:
        return []
    out = []
    for split, mine, suite_lengths in (
        ("train", source.train_lengths, entry.train_lengths),
        ("test", source.test_lengths, entry.test_lengths),
    ):
        if tuple(mine) != tuple(suite_lengths):
            out.append(f"{split} lengths {_span(mine)} instead of the suite's {_span(suite_lengths)}")
    return out


def _span(lengths: Sequence[int]) -> str:
    lo, hi = min(lengths), max(lengths)
    return f"{lo}–{hi} ({len(lengths)} lengths)" if len(lengths) > 4 else ", ".join(map(str, lengths))


def new_record(
    source: DataSource, model_cfg: ModelConfig, train_cfg: TrainConfig, device: torch.device
) -> dict[str, Any]:
    """The result record of a run before training: what it is, with which code, where. A suite
    entry's test-only parameters (``test_params``) and finite training set are recorded too."""
    extra: dict[str, Any] = {}
    if source.entry is not None:
        if source.entry.test_probe is not source.probe:
            extra["test_probe"] = source.entry.test_probe.spec()
            extra["test_probe_params"] = dict(source.entry.test_probe.params)
        if source.entry.train_set_size is not None:
            extra["train_set_size"] = source.entry.train_set_size
    if source.suite is not None and source.suite.config.protocol:
        extra["protocol"] = source.suite.config.protocol
        extra["protocol_deviations"] = protocol_deviations(source)
        from archlab.probes.protocols import published_for

        extra["published"] = [
            {
                "model": r.model,
                "value": r.value,
                "metric": r.metric,
                "source": r.source,
                "verified": r.verified,
            }
            for r in published_for(source.suite.config.protocol, source.probe.name, source.probe.params)
        ]
    return {
        "status": "running",
        "reason": "",
        "seed": train_cfg.seed,
        "probe": source.probe.spec(),
        "probe_name": source.probe.name,
        "probe_params": dict(source.probe.params),
        "theory": source.probe.theory.to_dict(),
        "suite": source.suite.name if source.suite is not None else None,
        "model": model_cfg.model_dump(),
        "train": train_cfg.model_dump(),
        "train_lengths": source.train_lengths,
        "test_lengths": source.test_lengths,
        **extra,
        **provenance(device),
    }


#: statuses of a finished run whose record a rerun reuses (``interrupted`` runs are redone)
FINAL_STATUSES = ("solved", "completed", "diverged", "oom")


def finished_record(run_dir: Path | None) -> dict[str, Any] | None:
    """The record of an earlier, finished run in ``run_dir`` (same run id: same configuration),
    for resuming; None if there is none, it is unreadable or the run did not finish."""
    if run_dir is None or not (run_dir / "result.json").is_file():
        return None
    try:
        rec = json.loads((run_dir / "result.json").read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and rec.get("status") in FINAL_STATUSES else None


def train_run(
    probe: Probe | DataSource,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Train ``model_cfg`` on ``probe`` with ``train_cfg``, evaluate, return the result record.

    ``probe`` may be a :class:`DataSource` (a suite entry). The record is also written to
    ``out_dir/result.json`` when ``out_dir`` is given. Divergence and out-of-memory end the run
    with that status; Ctrl-C writes the record with status ``interrupted`` and re-raises.
    """
    source = prepare_source(probe, model_cfg, train_cfg)
    device = resolve_device(train_cfg.device)
    seed = train_cfg.seed
    torch.manual_seed(seed)
    model_cfg = seeded(model_cfg, seed)
    record = new_record(source, model_cfg, train_cfg, device)
    out_path = Path(out_dir) if out_dir is not None else None
    start = time.perf_counter()
    curve: list[dict[str, Any]] = []
    record["curve"] = curve
    tokens_seen = 0
    step = 0
    model: SequenceModel | None = None
    try:
        model = build_model(model_cfg, source.probe.vocab_size, source.probe.n_classes, device=device)
        if train_cfg.dtype == "float64":
            model = model.double()
        record["features"] = model.features(seq_len=max(source.test_lengths)).to_dict()
        record["n_params"] = sum(p.numel() for p in model.parameters())
        opt = make_optimizer(model, train_cfg)
        rng = source.rng("train", seed)
        len_rng = source.length_rng(train_cfg.length_stream) or rng
        longest = max(source.train_lengths)
        streak = 0
        status = "completed"
        model.train()
        for step in range(train_cfg.steps):
            length = curriculum_length(
                source.train_lengths, train_cfg.curriculum, step, train_cfg.steps, len_rng
            )
            tokens, targets, mask = to_device(
                source.batch("train", rng, train_cfg.batch, length, seed), device
            )
            lr = lr_at(step, train_cfg)
            model.set_progress(step / train_cfg.steps)
            with _autocast(device, train_cfg.dtype):
                logits = model(tokens)
            task_loss = masked_loss(logits, targets, mask)
            loss = task_loss + model.last_aux_loss.float()
            if not torch.isfinite(loss):
                status, record["reason"] = "diverged", f"loss is {float(loss.detach())} at step {step}"
                break
            opt.zero_grad()
            loss.backward()
            if train_cfg.clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.clip)
            opt.step(lr)
            tokens_seen += tokens.numel()
            last = step + 1 == train_cfg.steps or (
                train_cfg.token_budget is not None and tokens_seen >= train_cfg.token_budget
            )
            metrics = {"loss": float(task_loss.detach()), "lr": lr}
            if (step + 1) % train_cfg.eval_every == 0 or last:
                val = evaluate_lengths(
                    model, source, [longest], train_cfg.val_batch, seed, device, split="val"
                )[0]
                point = {
                    "step": step + 1,
                    "tokens": tokens_seen,
                    "elapsed_s": time.perf_counter() - start,
                    "loss": metrics["loss"],
                    "aux_loss": float(model.last_aux_loss.detach()),
                    "lr": lr,
                    "val_length": longest,
                    "val_token_acc": val["token_acc"],
                    "val_seq_acc": val["seq_acc"],
                    **{k: v for k, v in model.last_stats.items()},
                }
                curve.append(point)
                metrics.update(val_token_acc=val["token_acc"], val_seq_acc=val["seq_acc"])
                streak = streak + 1 if val["seq_acc"] >= train_cfg.solve_threshold else 0
                if train_cfg.early_stop and streak >= train_cfg.solve_patience:
                    status = "solved"
            if progress is not None:
                progress(step + 1, train_cfg.steps, metrics)
            if status == "solved" or last:
                break
        record["status"] = status
        if status != "diverged" and curve and curve[-1]["val_seq_acc"] >= train_cfg.solve_threshold:
            record["solved_train"] = True
        else:
            record["solved_train"] = False
        record["range_eval"] = (
            evaluate_lengths(model, source, source.test_lengths, train_cfg.eval_batch, seed, device)
            if status != "diverged"
            else []
        )
    except KeyboardInterrupt:
        record["status"], record["reason"] = "interrupted", f"interrupted at step {step}"
        finish_record(record, start, tokens_seen, step, out_path, _state(model, train_cfg), train_cfg)
        raise
    except Exception as exc:
        if not is_oom(exc):
            raise
        record["status"], record["reason"] = "oom", f"out of memory at step {step}: {exc}"
        record.setdefault("range_eval", [])
        if device.type == "cuda":
            torch.cuda.empty_cache()
    finish_record(record, start, tokens_seen, step, out_path, _state(model, train_cfg), train_cfg)
    return record


def _state(model: SequenceModel | None, train_cfg: TrainConfig) -> dict[str, torch.Tensor] | None:
    return model.state_dict() if model is not None and train_cfg.checkpoint else None


def finish_record(
    record: dict[str, Any],
    start: float,
    tokens_seen: int,
    step: int,
    out_path: Path | None,
    state: dict[str, torch.Tensor] | None,
    train_cfg: TrainConfig,
    wall_time_s: float | None = None,
) -> None:
    """Close a record (wall time, tokens, steps run) and write ``result.json`` (and
    ``checkpoint.pt`` from ``state`` when the config asks) into ``out_path``."""
    record["wall_time_s"] = time.perf_counter() - start if wall_time_s is None else wall_time_s
    record["tokens_seen"] = tokens_seen
    record["steps_run"] = step + 1 if record["status"] in ("completed", "solved") else step
    record.setdefault("range_eval", [])
    if out_path is None:
        return
    out_path.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_path / "result.json", record)
    if train_cfg.checkpoint and state is not None:
        blob = {"model": state, "model_config": record["model"]}
        atomic_write(out_path / "checkpoint.pt", lambda f: torch.save(blob, f), mode="wb")
