"""Name → entry registries: probes, mixers and DNA tasks.

A registry maps a lower-case name to an entry (usually a class). Lookups are case-insensitive,
and an unknown name raises :class:`~archlab.errors.UnknownNameError`, which lists the valid
names and the closest match. Tests loop over every entry of a registry, so adding an entry is
one decorator plus nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from archlab.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """A case-insensitive mapping from names to entries, filled with :meth:`register`."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._display: dict[str, str] = {}  # lower-case key → the name as registered

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that adds an entry under ``name``; a duplicate name is a programming error."""
        key = name.lower()

        def deco(entry: T) -> T:
            if key in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[key] = entry
            self._display[key] = name
            return entry

        return deco

    def get(self, name: str, hint: str = "") -> T:
        try:
            return self._entries[name.lower()]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._display.values(), hint) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


#: Every probe class, by name (filled by the modules of :mod:`archlab.probes`).
PROBES: Registry[type] = Registry("probe")

#: Every sequence mixer class, by name (filled by the modules of :mod:`archlab.models`).
MIXERS: Registry[Any] = Registry("mixer")

#: Every DNA task (synthetic grammar levels), by name (filled by :mod:`archlab.dna.grammar`).
DNA_TASKS: Registry[Any] = Registry("DNA task")

#: DNA-native networks (the one-hot CNN, the pair map), filled by :mod:`archlab.dna.nets`
DNA_NETS: Registry[Any] = Registry("DNA network")
