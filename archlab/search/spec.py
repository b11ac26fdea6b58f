"""Study specs: a YAML file in ``search/`` describing one Optuna study, validated by pydantic.

Format (every key but ``name``, ``objective``, ``space`` and ``sampler.seed`` has a default)::

    name: demo                       # the study name, in every storage
    description: ...
    objective:
      suite: state_tracking          # a suite file or a name in probes/ — or
      # probes: [{probe: parity}, {probe: Z3}]   (an inline suite)
      train_lengths: [2, 16]         # optional: replace the suite-level lengths
      test_lengths: {min: 2, max: 32}
      aggregate: mean_scaled_acc     # or mean_seq_acc
      second: params                 # optional: params | flops | wall_time | state_floats
      constraint: {max_params: 50000}  # optional: trial.set_constraint("max_params", params - max)
      kind: train                    # or synthetic (no training: storage and runner tests),
                                     # or dna (then dna: {tasks: [...]} replaces suite/probes)
      seeds: 3                       # kind train: runs per probe (seeds train.seed, +1, +2)
      seed_aggregate: mean           # or best: a probe's score over its seeds
      stacked: false                 # true: a probe's seeds train as one stacked model
    model: {layers: 1, width: 32}    # base ModelConfig fields
    train: {steps: 200, batch: 32}   # base TrainConfig fields
    space:                           # field → distribution, optional `when` on other params
      mixer: {choices: [diag_rnn, householder, lstm]}
      householder_factors: {choices: [1, 2, 4], when: {mixer: [householder]}}
      width: {int: [16, 64], step: 16}
      lr: {float: [1.0e-4, 1.0e-2], log: true}
    sampler: {name: tpe, seed: 0}    # tpe | gp | nsga2 | random | grid; the seed is required
    pruner: {name: wilcoxon, args: {p_threshold: 0.1}}   # wilcoxon | median | hyperband | none
    budget: {n_trials: 20, timeout_s: null}
    storage: null                    # URL, journal:PATH, a *.journal/*.log path, or null (memory)
    heartbeat: {interval_s: 10, grace_s: 30, max_retry: 2}   # RDB storages only
    theory_seed: true                # enqueue the architectures theory says can express the suite
    scales:                          # optional: named overrides, applied with --scale NAME
      cpu:
        note: budgets shrunk, not the paper's        # said on the line that announces the scale
        model: {width: 64}
        train: {steps: 1500, batch: 64}
        budget: {n_trials: 6}
        objective: {seeds: 1}

A ``grid`` sampler runs every cell of a space of ``choices`` once; a space with ``when``
conditions is walked as a tree (Optuna's BruteForceSampler), so a conditional field adds cells
only where its condition holds.

``scales``: each scale overrides ``objective``, ``model``, ``train``, ``space``, ``sampler``,
``pruner``, ``budget``, ``heartbeat`` or ``theory_seed`` (never ``name``, ``description``,
``storage``). Mappings merge key by key; any other value replaces the spec's; a ``space`` entry
is replaced whole, and ``space: {FIELD: null}`` stops searching FIELD. Without ``--scale`` the
spec runs as written. Every scale is applied and validated when the spec is loaded; an error in
one names its YAML path (``scales.cpu.train.stepz``). A scaled spec is another study: it is named
``NAME-SCALE`` (its own journal file, its own rows in a database), its hash covers the scale, and
it records the scale (``scale``: name, note, overrides, each changed value old → new) in the spec
it stores and in the study's ``scale`` user attribute.

:func:`load_spec` / :func:`parse_spec` are the entry points: pydantic checks the types and
ranges; then the space is checked against :class:`~archlab.config.ModelConfig` /
:class:`~archlab.config.TrainConfig` (field names, each static value's type and range, the
``when`` references) and the objective's suite is resolved. Every error is a
:class:`~archlab.errors.ConfigError` naming the YAML path, e.g. ``space.householder_factors.when.mixer``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError, model_validator

from archlab.config import (
    Lengths,
    ModelConfig,
    ProbeSpec,
    ProbeSuiteConfig,
    StrictModel,
    TrainConfig,
    load_yaml,
    validate,
)
from archlab.dna.tasks import DnaObjectiveSpec
from archlab.errors import ArchlabError, ConfigError, UnknownNameError

__all__ = [
    "HASH_EXCLUDE",
    "SCALE_KEYS",
    "AppliedScale",
    "BudgetSpec",
    "Distribution",
    "HeartbeatSpec",
    "ObjectiveSpec",
    "PrunerSpec",
    "SamplerSpec",
    "ScaleChange",
    "StudySpec",
    "SyntheticSpec",
    "field_target",
    "load_spec",
    "parse_spec",
    "scale_line",
    "spec_hash",
]

Scalar = str | int | float | bool | None

#: spec keys that may change between runs of the same study without making it a different study
#: (``scales`` too: the scale a study runs at is hashed as ``scale``, the others do not matter)
HASH_EXCLUDE = frozenset({"description", "budget", "storage", "heartbeat", "scales"})
#: the spec keys a scale may override (the rest name the study or say where it is kept)
SCALE_KEYS = (
    "objective",
    "model",
    "train",
    "space",
    "sampler",
    "pruner",
    "budget",
    "heartbeat",
    "theory_seed",
)
#: what a scale may be called (it becomes part of the study name, NAME-SCALE)
SCALE_NAME_PATTERN = r"^[A-Za-z0-9_]{1,32}$"
#: how the ``old → new`` line shows a field that is searched (old) or no longer searched (new)
SEARCHED, NOT_SEARCHED = "(searched)", "(not searched)"
#: objective fields newer than the first studies, hashed only when not at this default (an
#: existing study's spec keeps its hash)
LATER_OBJECTIVE_FIELDS: dict[str, Any] = {"seeds": 1, "seed_aggregate": "mean", "stacked": False}

#: TrainConfig fields a space may not vary (they are not hyperparameters of the search)
_FIXED_TRAIN_FIELDS = frozenset({"device", "checkpoint", "train_lengths", "test_lengths"})


class Distribution(StrictModel):
    """One searched field: exactly one of ``choices``, ``int``, ``float``, plus an optional
    ``when`` condition (``{param: [values]}``: suggested only when every listed param was
    suggested with one of the values)."""

    choices: list[Scalar] | None = Field(default=None, min_length=1)
    int_: tuple[int, int] | None = Field(default=None, alias="int")
    float_: tuple[float, float] | None = Field(default=None, alias="float")
    step: float | None = Field(default=None, gt=0)
    log: bool = False
    when: dict[str, list[Scalar]] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Distribution:
        kinds = [k for k, v in (("choices", self.choices), ("int", self.int_), ("float", self.float_)) if v]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of choices, int, float (got {kinds or 'none'})")
        rng = self.int_ or self.float_
        if rng is not None and rng[1] < rng[0]:
            raise ValueError(f"range [{rng[0]}, {rng[1]}] is empty (high below low)")
        if self.log and (rng is None or rng[0] <= 0):
            raise ValueError("log needs a numeric range with low > 0")
        if self.log and self.step is not None:
            raise ValueError("step and log cannot be combined")
        if self.choices is not None and (self.step is not None or self.log):
            raise ValueError("step/log only apply to int and float ranges")
        if self.int_ is not None and self.step is not None and self.step != int(self.step):
            raise ValueError(f"an int range needs an integer step, got {self.step}")
        return self

    @property
    def kind(self) -> str:
        return "choices" if self.choices is not None else "int" if self.int_ is not None else "float"

    def values(self) -> list[Any]:
        """The static values to type-check: the choices, or the two ends of a range."""
        if self.choices is not None:
            return list(self.choices)
        rng = self.int_ if self.int_ is not None else self.float_
        assert rng is not None
        return [rng[0], rng[1]]


class SyntheticSpec(StrictModel):
    """A dry objective (``objective.kind: synthetic``): no training, a deterministic value from
    the params (mean over params of their position in their range/choices, in [0, 1]), reported
    over ``n_steps`` pseudo-probes. For storage/runner tests and the benchmark."""

    sleep_s: float = Field(default=0.0, ge=0.0)
    #: seconds of pure-Python busy work per trial (a CPU-bound objective for scaling benchmarks)
    cpu_s: float = Field(default=0.0, ge=0.0)
    #: sleep only in these trial numbers (None: in every trial)
    sleep_trials: list[int] | None = None
    n_steps: int = Field(default=3, ge=1, le=100)
    #: return NaN (→ FAIL) when every listed param has one of the values
    nan_when: dict[str, list[Scalar]] | None = None
    #: raise a caught error (→ FAIL with fail_reason) when every listed param has one of the values
    raise_when: dict[str, list[Scalar]] | None = None
    #: also record theory predictions/agreement (slower: needs the suite's probes)
    theory: bool = False


class ObjectiveSpec(StrictModel):
    """What a trial measures; see the module docstring."""

    kind: Literal["train", "synthetic", "dna"] = "train"
    suite: str | None = None
    probes: list[ProbeSpec] | None = Field(default=None, min_length=1)
    train_lengths: Lengths | None = None
    test_lengths: Lengths | None = None
    aggregate: Literal["mean_scaled_acc", "mean_seq_acc"] = "mean_scaled_acc"
    second: Literal["params", "flops", "wall_time", "state_floats"] | None = None
    constraint: dict[Literal["max_params", "max_flops", "max_state_floats"], float] | None = None
    synthetic: SyntheticSpec = Field(default_factory=SyntheticSpec)
    #: ``kind: train``: runs per probe, seeds ``train.seed`` … ``train.seed + seeds − 1``; the
    #: probe's score is their mean or best (``seed_aggregate``; a diverged seed is left out, all
    #: diverged fails the trial), and every run's evaluation is kept for ``theory check``
    seeds: int = Field(default=1, ge=1, le=32)
    seed_aggregate: Literal["mean", "best"] = "mean"
    #: train a probe's seeds as one stacked model (archlab.ensemble; same records)
    stacked: bool = False
    #: ``kind: dna``: the DNA tasks (synthetic levels or real sets) instead of a probe suite
    dna: DnaObjectiveSpec | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ObjectiveSpec:
        if self.kind != "train" and (self.seeds != 1 or self.stacked):
            raise ValueError(
                f"seeds and stacked are options of kind train (this objective is kind {self.kind})"
            )
        if self.kind == "dna":
            if self.dna is None:
                raise ValueError("kind dna needs dna: {tasks: [...]}")
            if self.suite is not None or self.probes is not None:
                raise ValueError("a DNA objective takes dna.tasks, not a suite or probes")
            if self.train_lengths is not None or self.test_lengths is not None:
                raise ValueError("lengths of a DNA objective are set per task (dna.tasks.N.length)")
            return self
        if self.dna is not None:
            raise ValueError("dna.tasks needs kind: dna")
        if (self.suite is None) == (self.probes is None):
            raise ValueError("give exactly one of suite (a suite file or name) and probes (a list)")
        return self

    @property
    def directions(self) -> list[Literal["maximize", "minimize"]]:
        return ["maximize"] if self.second is None else ["maximize", "minimize"]


class SamplerSpec(StrictModel):
    name: Literal["tpe", "gp", "nsga2", "random", "grid"] = "tpe"
    seed: int = Field(ge=0)
    #: extra keyword arguments of the Optuna sampler (e.g. n_startup_trials)
    args: dict[str, Any] = Field(default_factory=dict)


class PrunerSpec(StrictModel):
    name: Literal["wilcoxon", "median", "hyperband", "none"] = "none"
    args: dict[str, Any] = Field(default_factory=dict)


class BudgetSpec(StrictModel):
    """``n_trials``: done trials (complete or pruned; a failed trial does not count) the study
    aims for in total; it stops early once as many trials have failed."""

    n_trials: int | None = Field(default=20, ge=1, le=1_000_000)
    timeout_s: float | None = Field(default=None, gt=0, le=366 * 24 * 3600)  # at most a year


#: the shortest heartbeat grace a spec may set (seconds)
MIN_GRACE_S = 10


class HeartbeatSpec(StrictModel):
    interval_s: int = Field(default=10, ge=1)
    grace_s: int = Field(default=30, ge=MIN_GRACE_S)
    max_retry: int = Field(default=2, ge=0)

    @model_validator(mode="after")
    def _grace(self) -> HeartbeatSpec:
        # under CPU starvation a live worker's beat can be late by several intervals: a 2 s grace
        # failed two live trials in a 16-worker stress run (issue 19)
        if self.grace_s < 3 * self.interval_s:
            raise ValueError(
                f"grace_s ({self.grace_s}) must be at least 3 × interval_s ({self.interval_s}) and "
                f"{MIN_GRACE_S} s, or live trials of a busy machine are failed as stale"
            )
        return self


#: what a study name may be (it names files: studies/NAME.journal): letters, digits, _ . -
#: (and, checked apart, not only dots)
STUDY_NAME_PATTERN = r"^[A-Za-z0-9_.\-]{1,128}$"


def check_study_name(name: str) -> str:
    """``name`` if it is a valid study name, else a ConfigError naming the rule."""
    import re

    if not re.fullmatch(STUDY_NAME_PATTERN, name) or not name.strip("."):
        raise ConfigError(
            "study name", f"{name!r} is not a study name",
            "1–128 letters, digits, '_', '.', '-' (no '/', not only dots), as a spec's name",
        )  # fmt: skip
    return name


class ScaleChange(StrictModel):
    """One value a scale changed: its YAML path, the spec's value and the scale's
    (:data:`SEARCHED` / :data:`NOT_SEARCHED` where a field is searched before / not after)."""

    path: str
    old: Any = None
    new: Any = None


class AppliedScale(StrictModel):
    """The scale a spec runs at (``--scale NAME``), as the study records it."""

    name: str
    #: the scale's ``note`` (e.g. "budgets shrunk, not the paper's")
    note: str = ""
    #: the spec's own name (the study is ``spec_name-name``)
    spec_name: str
    #: the scale's overrides, as written in the spec
    overrides: dict[str, Any]
    changes: list[ScaleChange] = Field(default_factory=list)


class StudySpec(StrictModel):
    name: str = Field(min_length=1, pattern=STUDY_NAME_PATTERN)
    description: str = ""
    objective: ObjectiveSpec
    model: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)
    space: dict[str, Distribution]
    sampler: SamplerSpec
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    storage: str | None = None
    heartbeat: HeartbeatSpec = Field(default_factory=HeartbeatSpec)
    theory_seed: bool = True
    #: named overrides (see the module docstring); a scaled spec has none left
    scales: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: the scale applied (``--scale``), None when the spec runs as written; set by
    #: :func:`parse_spec`, never written in a spec
    scale: AppliedScale | None = None

    @property
    def multi_objective(self) -> bool:
        return self.objective.second is not None

    @property
    def is_dna(self) -> bool:
        """Whether the objective trains on DNA tasks (no probe suite, no theory predictions)."""
        return self.objective.kind == "dna"

    def suite_config(self) -> ProbeSuiteConfig:
        """The objective's suite as a validated config (the ``suite`` is resolved already)."""
        obj = self.objective
        if self.is_dna:
            raise ConfigError("objective", "a DNA objective has no probe suite (it has dna.tasks)")
        if obj.probes is not None:
            data: dict[str, Any] = {
                "name": self.name,
                "train_lengths": obj.train_lengths or {"min": 1, "max": 40},
                "test_lengths": obj.test_lengths or [41, 48, 64, 96, 128, 192, 256],
                "probes": [p.model_dump(exclude_none=True) for p in obj.probes],
            }
            return validate(ProbeSuiteConfig, data, source="objective")
        assert obj.suite is not None
        cfg = validate(ProbeSuiteConfig, load_yaml(obj.suite), source=obj.suite)
        update: dict[str, Any] = {}
        if obj.train_lengths is not None:
            update["train_lengths"] = obj.train_lengths
        if obj.test_lengths is not None:
            update["test_lengths"] = obj.test_lengths
        return cfg.model_copy(update=update)


