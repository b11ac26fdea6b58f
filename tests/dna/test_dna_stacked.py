"""Stacked DNA cells (archlab.dna.stacked): every seed's record equals its separate train_dna run,
whatever the RC policy, task or stopping rule; what cannot be stacked says why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from archlab.config import ModelConfig
from archlab.dna.cnn import CNNConfig
from archlab.dna.stacked import dna_stack_support, train_dna_cell
from archlab.dna.train import run_seeds, train_dna
from archlab.errors import ConfigError
from tests.dna.test_dna_train import synthetic

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: keys whose values legitimately differ: timings, the cell, the machine
TIMING = {"wall_time_s", "cell", "provenance"}
SMALL = {"width": 16, "layers": 1}


def assert_same_dna_run(stacked: dict[str, Any], alone: dict[str, Any], tol: float = 1e-3) -> None:
    assert set(stacked) - TIMING == set(alone) - TIMING
    for key in ("status", "stopped_by", "reason", "steps", "best_step", "params", "train", "model", "seed",
                "valid_source", "constant_output"):  # fmt: skip
        assert stacked.get(key) == alone.get(key), key
    assert [p["step"] for p in stacked["curve"]] == [p["step"] for p in alone["curve"]]
    for p, q in zip(stacked["curve"], alone["curve"], strict=True):
        for k in p:
            if k != "elapsed_s":
                assert p[k] == pytest.approx(q[k], rel=tol, abs=tol), k
    for split in ("valid", "test"):
        assert set(stacked[split]) == set(alone[split])
        for k, v in alone[split].items():
            if isinstance(v, float):
                assert stacked[split][k] == pytest.approx(v, rel=tol, abs=tol), (split, k)


@pytest.mark.parametrize(
    ("mixer", "extra", "task"),
    [
        ("diag_rnn", {"eig_range": "signed"}, "classification"),
        ("attention", {"causal": False}, "classification"),
        ("conv", {"rc": "siamese"}, "classification"),
        ("householder", {"rc": "augment"}, "regression"),
    ],
    ids=["diag", "attention-noncausal", "conv-siamese", "householder-regression"],
)
def test_stacked_dna_cell_equals_separate_runs(mixer: str, extra: dict[str, Any], task: str) -> None:
    ds = synthetic(n_train=96, length=40, task=task)
    model = ModelConfig(mixer=mixer, **SMALL, **extra)
    kw: dict[str, Any] = {"steps": 12, "batch": 16, "eval_every": 4, "device": "cpu"}
    cell = train_dna_cell(ds, model, [0, 1, 2], **kw)
    assert all(r["cell"]["stacked"] and r["cell"]["members"] == 3 for r in cell)
    for rec, seed in zip(cell, (0, 1, 2), strict=True):
        assert_same_dna_run(rec, train_dna(ds, model, seed=seed, **kw))


def test_seeds_stop_on_their_own_patience() -> None:
    """Early stopping per member: with patience 4 the seeds stop at other steps, and each one's
    record (best step, restored weights, scores) is its separate run's."""
    ds = synthetic(n_train=96, length=40)
    model = ModelConfig(mixer="diag_rnn", eig_range="signed", **SMALL)
    kw: dict[str, Any] = {
        "steps": 60,
        "batch": 16,
        "eval_every": 2,
        "patience": 4,
        "lr": 3e-3,
        "device": "cpu",
    }
    cell = train_dna_cell(ds, model, [0, 1, 2, 3], **kw)
    alone = [train_dna(ds, model, seed=s, **kw) for s in (0, 1, 2, 3)]
    assert len({r["steps"] for r in alone}) > 1, [r["steps"] for r in alone]
    for rec, ref in zip(cell, alone, strict=True):
        assert_same_dna_run(rec, ref)


def test_what_is_not_stacked_says_why_and_runs_alone(tmp_path: Path) -> None:
    ds = synthetic(n_train=64, length=40)
    cnn = CNNConfig(filters=8, filters2=8, dense=8)
    assert "batch norm" in (dna_stack_support(cnn) or "")
    assert "clock" in (dna_stack_support(ModelConfig(mixer="diag_rnn"), max_time_s=5.0) or "")
    assert "vmap" in (dna_stack_support(ModelConfig(mixer="lstm")) or "")
    with pytest.raises(ConfigError, match="batch norm"):
        train_dna_cell(ds, cnn, [0, 1], steps=2, device="cpu", stacked=True)
    kw: dict[str, Any] = {"steps": 4, "batch": 16, "eval_every": 2, "device": "cpu"}
    cell = train_dna_cell(ds, cnn, [0, 1], **kw)
    assert all("cell" not in r for r in cell)
    assert cell[1]["test"] == train_dna(ds, cnn, seed=1, **kw)["test"]
    # run_seeds(stacked=True): the summary and per-seed files as before
    summary = run_seeds(
        ds, ModelConfig(mixer="diag_rnn", **SMALL), seeds=[0, 1], out_dir=tmp_path, stacked=True, **kw
    )
    assert summary["n"] == 2 and all(r["cell"]["stacked"] for r in summary["runs"])
    on_disk = json.loads((tmp_path / "seed_1" / "result.json").read_text())
    assert on_disk["seed"] == 1 and on_disk["cell"]["index"] == 1
