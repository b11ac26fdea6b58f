"""The theory rules checked against each other and against THEORY.md §5's worked verdicts."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from archlab.config import ModelConfig
from archlab.errors import ConfigError
from archlab.models.model import model_features
from archlab.probes import PROBES, make_probe
from archlab.theory import RULES, predict, predict_one, probe_facts, rule_by_id
from archlab.theory.facts import so3_type

HH = {"mixer": "householder", "layers": 1}
FAMILIES: dict[str, dict[str, Any]] = {
    "diag [0,1]": {"mixer": "diag_rnn", "eig_range": "unit"},
    "diag [-1,1]": {"mixer": "diag_rnn", "eig_range": "signed"},
    "diag complex": {"mixer": "diag_rnn", "eig_range": "complex"},
    "hh2 [-1,1]": {**HH, "householder_factors": 2, "eig_range": "signed"},
    "hh4 [-1,1]": {**HH, "householder_factors": 4, "eig_range": "signed"},
    "hh2 [0,1]": {**HH, "householder_factors": 2, "eig_range": "unit"},
    "hh4 [0,1]": {**HH, "householder_factors": 4, "eig_range": "unit"},
    "lstm": {"mixer": "lstm", "layers": 1},
    "dense": {"mixer": "dense_rnn", "layers": 1},
    "transformer": {"mixer": "attention", "pos_enc": "rope"},
}
IMP, E, U = "impossible", "expressible", "unknown"
# THEORY.md §5, group by group (Z2 = parity). S3 with a complex diagonal model: R8 says expressible
# in principle with depth, so theory has no verdict (unknown) — §5's "not S3" is the empirical side.
SECTION5 = {
    "diag [0,1]": {"Z2": IMP, "Z3": IMP, "S3": IMP, "A4": IMP, "A5": IMP, "S5": IMP},
    "diag [-1,1]": {"Z2": E, "Z3": IMP, "S3": IMP, "A5": IMP, "S5": IMP},
    "diag complex": {"Z3": E, "Z5": E, "Z60": E, "S3": U, "A5": IMP, "S5": IMP},
    "hh2 [-1,1]": {"Z2": E, "Z3": E, "S3": E, "A4": E, "S4": E, "A5": E, "S5": IMP},
    "hh4 [-1,1]": {"S5": E, "A5": E},
    # Z3 has no element of even order, so Grazzi Thm 1 (parity) does not reach it, and products of
    # several PSD factors over time can have non-real eigenvalues (Thm 2 does not either)
    "hh2 [0,1]": {"Z2": IMP, "Z3": U, "S3": IMP, "A5": IMP, "S5": IMP},
    # Grazzi Prop 1 keeps eigenvalues in [0,1] for products of at most 2 factors only (THEORY.md
    # Corrections, R6): with 4 factors per token no theorem decides
    "hh4 [0,1]": {"Z2": U, "A5": U, "S5": U},
    "lstm": {"Z2": E, "Z3": E, "S3": E, "A5": E, "S5": E, "Z60": E, "A4xZ5": E},
    "dense": {"Z2": E, "Z3": E, "S3": E, "A5": E, "S5": E},
    "transformer": {"A5": IMP, "S5": IMP, "Z2": U},
}
CASES = [(fam, g, v) for fam, row in SECTION5.items() for g, v in row.items()]


def _verdict(probe: str, model: dict[str, Any], length: int = 64, **params: Any) -> Any:
    return predict(make_probe(probe, **params), ModelConfig(**model), [length])[0]


@pytest.mark.parametrize(("family", "group", "expected"), CASES, ids=[f"{f}-{g}" for f, g, _ in CASES])
def test_section5_verdicts(family: str, group: str, expected: str) -> None:
    pred = _verdict(group, FAMILIES[family])
    assert pred.verdict == expected, (pred.rule, pred.reason)
    assert pred.conflict is None
    if expected != U:
        assert pred.rule.startswith("R") and pred.citation


def test_parity_probe_is_the_z2_word_problem() -> None:
    assert _verdict("parity", FAMILIES["diag [0,1]"]).rule == "R1"
    assert _verdict("parity", FAMILIES["diag [-1,1]"]).rule == "R2"
    assert _verdict("modular_sum", FAMILIES["diag [-1,1]"], m=3).rule == "R3"
    assert _verdict("modular_sum", FAMILIES["diag [-1,1]"], m=4).verdict == U  # 4 is a power of 2


ZOO = [
    *FAMILIES.values(),
    {"mixer": "gru"},
    {"mixer": "elman"},
    {"mixer": "conv"},
    {"mixer": "diag_rnn", "eig_range": "signed", "fp_iters": 4},
    {"mixer": "diag_rnn", "eig_range": "signed", "fp_iters": 8, "fp_eval_iters": 64, "fp_shift": True},
    {"mixer": "diag_rnn", "hier_levels": 2},
    {"mixer": "attention", "prune": True},
    {"mixer": "householder", "householder_factors": 1, "eig_range": "signed"},
    *(
        {"mixer": m, "eig_range": e}
        for m in ("mamba", "mamba2", "gated_deltanet")
        for e in ("unit", "signed")
    ),
    {"mixer": "gated_deltaproduct", "eig_range": "signed", "householder_factors": 4},
    {"mixer": "mlstm"},
    {"mixer": "slstm"},
]
PROBE_NAMES = [*PROBES.names(), "Z2", "Z3", "Z60", "S3", "A4", "A4xZ5", "A5", "S5", "D4"]


@pytest.mark.parametrize("probe", PROBE_NAMES)
def test_no_rule_conflicts_anywhere(probe: str) -> None:
    """No (probe, model, length) cell is both impossible and expressible."""
    p = make_probe(probe)
    facts = probe_facts(p)
    for m in ZOO:
        for pred in predict(p, ModelConfig(**m), [8, 64, 1024], facts=facts):
            assert pred.verdict in (IMP, E, U)
            assert pred.conflict is None, (probe, m, pred.conflict)


def test_rule_table_covers_r1_to_r17_with_citations() -> None:
    ids = [r.id for r in RULES]
    assert [f"R{i}" for i in range(1, 18)] == ids[:17]
    for r in RULES:
        assert r.citation and r.statement and r.assumptions
    assert rule_by_id("r7").id == "R7"


def test_copy_capacity_bound_is_exact_at_the_boundary() -> None:
    # 4 real floats × 24 significand bits = 96 bits; alphabet 8 = 3 bits per token: L ≤ 32 fits
    small = {"mixer": "diag_rnn", "eig_range": "signed", "state_size": 4, "layers": 1}
    fits, over = predict(make_probe("copy", alphabet=8), ModelConfig(**small), [32, 33])
    assert (fits.verdict, over.verdict) == (U, IMP)
    assert over.rule == "R13" and over.scope == "length" and "99 bits" in over.reason
    assert fits.max_length == over.max_length == 32
    assert _verdict("copy", {"mixer": "attention"}, 1000, alphabet=8).verdict == E


def test_mqar_capacity_does_not_depend_on_length() -> None:
    small = {"mixer": "diag_rnn", "state_size": 2, "layers": 1}  # 48 bits < 16·log2(32) = 80
    preds = predict(make_probe("mqar", n_pairs=16), ModelConfig(**small), [64, 256])
    assert [p.verdict for p in preds] == [IMP, IMP] and preds[0].rule == "R14"
    big = {"mixer": "diag_rnn", "state_size": 64, "layers": 1}
    assert _verdict("mqar", big, n_pairs=16).verdict == U


def test_fixed_point_cap_against_length() -> None:
    fp = {"mixer": "diag_rnn", "eig_range": "signed", "fp_iters": 4, "fp_eval_iters": 32, "fp_shift": True}
    below, above = predict(make_probe("A5"), ModelConfig(**fp), [32, 64])
    # a cap ≥ the length need not reach the fixed point (Movahedi et al. state no such thing)
    assert (below.verdict, below.rule) == (U, "R10") and "need not reach" in below.reason
    # a cap below the length is fixed depth: R7, an asymptotic statement
    assert (above.verdict, above.rule, above.scope) == (IMP, "R7", "asymptotic")


def test_convolution_receptive_field() -> None:
    conv = {"mixer": "conv", "conv_kernel": 3, "conv_depth": 2, "layers": 1}  # rf 1 + 2·3 = 7
    inside, outside = predict(make_probe("parity"), ModelConfig(**conv), [7, 8])
    assert inside.rule != "R18" and (outside.verdict, outside.rule) == (IMP, "R18")
    assert outside.max_length == 7


def test_hierarchy_leaves_linear_rnn_theorems_unapplied() -> None:
    pred = _verdict("parity", {"mixer": "diag_rnn", "eig_range": "unit", "hier_levels": 2})
    assert pred.verdict == U


def test_unknown_transition_gives_unknown() -> None:
    p = make_probe("parity")
    feats = model_features(ModelConfig(mixer="lstm"), p.vocab_size, p.n_classes)
    feats = dataclasses.replace(feats, transition="quantum")
    pred = predict_one(probe_facts(p), feats, 64)
    assert pred.verdict == U and "unknown transition" in pred.reason


@pytest.mark.parametrize(
    ("group", "kind"),
    [("Z5", "cyclic"), ("S3", "dihedral"), ("D4", "dihedral"), ("Z2xZ2", "dihedral"), ("A4", "A4"),
     ("S4", "S4"), ("A5", "A5"), ("S5", None), ("A4xZ5", None), ("Z2xZ4", None)],
)  # fmt: skip
def test_so3_classification(group: str, kind: str | None) -> None:
    assert so3_type(group) == kind


def test_probe_facts_information_as_sympy() -> None:
    f = probe_facts(make_probe("copy", alphabet=8))
    assert str(f.info_bits) == "3*L" and f.info_bits_at(10) == 30
    assert probe_facts(make_probe("mqar", n_pairs=16, vocab=64)).info_bits_at(999) == 80
    a5 = probe_facts(make_probe("A5", generators="generators"))
    assert (a5.solvable, a5.embeds_so3, a5.reflections_needed) == (False, True, 2)
    assert a5.token_orders == (3, 5)


def test_too_large_group_names_the_limit() -> None:
    with pytest.raises(ConfigError, match="5040"):
        probe_facts(make_probe("S8"))


#: the published architectures (issue 21): the rule that decides each cell, as the papers put it
PUBLISHED_MODELS = [
    # Grazzi et al. Thm 1 (R1) for the non-negative diagonal ones, §4 (R2) for the signed ones
    ({"mixer": "mamba"}, "parity", IMP, "R1"),
    ({"mixer": "mamba", "eig_range": "signed"}, "parity", E, "R2"),
    ({"mixer": "mamba2"}, "parity", IMP, "R1"),
    ({"mixer": "mamba2", "eig_range": "signed"}, "parity", E, "R2"),
    ({"mixer": "mlstm"}, "parity", IMP, "R1"),
    ({"mixer": "gated_deltanet"}, "parity", IMP, "R1"),
    ({"mixer": "gated_deltanet", "eig_range": "signed"}, "parity", E, "R2"),
    # real eigenvalues only (diagonal): no counting mod 3 (R3)
    ({"mixer": "mamba", "eig_range": "signed"}, "Z3", IMP, "R3"),
    # sLSTM is a nonlinear RNN: any regular language in one layer (Merrill et al., R9)
    ({"mixer": "slstm"}, "S5", E, "R9"),
    ({"mixer": "slstm"}, "parity", E, "R9"),
    # DeltaProduct with 4 signed factors, one layer: S5 (R5)
    (
        {"mixer": "gated_deltaproduct", "eig_range": "signed", "householder_factors": 4, "layers": 1},
        "S5",
        E,
        "R5",
    ),
    # A5 for Mamba[-1,1]: its order-3 elements already need a rotation (R3 decides before R7)
    ({"mixer": "mamba", "eig_range": "signed"}, "A5", IMP, "R3"),
]


@pytest.mark.parametrize(
    ("model", "probe", "verdict", "rule"),
    PUBLISHED_MODELS,
    ids=[f"{m['mixer']}-{m.get('eig_range', '')}-{p}" for m, p, _, _ in PUBLISHED_MODELS],
)
def test_published_models_are_classified(model: dict[str, Any], probe: str, verdict: str, rule: str) -> None:
    pred = _verdict(probe, model)
    assert (pred.verdict, pred.rule) == (verdict, rule), pred.reason
    assert pred.conflict is None
