"""The notebooks in ``notebooks/`` run end to end (nbmake), and are committed clean.

Each notebook is executed by nbmake in a child pytest (``python -m pytest --nbmake PATH``): the
documented way to run nbmake, and it keeps the notebook's kernel and its output away from this
test session. The kernel is the ``python3`` kernelspec that ipykernel installs into the venv
(``.venv/share/jupyter/kernels/python3``; its ``argv[0]`` is ``python``, which jupyter_client
replaces by the running interpreter, so the kernel is this venv's Python). ``JUPYTER_PREFER_ENV_PATH=1``
makes the venv's kernelspec win over any ``python3`` kernelspec in the user's home.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = [
    "01_probes.ipynb",
    "02_theory_vs_measurement.ipynb",
    "03_search.ipynb",
    "04_dna.ipynb",
]
#: per-cell limit inside a notebook (each notebook is meant to run in ≤ 60 s on 2 cores)
CELL_TIMEOUT_S = 180
#: limit for one whole notebook run, child pytest start-up included
RUN_TIMEOUT_S = 600


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "MPLBACKEND": "Agg",
            "JUPYTER_PREFER_ENV_PATH": "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # silences the debugger's frozen-modules note
        }
    )
    return env


def test_every_notebook_is_tested() -> None:
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_clean(name: str) -> None:
    nb = json.loads((NOTEBOOK_DIR / name).read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert nb["cells"][0]["cell_type"] == "markdown"
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{name}: cell {i} has stored outputs"
            assert cell.get("execution_count") is None, f"{name}: cell {i} has an execution count"


def test_python3_kernel_is_this_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel nbmake starts for ``python3`` is the venv's own Python (no outside install)."""
    from jupyter_client.kernelspec import KernelSpecManager

    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")
    spec = KernelSpecManager().get_kernel_spec("python3")
    exe = spec.argv[0]
    major, minor = sys.version_info[:2]
    # jupyter_client swaps these names for sys.executable when it launches the kernel
    relative = {"python", f"python{major}", f"python{major}.{minor}"}
    assert exe in relative or Path(exe).resolve() == Path(sys.executable).resolve(), spec.argv


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name: str) -> None:
    cmd = [
        sys.executable, "-m", "pytest", "--nbmake", f"--nbmake-timeout={CELL_TIMEOUT_S}",
        str(NOTEBOOK_DIR / name), "-p", "no:cacheprovider", "-q", "--color=no",
    ]  # fmt: skip
    proc = subprocess.run(
        cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    tail = "\n".join((proc.stdout + "\n" + proc.stderr).splitlines()[-60:])
    assert proc.returncode == 0, f"{name} failed (exit {proc.returncode}):\n{tail}"
