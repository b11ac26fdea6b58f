"""Stacked ensembles (archlab.ensemble): a cell's members trained together give the records their
separate runs give, registry-wide; what cannot be stacked says why and runs one by one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from archlab.config import ModelConfig, TrainConfig
from archlab.ensemble import StackedModel, stack_support, train_cell
from archlab.errors import ConfigError
from archlab.models import build_model
from archlab.optim import AdamW, clip_grad_norm
from archlab.probes import make_probe
from archlab.registry import MIXERS
from archlab.train import train_run
from tests.models.test_model_zoo import CONFIGS, VOCAB, cfg_id

#: record keys whose values legitimately differ between a stacked member and its separate run
TIMING = {"wall_time_s", "cell", "host", "torch_threads"}


def tiny_train(**kw: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "steps": 6, "batch": 16, "lr": 3e-3, "warmup": 2, "eval_every": 2,
        "train_lengths": {"min": 1, "max": 8}, "test_lengths": [9, 12], "val_batch": 32, "eval_batch": 32,
        "device": "cpu",
    }  # fmt: skip
    return TrainConfig(**{**base, **kw})


def members(
    base: TrainConfig, seeds: tuple[int, ...] = (0, 1), lrs: tuple[float, ...] = (3e-3, 1e-2)
) -> list[TrainConfig]:
    return [base.model_copy(update={"seed": s, "lr": lr}) for s in seeds for lr in lrs]


def assert_same_run(stacked: dict[str, Any], alone: dict[str, Any], tol: float = 1e-4) -> None:
    """A stacked member's record against its separate run: same keys and content (fp32 tolerance)."""
    assert set(stacked) - TIMING == set(alone) - TIMING
    for key in set(alone) - TIMING - {"curve", "range_eval"}:
        assert stacked[key] == alone[key], key
    assert len(stacked["curve"]) == len(alone["curve"])
    for p, q in zip(stacked["curve"], alone["curve"], strict=True):
        assert set(p) == set(q)
        assert p["step"] == q["step"] and p["tokens"] == q["tokens"]
        assert p["loss"] == pytest.approx(q["loss"], rel=tol, abs=tol)
        assert abs(p["val_token_acc"] - q["val_token_acc"]) <= 0.02
    assert [r["length"] for r in stacked["range_eval"]] == [r["length"] for r in alone["range_eval"]]
    for r, s in zip(stacked["range_eval"], alone["range_eval"], strict=True):
        assert set(r) == set(s)
        assert r["chance"] == s["chance"] and r["n_tokens"] == s["n_tokens"]
        assert abs(r["token_acc"] - s["token_acc"]) <= 0.02


# ---------------------------------------------------------------------------------------------
# the optimiser and clipping against torch's
# ---------------------------------------------------------------------------------------------


