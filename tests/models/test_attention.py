"""The attention mixer: SDPA against the explicit reference, position encodings, context pruning."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from pydantic import ValidationError

from archlab.config import ModelConfig
from archlab.models.attention import (
    Attention,
    alibi_bias,
    alibi_slopes,
    apply_rope,
    attention_reference,
    causal_mask,
    rope_tables,
)

WIDTH = 32
POS_ENCS = ("none", "sinusoidal", "rope", "alibi")
CPU = torch.device("cpu")


def make(width: int = WIDTH, dtype: torch.dtype = torch.float64, seed: int = 0, **cfg: Any) -> Attention:
    torch.manual_seed(seed)
    return Attention(ModelConfig(mixer="attention", width=width, **cfg), width).to(dtype)


def inputs(bsz: int, seq_len: int, width: int = WIDTH, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(bsz, seq_len, width, generator=g, dtype=torch.float64)


def pruning_scores(m: Attention, x: torch.Tensor) -> torch.Tensor:
    """``z[b, h, n, j]``: the interaction score of query ``n`` and key ``j``, from the weights."""
    bsz, seq_len, _ = x.shape
    qi = (x @ m.q_int.weight.T).view(bsz, seq_len, m.heads, m.prune_rank)
    ki = (x @ m.k_int.weight.T).view(bsz, seq_len, m.heads, m.prune_rank)
    z = torch.einsum("bnhr,bjhr->bhnj", qi, ki) / math.sqrt(m.prune_rank)
    return z + m.prune_bias[:, None, None]


def active_pruner(**cfg: Any) -> Attention:
    """A pruned attention whose scores straddle 0 (bias 0), so some keys are dropped."""
    m = make(prune=True, **cfg)
    with torch.no_grad():
        m.prune_bias.zero_()
    return m


# -- fast path vs reference --------------------------------------------------------------------


@pytest.mark.parametrize("pos_enc", POS_ENCS)
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "noncausal"])
@pytest.mark.parametrize("seq_len", [1, 13])
def test_sdpa_matches_reference(pos_enc: str, causal: bool, seq_len: int) -> None:
    m = make(pos_enc=pos_enc, causal=causal)
    x = inputs(2, seq_len)
    fast = m(x)
    m.reference = True
    torch.testing.assert_close(fast, m(x))


@pytest.mark.parametrize("pos_enc", POS_ENCS)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_pruned_sdpa_matches_reference(pos_enc: str, training: bool) -> None:
    m = active_pruner(pos_enc=pos_enc).train(training)
    x = inputs(2, 11)
    fast = m(x)
    m.reference = True
    torch.testing.assert_close(fast, m(x))


def test_reference_is_softmax_attention_per_query() -> None:
    """attention_reference against a loop over queries with a causal window."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 6, 4, generator=g, dtype=torch.float64) for _ in range(3))
    out = attention_reference(q, k, v, causal_mask(6, CPU, torch.float64))
    for i in range(6):
        w = torch.softmax(q[:, :, i : i + 1] @ k[:, :, : i + 1].transpose(-1, -2) / 2.0, dim=-1)
        torch.testing.assert_close(out[:, :, i : i + 1], w @ v[:, :, : i + 1])


def test_sinusoidal_positions_enter_queries_and_keys_only() -> None:
    """The same token at every position: values carry no position, so every output is W_o W_v x.

    (Positions added to the values as well would make the outputs differ along the sequence.)
    """
    m = make(pos_enc="sinusoidal")
    x = inputs(1, 1).expand(1, 5, WIDTH).contiguous()
    y = m(x)
    expected = m.out(x[:, :1] @ m.qkv.weight[2 * WIDTH :].T)
    torch.testing.assert_close(y, expected.expand_as(y))


# -- RoPE --------------------------------------------------------------------------------------


@pytest.mark.parametrize("head_dim", [8, 7])
def test_rope_scores_depend_only_on_offset(head_dim: int) -> None:
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, head_dim, generator=g, dtype=torch.float64)
    seq_len = 40
    cos, sin = rope_tables(seq_len, head_dim, CPU, torch.float64)
    qs = apply_rope(q.expand(seq_len, head_dim), cos, sin)
    ks = apply_rope(k.expand(seq_len, head_dim), cos, sin)
    scores = qs @ ks.T  # scores[i, j] = rope(q, i) · rope(k, j)
    for shift in (1, 5, 17):
        torch.testing.assert_close(scores[shift:, shift:], scores[:-shift, :-shift])
    torch.testing.assert_close(qs[0], q)  # position 0 is not rotated
    torch.testing.assert_close(qs.norm(dim=-1), q.norm().expand(seq_len))  # rotations keep norms
    assert not torch.allclose(scores[0, 1], scores[0, 2])  # ... and positions do matter


