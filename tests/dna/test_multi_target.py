"""Several label columns: multi-target regression from the CLI (issue 22). A DeepSTARR-shaped
file written here — a sequence column and two enrichment columns (Dev, Hk), each driven by its
own motif — trains and evaluates with ``--label-col`` twice; each target gets its own metrics and
the headline is their mean."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from archlab.cli import app
from archlab.dna.data import DataError
from archlab.dna.io import load
from archlab.dna.metrics import score
from archlab.dna.train import constant_output

runner = CliRunner()
COLS = ["--label-col", "Dev_log2_enrichment", "--label-col", "Hk_log2_enrichment"]


def _starr(path: Path, n: int = 300, length: int = 100) -> Path:
    """Dev counts GATA words, Hk counts CG pairs (plus noise); an unused ``set`` column."""
    rng = np.random.default_rng(0)
    lines = ["sequence\tDev_log2_enrichment\tHk_log2_enrichment\tset"]
    for _ in range(n):
        s = "".join(rng.choice(list("ACGT"), size=length))
        dev, hk = s.count("GATA") + rng.normal(0, 0.3), 0.3 * s.count("CG") + rng.normal(0, 0.3)
        lines.append(f"{s}\t{dev:.3f}\t{hk:.3f}\tTrain")
    path.write_text("\n".join(lines) + "\n")
    return path


def _json(*args: str) -> dict:
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_loader_reads_two_targets(tmp_path: Path) -> None:
    ds = load(_starr(tmp_path / "starr.tsv"), label_col=["Dev_log2_enrichment", "Hk_log2_enrichment"])
    assert ds.task == "regression" and ds.targets == ["Dev_log2_enrichment", "Hk_log2_enrichment"]
    assert ds.n_outputs == 2 and ds.splits["train"].y.shape == (240, 2) and ds.metric == "pearson"


def test_a_missing_label_column_names_the_columns_and_the_flag(tmp_path: Path) -> None:
    path = _starr(tmp_path / "starr.tsv")
    res = runner.invoke(app, ["dna", "leakage", str(path)])
    assert res.exit_code != 0
    assert "Dev_log2_enrichment" in res.output and "--label-col" in res.output
    res = runner.invoke(app, ["dna", "leakage", str(path), "--label-col", "Dev"])
    assert res.exit_code != 0 and "no label column 'Dev'" in res.output and "--label-col" in res.output
    with pytest.raises(DataError, match="TSV/CSV table"):
        load("irf1", label_col="y")


def test_two_target_regression_trains_and_evaluates_from_the_cli(
    tmp_path: Path, one_torch_thread: None
) -> None:
    path = str(_starr(tmp_path / "starr.tsv"))
    base = _json("dna", "baselines", path, *COLS, "--seeds", "2", "--epochs", "2")
    assert base["targets"] == ["Dev_log2_enrichment", "Hk_log2_enrichment"]
    per = {r["target"]: r for r in base["per_target"]}
    assert base["kmer"] == pytest.approx(np.mean([r["kmer"] for r in per.values()]))
    assert base["cnn_mean"] == pytest.approx(np.mean([r["cnn_mean"] for r in per.values()]))
    assert per["Dev_log2_enrichment"]["kmer"] > 0.4 and per["Hk_log2_enrichment"]["kmer"] > 0.4
    train = _json("dna", "train", path, *COLS, "--model", "diag_rnn", "--steps", "20", "--seeds", "2")
    assert [r["target"] for r in train["per_target"]] == base["targets"]
    assert train["mean"] == pytest.approx(np.mean([r["mean"] for r in train["per_target"]]))
    run = train["runs"][0]
    assert len(run["test"]["per_target"]) == 2 and len(run["y_standardisation"]["mean"]) == 2
    res = runner.invoke(app, ["dna", "train", path, *COLS, "--model", "cnn", "--steps", "5"])
    assert res.exit_code == 0 and "Hk_log2_enrichment: test pearson" in res.output
    dedup = _json("dna", "leakage", path, *COLS, "--dedupe")
    assert dedup["deduped"] is True


def test_multi_target_metrics_are_per_target_and_their_mean() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=(50, 2))
    p = y + rng.normal(scale=[0.1, 2.0], size=(50, 2))
    out = score("regression", y, p)
    one = [score("regression", y[:, j], p[:, j]) for j in range(2)]
    assert out["pearson"] == pytest.approx(np.mean([o["pearson"] for o in one]))
    assert [o["pearson"] for o in out["per_target"]] == pytest.approx([o["pearson"] for o in one])
    assert one[0]["pearson"] > 0.9 > one[1]["pearson"]


def test_constant_output_with_several_targets() -> None:
    flat = np.tile([[0.5, 1.0]], (20, 1))
    assert constant_output(flat, np.array([1.0, 1.0]))
    varied = flat.copy()
    varied[:, 1] += np.linspace(0, 1, 20)
    assert not constant_output(varied, np.array([1.0, 1.0]))


def test_stacked_seeds_equal_one_by_one_with_two_targets(tmp_path: Path, one_torch_thread: None) -> None:
    path = str(_starr(tmp_path / "starr.tsv", n=100))
    args = [
        "dna",
        "train",
        path,
        *COLS,
        "--model",
        "diag_rnn",
        "--set",
        "width=16",
        "--steps",
        "6",
        "--seeds",
        "2",
    ]
    one = _json(*args, "--one-by-one")
    stacked = _json(*args, "--stacked")
    assert stacked["values"] == pytest.approx(one["values"], abs=1e-4)
    assert [r["mean"] for r in stacked["per_target"]] == pytest.approx(
        [r["mean"] for r in one["per_target"]], abs=1e-4
    )
