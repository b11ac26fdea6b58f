"""The objective of a study: train the trial's architecture on every probe of the suite.

For probe ``i`` (the Optuna step), :func:`archlab.train.train_run` trains a fresh model and the
probe's **score** is the mean over its test lengths of the scaled accuracy (``aggregate:
mean_scaled_acc``; 1 = perfect, 0 = chance) or of the sequence accuracy (``mean_seq_acc``). With
the Wilcoxon pruner the score is reported at step ``i`` (it compares probes across trials); with
the median or Hyperband pruner the trainer's validation sequence accuracy is reported at every
evaluation, at step ``i · steps + training step`` (so trials are compared on the same probe at
the same point of training). Multi-objective studies report nothing (Optuna cannot prune them).
The trial's value is the mean score over the suite.

A DNA objective (``objective.kind: dna``) trains the trial's architecture (pooled head) on each
task of ``objective.dna.tasks`` with :func:`archlab.dna.train.train_dna` (RC augmentation and
averaging, early stop on the validation metric); a task's score is its headline metric (AUROC,
accuracy or Pearson r) on the validation split, so the search never selects on test; the
record's ``dna`` key keeps every task's validation and test metrics. The median/Hyperband
pruners read the validation metric at every evaluation; DNA tasks get no theory predictions.

Every trial records one user attr, :data:`RECORD_KEY` (``"archlab"``): a dict written once
when the trial ends, and after every probe while it trains (one storage write instead of one per
field keeps the runner's overhead near a bare Optuna loop's). :func:`trial_record` reads it back
merged with the trial's other user attrs. Its keys (the start time is Optuna's
``datetime_start``): ``worker_rank``, ``sampler_seed``, ``config`` (model and train dumps),
``seeds``, ``provenance`` (versions, git SHA, device), ``wall_time_s``, ``scores`` (per probe),
``predictions`` (per probe: the theory verdict and rule at the longest test length),
``agreement`` (per probe: the :func:`archlab.theory.classify` class, with *solved* = mean scaled
accuracy ≥ 0.9 over the test lengths longer than any training length; when no test length is
beyond training, over all test lengths, and the cell counts as in-training), ``second`` (the
second objective's value), and ``fail_reason`` when it fails. While a trial runs on a
persistent storage, a heartbeat thread writes the top-level user attrs ``heartbeat_at`` (epoch
seconds, every ``heartbeat.interval_s``) and ``worker_rank`` (at its first beat), which
``repair`` and ``status`` read.

Failures: an invalid parameter combination, out of memory, or any :class:`ArchlabError` is
raised after ``fail_reason`` is recorded; the runner passes :data:`CATCH` to ``optimize`` so the
trial FAILs and the study goes on. A diverged run returns NaN (Optuna marks the trial FAIL).
"""

from __future__ import annotations

import contextlib
import json
import math
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from archlab.atomic import json_default
from archlab.config import ModelConfig, TrainConfig
from archlab.errors import ArchlabError
from archlab.search.space import build_configs, suggest_params
from archlab.search.spec import StudySpec

__all__ = [
    "CATCH",
    "DONE",
    "FINISHED",
    "RECORD_KEY",
    "SOLVED",
    "Objective",
    "TrialFailedError",
    "synthetic_scores",
    "trial_record",
]

#: mean scaled accuracy beyond the training lengths that counts as "solved" (as in reproduce)
SOLVED = 0.9


class TrialFailedError(ArchlabError):
    """A trial that could not produce a value (out of memory, a synthetic failure)."""


#: the user attr that holds a trial's record (see the module docstring)
RECORD_KEY = "archlab"
#: user attrs that repeat the record for tools reading attrs (optuna-dashboard): one per score
#: (``score: parity``), and the last heartbeat as a date
SCORE_ATTR = "score: "
HEARTBEAT_UTC = "heartbeat_utc"

#: the states of a trial that will not run again
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)

