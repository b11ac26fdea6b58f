"""Registry-wide tests: every mixer × every axis setting builds a model that keeps its contracts.

For each configuration (see :func:`zoo_configs`; the axes, options and the input stem): output
shape, finite outputs, a backward pass that reaches every parameter with finite gradients,
causality (changing tokens after t never changes outputs up to t), the hand-written parameter
count in ``features()`` equals the module's, construction on the ``meta`` device, and
determinism under ``init_seed``. Adding a mixer to the registry adds it here with no further
code.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from archlab.config import ModelConfig
from archlab.models import MIXERS, build_model, model_features
from archlab.models.base import TRANSITIONS

VOCAB, N_OUT, WIDTH = 7, 5, 16

#: example values for options whose allowed values are "anything in range"
OPEN_OPTION_VALUES: dict[str, list[Any]] = {
    "state_size": [8],
    "householder_factors": [2, 3],
    "heads": [2],
    "conv_kernel": [2],
    "conv_depth": [2],
    "d_state": [4],
    "expand": [1],
}


def zoo_configs() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, cls in MIXERS.items():
        base: dict[str, Any] = {"mixer": name, "width": WIDTH}
        out.append(base)
        for opt, allowed in cls.options.items():
            values = list(allowed) if allowed else OPEN_OPTION_VALUES.get(opt, [])
            default = cls.defaults.get(opt)
            out += [{**base, opt: v} for v in values if v != default]
        if cls.supports_noncausal:
            out.append({**base, "causal": False, "head": "pooled"})
        if cls.recurrent:
            out.append({**base, "fp_iters": 3})
            out.append({**base, "fp_iters": 5, "fp_shift": True, "fp_tol": 1e-3})
            out.append({**base, "fp_iters": 3, "fp_shift": True, "fp_grad": "all", "fp_eval_iters": 7})
            out.append({**base, "fp_iters": 4, "fp_mixer": "lowrank", "fp_rank": 3, "fp_sample": True})
        if cls.supports_prune:
            out.append({**base, "prune": True, "prune_keep": 0.5})
        # the input stem: causal with a projection back to width, and pooled (non-causal if allowed)
        out.append({**base, "stem": "conv", "stem_kernel": 3, "stem_width": 24})
        pooled_stem = {**base, "stem": "conv", "stem_kernel": 4, "head": "pooled"}
        out.append({**pooled_stem, "causal": False} if cls.supports_noncausal else pooled_stem)
        out.append({**base, "depth_repeat": 2})
        out.append({**base, "depth_repeat": 3, "halting": "act", "ponder_cost": 0.1})
        out.append({**base, "hier_levels": 2, "hier_stride": 3})
        out.append({**base, "hier_levels": 2, "hier_stride": 3, "hier_chunking": "dynamic"})
        dynamic_pooled = {"hier_levels": 3, "hier_stride": 2, "hier_chunking": "dynamic", "head": "pooled"}
        out.append(
            {
                **base,
                **dynamic_pooled,
                "hier_ratio_loss": 0.5,
                **({"causal": False} if cls.supports_noncausal else {}),
            }
        )
        out.append(
            {**base, "hier_levels": 3, "hier_stride": 2, "layers": 1, "head": "pooled", "pool": "last"}
        )
        combo: dict[str, Any] = {
            **base,
            "hier_levels": 2,
            "hier_stride": 2,
            "norm": "rmsnorm",
            "mlp_ratio": 0,
        }
        if cls.recurrent:
            combo["fp_iters"] = 2
        if cls.supports_prune:
            combo["prune"] = True
        out.append(combo)
    return out


def cfg_id(d: dict[str, Any]) -> str:
    return "-".join([d["mixer"]] + [f"{k}={v}" for k, v in d.items() if k not in ("mixer", "width")])


CONFIGS = zoo_configs()


@pytest.fixture(params=CONFIGS, ids=[cfg_id(c) for c in CONFIGS])
def cfg(request: pytest.FixtureRequest) -> ModelConfig:
    return ModelConfig(**request.param)


def _tokens(b: int, t: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (b, t), generator=torch.Generator().manual_seed(seed))


def _run(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(1234)  # fp_sample draws its cap from torch's RNG
    out: torch.Tensor = model(tokens)
    return out


def test_registry_covers_the_issue_list() -> None:
    for name in ("diag_rnn", "householder", "dense_rnn", "lstm", "gru", "elman", "attention", "conv",
                 "mamba", "mamba2", "mlstm", "slstm", "gated_deltanet", "gated_deltaproduct"):  # fmt: skip
        assert name in MIXERS, f"mixer {name} is not registered"


@pytest.mark.parametrize("t", [1, 13])
def test_shape_finite_backward(cfg: ModelConfig, t: int) -> None:
    model = build_model(cfg, VOCAB, N_OUT, device="cpu")
    model.train()
    logits = _run(model, _tokens(3, t))
    expected = (3, N_OUT) if cfg.head == "pooled" else (3, t, N_OUT)
    assert tuple(logits.shape) == expected
    assert torch.isfinite(logits).all()
    loss = logits.square().mean() + model.last_aux_loss
    assert torch.isfinite(loss)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad}"


def test_causal(cfg: ModelConfig) -> None:
    if not cfg.causal or cfg.head == "pooled":
        pytest.skip("non-causal or pooled configuration")
    model = build_model(cfg, VOCAB, N_OUT, device="cpu")
    # zero-initialised parts (hierarchy up-projections, gates) must not hide a leak: perturb all
    with torch.no_grad():
        gen = torch.Generator().manual_seed(7)
        for p in model.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=gen))
    for mode in (True, False):
        model.train(mode)
        tokens = _tokens(2, 17)
        with torch.no_grad():
            base = _run(model, tokens)
            for t in (0, 5, 11):
                changed = tokens.clone()
                changed[:, t + 1 :] = (changed[:, t + 1 :] + 1 + _tokens(2, 16 - t, seed=t)) % VOCAB
                out = _run(model, changed)
                torch.testing.assert_close(
                    out[:, : t + 1], base[:, : t + 1], atol=2e-5, rtol=1e-5, msg=f"train={mode}, t={t}"
                )
                assert not torch.allclose(out[:, t + 1 :], base[:, t + 1 :]), (
                    "later outputs ignore the change"
                )


def test_param_count_matches_features(cfg: ModelConfig) -> None:
    model = build_model(cfg, VOCAB, N_OUT, device="cpu")
    feats = model_features(cfg, VOCAB, N_OUT)
    assert feats.params == sum(p.numel() for p in model.parameters())
    head_and_embed = VOCAB * cfg.width + cfg.width * N_OUT + N_OUT
    assert feats.params_body == feats.params - head_and_embed
    assert feats.transition in TRANSITIONS
    assert feats.flops_per_token > 0
    if feats.state_floats is not None:
        assert feats.state_floats > 0 and feats.state_bits == 24 * feats.state_floats


def test_dumped_config_round_trips(cfg: ModelConfig) -> None:
    """A result record stores ``model_dump()`` (every field, defaults included): it must load back."""
    assert ModelConfig(**cfg.model_dump()) == cfg


def test_meta_device(cfg: ModelConfig) -> None:
    model = build_model(cfg, VOCAB, N_OUT, device="meta")
    assert all(p.device.type == "meta" for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) == model_features(cfg, VOCAB, N_OUT).params
    if not MIXERS.get(cfg.mixer).meta_forward:
        return
    logits = model(_tokens(2, 9).to("meta"))
    assert logits.device.type == "meta"
    assert logits.shape[0] == 2 and logits.shape[-1] == N_OUT


def test_deterministic_under_init_seed(cfg: ModelConfig) -> None:
    seeded = cfg.model_copy(update={"init_seed": 3})
    torch.manual_seed(0)
    a = build_model(seeded, VOCAB, N_OUT, device="cpu")
    torch.manual_seed(99)
    b = build_model(seeded, VOCAB, N_OUT, device="cpu")
    for (na, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.equal(pa, pb), na
    tokens = _tokens(2, 10)
    a.eval()
    b.eval()
    with torch.no_grad():
        torch.testing.assert_close(_run(a, tokens), _run(b, tokens), rtol=0, atol=0)
    other = build_model(cfg.model_copy(update={"init_seed": 4}), VOCAB, N_OUT, device="cpu")
    assert not all(
        torch.equal(pa, po)
        for pa, po in zip(a.parameters(), other.parameters(), strict=True)
        if pa.numel() > 1
    )


@pytest.mark.parametrize("t", [1, 37])
@pytest.mark.parametrize("name", MIXERS.names())
def test_reference_path_matches_fast_path(name: str, t: int) -> None:
    """Every mixer with a fast path agrees with its loop reference, outputs and gradients."""
    cls = MIXERS.get(name)
    for extra in [{}, *[{k: v} for k, vals in cls.options.items() for v in vals if k == "eig_range"]]:
        cfg = ModelConfig(mixer=name, width=WIDTH, **extra)
        if cls.allowed_values("householder_factors") is not None:
            cfg = cfg.model_copy(update={"householder_factors": 2})
        torch.manual_seed(0)
        mixer = cls(cfg, WIDTH)
        x = torch.randn(2, t, WIDTH, requires_grad=True)
        inputs = [x, *(p for p in mixer.parameters() if p.requires_grad)]
        y_fast = mixer(x)
        g_fast = torch.autograd.grad(y_fast.square().sum(), inputs, allow_unused=True)
        mixer.reference = True
        y_ref = mixer(x)
        g_ref = torch.autograd.grad(y_ref.square().sum(), inputs, allow_unused=True)
        torch.testing.assert_close(y_fast, y_ref, atol=1e-5, rtol=1e-4)
        # the input and every parameter (None where a path does not use one, e.g. T = 1)
        for i, (gf, gr) in enumerate(zip(g_fast, g_ref, strict=True)):
            if gf is None or gr is None:
                assert (gf is None and gr is None) or (gf if gr is None else gr).abs().max() == 0, i
                continue
            torch.testing.assert_close(gf, gr, atol=1e-4, rtol=1e-3, msg=f"{name} {extra} input {i}")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", MIXERS.names())
def test_runs_on_cuda_with_device_auto(name: str) -> None:
    cfg = ModelConfig(mixer=name, width=WIDTH)
    model = build_model(cfg, VOCAB, N_OUT, device="auto")
    assert next(model.parameters()).device.type == "cuda"
    logits = model(_tokens(2, 33).cuda())
    logits.square().mean().backward()
    assert torch.isfinite(logits).all()


def test_device_auto_is_cpu_without_cuda() -> None:
    from archlab.models import resolve_device

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.parametrize("pool", ["mean", "last", "max"])
def test_pooled_head_reads_the_pooled_features(pool: str) -> None:
    cfg = ModelConfig(mixer="conv", width=16, layers=1, head="pooled", pool=pool, causal=False, init_seed=0)
    model = build_model(cfg, vocab_size=5, n_outputs=2, device="cpu").eval()
    seen: dict[str, torch.Tensor] = {}
    model.norm.register_forward_hook(lambda m, i, o: seen.__setitem__("norm", o))
    model.head.register_forward_hook(lambda m, i, o: seen.__setitem__("head_in", i[0]))
    tokens = torch.randint(0, 5, (3, 11))
    with torch.no_grad():
        model(tokens)
    feats = seen["norm"]
    expect = {"mean": feats.mean(1), "last": feats[:, -1], "max": feats.amax(1)}[pool]
    torch.testing.assert_close(seen["head_in"], expect)
