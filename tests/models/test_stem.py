"""The conv input stem, the DNA-only ``rc`` option and the receptive field in ``features()``.

The stem (``stem: conv``) is one short convolution between the embedding and the first block,
added residually. These tests check its shapes under every mixer and both heads, that it keeps a
causal model causal and reads exactly ``stem_kernel`` positions, that the hand-written parameter
count includes it, that its options are rejected without it, and that the receptive field the
theory rules read (``ModelFeatures.receptive_field``) matches what a built model actually does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from pydantic import ValidationError

from archlab.config import ModelConfig, validate
from archlab.errors import ConfigError
from archlab.models import MIXERS, build_model, model_features
from archlab.models.model import SequenceModel, Stem
from archlab.probes import make_probe
from archlab.search import parse_spec
from archlab.search.space import active, build_configs
from archlab.search.spec import load_spec
from archlab.theory import predict
from archlab.theory.rules import receptive_field

VOCAB, N_OUT, WIDTH = 7, 3, 16
ROOT = Path(__file__).resolve().parents[2]


def _tokens(b: int, t: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (b, t), generator=torch.Generator().manual_seed(seed))


def _randomised(cfg: ModelConfig) -> SequenceModel:
    """A float64 model in eval mode with every weight perturbed (zero-initialised parts included),
    so no influence can hide behind a zero."""
    model = build_model(cfg.model_copy(update={"init_seed": 0}), VOCAB, N_OUT, device="cpu").double()
    with torch.no_grad():
        gen = torch.Generator().manual_seed(7)
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model.eval()


def _changed_outputs(model: SequenceModel, seq_len: int, pos: int) -> list[int]:
    """Output positions (token head) that change when the token at ``pos`` changes."""
    tokens = _tokens(2, seq_len)
    changed = tokens.clone()
    changed[:, pos] = (changed[:, pos] + 1) % VOCAB
    with torch.no_grad():
        diff = (model(changed) - model(tokens)).abs().amax(dim=(0, 2))
    return [t for t in range(seq_len) if diff[t] > 1e-12]


# -- shapes, gradients, parameter count for every mixer ------------------------------------------


@pytest.mark.parametrize("head", ["token", "pooled"])
@pytest.mark.parametrize("stem", [{}, {"stem": "conv", "stem_kernel": 3}, {"stem": "conv", "stem_width": 24}])
@pytest.mark.parametrize("name", MIXERS.names())
def test_shapes_and_param_count_with_and_without_stem(name: str, stem: dict[str, Any], head: str) -> None:
    cfg = ModelConfig.model_validate({"mixer": name, "width": WIDTH, "head": head, **stem})
    model = build_model(cfg, VOCAB, N_OUT, device="cpu")
    assert (model.stem is not None) == (cfg.stem == "conv")
    for t in (1, 6):
        logits = model(_tokens(2, t))
        assert tuple(logits.shape) == ((2, N_OUT) if head == "pooled" else (2, t, N_OUT))
        assert torch.isfinite(logits).all()
    logits.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    feats = model_features(cfg, VOCAB, N_OUT)
    assert feats.params == sum(p.numel() for p in model.parameters())
    assert feats.params_body == feats.params - (VOCAB * WIDTH + WIDTH * N_OUT + N_OUT)


def test_stem_param_count_by_hand() -> None:
    base = model_features(ModelConfig(mixer="lstm", width=WIDTH), VOCAB, N_OUT)
    same = model_features(ModelConfig(mixer="lstm", width=WIDTH, stem="conv", stem_kernel=5), VOCAB, N_OUT)
    assert same.params - base.params == 5 * WIDTH * WIDTH + WIDTH  # conv taps + bias, no projection
    wide = ModelConfig(mixer="lstm", width=WIDTH, stem="conv", stem_kernel=5, stem_width=32)
    projected = model_features(wide, VOCAB, N_OUT)
    assert projected.params - base.params == 5 * WIDTH * 32 + 32 + 32 * WIDTH + WIDTH
    assert projected.flops_per_token > same.flops_per_token > base.flops_per_token


def test_default_config_builds_no_stem() -> None:
    """Today's models are unchanged: no stem module, the same parameter names as before."""
    model = build_model(ModelConfig(width=WIDTH), VOCAB, N_OUT, device="cpu")
    assert model.stem is None
    assert not any(k.startswith("stem") for k in model.state_dict())


