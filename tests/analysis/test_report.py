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
    # plots/skipped.json and summary.md list the same skipped plots, with the same reasons
    assert json.loads((rep.out / "plots" / "skipped.json").read_text()) == rep.skipped
    for name, why in rep.skipped.items():
        assert f"- {name}: {why}" in md
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


PAYLOADS = (
    '![x" onerror="alert(1)"](nope.png)',  # an image that would run script
    "![leak](/etc/hostname)",  # an image that would embed a local file
    "[t](javascript:alert(1))",  # a link that would run script
    "<script>alert(2)</script><img src=x onerror=alert(3)>",
    "![up](../../../etc/passwd)",
)


def test_html_report_carries_no_markup_or_file_from_record_text(runs: Path, tmp_path: Path) -> None:
    """Record text reaches the page escaped: no tag, attribute, link or embedded file comes from
    a record; the only images are the plots the report wrote."""
    import shutil
    from html.parser import HTMLParser

    bad = tmp_path / "runs"
    shutil.copytree(runs, bad)
    for i, (name, payload) in enumerate(
        zip(sorted(p.name for p in bad.iterdir() if p.is_dir()), PAYLOADS * 2, strict=False)
    ):
        rec_path = bad / name / "result.json"
        rec = json.loads(rec_path.read_text())
        rec["probe"] = payload + f" {i}"
        rec["suite"] = PAYLOADS[(i + 1) % len(PAYLOADS)]
        rec_path.write_text(json.dumps(rec))
    rep = write_report(str(bad), out=tmp_path / "rep", html=True)
    page = (rep.out / "summary.html").read_text()
    md = rep.summary.read_text()
    assert any(p in md for p in PAYLOADS)  # the record text did reach the report

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[tuple[str, dict[str, str | None]]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags.append((tag, dict(attrs)))

    parser = Tags()
    parser.feed(page)
    allowed = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "h4", "p", "ul", "li",
               "table", "tr", "th", "td", "code", "a", "img"}  # fmt: skip
    assert {t for t, _ in parser.tags} <= allowed
    for tag, attrs in parser.tags:
        assert set(attrs) <= {"charset", "alt", "src", "style", "href"}, (tag, attrs)
        if tag == "img":
            assert (attrs["src"] or "").startswith("data:image/png;base64,")
        if tag == "a":
            href = attrs["href"] or ""
            assert href.startswith(("http://", "https://")) or ":" not in href, href
    assert sum(t == "img" for t, _ in parser.tags) == len(rep.plots)
    hostname = Path("/etc/hostname")
    if hostname.is_file() and hostname.read_bytes().strip():
        import base64

        assert base64.b64encode(hostname.read_bytes()).decode() not in page
    assert "<script" not in page and 'onerror="' not in page and 'javascript:alert(1)">' not in page


def test_corrupt_records_in_a_folder_are_skipped_with_one_line_each(
    runs: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A folder given to `report` or `theory check` may hold broken records: each is skipped
    with a warning naming its file, and the rest is processed; a broken file named directly is
    an error."""
    import shutil

    from archlab.errors import ConfigError
    from archlab.theory.agreement import load_records

    folder = tmp_path / "runs"
    shutil.copytree(runs, folder)
    good = json.loads(next(folder.rglob("result.json")).read_text())
    broken = {
        "notjson": "{not json",
        "badmixer": json.dumps({**good, "model": {**good["model"], "mixer": "nope"}}),
        "norange": json.dumps({k: v for k, v in good.items() if k != "range_eval"}),
        "badlength": json.dumps({**good, "range_eval": [{"length": "long"}]}),
        "binary": b"\xff\xfe\x00",
    }
    for name, content in broken.items():
        (folder / name).mkdir()
        data = content if isinstance(content, bytes) else content.encode()
        (folder / name / "result.json").write_bytes(data)
    with caplog.at_level("WARNING"):
        recs = load_records([folder])
    assert len(recs) == 4  # the four good runs
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped")]
    assert len(skipped) == len(broken) and all("\n" not in m for m in skipped)
    for name in broken:
        assert any(f"/{name}/result.json" in m for m in skipped), name
    with pytest.raises(ConfigError, match="badmixer"):
        load_records([folder / "badmixer" / "result.json"])
    rep = write_report(str(folder), out=tmp_path / "rep")
    assert "4 run record(s)" in rep.summary.read_text()
    res = CliRunner().invoke(app, ["theory", "check", str(folder), "--json"])
    assert res.exit_code in (0, 1) and "Traceback" not in res.output


def test_leaderboard_and_two_sources_side_by_side(runs: Path, tmp_path: Path) -> None:
    rep = write_report(str(runs), out=tmp_path / "one")
    board = rep.leaderboard
    assert [r["architecture"] for r in board] == sorted(
        (r["architecture"] for r in board),
        key=lambda a: -next(r["score"] for r in board if r["architecture"] == a),
    )
    assert {r["architecture"] for r in board} == {
        "diag_rnn(layers=1, width=16, eig_range=signed)",
        "diag_rnn(layers=1, width=16, eig_range=unit)",
    }
    top = board[0]
    assert top["probes"] == 1 and top["params"] > 0 and top["state_floats"] > 0
    assert top["wall_time_s"] > 0 and top["budget"] == "20 steps"
    md = rep.summary.read_text()
    assert (
        "### Leaderboard" in md
        and "| # | architecture | score | probes | params | state | wall time | budget |" in md
    )
    rows = list(csv.DictReader(rep.tables["leaderboard"].open()))
    assert [r["architecture"] for r in rows] == [r["architecture"] for r in board]
    # a study and a results folder, side by side
    url = f"journal:{tmp_path / 'c.journal'}"
    run_study(dry_spec("cmp", budget={"n_trials": 2}), url)
    res = CliRunner().invoke(
        app, ["report", str(runs), "cmp", "--storage", url, "--out", str(tmp_path / "both"), "--json"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    summary = Path(data["summary"]).read_text()
    assert len(data["reports"]) == 2 and all(Path(p).is_file() for p in data["reports"])
    assert "| architecture | 1. runs" in summary and "2. cmp |" in summary
    assert "diag_rnn(layers=1, width=16, eig_range=signed)" in summary
    cmp_rows = list(csv.DictReader((tmp_path / "both" / "comparison.csv").open()))
    assert {r["architecture"] for r in cmp_rows} >= {"diag_rnn(layers=1, width=16, eig_range=signed)"}


def test_a_bare_folder_name_is_a_results_folder_unless_the_storage_has_that_study(
    runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"journal:{tmp_path / 'bare.journal'}"
    run_study(dry_spec("bare", budget={"n_trials": 1}), url)
    monkeypatch.chdir(runs.parent)
    rep = write_report(runs.name, storage=url, out=tmp_path / "folder")
    assert "results folder" in rep.summary.read_text()
    rep = write_report("bare", storage=url, out=tmp_path / "study")
    assert "Study: 1 trials" in rep.summary.read_text()
