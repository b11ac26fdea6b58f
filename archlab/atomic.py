"""Files written atomically: a temporary file in the same folder, then ``os.replace``.

A reader (or an interrupted run) sees either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["atomic_write", "json_default", "write_json_atomic"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[Any]], object], mode: str = "w") -> None:
    """Call ``write(f)`` on a temporary file beside ``path`` (opened with ``mode``), flush it to
    disk, then rename it over ``path``. On any error the temporary file is removed. The file
    gets the permissions a plain ``open`` would give it (``0666`` less the umask; ``mkstemp``
    alone makes it private)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_umask() -> int:
    """The process umask, read once at import (setting and restoring it is the only portable
    way, and it is not thread-safe, so it is not done per write)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def json_default(o: Any) -> Any:
    """JSON for what the standard encoder refuses: numpy scalars and arrays, paths."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path``, atomically."""
    atomic_write(path, lambda f: json.dump(obj, f, indent=1, default=json_default))
