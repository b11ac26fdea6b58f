"""A mixer written outside archlab: by dotted path (a module on sys.path) and as an installed
plugin (entry-point group archlab.mixers); theory gives it ``unknown``, never a guess; spawned
study workers import it themselves."""

from __future__ import annotations

import importlib.metadata
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from optuna.trial import TrialState
from typer.testing import CliRunner

from archlab.cli import app
from archlab.config import ModelConfig
from archlab.models import build_model, model_features
from archlab.probes import make_probe
from archlab.registry import Registry
from archlab.search import run_study
from archlab.theory import predict
from tests.search._util import dry_spec

PLUGIN = '''
import torch
from torch import nn
from archlab.models.base import Mixer


class CumMean(Mixer):
    """y_t = W · mean(x_1 … x_t): a causal running mean (declares no theory features)."""

    def __init__(self, cfg, width):
        super().__init__(cfg, width)
        self.proj = nn.Linear(width, width)

    def forward(self, x):
        steps = torch.arange(1, x.shape[1] + 1, device=x.device, dtype=x.dtype)
        return self.proj(x.cumsum(1) / steps[None, :, None])


class Declared(CumMean):
    summary = "a running mean that says what it is"

    @classmethod
    def transition(cls, cfg):
        return "diagonal_real"

    @classmethod
    def eig_range(cls, cfg):
        return "unit"

    @classmethod
    def state_floats(cls, cfg, width):
        return width + 1
'''


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"lab_mixers_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_a_dotted_path_is_a_mixer_everywhere(plugin_module: str) -> None:
    cfg = ModelConfig(mixer=f"{plugin_module}:CumMean", width=16, layers=2)
    assert cfg.mixer == f"{plugin_module}:CumMean"  # its case kept
    model = build_model(cfg, vocab_size=5, n_outputs=3)
    y = model(torch.randint(0, 5, (2, 9)))
    assert y.shape == (2, 9, 3) and torch.isfinite(y).all()
    feats = model_features(cfg, vocab_size=5, n_outputs=3)
    assert feats.params == sum(p.numel() for p in model.parameters())  # counted, not guessed
    assert feats.transition == "undeclared" and feats.state_floats is None
    preds = predict(make_probe("parity"), cfg, [16, 64])
    assert [p.verdict for p in preds] == ["unknown", "unknown"]
    assert "declares no theory features" in preds[0].reason
    declared = ModelConfig(mixer=f"{plugin_module}:Declared", width=16)
    f2 = model_features(declared, vocab_size=5, n_outputs=3)
    assert (f2.transition, f2.eig_range, f2.state_floats_per_layer) == ("diagonal_real", "unit", 17)
    with pytest.raises(ValueError, match="cannot import"):
        ModelConfig(mixer=f"{plugin_module}:Nope")
    with pytest.raises(ValueError, match="not a subclass"):
        ModelConfig(mixer="json:dumps")


def test_model_list_shows_plugins(plugin_module: str) -> None:
    ModelConfig(mixer=f"{plugin_module}:Declared")  # resolved in this process
    res = CliRunner().invoke(app, ["model", "list", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)}
    row = rows[f"{plugin_module}:Declared"]
    assert row["plugin"] == f"{plugin_module}:Declared" and row["transition"] == "diagonal_real"
    assert rows["lstm"]["plugin"] is None


def test_an_entry_point_plugin_is_registered_under_its_name(
    plugin_module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from archlab.models.plugins import adopt

    group = "archlab.test_mixers"
    eps = importlib.metadata.EntryPoints(
        [importlib.metadata.EntryPoint("cummean", f"{plugin_module}:CumMean", group)]
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: eps)
    reg: Registry[type] = Registry("mixer", entry_points=group)
    reg.adopt = adopt
    assert reg.names() == ["cummean"]
    assert reg.get("CumMean").plugin == f"{plugin_module}:CumMean"
    assert "entry point" in reg.sources["cummean"]


@pytest.mark.slow  # two spawned workers (each imports torch)
def test_a_plugin_mixer_runs_in_a_two_worker_study(plugin_module: str, tmp_path: Path) -> None:
    spec = dry_spec(
        "plugin",
        objective={
            "kind": "train",
            "probes": [{"probe": "parity"}],
            "train_lengths": [2, 6],
            "test_lengths": [8],
        },
        space={
            "mixer": {"choices": [f"{plugin_module}:CumMean", "lstm"]},
            "eig_range": None,
            "householder_factors": None,
        },
        train={"steps": 3, "batch": 8, "eval_every": 3, "device": "cpu"},
        budget={"n_trials": 4},
    )
    study = run_study(spec, f"journal:{tmp_path / 'plugin.journal'}", workers=2)
    trials = study.trials
    assert len(trials) == 4 and all(t.state == TrialState.COMPLETE for t in trials), [
        (t.state, t.user_attrs.get("archlab", "")[:300]) for t in trials
    ]
    assert any(t.params["mixer"] == f"{plugin_module}:CumMean" for t in trials)
