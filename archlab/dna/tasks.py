"""DNA tasks as study and command-line inputs: a synthetic grammar level at a length, or a real set.

A :class:`DnaTaskSpec` names one task the way a study spec (``objective.dna.tasks``) or
``archlab dna transfer`` does::

    {level: D2, length: 2000, background: markov, n_train: 2000, params: {gap: 12}}
    {dataset: irf1}                       # a shared set by name (see archlab.dna.io)
    {dataset: /data/my_set/}              # any supported file or folder

:func:`build_dataset` turns it into a :class:`~archlab.dna.data.DnaDataset` (cached per process:
a worker builds each task once however many trials it runs).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from archlab.config import StrictModel
from archlab.dna.data import DnaDataset

__all__ = ["DnaObjectiveSpec", "DnaTaskSpec", "build_dataset", "check_task", "task_label"]


class DnaTaskSpec(StrictModel):
    """One DNA task: exactly one of ``level`` (synthetic, with ``length``) and ``dataset``."""

    level: str | None = None
    dataset: str | None = None
    #: synthetic only: sequence length in bp
    length: int | None = Field(default=None, ge=50, le=65536)
    background: str = "iid"
    n_train: int = Field(default=2000, ge=10)
    n_valid: int = Field(default=500, ge=10)
    n_test: int = Field(default=1000, ge=10)
    #: the generator's seed (the data), not the training seed
    data_seed: int = Field(default=0, ge=0)
    #: level parameters (synthetic) or loader options (real), passed through
    params: dict[str, Any] = Field(default_factory=dict)
    #: a label for tables (default: the level and length, or the dataset)
    name: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DnaTaskSpec:
        if (self.level is None) == (self.dataset is None):
            raise ValueError("give exactly one of level (a synthetic grammar level) and dataset")
        if self.level is not None and self.length is None:
            raise ValueError(f"level {self.level} needs a length (bp)")
        if self.dataset is not None and self.length is not None:
            raise ValueError("length applies to synthetic levels only")
        return self


class DnaObjectiveSpec(StrictModel):
    """``objective.dna`` of a study spec: the tasks a trial trains on, each scored on its
    validation split (the study selects on validation; test scores are recorded beside them)."""

    tasks: list[DnaTaskSpec] = Field(min_length=1)
    #: where the shared real sets live (default: ARCHLAB_DNA_DIR, else the copy shipped with archlab)
    data_dir: str | None = None
    #: early stop after this many steps without a better validation score (``train.eval_every``
    #: sets the cadence; ``train.steps`` the budget)
    patience: int = Field(default=600, ge=1)
    #: never stop early before this step
    min_steps: int = Field(default=0, ge=0)
    #: seconds per task and trial; the task ends scored with its best weights
    max_time_s: float | None = Field(default=None, gt=0)


def task_label(task: DnaTaskSpec) -> str:
    """A short label: ``name`` if given, ``D2@1000`` for a level, a shared set's name, or a
    dataset path's file or folder name without its extensions."""
    if task.name:
        return task.name
    if task.level is not None:
        return f"{task.level}@{task.length}"
    assert task.dataset is not None
    path = Path(task.dataset)
    if len(path.parts) <= 1 and not path.suffix:
        return task.dataset  # a shared set's name (irf1) or a bare folder name
    from archlab.dna.io import file_stem

    return file_stem(path) or task.dataset


def check_task(task: DnaTaskSpec, data_dir: str | None = None) -> None:
    """Fail early on an unknown level or a dataset that cannot be found (no data is built)."""
    if task.level is not None:
        from archlab.dna.grammar import get_level

        get_level(task.level)
    else:
        from archlab.dna.io import resolve

        assert task.dataset is not None
        resolve(task.dataset, data_dir=data_dir)


def build_dataset(task: DnaTaskSpec, data_dir: str | None = None) -> DnaDataset:
    """The task's dataset (built once per process for each distinct task)."""
    return _build(json.dumps(task.model_dump(mode="json"), sort_keys=True), data_dir)


@functools.lru_cache(maxsize=16)
def _build(task_json: str, data_dir: str | None) -> DnaDataset:
    task = DnaTaskSpec.model_validate(json.loads(task_json))
    if task.level is not None:
        from archlab.dna.grammar import make_dataset

        assert task.length is not None
        ds = make_dataset(
            task.level,
            task.length,
            n_train=task.n_train,
            n_valid=task.n_valid,
            n_test=task.n_test,
            seed=task.data_seed,
            background=task.background,
            **task.params,
        )
    else:
        from archlab.dna.io import load

        assert task.dataset is not None
        ds = load(task.dataset, data_dir=data_dir, **task.params)
    return ds.replace(name=task_label(task))
