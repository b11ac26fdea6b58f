"""Tests of the context-free probes: dyck, anbn, reverse_string, stack_manipulation,
modular_arithmetic_brackets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archlab.errors import ConfigError
from archlab.probes import make_probe
from archlab.probes.base import Batch, Probe
from archlab.probes.context_free import prev_in_level, reflected_walk

CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("dyck", {}),
    ("dyck", {"k": 1}),
    ("dyck", {"k": 1, "label": "depth", "max_depth": 3}),
    ("dyck", {"k": 5, "label": "depth", "p_error": 1.0}),
    ("dyck", {"k": 16, "p_open": 0.5}),
    ("dyck", {"k": 3, "p_open": 1.0, "label": "depth"}),
    ("dyck", {"k": 2, "p_open": 0.0, "p_error": 0.0}),
    ("anbn", {}),
    ("anbn", {"p_corrupt": 1.0}),
    ("reverse_string", {}),
    ("stack_manipulation", {}),
    ("modular_arithmetic_brackets", {}),
    ("modular_arithmetic_brackets", {"m": 2}),
    ("modular_arithmetic_brackets", {"m": 13}),
]


def cfg_id(cfg: tuple[str, dict[str, Any]]) -> str:
    return cfg[0] + "".join(f"-{k}={v}" for k, v in cfg[1].items())


def row_labels(probe: Probe, batch: Batch, row: int = 0) -> tuple[list[str], list[str]]:
    """Token labels and target labels of one row, with '.' for a masked target."""
    tl, ll = probe.token_labels(), probe.target_labels()
    toks = [tl[t] for t in batch.tokens[row].tolist()]
    pairs = zip(batch.targets[row].tolist(), batch.mask[row].tolist(), strict=True)
    tgts = [ll[y] if m else "." for y, m in pairs]
    return toks, tgts


def words(text: str) -> list[str]:
    return text.split()


def check_contract(probe: Probe, batch: Batch, n: int, length: int) -> None:
    t = probe.seq_len(length)
    assert batch.shape == (n, t)
    assert batch.tokens.dtype == np.int64 and batch.targets.dtype == np.int64 and batch.mask.dtype == bool
    assert batch.tokens.min() >= 0 and batch.tokens.max() < probe.vocab_size
    assert batch.targets.min() >= 0 and batch.targets.max() < probe.n_classes
    assert batch.mask.any(axis=1).all()
    assert (batch.targets[~batch.mask] == 0).all()


# --------------------------------------------------------------------------------------------
# helpers


def test_reflected_walk_never_negative_and_forces_opens() -> None:
    rng = np.random.default_rng(1)
    up = rng.random((50, 300)) < 0.3
    d = reflected_walk(up)
    prev = np.concatenate([np.zeros((50, 1), d.dtype), d[:, :-1]], axis=1)
    assert (d >= 0).all()
    assert (np.abs(d - prev) == 1).all()
    assert ((d > prev) == (up | (prev == 0))).all()


def test_prev_in_level_matches_brackets() -> None:
    word = "(()(()))()"
    d = np.cumsum([1 if c == "(" else -1 for c in word])[None, :]
    is_open = np.array([[c == "(" for c in word]])
    pos = np.arange(len(word))[None, :]
    match = prev_in_level(d + ~is_open, pos)
    stack, expected = [], {}
    for i, c in enumerate(word):
        if c == "(":
            stack.append(i)
        else:
            expected[i] = stack.pop()
    for close, open_ in expected.items():
        assert match[0, close] == open_


# --------------------------------------------------------------------------------------------
# dyck


def dyck_draws(word: str, k: int, error: int | None = None, shift: int = 0) -> dict[str, np.ndarray]:
    """Draws that generate the clean Dyck prefix ``word`` (k <= 4 types, brackets as shown),
    with the error placed at candidate number ``error``."""
    opens, closes = "([{<"[:k], ")]}>"[:k]
    ups = [int(c in opens) for c in word]
    # k a power of two: an open's kind is its type XOR the type of the previous open at its depth
    kinds, last, depth = [], [0] * (len(word) + 1), 0
    for c in word:
        if c in opens:
            typ = opens.index(c)
            kinds.append(typ ^ last[depth] if k & (k - 1) == 0 else typ)
            last[depth], depth = typ, depth + 1
        else:
            kinds.append(0)
            depth -= 1
    err = [0.0, 0.0, 0.0] if error is not None else [0.99, 0.0, 0.0]
    if error is not None:
        n_cand = (
            sum(1 for i, c in enumerate(word) if c in closes)
            if k > 1
            else sum(1 for i in range(len(word)) if word[:i].count("(") == word[:i].count(")"))
        )
        err = [0.0, (error + 0.5) / n_cand, (shift + 0.5) / (k - 1) if k > 1 else 0.0]
    return {
        "up": np.array([ups], dtype=np.uint8),
        "kind": np.array([kinds], dtype=np.uint8),
        "err": np.array([err]),
    }


def test_dyck_docstring_example() -> None:
    # clean word ( [ ] ) [ ] ( ; the third close (index 5) gets the wrong type
    draws = dyck_draws("([])[](", 2, error=2)
    bal = make_probe("dyck", k=2)
    b = bal.build(draws, 1, 7)
    toks, tgts = row_labels(bal, b)
    assert toks == list("([])[)(")
    assert tgts == words("0 0 0 1 0 0 0")
    assert b.equals(bal.build_reference(draws, 1, 7))
    dep = make_probe("dyck", k=2, label="depth", max_depth=8)
    b = dep.build(draws, 1, 7)
    assert row_labels(dep, b)[1] == words("1 2 1 0 1 invalid invalid")
    assert b.equals(dep.build_reference(draws, 1, 7))


def test_dyck_k1_error_is_close_at_depth_zero() -> None:
    probe = make_probe("dyck", k=1)
    # depth-0 opens of "(())()" are at 0 and 4; take the second
    draws = dyck_draws("(())()", 1, error=1)
    b = probe.build(draws, 1, 6)
    toks, tgts = row_labels(probe, b)
    assert "".join(toks) == "(())))"
    assert tgts == words("0 0 0 1 0 0")


def test_dyck_depth_saturates() -> None:
    probe = make_probe("dyck", k=1, label="depth", max_depth=2, p_error=0.0)
    draws = dyck_draws("((((", 1)
    b = probe.build(draws, 1, 4)
    assert row_labels(probe, b)[1] == ["1", ">=2", ">=2", ">=2"]
    assert probe.target_labels() == ["0", "1", ">=2", "invalid"]


def reduce_dyck(tokens: list[int], k: int) -> tuple[bool, int]:
    """(valid prefix?, depth) by repeatedly deleting adjacent matched pairs (no explicit stack)."""
    s = list(tokens)
    changed = True
    while changed:
        changed = False
        for i in range(len(s) - 1):
            if s[i] < k and s[i + 1] == s[i] + k:
                del s[i : i + 2]
                changed = True
                break
    return all(t < k for t in s), len(s)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_dyck_labels_by_pair_reduction(k: int) -> None:
    bal = make_probe("dyck", k=k)
    dep = make_probe("dyck", k=k, label="depth", max_depth=4)
    b = bal.sample(np.random.default_rng(k), 12, 16)
    d = dep.sample(np.random.default_rng(k), 12, 16)
    assert np.array_equal(b.tokens, d.tokens)
    for row in range(12):
        toks = b.tokens[row].tolist()
        for t in range(16):
            _, depth = reduce_dyck(toks[: t + 1], k)
            # once a prefix is invalid, every longer prefix counts as invalid
            valid = all(reduce_dyck(toks[: j + 1], k)[0] for j in range(t + 1))
            assert b.targets[row, t] == int(valid and depth == 0)
            assert d.targets[row, t] == (min(depth, 4) if valid else 5)


def test_dyck_errors_and_balance_occur() -> None:
    probe = make_probe("dyck")
    b = probe.sample(np.random.default_rng(0), 256, 128)
    frac = b.targets.mean()
    assert 0.03 < frac < 0.5
    final_ok = b.targets.sum(axis=1) > 0
    assert final_ok.any() and (~final_ok).any()
    dep = make_probe("dyck", label="depth")
    d = dep.sample(np.random.default_rng(0), 256, 128)
    counts = np.bincount(d.targets.ravel(), minlength=dep.n_classes)
    assert (counts > 0).all()
    assert counts.max() < 0.5 * d.targets.size


def test_dyck_token_labels_and_theory() -> None:
    assert make_probe("dyck", k=2).token_labels() == ["(", "[", ")", "]"]
    assert make_probe("dyck", k=6).token_labels()[4:8] == ["o4", "o5", ")", "]"]
    assert make_probe("dyck", k=1).theory.level == "counter"
    assert make_probe("dyck", k=2).theory.level == "context-free"
    assert make_probe("dyck", k=2).theory.to_dict()["bracket_types"] == 2


# --------------------------------------------------------------------------------------------
# anbn


def test_anbn_docstring_examples() -> None:
    probe = make_probe("anbn")
    draws = {"split": np.array([2]), "u": np.array([[0.99, 0.0]])}
    b = probe.build(draws, 1, 5)
    assert row_labels(probe, b) == (list("aabbb"), words("viable viable viable member dead"))
    assert b.equals(probe.build_reference(draws, 1, 5))
    draws = {"split": np.array([0]), "u": np.array([[0.0, 0.5]])}
    b = probe.build(draws, 1, 2)
    assert row_labels(probe, b) == (["b", "a"], ["dead", "dead"])


def anbn_class(w: str) -> int:
    n = len(w)
    if n % 2 == 0 and w == "a" * (n // 2) + "b" * (n // 2):
        return 2
    if any(("a" * m + "b" * m).startswith(w) for m in range(1, n + 1)):
        return 1
    return 0


def test_anbn_labels_by_brute_force_and_all_classes_occur() -> None:
    probe = make_probe("anbn")
    b = probe.sample(np.random.default_rng(3), 64, 12)
    for row in range(64):
        w = "".join("ab"[t] for t in b.tokens[row].tolist())
        assert b.targets[row].tolist() == [anbn_class(w[: t + 1]) for t in range(12)]
    assert set(np.unique(b.targets).tolist()) == {0, 1, 2}
    assert probe.theory.level == "counter"


# --------------------------------------------------------------------------------------------
# reverse_string


def test_reverse_string_docstring_example() -> None:
    probe = make_probe("reverse_string")
    draws = {"bits": np.array([[1, 1, 0]], dtype=np.uint8)}
    b = probe.build(draws, 1, 3)
    assert row_labels(probe, b) == (words("1 1 0 | _ _ _"), words(". . . . 0 1 1"))
    assert b.equals(probe.build_reference(draws, 1, 3))


def test_reverse_string_semantics() -> None:
    probe = make_probe("reverse_string")
    b = probe.sample(np.random.default_rng(0), 20, 9)
    assert probe.seq_len(9) == 19
    for row in range(20):
        w = b.tokens[row, :9].tolist()
        assert b.tokens[row, 9] == 2 and (b.tokens[row, 10:] == 3).all()
        assert b.targets[row, 10:].tolist() == w[::-1]
        assert b.mask[row].tolist() == [False] * 10 + [True] * 9


# --------------------------------------------------------------------------------------------
# stack_manipulation


def test_stack_manipulation_docstring_example() -> None:
    probe = make_probe("stack_manipulation")
    # stack 0 1 (bits), then POP (action 2) and PUSH1 (action 1)
    draws = {
        "stack_size": np.array([2]),
        "action": np.array([[0, 0, 2, 1]], dtype=np.uint8),
        "bit": np.array([[0, 1, 0, 0]], dtype=np.uint8),
    }
    b = probe.build(draws, 1, 4)
    toks, tgts = row_labels(probe, b)
    assert toks == words("0 1 POP PUSH1 | _ _ _ _")
    assert tgts == words(". . . . . 1 0 EMPTY EMPTY")
    assert b.equals(probe.build_reference(draws, 1, 4))


def test_stack_manipulation_semantics() -> None:
    probe = make_probe("stack_manipulation")
    n, length = 40, 10
    b = probe.sample(np.random.default_rng(5), n, length)
    tl = probe.token_labels()
    saw_empty_pop = False
    for row in range(n):
        words = [tl[t] for t in b.tokens[row].tolist()]
        assert words[length] == "|" and words[length + 1 :] == ["_"] * length
        # stack bits come first, then only actions
        kinds = ["bit" if w in "01" else "act" for w in words[:length]]
        assert kinds == sorted(kinds, key=lambda x: x == "act")
        s = ""
        for w in words[:length]:
            if w in "01":
                s += w
            elif w.startswith("PUSH"):
                s += w[-1]
            else:
                saw_empty_pop |= s == ""
                s = s[:-1]
        expected = [int(c) for c in reversed(s)] + [2] * (length - len(s))
        assert b.targets[row, length + 1 :].tolist() == expected
    assert saw_empty_pop
    assert set(np.unique(b.targets[b.mask]).tolist()) == {0, 1, 2}


# --------------------------------------------------------------------------------------------
# modular_arithmetic_brackets


def arith_draws(terms: list[tuple[str, int, int, int]], m: int, length: int) -> dict[str, np.ndarray]:
    """Draws for terms (op, opens, digit, wanted closes); unused slots get no brackets."""
    slots = length // 2
    level = {0: 255, 1: 50, 2: 0}
    digit = np.zeros((1, slots), dtype=np.uint16)
    shape = np.full((1, slots, 3), 255, dtype=np.uint8)
    for i, (op, o, d, c) in enumerate(terms):
        digit[0, i] = (d * 65536 + m - 1) // m
        shape[0, i] = (level[o], level[c], 200 if op == "-" else 0)
    return {"digit": digit, "shape": shape}


def test_modular_arithmetic_docstring_example() -> None:
    probe = make_probe("modular_arithmetic_brackets", m=5)
    draws = arith_draws([("", 1, 3, 0), ("-", 1, 4, 0), ("+", 0, 2, 2), ("-", 0, 1, 0)], 5, 13)
    b = probe.build(draws, 1, 13)
    toks, tgts = row_labels(probe, b)
    assert toks == words("( 3 - ( 4 + 2 ) ) - 1 = PAD")
    assert tgts == ["."] * 11 + ["1", "."]
    assert b.equals(probe.build_reference(draws, 1, 13))


def test_modular_arithmetic_first_term_is_positive() -> None:
    probe = make_probe("modular_arithmetic_brackets", m=5)
    draws = arith_draws([("-", 0, 3, 0)], 5, 2)
    b = probe.build(draws, 1, 2)
    assert row_labels(probe, b) == (["3", "="], [".", "3"])


def evaluate(words: list[str], m: int) -> int:
    """Independent check: Python's own parser evaluates the expression."""
    return int(eval(" ".join(words))) % m  # only digits, + - ( )