@functools.cache
def field_target(name: str) -> Literal["model", "train"] | None:
    """Which config a space field belongs to (ModelConfig first), or None if neither."""
    if name in ModelConfig.model_fields:
        return "model"
    if name in TrainConfig.model_fields and name not in _FIXED_TRAIN_FIELDS:
        return "train"
    return None


def _valid_fields() -> list[str]:
    return list(ModelConfig.model_fields) + [
        f for f in TrainConfig.model_fields if f not in _FIXED_TRAIN_FIELDS
    ]


def _field_adapter(target: str, name: str) -> TypeAdapter[Any]:
    cls: type[StrictModel] = ModelConfig if target == "model" else TrainConfig
    info = cls.model_fields[name]
    ann: Any = info.annotation
    if info.metadata:
        ann = Annotated[ann, *info.metadata]
    return TypeAdapter(ann)


def _check_value(target: str, name: str, value: Any, path: str) -> None:
    """Type and range of one static value (cross-field rules are checked per trial)."""
    try:
        _field_adapter(target, name).validate_python(value, strict=False)
    except ValidationError as exc:
        msg = exc.errors()[0]["msg"]
        raise ConfigError(path, f"{value!r} is not a valid {name}: {msg}") from None
    if name == "mixer":
        from archlab.registry import MIXERS

        try:
            MIXERS.get(str(value))
        except ArchlabError as exc:
            raise ConfigError(path, str(exc)) from None


