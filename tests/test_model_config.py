"""ModelConfig: bad input fails at config time with the field's name and the allowed values."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from archlab.config import ModelConfig, validate
from archlab.errors import ConfigError


@pytest.mark.parametrize(
    ("kwargs", "field", "says"),
    [
        ({"mixer": "lstmm"}, "mixer", "did you mean 'lstm'"),
        ({"mixer": "transformer"}, "mixer", "Valid: "),
        (
            {"mixer": "lstm", "householder_factors": 2},
            "householder_factors",
            "option of gated_deltaproduct, householder",
        ),
        ({"mixer": "lstm", "eig_range": "signed"}, "eig_range", "diag_rnn"),
        ({"mixer": "householder", "eig_range": "complex"}, "eig_range", "{unit, signed}"),
        ({"mixer": "diag_rnn", "eig_range": "positive"}, "eig_range", "'unit', 'signed' or 'complex'"),
        ({"mixer": "householder", "width": 30, "heads": 4}, "heads", "not divisible"),
        ({"mixer": "attention", "width": 30, "heads": 4}, "heads", "divisors of width"),
        ({"hier_levels": 2, "hier_stride": 1}, "hier_stride", "greater than or equal to 2"),
        ({"hier_stride": 3}, "hier_stride", "hier_levels >= 2"),
        ({"mixer": "lstm", "causal": False}, "causal", "attention"),
        ({"mixer": "gru", "prune": True}, "prune", "diag_rnn"),
        ({"mixer": "attention", "causal": False, "prune": True}, "prune", "causal: true"),
        ({"mixer": "attention", "fp_iters": 3}, "fp_iters", "recurrent"),
        ({"fp_tol": 0.2}, "fp_tol", "set fp_iters"),
        ({"halting": "act"}, "halting", "depth_repeat >= 2"),
        ({"ponder_cost": 0.1}, "ponder_cost", "halting: act"),
        ({"prune_gamma": 0.1}, "prune_gamma", "prune: true"),
        ({"layers": 0}, "layers", "greater than or equal to 1"),
        ({"widht": 64}, "widht", "Extra inputs"),
        ({"mixer": "conv", "pos_enc": "rope"}, "pos_enc", "attention"),
        ({"stem_kernel": 5}, "stem_kernel", "set stem: conv"),
        ({"mixer": "conv", "stem_width": 32}, "stem_width", "set stem: conv"),
        ({"rc": "flip"}, "rc", "'none', 'augment', 'both' or 'siamese'"),
    ],
)
def test_bad_model_config_names_the_field(kwargs: dict[str, Any], field: str, says: str) -> None:
    with pytest.raises(ValidationError) as info:
        ModelConfig(**kwargs)
    errors = info.value.errors()
    assert errors[0]["loc"] == (field,), errors
    assert says in str(info.value)
    with pytest.raises(ConfigError, match=field):
        validate(ModelConfig, kwargs, source="zoo.yaml")


def test_defaults_and_resolution() -> None:
    cfg = ModelConfig()
    assert cfg.mixer == "diag_rnn" and cfg.hier_levels == 1 and cfg.fp_iters is None
    assert cfg.resolved("eig_range") == "unit"
    assert cfg.resolved("state_size") == cfg.width
    assert ModelConfig(mixer="HouseHolder").mixer == "householder"
    assert ModelConfig(mixer="householder", width=48).resolved("heads") in (4, 2, 1)


def test_good_configs_from_the_issue() -> None:
    ModelConfig(mixer="householder", householder_factors=4, eig_range="signed", gate=True, heads=2, width=32)
    ModelConfig(mixer="diag_rnn", eig_range="complex", fp_iters=8, fp_tol=0.05, fp_sample=True)
    ModelConfig(mixer="attention", pos_enc="alibi", prune=True, prune_gamma=0.1, prune_keep=0.3)
    ModelConfig(mixer="conv", causal=False, head="pooled", conv_kernel=5, conv_depth=6)
    ModelConfig(mixer="lstm", depth_repeat=4, halting="act", ponder_cost=0.05, hier_levels=2, hier_stride=8)
    ModelConfig(mixer="conv", causal=False, head="pooled", stem="conv", stem_kernel=15, rc="siamese")
