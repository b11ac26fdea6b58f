"""Dynamic chunking (``hier_chunking: dynamic``, H-Net's routing, downsampling and smoothing):
what the router decides, what the next level sees, the compression ratio in ``last_stats``, the
ratio loss pulling the compression towards ``hier_stride``, and the search space that offers it.
The registry-wide model tests (test_model_zoo) run it for every mixer: shapes, gradients,
causality, parameter counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from archlab.config import ModelConfig
from archlab.errors import ConfigError
from archlab.models import build_model, model_features
from archlab.models.hierarchy import Hierarchy
from archlab.search.space import active, build_configs
from archlab.search.spec import load_spec

W = 8
ROOT = Path(__file__).resolve().parents[2]


class Record(nn.Module):
    def __init__(self, seen: list[torch.Tensor]) -> None:
        super().__init__()
        self.seen = seen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x)
        return x


def _hier(seen: list[torch.Tensor], stride: int = 3) -> Hierarchy:
    return Hierarchy(lambda: Record(seen), 2, stride, W, causal=True, dynamic=True)


def test_boundaries_follow_the_cosine_rule_and_the_next_level_sees_them() -> None:
    """At init (W_q = W_k = I) p_t = (1 − cos(y_{t−1}, y_t)) / 2: repeating a vector opens no
    chunk, its negation opens one; the next level runs over the opening positions only."""
    a, b = torch.randn(W), torch.randn(W)
    x = torch.stack([a, a, -a, -a, b, -b, -b]).unsqueeze(0)  # chunks open at 0, 2, 4?, 5
    seen: list[torch.Tensor] = []
    hier = _hier(seen)
    p = hier.routers[0](x)[0]
    cos = F.cosine_similarity(x[0, :-1], x[0, 1:], dim=-1)
    torch.testing.assert_close(p[1:], ((1 - cos) / 2).clamp(0, 1))
    assert p[0] == 1.0
    opens = (p > 0.5).nonzero().flatten().tolist()
    hier(x)
    torch.testing.assert_close(seen[1][0], x[0, opens])
    assert hier._stats["hier_compression"] == [7 / len(opens)]


def test_plugs_back_the_smoothed_chunk_output() -> None:
    """With the up projection the identity, position t adds the EMA of the coarse outputs up to
    its own chunk: z̄_j = P_j z_j + (1 − P_j) z̄_{j−1}."""
    torch.manual_seed(0)
    seen: list[torch.Tensor] = []
    hier = _hier(seen)
    with torch.no_grad():
        hier.up[0].weight.copy_(torch.eye(W))
    x = torch.randn(1, 9, W)
    y = hier(x)
    p = hier.routers[0](x)[0]
    opens = p > 0.5
    z = x[0, opens]
    big_p = p[opens].clamp(1e-4, 1 - 1e-4)
    ema, bar = [], torch.zeros(W)
    for pj, zj in zip(big_p, z, strict=True):
        bar = pj * zj + (1 - pj) * bar
        ema.append(bar)
    chunk = opens.long().cumsum(0) - 1
    expected = x[0] + torch.stack(ema)[chunk]
    torch.testing.assert_close(y[0], expected, atol=1e-5, rtol=1e-5)


def test_compression_in_last_stats_and_ratio_loss_in_training() -> None:
    cfg = ModelConfig(mixer="diag_rnn", width=16, hier_levels=2, hier_stride=4, hier_chunking="dynamic",
                      init_seed=0)  # fmt: skip
    model = build_model(cfg, 5, 2, device="cpu")
    tokens = torch.randint(0, 5, (3, 40), generator=torch.Generator().manual_seed(0))
    model.train()
    model(tokens)
    ratio = model.last_stats["hier_compression"]
    assert 1.0 <= ratio <= 40.0
    assert float(model.last_aux_loss.detach()) > 0  # the ratio loss
    model.eval()
    model(tokens)
    assert float(model.last_aux_loss) == 0.0 and "hier_compression" in model.last_stats
    feats = model_features(cfg, 5, 2)
    assert feats.hier_chunking == "dynamic" and feats.params == sum(p.numel() for p in model.parameters())


def _train_ratio_only(stride: int) -> list[float]:
    torch.manual_seed(0)
    seen: list[torch.Tensor] = []
    hier = Hierarchy(lambda: Record(seen), 2, stride, W, causal=True, dynamic=True, ratio_loss=1.0)
    hier.train()
    x = torch.randn(8, 64, W)
    opt = torch.optim.Adam(hier.routers.parameters(), lr=0.05)
    ratios = []
    for _ in range(200):
        hier.clear_reports()
        hier(x)
        (loss,) = hier._losses
        opt.zero_grad()
        loss.backward()
        opt.step()
        ratios.append(hier._stats["hier_compression"][0])
    return ratios


def test_ratio_loss_pulls_the_compression_towards_the_target() -> None:
    """Trained on the ratio loss alone, the routers move the compression from where identity
    routers start on random inputs (about 2 positions per chunk) towards hier_stride = 4 — most
    of the way (it settles near 3 here: the loss only pushes the mean boundary probability, and
    saturated routers stop moving) — and leave it near 2 when the target is 2."""
    up = _train_ratio_only(4)
    assert up[0] < 2.5
    assert abs(up[-1] - 4.0) < abs(up[0] - 4.0) - 0.5, up[::20]
    same = _train_ratio_only(2)
    assert abs(same[-1] - 2.0) < 0.5, same[::20]


def test_options_need_their_axis() -> None:
    with pytest.raises(ValueError, match="hier_chunking is only used with hier_levels >= 2"):
        ModelConfig(hier_chunking="dynamic")
    with pytest.raises(ValueError, match="hier_ratio_loss is only used with hier_chunking: dynamic"):
        ModelConfig(hier_levels=2, hier_ratio_loss=0.1)
    with pytest.raises(ValueError, match="hier_chunking"):
        ModelConfig(hier_levels=2, hier_chunking="learned")  # type: ignore[arg-type]


def test_dna_grammar_searches_dynamic_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    spec = load_spec(ROOT / "search" / "dna_grammar.yaml")
    dist = spec.space["hier_chunking"]
    assert dist.choices == ["fixed", "dynamic"] and dist.when == {"hier_levels": [2, 3]}
    assert not active(dist, {"hier_levels": 1}) and active(dist, {"hier_levels": 2})
    model, _ = build_configs(spec, {"mixer": "lstm", "hier_levels": 2, "hier_stride": 4,
                                    "hier_chunking": "dynamic"})  # fmt: skip
    assert (model.hier_chunking, model.hier_stride) == ("dynamic", 4)
    with pytest.raises(ConfigError, match="hier_chunking"):
        build_configs(spec, {"mixer": "lstm", "hier_levels": 1, "hier_chunking": "dynamic"})
