"""The files archlab ships inside its package, found by name from any folder.

* ``specs/``: study specs and model zoos (``archlab study run demo``, ``--models zoo``); the
  repository's ``search/`` folder is a link to it;
* ``suites/``: probe suites (``archlab train --suite state_tracking``); the repository's
  ``probes/`` folder is a link to it;
* ``dna/``: the small real DNA sets (MIT-licensed copies, with their README, provenance and
  ``SHA256SUMS``; see :mod:`archlab.dna.io`).

A name resolves, in order, to: the path as given (when it is a file), the same name in the
working directory's ``search/`` (``probes/``) folder, then the shipped file; ``search/NAME.yaml``
(``probes/NAME.yaml``) resolves so too when the working directory has no such file. ``archlab init DIR``
copies the specs and suites into a folder for editing.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Literal

from archlab.errors import UnknownNameError

Kind = Literal["specs", "suites"]

#: per kind: what a file is called in messages, and the working directory's folder of them
KINDS: dict[str, tuple[str, str]] = {
    "specs": ("study spec or zoo", "search"),
    "suites": ("probe suite", "probes"),
}


def shipped_dir(kind: Kind | Literal["dna"]) -> Path:
    """The folder of shipped files of one kind, inside the installed package."""
    return Path(str(resources.files("archlab.shipped") / kind))


def names(kind: Kind) -> list[str]:
    """The shipped files of one kind, by name (file stem)."""
    return sorted(p.stem for p in shipped_dir(kind).glob("*.yaml"))


def editable_files() -> list[tuple[Path, Path]]:
    """Every shipped spec and suite with its place in a working folder (``search/demo.yaml``,
    ``probes/state_tracking.yaml``): what ``archlab init`` copies."""
    kinds: tuple[Kind, ...] = ("specs", "suites")
    return [
        (shipped_dir(kind) / f"{name}.yaml", Path(KINDS[kind][1]) / f"{name}.yaml")
        for kind in kinds
        for name in names(kind)
    ]


def is_name(kind: Kind, text: str) -> bool:
    """Whether ``text`` names a spec or suite that :func:`find` resolves by name (one in the
    working directory's folder of them, or a shipped one) rather than being something else (a
    mixer or probe list, ``a,b``)."""
    return "," not in text and ((Path(KINDS[kind][1]) / f"{text}.yaml").is_file() or text in names(kind))


def find(kind: Kind, name_or_path: str | os.PathLike[str]) -> Path:
    """A spec or suite by path, or by name: in the working directory's folder of them, then
    among the shipped ones. An unknown name lists the shipped names."""
    what, folder = KINDS[kind]
    p = Path(name_or_path)
    if p.is_file():
        return p
    stem = p.name[: -len(".yaml")] if p.name.endswith(".yaml") else p.name
    # a bare name, or the repository's path of a shipped file (``search/demo.yaml``: the README's
    # commands run from any folder); another missing path is an error
    if p.parent in (Path("."), Path(folder)):
        for base in (Path(folder), shipped_dir(kind)):
            cand = base / f"{stem}.yaml"
            if cand.is_file():
                return cand
    raise UnknownNameError(
        what,
        str(name_or_path),
        names(kind),
        f"a YAML file path, or a name shipped with archlab or in ./{folder}/",
    )
