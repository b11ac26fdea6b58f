"""Long sequences chunk by chunk (``chunk_len``): every streamable mixer, run over a sequence in
chunks with its state carried, gives exactly the whole-sequence outputs; training through the
chunks (checkpointed, truncated BPTT) reaches every parameter and no gradient crosses a chunk
boundary; configurations that cannot stream are refused with the field named."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from archlab.config import ModelConfig
from archlab.errors import ArchlabError
from archlab.models import MIXERS, build_model
from archlab.models.scan_selective import selective_scan
from tests.models.test_model_zoo import CONFIGS, N_OUT, VOCAB, WIDTH, cfg_id

STREAMABLE = [n for n, cls in MIXERS.items() if not cls.unstreamable]


def _streams(d: dict[str, Any]) -> bool:
    keys_off = ("fp_iters", "depth_repeat", "hier_levels")
    return (
        not MIXERS.get(d["mixer"]).unstreamable
        and d.get("causal", True)
        and not any(k in d for k in keys_off)
    )


STREAM_CONFIGS = [d for d in CONFIGS if _streams(d)]


def test_every_recurrent_mixer_streams() -> None:
    recurrent = [n for n, cls in MIXERS.items() if cls.recurrent and not cls.plugin]
    assert set(recurrent) <= set(STREAMABLE), set(recurrent) - set(STREAMABLE)
    assert "conv" in STREAMABLE and "attention" not in STREAMABLE


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("name", STREAMABLE)
def test_mixer_chunks_equal_the_whole_sequence(name: str, reference: bool) -> None:
    """forward_chunk over uneven chunks, state carried, equals forward (fast path and reference)."""
    cls = MIXERS.get(name)
    for extra in [{}, *[{"eig_range": v} for v in cls.options.get("eig_range", ())]]:
        cfg = ModelConfig(mixer=name, width=WIDTH, **extra)
        torch.manual_seed(0)
        mixer = cls(cfg, WIDTH)
        mixer.reference = reference
        x = torch.randn(2, 29, WIDTH)
        with torch.no_grad():
            whole = mixer(x)
            state, parts = None, []
            for lo, hi in ((0, 1), (1, 12), (12, 29)):
                y, state = mixer.forward_chunk(x[:, lo:hi], state)
                parts.append(y)
        torch.testing.assert_close(
            torch.cat(parts, dim=1), whole, atol=1e-5, rtol=1e-4, msg=f"{name} {extra}"
        )


@pytest.mark.parametrize("d", STREAM_CONFIGS, ids=[cfg_id(c) for c in STREAM_CONFIGS])
def test_chunked_model_equals_whole_and_trains(d: dict[str, Any]) -> None:
    cfg = ModelConfig(**d, init_seed=3)
    whole = build_model(cfg, VOCAB, N_OUT, device="cpu")
    chunked = build_model(cfg.model_copy(update={"chunk_len": 6}), VOCAB, N_OUT, device="cpu")
    chunked.load_state_dict(whole.state_dict())
    tokens = torch.randint(0, VOCAB, (2, 23), generator=torch.Generator().manual_seed(0))
    whole.eval()
    chunked.eval()
    with torch.no_grad():
        torch.testing.assert_close(chunked(tokens), whole(tokens), atol=1e-5, rtol=1e-4)
    chunked.train()
    out = chunked(tokens)  # with gradients: the checkpointed path
    whole.train()
    torch.testing.assert_close(out, whole(tokens), atol=1e-5, rtol=1e-4)
    (out.square().sum() + chunked.last_aux_loss).backward()
    for name, p in chunked.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("name", ["diag_rnn", "lstm", "mamba", "householder"])
def test_no_gradient_crosses_a_chunk_boundary(name: str) -> None:
    """Truncated BPTT: the last output's gradient reaches earlier positions of its own chunk
    only; without chunking it reaches the first chunk too."""
    grads = {}
    for chunk in (None, 8):
        cfg = ModelConfig(mixer=name, width=WIDTH, layers=1, init_seed=0, chunk_len=chunk)
        model = build_model(cfg, VOCAB, N_OUT, device="cpu")
        kept: list[torch.Tensor] = []

        def keep(_m: torch.nn.Module, _i: object, out: torch.Tensor, kept: list[torch.Tensor] = kept) -> None:
            out.retain_grad()
            kept.append(out)

        model.embed.register_forward_hook(keep)
        tokens = torch.randint(0, VOCAB, (2, 20), generator=torch.Generator().manual_seed(1))
        model(tokens)[:, -1].sum().backward()
        grads[chunk] = kept[0].grad.abs().sum((0, 2))
    assert grads[None][:16].sum() > 0
    assert grads[8][:16].sum() == 0  # positions 0–15: the two earlier chunks
    assert grads[8][16:].sum() > 0


def test_selective_scan_initial_and_final_state_gradients() -> None:
    """h0 in and h_T out of the hand-written scan agree with autograd through the plain loop."""
    g = torch.Generator().manual_seed(0)
    bsz, t, d, n = 2, 9, 3, 4
    x, dt = torch.randn(bsz, t, d, generator=g), torch.rand(bsz, t, d, generator=g)
    a = -torch.rand(d, n, generator=g) - 0.1
    b, c = torch.randn(bsz, t, n, generator=g), torch.randn(bsz, t, n, generator=g)
    h0 = torch.randn(bsz, d, n, generator=g)
    for signed in (False, True):
        leaves = [v.clone().requires_grad_() for v in (x, dt, a, b, c, h0)]
        y, h_t = selective_scan(*leaves[:5], signed=signed, h0=leaves[5], chunk=4, return_state=True)
        loss = y.square().sum() + (h_t * 0.7).sum()
        fast = torch.autograd.grad(loss, leaves)
        ref_leaves = [v.clone().requires_grad_() for v in (x, dt, a, b, c, h0)]
        xr, dtr, ar, br, cr, h = ref_leaves
        ys = []
        for s in range(t):
            e = torch.exp(dtr[:, s].unsqueeze(-1) * ar)
            h = (2 * e - 1 if signed else e) * h + (dtr[:, s] * xr[:, s]).unsqueeze(-1) * br[:, s].unsqueeze(
                1
            )
            ys.append((h * cr[:, s].unsqueeze(1)).sum(-1))
        ref_loss = torch.stack(ys, 1).square().sum() + (h * 0.7).sum()
        ref = torch.autograd.grad(ref_loss, ref_leaves)
        for i, (gf, gr) in enumerate(zip(fast, ref, strict=True)):
            torch.testing.assert_close(gf, gr, atol=1e-5, rtol=1e-4, msg=f"signed={signed} input {i}")


@pytest.mark.parametrize(
    ("update", "words"),
    [
        ({"mixer": "attention"}, ["cannot run chunk by chunk", "KV cache", "diag_rnn"]),
        ({"mixer": "conv", "causal": False, "head": "pooled"}, ["causal: true"]),
        ({"fp_iters": 2}, ["fp_iters"]),
        ({"hier_levels": 2}, ["hier_levels"]),
        ({"depth_repeat": 2}, ["depth_repeat"]),
    ],
)
def test_unstreamable_configs_are_refused(update: dict[str, Any], words: list[str]) -> None:
    with pytest.raises((ArchlabError, ValueError)) as err:
        ModelConfig(**{"mixer": "diag_rnn", **update, "chunk_len": 64})
    text = str(err.value)
    assert "chunk_len" in text
    for w in words:
        assert w in text, (w, text)
