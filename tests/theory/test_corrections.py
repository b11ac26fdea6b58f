"""The four contradictions with published results (issue 16), each pinned by a test."""

from __future__ import annotations

import numpy as np
import pytest

from archlab.config import ModelConfig
from archlab.probes import make_probe
from archlab.theory import predict, probe_facts
from archlab.theory.rules import dyck_stack_depth

IMP, E, U = "impossible", "expressible", "unknown"
DIAG2 = {"mixer": "diag_rnn", "eig_range": "signed", "layers": 2}
LSTM = {"mixer": "lstm", "layers": 1}


def _depths(probe_params: dict[str, object], n: int, length: int) -> np.ndarray:
    probe = make_probe("dyck", **probe_params)
    batch = probe.sample(np.random.default_rng(0), n, length)
    k = int(probe_params.get("k", 2))  # type: ignore[call-overload]
    step = np.where(batch.tokens < k, 1, -1)
    return np.cumsum(step, axis=1).max(axis=1)


# -- 1. Dyck depth ------------------------------------------------------------------------------


def test_unbounded_dyck_nests_far_beyond_max_depth() -> None:
    """The default walk is not bounded by max_depth (it only caps the depth label)."""
    deepest = _depths({"k": 2, "p_error": 0.0}, 2000, 1000)
    assert (deepest > 8).mean() > 0.99 and deepest.max() > 30


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_bounded_dyck_never_exceeds_max_depth(k: int) -> None:
    params = {"k": k, "bounded": True, "max_depth": 4, "p_error": 0.0, "p_open": 0.7}
    deepest = _depths(params, 10_000, 200)
    assert deepest.max() == 4  # reached, never exceeded, on 10⁴ sequences
    probe = make_probe("dyck", **params)
    rng = np.random.default_rng(1)
    draws = probe.draw(rng, 64, 200)
    fast, ref = probe.build(draws, 64, 200), probe.build_reference(draws, 64, 200)
    np.testing.assert_array_equal(fast.tokens, ref.tokens)
    np.testing.assert_array_equal(fast.targets, ref.targets)


def test_facts_say_bounded_only_when_generation_is() -> None:
    assert probe_facts(make_probe("dyck", k=2, max_depth=8)).bounded_depth is None
    assert not probe_facts(make_probe("dyck", k=2)).regular
    bounded = probe_facts(make_probe("dyck", k=2, max_depth=8, bounded=True))
    assert bounded.bounded_depth == 8 and bounded.regular


@pytest.mark.parametrize("model", [DIAG2, LSTM], ids=["diag_rnn 2 layers", "lstm"])
def test_unbounded_dyck2_is_not_called_expressible(model: dict[str, object]) -> None:
    pred = predict(make_probe("dyck", k=2), ModelConfig(**model), [1000])[0]
    assert pred.verdict != E, (pred.rule, pred.reason)
    bounded = predict(make_probe("dyck", k=2, bounded=True), ModelConfig(**model), [1000])[0]
    assert bounded.verdict == E and bounded.rule in ("R9", "R12")


def test_finite_state_bound_on_unbounded_dyck() -> None:
    """4 real floats × 24 significand bits = 96 bits: stacks of 2 bracket kinds up to depth 96,
    so exact on every input up to length 193 and not at 194."""
    small = ModelConfig(mixer="diag_rnn", eig_range="signed", state_size=4, layers=1)
    fits, over = predict(make_probe("dyck", k=2), small, [193, 194])
    assert dyck_stack_depth(96, 2) == 96 and dyck_stack_depth(96, 4) == 48
    assert (fits.verdict, fits.rule) == (U, "R25") and fits.max_length == 193
    assert (over.verdict, over.rule, over.scope) == (IMP, "R25", "length") and over.max_length == 193
    # attention keeps the whole context: the fixed-state argument does not apply
    att = predict(make_probe("dyck", k=2), ModelConfig(mixer="attention"), [194])[0]
    assert att.rule != "R25"


# -- 2. the token set decides the reflections ---------------------------------------------------


def _hh(n_h: int, layers: int = 1, eig: str = "signed") -> ModelConfig:
    return ModelConfig(mixer="householder", householder_factors=n_h, eig_range=eig, layers=layers)


def test_swaps_only_s5_needs_one_reflection() -> None:
    """Grazzi Fig. 4: 1-layer DeltaNet[−1,1] fully learns swaps-only S5."""
    swaps = make_probe("S5", generators="transpositions")
    assert probe_facts(swaps).reflections_needed == 1
    pred = predict(swaps, _hh(1), [64])[0]
    assert (pred.verdict, pred.rule) == (E, "R5")


@pytest.mark.parametrize(("n_h", "expected"), [(1, IMP), (3, IMP), (4, E)])
def test_all_of_s5_needs_four_reflections_in_one_layer(n_h: int, expected: str) -> None:
    facts = probe_facts(make_probe("S5"))
    assert facts.reflections_needed == 4 and facts.reflections_lower_bound == 4
    assert predict(make_probe("S5"), _hh(n_h), [64])[0].verdict == expected


def test_reflections_follow_n_minus_cycles() -> None:
    """n − #cycles per token, checked by hand: a 3-cycle of S5 needs 2, a transposition 1."""
    a5 = probe_facts(make_probe("A5"))
    assert a5.token_reflections == 4 and a5.reflections_needed == 2  # SO(3) caps it at 2
    assert probe_facts(make_probe("S3")).token_reflections == 2  # the 3-cycles of S3


# -- 3. products of reflections rotate ---------------------------------------------------------


@pytest.mark.parametrize("layers", [1, 2, 4])
def test_single_reflections_are_not_ruled_out_on_mod3(layers: int) -> None:
    """Grazzi App. D: 2-layer DeltaNet[−1,1] adds mod m; Table 3: 0.971 on modular arithmetic."""
    pred = predict(make_probe("modular_sum", m=3), _hh(1, layers), [64])[0]
    assert pred.verdict != IMP, (pred.rule, pred.reason)


def test_real_diagonal_still_cannot_count_mod3() -> None:
    pred = predict(make_probe("modular_sum", m=3), ModelConfig(mixer="diag_rnn", eig_range="signed"), [64])[0]
    assert (pred.verdict, pred.rule) == (IMP, "R3")


def test_three_psd_factors_are_not_ruled_out() -> None:
    """Grazzi Prop 1 keeps [0,1] eigenvalues for ≤ 2 factors only."""
    assert predict(make_probe("parity"), _hh(2, eig="unit"), [64])[0].verdict == IMP
    assert predict(make_probe("parity"), _hh(3, eig="unit"), [64])[0].verdict != IMP


# -- 4. asymptotic versus per-length --------------------------------------------------------------


def test_r7_is_asymptotic_and_a_finite_success_is_consistent() -> None:
    from archlab.theory import Measurement, agreement

    diag = ModelConfig(mixer="diag_rnn", eig_range="complex", layers=2)
    pred = predict(make_probe("A5"), diag, [24])[0]
    assert (pred.verdict, pred.rule, pred.scope) == (IMP, "R7", "asymptotic")
    solved = Measurement(pred.probe, pred.model, 24, [0.2, 0.99], train_max=16)
    cell = agreement([pred], [solved]).cells[0]
    assert cell.cls == "bound-not-reached"  # reported, never a violation


def test_r1_is_a_statement_about_every_length() -> None:
    unit = ModelConfig(mixer="diag_rnn", eig_range="unit")
    pred = predict(make_probe("parity"), unit, [64])[0]
    assert (pred.rule, pred.scope) == ("R1", "length-gen")
