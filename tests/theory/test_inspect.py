"""theory inspect: the spectra it reads are the ones the parametrisation and the weights imply,
the fixed-point transition formula reproduces the iteration, and a trained parity model shows
its sign flips."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from archlab.config import ModelConfig, TrainConfig
from archlab.errors import ArchlabError
from archlab.models import SequenceModel, build_model
from archlab.models.fixed_point import FixedPoint
from archlab.models.model import make_mixer
from archlab.models.recurrent import DiagRNN, Householder
from archlab.models.scan_householder import householder_product_reference
from archlab.probes import make_probe
from archlab.theory.inspect import (
    TABLE_COLUMNS,
    InspectReport,
    RunFilesMissingError,
    expectation_for,
    fixed_point_linear_form,
    format_accuracy,
    format_table,
    householder_factors,
    householder_products,
    inspect_model,
    inspect_run,
    load_run,
    plot_report,
    spectrum_summary,
)
from archlab.train import train_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _parity_run(tmp_path: Path, eig_range: str, steps: int) -> tuple[Path, dict[str, Any]]:
    cfg = ModelConfig.model_validate({"mixer": "diag_rnn", "eig_range": eig_range, "width": 16, "layers": 1})
    train = TrainConfig.model_validate({
        "steps": steps, "batch": 64, "lr": 1e-2, "eval_every": 25, "train_lengths": {"min": 1, "max": 10},
        "test_lengths": [12], "val_batch": 64, "eval_batch": 64, "device": "cpu", "checkpoint": True,
    })  # fmt: skip
    out = tmp_path / eig_range
    return out, train_run(make_probe("parity"), cfg, train, out_dir=out)


def _diag_model(eig_range: str, vocab: int, width: int = 8) -> tuple[SequenceModel, DiagRNN]:
    cfg = ModelConfig.model_validate(
        {"mixer": "diag_rnn", "eig_range": eig_range, "width": width, "layers": 1}
    )
    model = build_model(cfg, vocab, vocab, device="cpu")
    mixer = model.blocks[0].mixer
    assert isinstance(mixer, DiagRNN)
    return model, mixer


# --------------------------------------------------------------------------------------------
# trained models
# --------------------------------------------------------------------------------------------


def test_trained_signed_parity_model_flips_signs_and_unit_one_cannot(tmp_path: Path) -> None:
    run, rec = _parity_run(tmp_path, "signed", 200)
    assert rec["range_eval"][0]["seq_acc"] >= 0.9, rec["range_eval"]
    record, model, probe = load_run(run)
    assert not model.training and probe.name == "parity" and record["seed"] == rec["seed"]
    report = inspect_run(run, batch=32)
    assert report.lengths == [10, 12]  # the run's test length plus its longest training length
    (layer,) = report.layers
    assert layer.mixer == "diag_rnn" and layer.found is True, layer.found_reason
    # a solver flips on every 1-token: about half the tokens carry an eigenvalue near −1
    assert 0.3 <= layer.summary["tokens_near_minus_one"] <= 0.7
    assert layer.summary["min_real"] < -0.9
    assert {a.length: a.seq_acc for a in report.accuracy}[12] >= 0.9
    blob = json.loads(json.dumps(report.to_dict()))
    assert blob["layers"][0]["found"] is True and blob["run_dir"] == str(run)
    rows = format_table(report)
    assert len(rows) == 1 and len(rows[0]) == len(TABLE_COLUMNS) and rows[0][4].startswith("yes")
    assert "L12: seq" in format_accuracy(report)

    # plot: PNG, and SVG + PNG for an .svg path
    (png,) = plot_report(report, tmp_path / "plots" / "spectrum.png")
    assert png.stat().st_size > 1000
    written = plot_report(report, tmp_path / "plots" / "spectrum2.svg")
    assert sorted(p.suffix for p in written) == [".png", ".svg"] and all(
        p.stat().st_size > 0 for p in written
    )
    assert not list((tmp_path / "plots").glob(".*tmp"))

    # unit range: no eigenvalue below 0 is possible, whatever training did (THEORY R1)
    run_u, _ = _parity_run(tmp_path, "unit", 60)
    (lay_u,) = inspect_run(run_u, batch=32).layers
    assert lay_u.summary["min_real"] >= 0.0 and lay_u.summary["frac_negative_real"] == 0.0
    assert lay_u.summary["max_abs_imag"] == 0.0 and lay_u.found is True  # "absent, as theory says"

    # the command line: table and plot, and the JSON report
    from typer.testing import CliRunner

    from archlab.cli import app

    r = CliRunner().invoke(
        app, ["theory", "inspect", str(run), "--batch", "16", "--out", str(tmp_path / "c.png")]
    )
    assert r.exit_code == 0, r.stderr
    assert "eigenvalues" in r.stdout and (tmp_path / "c.png").stat().st_size > 1000
    r = CliRunner().invoke(app, ["theory", "inspect", str(run), "--batch", "16", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["layers"][0]["found"] is True
    r = CliRunner().invoke(app, ["theory", "inspect", str(tmp_path / "nowhere")])
    assert r.exit_code == 2 and "result.json" in r.stderr


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(RunFilesMissingError, match="result.json"):
        load_run(tmp_path)
    (tmp_path / "result.json").write_text("{}")
    with pytest.raises(RunFilesMissingError, match=r"checkpoint\.pt.*train\.checkpoint=true") as info:
        load_run(tmp_path)
    assert isinstance(info.value, ArchlabError) and isinstance(info.value, FileNotFoundError)


def test_model_config_from_a_full_dump() -> None:
    cfg = ModelConfig(mixer="diag_rnn", eig_range="signed", width=8, fp_iters=3, fp_shift=True)
    assert ModelConfig(**cfg.model_dump()) == cfg
    plain = ModelConfig(mixer="lstm", width=8)
    assert ModelConfig(**plain.model_dump()) == plain


# --------------------------------------------------------------------------------------------
# hand-built weights: the answer is known
# --------------------------------------------------------------------------------------------


def test_forced_minus_0_99_is_reported() -> None:
    model, mixer = _diag_model("signed", 2)
    with torch.no_grad():
        mixer.proj.weight[: mixer.n] = 0
        mixer.proj.bias[: mixer.n] = math.log(0.005 / 0.995)  # 2σ(z) − 1 = −0.99
    (layer,) = inspect_model(model, make_probe("parity"), lengths=[6, 9], batch=8).layers
    s = layer.summary
    assert s["min_real"] == pytest.approx(-0.99, abs=1e-5) and s["max_real"] == pytest.approx(-0.99, abs=1e-5)
    assert s["frac_near_minus_one"] == 1.0 and s["frac_sign_flip"] == 1.0 and s["frac_abs_gt_095"] == 1.0
    assert s["n_tokens"] == 8 * (6 + 9) and layer.found is True


def test_forced_rotation_by_2pi_over_3_is_a_z3_counter_not_a_z5_one() -> None:
    model, mixer = _diag_model("complex", 5)
    n = mixer.n
    with torch.no_grad():
        mixer.proj.weight[: 2 * n] = 0
        mixer.proj.bias[:n] = math.log(0.99 / 0.01)  # |a| = 0.99
        mixer.proj.bias[n : 2 * n] = math.atanh(2 / 3)  # θ = π·tanh(z) = 2π/3
    (z3,) = inspect_model(model, make_probe("modular_sum", m=3), lengths=[7], batch=8).layers
    s = z3.summary
    assert s["modulus"] == 3 and s["tokens_target_rotation"] == 1.0 and z3.found is True
    nearest = {round(t["target"], 4): t["nearest"] for t in s["nearest_angles"]}
    assert nearest[round(2 * math.pi / 3, 4)] == pytest.approx(2 * math.pi / 3, abs=1e-5)
    assert max(s["angle_hist"]) == s["n_tokens"] * s["eigs_per_token"]  # one angle only
    assert s["frac_sign_flip"] == 0.0 and s["spectral_radius"] == pytest.approx(0.99, abs=1e-5)
    (z5,) = inspect_model(model, make_probe("modular_sum", m=5), lengths=[7], batch=8).layers
    assert z5.summary["tokens_target_rotation"] == 0.0 and z5.found is False


def test_unit_range_parametrisation_has_no_negative_eigenvalue() -> None:
    model, mixer = _diag_model("unit", 2)
    with torch.no_grad():
        mixer.proj.weight.normal_(0, 20.0)  # push σ(z) to both ends
        mixer.proj.bias.normal_(0, 20.0)
    (layer,) = inspect_model(model, make_probe("parity"), lengths=[16], batch=16).layers
    assert layer.summary["min_real"] >= 0.0 and layer.summary["max_real"] <= 1.0
    assert layer.summary["frac_negative_real"] == 0.0 and layer.found is True


def test_householder_products_match_the_scan_and_a_forced_reflection_is_minus_one() -> None:
    cfg = ModelConfig(
        mixer="householder", eig_range="signed", householder_factors=3, width=8, heads=2, layers=1
    )
    model = build_model(cfg, 2, 2, device="cpu")
    hh = model.blocks[0].mixer
    assert isinstance(hh, Householder)
    x = torch.randn(5, 8)
    with torch.no_grad():
        k, beta = householder_factors(hh, x)
        prods = householder_products(k, beta)
        # one token per sequence, no writes, S0 = I: the state after it is the product
        eye = torch.eye(4).expand(5, 2, 4, 4).contiguous()
        _, state = householder_product_reference(
            torch.randn(5, 2, 1, 4), k.unsqueeze(2), torch.zeros(5, 2, 1, 3, 4), beta.unsqueeze(2), eye
        )
    torch.testing.assert_close(prods, state, atol=1e-5, rtol=1e-5)

    one = ModelConfig(mixer="householder", eig_range="signed", width=8, heads=2, layers=1)
    model = build_model(one, 2, 2, device="cpu")
    hh = model.blocks[0].mixer
    assert isinstance(hh, Householder)
    with torch.no_grad():
        hh.beta.weight.zero_()
        hh.beta.bias.fill_(30.0)  # β = 2σ(30) = 2: a reflection, eigenvalue −1 along k
    (layer,) = inspect_model(model, make_probe("parity"), lengths=[5], batch=4).layers
    s = layer.summary
    assert s["tokens_near_minus_one"] == 1.0 and s["frac_beta_gt_1"] == 1.0 and s["n_factors"] == 1
    assert s["frac_near_minus_one"] == pytest.approx(1 / 4)  # one of d = 4 eigenvalues per head
    assert s["spectral_radius"] == pytest.approx(1.0, abs=1e-6) and layer.found is True


# --------------------------------------------------------------------------------------------
# fixed points
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("eig_range", "fp_mixer", "prune"),
    [("signed", "householder", False), ("complex", "lowrank", False), ("unit", "householder", True)],
)
def test_fixed_point_equals_the_dense_rnn_of_its_transition(
    eig_range: str, fp_mixer: str, prune: bool
) -> None:
    cfg = ModelConfig.model_validate({
        "mixer": "diag_rnn", "eig_range": eig_range, "width": 6, "layers": 1, "fp_iters": 50, "fp_tol": 1e-13,
        "fp_eval_iters": 300, "fp_mixer": fp_mixer, "prune": prune,
    })  # fmt: skip
    torch.manual_seed(0)
    fp = make_mixer(cfg, 6).double().eval()
    assert isinstance(fp, FixedPoint) and isinstance(fp.mixer, DiagRNN)
    with torch.no_grad():
        fp.mixer.proj.weight.mul_(5)  # gates far from the initial ones: more mixing
        fp.mixer.h0.normal_()
        if fp.mixer.write is not None:
            fp.mixer.write.proj.weight.normal_()  # some tokens skipped
        x = torch.randn(2, 7, 6, dtype=torch.float64)
        y = fp(x)
        form = fixed_point_linear_form(fp, x)
        a, c = form.transition(), form.input_term()
        assert torch.linalg.eigvals(form.M).abs().max() < 1  # a contraction: the iteration converged
        h = form.h0.expand(2, -1)
        states = []
        for t in range(7):
            h = (a[:, t] @ h.unsqueeze(-1)).squeeze(-1) + c[:, t]
            states.append(h)
        _, ctx = fp.mixer.fp_in(x)
        y_dense = fp.mixer.fp_out(torch.stack(states, 1), ctx)
        torch.testing.assert_close(y, y_dense, atol=1e-9, rtol=1e-9)
        errors = [float((form.truncated(ell) - a).abs().max()) for ell in (1, 2, 4, 8, 16, 64)]
    assert all(e2 < e1 for e1, e2 in itertools.pairwise(errors) if e1 > 1e-12), errors
    assert errors[-1] < 1e-8
    # ℓ = 1 is the diagonal scan itself; the fixed point is not diagonal
    assert float(form.offdiag_fraction(form.truncated(1)).max()) == 0.0
    assert float(form.offdiag_fraction(a).mean()) > 0.01


def test_fixed_point_model_reports_iterations_and_shift_is_state_dependent() -> None:
    probe = make_probe("modular_sum", m=3)
    for shift in (False, True):
        cfg = ModelConfig(
            mixer="diag_rnn", eig_range="complex", width=8, layers=1, fp_iters=6, fp_shift=shift
        )
        model = build_model(cfg, 3, 3, device="cpu")
        report = inspect_model(model, probe, lengths=[4, 12], batch=8)
        (layer,) = report.layers
        assert layer.mixer == "fixed_point(diag_rnn)"
        assert [r["length"] for r in layer.iterations] == [4, 12]
        assert all(1 <= r["mean_iters"] <= r["max_iters"] <= r["cap"] + 1 for r in layer.iterations)
        assert len(layer.iterations[1]["per_position"]) == 12
        if shift:
            assert layer.found is None and "state" in layer.note and not layer.eigenvalues
        else:
            assert set(layer.summary["offdiag_fraction_truncated"]) == {"1", "2", "4", "6"}
            assert layer.summary["offdiag_fraction_truncated"]["1"] == 0.0
            assert layer.summary["modulus"] == 3 and layer.found is not None
        json.dumps(report.to_dict())


# --------------------------------------------------------------------------------------------
# other mixers and the expectations table
# --------------------------------------------------------------------------------------------


def test_nonlinear_mixer_has_no_transition_but_keeps_the_accuracy_line(tmp_path: Path) -> None:
    cfg = ModelConfig(mixer="lstm", width=8, layers=2)
    model = build_model(cfg, 2, 2, device="cpu")
    report = inspect_model(model, make_probe("parity"), lengths=[5, 8], batch=4)
    assert isinstance(report, InspectReport) and [a.length for a in report.accuracy] == [5, 8]
    assert len(report.layers) == 2
    for layer in report.layers:
        assert layer.found is None and "no linear transition to inspect" in layer.note
    assert all(row[4] == "—" for row in format_table(report))
    (png,) = plot_report(report, tmp_path / "lstm.png")
    assert png.stat().st_size > 0


@pytest.mark.parametrize(
    ("facts", "transition", "eig_range", "n_h", "mode"),
    [
        ({"modulus": 2}, "diagonal_real", "signed", None, "mechanism"),
        ({"modulus": 2}, "diagonal_real", "unit", None, "absent"),
        ({"modulus": 3}, "diagonal_real", "signed", None, "absent"),
        ({"modulus": 3}, "diagonal_complex", "complex", None, "mechanism"),
        ({"modulus": 3}, "householder_product", "signed", 1, "absent"),
        ({"modulus": 3}, "householder_product", "signed", 2, "mechanism"),
        ({"group": "A5", "order": 60, "abelian": False}, "householder_product", "signed", 2, "mechanism"),
        ({"group": "A5", "order": 60, "abelian": False}, "householder_product", "unit", 2, "absent"),
        ({"group": "A5", "order": 60, "abelian": False}, "diagonal_complex", "complex", None, "none"),
        ({"group": "Z5", "order": 5, "abelian": True, "exponent": 5}, "dense", None, None, "mechanism"),
        ({}, "diagonal_real", "signed", None, "none"),
        ({"modulus": 2}, "nonlinear", None, None, "none"),
    ],
)
def test_expectations(
    facts: dict[str, Any], transition: str, eig_range: str | None, n_h: int | None, mode: str
) -> None:
    exp = expectation_for(facts, transition, eig_range, n_h)
    assert exp.mode == mode and exp.text
    if mode != "none":
        assert exp.judge({exp.criterion: 1.0})[0] is (mode == "mechanism")
        assert exp.judge({exp.criterion: 0.0})[0] is (mode == "absent")


def test_spectrum_summary_angles_and_flips() -> None:
    lam = torch.tensor([[-1.0 + 0j, 0.5 + 0j], [complex(math.cos(2.1), math.sin(2.1)), 1.0 + 0j]])
    s = spectrum_summary(lam.numpy(), modulus=3)
    assert s["tokens_near_minus_one"] == 0.5 and s["frac_sign_flip"] == 0.25
    assert s["tokens_target_rotation"] == 0.5  # 2.1 rad is within 0.15 of 2π/3; −1 is not a Z3 rotation
    assert s["tokens_nontrivial_unit"] == 1.0 and s["spectral_radius"] == pytest.approx(1.0)


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04garbage" * 10])
def test_a_corrupt_checkpoint_is_one_line(tmp_path: Path, content: bytes) -> None:
    from typer.testing import CliRunner

    from archlab.cli import app

    (tmp_path / "result.json").write_text(json.dumps({"probe_name": "parity", "model": {"mixer": "lstm"}}))
    (tmp_path / "checkpoint.pt").write_bytes(content)
    with pytest.raises(ArchlabError, match=r"checkpoint\.pt: not a readable checkpoint"):
        load_run(tmp_path)
    r = CliRunner().invoke(app, ["theory", "inspect", str(tmp_path)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert len([line for line in r.stderr.strip().splitlines() if line.strip()]) == 1