@pytest.mark.parametrize("m", [2, 5, 12])
def test_modular_arithmetic_semantics(m: int) -> None:
    probe = make_probe("modular_arithmetic_brackets", m=m)
    for length in (2, 3, 4, 5, 6, 7, 30, 61):
        b = probe.sample(np.random.default_rng(length), 30, length)
        for row in range(30):
            words = row_labels(probe, b, row)[0]
            eq = words.index("=")
            expr = words[:eq]
            assert set(words[eq + 1 :]) <= {"PAD"} and len(words) - eq - 1 <= 5
            assert b.mask[row].tolist() == [i == eq for i in range(length)]
            assert b.targets[row, eq] == evaluate(expr, m)
            # well formed: balanced, no "()" and no operator right after "(" or at the start
            depth = 0
            for i, w in enumerate(expr):
                depth += (w == "(") - (w == ")")
                assert depth >= 0
                if w in "+-":
                    assert i > 0 and expr[i - 1] not in "(+-"
            assert depth == 0


def test_modular_arithmetic_nests_and_uses_both_signs() -> None:
    probe = make_probe("modular_arithmetic_brackets")
    b = probe.sample(np.random.default_rng(0), 64, 100)
    words = [probe.token_labels()[t] for t in b.tokens.ravel().tolist()]
    assert {"(", ")", "+", "-"} <= set(words)
    assert len(np.unique(b.targets[b.mask])) == 5