#: the states that count toward a budget: the trial measured something (a failed trial does
#: not count; a killed one is retried)
DONE = (TrialState.COMPLETE, TrialState.PRUNED)


def last_alive(t: FrozenTrial) -> float:
    """The latest sign of life of a running trial (epoch seconds): its heartbeat or its start."""
    stamps = [float(t.user_attrs.get("heartbeat_at", 0.0))]
    if t.datetime_start is not None:
        stamps.append(t.datetime_start.timestamp())
    return max(stamps)


def budget_reached(
    trials: Sequence[FrozenTrial], total: int, grace_s: float, now: float, own_done: bool | None = None
) -> bool:
    """Whether a worker should start no further trial: the done trials and the live running ones
    (heartbeat within ``grace_s``; they will most likely be done soon) reach ``total``, or as many
    trials as the budget have failed (a study whose trials keep failing stops). ``own_done``:
    the outcome of the caller's own trial, which is not among ``trials`` (None: no such trial)."""
    done = sum(t.state in DONE for t in trials) + (own_done is True)
    running = sum(t.state == TrialState.RUNNING and now - last_alive(t) < grace_s for t in trials)
    failed = sum(t.state == TrialState.FAIL for t in trials) + (own_done is False)
    return done + running >= total or failed >= total


def trial_record(trial: FrozenTrial | Any) -> dict[str, Any]:
    """A trial's archlab record (:data:`RECORD_KEY`, decoded) merged over its other user attrs
    (``heartbeat_at``, ``theory_seed``, a ``fail_reason`` written by ``repair``; not the
    ``score: …`` and ``heartbeat_utc`` attrs, which repeat it for optuna-dashboard)."""
    attrs = trial.user_attrs
    # (the per-score attrs and the readable heartbeat repeat the record for other tools)
    out = {
        k: v
        for k, v in attrs.items()
        if k not in (RECORD_KEY, HEARTBEAT_UTC) and not k.startswith(SCORE_ATTR)
    }
    rec = attrs.get(RECORD_KEY)
    if isinstance(rec, str):
        rec = json.loads(rec)
    out.update(rec or {})
    return out


def _write_record(trial: optuna.trial.BaseTrial, rec: dict[str, Any], provenance: str | None = None) -> None:
    """Store the record as one JSON string: a string costs nothing when Optuna deep-copies a
    trial (it does for every finished trial), a nested dict of ~100 fields costs ~0.1 ms.
    ``provenance``, when given, is the worker's provenance already encoded (it is the same for
    every trial of a worker) and becomes the record's ``provenance`` key."""
    text = json.dumps(rec, default=json_default)
    if provenance is not None:
        text = f'{text[:-1]}, "provenance": {provenance}}}' if rec else f'{{"provenance": {provenance}}}'
    trial.set_user_attr(RECORD_KEY, text)


#: exceptions that fail one trial without stopping the study
CATCH: tuple[type[Exception], ...] = (ArchlabError, torch.OutOfMemoryError, MemoryError)


