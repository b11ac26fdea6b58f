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

:func:`load_spec` / :func:`parse_spec` are the entry points: pydantic checks the types and
ranges; then the space is checked against :class:`~archlab.config.ModelConfig` /
:class:`~archlab.config.TrainConfig` (field names, each static value's type and range, the
``when`` references) and the objective's suite is resolved. Every error is a
:class:`~archlab.errors.ConfigError` naming the YAML path, e.g. ``space.householder_factors.when.mixer``.
"""

from __future__ import annotations

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
from archlab.errors import ArchlabError, ConfigError

__all__ = [
    "HASH_EXCLUDE",
    "BudgetSpec",
    "Distribution",
    "HeartbeatSpec",
    "ObjectiveSpec",
    "PrunerSpec",
    "SamplerSpec",
    "StudySpec",
    "SyntheticSpec",
    "field_target",
    "load_spec",
    "parse_spec",
    "spec_hash",
]

Scalar = str | int | float | bool | None

#: spec keys that may change between runs of the same study without making it a different study
HASH_EXCLUDE = frozenset({"description", "budget", "storage", "heartbeat"})
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
        bad = [n for n, d in spec.space.items() if d.choices is None or d.when]
        if bad:
            raise ConfigError(
                f"{src}sampler.name",
                f"grid needs an unconditional space of choices; {', '.join(bad)} are not",
            )
    if spec.budget.n_trials is None and spec.budget.timeout_s is None:
        raise ConfigError(f"{src}budget", "give n_trials, timeout_s or both (else a study never ends)")


def parse_spec(data: Any, source: str = "", base_dir: str | os.PathLike[str] | None = None) -> StudySpec:
    """Validate a spec mapping (see the module docstring); errors name the YAML path."""
    src = f"{source}: " if source else ""
    spec = validate(StudySpec, data, source=source)
    _check_space(spec, src)
    _check_base(spec, src)
    _check_objective(spec, src)
    return _resolve_suite(spec, Path(base_dir) if base_dir is not None else None, src)


def load_spec(path: str | os.PathLike[str]) -> StudySpec:
    """Read and validate a study spec YAML file, by path or by name (``demo``: the working
    directory's ``search/demo.yaml``, else the spec shipped with archlab)."""
    from archlab.shipped import find

    p = find("specs", path)
    return parse_spec(load_yaml(p), source=str(p), base_dir=p.parent)


def canonical(spec: StudySpec) -> dict[str, Any]:
    """The spec as JSON-ready data (aliases as in YAML)."""
    return spec.model_dump(mode="json", by_alias=True, exclude_none=False)


def spec_hash(spec: StudySpec) -> str:
    """SHA-256 of the canonical JSON of the spec without :data:`HASH_EXCLUDE` (which may change
    between runs of one study). The suite is hashed by its content, not its path."""
    data = {k: v for k, v in canonical(spec).items() if k not in HASH_EXCLUDE}
    data["objective"] = dict(data["objective"])
    for name, default in LATER_OBJECTIVE_FIELDS.items():  # added later: hashed only when set
        if data["objective"].get(name) == default:
            del data["objective"][name]
    if not spec.is_dna:  # a DNA task is hashed by its spec (a dataset by its name or path)
        data["objective"]["suite"] = spec.suite_config().model_dump(mode="json")
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
