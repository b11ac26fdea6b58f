"""``archlab train --tensorboard DIR``: training curves in TensorBoard, or a clear refusal."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archlab.cli import app

TRAIN = [
    "train",
    "--probe",
    "parity",
    "--model",
    "lstm",
    "--set",
    "train.steps=4",
    "--set",
    "train.eval_every=2",
]


def test_tensorboard_gets_the_loss_and_validation_curves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(
        app, [*TRAIN, "--seeds", "0,1", "--tensorboard", "tb", "--out", "runs", "--quiet"]
    )
    assert res.exit_code == 0, res.output
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir() if p.is_dir())
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == runs and len(runs) == 2  # one per run
    acc = EventAccumulator(str(tmp_path / "tb" / runs[0]))
    acc.Reload()
    assert {"loss", "lr", "val_seq_acc"} <= set(acc.Tags()["scalars"])
    assert [e.step for e in acc.Scalars("loss")] == [1, 2, 3, 4]
    assert [e.step for e in acc.Scalars("val_seq_acc")] == [2, 4]


def test_without_tensorboard_the_option_is_refused_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    res = CliRunner().invoke(app, [*TRAIN, "--tensorboard", "tb", "--out", "runs"])
    assert res.exit_code == 2
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == 1 and "--tensorboard" in lines[0] and "archlab[tracking]" in lines[0]
    assert not (tmp_path / "runs").exists() and not (tmp_path / "tb").exists()


def test_train_without_model_says_which_it_used_and_ctrl_c_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["train", "--probe", "parity", "--set", "train.steps=2", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "no --model" in res.output and "default mixer 'diag_rnn'" in res.output
    import archlab.cli as cli

    def interrupted(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_train_sources", interrupted)
    res = CliRunner().invoke(app, ["train", "--probe", "parity"])
    assert res.exit_code == 130
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == 1 and "interrupted (Ctrl-C)" in lines[0]
