"""The paper figures: built from real (tiny) training runs, agreement cells and an in-memory study;
each has the panels, labels and marks it promises, writes a non-empty PNG and SVG, and refuses bad
input with a clear error."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from archlab.analysis import (
    PlotInputError,
    capacity,
    dna_baselines,
    expressivity_matrix,
    length_generalisation,
    recurrence_depth,
    study_plots,
    transfer_correlations,
)
from archlab.analysis.plots import VIOLATION_RED
from archlab.config import ModelConfig, TrainConfig
from archlab.errors import ArchlabError
from archlab.probes import make_probe
from archlab.search import run_study
from archlab.theory.agreement import check_records
from archlab.train import train_run
from tests.search._util import dry_spec

Record = dict[str, Any]


def _train(probe: str, train: tuple[int, int], test: list[int], **model: Any) -> Record:
    cfg = TrainConfig(
        steps=4, batch=8, lr=1e-2, eval_every=4, train_lengths={"min": train[0], "max": train[1]},
        test_lengths=test, val_batch=8, eval_batch=8, device="cpu",
    )  # fmt: skip
    return train_run(make_probe(probe), ModelConfig(layers=1, **model), cfg)


def _reseed(rec: Record, seed: int, shift: float) -> Record:
    """Another seed of a real run: the record copied, its seed and accuracies changed."""
    out = copy.deepcopy(rec)
    out["seed"] = seed
    out["model"]["init_seed"] = seed
    for row in out["range_eval"]:
        for k in ("token_acc", "seq_acc"):
            row[k] = min(1.0, max(0.0, row[k] + shift))
        if "fp_iters" in row:
            row["fp_iters"] += 2 * shift
    return out


@pytest.fixture(scope="module")
def records() -> dict[str, list[Record]]:
    signed = _train("parity", (2, 8), [8, 16, 64], mixer="diag_rnn", eig_range="signed", width=8)
    unit = _train("parity", (2, 8), [8, 16, 64], mixer="diag_rnn", eig_range="unit", width=8)
    fp = _train("parity", (2, 8), [8, 16, 64], mixer="diag_rnn", width=8, fp_iters=2, fp_eval_iters=16)
    small = _train("copy", (1, 4), [4, 16], mixer="diag_rnn", width=2)
    big = _train("copy", (1, 4), [4, 16], mixer="diag_rnn", width=16)
    attn = _train("copy", (1, 4), [4, 16], mixer="attention", width=8)
    # a violation: the [0,1] diagonal RNN (R1: parity impossible) made to "solve" parity
    cheat = copy.deepcopy(unit)
    for row in cheat["range_eval"]:
        row["seq_acc"] = 1.0
    return {
        "parity": [signed, _reseed(signed, 1, 0.1), unit, _reseed(unit, 1, -0.05)],
        "fp": [fp, _reseed(fp, 1, 0.5)],
        "copy": [small, big, _reseed(big, 1, 0.05), attn],
        "cheat": [signed, cheat],
    }


def _files(out: Path) -> None:
    for suffix in (".png", ".svg"):
        path = out.with_suffix(suffix)
        assert path.exists() and path.stat().st_size > 0, path
    assert not list(out.parent.glob(".*.tmp"))


def _texts(fig: Figure) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))


def test_length_generalisation(records: dict[str, list[Record]], tmp_path: Path) -> None:
    recs = records["parity"] + records["copy"]
    n_figs = len(plt.get_fignums())
    fig = length_generalisation(recs, out=tmp_path / "lg.png")
    assert isinstance(fig, Figure) and len(plt.get_fignums()) == n_figs  # nothing left in pyplot
    _files(tmp_path / "lg")
    axes = fig.axes
    assert len(axes) == 2  # one panel per probe
    parity = axes[0]
    assert parity.get_title().startswith("parity") and "seq_acc" in parity.get_title()
    assert parity.get_xlabel() == "sequence length (tokens; training range shaded)"
    assert "sequence accuracy" in parity.get_ylabel()
    assert parity.get_xscale() == "log"  # 2 … 64 spans more than 8×
    labels = [t.get_text() for t in parity.get_legend().get_texts()]
    assert any("eig_range=signed" in s and "(2 seeds" in s for s in labels)
    assert any(s.startswith("training lengths 2–8") for s in labels)
    assert len(parity.lines) == 2  # one mean line per architecture
    assert len(parity.collections) == 2  # the ± sd bands (two seeds each)
    # token accuracy draws the majority-class chance line
    fig = length_generalisation(records["copy"], metric="token_acc")
    assert "chance (majority class)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_expressivity_matrix_marks_violations_and_names_rules(
    records: dict[str, list[Record]], tmp_path: Path
) -> None:
    report = check_records(records["cheat"] + records["copy"])
    assert report.counts["violation"] >= 1
    fig = expressivity_matrix(report, out=tmp_path / "matrix")
    _files(tmp_path / "matrix")
    ax = fig.axes[0]
    assert "seq_acc" in ax.get_title() and "0.9" in ax.get_title()
    assert ax.get_xlabel() == "probe" and ax.get_ylabel() == "architecture"
    rows = {t.get_text() for t in ax.get_yticklabels()}
    assert len(rows) == 5  # signed, unit, the two copy widths and attention
    red = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_edgecolor()[:3] == _rgb(VIOLATION_RED)]
    assert len(red) == 1  # exactly the cheating cell
    # one glyph per agreement class, each class in the legend with its meaning
    from archlab.analysis.plots import CLASS_GLYPHS

    assert len({g for g, _ in CLASS_GLYPHS.values()}) == len(CLASS_GLYPHS)  # distinct glyphs
    from archlab.theory.agreement import Cell

    longest: dict[tuple[str, str], Cell] = {}
    for c in report.cells:
        key = (c.measurement.model, c.measurement.probe)
        if key not in longest or c.measurement.length > longest[key].measurement.length:
            longest[key] = c
    classes = {c.cls for c in longest.values()}
    glyphs = [t.get_text() for t in ax.texts if t.get_text() in {g for g, _ in CLASS_GLYPHS.values()}]
    assert sorted(glyphs) == sorted(CLASS_GLYPHS[c.cls][0] for c in longest.values())
    assert "!" in glyphs  # the violation
    legend = "\n".join(t.get_text() for t in fig.legends[0].get_texts())
    for cls in classes:
        assert CLASS_GLYPHS[cls][1] in legend
    assert "R1:" in legend and "R2:" in legend and "impossible at all lengths" in legend
    assert "violation" in legend
    # the to_dict() rows (`archlab theory check --json`) give the same matrix
    again = expressivity_matrix(report.to_dict())
    assert len([p for p in again.axes[0].patches if isinstance(p, Rectangle)]) == 1


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return (r, g, b)


def test_recurrence_depth(records: dict[str, list[Record]], tmp_path: Path) -> None:
    assert all("fp_iters" in row for row in records["fp"][0]["range_eval"])
    fig = recurrence_depth(records["fp"] + records["parity"], out=tmp_path / "depth")
    _files(tmp_path / "depth")
    assert len(fig.axes) == 1  # non-fixed-point records are ignored
    ax = fig.axes[0]
    assert (
        "iterations" in ax.get_ylabel()
        and ax.get_xlabel() == "sequence length (tokens; training range shaded)"
    )
    assert "fixed-point iterations" in ax.get_title()
    caps = [ln for ln in ax.lines if list(ln.get_ydata()) == [16.0, 16.0]]
    assert len(caps) == 1  # the evaluation cap
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "evaluation cap" in labels and any("fp_iters=2" in s for s in labels)
    with pytest.raises(PlotInputError, match="no fixed-point records"):
        recurrence_depth(records["parity"])
    stripped = copy.deepcopy(records["fp"])
    for rec in stripped:
        rec["range_eval"] = [{k: r[k] for k in ("length", "seq_acc")} for r in rec["range_eval"]]
    with pytest.raises(PlotInputError, match="no per-length iteration counts"):
        recurrence_depth(stripped)


def test_capacity_draws_the_bound(records: dict[str, list[Record]], tmp_path: Path) -> None:
    fig = capacity(records["copy"] + records["parity"], out=tmp_path / "cap")
    _files(tmp_path / "cap")
    assert len(fig.axes) == 1  # copy only: parity has no information formula
    ax = fig.axes[0]
    assert "state" in ax.get_xlabel() and "bits" in ax.get_xlabel()
    assert "scaled accuracy" in ax.get_ylabel()
    # copy over 26 letters needs L·log2(26) bits: one vertical line per test length
    bounds = sorted(
        ln.get_xdata()[0] for ln in ax.lines if len(set(ln.get_xdata())) == 1 and ln.get_ls() == "--"
    )
    assert bounds == pytest.approx([4 * math.log2(26), 16 * math.log2(26)])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "L = 4" in labels and "L = 16" in labels and "attention (no fixed state)" in labels
    floats = capacity(records["copy"], unit="floats", lengths=[16])
    assert floats.axes[0].get_xlabel() == "recurrent state (floats)"
    with pytest.raises(PlotInputError, match="memory probe"):
        capacity(records["parity"])


def test_study_plots(tmp_path: Path) -> None:
    single = run_study(dry_spec("plots1", objective={"kind": "synthetic"}, budget={"n_trials": 6}))
    n_figs = len(plt.get_fignums())
    before = dict(plt.rcParams)
    files = study_plots(single, tmp_path / "single")
    assert len(plt.get_fignums()) == n_figs  # Optuna's pyplot figures are closed
    assert dict(plt.rcParams) == before  # Optuna's global ggplot style does not leak
    assert set(files) == {"history", "importances", "parallel", "timeline"}
    assert files.skipped["pareto"] == "single-objective study"
    for png in files.values():
        assert png.stat().st_size > 0 and png.with_suffix(".svg").stat().st_size > 0
    multi = run_study(
        dry_spec("plots2", objective={"kind": "synthetic", "second": "params"}, budget={"n_trials": 5})
    )
    files = study_plots(multi, tmp_path / "multi")
    assert {"history_0", "history_1", "pareto", "timeline"} <= set(files)
    one = run_study(dry_spec("plots3", objective={"kind": "synthetic"}, budget={"n_trials": 1}))
    files = study_plots(one, tmp_path / "one")
    assert "importances" in files.skipped and "at least 2" in files.skipped["importances"]
    assert (tmp_path / "one" / "skipped.json").stat().st_size > 0


BASELINES = [
    {"dataset": "irf1", "metric": "auroc", "gc": 0.636, "kmer": 0.856, "cnn_mean": 0.982, "cnn_sd": 0.002,
     "cnn_n": 3, "cnn_values": [0.981, 0.985, 0.980]},
    {"dataset": "yeast", "metric": "pearson", "gc": 0.359, "kmer": 0.623, "cnn_mean": 0.606, "cnn_sd": 0.004,
     "cnn_n": 3, "cnn_values": [0.603, 0.604, 0.610]},
]  # fmt: skip


def test_dna_baselines(tmp_path: Path) -> None:
    searched = {"householder(n_h=2)": {"irf1": (0.95, 0.01)}}
    fig = dna_baselines(BASELINES, searched, out=tmp_path / "dna")
    _files(tmp_path / "dna")
    irf1, yeast = fig.axes
    assert [t.get_text() for t in irf1.get_xticklabels()] == ["GC", "k-mer", "CNN", "householder(n_h=2)"]
    assert len(irf1.patches) == 4 and len(yeast.patches) == 3
    assert irf1.get_ylabel() == "test auroc" and "3 seeds" in irf1.get_title()
    with pytest.raises(PlotInputError, match="lacks"):
        dna_baselines([{"dataset": "x"}])


def test_transfer_correlations(tmp_path: Path) -> None:
    result = {
        "synthetic": ["D0", "D2"], "real": ["irf1", "zbed2"], "metrics": {"irf1": "auroc", "zbed2": "auroc"},
        "correlations": [
            {"synthetic": "D0", "real": "irf1", "spearman": 0.9, "p": 0.037, "n_models": 5},
            {"synthetic": "D0", "real": "zbed2", "spearman": -0.3, "p": 0.62, "n_models": 5},
            {"synthetic": "D2", "real": "irf1", "spearman": 1.0, "p": 0.0, "n_models": 5},
            {"synthetic": "D2", "real": "zbed2", "spearman": math.nan, "p": math.nan, "n_models": 2},
        ],
    }  # fmt: skip
    fig = transfer_correlations(result, out=tmp_path / "transfer")
    _files(tmp_path / "transfer")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 4 and "ρ = 0.90\np = 0.037\nn = 5" in texts and "ρ undefined\nn = 2" in texts
    assert ax.get_ylabel() == "synthetic level" and "Spearman" in fig.axes[1].get_ylabel()
    with pytest.raises(PlotInputError, match="no correlations"):
        transfer_correlations({"correlations": []})


@pytest.mark.parametrize(
    "call",
    [length_generalisation, recurrence_depth, capacity, expressivity_matrix],
)
def test_empty_input_is_a_clear_error(call: Any) -> None:
    with pytest.raises(ArchlabError) as info:
        call([])
    assert isinstance(info.value, ValueError) and "no " in str(info.value)


def test_unfinished_records_and_bad_metric(records: dict[str, list[Record]]) -> None:
    bad = copy.deepcopy(records["parity"][0])
    bad["status"], bad["range_eval"] = "diverged", []
    with pytest.raises(PlotInputError, match="statuses: diverged"):
        length_generalisation([bad])
    with pytest.raises(PlotInputError, match="unknown metric"):
        length_generalisation(records["parity"], metric="bleu")
    with pytest.raises(PlotInputError, match="not result records"):
        length_generalisation([{"range_eval": []}])
