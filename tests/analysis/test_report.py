"""``archlab report`` on a folder of real (tiny) runs and on a study."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archlab.analysis.report import write_report
from archlab.cli import app
from archlab.config import ModelConfig, TrainConfig
from archlab.probes import make_probe
from archlab.search import run_study
from archlab.train import train_run
from tests.search._util import dry_spec


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    tcfg = TrainConfig(steps=20, batch=16, train_lengths=[2, 8], test_lengths=[8, 16, 32], device="cpu")
    for eig in ("signed", "unit"):
        for seed in (0, 1):
            cfg = ModelConfig(mixer="diag_rnn", eig_range=eig, layers=1, width=16)
            train_run(
                make_probe("parity"),
                cfg,
                tcfg.model_copy(update={"seed": seed}),
                out_dir=root / f"{eig}{seed}",
            )
    (root / "irf1_baselines.json").write_text(
        json.dumps({"dataset": "irf1", "metric": "auroc", "gc": 0.636, "kmer": 0.856, "cnn_mean": 0.982,
                    "cnn_sd": 0.002, "cnn_n": 3, "cnn_values": [0.981, 0.985, 0.980]})
    )  # fmt: skip
    return root


def test_report_of_a_results_folder(runs: Path, tmp_path: Path) -> None:
    rep = write_report(str(runs), out=tmp_path / "rep", html=True)
    md = rep.summary.read_text()
    for section in ("## What was run", "## Best architectures", "## Theory vs measurement", "### Violations",
                    "### Not learned", "## DNA", "## Plots", "## Provenance"):  # fmt: skip
        assert section in md, section
    assert "4 run record(s) (4 finished) of 2 architecture(s)" in md
    assert "irf1 (test auroc): GC 0.636, k-mer 0.856, CNN 0.982 ± 0.002 (n = 3)" in md
    # every plot written is linked, as PNG and SVG
    assert {"length_generalisation", "expressivity_matrix", "dna_baselines"} <= set(rep.plots)
    for png in rep.plots.values():
        assert png.stat().st_size > 0 and png.with_suffix(".svg").stat().st_size > 0
        assert f"]({png.relative_to(rep.out).as_posix()})" in md
    assert "recurrence_depth" in rep.skipped and "fixed-point" in rep.skipped["recurrence_depth"]
    # tables: one row per run and test length; one per theory cell, classes counted in the summary
    rows = list(csv.DictReader(rep.tables["runs"].open()))
    assert len(rows) == 4 * 3 and {r["length"] for r in rows} == {"8", "16", "32"}
    cells = list(csv.DictReader(rep.tables["agreement"].open()))
    assert sum(rep.counts.values()) == len(cells) > 0
    assert all(r["class"] in rep.counts for r in cells)
    # unit eigenvalues on parity beyond training: predicted impossible (R1)
    assert any(r["rule"] == "R1" and r["verdict"] == "impossible" for r in cells)
    assert len(rep.headline) <= 10
    html = (rep.out / "summary.html").read_text()
    assert html.count("data:image/png;base64,") == len(rep.plots) and "<table>" in html


def test_report_of_a_study(tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 's.journal'}"
    run_study(dry_spec("rstudy", budget={"n_trials": 6}), url)
    rep = write_report("rstudy", storage=url, out=tmp_path / "rep")
    md = rep.summary.read_text()
    assert "Study: 6 trials (6 complete, 0 pruned, 0 failed)" in md
    assert "| trial | value(s) | params |" in md
    assert "study_history" in rep.plots and rep.plots["study_history"].is_file()
    trials = list(csv.DictReader(rep.tables["trials"].open()))
    assert len(trials) == 6


def test_report_cli_and_bad_source(runs: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["report", str(runs), "--out", str(tmp_path / "r"), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert Path(data["summary"]).is_file() and data["counts"]
    res = CliRunner().invoke(app, ["report", "no_such_study", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "no_such_study" in res.output
