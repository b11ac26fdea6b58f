"""Mixers written outside archlab: by dotted path (``mixer: "mypkg.mixers:CumMean"`` in a
config, a spec or ``--set``) or installed as plugins (entry-point group ``archlab.mixers``).

A plugin is a subclass of :class:`archlab.models.base.Mixer` with ``__init__(cfg, width)`` and
``forward(x [B, T, width]) -> [B, T, width]``. It may declare the theory features the rules key
on (``transition``, ``eig_range``, ``state_floats``) and its ``param_count``; what it does not
declare is filled in here, never guessed: the transition class is ``undeclared`` (every theory
verdict is then ``unknown``), the state size unknown (None), and the parameter count that of an
instance built on the ``meta`` device. Spawned study workers resolve the same dotted path
themselves (a registration made in the parent process would be lost).
"""

from __future__ import annotations

from typing import Any

import torch

from archlab.errors import ConfigError
from archlab.models.base import Mixer
from archlab.registry import MIXERS

#: the transition class of a mixer that declares none (no theory rule applies to it)
UNDECLARED = "undeclared"


def _overrides(cls: type, name: str) -> bool:
    return getattr(cls, name).__func__ is not getattr(Mixer, name).__func__


def _counted(cls: type[Mixer], cfg: Any, width: int) -> int:
    with torch.device("meta"):
        module = cls(cfg, width)
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def adopt(obj: Any, name: str) -> type[Mixer]:
    """A mixer class from outside, checked and completed: registered under ``name``."""
    if not (isinstance(obj, type) and issubclass(obj, Mixer)):
        raise ConfigError("mixer", f"{name!r} is {obj!r}, not a subclass of archlab.models.base.Mixer")
    filled: dict[str, Any] = {
        "name": name,
        "plugin": f"{obj.__module__}:{obj.__qualname__}",
        "summary": obj.summary or f"plugin {obj.__module__}:{obj.__qualname__}",
    }
    if not _overrides(obj, "transition"):
        filled["transition"] = classmethod(lambda cls, cfg: UNDECLARED)
    if not _overrides(obj, "state_floats"):
        filled["state_floats"] = classmethod(lambda cls, cfg, width: None)
    if not _overrides(obj, "param_count"):
        filled["param_count"] = classmethod(_counted)
    return type(obj.__name__, (obj,), filled)


MIXERS.adopt = adopt
