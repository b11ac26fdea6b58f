"""The pair-map network and its theory rule (R26): the map is the outer product of the one-hot
encoding, chunked evaluation changes nothing, the rule's construction really detects D5's
inverted repeat, and its chance bound holds against sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import archlab.dna.pairmap as pm
from archlab.dna.data import N_CODE
from archlab.dna.grammar import get_level
from archlab.dna.metrics import score
from archlab.dna.nets import DNA_NETS, dna_net_for
from archlab.dna.pairmap import PairMapConfig, build_pairmap, pairmap_features, pairmap_field
from archlab.errors import ConfigError
from archlab.theory.dna import dna_features, level_facts, predict_level
from archlab.theory.rules import chance_inverted_repeats, pairmap_run_length

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_pair_map_channel_4a_plus_c_is_base_a_at_i_and_c_at_j() -> None:
    net = build_pairmap(PairMapConfig(), 2, seed=0)
    codes = torch.tensor([[0, 3, 2, N_CODE, 1]])
    m = net.pair_map(codes)[0]
    assert m.shape == (16, 5, 5)
    for i, a in enumerate(codes[0].tolist()):
        for j, c in enumerate(codes[0].tolist()):
            col = m[:, i, j]
            if N_CODE in (a, c):
                assert col.sum() == 0  # N pairs with nothing
            else:
                assert col[4 * a + c] == 1 and col.sum() == 1


@pytest.mark.parametrize("name", DNA_NETS.names())
def test_every_dna_net_builds_backprops_and_has_features(name: str) -> None:
    net_entry = DNA_NETS.get(name)
    cfg = net_entry.config()
    assert dna_net_for(cfg) is net_entry
    net = net_entry.build(cfg, 2, device="cpu", seed=0)
    codes = torch.randint(0, 5, (3, 40))
    out = net(codes)
    assert out.shape == (3, 2) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    feats = net_entry.features(cfg, 2, seq_len=40)
    assert feats.params == sum(p.numel() for p in net.parameters())
    assert not feats.recurrent and feats.pool == "max+mean"


def test_chunked_forward_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    net = build_pairmap(PairMapConfig(), 2, seed=1).eval()
    codes = torch.randint(0, 4, (7, 30))
    with torch.no_grad():
        whole = net(codes)
        monkeypatch.setattr(pm, "MAX_CELLS", 2 * 30 * 30)  # two rows per chunk
        parts = net(codes)
    torch.testing.assert_close(parts, whole)


def test_same_seed_same_weights_and_config_is_checked() -> None:
    a, b = build_pairmap(PairMapConfig(), 1, seed=3), build_pairmap(PairMapConfig(), 1, seed=3)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    with pytest.raises(ValueError, match="odd"):
        PairMapConfig(kernel=4)
    with pytest.raises(ValueError, match="dilations"):
        PairMapConfig(dilations=())


def test_features_report_the_pairwise_map_and_its_field() -> None:
    cfg = PairMapConfig()
    f = pairmap_features(cfg, 2, seq_len=64)
    assert f.transition == "pairwise" and f.receptive_field is None
    assert f.extra["map_field"] == pairmap_field(cfg) == 1 + 4 * (1 + 2 + 4) == 29
    assert pairmap_run_length(f) == 29
    assert pairmap_run_length(pairmap_features(PairMapConfig(dilations=(1, 8)))) == 5  # a gap breaks the run
    assert pairmap_run_length(pairmap_features(PairMapConfig(dilations=(2,)))) == 0
    assert pairmap_run_length(pairmap_features(PairMapConfig(channels=1))) == 5  # one stage per channel


def _construction(w: int) -> pm.PairMapNet:
    """R26's construction for a ``w``-bp block (w ≤ 13) with kernel 5, dilations (1, 2, 4):
    channel 0 fires on 4 complementary anti-diagonal cells (c−2 … c+1), channel 1 ANDs five
    of those 2 cells apart (a run of 12 = c−6 … c+5); the third layer adds nothing."""
    assert w == 12
    net = build_pairmap(PairMapConfig(), 1, seed=0)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        comp = [4 * a + (3 - a) for a in range(4)]  # A–T, C–G, G–C, T–A
        c1 = net.convs[0]
        for k in (-2, -1, 0, 1):  # anti-diagonal: (i + k, j − k)
            for ch in comp:
                c1.weight[0, ch, 2 + k, 2 - k] = 1.0
        c1.bias[0] = -3.0
        c2 = net.convs[1]  # dilation 2: taps (2 + m) ↔ offset 2m
        for m in (-2, -1, 0, 1, 2):
            c2.weight[1, 0, 2 + m, 2 - m] = 1.0
        c2.bias[1] = -4.0
        net.head.weight[0, 1] = 1.0  # the global max of channel 1
    return net


def test_the_rule_construction_detects_d5_pairs_with_the_stated_bound() -> None:
    n, d, w = 64, 32, 12
    split = get_level("D5").sample(np.random.default_rng(5), 600, n, distance=d, block=w)
    net = _construction(w).eval()
    with torch.no_grad():
        s = net(torch.from_numpy(split.codes).long())[:, 0].numpy()
    y = np.asarray(split.y)
    assert (s[y == 1] >= 1).all()  # every positive holds the run
    auroc = score("classification", y.astype(np.int64), s)["auroc"]
    q = chance_inverted_repeats(n, w, 0.25)
    assert auroc >= 1 - q - 0.01  # sampling slack on 300 negatives
    pred = predict_level("D5", PairMapConfig(), [n], distance=d, block=w)[0]
    assert pred.verdict == "expressible" and pred.rule == "R26"
    assert f"{1 - q:.3f}" in pred.reason


def test_chance_bound_holds_against_sampling() -> None:
    rng = np.random.default_rng(0)
    n, w, rows = 48, 6, 4000
    codes = rng.integers(0, 4, (rows, n))
    comp = 3 - codes
    hit = np.zeros(rows, dtype=bool)
    for p in range(n - w + 1):
        for s in range(0, n - w - p + 1):
            a = codes[:, p : p + w]
            b = comp[:, p + s : p + s + w][:, ::-1]
            hit |= (a == b).all(1)
    q = chance_inverted_repeats(n, w, 0.25)
    frac = hit.mean()
    assert frac <= q + 3 * np.sqrt(q * (1 - q) / rows)
    assert frac >= 0.5 * q  # the union bound is not vacuous at this size


def test_the_verdict_falls_with_the_length_and_other_cases_stay_unknown() -> None:
    long = predict_level("D5", PairMapConfig(), [512], distance=400)[0]
    assert long.verdict == "unknown" and "AUROC ≥" in long.reason
    nested = predict_level("D5", PairMapConfig(), [128], distance=64, nested=True)[0]
    assert nested.verdict == "unknown" and "nested" in nested.reason
    markov = predict_level("D5", PairMapConfig(), [64], distance=32, background="markov")[0]
    assert markov.verdict == "unknown"
    short = predict_level("D5", PairMapConfig(channels=1), [64], distance=32)[0]
    assert short.verdict == "unknown" and "AND at most 5" in short.reason
    assert dna_features(PairMapConfig(), 64).transition == "pairwise"
    assert level_facts("D5", 64, distance=32).extra["pair_match_prob"] == 0.25


def test_unknown_dna_network_names_list_the_valid_ones() -> None:
    from typer.testing import CliRunner

    from archlab.cli import app

    res = CliRunner().invoke(app, ["dna", "train", "D0", "--length", "60", "--model", "nope"])
    assert res.exit_code == 2 and "unknown model 'nope'" in res.output and "pairmap" in res.output
    res = CliRunner().invoke(app, ["theory", "predict", "--probe", "parity", "--model", "pairmap"])
    assert res.exit_code == 2 and "DNA network" in res.output
    with pytest.raises(ConfigError, match="short levels"):
        import archlab.dna.ladder as lad

        lad.ladder_transfer(["D0"], ["irf1"], ["cnn", "pairmap"])
