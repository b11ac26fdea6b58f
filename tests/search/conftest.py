"""Search tests run beside other work: one torch thread per process (spawned workers set it too)."""

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every search test uses :func:`tests.conftest.one_torch_thread`."""
