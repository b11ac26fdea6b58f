"""Probe suites: YAML validation with named fields, seed streams, train/test disjointness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from archlab.config import LengthRange, ProbeSuiteConfig, expand_lengths, load_config
from archlab.errors import ArchlabError, ConfigError, UnknownNameError
from archlab.probes.suite import ProbeSuite, find_suite, is_reserved

ROOT = Path(__file__).resolve().parents[1]
SUITES = sorted((ROOT / "probes").glob("*.yaml"))


def test_shipped_suites_exist() -> None:
    assert {p.stem for p in SUITES} >= {"chomsky", "state_tracking", "memory"}


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.stem)
def test_shipped_suite_loads_and_samples(path: Path) -> None:
    suite = ProbeSuite.load(path)
    assert len(suite) >= 1
    for entry in suite:
        for split, lengths in (("train", entry.train_lengths), ("test", entry.test_lengths)):
            rng = suite.rng(entry, split, 0)
            for length in (lengths[0], lengths[-1]):
                get = suite.train_batch if split == "train" else suite.test_batch
                b = get(entry, rng, 4, length)
                assert b.shape == (4, entry.probe.seq_len(length))


def test_state_tracking_suite_matches_issue() -> None:
    suite = ProbeSuite.load(ROOT / "probes" / "state_tracking.yaml")
    assert [e.name for e in suite] == ["Z2", "Z3", "Z60", "S3", "A4", "A4xZ5", "A5", "S5"]
    assert all(e.train_lengths == (16,) and e.test_lengths[-1] == 64 for e in suite)


def test_chomsky_suite_lengths() -> None:
    suite = ProbeSuite.load(ROOT / "probes" / "chomsky.yaml")
    for e in suite:
        assert e.train_lengths[-1] == 40 and e.test_lengths[0] == 41 and e.test_lengths[-1] == 256


def test_length_range_always_includes_max() -> None:
    assert LengthRange(min=41, max=256, step=5).values()[-1] == 256
    assert expand_lengths([5, 3, 3]) == [3, 5]
    with pytest.raises(ValueError, match="below min"):
        LengthRange(min=5, max=3)


def base_suite(**over: object) -> dict[str, object]:
    d: dict[str, object] = {
        "name": "t",
        "train_lengths": [8],
        "test_lengths": [8, 12],
        "probes": [{"probe": "parity"}],
    }
    d.update(over)
    return d


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (base_suite(probes=[{"probe": "parity", "parms": {}}]), "probes.0.parms"),
        (base_suite(probes=[{"probe": "partiy"}]), "probes.0"),
        (base_suite(probes=[{"probe": "modular_sum", "params": {"m": 1}}]), "probes.0"),
        (base_suite(train_lengths={"min": 0, "max": 3}), "train_lengths"),
        (base_suite(reserve_fraction=1.5), "reserve_fraction"),
        (base_suite(probes=[]), "probes"),
        (base_suite(colour="red"), "colour"),
    ],
)
def test_bad_suite_names_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        ProbeSuite.from_dict(data)
    assert info.value.field.startswith(field), str(info.value)


def test_unknown_probe_in_suite_suggests_closest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'parity'"):
        ProbeSuite.from_dict(base_suite(probes=[{"probe": "partiy"}]))


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\ntrain_lengths: [1\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(ProbeSuiteConfig, p)
    p.write_text("name: x\ntrain_lengths: [4]\ntest_lengths: [4]\nprobes: [{probe: dyck, params: {k: 0}}]\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: probes.0"):
        load_config(ProbeSuiteConfig, p)
    with pytest.raises(ConfigError, match="file not found"):
        load_config(ProbeSuiteConfig, tmp_path / "missing.yaml")


def test_length_below_probe_minimum_is_an_error() -> None:
    with pytest.raises(ArchlabError, match=r"probes.0.train_lengths: length 1 is below the minimum"):
        ProbeSuite.from_dict(base_suite(train_lengths=[1], probes=[{"probe": "flip_flop"}]))


def test_forbid_test_in_train_makes_sets_disjoint() -> None:
    # Parity at length 10 has only 1024 sequences: without the rule train and test overlap.
    suite = ProbeSuite.from_dict(
        base_suite(train_lengths=[10], test_lengths=[10], forbid_test_in_train=True, reserve_fraction=0.2)
    )
    entry = suite.entries[0]
    train_rng, test_rng = suite.rng(entry, "train", 0), suite.rng(entry, "test", 0)
    train = np.concatenate([suite.train_batch(entry, train_rng, 512, 10).tokens for _ in range(8)])
    test = suite.test_batch(entry, test_rng, 512, 10).tokens
    train_rows = {r.tobytes() for r in train}
    test_rows = {r.tobytes() for r in test}
    assert not train_rows & test_rows
    assert len(train_rows) > 600 and len(test_rows) > 100  # both sides still cover a lot of the space
    assert 0.12 < len(test_rows) / 1024 < 0.28  # about reserve_fraction of the space is held out
    # and the rule is what makes the difference:
    plain = ProbeSuite.from_dict(base_suite(train_lengths=[10], test_lengths=[10]))
    e = plain.entries[0]
    plain_train = {r.tobytes() for r in plain.train_batch(e, plain.rng(e, "train", 0), 4096, 10).tokens}
    plain_test = {r.tobytes() for r in plain.test_batch(e, plain.rng(e, "test", 0), 512, 10).tokens}
    assert plain_train & plain_test


def test_forbid_only_acts_on_shared_lengths() -> None:
    suite = ProbeSuite.from_dict(base_suite(train_lengths=[8], test_lengths=[12], forbid_test_in_train=True))
    e = suite.entries[0]
    b = suite.test_batch(e, suite.rng(e, "test", 0), 256, 12)
    assert not is_reserved(b.tokens, suite.config.reserve_fraction).all()


def test_forbid_with_tiny_space_fails_clearly() -> None:
    suite = ProbeSuite.from_dict(
        base_suite(train_lengths=[1], test_lengths=[1], forbid_test_in_train=True, reserve_fraction=0.01)
    )
    e = suite.entries[0]
    with pytest.raises(ArchlabError, match="too small for forbid_test_in_train"):
        suite.test_batch(e, suite.rng(e, "test", 0), 4, 1)


def test_find_suite_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert find_suite("chomsky").name == "chomsky.yaml"
    with pytest.raises(UnknownNameError, match="did you mean 'memory'"):
        find_suite("memroy")
