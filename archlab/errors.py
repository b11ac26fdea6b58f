"""Errors archlab raises for bad input.

Every error a user can cause is an :class:`ArchlabError`; the CLI turns these into a one-line
message and exit code 2 instead of a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ArchlabError(Exception):
    """Base class for errors caused by user input (names, parameters, config files)."""


class UnknownNameError(ArchlabError, KeyError):
    """A name that is not in a registry; the message lists the valid names and the closest one."""

    def __init__(self, kind: str, name: str, valid: Iterable[str], hint: str = "") -> None:
        self.kind = kind
        self.name = name
        self.valid = sorted(valid)
        self.closest = closest_match(name, self.valid)
        msg = f"unknown {kind} {name!r}"
        msg += f"; did you mean {self.closest!r}?" if self.closest else "."
        msg += f" Valid: {', '.join(self.valid)}"
        if hint:
            msg += f" ({hint})"
        self.message = msg
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return self.message


class ConfigError(ArchlabError, ValueError):
    """A value outside its allowed range or of the wrong type; names the field and the range."""

    def __init__(self, field: str, problem: str, allowed: str = "") -> None:
        self.field = field
        self.problem = problem
        self.allowed = allowed
        msg = f"{field}: {problem}"
        if allowed:
            msg += f" (allowed: {allowed})"
        super().__init__(msg)


def closest_match(name: str, valid: Iterable[str]) -> str | None:
    """The valid name closest to ``name`` (case-insensitive), or None when nothing is close."""
    valid = list(valid)
    lower = {v.lower(): v for v in valid}
    hits = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.5)
    return lower[hits[0]] if hits else None
