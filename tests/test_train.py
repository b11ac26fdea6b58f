"""The trainer: solves an easy case fast, records everything, evaluates on the test stream only,
and ends bad runs with a status instead of a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from archlab.cli import app
from archlab.config import ModelConfig, TrainConfig
from archlab.probes import make_probe
from archlab.probes.base import stream_rng
from archlab.train import DataSource, curriculum_length, evaluate_lengths, lr_at, train_run

SMALL = ModelConfig(mixer="diag_rnn", eig_range="signed", width=16, layers=1)


def quick(**kw: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "steps": 400, "batch": 64, "lr": 1e-2, "eval_every": 50, "train_lengths": {"min": 1, "max": 20},
        "test_lengths": [21, 40], "val_batch": 64, "eval_batch": 128, "device": "cpu",
    }  # fmt: skip
    return TrainConfig(**{**base, **kw})


def test_signed_diagonal_rnn_learns_parity_and_generalises(tmp_path: Path) -> None:
    rec = train_run(make_probe("parity"), SMALL, quick(), out_dir=tmp_path / "run")
    assert rec["status"] == "solved", rec["curve"][-1]
    assert rec["steps_run"] < 400
    accs = {r["length"]: r["seq_acc"] for r in rec["range_eval"]}
    assert accs[21] >= 0.95 and accs[40] >= 0.9, accs
    assert all(r["scaled_acc"] > 0.9 for r in rec["range_eval"])
    # the record on disk is the returned one
    on_disk = json.loads((tmp_path / "run" / "result.json").read_text())
    assert on_disk == json.loads(json.dumps(rec))
    for key in (
        "seed",
        "model",
        "train",
        "versions",
        "git_sha",
        "device",
        "wall_time_s",
        "tokens_seen",
        "curve",
    ):
        assert key in on_disk
    assert on_disk["versions"]["torch"] == torch.__version__
    assert on_disk["model"]["init_seed"] == 0 and on_disk["features"]["eig_range"] == "signed"
    assert not list((tmp_path / "run").glob(".*tmp"))


def test_range_evaluation_reads_only_the_test_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    splits: list[tuple[str, str]] = []
    original = DataSource.batch
    phase = {"now": "train"}

    def spy(
        self: DataSource, split: str, rng: np.random.Generator, batch: int, length: int, seed: Any = None
    ) -> Any:
        splits.append((phase["now"], split))
        return original(self, split, rng, batch, length, seed)

    import archlab.train as train_mod

    real_eval = train_mod.evaluate_lengths

    def eval_spy(*args: Any, **kw: Any) -> Any:
        phase["now"] = "range" if kw.get("split", "test") == "test" else "val"
        try:
            return real_eval(*args, **kw)
        finally:
            phase["now"] = "train"

    monkeypatch.setattr(DataSource, "batch", spy)
    monkeypatch.setattr(train_mod, "evaluate_lengths", eval_spy)
    train_run(make_probe("parity"), SMALL, quick(steps=20, eval_every=10))
    assert {s for p, s in splits if p == "range"} == {"test"}
    assert {s for p, s in splits if p != "range"} <= {"train", "val"}
    assert ("train", "train") in splits and ("val", "val") in splits


def test_test_stream_differs_from_training_stream() -> None:
    probe = make_probe("S5")
    src = DataSource.from_probe(probe)
    train = src.batch("train", src.rng("train", 0), 64, 12).tokens
    test = src.batch("test", src.rng("test", 0, 1_000_012), 64, 12).tokens
    val = src.batch("val", src.rng("val", 0), 64, 12).tokens
    assert not np.array_equal(train, test) and not np.array_equal(train, val)
    again = probe.sample(stream_rng(0, "test", 0, 1_000_012), 64, 12).tokens
    np.testing.assert_array_equal(test, again)


def test_nan_producing_config_ends_as_diverged(tmp_path: Path) -> None:
    cfg = quick(steps=50, lr=1e12, clip=None, warmup=0, weight_decay=0.0)
    rec = train_run(make_probe("parity"), SMALL, cfg, out_dir=tmp_path)
    assert rec["status"] == "diverged" and "loss is" in rec["reason"]
    assert rec["range_eval"] == []
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "diverged"


def test_out_of_memory_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: Any, **__: Any) -> Any:
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr("archlab.train.masked_loss", boom)
    rec = train_run(make_probe("parity"), SMALL, quick(steps=5))
    assert rec["status"] == "oom" and "simulated" in rec["reason"]


def test_interrupt_writes_a_complete_record_and_reraises(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = {"n": 0}
    import archlab.train as train_mod

    real = train_mod.masked_loss

    def interrupt_at_3(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(train_mod, "masked_loss", interrupt_at_3)
    with pytest.raises(KeyboardInterrupt):
        train_run(make_probe("parity"), SMALL, quick(steps=10), out_dir=tmp_path)
    rec = json.loads((tmp_path / "result.json").read_text())
    assert rec["status"] == "interrupted" and rec["steps_run"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


class _ParityOracle(nn.Module):
    """Predicts the running parity exactly (or a constant): a yardstick for the metrics."""

    def __init__(self, constant: int | None = None) -> None:
        super().__init__()
        self.constant = constant
        self.last_stats: dict[str, float] = {}

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        par = tokens.cumsum(1) % 2 if self.constant is None else torch.full_like(tokens, self.constant)
        return torch.nn.functional.one_hot(par, 2).float()


def test_metrics_perfect_and_chance() -> None:
    src = DataSource.from_probe(make_probe("parity"))
    perfect = evaluate_lengths(_ParityOracle(), src, [30], 200, 0, torch.device("cpu"))[0]  # type: ignore[arg-type]
    assert perfect["token_acc"] == perfect["seq_acc"] == perfect["scaled_acc"] == 1.0
    const = evaluate_lengths(_ParityOracle(0), src, [30], 400, 0, torch.device("cpu"))[0]  # type: ignore[arg-type]
    assert const["seq_acc"] == 0.0
    assert abs(const["scaled_acc"]) < 0.1 and 0.45 < const["chance"] < 0.55


def test_learning_rate_schedule_and_curriculum() -> None:
    cfg = TrainConfig(steps=1000, warmup=100, lr=1e-3, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(1e-5)
    assert lr_at(99, cfg) == pytest.approx(1e-3)
    assert lr_at(999, cfg) == pytest.approx(1e-4, rel=1e-3)
    rng = np.random.default_rng(0)
    early = {curriculum_length(list(range(1, 41)), "increasing", 0, 1000, rng) for _ in range(100)}
    late = {curriculum_length(list(range(1, 41)), "increasing", 900, 1000, rng) for _ in range(400)}
    assert max(early) == 1 and max(late) == 40


runner = CliRunner()


def test_cli_train_json(tmp_path: Path) -> None:
    r = runner.invoke(
        app,
        ["train", "--probe", "parity", "--model", "diag_rnn", "--set", "eig_range=signed",
         "--set", "width=16", "--set", "layers=1", "--set", "train.steps=30", "--set", "eval_every=10",
         "--set", "test_lengths=[21]", "--set", "train_lengths={min: 1, max: 10}", "--seeds", "0,1",
         "--out", str(tmp_path), "--json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    records = json.loads(r.stdout)
    assert [rec["seed"] for rec in records] == [0, 1]
    for rec in records:
        assert rec["status"] in ("solved", "completed")
        assert [
            set(row) >= {"length", "token_acc", "seq_acc", "scaled_acc"} for row in rec["range_eval"]
        ] == [True]
        assert Path(rec["run_dir"], "result.json").is_file()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--probe", "parity", "--set", "widht=3"], "did you mean 'width'"),
        (["--probe", "parityy"], "did you mean 'parity'"),
        (["--probe", "parity", "--model", "lstm", "--set", "eig_range=signed"], "eig_range"),
        (["--probe", "parity", "--seeds", "a,b"], "--seeds"),
        (["--probe", "parity", "--set", "train.steps=0"], "train: steps"),
        ([], "--probe"),
    ],
)
def test_cli_train_bad_input(args: list[str], needle: str) -> None:
    r = runner.invoke(app, ["train", *args])
    assert r.exit_code == 2 and needle in r.stderr, r.stderr


def test_checkpoint_is_written_and_loads(tmp_path: Path) -> None:
    rec = train_run(make_probe("parity"), SMALL, quick(steps=5, checkpoint=True), out_dir=tmp_path)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["model_config"] == rec["model"]
    assert set(state["model"]) == set(train_mod_state_keys())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "result.json"]


def train_mod_state_keys() -> list[str]:
    from archlab.models import build_model

    return list(build_model(SMALL, 2, 2, device="cpu").state_dict())


@pytest.mark.parametrize(("probe", "fraction"), [("binary_addition", 0.25), ("stack_manipulation", 0.30)])
def test_padding_is_scored_apart_from_the_answer(probe: str, fraction: float) -> None:
    """binary_addition's ENDs and stack_manipulation's EMPTYs after the first are padding: the
    range evaluation reports them apart, and content + padding recombine into token_acc."""
    p = make_probe(probe)
    b = p.sample(np.random.default_rng(0), 512, 40)
    pad = p.padding_mask(b)
    assert pad is not None and not (pad & ~b.mask).any()
    # the first padding-class target of every row is the termination (content), the rest padding
    first = np.argmax((b.targets == p.padding_target) & b.mask, axis=1)
    assert not pad[np.arange(len(first)), first].any()
    assert pad.sum() / b.mask.sum() == pytest.approx(fraction, abs=0.03)
    model = ModelConfig(mixer="lstm", width=16, layers=1)
    cfg = quick(steps=30, eval_every=30, train_lengths={"min": 2, "max": 12}, test_lengths=[12, 20])
    rec = train_run(p, model, cfg)
    for row in rec["range_eval"]:
        n_pad = row["padding_fraction"] * row["n_tokens"]
        recombined = row["content_token_acc"] * (row["n_tokens"] - n_pad) + row["padding_token_acc"] * n_pad
        assert recombined / row["n_tokens"] == pytest.approx(row["token_acc"], abs=1e-9)
    # a stacked cell reports the same split (archlab.ensemble)
    from archlab.ensemble import train_cell

    cell = train_cell(
        p, ModelConfig(mixer="diag_rnn", width=16, layers=1), [cfg, cfg.model_copy(update={"seed": 1})]
    )
    assert all("content_token_acc" in r and "padding_token_acc" in r for c in cell for r in c["range_eval"])
    plain = train_run(
        p, ModelConfig(mixer="diag_rnn", width=16, layers=1), cfg.model_copy(update={"seed": 1})
    )
    for r, s in zip(cell[1]["range_eval"], plain["range_eval"], strict=True):
        assert r["padding_fraction"] == s["padding_fraction"]
        assert abs(r["content_token_acc"] - s["content_token_acc"]) <= 0.02


def test_probes_without_padding_report_no_padding_split() -> None:
    rec = train_run(make_probe("parity"), SMALL, quick(steps=5, eval_every=5))
    assert all("content_token_acc" not in r for r in rec["range_eval"])