# -- causality and the stem's window ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["conv", "diag_rnn", "lstm", "attention"])
def test_stem_keeps_a_causal_model_causal(name: str) -> None:
    cfg = ModelConfig(mixer=name, width=WIDTH, stem="conv", stem_kernel=4, stem_width=24)
    model = _randomised(cfg)
    for pos in (0, 5, 10):
        changed = _changed_outputs(model, 14, pos)
        assert changed and min(changed) == pos, (pos, changed)  # outputs before pos unchanged


@pytest.mark.parametrize(("kernel", "causal"), [(2, True), (5, True), (4, False), (5, False)])
def test_stem_window_is_stem_kernel_positions(kernel: int, causal: bool) -> None:
    cfg = ModelConfig(mixer="conv", width=WIDTH, causal=causal, stem="conv", stem_kernel=kernel)
    stem = Stem(cfg).double()
    x = torch.randn(1, 20, WIDTH, dtype=torch.float64)
    x2 = x.clone()
    x2[:, 9] += 1.0
    with torch.no_grad():
        diff = (stem(x2) - stem(x)).abs().amax(dim=(0, 2))
    changed = [t for t in range(20) if diff[t] > 1e-12]
    assert len(changed) == kernel
    if causal:
        assert changed == list(range(9, 9 + kernel))
    else:  # "same" padding, the odd pad on the left: output t reads t − ⌈(k−1)/2⌉ … t + ⌊(k−1)/2⌋
        assert changed == list(range(9 - (kernel - 1) // 2, 9 - (kernel - 1) // 2 + kernel))


# -- receptive field ---------------------------------------------------------------------------


def _conv(**kw: Any) -> ModelConfig:
    return ModelConfig(mixer="conv", width=WIDTH, conv_kernel=3, conv_depth=2, **kw)  # mixer R = 7


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"layers": 1}, 7),
        ({"layers": 2}, 13),
        ({"layers": 1, "stem": "conv", "stem_kernel": 5}, 11),
        ({"layers": 2, "depth_repeat": 2, "stem": "conv", "stem_kernel": 4}, 1 + 4 * 6 + 3),
        ({"layers": 1, "causal": False, "stem": "conv", "stem_kernel": 4}, 10),
    ],
)
def test_conv_receptive_field_matches_the_built_model(kw: dict[str, Any], expected: int) -> None:
    cfg = _conv(**kw)
    feats = model_features(cfg, VOCAB, N_OUT)
    assert feats.receptive_field == expected == receptive_field(feats)
    changed = _changed_outputs(_randomised(cfg), 3 * expected, expected)
    assert len(changed) == expected and changed == list(range(changed[0], changed[0] + expected))
    if cfg.causal:
        assert changed[0] == expected
    else:  # the same count of positions, spread over both sides
        assert changed[0] < expected < changed[-1]


@pytest.mark.parametrize(
    "cfg",
    [
        {"mixer": "diag_rnn"},
        {"mixer": "lstm"},
        {"mixer": "attention"},
        {"mixer": "diag_rnn", "stem": "conv"},
        {"mixer": "conv", "hier_levels": 2},
    ],
)
def test_receptive_field_is_none_when_unbounded(cfg: dict[str, Any]) -> None:
    feats = model_features(ModelConfig(**cfg), VOCAB, N_OUT)
    assert feats.receptive_field is None and receptive_field(feats) is None


def test_stem_features() -> None:
    plain = model_features(ModelConfig(mixer="conv"), VOCAB, N_OUT)
    assert (plain.stem, plain.stem_kernel, plain.rc) == ("none", None, "both")
    assert plain.receptive_field == 1 + 2 * 30  # 2 layers of the default R = 31
    assert plain.extra == {"receptive_field": 31}  # the single mixer's, as before
    stem = model_features(ModelConfig(mixer="conv", stem="conv", rc="siamese"), VOCAB, N_OUT)
    assert (stem.stem, stem.stem_kernel, stem.rc, stem.receptive_field) == ("conv", 9, "siamese", 69)
    assert stem.to_dict()["receptive_field"] == 69