def _position(value: Any, dist: Any) -> float:
    if dist.choices is not None:
        n = len(dist.choices)
        return dist.choices.index(value) / (n - 1) if n > 1 else 1.0
    lo, hi = dist.int_ if dist.int_ is not None else dist.float_
    if hi == lo:
        return 1.0
    if dist.log:
        return (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return float((value - lo) / (hi - lo))


def synthetic_scores(spec: StudySpec, params: Mapping[str, Any]) -> list[float]:
    """The dry objective's per-step scores: a deterministic function of the params."""
    base = statistics.fmean(_position(v, spec.space[k]) for k, v in params.items()) if params else 0.5
    n = spec.objective.synthetic.n_steps
    return [base * (1.0 - 0.05 * i / n) for i in range(n)]


def _matches(cond: Mapping[str, list[Any]] | None, params: Mapping[str, Any]) -> bool:
    return cond is not None and all(k in params and params[k] in v for k, v in cond.items())


class _Heartbeat:
    """One thread per worker that writes a ``heartbeat_at`` user attr (epoch seconds) to the
    running trial every ``interval_s`` seconds after its start, and ``worker_rank`` at the first
    beat (journal storages have no heartbeat of their own; ``repair`` and ``status`` read them).
    Nothing is written for a trial shorter than one interval, and starting or ending a trial costs
    two lock round-trips, not a thread. :meth:`end` returns only when no write to the ending
    trial is in flight."""

    def __init__(self, interval_s: float, rank: int) -> None:
        self.interval_s = interval_s
        self.rank = rank
        self._cond = threading.Condition()
        self._trial: list[Any] | None = None  # [storage, trial_id, next beat (monotonic), first]
        self._writing = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def begin(self, trial: optuna.trial.BaseTrial) -> None:
        if not isinstance(trial, optuna.Trial):
            return
        with self._cond:
            self._trial = [trial.storage, trial._trial_id, time.monotonic() + self.interval_s, True]
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="archlab-heartbeat", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def end(self) -> None:
        with self._cond:
            self._trial = None
            while self._writing:
                self._cond.wait()
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._trial = None
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        with self._cond:
            while not self._closed:
                if self._trial is None:
                    self._cond.wait()
                    continue
                storage, trial_id, due, first = self._trial
                delay = due - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                self._trial[2], self._trial[3] = due + self.interval_s, False
                self._writing = True
                self._cond.release()
                try:
                    with contextlib.suppress(Exception):  # the trial may have finished meanwhile
                        if first:
                            storage.set_trial_user_attr(trial_id, "worker_rank", self.rank)
                        now = time.time()
                        storage.set_trial_user_attr(trial_id, "heartbeat_at", now)
                        # the same instant for people (optuna-dashboard shows user attrs as text)
                        storage.set_trial_user_attr(trial_id, HEARTBEAT_UTC, _utc(now))
                finally:
                    self._cond.acquire()
                    self._writing = False
                    self._cond.notify_all()


def _utc(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _diverged(rec: dict[str, Any], scores: list[float], label: str, run: dict[str, Any]) -> bool:
    """Whether a training run diverged (its fail reason is then recorded); out of memory raises
    :class:`TrialFailedError` (the trial FAILs with that reason)."""
    if run["status"] == "diverged":
        rec["scores"] = scores
        rec["fail_reason"] = f"diverged on {label}: {run.get('reason', '')}".rstrip(": ")
        return True
    if run["status"] == "oom":
        raise TrialFailedError(f"{label}: {run.get('reason') or 'out of memory'}")
    return False


class Objective:
    """Callable objective for ``study.optimize`` (and ``FixedTrial`` replays)."""

    def __init__(
        self,
        spec: StudySpec,
        *,
        rank: int = 0,
        sampler_seed: int | None = None,
        tick_s: float | None = None,
        suite_config: Any = None,
        max_total: int | None = None,
    ) -> None:
        self.spec = spec
        self.max_total = max_total
        self.rank = rank
        self.sampler_seed = sampler_seed
        self._heartbeat = _Heartbeat(tick_s, rank) if tick_s is not None else None
        self._suite: Any = None
        self._suite_config = suite_config
        self._facts: dict[int, Any] = {}
        self._provenance: dict[str, Any] | None = None
        self._provenance_json: str | None = None  # encoded once per worker
        self._trial_provenance: str | None = None  # the running trial's (None before its configs)

    # -- lazily built, once per worker -------------------------------------------------------
    @property
    def suite(self) -> Any:
        if self._suite is None:
            from archlab.probes.suite import ProbeSuite

            cfg = self._suite_config if self._suite_config is not None else self.spec.suite_config()
            self._suite = ProbeSuite(cfg)
        return self._suite

    def provenance(self, train_cfg: TrainConfig) -> dict[str, Any]:
        if self._provenance is None:
            from archlab.models import resolve_device
            from archlab.train import provenance

            self._provenance = provenance(resolve_device(train_cfg.device))
            self._provenance_json = json.dumps(self._provenance, default=json_default)
        return self._provenance

    # -- the call ----------------------------------------------------------------------------
    def __call__(self, trial: optuna.trial.BaseTrial) -> float | tuple[float, float]:
        rec: dict[str, Any] = {"worker_rank": self.rank, "sampler_seed": self.sampler_seed}
        self._trial_provenance = None
        done = False  # whether this trial ends COMPLETE or PRUNED (it counts toward the budget)
        if self._heartbeat is not None:
            self._heartbeat.begin(trial)
        try:
            value = self._run(trial, rec)
            done = True
            return value
        except optuna.TrialPruned:
            done = True
            raise
        except KeyboardInterrupt:
            rec["fail_reason"] = "interrupted (KeyboardInterrupt)"
            raise
        except Exception as exc:
            rec["fail_reason"] = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if self._heartbeat is not None:
                self._heartbeat.end()
            _write_record(trial, rec, self._trial_provenance)
            self._write_named_scores(trial, rec)
            self._stop_at_budget(trial, done)

    def score_names(self) -> list[str]:
        """What each of a trial's ``scores`` is: the suite's probes, the DNA tasks, or the
        synthetic objective's steps."""
        spec = self.spec
        if spec.objective.kind == "synthetic":
            return [f"step {i}" for i in range(spec.objective.synthetic.n_steps)]
        if spec.is_dna:
            from archlab.dna.tasks import task_label

            assert spec.objective.dna is not None
            return [task_label(t) for t in spec.objective.dna.tasks]
        return [e.name for e in self.suite.entries]

    def _write_named_scores(self, trial: optuna.trial.BaseTrial, rec: dict[str, Any]) -> None:
        """Each score as a user attr of its own (``score: parity`` = 0.98), for optuna-dashboard
        and other tools that read attrs, not the :data:`RECORD_KEY` JSON (one storage write a
        score, at the end of the trial)."""
        if not isinstance(trial, optuna.Trial):
            return
        for name, value in zip(self.score_names(), rec.get("scores") or [], strict=False):
            if value is not None and math.isfinite(value):
                trial.set_user_attr(f"{SCORE_ATTR}{name}", float(value))

    def close(self) -> None:
        """Stop the heartbeat thread (the worker is done)."""
        if self._heartbeat is not None:
            self._heartbeat.close()

    def _stop_at_budget(self, trial: optuna.trial.BaseTrial, done: bool) -> None:
        """Stop the worker's ``optimize`` loop when, with this trial (done or failed), the study
        reaches its budget (:func:`budget_reached`): a soft cap shared by every worker, checked
        just before the worker would start its next trial, so at most ``workers − 1`` trials
        beyond the budget are done (workers deciding in the same instant). Cheaper than a
        ``MaxTrialsCallback``, which costs a deep copy of the trial."""
        if self.max_total is None or not isinstance(trial, optuna.Trial):
            return
        others = [t for t in trial.study.get_trials(deepcopy=False) if t.number != trial.number]
        grace = self.spec.heartbeat.grace_s
        if budget_reached(others, self.max_total, grace, time.time(), own_done=done):
            trial.study.stop()

    def _run(self, trial: optuna.trial.BaseTrial, rec: dict[str, Any]) -> float | tuple[float, float]:
        spec = self.spec
        start = time.perf_counter()
        params = suggest_params(trial, spec)
        model_cfg, train_cfg = build_configs(spec, params)
        rec["config"] = {"model": model_cfg.model_dump(), "train": train_cfg.model_dump()}
        init_seed = model_cfg.init_seed if model_cfg.init_seed is not None else train_cfg.seed
        rec["seeds"] = {"train": train_cfg.seed, "init": init_seed}
        self.provenance(train_cfg)
        self._trial_provenance = self._provenance_json
        try:
            if spec.objective.kind == "synthetic":
                scores, extra = self._synthetic(trial, rec, params)
            elif spec.is_dna:
                scores, extra = self._dna(trial, rec, model_cfg, train_cfg)
            else:
                scores, extra = self._train(trial, rec, model_cfg, train_cfg)
        finally:
            wall = time.perf_counter() - start
            rec["wall_time_s"] = wall
        if scores is None:  # diverged: fail_reason is set
            return float("nan")
        value = statistics.fmean(scores)
        need_features = (
            spec.objective.second in ("params", "flops", "state_floats") or spec.objective.constraint
        )
        feats = self._features(model_cfg) if need_features else None
        if spec.objective.constraint and feats is not None:
            for key, limit in spec.objective.constraint.items():
                measured = {"max_params": feats.params, "max_flops": feats.flops_per_token}.get(key)
                if key == "max_state_floats":
                    measured = feats.state_floats if feats.state_floats is not None else math.inf
                assert measured is not None
                trial.set_constraint(key, float(min(measured - limit, 1e300)))
        if spec.objective.second is None:
            return value
        second = {
            "params": lambda: float(feats.params),  # type: ignore[union-attr]
            "flops": lambda: float(feats.flops_per_token),  # type: ignore[union-attr]
            "state_floats": lambda: (
                float(feats.state_floats) if feats.state_floats is not None else math.inf  # type: ignore[union-attr]
            ),
            "wall_time": lambda: float(extra.get("train_wall_time_s", wall)),
        }[spec.objective.second]()
        rec["second"] = second
        return value, second

    def _features(self, model_cfg: ModelConfig) -> Any:
        from archlab.models.model import model_features

        if self.spec.is_dna:
            from archlab.dna.tasks import build_dataset

            dna = self.spec.objective.dna
            assert dna is not None
            task = dna.tasks[0]
            ds = build_dataset(task, dna.data_dir)
            return model_features(model_cfg, 5, ds.n_outputs, seq_len=ds.splits["train"].width)
        entry = self.suite.entries[0]
        p = entry.probe
        return model_features(model_cfg, p.vocab_size, p.n_classes, seq_len=max(entry.test_lengths))

    def _eval_hook(
        self,
        trial: optuna.trial.BaseTrial,
        rec: dict[str, Any],
        index: int,
        steps: int,
        scores: list[float],
        key: str = "val_seq_acc",
    ) -> Callable[[int, int, dict[str, float]], None] | None:
        """The training progress hook that reports the validation metric ``key`` to a
        median/Hyperband pruner (None for other pruners and multi-objective studies)."""
        if self.spec.multi_objective or self.spec.pruner.name not in ("median", "hyperband"):
            return None

        def hook(step: int, total: int, metrics: dict[str, float]) -> None:
            if key not in metrics:
                return
            acc = float(metrics[key])
            if math.isnan(acc):
                return
            trial.report(acc, index * steps + step)
            if trial.should_prune():
                rec["scores"] = scores
                raise optuna.TrialPruned(
                    f"pruned on {'probe' if key == 'val_seq_acc' else 'DNA task'} {index} at training "
                    f"step {step} (validation {key} {acc:.3f})"
                )

        return hook

    def _report(
        self,
        trial: optuna.trial.BaseTrial,
        rec: dict[str, Any],
        score: float,
        step: int,
        scores: list[float],
        any_pruner: bool = False,
    ) -> None:
        """Report a probe's score to the pruner: the Wilcoxon pruner when training (median and
        Hyperband read the training curves, :meth:`_eval_hook`), any pruner for the synthetic
        objective, which has no curve (single objective only: the scores are in the ``scores``
        user attr anyway)."""
        if self.spec.multi_objective or self.spec.pruner.name == "none":
            return
        if not any_pruner and self.spec.pruner.name != "wilcoxon":
            return
        trial.report(score, step)
        if trial.should_prune():
            rec["scores"] = scores
            raise optuna.TrialPruned(f"pruned after step {step} (score {score:.4f})")

    def _synthetic(
        self, trial: optuna.trial.BaseTrial, rec: dict[str, Any], params: dict[str, Any]
    ) -> tuple[list[float] | None, dict[str, Any]]:
        syn = self.spec.objective.synthetic
        if syn.sleep_s and (syn.sleep_trials is None or trial.number in syn.sleep_trials):
            time.sleep(syn.sleep_s)
        if syn.cpu_s:
            end = time.perf_counter() + syn.cpu_s
            x = 0
            while time.perf_counter() < end:
                x = (x * 31 + 7) % 1_000_003
        if _matches(syn.raise_when, params):
            raise TrialFailedError(f"synthetic failure for {params}")
        if _matches(syn.nan_when, params):
            rec["fail_reason"] = "diverged: synthetic NaN"
            return None, {}
        if syn.theory:
            model_cfg, _ = build_configs(self.spec, params)
            self._theory(rec, model_cfg, [1.0] * len(self.suite.entries), [0] * len(self.suite.entries))
        scores: list[float] = []
        for i, score in enumerate(synthetic_scores(self.spec, params)):
            scores.append(score)
            self._report(trial, rec, score, i, scores, any_pruner=True)
        rec["scores"] = scores
        return scores, {}

    def _train(
        self,
        trial: optuna.trial.BaseTrial,
        rec: dict[str, Any],
        model_cfg: ModelConfig,
        train_cfg: TrainConfig,
    ) -> tuple[list[float] | None, dict[str, Any]]:
        from archlab.ensemble import train_cell
        from archlab.reproduce import measured_value
        from archlab.train import DataSource

        objective = self.spec.objective
        key = "scaled_acc" if objective.aggregate == "mean_scaled_acc" else "seq_acc"
        pick = max if objective.seed_aggregate == "best" else statistics.fmean
        cfgs = [train_cfg.model_copy(update={"seed": train_cfg.seed + j}) for j in range(objective.seeds)]
        scores: list[float] = []
        beyond: list[float] = []
        in_train: list[int] = []
        evals: list[dict[str, Any]] = []  # per probe and seed: what `archlab theory check` reads back
        train_wall = 0.0
        for entry in self.suite.entries:
            hook = self._eval_hook(trial, rec, entry.index, train_cfg.steps, scores)
            source = DataSource.from_suite(self.suite, entry)
            if objective.stacked or len(cfgs) == 1:
                runs = train_cell(
                    source, model_cfg, cfgs, progress=hook, stacked=None if objective.stacked else False
                )
            else:  # one by one: the pruner follows the first seed's curve (its steps would repeat)
                runs = [train_cell(source, model_cfg, [c], progress=hook if j == 0 else None)[0]
                        for j, c in enumerate(cfgs)]  # fmt: skip
            train_wall += sum(float(r.get("wall_time_s", 0.0)) for r in runs)
            for run in runs:
                if run["status"] == "oom":
                    _diverged(rec, scores, entry.name, run)  # raises
            ok = [r for r in runs if r["status"] != "diverged"]
            if not ok:  # every seed diverged: the trial fails with the first reason
                _diverged(rec, scores, entry.name, runs[0])
                return None, {}
            if any(not r["range_eval"] for r in ok):
                bad = next(r for r in ok if not r["range_eval"])
                raise TrialFailedError(f"{entry.name}: no range evaluation (status {bad['status']})")
            longest_train = max(ok[0]["train_lengths"])
            scores.append(pick([statistics.fmean(float(r[key]) for r in run["range_eval"]) for run in ok]))
            beyond.append(pick([float(measured_value(run, longest_train) or 0.0) for run in ok]))
            in_train.append(0 if any(r["length"] > longest_train for r in ok[0]["range_eval"]) else 1)
            for run in runs:
                evals.append(
                    {
                        **{
                            k: run[k]
                            for k in (
                                "probe",
                                "probe_name",
                                "probe_params",
                                "train_lengths",
                                "status",
                                "seed",
                            )
                        },
                        "range_eval": [
                            {k: r[k] for k in ("length", "token_acc", "seq_acc", "scaled_acc")}
                            for r in run["range_eval"]
                        ],
                    }
                )
            score = scores[-1]
            rec["range_eval"] = evals
            rec["scores"] = scores
            _write_record(trial, rec, self._trial_provenance)  # progress, probe by probe
            self._report(trial, rec, score, entry.index, scores)
        self._theory(rec, model_cfg, beyond, in_train)
        return scores, {"train_wall_time_s": train_wall}

    def _dna(
        self,
        trial: optuna.trial.BaseTrial,
        rec: dict[str, Any],
        model_cfg: ModelConfig,
        train_cfg: TrainConfig,
    ) -> tuple[list[float] | None, dict[str, Any]]:
        """Train on every DNA task; a task's score is its headline metric (AUROC, accuracy or
        Pearson r) on the validation split (on test when the task has none). The record's
        ``dna`` key keeps both splits' metrics per task."""
        from archlab.dna.tasks import build_dataset, task_label
        from archlab.dna.train import train_dna

        dna = self.spec.objective.dna
        assert dna is not None
        scores: list[float] = []
        results: list[dict[str, Any]] = []
        train_wall = 0.0
        for i, task in enumerate(dna.tasks):
            ds = build_dataset(task, dna.data_dir)
            hook = self._eval_hook(trial, rec, i, train_cfg.steps, scores, key=f"valid_{ds.metric}")
            run = train_dna(
                ds,
                model_cfg,
                seed=train_cfg.seed,
                steps=train_cfg.steps,
                batch=train_cfg.batch,
                lr=train_cfg.lr,
                weight_decay=train_cfg.weight_decay,
                clip=train_cfg.clip,
                eval_every=train_cfg.eval_every,
                patience=dna.patience,
                min_steps=dna.min_steps,
                max_time_s=dna.max_time_s,
                early_stop=train_cfg.early_stop,
                device=train_cfg.device,
                progress=hook,
            )
            train_wall += float(run.get("wall_time_s", 0.0))
            label = task_label(task)
            if _diverged(rec, scores, label, run):
                return None, {}
            metric = run["metric"]
            split = "valid" if run.get("valid") else "test"
            score = float(run[split][metric])
            if math.isnan(score):
                rec["scores"] = scores
                rec["fail_reason"] = f"{label}: {metric} is NaN on {split}"
                return None, {}
            scores.append(score)
            results.append(
                {
                    "task": label,
                    "metric": metric,
                    "selected_on": split,
                    "valid": run.get("valid"),
                    "test": run["test"],
                    "status": run["status"],
                    "steps": run.get("steps"),
                    "best_step": run.get("best_step"),
                }
            )
            rec["dna"] = results
            rec["scores"] = scores
            _write_record(trial, rec, self._trial_provenance)  # progress, task by task
            self._report(trial, rec, score, i, scores)
        return scores, {"train_wall_time_s": train_wall}

    def _theory(
        self, rec: dict[str, Any], model_cfg: ModelConfig, beyond: list[float], in_train: list[int]
    ) -> None:
        """Per probe: the prediction at the longest test length and its agreement class."""
        from archlab.theory import classify, predict, probe_facts

        preds: list[dict[str, Any]] = []
        agree: list[str] = []
        for entry, acc, inside in zip(self.suite.entries, beyond, in_train, strict=True):
            if entry.index not in self._facts:
                self._facts[entry.index] = probe_facts(entry.probe)
            pred = predict(entry.probe, model_cfg, [max(entry.test_lengths)], facts=self._facts[entry.index])[
                0
            ]
            preds.append({"probe": entry.name, "verdict": pred.verdict, "rule": pred.rule})
            agree.append(classify(pred, acc >= SOLVED, bool(inside)))
        rec["predictions"] = preds
        rec["agreement"] = agree