# --------------------------------------------------------------------------------------------
# every probe: contract, edge lengths, reference equality, parameter errors


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_edge_lengths(cfg: tuple[str, dict[str, Any]]) -> None:
    probe = make_probe(cfg[0], **cfg[1])
    for length in range(probe.min_length, probe.min_length + 6):
        for n in (1, 3):
            b = probe.sample(np.random.default_rng(length), n, length)
            check_contract(probe, b, n, length)
            assert b.equals(probe.reference_sample(np.random.default_rng(length), n, length))
    with pytest.raises(ConfigError) as err:
        probe.sample(np.random.default_rng(0), 1, probe.min_length - 1)
    assert err.value.field == "length"


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_deterministic(cfg: tuple[str, dict[str, Any]]) -> None:
    probe = make_probe(cfg[0], **cfg[1])
    a = probe.sample(np.random.default_rng(7), 4, 40)
    assert a.equals(probe.sample(np.random.default_rng(7), 4, 40))
    assert not a.equals(probe.sample(np.random.default_rng(8), 4, 40))


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(0, 70), n=st.integers(1, 9))
def test_sample_matches_reference(cfg: tuple[str, dict[str, Any]], seed: int, length: int, n: int) -> None:
    probe = make_probe(cfg[0], **cfg[1])
    length = max(length, probe.min_length)
    a = probe.sample(np.random.default_rng(seed), n, length)
    check_contract(probe, a, n, length)
    assert a.equals(probe.reference_sample(np.random.default_rng(seed), n, length))