def test_theory_r18_moves_with_the_stem() -> None:
    cfg = _conv(layers=1, stem="conv", stem_kernel=4)  # 7 + 3 = 10
    inside, outside = predict(make_probe("parity"), cfg, [10, 11])
    assert inside.rule != "R18" and (outside.verdict, outside.rule) == ("impossible", "R18")
    assert outside.max_length == 10


# -- validation and round trips -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "says"),
    [
        ({"stem_kernel": 5}, "stem_kernel", "stem_kernel is an option of the conv stem: set stem: conv too"),
        ({"stem_width": 32}, "stem_width", "stem_width is an option of the conv stem: set stem: conv too"),
        ({"stem": "conv", "stem_kernel": 1}, "stem_kernel", "greater than or equal to 2"),
        ({"stem": "conv", "stem_kernel": 65}, "stem_kernel", "less than or equal to 64"),
        ({"stem": "conv", "stem_width": 1}, "stem_width", "greater than or equal to 2"),
        ({"stem": "mamba"}, "stem", "'none' or 'conv'"),
        ({"rc": "flip"}, "rc", "'none', 'augment', 'both' or 'siamese'"),
    ],
)
def test_bad_stem_and_rc_name_the_field(kwargs: dict[str, Any], field: str, says: str) -> None:
    with pytest.raises(ValidationError) as info:
        ModelConfig(**kwargs)
    assert info.value.errors()[0]["loc"] == (field,)
    assert says in str(info.value)
    with pytest.raises(ConfigError, match=field):
        validate(ModelConfig, kwargs, source="model.yaml")


def test_stem_options_at_their_defaults_are_accepted_without_a_stem() -> None:
    """A dumped config carries every field: the defaults must reload with ``stem: none``."""
    cfg = ModelConfig(stem_kernel=9, stem_width=None)
    assert cfg.stem == "none" and ModelConfig(**cfg.model_dump()) == cfg


@pytest.mark.parametrize("rc", ["none", "augment", "both", "siamese"])
def test_rc_round_trips(rc: str) -> None:
    cfg = ModelConfig.model_validate(
        {"mixer": "conv", "causal": False, "head": "pooled", "stem": "conv", "stem_kernel": 5, "rc": rc}
    )
    dumped = cfg.model_dump()
    assert dumped["rc"] == rc
    assert ModelConfig.model_validate(dumped) == cfg
    assert ModelConfig.model_validate(cfg.model_dump(mode="json")) == cfg
    assert validate(ModelConfig, dumped).rc == rc


# -- the DNA search space ------------------------------------------------------------------------


def test_dna_grammar_searches_the_stem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    spec = load_spec(ROOT / "search" / "dna_grammar.yaml")
    assert spec.space["stem"].choices == ["none", "conv"]
    kernel = spec.space["stem_kernel"]
    assert kernel.choices == [5, 9, 15] and kernel.when == {"stem": ["conv"]}
    assert not active(kernel, {"stem": "none"}) and active(kernel, {"stem": "conv"})
    model, _ = build_configs(spec, {"mixer": "conv", "stem": "conv", "stem_kernel": 15})
    assert (model.stem, model.stem_kernel, model.head) == ("conv", 15, "pooled")
    model, _ = build_configs(spec, {"mixer": "lstm", "stem": "none"})
    assert model.stem == "none" and model.stem_kernel == 9


def test_stem_kernel_in_a_space_needs_its_condition(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unconditional stem_kernel is allowed by the spec, but a trial without the stem fails
    with the field's name, as the fixed-point and pruning options do."""
    monkeypatch.chdir(ROOT)
    data = {
        "name": "stem_tiny",
        "objective": {"suite": "state_tracking"},
        "space": {"stem_kernel": {"choices": [5]}},
        "sampler": {"name": "random", "seed": 0},
    }
    spec = parse_spec(data)
    with pytest.raises(ConfigError, match="stem_kernel.*set stem: conv"):
        build_configs(spec, {"stem_kernel": 5})
