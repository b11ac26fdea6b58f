"""Typed configuration (pydantic v2) and YAML loading with errors that name the field.

Every config model forbids unknown keys, so a typo in a YAML file is an error that names the
key instead of a silently ignored setting. Later issues add ModelConfig, TrainConfig and
StudyConfig here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from archlab.errors import ArchlabError, ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class LengthRange(StrictModel):
    """An inclusive range of lengths: ``{min: 41, max: 256, step: 5}``."""

    min: int = Field(ge=1)
    max: int = Field(ge=1)
    step: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> LengthRange:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self

    def values(self) -> list[int]:
        out = list(range(self.min, self.max + 1, self.step))
        if out[-1] != self.max:
            out.append(self.max)  # the longest length is always evaluated
        return out


Lengths = list[int] | LengthRange


def expand_lengths(spec: Lengths) -> list[int]:
    """The sorted, de-duplicated lengths of a list or a range."""
    values = spec.values() if isinstance(spec, LengthRange) else list(spec)
    return sorted(set(values))


def _check_length_list(v: Lengths | None) -> Lengths | None:
    if isinstance(v, list):
        if not v:
            raise ValueError("needs at least one length")
        bad = [x for x in v if x < 1]
        if bad:
            raise ValueError(f"lengths must be >= 1, got {bad}")
    return v


class ProbeSpec(StrictModel):
    """One probe of a suite: its registry name, parameters and optional length overrides."""

    probe: str
    params: dict[str, Any] = Field(default_factory=dict)
    train_lengths: Lengths | None = None
    test_lengths: Lengths | None = None

    _check = field_validator("train_lengths", "test_lengths")(_check_length_list)

    @model_validator(mode="after")
    def _buildable(self) -> ProbeSpec:
        from archlab.probes import make_probe

        try:
            make_probe(self.probe, **self.params)
        except ArchlabError as exc:  # unknown names are KeyErrors: pydantic needs a ValueError
            raise ValueError(str(exc)) from None
        return self


class ProbeSuiteConfig(StrictModel):
    """A probe suite: which probes, trained at which lengths and tested at which.

    ``forbid_test_in_train``: no test sequence may occur in training. Sequences of different
    lengths never collide, so the rule acts at lengths used both for training and testing: a
    hash of the tokens reserves a fraction ``reserve_fraction`` of all sequences of such a length
    for testing; the training stream never emits them and the test stream emits only them.
    """

    name: str = Field(min_length=1)
    description: str = ""
    protocol: str = ""
    train_lengths: Lengths
    test_lengths: Lengths
    forbid_test_in_train: bool = False
    reserve_fraction: float = Field(default=0.25, gt=0.0, lt=1.0)
    probes: list[ProbeSpec] = Field(min_length=1)

    _check = field_validator("train_lengths", "test_lengths")(_check_length_list)


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        out.append((loc, err["msg"].removeprefix("Value error, ")))
    return out


def validate(model: type[M], data: Any, source: str = "") -> M:
    """Validate ``data`` against ``model``; a failure becomes a ConfigError naming the field
    (``probes.2.params``), prefixed by the file it came from."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc)
        field, msg = problems[0]
        if len(problems) > 1:
            msg += "; also " + "; ".join(f"{f}: {m}" for f, m in problems[1:])
        raise ConfigError(f"{source}: {field}" if source else field, msg) from None


def load_yaml(path: str | os.PathLike[str]) -> Any:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(str(p), "file not found")
    try:
        return yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(str(p), f"invalid YAML: {exc}") from None


def load_config(model: type[M], path: str | os.PathLike[str]) -> M:
    """Read a YAML file into ``model``."""
    return validate(model, load_yaml(path), source=str(path))
