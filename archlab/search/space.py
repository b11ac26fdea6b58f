"""A study's search space: conditional sampling, configs from params, grids, enumeration.

A field with ``when: {mixer: [householder]}`` is suggested only when ``mixer`` was suggested
with one of the listed values, so the Optuna trial never carries a parameter that does nothing.
Fields are suggested in dependency order (every condition's field first).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from archlab.config import ModelConfig, TrainConfig, validate
from archlab.errors import ConfigError
from archlab.search.spec import Distribution, StudySpec, _dependency_order, field_target

__all__ = [
    "SuggestTrial",
    "active",
    "build_configs",
    "enumerate_choices",
    "grid_space",
    "suggest_params",
]


class SuggestTrial(Protocol):
    """What :func:`suggest_params` needs of a trial (``optuna.Trial`` and ``FixedTrial`` fit)."""

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...


def active(dist: Distribution, params: Mapping[str, Any]) -> bool:
    """Whether ``dist``'s condition holds for the params suggested so far."""
    return all(dep in params and params[dep] in values for dep, values in (dist.when or {}).items())


def suggest_params(trial: SuggestTrial, spec: StudySpec) -> dict[str, Any]:
    """Suggest every field whose condition holds, in dependency order."""
    params: dict[str, Any] = {}
    for name in _dependency_order(spec.space):
        dist = spec.space[name]
        if not active(dist, params):
            continue
        if dist.choices is not None:
            params[name] = trial.suggest_categorical(name, dist.choices)
        elif dist.int_ is not None:
            lo, hi = dist.int_
            params[name] = trial.suggest_int(name, lo, hi, step=int(dist.step or 1), log=dist.log)
        else:
            assert dist.float_ is not None
            lo_f, hi_f = dist.float_
            params[name] = trial.suggest_float(name, lo_f, hi_f, step=dist.step, log=dist.log)
    return params


def build_configs(spec: StudySpec, params: Mapping[str, Any]) -> tuple[ModelConfig, TrainConfig]:
    """The trial's configs: the spec's base fields updated with the params. An invalid
    combination raises a ConfigError naming the field (the trial then FAILs with that reason)."""
    model = dict(spec.model)
    train = dict(spec.train)
    for name, value in params.items():
        (model if field_target(name) == "model" else train)[name] = value
    return (
        validate(ModelConfig, model, source="trial model"),
        validate(TrainConfig, train, source="trial train"),
    )


def grid_space(spec: StudySpec) -> dict[str, list[Any]]:
    """The GridSampler search space (every field must be an unconditional ``choices``)."""
    out: dict[str, list[Any]] = {}
    for name, dist in spec.space.items():
        if dist.choices is None or dist.when:
            raise ConfigError("sampler.name", f"grid needs unconditional choices; space.{name} is not")
        out[name] = list(dist.choices)
    return out


def enumerate_choices(spec: StudySpec, limit: int = 512) -> Iterator[dict[str, Any]]:
    """Every assignment of the *model* fields searched with ``choices`` whose conditions hold
    (at most ``limit``), in the order of the choices. Other fields (ranges, training knobs, and
    fields conditional on a range) are left out: a seeded trial samples them."""
    names = [
        n
        for n in _dependency_order(spec.space)
        if spec.space[n].choices is not None and field_target(n) == "model"
    ]
    count = 0

    def walk(i: int, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        nonlocal count
        if count >= limit:
            return
        if i == len(names):
            count += 1
            yield dict(params)
            return
        dist = spec.space[names[i]]
        if not active(dist, params):
            yield from walk(i + 1, params)
            return
        assert dist.choices is not None
        for value in dist.choices:
            params[names[i]] = value
            yield from walk(i + 1, params)
            del params[names[i]]

    yield from itertools.islice(walk(0, {}), limit)
