"""Atomic writes: all or nothing, and the permissions of a plain open()."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from archlab.atomic import atomic_write, write_json_atomic


def test_a_written_file_has_the_usual_permissions(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    path = tmp_path / "r.json"
    write_json_atomic(path, {"a": 1})
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # mkstemp alone would give 0o600
    assert path.read_text().replace(" ", "").replace("\n", "") == '{"a":1}'


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "keep.txt"
    path.write_text("old")

    def boom(f: object) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, boom)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
