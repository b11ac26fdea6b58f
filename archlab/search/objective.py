"""The objective of a study: train the trial's architecture on every probe of the suite.

For probe ``i`` (the Optuna step), :func:`archlab.train.train_run` trains a fresh model and the
probe's **score** is the mean over its test lengths of the scaled accuracy (``aggregate:
mean_scaled_acc``; 1 = perfect, 0 = chance) or of the sequence accuracy (``mean_seq_acc``). With
the Wilcoxon pruner the score is reported at step ``i`` (it compares probes across trials); with
the median or Hyperband pruner the trainer's validation sequence accuracy is reported at every
evaluation, at step ``i · steps + training step`` (so trials are compared on the same probe at
the same point of training). Multi-objective studies report nothing (Optuna cannot prune them).
The trial's value is the mean score over the suite.

Every trial records user attrs (its start time is Optuna's ``datetime_start``): ``worker_rank``,
``sampler_seed``, ``config`` (model and train dumps), ``seeds``, ``provenance`` (versions, git
SHA, device), ``wall_time_s``, ``scores`` (per probe), ``predictions`` (per probe: the theory
verdict and rule at the longest test length), ``agreement`` (per probe: the
:func:`archlab.theory.classify` class, with *solved* = mean scaled accuracy ≥ 0.9 over the test
lengths longer than any training length; when no test length is beyond training, over all test
lengths, and the cell counts as in-training), ``second`` (the second objective's value), and
``fail_reason`` when it fails.

Failures: an invalid parameter combination, out of memory, or any :class:`ArchlabError` is
raised after ``fail_reason`` is recorded; the runner passes :data:`CATCH` to ``optimize`` so the
trial FAILs and the study goes on. A diverged run returns NaN (Optuna marks the trial FAIL).
"""

from __future__ import annotations

import contextlib
import math
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import optuna
import torch

from archlab.config import ModelConfig, TrainConfig
from archlab.errors import ArchlabError
from archlab.search.space import build_configs, suggest_params
from archlab.search.spec import StudySpec

__all__ = ["CATCH", "SOLVED", "Objective", "TrialFailedError", "synthetic_scores"]

#: mean scaled accuracy beyond the training lengths that counts as "solved" (as in reproduce)
SOLVED = 0.9


class TrialFailedError(ArchlabError):
    """A trial that could not produce a value (out of memory, a synthetic failure)."""


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


