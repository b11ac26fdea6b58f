"""Registry-wide tests: every probe (and option variant) obeys the Probe contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archlab.errors import ConfigError
from archlab.probes import PROBES, make_probe, stream_rng
from archlab.probes.base import LEVELS, Probe

from .conftest import all_probe_specs


def lengths_for(probe: Probe) -> list[int]:
    m = probe.min_length
    return sorted({m, m + 1, m + 2, max(m, 7), max(m, 33)})


def test_registry_is_populated() -> None:
    expected = {
        "parity", "modular_sum", "cycle_navigation", "even_pairs", "flip_flop", "count_threshold",
        "majority", "word_problem", "dyck", "anbn", "reverse_string", "stack_manipulation",
        "modular_arithmetic_brackets", "duplicate_string", "binary_addition", "copy",
        "selective_copy", "mqar", "induction_heads",
    }  # fmt: skip
    assert expected <= set(PROBES.names())


def test_batch_contract(probe: Probe) -> None:
    for length in lengths_for(probe):
        b = probe.sample(np.random.default_rng(length), 5, length)
        t = probe.seq_len(length)
        assert b.tokens.shape == b.targets.shape == b.mask.shape == (5, t)
        assert b.tokens.dtype == np.int64 and b.targets.dtype == np.int64 and b.mask.dtype == np.bool_
        assert b.tokens.min() >= 0 and b.tokens.max() < probe.vocab_size
        assert b.targets.min() >= 0 and b.targets.max() < probe.n_classes
        assert (b.targets[~b.mask] == 0).all(), "targets must be 0 where the mask is False"
        assert b.mask.any(axis=1).all(), "every sequence needs at least one scored position"
        for arr in (b.tokens, b.targets, b.mask):
            assert arr.flags.c_contiguous


def test_deterministic_per_seed(probe: Probe) -> None:
    length = max(probe.min_length, 24)
    a = probe.sample(stream_rng(7, "train"), 8, length)
    b = probe.sample(stream_rng(7, "train"), 8, length)
    c = probe.sample(stream_rng(8, "train"), 8, length)
    assert a.equals(b)
    assert not a.equals(c)


def test_train_and_test_streams_are_disjoint(probe: Probe) -> None:
    length = max(probe.min_length, 40)
    train = probe.sample(stream_rng(0, "train"), 64, length).tokens
    test = probe.sample(stream_rng(0, "test"), 64, length).tokens
    assert not np.array_equal(train, test)
    # Low-entropy probes (anbn) repeat sequences by chance; identical streams would share all rows.
    assert (train == test).all(axis=1).mean() < 0.5


def test_seed_streams_never_coincide() -> None:
    firsts = set()
    for seed in range(200):
        for split in ("train", "test"):
            firsts.add(int(stream_rng(seed, split).integers(0, 2**63)))
    assert len(firsts) == 400


def test_labels_are_informative(probe: Probe) -> None:
    length = max(probe.min_length, 32)
    b = probe.sample(np.random.default_rng(0), 256, length)
    values, counts = np.unique(b.targets[b.mask], return_counts=True)
    assert len(values) >= 2, f"{probe.spec()}: every scored label is {values}"
    assert counts.max() / counts.sum() < 0.99, (
        f"{probe.spec()}: one class takes {counts.max() / counts.sum():.1%}"
    )


def test_description_and_theory(probe: Probe) -> None:
    d = probe.describe()
    json.dumps(d)
    assert {"name", "family", "theory"} <= set(d)
    assert probe.theory.level in LEVELS
    assert probe.task
    doc = type(probe).__doc__ or ""
    assert "example" in doc.lower(), "every probe's docstring shows a worked example"
    assert len(probe.token_labels()) == probe.vocab_size
    assert len(set(probe.token_labels())) == probe.vocab_size, "token labels must be distinct"


def test_length_below_minimum_names_the_field(probe: Probe) -> None:
    with pytest.raises(ConfigError, match=r"^length: .*allowed: length >= "):
        probe.sample(np.random.default_rng(0), 2, probe.min_length - 1)


def test_unknown_parameter_is_named(probe: Probe) -> None:
    with pytest.raises(ConfigError, match="unknown parameter"):
        probe.replace(no_such_parameter=1)


@pytest.mark.parametrize(
    "spec", all_probe_specs(), ids=lambda s: s[0] + "".join(f"-{k}={v}" for k, v in s[1].items())
)
def test_fast_matches_reference(spec: tuple[str, dict[str, object]]) -> None:
    probe = make_probe(spec[0], **spec[1])

    @settings(max_examples=25, deadline=None, derandomize=True)
    @given(seed=st.integers(0, 2**32 - 1), batch=st.integers(1, 4), extra=st.integers(0, 70))
    def check(seed: int, batch: int, extra: int) -> None:
        length = probe.min_length + extra
        fast = probe.sample(np.random.default_rng(seed), batch, length)
        slow = probe.reference_sample(np.random.default_rng(seed), batch, length)
        np.testing.assert_array_equal(fast.tokens, slow.tokens)
        np.testing.assert_array_equal(fast.targets, slow.targets)
        np.testing.assert_array_equal(fast.mask, slow.mask)

    check()
