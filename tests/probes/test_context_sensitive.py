"""Tests of the context-sensitive probes: duplicate_string, binary_addition."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archlab.errors import ConfigError
from archlab.probes import make_probe
from archlab.probes.base import Batch, Probe

NAMES = ("duplicate_string", "binary_addition")


def row_labels(probe: Probe, batch: Batch, row: int = 0) -> tuple[list[str], list[str]]:
    tl, ll = probe.token_labels(), probe.target_labels()
    toks = [tl[t] for t in batch.tokens[row].tolist()]
    pairs = zip(batch.targets[row].tolist(), batch.mask[row].tolist(), strict=True)
    tgts = [ll[y] if m else "." for y, m in pairs]
    return toks, tgts


def words(text: str) -> list[str]:
    return text.split()


def check_contract(probe: Probe, batch: Batch, n: int, length: int) -> None:
    assert batch.shape == (n, probe.seq_len(length))
    assert batch.tokens.dtype == np.int64 and batch.targets.dtype == np.int64 and batch.mask.dtype == bool
    assert batch.tokens.min() >= 0 and batch.tokens.max() < probe.vocab_size
    assert batch.targets.min() >= 0 and batch.targets.max() < probe.n_classes
    assert batch.mask.any(axis=1).all()
    assert (batch.targets[~batch.mask] == 0).all()


def test_duplicate_string_docstring_example() -> None:
    probe = make_probe("duplicate_string")
    draws = {"bits": np.array([[1, 1, 0]], dtype=np.uint8)}
    b = probe.build(draws, 1, 3)
    assert row_labels(probe, b) == (words("1 1 0 | _ _ _ _ _ _"), words(". . . . 1 1 0 1 1 0"))
    assert b.equals(probe.build_reference(draws, 1, 3))


def test_duplicate_string_semantics() -> None:
    probe = make_probe("duplicate_string")
    b = probe.sample(np.random.default_rng(0), 20, 7)
    assert probe.seq_len(7) == 22
    for row in range(20):
        w = b.tokens[row, :7].tolist()
        assert b.tokens[row, 7] == 2 and (b.tokens[row, 8:] == 3).all()
        assert b.targets[row, 8:].tolist() == w + w
        assert b.mask[row].tolist() == [False] * 8 + [True] * 14
    assert probe.theory.level == "context-sensitive"


def test_binary_addition_docstring_example() -> None:
    probe = make_probe("binary_addition")
    draws = {"nx": np.array([2]), "bits": np.array([[1, 1, 0, 1, 1]], dtype=np.uint8)}
    b = probe.build(draws, 1, 5)
    toks, tgts = row_labels(probe, b)
    assert toks == words("1 1 + 0 1 1 = _ _ _ _ _")
    assert tgts == ["."] * 7 + words("1 0 0 1 END")
    assert b.equals(probe.build_reference(draws, 1, 5))


def test_binary_addition_zero_sum_and_full_carry() -> None:
    probe = make_probe("binary_addition")
    draws = {"nx": np.array([1, 2]), "bits": np.array([[0, 0, 0], [1, 1, 1]], dtype=np.uint8)}
    b = probe.build(draws, 2, 3)
    assert row_labels(probe, b, 0)[1][5:] == ["0", "END", "END"]  # 0 + 0 = 0
    assert row_labels(probe, b, 1)[1][5:] == ["0", "0", "1"]  # 3 + 1 = 4 = 001 little-endian
    assert b.equals(probe.build_reference(draws, 2, 3))


def test_binary_addition_semantics() -> None:
    probe = make_probe("binary_addition")
    length = 12
    b = probe.sample(np.random.default_rng(2), 50, length)
    tl = probe.token_labels()
    widths = set()
    for row in range(50):
        words = [tl[t] for t in b.tokens[row].tolist()]
        assert words.index("=") == length + 1 and words[length + 2 :] == ["_"] * length
        xs, ys = " ".join(words[: length + 1]).split(" + ")
        x = int(xs.replace(" ", "")[::-1], 2)  # little-endian
        y = int(ys.replace(" ", "")[::-1], 2)
        out = b.targets[row, length + 2 :].tolist()
        n = out.index(2) if 2 in out else length
        widths.add(n)
        assert all(v == 2 for v in out[n:])
        assert int("".join(map(str, out[:n]))[::-1], 2) == x + y
        assert n == 1 or out[n - 1] == 1  # no leading zeros
        assert b.mask[row].tolist() == [False] * (length + 2) + [True] * length
    assert len(widths) > 3


@pytest.mark.parametrize("name", NAMES)
def test_edge_lengths(name: str) -> None:
    probe = make_probe(name)
    for length in range(probe.min_length, probe.min_length + 6):
        for n in (1, 4):
            b = probe.sample(np.random.default_rng(length), n, length)
            check_contract(probe, b, n, length)
            assert b.equals(probe.reference_sample(np.random.default_rng(length), n, length))
    with pytest.raises(ConfigError) as err:
        probe.sample(np.random.default_rng(0), 1, probe.min_length - 1)
    assert err.value.field == "length"


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(0, 90), n=st.integers(1, 9))
def test_sample_matches_reference(name: str, seed: int, length: int, n: int) -> None:
    probe = make_probe(name)
    length = max(length, probe.min_length)
    a = probe.sample(np.random.default_rng(seed), n, length)
    check_contract(probe, a, n, length)
    assert a.equals(probe.reference_sample(np.random.default_rng(seed), n, length))


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_and_parameterless(name: str) -> None:
    probe = make_probe(name)
    a = probe.sample(np.random.default_rng(1), 3, 20)
    assert a.equals(probe.sample(np.random.default_rng(1), 3, 20))
    with pytest.raises(ConfigError) as err:
        make_probe(name, k=2)
    assert err.value.field == f"{name}.k"


def test_binary_addition_long() -> None:
    probe = make_probe("binary_addition")
    a = probe.sample(np.random.default_rng(0), 3, 300)
    assert a.equals(probe.reference_sample(np.random.default_rng(0), 3, 300))


@pytest.mark.parametrize("length", [2, 3, 63, 64, 65, 127, 128, 129, 512, 4032, 4033, 4100])
def test_binary_addition_word_boundaries(length: int) -> None:
    """The vectorised build adds on 64-bit words (carry lookahead up to 63 words, a loop past
    that): carries running across word boundaries, all-zero and all-one inputs, splits on and
    next to word boundaries."""
    probe = make_probe("binary_addition")
    splits = sorted({1, 2, 63, 64, 65, length // 2, length - 1} & set(range(1, length)))
    rows = []
    for nx in splits:
        chain = np.zeros(length, dtype=np.uint8)
        chain[: nx + 1] = 1  # x = 2**nx - 1, y = 1: the carry runs through all of x
        rows += [(nx, np.zeros(length, np.uint8)), (nx, np.ones(length, np.uint8)), (nx, chain)]
    draws = {"nx": np.array([nx for nx, _ in rows]), "bits": np.stack([b for _, b in rows])}
    a = probe.build(draws, len(rows), length)
    check_contract(probe, a, len(rows), length)
    assert a.equals(probe.build_reference(draws, len(rows), length))
    b = probe.sample(np.random.default_rng(length), 3, length)
    assert b.equals(probe.reference_sample(np.random.default_rng(length), 3, length))
