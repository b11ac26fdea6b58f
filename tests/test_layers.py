"""The house's one-way data flow: no module imports a package downstream of it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "archlab"
#: package → packages it must never import (the flow is probes → models → train → theory → search
#: → analysis → cli)
FORBIDDEN = {
    "theory": ("archlab.search", "archlab.analysis", "archlab.cli"),
    "probes": ("archlab.models", "archlab.theory", "archlab.search", "archlab.analysis"),
    "models": ("archlab.theory", "archlab.search", "archlab.analysis"),
    "search": ("archlab.analysis", "archlab.cli"),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upstream_imports(package: str) -> None:
    bad = [
        f"{f.relative_to(ROOT)} imports {name}"
        for f in sorted((ROOT / package).rglob("*.py"))
        for name in _imports(f)
        if name.startswith(FORBIDDEN[package])
    ]
    assert not bad, bad
