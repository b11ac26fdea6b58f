"""Check archlab's paper-exact task variants against data made by the peers' own code.

A fixture folder holds gzipped JSON-lines files (``*.jsonl.gz``), one example a line, each with a
``*.jsonl.gz.vocab.json`` beside it (the format of ``shared/fixtures/peers/README.md``). Every
line names the ``peer`` repository and its ``task``, and gives the peer's ``input`` ids, its
``target`` and, where the peer has them, its scored positions. For every line the checker of
that peer (one per peer repository, in the module of archlab's variants of its tasks) maps the
input to archlab's tokens, has archlab's variant label it, maps the labels back and compares
them, and the scored positions, with the peer's. A file is *skipped* (and says why) when
archlab has no variant of its task or the file cannot be read.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

Row = dict[str, Any]

#: a peer's checker: (task, rows, vocab file) → per row None (agrees), an Agrees (agrees, with a
#: remark) or a string saying what differs; raises NotCheckable when the task has no archlab variant
Checker = Callable[[str, list[Row], dict[str, Any]], list[Any]]


class NotCheckable(Exception):
    """The file cannot be checked; the message says why."""


@dataclass(frozen=True)
class Agrees:
    """A row that agrees, with a remark (e.g. a position the peer's own data leaves undetermined)."""

    note: str


@dataclass(frozen=True)
class FileCheck:
    """The outcome for one fixture file (the JSON keys ``archlab probe fixtures`` prints)."""

    file: str
    peer: str | None
    task: str | None
    n: int
    mismatches: int
    skipped_reason: str | None
    first_mismatch: str | None = None
    #: remarks on rows that agree, with their counts ("3 rows: …")
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.skipped_reason is None and self.mismatches == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def checkers() -> dict[str, Checker]:
    """Peer repository → its checker (imported here so that the probe modules stay independent)."""
    from archlab.probes.published import bhattamishra2020, deletang2023, illusion2024, mad2024, zoology

    mods = (deletang2023, illusion2024, zoology, mad2024, bhattamishra2020)
    return {m.PEER: m.check_fixture_rows for m in mods}


def read_rows(path: Path) -> list[Row]:
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise NotCheckable(f"line {i} is not JSON ({e.msg})") from None
    return rows


def check_file(path: Path) -> FileCheck:
    name = path.name
    try:
        rows = read_rows(path)
    except (OSError, EOFError, UnicodeDecodeError, NotCheckable) as e:
        return FileCheck(name, None, None, 0, 0, f"cannot read the file: {e}")
    if not rows:
        return FileCheck(name, None, None, 0, 0, "the file holds no examples")
    peer, task = rows[0].get("peer"), rows[0].get("task")
    if any(r.get("peer") != peer or r.get("task") != task for r in rows):
        return FileCheck(name, peer, task, 0, 0, "rows of several peers or tasks in one file")
    vocab_path = path.with_name(name + ".vocab.json")
    try:
        vocab = json.loads(vocab_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return FileCheck(name, peer, task, 0, 0, f"cannot read {vocab_path.name}: {e}")
    checker = checkers().get(str(peer))
    if checker is None:
        known = ", ".join(sorted(checkers()))
        return FileCheck(name, peer, task, 0, 0, f"no checker for peer {peer!r} (known: {known})")
    try:
        results = checker(str(task), rows, vocab)
    except NotCheckable as e:
        return FileCheck(name, peer, task, 0, 0, str(e))
    bad = [(i, r) for i, r in enumerate(results) if isinstance(r, str)]
    first = f"line {bad[0][0] + 1}: {bad[0][1]}" if bad else None
    remarks = Counter(r.note for r in results if isinstance(r, Agrees))
    notes = tuple(f"{n} rows: {note}" for note, n in remarks.items())
    return FileCheck(name, peer, task, len(results), len(bad), None, first, notes)


def check_dir(folder: Path) -> list[FileCheck]:
    """Check every ``*.jsonl.gz`` file in ``folder`` (sorted by name)."""
    return [check_file(p) for p in sorted(folder.glob("*.jsonl.gz"))]


def compare(got: list[int], want: list[int], what: str) -> str | None:
    """None when equal, else a short description of the first difference."""
    if len(got) != len(want):
        return f"{what}: length {len(got)}, the peer's {len(want)}"
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        if a != b:
            return f"{what}[{i}] = {a}, the peer's {b}"
    return None


def compare_ignore_index(batch: Any, want: list[int], ignore: int = -100) -> str | None:
    """Row 0 of a batch against a peer's per-position targets with an ignore index (Zoology's and
    MAD's -100): the scored positions first, then the targets at them."""
    scored = [i for i, v in enumerate(want) if v != ignore]
    ours = [int(i) for i in batch.mask[0].nonzero()[0]]
    return compare(ours, scored, "scored positions") or compare(
        [int(v) for v in batch.targets[0, ours]], [want[i] for i in scored], "target"
    )