def test_rope_cache_grows_and_survives_inference_mode() -> None:
    m = make(pos_enc="rope")
    with torch.inference_mode():
        m(inputs(1, 6))
    x = inputs(1, 9).requires_grad_()
    m(x).sum().backward()  # tables first built under inference_mode must be usable by autograd
    assert x.grad is not None
    ((cos, _),) = m._rope_cache.values()
    assert cos.shape[0] == 9
    m(inputs(1, 4))  # a shorter sequence slices the cached table
    assert next(iter(m._rope_cache.values()))[0].shape[0] == 9


# -- ALiBi -------------------------------------------------------------------------------------


def test_alibi_slopes() -> None:
    torch.testing.assert_close(alibi_slopes(8), 2.0 ** -torch.arange(1.0, 9.0))
    torch.testing.assert_close(alibi_slopes(4), 2.0 ** -torch.tensor([2.0, 4.0, 6.0, 8.0]))
    # not a power of two: the 4-head slopes, then every other slope of the 8-head sequence
    torch.testing.assert_close(alibi_slopes(6), 2.0 ** -torch.tensor([2.0, 4.0, 6.0, 8.0, 1.0, 3.0]))
    torch.testing.assert_close(alibi_slopes(1), torch.tensor([2.0**-8]))


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "noncausal"])
def test_alibi_bias(causal: bool) -> None:
    heads, seq_len = 4, 6
    bias = alibi_bias(heads, seq_len, causal, CPU)
    slopes = alibi_slopes(heads)
    for h in range(heads):
        for i in range(seq_len):
            for j in range(seq_len):
                if causal and j > i:
                    assert bias[h, i, j] == float("-inf")
                else:
                    assert bias[h, i, j] == pytest.approx(-float(slopes[h]) * abs(i - j))


# -- dynamic context pruning -------------------------------------------------------------------


def test_pruning_keep_matches_cumulative_product_and_is_permanent() -> None:
    m = active_pruner()
    m.set_progress(0.3)
    assert m.temperature == pytest.approx(0.7)
    x = inputs(2, 10)
    keep = m.prune_log_keep(x).exp()
    p = torch.sigmoid(pruning_scores(m, x) / 0.7)
    for i in range(10):
        for j in range(i + 1):
            torch.testing.assert_close(keep[:, :, i, j], p[:, :, j + 1 : i + 1, j].prod(dim=-1))
    lower = torch.ones(10, 10, dtype=torch.bool).tril()
    assert torch.all(keep.diagonal(dim1=-2, dim2=-1) == 1)
    # for a fixed key j the keep probability never rises again as the query moves on
    step = keep[:, :, 1:, :] - keep[:, :, :-1, :]
    assert torch.all(step[..., lower[1:]] <= 1e-12)
    assert keep[..., lower].min() < 0.5  # the test exercises actual dropping


def test_eval_mask_is_cumulative_threshold() -> None:
    m = active_pruner().eval()
    x = inputs(2, 12)
    log_keep = m.prune_log_keep(x)
    z = pruning_scores(m, x)
    for i in range(12):
        for j in range(i + 1):
            kept = torch.all(z[:, :, j + 1 : i + 1, j] >= 0, dim=-1)
            expected = torch.where(kept, 0.0, float("-inf")).to(log_keep)
            assert torch.equal(log_keep[:, :, i, j], expected)
    assert torch.isinf(log_keep).any() and (log_keep == 0).any()


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_kept_fraction_reported(training: bool) -> None:
    m = active_pruner().train(training)
    x = inputs(2, 12)
    m.clear_reports()
    m(x)
    (kept,) = m._stats["kept_fraction"]
    (saved,) = m._stats["compute_saved"]
    assert 0.0 < kept < 1.0
    assert saved == pytest.approx(1.0 - kept)
    log_keep = m.prune_log_keep(x)
    lower = torch.ones(12, 12, dtype=torch.bool).tril()
    assert kept == pytest.approx(float((log_keep[..., lower] >= -math.log(2)).double().mean()))
    assert len(m._losses) == (1 if training else 0)  # the regulariser is a training loss only


def test_hard_mask_is_the_limit_of_annealing() -> None:
    m = active_pruner()
    x = inputs(2, 10)
    m.set_progress(1.0)
    assert m.temperature == pytest.approx(0.05)
    soft_kept = m.prune_log_keep(x) >= -math.log(2)
    hard_kept = torch.isfinite(m.eval().prune_log_keep(x))
    lower = torch.ones(10, 10, dtype=torch.bool).tril()
    agree = (soft_kept == hard_kept)[..., lower].double().mean()
    assert agree > 0.95


