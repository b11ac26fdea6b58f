"""Groups by name beyond Z/S/A/D, and groups given by generators: facts against hand values."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from archlab.errors import ConfigError
from archlab.probes import make_probe
from archlab.probes.groups import MAX_ORDER, get_group
from archlab.theory import probe_facts

# order, abelian, solvable, derived length, exponent, nilpotent, elements of order 2 — from the
# groups' definitions (e.g. Q8 = {±1, ±i, ±j, ±k}: only −1 squares to 1 ≠ it; GL(2,3) has 13
# involutions: −I, 12 reflections-like matrices of det −1; PSL(2,7): 21; F20: the 5 maps x ↦ −x + b)
HAND = {
    "Q8": (8, False, True, 2, 4, True, 1),
    "Q16": (16, False, True, 2, 8, True, 1),
    "Dic3": (12, False, True, 2, 12, False, 1),
    "SL(2,3)": (24, False, True, 3, 12, False, 1),
    "GL(2,3)": (48, False, True, 4, 24, False, 13),
    "PSL(2,7)": (168, False, False, None, 84, False, 21),
    "F20": (20, False, True, 2, 20, False, 5),
    "D2": (4, True, True, 1, 2, True, 3),
    "perm:(0 1 2)(3 4),(0 1)": (12, False, True, 2, 6, False, 7),  # S3 × Z2
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_named_group_facts(name: str) -> None:
    g = get_group(name)
    f = g.facts
    orders = Counter(int(g.permutation(i).order()) for i in range(g.order))
    keys = ("order", "abelian", "solvable", "derived_length", "exponent", "nilpotent")
    got = (*(f[k] for k in keys), orders[2])
    assert got == HAND[name]


def test_aliases_and_second_constructions() -> None:
    assert get_group("AGL(1,5)").name == "F20" and get_group("agl(1,5)").name == "F20"
    assert get_group("Q8").name == "Q8" and get_group("dic2").order == 8  # Dic2 = Q8
    # a second construction: perm generators of S3 give the same facts as the named S3
    s3 = get_group("perm:(0 1 2),(0 1)").facts
    named = get_group("S3").facts
    assert all(s3[k] == named[k] for k in ("order", "abelian", "solvable", "derived_length", "exponent"))
    # D2 is the Klein four-group, Z2 × Z2
    assert get_group("D2").facts["exponent"] == get_group("Z2xZ2").facts["exponent"] == 2


@pytest.mark.parametrize("name", ["Q8", "SL(2,3)", "perm:(0 1 2)(3 4),(0 1)"])
def test_word_problem_on_named_groups(name: str) -> None:
    probe = make_probe(name)
    rng = np.random.default_rng(0)
    draws = probe.draw(rng, 16, 30)
    fast, ref = probe.build(draws, 16, 30), probe.build_reference(draws, 16, 30)
    np.testing.assert_array_equal(fast.targets, ref.targets)
    facts = probe_facts(probe)
    assert facts.order == get_group(name).order and facts.group == get_group(name).name


def test_theory_facts_for_new_groups() -> None:
    assert probe_facts(make_probe("PSL(2,7)")).solvable is False
    assert probe_facts(make_probe("Q8")).extra["so3_type"] is None  # Q8 is no subgroup of SO(3)
    assert probe_facts(make_probe("D2")).extra["so3_type"] == "dihedral"


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("perm:(0 1 x)", "cannot read the generator"),
        ("perm:(0 1 0)", "not a permutation"),
        ("perm:", "no generators"),
        ("perm:(0 300)", "moves point 300"),
        ("Q12", "order 2\\^k"),
        ("Dic1", "n ≥ 2"),
        ("perm:(0 1 2 3 4 5 6 7),(0 1)", f"order <= {MAX_ORDER}"),  # S8: 40 320 elements
    ],
)
def test_bad_group_input_names_the_field_and_the_limit(name: str, match: str) -> None:
    with pytest.raises(ConfigError, match="word_problem.group") as e:
        get_group(name)
    assert e.match(match)