def _dependency_order(space: dict[str, Distribution]) -> list[str]:
    """Space fields ordered so every ``when`` reference comes before its dependents."""
    return list(_order_of(tuple((name, tuple(dist.when or {})) for name, dist in space.items())))


@functools.lru_cache(maxsize=64)
def _order_of(deps: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[str, ...]:
    """:func:`_dependency_order` on ``(field, fields its condition reads)`` pairs (cached: a
    worker orders the same space once per trial)."""
    space = dict(deps)
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, chain: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ConfigError(f"space.{name}.when", f"circular condition: {' → '.join([*chain, name])}")
        state[name] = 1
        for dep in space[name]:
            visit(dep, [*chain, name])
        state[name] = 2
        order.append(name)

    for name in space:
        visit(name, [])
    return tuple(order)


def _check_space(spec: StudySpec, src: str) -> None:
    space = spec.space
    if not space:
        raise ConfigError(f"{src}space", "is empty: a study needs at least one searched field")
    valid = _valid_fields()
    for name, dist in space.items():
        path = f"{src}space.{name}"
        target = field_target(name)
        if target is None:
            raise ConfigError(
                path, "unknown field (not a ModelConfig or TrainConfig field)", ", ".join(valid)
            )
        where = f"{path}.{dist.kind}"
        if dist.kind == "float" and target is not None:
            cls: type[StrictModel] = ModelConfig if target == "model" else TrainConfig
            if cls.model_fields[name].annotation in (int, int | None):
                raise ConfigError(where, f"{name} is an integer field: use int: [lo, hi]")
        for i, value in enumerate(dist.values()):
            _check_value(target, name, value, f"{where}.{i}")
        for dep, values in (dist.when or {}).items():
            wpath = f"{path}.when.{dep}"
            if dep not in space:
                raise ConfigError(
                    wpath, "conditions may only refer to other searched fields", ", ".join(space)
                )
            if dep == name:
                raise ConfigError(wpath, "a field cannot be conditional on itself")
            if not values:
                raise ConfigError(wpath, "needs at least one value")
            ref = space[dep]
            if ref.choices is not None:
                bad = [v for v in values if v not in ref.choices]
                if bad:
                    raise ConfigError(
                        wpath, f"{bad} are not among the choices of {dep}", ", ".join(map(str, ref.choices))
                    )
    _dependency_order(space)


def _check_base(spec: StudySpec, src: str) -> None:
    """Type and range of each base model/train field (cross-field rules are checked per trial,
    once the searched fields are known), and no field both fixed and searched."""
    for key, data in (("model", spec.model), ("train", spec.train)):
        cls: type[StrictModel] = ModelConfig if key == "model" else TrainConfig
        for name, value in data.items():
            path = f"{src}{key}.{name}"
            if name not in cls.model_fields:
                raise ConfigError(path, f"unknown {cls.__name__} field", ", ".join(cls.model_fields))
            if name in spec.space:
                raise ConfigError(path, "is also searched in space: remove one of the two")
            if key == "train" and name in ("train_lengths", "test_lengths"):
                raise ConfigError(path, "set the lengths in objective (they apply to every probe)")
            _check_value(key, name, value, path)


def _check_dna(spec: StudySpec, src: str) -> None:
    """Every level exists and every dataset can be found (nothing is generated or loaded)."""
    from archlab.dna.tasks import check_task

    assert spec.objective.dna is not None
    for i, task in enumerate(spec.objective.dna.tasks):
        try:
            check_task(task, spec.objective.dna.data_dir)
        except ArchlabError as exc:
            key = "level" if task.level is not None else "dataset"
            raise ConfigError(f"{src}objective.dna.tasks.{i}.{key}", str(exc)) from None


def _resolve_suite(spec: StudySpec, base: Path | None, src: str) -> StudySpec:
    obj = spec.objective
    if spec.is_dna:
        _check_dna(spec, src)
        return spec
    if obj.suite is None:
        spec.suite_config()  # validates the inline probes/lengths
        return spec
    from archlab.probes.suite import find_suite

    cand = [Path(obj.suite)]
    if base is not None:
        cand += [base / obj.suite, base.parent / obj.suite]
    path = next((p for p in cand if p.is_file()), None)
    if path is None:
        try:
            path = find_suite(obj.suite)
        except ArchlabError as exc:
            raise ConfigError(f"{src}objective.suite", str(exc)) from None
    resolved = spec.model_copy(update={"objective": obj.model_copy(update={"suite": str(path)})})
    try:
        resolved.suite_config()
    except ConfigError as exc:
        raise ConfigError(f"{src}objective.suite", str(exc)) from None
    return resolved


def _check_objective(spec: StudySpec, src: str) -> None:
    if spec.multi_objective and spec.pruner.name != "none":
        raise ConfigError(
            f"{src}pruner.name",
            f"{spec.pruner.name!r} needs intermediate reports, which multi-objective studies cannot make",
            "none",
        )
    if spec.sampler.name == "grid":
        bad = [n for n, d in spec.space.items() if d.choices is None]
        if bad:
            raise ConfigError(
                f"{src}sampler.name",
                f"grid needs a space of choices (conditions allowed); {', '.join(bad)} are not",
            )
    if spec.budget.n_trials is None and spec.budget.timeout_s is None:
        raise ConfigError(f"{src}budget", "give n_trials, timeout_s or both (else a study never ends)")


def _parse(data: Any, src: str, source: str, base_dir: str | os.PathLike[str] | None) -> StudySpec:
    spec = validate(StudySpec, data, source=source)
    _check_space(spec, src)
    _check_base(spec, src)
    _check_objective(spec, src)
    return _resolve_suite(spec, Path(base_dir) if base_dir is not None else None, src)


def _merge_scale(data: dict[str, Any], name: str, over: dict[str, Any], src: str) -> dict[str, Any]:
    """The spec mapping ``data`` with scale ``name``'s overrides applied (mappings merge key by
    key, a space entry is replaced whole or, given null, removed)."""
    out = copy.deepcopy(data)
    out.pop("scales", None)
    for key, value in over.items():
        path = f"{src}scales.{name}.{key}"
        if key == "note":
            if not isinstance(value, str):
                raise ConfigError(path, f"{value!r} is not a string", "a sentence said with the scale")
            continue
        if key not in SCALE_KEYS:
            raise ConfigError(path, "not a key a scale may override", ", ".join(("note", *SCALE_KEYS)))
        if key == "space" and isinstance(value, dict):
            space = out.setdefault("space", {})
            if not isinstance(space, dict):
                continue  # the spec's own error, reported without the scale
            for field, dist in value.items():
                if dist is None:
                    if field not in space:
                        raise ConfigError(
                            f"{path}.{field}", "is not searched: nothing to stop searching", ", ".join(space)
                        )
                    del space[field]
                else:
                    space[field] = copy.deepcopy(dist)
            continue
        out[key] = _deep_merge(out.get(key), value)
    return out


def _deep_merge(base: Any, over: Any) -> Any:
    if not isinstance(base, dict) or not isinstance(over, dict):
        return copy.deepcopy(over)
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(base.get(k), v)
    return out


def _leaves(over: dict[str, Any], canon: dict[str, Any]) -> list[tuple[str, Any]]:
    """The dotted paths a scale sets, with its values: down every mapping that merges into a
    mapping of the spec; ``space.FIELD`` and ``model.FIELD`` / ``train.FIELD`` are leaves."""
    out: list[tuple[str, Any]] = []

    def walk(path: str, value: Any, there: Any) -> None:
        if isinstance(value, dict) and isinstance(there, dict) and value:
            for k, v in value.items():
                walk(f"{path}.{k}", v, there.get(k))
        else:
            out.append((path, value))

    for key, value in over.items():
        if key == "note":
            continue
        if key in ("space", "model", "train") and isinstance(value, dict):
            out += [(f"{key}.{k}", v) for k, v in value.items()]
        else:
            walk(key, value, canon.get(key))
    return out


def _old_value(spec: StudySpec, data: dict[str, Any], canon: dict[str, Any], path: str) -> Any:
    """The value at ``path`` of the spec as written (a model/train field at its config default
    when the spec leaves it out)."""
    head, _, rest = path.partition(".")
    if head == "space":
        dist = (data.get("space") or {}).get(rest)
        return NOT_SEARCHED if dist is None else dist
    if head in ("model", "train"):
        given = spec.model if head == "model" else spec.train
        if rest in given:
            return given[rest]
        if rest in spec.space:
            return SEARCHED
        cls: type[StrictModel] = ModelConfig if head == "model" else TrainConfig
        info = cls.model_fields.get(rest)
        return None if info is None else info.get_default(call_default_factory=True)
    lengths = path in ("objective.train_lengths", "objective.test_lengths") and not spec.is_dna
    if lengths and getattr(spec.objective, rest) is None:  # the suite's
        return spec.suite_config().model_dump(mode="json")[rest]
    missing = object()
    for root in (data, canon):  # as written, else the default
        node: Any = root
        for part in path.split("."):
            node = node.get(part, missing) if isinstance(node, dict) else missing
        if node is not missing:
            return node
    return None


def _touches(path: str, leaves: list[str]) -> bool:
    """Whether an error at ``path`` is at, above or below a value the scale set."""
    parts = path.split(".")
    for leaf in leaves:
        other = leaf.split(".")
        n = min(len(parts), len(other))
        if parts[:n] == other[:n]:
            return True
    return False


def _scaled(
    spec: StudySpec,
    data: dict[str, Any],
    name: str,
    src: str,
    source: str,
    base_dir: str | os.PathLike[str] | None,
) -> StudySpec:
    """``spec`` at scale ``name``: validated like a spec, renamed ``NAME-SCALE``, recording the
    scale. An error names the scale's YAML path (``scales.cpu.train.steps``) when it is at a
    value the scale set, else the path in the scaled spec."""
    import re

    if not re.fullmatch(SCALE_NAME_PATTERN, name):
        raise ConfigError(f"{src}scales.{name}", f"{name!r} is not a scale name", "1–32 letters, digits, '_'")
    over = spec.scales[name]
    merged = _merge_scale(data, name, over, src)
    canon = canonical(spec)
    leaves = _leaves(over, canon)
    try:
        scaled = _parse(merged, src, source, base_dir)
    except ConfigError as exc:
        rel = exc.field[len(src) :] if src and exc.field.startswith(src) else exc.field
        where = (
            f"{src}scales.{name}.{rel}"
            if _touches(rel, [p for p, _ in leaves])
            else f"{src}scales.{name}, applied: {rel}"
        )
        raise ConfigError(where, exc.problem, exc.allowed) from None
    study = f"{spec.name}-{name}"
    if len(study) > 128:
        raise ConfigError(f"{src}scales.{name}", f"the scaled study name {study!r} is over 128 characters")
    changes = [
        ScaleChange(
            path=path, old=old, new=NOT_SEARCHED if new is None and path.startswith("space.") else new
        )
        for path, new in leaves
        if (old := _old_value(spec, data, canon, path)) != new
    ]
    note = over.get("note", "")
    applied = AppliedScale(name=name, note=note, spec_name=spec.name, overrides=over, changes=changes)
    return scaled.model_copy(update={"name": study, "scales": {}, "scale": applied})


def parse_spec(
    data: Any,
    source: str = "",
    base_dir: str | os.PathLike[str] | None = None,
    scale: str | None = None,
) -> StudySpec:
    """Validate a spec mapping (see the module docstring); errors name the YAML path. Every
    scale of ``scales`` is applied and validated too; ``scale`` returns the spec at that scale."""
    src = f"{source}: " if source else ""
    if isinstance(data, dict) and "scale" in data:
        raise ConfigError(
            f"{src}scale", "is recorded by --scale NAME, not written in a spec", "scales: {NAME: {...}}"
        )
    spec = _parse(data, src, source, base_dir)
    scaled = {name: _scaled(spec, data, name, src, source, base_dir) for name in spec.scales}
    if scale is None:
        return spec
    if scale not in scaled:
        if not scaled:
            raise ConfigError("--scale", f"spec {spec.name} has no scales (it runs as written)", "none")
        raise UnknownNameError("scale", scale, scaled, f"the scales of spec {spec.name}")
    return scaled[scale]


def scale_line(spec: StudySpec) -> str | None:
    """The one line that says a spec runs at a scale and what the scale changed, ``old → new``
    (None for a spec as written), e.g. ``scale cpu (budgets shrunk, not the paper's):
    train.steps 20000 → 1500, model.width 128 → 64; study grazzi2025_paper-cpu``."""
    sc = spec.scale
    if sc is None:
        return None
    note = sc.note or "not the spec as written"
    changed = (
        ", ".join(f"{c.path} {_fmt_value(c.old)} → {_fmt_value(c.new)}" for c in sc.changes) or "no value"
    )
    return f"scale {sc.name} ({note}): {changed}; study {spec.name}"


def _fmt_value(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (dict, list)):
        import yaml

        return str(yaml.safe_dump(v, default_flow_style=True, width=10**6, sort_keys=False)).strip()
    return json.dumps(v)


def load_spec(path: str | os.PathLike[str], scale: str | None = None) -> StudySpec:
    """Read and validate a study spec YAML file, by path or by name (``demo``: the working
    directory's ``search/demo.yaml``, else the spec shipped with archlab); ``scale``: at that
    scale of its ``scales`` (see :func:`parse_spec`)."""
    from archlab.shipped import find

    p = find("specs", path)
    return parse_spec(load_yaml(p), source=str(p), base_dir=p.parent, scale=scale)


def canonical(spec: StudySpec) -> dict[str, Any]:
    """The spec as JSON-ready data (aliases as in YAML)."""
    return spec.model_dump(mode="json", by_alias=True, exclude_none=False)


def spec_hash(spec: StudySpec) -> str:
    """SHA-256 of the canonical JSON of the spec without :data:`HASH_EXCLUDE` (which may change
    between runs of one study). The suite is hashed by its content, not its path; the applied
    scale (``scale``) is hashed, so a spec at a scale never matches the spec as written."""
    data = {k: v for k, v in canonical(spec).items() if k not in HASH_EXCLUDE}
    if data.get("scale") is None:  # added later: hashed only when a scale is applied
        data.pop("scale", None)
    data["objective"] = dict(data["objective"])
    for name, default in LATER_OBJECTIVE_FIELDS.items():  # added later: hashed only when set
        if data["objective"].get(name) == default:
            del data["objective"][name]
    if not spec.is_dna:  # a DNA task is hashed by its spec (a dataset by its name or path)
        data["objective"]["suite"] = spec.suite_config().model_dump(mode="json")
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