def test_keep_all_pruning_is_plain_attention() -> None:
    plain = make()
    pruned = make(prune=True)
    pruned.load_state_dict(plain.state_dict(), strict=False)
    x = inputs(2, 16)
    pruned.clear_reports()
    pruned(x)
    (kept,) = pruned._stats["kept_fraction"]
    assert kept > 0.95  # the default initialisation keeps nearly everything
    with torch.no_grad():
        pruned.prune_bias.fill_(40.0)
    torch.testing.assert_close(pruned(x), plain(x))


def test_regulariser_value_and_gradient() -> None:
    gamma = 0.3
    m = active_pruner(prune_gamma=gamma)
    x = inputs(2, 9)
    m.clear_reports()
    m(x)
    (loss,) = m._losses
    lower = torch.ones(9, 9, dtype=torch.bool).tril()
    mean_keep = m.prune_log_keep(x).exp()[..., lower].mean()
    torch.testing.assert_close(loss, gamma * mean_keep.to(loss))
    loss.backward()
    for p in (m.q_int.weight, m.k_int.weight, m.prune_bias):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_regulariser_penalises_only_excess_over_prune_keep() -> None:
    x = inputs(2, 9)
    base = active_pruner(prune_gamma=1.0)
    base(x)
    mean_keep = base._losses[0].item()
    assert 0.2 < mean_keep < 0.99
    for target, expected in ((0.2, mean_keep - 0.2), (0.99, 0.0)):
        m = active_pruner(prune_gamma=1.0, prune_keep=target)
        m(x)
        assert m._losses[0].item() == pytest.approx(expected)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("pos_enc", ["rope", "alibi"])
def test_pruned_attention_is_causal(training: bool, pos_enc: str) -> None:
    m = active_pruner(pos_enc=pos_enc).train(training)
    x = inputs(2, 14)
    y = m(x)
    for t in (0, 5, 12):
        x2 = x.clone()
        x2[:, t + 1 :] = inputs(2, 14 - t - 1, seed=7)
        y2 = m(x2)
        torch.testing.assert_close(y2[:, : t + 1], y[:, : t + 1], rtol=0, atol=1e-12)
        assert not torch.allclose(y2[:, t + 1 :], y[:, t + 1 :])


def test_pruning_needs_causal_attention() -> None:
    with pytest.raises(ValueError, match="causal"):
        make(prune=True, causal=False)


def test_set_progress_without_pruning_is_harmless() -> None:
    m = make()
    m.set_progress(0.5)
    m(inputs(1, 3))


# -- options, features and config errors -------------------------------------------------------


@pytest.mark.parametrize(("width", "heads"), [(32, 8), (12, 4), (6, 2), (7, 1)])
def test_default_heads(width: int, heads: int) -> None:
    cfg = ModelConfig(mixer="attention", width=width)
    assert cfg.resolved("heads") == heads
    assert Attention(cfg, width).heads == heads
    assert Attention.extra_features(cfg, width) == {"pos_enc": "rope", "heads": heads}


@pytest.mark.parametrize("cfg", [{"prune": True}, {"prune": True, "heads": 16}, {"heads": 2}])
def test_param_count_with_pruning(cfg: dict[str, Any]) -> None:
    m = make(**cfg)
    assert sum(p.numel() for p in m.parameters()) == Attention.param_count(m.cfg, WIDTH)


def test_flops_per_token() -> None:
    causal = ModelConfig(mixer="attention", width=WIDTH)
    bidir = ModelConfig(mixer="attention", width=WIDTH, causal=False)
    proj = 2 * 4 * WIDTH * WIDTH
    assert Attention.flops_per_token(causal, WIDTH, 99) == proj + 4 * WIDTH * 50
    assert Attention.flops_per_token(bidir, WIDTH, 99) == proj + 4 * WIDTH * 99
    pruned = ModelConfig(mixer="attention", width=WIDTH, prune=True)
    assert Attention.flops_per_token(pruned, WIDTH, 99) > Attention.flops_per_token(causal, WIDTH, 99)
    assert Attention.state_floats(causal, WIDTH) is None
    assert Attention.transition(causal) == "attention"


@pytest.mark.parametrize(
    ("cfg", "field"),
    [
        ({"width": 30, "heads": 4}, "heads"),
        ({"pos_enc": "bogus"}, "pos_enc"),
        ({"conv_kernel": 3}, "conv_kernel"),
        ({"prune_gamma": 0.1}, "prune_gamma"),
    ],
)
def test_config_errors_name_the_field(cfg: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ModelConfig(mixer="attention", **cfg)
    assert any(err["loc"] == (field,) for err in exc.value.errors())
