"""Group word problems: sympy facts, the multiplication table, naming, options."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sympy.combinatorics import Permutation

from archlab.errors import ConfigError, UnknownNameError
from archlab.probes import make_probe
from archlab.probes.groups import get_group, group_facts, parse_group_name

# THEORY.md §2 (checked with sympy 1.14): order, abelian, solvable, derived length, max reflections.
THEORY_TABLE = {
    "Z2": (2, True, True, 1, 1),
    "S3": (6, False, True, 2, 2),
    "A4": (12, False, True, 2, 2),
    "S4": (24, False, True, 3, 3),
    "A4xZ5": (60, False, True, 2, None),
    "A5": (60, False, False, None, 4),
    "S5": (120, False, False, None, 4),
}


@pytest.mark.parametrize("name", THEORY_TABLE)
def test_facts_match_theory_table(name: str) -> None:
    order, abelian, solvable, derived, reflections = THEORY_TABLE[name]
    f = group_facts(name)
    assert (f["order"], f["abelian"], f["solvable"], f["derived_length"]) == (
        order,
        abelian,
        solvable,
        derived,
    )
    if reflections is not None:
        assert f["max_reflections_perm_rep"] == reflections


def test_cyclic_facts() -> None:
    for m in (3, 5, 60):
        f = group_facts(f"Z{m}")
        assert f["order"] == m and f["abelian"] and f["cyclic"] and f["derived_length"] == 1
    assert group_facts("A5")["perfect"] and not group_facts("S5")["perfect"]
    assert group_facts("D4")["order"] == 8  # D<n> is the symmetry group of the n-gon, order 2n


@pytest.mark.parametrize("name", ["S3", "A4", "D4", "Z6", "S3xZ2"])
def test_table_matches_sympy_exhaustively(name: str) -> None:
    g = get_group(name)
    perms = [g.permutation(i) for i in range(g.order)]
    for a, b in itertools.product(range(g.order), repeat=2):
        assert perms[g.table[a, b]] == perms[a] * perms[b]


@pytest.mark.parametrize("name", ["S5", "A4xZ5", "Z60"])
def test_table_matches_sympy_on_random_pairs(name: str) -> None:
    g = get_group(name)
    rng = np.random.default_rng(0)
    for a, b in rng.integers(0, g.order, size=(300, 2)):
        assert g.permutation(g.table[a, b]) == g.permutation(a) * g.permutation(b)


def test_identity_is_id_zero_and_ids_round_trip() -> None:
    g = get_group("S4")
    assert g.elements[0].tolist() == [0, 1, 2, 3]
    for i in range(g.order):
        assert g.id_of(g.elements[i]) == i
    with pytest.raises(KeyError):
        g.id_of([0, 0, 1, 2])


def test_docstring_example_s3() -> None:
    """(0 1)·(1 2) = (0 2 1) and (0 2 1)·(0 1) = (0 2), applying the left factor first."""
    probe = make_probe("S3")
    g = probe.group
    ids = [g.id_of(Permutation(c, size=3).array_form) for c in ([[0, 1]], [[1, 2]], [[0, 1]])]
    draws = {"choice": np.array(ids, dtype=np.uint16)[:, None]}
    b = probe.build(draws, 1, 3)
    labels = g.cycle_labels()
    assert [labels[t] for t in b.targets[0]] == ["(0 1)", "(0 2 1)", "(0 2)"]


def test_prefix_product_is_state_times_token() -> None:
    probe = make_probe("A4xZ5")
    b = probe.sample(np.random.default_rng(1), 4, 40)
    g = probe.group
    for row_t, row_y in zip(b.tokens, b.targets, strict=True):
        assert row_y[0] == row_t[0]
        for t in range(1, 40):
            assert row_y[t] == g.table[row_y[t - 1], row_t[t]]


def test_names_are_case_insensitive_and_canonical() -> None:
    assert make_probe("s5").spec() == "S5"
    assert make_probe("a4xz5").group.name == "A4xZ5"
    assert make_probe("word_problem", group="s3").spec() == "S3"
    assert parse_group_name("z2xz2")[0] == "Z2xZ2"


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("Z1", r"word_problem.group: Z1: the cyclic group needs n >= 2"),
        ("A2", r"needs n >= 3"),
        ("S8", r"order 40320, too large to tabulate \(allowed: order <= 5040\)"),
        ("S4xS4xS4", r"too large"),
    ],
)
def test_impossible_groups_name_the_field(name: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_probe(name)


def test_unknown_name_lists_valid_and_closest() -> None:
    with pytest.raises(UnknownNameError) as info:
        make_probe("paritty")
    assert info.value.closest == "parity"
    assert "word_problem" in str(info.value) and "any finite group name" in str(info.value)
    with pytest.raises(ConfigError, match="not a group name"):
        make_probe("word_problem", group="X8")  # Q8 is a named group now


def test_generator_sets() -> None:
    s5 = make_probe("S5", generators="transpositions")
    toks = np.unique(s5.sample(np.random.default_rng(0), 16, 64).tokens)
    assert len(toks) == 10  # the 10 transpositions of S5
    assert all(len(Permutation(s5.group.elements[t].tolist()).cyclic_form) == 1 for t in toks)
    gens = make_probe("A5", generators="generators")
    assert set(np.unique(gens.sample(np.random.default_rng(0), 8, 64).tokens)) <= set(gens.token_ids.tolist())
    assert len(gens.token_ids) == len(gens.group.sympy_group.generators)
    assert 0 not in make_probe("S3", generators="nonidentity").sample(np.random.default_rng(0), 8, 64).tokens
    with pytest.raises(ConfigError, match="word_problem.generators: A5 contains no transpositions"):
        make_probe("A5", generators="transpositions")
    with pytest.raises(ConfigError, match="word_problem.generators"):
        make_probe("S5", generators="some")


def test_final_only_scores_last_position() -> None:
    b = make_probe("S3", final_only=True).sample(np.random.default_rng(0), 4, 9)
    assert b.mask[:, -1].all() and not b.mask[:, :-1].any()


def test_group_given_twice_is_an_error() -> None:
    with pytest.raises(ConfigError, match="given twice"):
        make_probe("S5", group="A5")
