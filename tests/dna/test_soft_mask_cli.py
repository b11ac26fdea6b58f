"""Soft-masking reaches the user (issue 22): a lower-case fraction that differs by class is a
``warnings`` entry in every ``--json`` report and a warning line on the terminal, and
``--soft-mask n`` runs the check the warning suggests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from archlab.cli import app

runner = CliRunner()


def _masked_folder(root: Path, n: int = 30, length: int = 80) -> Path:
    """``root/{train,test}/{neg,pos}.fa``: the positives' first half is lower-case (soft-masked)."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        (root / split).mkdir(parents=True)
        for label in ("neg", "pos"):
            seqs = ["".join(rng.choice(list("ACGT"), size=length)) for _ in range(n)]
            if label == "pos":
                seqs = [s[: length // 2].lower() + s[length // 2 :] for s in seqs]
            (root / split / f"{label}.fa").write_text(
                "".join(f">{label}{i}\n{s}\n" for i, s in enumerate(seqs))
            )
    return root


def _json(*args: str) -> dict:
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_warning_in_every_json_report(tmp_path: Path, one_torch_thread: None) -> None:
    root = str(_masked_folder(tmp_path / "set"))
    reports = [
        _json("dna", "leakage", root),
        _json("dna", "baselines", root, "--seeds", "1", "--epochs", "1"),
        _json("dna", "train", root, "--steps", "2"),
    ]
    for rep in reports:
        assert len(rep["warnings"]) == 1 and "lower-case fraction differs by class" in rep["warnings"][0]
        assert "--soft-mask n" in rep["warnings"][0]


def test_warning_on_the_terminal_of_dna_train(tmp_path: Path, one_torch_thread: None) -> None:
    res = runner.invoke(app, ["dna", "train", str(_masked_folder(tmp_path / "set")), "--steps", "2"])
    assert res.exit_code == 0, res.output
    assert "warning: the lower-case fraction differs by class" in res.output


def test_soft_mask_n_reads_masked_bases_as_n(tmp_path: Path) -> None:
    root = str(_masked_folder(tmp_path / "set"))
    res = runner.invoke(app, ["dna", "leakage", root, "--soft-mask", "n"])
    assert res.exit_code == 0, res.output
    rep = _json("dna", "leakage", root, "--soft-mask", "n")
    assert rep["warnings"]  # the fraction still differs: the warning stays, the bases are N now
    res = runner.invoke(app, ["dna", "leakage", root, "--soft-mask", "error"])
    assert res.exit_code != 0 and "lower-case" in res.output


@pytest.mark.parametrize(("args", "says"), [
    (["dna", "leakage", "irf1", "--soft-mask", "n"], "one-hot HDF5 has no lower-case bases"),
    (["dna", "leakage", "yeast", "--soft-mask", "lower"], "upper, n, keep, error"),
    (["dna", "train", "D0", "--length", "100", "--soft-mask", "n"], "--soft-mask"),
])  # fmt: skip
def test_soft_mask_where_it_does_not_apply(args: list[str], says: str) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code != 0 and says in res.output, res.output
