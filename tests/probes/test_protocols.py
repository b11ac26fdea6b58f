"""The protocol registry and the suites that name a protocol."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from archlab.cli import app
from archlab.errors import ArchlabError, UnknownNameError
from archlab.probes import PROBES
from archlab.probes.protocols import PROTOCOLS, get_protocol
from archlab.probes.suite import ProbeSuite

SUITES = sorted((Path(__file__).resolve().parents[2] / "probes").glob("*.yaml"))


def test_every_protocol_names_real_tasks_and_a_real_suite() -> None:
    names = {p.stem for p in SUITES}
    for p in PROTOCOLS.values():
        for task in p.tasks:
            assert task in PROBES, task
        assert (p.suite in names) if p.suite else p.missing, p.name
        assert p.citation and p.metric and p.aggregation


def test_unknown_protocol_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="deletang2023"):
        get_protocol("deletang")
    with pytest.raises(UnknownNameError, match="zoology_mqar"):
        ProbeSuite.from_dict(
            {"name": "x", "protocol": "nope", "train_lengths": [5], "test_lengths": [6],
             "probes": [{"probe": "parity"}]}
        )  # fmt: skip


def test_a_suite_cannot_claim_a_protocol_it_does_not_follow() -> None:
    base = {"name": "x", "protocol": "deletang2023", "train_lengths": {"min": 1, "max": 40}}
    with pytest.raises(ArchlabError, match="probes.0.probe"):  # archlab's own variant
        ProbeSuite.from_dict({**base, "test_lengths": [50], "probes": [{"probe": "parity"}]})
    with pytest.raises(ArchlabError, match="test_lengths"):  # tests beyond the paper's range
        ProbeSuite.from_dict({**base, "test_lengths": [600], "probes": [{"probe": "dm_parity_check"}]})
    ok = ProbeSuite.from_dict({**base, "test_lengths": [50], "probes": [{"probe": "dm_parity_check"}]})
    assert len(ok) == 1


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.stem)
def test_shipped_suites_follow_what_they_name(path: Path) -> None:
    suite = ProbeSuite.load(path)  # loading checks tasks and lengths against the protocol
    if suite.config.protocol:
        proto = get_protocol(suite.config.protocol)
        assert proto.suite == suite.name
        assert {e.probe.name for e in suite} <= set(proto.tasks)


def test_zoology_suite_test_examples_never_occur_in_training() -> None:
    suite = ProbeSuite.load(next(p for p in SUITES if p.stem == "zoology_mqar"))
    assert suite.config.forbid_test_in_train
    entry = next(iter(suite))
    length = entry.train_lengths[0]
    train = suite.train_batch(entry, suite.rng(entry, "train", 0), 64, length).tokens
    test = suite.test_batch(entry, suite.rng(entry, "test", 0), 64, length).tokens
    seen = {r.tobytes() for r in train}
    assert not any(r.tobytes() in seen for r in test)
    assert not np.array_equal(train, test)


def test_cli_protocols_json() -> None:
    res = CliRunner().invoke(app, ["probe", "protocols", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert {r["name"] for r in rows} >= {
        "deletang2023", "illusion2024", "grazzi2025", "zoology_mqar", "mad2024",
        "bhattamishra2020", "sarrof2024", "movahedi2025",
    }  # fmt: skip
    assert all(r["citation"] and "missing" in r for r in rows)
