"""Formal-language probes: registry-driven, theory-tagged, vectorised in numpy.

Use :func:`make_probe` to build one by name. A finite group's name (``S5``, ``A4xZ5``, ``D4``…) is
itself a probe name: it builds the group's word problem.
"""

from __future__ import annotations

from typing import Any

from archlab.errors import UnknownNameError
from archlab.probes import context_free, context_sensitive, groups, memory, published, regular  # noqa: F401
from archlab.probes.base import Batch, Param, Probe, TheoryTag, stream_rng
from archlab.registry import PROBES

__all__ = ["PROBES", "Batch", "Param", "Probe", "TheoryTag", "make_probe", "probe_names", "stream_rng"]

GROUP_HINT = "any finite group name also works, e.g. Z5, S4, A5, D6, A4xZ5, Q8, SL(2,3), perm:(0 1 2),(0 1)"


def probe_names() -> list[str]:
    return PROBES.names()


def make_probe(name: str, **params: Any) -> Probe:
    """Build the probe ``name`` with ``params`` (validated; a bad one raises ConfigError).

    A group name (``S5``) is shorthand for ``word_problem`` with ``group=S5``.
    """
    if name in PROBES:
        cls: type[Probe] = PROBES.get(name)
        return cls(**params)
    if groups.looks_like_group(name):
        if "group" in params:
            from archlab.errors import ConfigError

            raise ConfigError(
                "word_problem.group", f"given twice: as the probe name {name!r} and as a parameter"
            )
        return groups.WordProblem(group=name, **params)
    raise UnknownNameError("probe", name, PROBES.names(), GROUP_HINT)