@contextlib.contextmanager
def _ticker(trial: optuna.trial.BaseTrial, interval_s: float | None) -> Iterator[None]:
    """Write a ``heartbeat_at`` user attr every ``interval_s`` while the trial runs (journal
    storages have no heartbeat of their own; ``repair`` reads it)."""
    if interval_s is None or not isinstance(trial, optuna.Trial):
        yield
        return
    storage, trial_id = trial.storage, trial._trial_id
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval_s):
            with contextlib.suppress(Exception):  # the trial may have finished meanwhile
                storage.set_trial_user_attr(trial_id, "heartbeat_at", time.time())

    thread = threading.Thread(target=beat, name=f"archlab-tick-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


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
    ) -> None:
        self.spec = spec
        self.rank = rank
        self.sampler_seed = sampler_seed
        self.tick_s = tick_s
        self._suite: Any = None
        self._suite_config = suite_config
        self._facts: dict[int, Any] = {}
        self._provenance: dict[str, Any] | None = None

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
        return self._provenance

    # -- the call ----------------------------------------------------------------------------
    def __call__(self, trial: optuna.trial.BaseTrial) -> float | tuple[float, float]:
        trial.set_user_attr("worker_rank", self.rank)
        trial.set_user_attr("sampler_seed", self.sampler_seed)
        try:
            with _ticker(trial, self.tick_s):
                return self._run(trial)
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt:
            trial.set_user_attr("fail_reason", "interrupted (KeyboardInterrupt)")
            raise
        except Exception as exc:
            trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {exc}")
            raise

    def _run(self, trial: optuna.trial.BaseTrial) -> float | tuple[float, float]:
        spec = self.spec
        start = time.perf_counter()
        params = suggest_params(trial, spec)
        model_cfg, train_cfg = build_configs(spec, params)
        trial.set_user_attr("config", {"model": model_cfg.model_dump(), "train": train_cfg.model_dump()})
        init_seed = model_cfg.init_seed if model_cfg.init_seed is not None else train_cfg.seed
        trial.set_user_attr("seeds", {"train": train_cfg.seed, "init": init_seed})
        trial.set_user_attr("provenance", self.provenance(train_cfg))
        if spec.objective.kind == "synthetic":
            scores, extra = self._synthetic(trial, params)
        else:
            scores, extra = self._train(trial, model_cfg, train_cfg)
        wall = time.perf_counter() - start
        trial.set_user_attr("wall_time_s", wall)
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
        trial.set_user_attr("second", second)
        return value, second

    def _features(self, model_cfg: ModelConfig) -> Any:
        from archlab.models.model import model_features

        entry = self.suite.entries[0]
        p = entry.probe
        return model_features(model_cfg, p.vocab_size, p.n_classes, seq_len=max(entry.test_lengths))

    def _eval_hook(
        self, trial: optuna.trial.BaseTrial, index: int, steps: int, scores: list[float]
    ) -> Callable[[int, int, dict[str, float]], None] | None:
        """The training progress hook that reports validation accuracy to a median/Hyperband
        pruner (None for other pruners and multi-objective studies)."""
        if self.spec.multi_objective or self.spec.pruner.name not in ("median", "hyperband"):
            return None

        def hook(step: int, total: int, metrics: dict[str, float]) -> None:
            if "val_seq_acc" not in metrics:
                return
            acc = float(metrics["val_seq_acc"])
            trial.report(acc, index * steps + step)
            if trial.should_prune():
                trial.set_user_attr("scores", scores)
                raise optuna.TrialPruned(
                    f"pruned on probe {index} at training step {step} "
                    f"(validation sequence accuracy {acc:.3f})"
                )

        return hook

    def _report(
        self,
        trial: optuna.trial.BaseTrial,
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
            trial.set_user_attr("scores", scores)
            raise optuna.TrialPruned(f"pruned after step {step} (score {score:.4f})")

    def _synthetic(
        self, trial: optuna.trial.BaseTrial, params: dict[str, Any]
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
            trial.set_user_attr("fail_reason", "diverged: synthetic NaN")
            return None, {}
        if syn.theory:
            model_cfg, _ = build_configs(self.spec, params)
            self._theory(trial, model_cfg, [1.0] * len(self.suite.entries), [0] * len(self.suite.entries))
        scores: list[float] = []
        for i, score in enumerate(synthetic_scores(self.spec, params)):
            scores.append(score)
            self._report(trial, score, i, scores, any_pruner=True)
        trial.set_user_attr("scores", scores)
        return scores, {}

    def _train(
        self, trial: optuna.trial.BaseTrial, model_cfg: ModelConfig, train_cfg: TrainConfig
    ) -> tuple[list[float] | None, dict[str, Any]]:
        from archlab.train import DataSource, train_run

        key = "scaled_acc" if self.spec.objective.aggregate == "mean_scaled_acc" else "seq_acc"
        scores: list[float] = []
        beyond: list[float] = []
        in_train: list[int] = []
        evals: list[dict[str, Any]] = []  # per probe: what `archlab theory check` reads back
        train_wall = 0.0
        for entry in self.suite.entries:
            hook = self._eval_hook(trial, entry.index, train_cfg.steps, scores)
            rec = train_run(DataSource.from_suite(self.suite, entry), model_cfg, train_cfg, progress=hook)
            train_wall += float(rec.get("wall_time_s", 0.0))
            if rec["status"] == "diverged":
                trial.set_user_attr("scores", scores)
                trial.set_user_attr("fail_reason", f"diverged on {entry.name}: {rec['reason']}")
                return None, {}
            if rec["status"] == "oom":
                raise TrialFailedError(f"{entry.name}: {rec['reason']}")
            rows = rec["range_eval"]
            if not rows:
                raise TrialFailedError(f"{entry.name}: no range evaluation (status {rec['status']})")
            score = statistics.fmean(float(r[key]) for r in rows)
            longest_train = max(rec["train_lengths"])
            far = [float(r["scaled_acc"]) for r in rows if r["length"] > longest_train]
            beyond.append(
                statistics.fmean(far) if far else statistics.fmean(float(r["scaled_acc"]) for r in rows)
            )
            in_train.append(0 if far else 1)
            scores.append(score)
            evals.append(
                {
                    **{
                        k: rec[k]
                        for k in ("probe", "probe_name", "probe_params", "train_lengths", "status", "seed")
                    },
                    "range_eval": [
                        {k: r[k] for k in ("length", "token_acc", "seq_acc", "scaled_acc")} for r in rows
                    ],
                }
            )
            trial.set_user_attr("range_eval", evals)
            self._report(trial, score, entry.index, scores)
        trial.set_user_attr("scores", scores)
        self._theory(trial, model_cfg, beyond, in_train)
        return scores, {"train_wall_time_s": train_wall}

    def _theory(
        self, trial: optuna.trial.BaseTrial, model_cfg: ModelConfig, beyond: list[float], in_train: list[int]
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
        trial.set_user_attr("predictions", preds)
        trial.set_user_attr("agreement", agree)