def test_adamw_is_torch_adamw_step_by_step() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))
    twin = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))
    twin.load_state_dict(net.state_dict())
    ours = AdamW(list(net.parameters()), [p.dim() >= 2 for p in net.parameters()], 0.1)
    groups = [
        {"params": [p for p in twin.parameters() if p.dim() >= 2], "weight_decay": 0.1},
        {"params": [p for p in twin.parameters() if p.dim() < 2], "weight_decay": 0.0},
    ]
    ref = torch.optim.AdamW(groups, lr=1e-2)
    for step in range(20):
        x = torch.randn(8, 5)
        lr = 1e-2 * (1 + step) / 20
        for group in ref.param_groups:
            group["lr"] = lr
        ours.zero_grad()
        ref.zero_grad()
        net(x).square().sum().backward()
        twin(x).square().sum().backward()
        ours.step(lr)
        ref.step()
    for p, q in zip(net.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_stacked_adamw_and_clipping_are_per_member() -> None:
    torch.manual_seed(1)
    k, lrs = 3, torch.tensor([1e-3, 1e-2, 1e-1])
    stacked = torch.randn(k, 4, 6, requires_grad=True)
    alone = [stacked[i].detach().clone().requires_grad_() for i in range(k)]
    ours = AdamW([stacked], [True], 0.01, members=k)
    refs = [torch.optim.AdamW([p], lr=float(lr), weight_decay=0.01) for p, lr in zip(alone, lrs, strict=True)]
    for _ in range(10):
        target = torch.randn(4, 6)
        ours.zero_grad()
        (stacked - 3 * target).square().sum().backward()
        norms = clip_grad_norm([stacked], 1.0, k)
        for i, (p, opt) in enumerate(zip(alone, refs, strict=True)):
            opt.zero_grad()
            (p - 3 * target).square().sum().backward()
            assert float(norms[i]) == pytest.approx(float(torch.nn.utils.clip_grad_norm_([p], 1.0)), rel=1e-5)
            opt.step()
        ours.step(lrs)
    for i, p in enumerate(alone):
        torch.testing.assert_close(stacked[i].detach(), p.detach(), rtol=1e-5, atol=1e-6)


def test_no_torch_dynamo_import_in_a_run() -> None:
    """torch.optim's constructor imports torch._dynamo (seconds per process); a run must not."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from archlab.config import ModelConfig, TrainConfig\n"
        "from archlab.probes import make_probe\n"
        "from archlab.train import train_run\n"
        "train_run(make_probe('parity'), ModelConfig(mixer='diag_rnn', width=8, layers=1),"
        " TrainConfig(steps=3, eval_every=3, val_batch=4, eval_batch=4, test_lengths=[41], device='cpu'))\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


# ---------------------------------------------------------------------------------------------
# registry-wide: the stacked forward and backward, or a declared reason
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", CONFIGS, ids=[cfg_id(c) for c in CONFIGS])
def test_stacked_forward_and_gradients_equal_each_member(spec: dict[str, Any]) -> None:
    cfg = ModelConfig(**spec)
    why = stack_support(cfg, TrainConfig())
    if why is not None:
        # a reason that names what blocks it: the mixer, or the config field
        fields = ("fp_iters", "halting", "prune", "dropout", "causal", "hier_chunking")
        assert MIXERS.get(cfg.mixer).unstackable or any(why.startswith(f) for f in fields), why
        return
    k, b, t = 3, 2, 11
    models = [build_model(cfg.model_copy(update={"init_seed": s}), VOCAB, 5, device="cpu") for s in range(k)]
    stack = StackedModel(models)
    tokens = torch.randint(0, VOCAB, (k, b, t), generator=torch.Generator().manual_seed(0))
    out = stack(tokens)
    out.square().mean(dim=tuple(range(1, out.dim()))).sum().backward()
    for i, model in enumerate(models):
        alone = model(tokens[i])
        torch.testing.assert_close(out[i].detach(), alone.detach(), rtol=1e-4, atol=1e-5)
        alone.square().mean().backward()
        for name, p in model.named_parameters():
            g = stack.params[name].grad
            assert g is not None, name
            torch.testing.assert_close(g[i], p.grad, rtol=1e-3, atol=1e-5, msg=lambda m, n=name: f"{n}: {m}")


def test_every_unstackable_mixer_says_why() -> None:
    for name, cls in MIXERS.items():
        cfg = ModelConfig(mixer=name, width=16)
        why = stack_support(cfg, TrainConfig())
        assert (why is None) == (not cls.unstackable), name
        if why:
            assert name in why and cls.unstackable in why


# ---------------------------------------------------------------------------------------------
# training: stacked members == separate runs, per mixer family
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mixer", MIXERS.names())
def test_cell_records_equal_separate_runs(mixer: str) -> None:
    cfg = ModelConfig(mixer=mixer, width=16, layers=1)
    probe = make_probe("parity")
    cfgs = members(tiny_train())
    cell = train_cell(probe, cfg, cfgs)
    alone = [train_run(probe, cfg, c) for c in cfgs]
    stacked = stack_support(cfg, cfgs[0]) is None
    for rec, ref in zip(cell, alone, strict=True):
        assert ("cell" in rec) == stacked
        assert_same_run(rec, ref)
        if stacked:
            assert rec["cell"]["members"] == 4 and rec["cell"]["stacked"] is True
            assert rec["wall_time_s"] == pytest.approx(rec["cell"]["wall_time_s"] / 4)


@pytest.mark.parametrize(
    "extra",
    [{"hier_levels": 2, "hier_stride": 3}, {"depth_repeat": 2}, {"stem": "conv", "stem_kernel": 3}],
    ids=["hierarchy", "depth_repeat", "stem"],
)
def test_cell_with_search_axes_equals_separate_runs(extra: dict[str, Any]) -> None:
    cfg = ModelConfig(mixer="diag_rnn", eig_range="signed", width=16, layers=1, **extra)
    assert stack_support(cfg, TrainConfig()) is None
    probe = make_probe("parity")
    cfgs = members(tiny_train(), seeds=(0, 3), lrs=(1e-2,))
    for rec, ref in zip(train_cell(probe, cfg, cfgs), [train_run(probe, cfg, c) for c in cfgs], strict=True):
        assert_same_run(rec, ref)


def test_members_stop_on_their_own_and_leave_the_stack() -> None:
    """A token budget: seeds draw other lengths, so they reach it at other steps."""
    cfg = ModelConfig(mixer="diag_rnn", eig_range="signed", width=16, layers=1)
    probe = make_probe("parity")
    cfgs = members(tiny_train(steps=40, eval_every=5, token_budget=1500), seeds=(0, 1, 2), lrs=(1e-2,))
    cell = train_cell(probe, cfg, cfgs)
    alone = [train_run(probe, cfg, c) for c in cfgs]
    assert len({r["steps_run"] for r in alone}) > 1, [r["steps_run"] for r in alone]
    for rec, ref in zip(cell, alone, strict=True):
        assert rec["steps_run"] == ref["steps_run"] < 40
        assert_same_run(rec, ref)


def test_a_member_solved_early_is_evaluated_as_it_was() -> None:
    cfg = ModelConfig(mixer="diag_rnn", eig_range="signed", width=16, layers=1)
    probe = make_probe("parity")
    # lr 1e-2 solves parity on lengths ≤ 4 within a few hundred steps, lr 1e-5 does not
    base = tiny_train(steps=300, eval_every=20, train_lengths={"min": 1, "max": 4}, solve_patience=2)
    cfgs = members(base, seeds=(0,), lrs=(1e-2, 1e-5))
    cell = train_cell(probe, cfg, cfgs)
    alone = [train_run(probe, cfg, c) for c in cfgs]
    assert [r["status"] for r in alone] == ["solved", "completed"]
    for rec, ref in zip(cell, alone, strict=True):
        assert rec["status"] == ref["status"] and rec["steps_run"] == ref["steps_run"]
        assert_same_run(rec, ref, tol=1e-3)


def test_a_diverged_member_does_not_touch_the_others() -> None:
    cfg = ModelConfig(mixer="attention", width=16, layers=1)
    probe = make_probe("parity")
    cfgs = members(tiny_train(steps=8, clip=None, warmup=0), seeds=(0,), lrs=(1e-3, 1e30))
    cell = train_cell(probe, cfg, cfgs)
    assert cell[1]["status"] == "diverged" and "loss is" in cell[1]["reason"]
    assert cell[1]["range_eval"] == []
    ref = train_run(probe, cfg, cfgs[0])
    assert_same_run(cell[0], ref)
    assert train_run(probe, cfg, cfgs[1])["steps_run"] == cell[1]["steps_run"]


def test_cell_writes_each_members_files(tmp_path: Path) -> None:
    cfg = ModelConfig(mixer="householder", householder_factors=2, eig_range="signed", width=16, layers=1)
    probe = make_probe("parity")
    cfgs = members(tiny_train(checkpoint=True), seeds=(0, 1), lrs=(1e-2,))
    dirs = [tmp_path / f"m{i}" for i in range(len(cfgs))]
    cell = train_cell(probe, cfg, cfgs, out_dirs=dirs)
    for i, (rec, d) in enumerate(zip(cell, dirs, strict=True)):
        on_disk = json.loads((d / "result.json").read_text())
        assert on_disk == json.loads(json.dumps(rec)) and on_disk["cell"]["index"] == i
        state = torch.load(d / "checkpoint.pt", weights_only=True)
        model = build_model(ModelConfig(**state["model_config"]), probe.vocab_size, probe.n_classes, "cpu")
        model.load_state_dict(state["model"])  # the member's weights, loadable as a separate run's
        ref_dir = tmp_path / f"alone{i}"
        train_run(probe, cfg, cfgs[i], out_dir=ref_dir)
        ref = torch.load(ref_dir / "checkpoint.pt", weights_only=True)["model"]
        for name, value in ref.items():
            torch.testing.assert_close(state["model"][name], value, rtol=1e-3, atol=1e-4)


def test_cell_errors_name_the_field() -> None:
    probe = make_probe("parity")
    cfg = ModelConfig(mixer="diag_rnn", width=16, layers=1)
    with pytest.raises(ConfigError, match=r"train\.steps"):
        train_cell(probe, cfg, [tiny_train(), tiny_train(steps=7, seed=1)])
    with pytest.raises(ConfigError, match="same seed and lr"):
        train_cell(probe, cfg, [tiny_train(), tiny_train()])
    with pytest.raises(ConfigError, match="lstm.*vmap"):
        train_cell(probe, ModelConfig(mixer="lstm", width=16), members(tiny_train()), stacked=True)


def test_padding_changes_nothing_at_real_positions() -> None:
    """The premise of padding members to a common length: outputs at positions < T do not move."""
    for mixer in (n for n, c in MIXERS.items() if not c.unstackable):
        model = build_model(ModelConfig(mixer=mixer, width=16, layers=2), VOCAB, 3, device="cpu")
        x = torch.randint(0, VOCAB, (2, 13))
        padded = F.pad(x, (0, 7))
        torch.testing.assert_close(model(padded)[:, :13], model(x), rtol=1e-4, atol=1e-5, msg=mixer)


# ---------------------------------------------------------------------------------------------
# length_stream: shared — the same lengths for every seed, so no padding in a stack
# ---------------------------------------------------------------------------------------------


def test_run_ids_of_existing_runs_do_not_move() -> None:
    """length_stream came later: at its default it is not hashed, so earlier run folders (and a
    resumed reproduction matrix) keep their ids (this id was computed before the field existed)."""
    from archlab.train import run_id

    cfg = ModelConfig(mixer="diag_rnn", width=16)
    probe = make_probe("parity")
    assert run_id(probe, cfg, TrainConfig(steps=50, lr=3e-3)) == "parity-diag_rnn-s0-dabad749"
    assert (
        run_id(probe, cfg, TrainConfig(steps=50, lr=3e-3, length_stream="shared"))
        != "parity-diag_rnn-s0-dabad749"
    )


def test_shared_length_stream_gives_every_seed_the_same_lengths() -> None:
    cfg = ModelConfig(mixer="diag_rnn", eig_range="signed", width=16, layers=1)
    probe = make_probe("parity")
    base = tiny_train(steps=12, eval_every=3)
    own = [train_run(probe, cfg, base.model_copy(update={"seed": s})) for s in (0, 1)]
    shared = [
        train_run(probe, cfg, base.model_copy(update={"seed": s, "length_stream": "shared"})) for s in (0, 1)
    ]
    tokens = [[p["tokens"] for p in r["curve"]] for r in (*own, *shared)]
    assert tokens[0] != tokens[1]  # each seed its own lengths
    assert tokens[2] == tokens[3]  # one stream of lengths for both
    assert shared[0]["curve"][-1]["loss"] != shared[1]["curve"][-1]["loss"]  # the data still differs
    cell = train_cell(probe, cfg, members(base.model_copy(update={"length_stream": "shared"}), lrs=(3e-3,)))
    for rec, ref in zip(cell, shared, strict=True):
        assert_same_run(rec, ref)
