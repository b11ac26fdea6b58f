"""``archlab dna leakage`` and the leakage report of ``dna baselines`` / ``dna train`` (issue 22):
a FASTA folder with planted copies across splits — same strand, reverse complement, and one
near duplicate (a copy with a few bases changed) — reported by count, and gone after --dedupe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from archlab.cli import app

runner = CliRunner()
RC = str.maketrans("ACGT", "TGCA")


def _revcomp(s: str) -> str:
    return s[::-1].translate(RC)


def _leaky_folder(root: Path, n: int = 40, length: int = 120) -> Path:
    """``root/{train,test}/{neg,pos}.fa``; test pos rows 0–2 copy train pos rows 0–2 (0 and 1 on
    the same strand, 2 reverse-complemented) and test pos row 3 is train pos row 3 with 2 bases
    changed near its ends (a near duplicate: 84 of its 90 31-mers shared)."""
    rng = np.random.default_rng(0)

    def seq() -> str:
        return "".join(rng.choice(list("ACGT"), size=length))

    rows = {s: {lab: [seq() for _ in range(n)] for lab in ("neg", "pos")} for s in ("train", "test")}
    train_pos, test_pos = rows["train"]["pos"], rows["test"]["pos"]
    test_pos[0], test_pos[1], test_pos[2] = train_pos[0], train_pos[1], _revcomp(train_pos[2])
    near = list(train_pos[3])
    for i in (2, 117):
        near[i] = "A" if near[i] != "A" else "C"
    test_pos[3] = "".join(near)
    for split, by_label in rows.items():
        (root / split).mkdir(parents=True)
        for label, seqs in by_label.items():
            text = "".join(f">{split}_{label}_{i}\n{s}\n" for i, s in enumerate(seqs))
            (root / split / f"{label}.fa").write_text(text)
    return root


def _json(*args: str) -> dict:
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_leakage_report_counts_exact_and_near_duplicates(tmp_path: Path) -> None:
    rep = _json("dna", "leakage", str(_leaky_folder(tmp_path / "set")), "--examples", "5")
    pair = rep["exact"]["pairs"]["train/test"]
    assert (pair["n"], pair["same_strand"], pair["reverse_complement"]) == (3, 2, 1)
    assert rep["exact"]["leaked"] == {"test": 3}
    near = rep["near"]
    # the exact copies share all their k-mers; the edited copy at least half
    assert near["n_near"] == 4 and near["k"] == 31 and near["reference"] == ["train"]
    assert {(e["split"], e["share"] >= 0.5) for e in near["examples"]} == {("train", True)}
    assert rep["sizes"] == {"train": 80, "test": 80} and rep["deduped"] is False


def test_dedupe_regroups_so_nothing_leaks(tmp_path: Path) -> None:
    rep = _json("dna", "leakage", str(_leaky_folder(tmp_path / "set")), "--dedupe")
    assert rep["deduped"] is True
    assert rep["exact"]["leaked"]["test"] == 0 and rep["near"]["n_near"] == 0
    assert sum(rep["sizes"].values()) == 160


def test_human_report_names_the_leak_and_the_flag(tmp_path: Path) -> None:
    res = runner.invoke(app, ["dna", "leakage", str(_leaky_folder(tmp_path / "set"))])
    assert res.exit_code == 0, res.output
    assert "3 test rows exactly copy a train/valid row" in res.output
    assert "4 test rows nearly duplicate one" in res.output and "--dedupe" in res.output


def test_baselines_and_train_carry_the_leakage(tmp_path: Path, one_torch_thread: None) -> None:
    root = str(_leaky_folder(tmp_path / "set"))
    base = _json("dna", "baselines", root, "--seeds", "1", "--epochs", "1")
    assert base["leakage"]["exact"]["leaked"]["test"] == 3 and base["leakage"]["deduped"] is False
    train = _json("dna", "train", root, "--model", "cnn", "--steps", "3", "--dedupe")
    assert train["leakage"]["deduped"] is True and train["leakage"]["exact"]["leaked"]["test"] == 0
