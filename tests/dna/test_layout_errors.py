"""Split folders that are incomplete say what is missing, and ``--split-fraction`` makes a folder
with train/ alone usable (issue 22)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from archlab.cli import app
from archlab.dna.data import DataError
from archlab.dna.io import load

runner = CliRunner()


def _fasta(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f">r{i}\n{''.join(rng.choice(list('ACGT'), size=60))}\n" for i in range(n)))


def _train_only(root: Path, n: int = 30) -> Path:
    _fasta(root / "train" / "neg.fa", n, 0)
    _fasta(root / "train" / "pos.fa", n, 1)
    return root


def test_no_test_split_names_the_fix(tmp_path: Path) -> None:
    root = _train_only(tmp_path / "set")
    with pytest.raises(DataError, match=r"no test split: add test/ .* --split-fraction"):
        load(root)
    res = runner.invoke(app, ["dna", "leakage", str(root)])
    assert res.exit_code != 0 and "no test split" in res.output and "--split-fraction" in res.output


def test_no_train_split_is_named(tmp_path: Path) -> None:
    _fasta(tmp_path / "set" / "test" / "pos.fa", 5, 0)
    with pytest.raises(DataError, match=r"no train/ subfolder \(found test/\)"):
        load(tmp_path / "set")


def test_tables_without_a_test_table(tmp_path: Path) -> None:
    root = tmp_path / "tables"
    root.mkdir()
    rng = np.random.default_rng(0)
    rows = "".join(f"{''.join(rng.choice(list('ACGT'), size=40))}\t{rng.normal():.3f}\n" for _ in range(50))
    (root / "x_train.tsv").write_text("sequence\tlabel\n" + rows)
    with pytest.raises(DataError, match="no test split"):
        load(root)
    ds = load(root, split_fraction=0.2)
    assert (len(ds.splits["train"]), len(ds.splits["test"])) == (40, 10)
    assert any("→ test" in note for note in ds.notes)


def test_split_fraction_carves_test_per_class(tmp_path: Path) -> None:
    ds = load(_train_only(tmp_path / "set"), split_fraction=0.2)
    assert (len(ds.splits["train"]), len(ds.splits["test"])) == (48, 12)
    assert np.bincount(ds.splits["test"].y).tolist() == [6, 6]  # per class
    again = load(_train_only(tmp_path / "again"), split_fraction=0.2)
    np.testing.assert_array_equal(again.splits["test"].codes, ds.splits["test"].codes)  # seeded


@pytest.mark.parametrize(
    ("target", "says"),
    [("yeast", "a shared set has its splits"), ("HAS_TEST", "there already is a test split")],
)
def test_split_fraction_where_it_does_not_apply(tmp_path: Path, target: str, says: str) -> None:
    if target == "HAS_TEST":
        root = _train_only(tmp_path / "set")
        _fasta(root / "test" / "neg.fa", 5, 2)
        _fasta(root / "test" / "pos.fa", 5, 3)
        target = str(root)
    res = runner.invoke(app, ["dna", "leakage", target, "--split-fraction", "0.2"])
    assert res.exit_code != 0 and says in res.output, res.output


def test_cli_split_fraction_runs_baselines_and_train(tmp_path: Path, one_torch_thread: None) -> None:
    root = str(_train_only(tmp_path / "set"))
    res = runner.invoke(app, ["dna", "baselines", root, "--split-fraction", "0.25", "--seeds", "1",
                              "--epochs", "1", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["leakage"]["exact"]["leaked"]["test"] == 0
    res = runner.invoke(app, ["dna", "train", root, "--split-fraction", "0.25", "--steps", "2", "--json"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["dna", "train", "D0", "--length", "100", "--split-fraction", "0.2"])
    assert res.exit_code != 0 and "--split-fraction" in res.output
