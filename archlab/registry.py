"""Name → entry registries: probes, mixers and DNA tasks.

A registry maps a lower-case name to an entry (usually a class). Lookups are case-insensitive,
and an unknown name raises :class:`~archlab.errors.UnknownNameError`, which lists the valid
names and the closest match. Tests loop over every entry of a registry, so adding an entry is
one decorator plus nothing else.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from archlab.errors import ConfigError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """A case-insensitive mapping from names to entries, filled with :meth:`register`.

    A registry may fill itself on first use: ``populate`` names the module whose import
    registers the built-in entries (so a lower layer, e.g. the config, can look names up without
    importing that module itself), and ``entry_points`` an entry-point group whose objects are
    added under their entry-point names (installed plugins). ``module:attr`` names an entry by
    dotted path (imported on first lookup and kept under that name). Objects from outside go
    through :attr:`adopt` (set by the module that owns the entry type) before they are added.
    """

    def __init__(self, kind: str, populate: str | None = None, entry_points: str | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._display: dict[str, str] = {}  # lower-case key → the name as registered
        self._populate_from = populate
        self._entry_points = entry_points
        self._populated = populate is None and entry_points is None
        #: where an entry from outside came from (``entry point …``, ``dotted path …``)
        self.sources: dict[str, str] = {}
        #: ``adopt(obj, name) -> entry``: checks (and completes) an object from outside
        self.adopt: Callable[[Any, str], T] | None = None

    def _populate(self) -> None:
        if self._populated:
            return
        self._populated = True
        if self._populate_from is not None:
            importlib.import_module(self._populate_from)
        if self._entry_points is not None:
            for ep in importlib.metadata.entry_points(group=self._entry_points):
                if ep.name.lower() in self._entries:
                    continue
                try:
                    self._add(ep.name, ep.load(), f"entry point {ep.value}")
                except Exception as exc:  # a broken plugin must not break archlab
                    why = f"{type(exc).__name__}: {exc}"
                    warnings.warn(
                        f"{self.kind} plugin {ep.name!r} ({ep.value}) not loaded: {why}", stacklevel=2
                    )

    def _add(self, name: str, obj: Any, source: str) -> T:
        entry = self.adopt(obj, name) if self.adopt is not None else obj
        self._entries[name.lower()] = entry
        self._display[name.lower()] = name
        self.sources[name.lower()] = source
        return entry

    def _dotted(self, name: str) -> T:
        """The entry named ``module:attr`` (``mypkg.mixers:CumMean``), imported once."""
        module, _, attr = name.partition(":")
        try:
            obj: Any = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                self.kind,
                f"{name!r}: cannot import it ({type(exc).__name__}: {exc})",
                "a registered name or module:Class",
            ) from None
        return self._add(name, obj, f"dotted path {name}")

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
        self._populate()
        try:
            return self._entries[name.lower()]
        except KeyError:
            if ":" in name and self._entry_points is not None:
                return self._dotted(name)
            raise UnknownNameError(self.kind, name, self._display.values(), hint) from None

    def names(self) -> list[str]:
        self._populate()
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        self._populate()
        return sorted(self._entries.items())

    def __contains__(self, name: object) -> bool:
        self._populate()
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._populate()
        return len(self._entries)


#: Every probe class, by name (filled by the modules of :mod:`archlab.probes`).
PROBES: Registry[type] = Registry("probe")

#: Every sequence mixer class, by name (filled by the modules of :mod:`archlab.models` on first
#: use, then by installed plugins of the entry-point group ``archlab.mixers``; ``module:Class``
#: names a mixer written outside archlab, see :mod:`archlab.models.plugins`).
MIXERS: Registry[Any] = Registry("mixer", populate="archlab.models", entry_points="archlab.mixers")

#: Every DNA task (synthetic grammar levels), by name (filled by :mod:`archlab.dna.grammar`).
DNA_TASKS: Registry[Any] = Registry("DNA task")

#: DNA-native networks (the one-hot CNN, the pair map), filled by :mod:`archlab.dna.nets`
DNA_NETS: Registry[Any] = Registry("DNA network")
