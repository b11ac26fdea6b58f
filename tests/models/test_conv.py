"""The dilated convolution mixer: receptive field, padding in both modes, features, config errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from pydantic import ValidationError

from archlab.config import ModelConfig
from archlab.models.conv import DilatedConv

WIDTH = 16


def make(**cfg: Any) -> DilatedConv:
    torch.manual_seed(0)
    return DilatedConv(ModelConfig(mixer="conv", width=WIDTH, **cfg), WIDTH).double()


def changed_outputs(m: DilatedConv, seq_len: int, pos: int) -> list[int]:
    """Output positions that change when input position ``pos`` is perturbed."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, seq_len, WIDTH, generator=g, dtype=torch.float64)
    x2 = x.clone()
    x2[:, pos] += torch.randn(WIDTH, generator=g, dtype=torch.float64)
    diff = (m(x2) - m(x)).abs().amax(dim=(0, 2))
    return [t for t in range(seq_len) if diff[t] > 1e-12]


@pytest.mark.parametrize(("kernel", "depth"), [(3, 4), (2, 3), (5, 2), (4, 1)])
def test_causal_receptive_field_matches_code(kernel: int, depth: int) -> None:
    m = make(conv_kernel=kernel, conv_depth=depth)
    field = 1 + (kernel - 1) * (2**depth - 1)
    assert DilatedConv.extra_features(m.cfg, WIDTH) == {"receptive_field": field}
    # perturbing input 3 changes outputs 3 … 3 + R − 1: nothing earlier, nothing further
    assert changed_outputs(m, field + 10, 3) == list(range(3, 3 + field))


@pytest.mark.parametrize(("kernel", "depth"), [(3, 3), (2, 3), (4, 2)])
def test_noncausal_sees_the_future_with_the_same_window(kernel: int, depth: int) -> None:
    m = make(conv_kernel=kernel, conv_depth=depth, causal=False)
    field = DilatedConv.receptive_field(m.cfg)
    pos = field + 2
    changed = changed_outputs(m, 2 * field + 4, pos)
    assert changed == list(range(changed[0], changed[-1] + 1))
    assert len(changed) == field
    assert changed[0] < pos  # earlier outputs see the perturbed later input
    # "same" padding: centred for odd kernels; for even ones the first layer's odd pad (k − 1)
    # goes on the left, so outputs reach one step further into the past than into the future
    past_reach = changed[-1] - pos
    future_reach = pos - changed[0]
    assert past_reach - future_reach == (0 if kernel % 2 else 1)


def test_defaults_and_features() -> None:
    cfg = ModelConfig(mixer="conv", width=WIDTH)
    m = DilatedConv(cfg, WIDTH)
    assert (m.kernel, m.depth) == (3, 4)
    assert [c.dilation[0] for c in m.convs] == [1, 2, 4, 8]
    assert DilatedConv.receptive_field(cfg) == 31
    assert DilatedConv.state_floats(cfg, WIDTH) == 30 * WIDTH
    assert DilatedConv.transition(cfg) == "convolution"
    assert DilatedConv.flops_per_token(cfg, WIDTH, 100) == 2 * 4 * 3 * WIDTH * WIDTH


def test_length_one_and_short_sequences() -> None:
    m = make(causal=False)
    for seq_len in (1, 2, 5):
        assert m(torch.randn(2, seq_len, WIDTH, dtype=torch.float64)).shape == (2, seq_len, WIDTH)


@pytest.mark.parametrize(
    ("cfg", "field"),
    [
        ({"prune": True}, "prune"),
        ({"heads": 4}, "heads"),
        ({"pos_enc": "rope"}, "pos_enc"),
        ({"conv_kernel": 1}, "conv_kernel"),
        ({"conv_depth": 0}, "conv_depth"),
    ],
)
def test_config_errors_name_the_field(cfg: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ModelConfig(mixer="conv", **cfg)
    assert any(err["loc"] == (field,) for err in exc.value.errors())
