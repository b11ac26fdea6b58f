"""Plumbing shared by the benchmark scripts: the allocator setting and a median timer."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable

#: glibc keeps freed memory instead of returning it to the OS (see PERF.md): without it, large
#: fresh arrays cost page faults on every call and the timings measure the kernel, not the code.
TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184"


def reexec_with_tunables(system_malloc: bool) -> None:
    """Re-execute this script with :data:`TUNABLES` set, unless asked not to or already set."""
    if not system_malloc and os.environ.get("GLIBC_TUNABLES") != TUNABLES and sys.platform == "linux":
        os.environ["GLIBC_TUNABLES"] = TUNABLES
        os.execv(sys.executable, [sys.executable, *sys.argv])


def measure(
    fn: Callable[[], object], tokens: int, min_time: float, min_repeats: int, warmups: int = 1
) -> float:
    """Median tokens/s over repeated calls (at least ``min_repeats`` calls and ``min_time`` s),
    after ``warmups`` untimed calls (caches, allocator, first touch of fresh memory)."""
    for _ in range(warmups):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return tokens / statistics.median(times)
