"""The installed-package path: a wheel built from this checkout, installed into a throwaway
virtualenv, run from an empty folder (no checkout on the path, no ../shared)."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert res.returncode == 0, (
        f"{' '.join(cmd)} exited {res.returncode}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    )
    return res.stdout


@pytest.mark.slow  # builds a wheel and runs the quick demo (≈ 2–3 min on 2 cores)
def test_the_wheel_runs_the_demo_from_an_empty_folder(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)], tmp_path, 600
    )
    (wheel,) = wheels.glob("archlab-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, 120)
    py = venv / "bin" / "python"
    # the dependencies (torch …) come from this environment through a .pth line, so the test does
    # not download or reinstall them; archlab itself only from the wheel (--no-deps)
    purelib = Path(
        _run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, 60
        ).strip()
    )
    ours = [p for p in {sysconfig.get_paths()["purelib"], *site.getsitepackages()} if Path(p).is_dir()]
    (purelib / "_deps_from_test_env.pth").write_text("\n".join(ours) + "\n")
    _run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], tmp_path, 300)
    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ARCHLAB_DNA_DIR")}
    where = _run([str(py), "-c", "import archlab; print(archlab.__file__)"], work, 120, env)
    assert str(purelib) in where and str(ROOT) not in where  # the wheel's copy, not the checkout
    archlab = str(venv / "bin" / "archlab")
    _run([archlab, "init", "lab"], work, 120, env)
    assert (work / "lab" / "search" / "demo.yaml").is_file() and (
        work / "lab" / "probes" / "memory.yaml"
    ).is_file()
    out = _run([archlab, "demo", "--quick", "--out", "demo"], work, 900, env)
    assert (work / "demo" / "summary.md").is_file(), out[-2000:]
    # the bundled DNA set, verified on load (one CNN epoch: the baselines' figures, quickly)
    report = _run(
        [str(py), "-m", "archlab", "dna", "baselines", "irf1", "--epochs", "1", "--json"], work, 600, env
    )
    assert '"gc"' in report and '"kmer"' in report