def test_long_rows_use_wide_levels() -> None:
    # depths beyond 255 (uint8 levels) and long rows
    probe = make_probe("dyck", k=3, p_open=0.9, label="depth", max_depth=400)
    a = probe.sample(np.random.default_rng(0), 2, 700)
    assert a.equals(probe.reference_sample(np.random.default_rng(0), 2, 700))
    assert a.targets.max() > 255
    probe = make_probe("modular_arithmetic_brackets")
    a = probe.sample(np.random.default_rng(0), 2, 600)
    assert a.equals(probe.reference_sample(np.random.default_rng(0), 2, 600))


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("dyck", {"k": 0}, "dyck.k"),
        ("dyck", {"k": 17}, "dyck.k"),
        ("dyck", {"label": "count"}, "dyck.label"),
        ("dyck", {"max_depth": 0}, "dyck.max_depth"),
        ("dyck", {"p_error": 1.5}, "dyck.p_error"),
        ("dyck", {"p_open": -0.1}, "dyck.p_open"),
        ("dyck", {"depth": 3}, "dyck.depth"),
        ("anbn", {"p_corrupt": 2}, "anbn.p_corrupt"),
        ("modular_arithmetic_brackets", {"m": 1}, "modular_arithmetic_brackets.m"),
        ("modular_arithmetic_brackets", {"m": "five"}, "modular_arithmetic_brackets.m"),
        ("reverse_string", {"m": 3}, "reverse_string.m"),
    ],
)
def test_parameter_errors(name: str, params: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_probe(name, **params)
    assert err.value.field == field


@pytest.mark.parametrize("k", [2, 4, 8, 16])
def test_dyck_xor_types_beyond_one_word(k: int) -> None:
    # depths past 64 / slot bits need the later words of the running XOR (rows reach them or not)
    probe = make_probe("dyck", k=k, p_open=0.8, label="depth", max_depth=400)
    for length in (17, 65, 140, 300):
        a = probe.sample(np.random.default_rng(length), 5, length)
        assert a.equals(probe.reference_sample(np.random.default_rng(length), 5, length))
    assert a.targets.max() > 64


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("n", [15, 16, 17, 31, 32, 33, 63, 64, 65, 129])
def test_dyck_word_boundaries(k: int, n: int) -> None:
    # n opens of random types, then the n matching closes: balanced exactly at the end
    rng = np.random.default_rng(n)
    word = "".join("([{<"[i] for i in rng.integers(0, k, n))
    word += "".join(")]}>"["([{<".index(c)] for c in reversed(word))
    probe = make_probe("dyck", k=k, p_error=0.0)
    b = probe.build(dyck_draws(word, k), 1, 2 * n)
    assert "".join(row_labels(probe, b)[0]) == word
    assert b.targets[0].tolist() == [0] * (2 * n - 1) + [1]
    assert b.equals(probe.build_reference(dyck_draws(word, k), 1, 2 * n))


@pytest.mark.parametrize(("n", "p"), [(1, 0.5), (13, 0.3), (100, 0.5), (33000, 0.5)])
def test_reflected_walk_matches_loop(n: int, p: float) -> None:
    # blocks of 8 steps, ragged ends, and 32-bit lanes from 2**15 steps on
    up = np.random.default_rng(n).random((2, n)) < p
    d = reflected_walk(up)
    for row in range(2):
        depth, expected = 0, []
        for u in up[row].tolist():
            depth = depth + 1 if depth == 0 or u else depth - 1
            expected.append(depth)
        assert d[row].tolist() == expected


@pytest.mark.parametrize("length", [40, 130, 400])
def test_modular_arithmetic_deep_rows(length: int) -> None:
    # mostly opens, few closes: depths past 32 (64-bit words) and past 64 (the row-by-row stack)
    rng = np.random.default_rng(length)
    slots = length // 2
    shape = rng.integers(0, 256, size=(6, slots, 3), dtype=np.uint8)
    shape[..., 0] = rng.choice(np.array([0, 50, 255], dtype=np.uint8), size=(6, slots), p=[0.6, 0.2, 0.2])
    shape[..., 1] = rng.choice(np.array([0, 50, 255], dtype=np.uint8), size=(6, slots), p=[0.1, 0.1, 0.8])
    draws = {"digit": rng.integers(0, 65536, size=(6, slots), dtype=np.uint16), "shape": shape}
    probe = make_probe("modular_arithmetic_brackets", m=7)
    b = probe.build(draws, 6, length)
    check_contract(probe, b, 6, length)
    assert b.equals(probe.build_reference(draws, 6, length))
    for row in range(6):
        words = row_labels(probe, b, row)[0]
        eq = words.index("=")
        assert b.targets[row, eq] == evaluate(words[:eq], 7)


def test_dyck_max_depth_that_changes_nothing_is_rejected() -> None:
    """max_depth caps the depth label (label=depth) or the nesting (bounded=true); with neither it
    would do nothing, so a non-default value is an error naming the field and the fix."""
    with pytest.raises(ConfigError, match=r"dyck\.max_depth.*label=depth.*bounded=true"):
        make_probe("dyck", k=2, max_depth=3)
    # the default, and every combination where it matters, are accepted (and differ)
    make_probe("dyck", k=2)
    a = make_probe("dyck", k=2, label="depth", max_depth=3).sample(np.random.default_rng(0), 8, 40)
    b = make_probe("dyck", k=2, label="depth", max_depth=5).sample(np.random.default_rng(0), 8, 40)
    assert not np.array_equal(a.targets, b.targets)
    c = make_probe("dyck", k=2, bounded=True, max_depth=3, p_open=0.9).sample(np.random.default_rng(0), 8, 40)
    d = make_probe("dyck", k=2, bounded=True, max_depth=5, p_open=0.9).sample(np.random.default_rng(0), 8, 40)
    assert not np.array_equal(c.tokens, d.tokens)
