"""``archlab dna …`` end to end, on small synthetic levels and a small FASTA folder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from archlab.cli import app
from archlab.dna.transfer import correlations

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output


def _fasta_dir(root: Path, n: int = 120, length: int = 80, seed: int = 0) -> Path:
    """``root/{train,valid,test}/{neg,pos}.fa``: positives carry a planted 8-mer (either strand)."""
    rng = np.random.default_rng(seed)
    motif = "GGATCCAT"
    rc = motif[::-1].translate(str.maketrans("ACGT", "TGCA"))
    for split, m in (("train", n), ("valid", n // 3), ("test", n // 2)):
        (root / split).mkdir(parents=True)
        for label in ("neg", "pos"):
            lines = []
            for i in range(m):
                s = "".join(rng.choice(list("ACGT"), size=length))
                if label == "pos":
                    j = int(rng.integers(0, length - 8))
                    s = s[:j] + (motif if rng.random() < 0.5 else rc) + s[j + 8 :]
                lines += [f">{split}_{label}_{i}", s]
            (root / split / f"{label}.fa").write_text("\n".join(lines) + "\n")
    return root


def test_list_json_names_levels_and_shared_sets() -> None:
    code, text = _run("dna", "list", "--json")
    assert code == 0
    data = json.loads(text)
    names = [lv["name"] for lv in data["levels"]]
    assert names == [f"D{i}" for i in range(8)]
    for lv in data["levels"]:
        assert {"title", "task", "theory", "defeats", "params"} <= set(lv)
    assert {d["name"] for d in data["datasets"]} == {"irf1", "zbed2", "lentimpra", "yeast"}


def test_sample_json_is_balanced_and_seeded() -> None:
    code, text = _run("dna", "sample", "D0", "--length", "200", "--n", "6", "--seed", "3", "--json")
    assert code == 0
    data = json.loads(text)
    assert set(data) == {"sequences", "labels"}
    assert len(data["sequences"]) == 6 and all(
        len(s) == 200 and set(s) <= set("ACGT") for s in data["sequences"]
    )
    assert sorted(data["labels"]) == [0, 0, 0, 1, 1, 1]
    assert _run("dna", "sample", "D0", "--length", "200", "--n", "6", "--seed", "3", "--json")[1] == text
    other = _run("dna", "sample", "D0", "--length", "200", "--n", "6", "--seed", "4", "--json")[1]
    assert other != text


def test_bad_input_is_one_line_with_the_valid_names() -> None:
    code, text = _run("dna", "sample", "D9", "--length", "200")
    assert code == 2 and "unknown DNA task 'D9'" in text and "D0, D1" in text
    code, text = _run("dna", "sample", "D2", "--length", "200", "-p", "gapp=3")
    assert code == 2 and "D2.gapp" in text and "gap" in text
    code, text = _run("dna", "baselines", "/nonexistent/file.h5")
    assert code == 2 and "/nonexistent/file.h5" in text
    code, text = _run("dna", "train", "D0")
    assert code == 2 and "--length" in text


def test_check_reports_every_check_and_its_status() -> None:
    code, text = _run("dna", "check", "D3", "--length", "300", "--n", "600", "--json")
    data = json.loads(text)
    assert code == (0 if data["passed"] else 1)
    names = {c["name"] for c in data["checks"]}
    assert {"gc_auroc", "kmer_auroc", "duplicates_across_splits", "deterministic", "oracle_accuracy"} <= names
    assert data["oracle_accuracy"] == 1.0


@pytest.mark.slow
def test_baselines_json_on_a_fasta_folder(tmp_path: Path, one_torch_thread: None) -> None:
    root = _fasta_dir(tmp_path / "set")
    out = tmp_path / "b.json"
    code, text = _run(
        "dna", "baselines", str(root), "--seeds", "2", "--epochs", "3", "--json", "--out", str(out)
    )
    assert code == 0, text
    data = json.loads(text)
    assert {"dataset", "metric", "gc", "kmer", "cnn_mean", "cnn_sd"} <= set(data)
    assert data["metric"] == "auroc" and data["cnn_n"] == 2 and len(data["cnn_values"]) == 2
    assert abs(data["gc"] - 0.5) < 0.2  # composition does not separate the classes
    assert data["kmer"] > 0.8  # the planted 8-mer's words do
    assert json.loads(out.read_text())["cnn_mean"] == data["cnn_mean"]


@pytest.mark.slow
def test_train_and_transfer_resume(tmp_path: Path, one_torch_thread: None) -> None:
    code, text = _run(
        "dna", "train", "D0", "--length", "120", "--n", "300", "--model", "conv", "--set", "causal=false",
        "--set", "width=16", "--set", "layers=1", "--epochs", "2", "--json",
    )  # fmt: skip
    assert code == 0, text
    summary = json.loads(text)
    assert summary["metric"] == "auroc" and summary["n"] == 1 and 0 <= summary["mean"] <= 1

    real = _fasta_dir(tmp_path / "real", n=90)
    args = [
        "dna", "transfer", "--models", "conv,lstm", "--levels", "D0,D3", "--length", "120", "--n", "200",
        "--real", str(real), "--epochs", "1", "--out", str(tmp_path / "t"), "--json",
    ]  # fmt: skip
    code, text = _run(*args)
    assert code == 0, text
    res = json.loads(text)
    assert res["models"] == ["conv", "lstm", "cnn"]
    assert res["synthetic"] == ["D0@120", "D3@120"] and res["real"] == ["real"]
    assert len(res["correlations"]) == 2 and all(c["n_models"] == 3 for c in res["correlations"])
    runs = sorted((tmp_path / "t" / "runs").rglob("seed_0.json"))
    assert len(runs) == 9  # 3 architectures × 3 tasks
    stamps = [p.stat().st_mtime_ns for p in runs]
    code, text2 = _run(*args)  # a rerun reuses every finished run
    assert code == 0 and [p.stat().st_mtime_ns for p in runs] == stamps
    assert json.loads(text2)["scores"] == res["scores"]


def test_correlations_rank_architectures() -> None:
    scores = {
        "a": {"s1": 0.9, "s2": 0.1, "r": 0.8},
        "b": {"s1": 0.7, "s2": 0.3, "r": 0.7},
        "c": {"s1": 0.5, "s2": 0.5, "r": 0.6},
        "d": {"s1": 0.6, "s2": math.nan, "r": 0.65},
    }
    rows = {c["synthetic"]: c for c in correlations(scores, ["s1", "s2"], ["r"])}
    assert rows["s1"]["spearman"] == pytest.approx(1.0) and rows["s1"]["n_models"] == 4
    assert rows["s2"]["spearman"] == pytest.approx(-1.0) and rows["s2"]["n_models"] == 3  # NaN left out
    two = correlations({"a": {"s": 1.0, "r": 1.0}, "b": {"s": 0.0, "r": 0.0}}, ["s"], ["r"])
    assert math.isnan(two[0]["spearman"]) and two[0]["n_models"] == 2  # too few to rank


def test_dna_train_stacked_says_when_the_seeds_run_one_by_one() -> None:
    r = runner.invoke(
        app,
        ["dna", "train", "D0", "--length", "100", "--n", "200", "--model", "cnn", "--seeds", "2",
         "--steps", "4", "--stacked", "--device", "cpu"],
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert "--stacked: the seeds train one by one" in r.stderr and "batch norm" in r.stderr
