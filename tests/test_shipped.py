"""The files shipped inside the package (archlab.shipped): found by name from any folder, a path
still works, an unknown name lists the shipped ones; ``archlab init``; ``python -m archlab``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archlab.cli import app
from archlab.cli_common import load_models
from archlab.errors import UnknownNameError
from archlab.probes.suite import find_suite
from archlab.search import load_spec
from archlab.shipped import editable_files, find, names, shipped_dir

ROOT = Path(__file__).resolve().parents[1]


def test_the_repository_folders_are_the_shipped_ones() -> None:
    # search/ and probes/ in a checkout are links to the package's folders: one copy of each file
    assert (ROOT / "search").resolve() == shipped_dir("specs").resolve()
    assert (ROOT / "probes").resolve() == shipped_dir("suites").resolve()
    assert {"demo", "state_tracking", "zoo", "zoo_dna"} <= set(names("specs"))
    assert {"state_tracking", "deletang2023", "chomsky"} <= set(names("suites"))
    assert len(editable_files()) == len(names("specs")) + len(names("suites"))


def test_names_resolve_from_an_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find("specs", "demo") == shipped_dir("specs") / "demo.yaml"
    assert find("specs", "search/demo.yaml") == shipped_dir("specs") / "demo.yaml"  # the README's path
    assert find("suites", "state_tracking.yaml") == shipped_dir("suites") / "state_tracking.yaml"
    assert load_spec("demo").name == "demo"
    assert load_spec("state_tracking").suite_config().probes  # its suite, by name, shipped too
    assert find_suite("probes/deletang2023.yaml") == shipped_dir("suites") / "deletang2023.yaml"
    assert [label for label, _ in load_models("zoo")] == [
        label for label, _ in load_models(str(find("specs", "zoo")))
    ]
    with pytest.raises(UnknownNameError) as e:
        find("specs", "dmeo")
    assert "did you mean 'demo'" in str(e.value) and "zoo_dna" in str(e.value)
    with pytest.raises(UnknownNameError):
        find("specs", "elsewhere/demo.yaml")  # a path to a missing file is not a name


def test_a_local_copy_comes_before_the_shipped_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["init"])
    assert res.exit_code == 0, res.output
    assert f"wrote {len(editable_files())} file(s)" in res.output
    local = tmp_path / "search" / "demo.yaml"
    assert local.read_text() == (shipped_dir("specs") / "demo.yaml").read_text()
    assert find("specs", "demo") == Path("search") / "demo.yaml"
    local.write_text(local.read_text().replace("name: demo", "name: my-demo"))
    assert load_spec("demo").name == "my-demo"
    res = CliRunner().invoke(app, ["init"])  # kept, not overwritten
    assert res.exit_code == 0 and "kept" in res.output and "my-demo" in local.read_text()
    res = CliRunner().invoke(app, ["init", "--force"])
    assert res.exit_code == 0 and "name: demo" in local.read_text()


def test_python_dash_m_runs_the_command_line(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "archlab", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0 and res.stdout.startswith("archlab "), res.stderr
