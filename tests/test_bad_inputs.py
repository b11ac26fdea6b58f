"""Bad input is one clear line and exit status 2, never a traceback, a hang or a changed file
(issue 19's cases fixed so far; run through the CLI in-process)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from archlab.cli import app

ROOT = Path(__file__).resolve().parents[1]
DEMO = (ROOT / "search" / "demo.yaml").read_text()
CONFIG = "model: {mixer: lstm, width: 8}\ntrain: {steps: 1}\n"
SUITE = "name: s\ntrain_lengths: [4]\ntest_lengths: [4]\nprobes:\n  - probe: parity\n"


def _alias_bomb(head: str) -> str:
    lines = [head + "x0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]
    return "\n".join(lines) + "\n"


#: (id, files to write, CLI arguments, a word the one-line message must hold)
# the command line most cases extend: a one-layer LSTM on parity
TRAIN = ["train", "--probe", "parity", "--model", "lstm"]

CASES: list[tuple[str, dict[str, str | bytes], list[str], str]] = [
    ("group order overflow", {}, ["probe", "sample", "S1000"], "word_problem.group"),
    ("group order overflow facts", {}, ["probe", "facts", "S99999999999999999999"], "word_problem.group"),
    ("lr inf", {}, [*TRAIN, "--set", "train.lr=inf"], "lr"),
    ("lr nan", {}, [*TRAIN, "--set", "train.lr=nan"], "lr"),
    (
        "seed bomb",
        {},
        [*TRAIN, "--seeds", "0-1000000000"],
        "--seeds",
    ),
    (
        "length 1e9 train",
        {},
        [*TRAIN, "--set", "train.test_lengths=[1000000000]"],
        "test_lengths",
    ),
    (
        "length range bomb",
        {},
        [*TRAIN, "--set", "train.test_lengths={min: 1, max: 900000}"],
        "test_lengths",
    ),
    ("length 1e9 sample", {}, ["probe", "sample", "parity", "--length", "1000000000"], "length"),
    ("batch x length bomb", {}, ["probe", "sample", "parity", "--length", "100000", "-n", "100000"], "batch"),
    (
        "duplicate key config",
        {"c.yaml": "model: {mixer: lstm}\nmodel: {mixer: gru}\n"},
        ["train", "--probe", "parity", "--config", "c.yaml"],
        "duplicate key 'model'",
    ),
    ("duplicate key suite", {"s.yaml": SUITE + "name: t\n"}, ["probe", "suite", "s.yaml"], "duplicate key"),
    ("duplicate key spec", {"d.yaml": DEMO + "name: other\n"}, ["study", "run", "d.yaml"], "duplicate key"),
    (
        "alias bomb config",
        {"c.yaml": _alias_bomb(CONFIG)},
        ["train", "--probe", "parity", "--config", "c.yaml"],
        "aliases",
    ),
    ("alias bomb spec", {"d.yaml": _alias_bomb(DEMO)}, ["study", "run", "d.yaml"], "aliases"),
    (
        "binary config",
        {"c.yaml": b"\xff\xfe\x00\x01model"},
        ["train", "--probe", "parity", "--config", "c.yaml"],
        "UTF-8",
    ),
    ("binary suite", {"s.yaml": b"\x89PNG\r\n\x1a\n\x00"}, ["probe", "suite", "s.yaml"], "UTF-8"),
    ("binary spec", {"d.yaml": b"\x00\xff" * 64}, ["study", "run", "d.yaml"], "UTF-8"),
    (
        "huge description",
        {"d.yaml": DEMO.replace("description: ", "description: " + "x" * 2_000_000, 1)},
        ["study", "run", "d.yaml"],
        "too large",
    ),
    (
        "n_trials 1e30",
        {"d.yaml": DEMO.replace("budget: {n_trials: 10}", "budget: {n_trials: " + "9" * 31 + "}")},
        ["study", "run", "d.yaml"],
        "n_trials",
    ),
    ("study name traversal", {}, ["study", "status", "../../x"], "study name"),
    ("huge cyclic group", {}, ["probe", "sample", "Z99999999999999999999"], "word_problem.group"),
    (
        "unknown sampler arg",
        {"d.yaml": DEMO.replace("n_startup_trials", "n_startup_trialz")},
        ["study", "run", "d.yaml"],
        "sampler.args.n_startup_trialz",
    ),
    (
        "args for the random sampler",
        {"d.yaml": DEMO.replace("name: tpe", "name: random")},
        ["study", "run", "d.yaml"],
        "takes no arguments",
    ),
    (
        "unknown pruner arg",
        {"d.yaml": DEMO.replace("p_threshold", "p_thresh")},
        ["study", "run", "d.yaml"],
        "p_threshold",
    ),
]
if not torch.cuda.is_available():
    CUDA = [*TRAIN, "--set", "train.device=cuda", "--set", "train.steps=1"]
    CASES.append(("cuda without cuda", {}, CUDA, "CUDA"))


CORPUS = ROOT / "tests" / "data" / "bad_inputs"
#: the corpus: a file per bad input (configs, suites, specs, journals) and command lines, each
#: with the CLI arguments that read it ("{file}" stands for the file) and a word its one-line
#: error must hold
CORPUS_CASES = json.loads((CORPUS / "cases.json").read_text())


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()
    }


def _one_clear_line(args: list[str], word: str) -> None:
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, (res.exit_code, res.output[-2000:])
    assert "Traceback" not in res.output
    lines = [line for line in res.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.output[-2000:]
    assert word in lines[0], lines[0]


def test_the_corpus_is_large_and_every_file_is_used() -> None:
    assert len(CORPUS_CASES) >= 100
    used = {c["file"] for c in CORPUS_CASES if c["file"]}
    assert used == {p.name for p in CORPUS.iterdir() if p.name != "cases.json"}


@pytest.mark.parametrize("case", CORPUS_CASES, ids=[c["id"] for c in CORPUS_CASES])
def test_corpus_input_is_one_line_and_changes_nothing(
    case: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each corpus file, read through the CLI from a scratch folder: exit 2, no traceback, one
    line naming the field or file, and every data file in the corpus unchanged."""
    monkeypatch.chdir(tmp_path)
    before = _digest(CORPUS)
    path = str(CORPUS / str(case["file"])) if case["file"] else ""
    args = [str(a).replace("{file}", path) for a in case["args"]]  # type: ignore[attr-defined]
    _one_clear_line(args, str(case["expect"]))
    assert _digest(CORPUS) == before
    assert not any(tmp_path.iterdir())  # nothing written beside


@pytest.mark.parametrize(("files", "args", "word"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(
    files: dict[str, str | bytes], args: list[str], word: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, content in files.items():
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    before = _digest(tmp_path)
    _one_clear_line(args, word)
    assert _digest(tmp_path) == before  # every data file as it was, nothing new beside them
