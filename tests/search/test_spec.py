"""Study specs: every error names the YAML path of the field, before any trial runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from archlab.errors import ConfigError
from archlab.search import load_spec, parse_spec, spec_hash
from tests.search._util import dry_data, dry_spec

ROOT = Path(__file__).resolve().parents[2]


def _err(data: dict, match: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_spec(data)
    assert info.value.field.startswith(match), f"{info.value.field!r} does not start with {match!r}"
    return info.value


def test_valid_spec_and_directions() -> None:
    spec = dry_spec("ok")
    assert spec.objective.directions == ["maximize"]
    multi = dry_spec("ok2", objective={"second": "params"})
    assert multi.objective.directions == ["maximize", "minimize"]
    assert multi.multi_objective


def test_unknown_space_field_lists_valid_ones() -> None:
    e = _err(dry_data("x", space={"widht": {"int": [8, 32]}}), "space.widht")
    assert "width" in e.allowed and "lr" in e.allowed


def test_unknown_top_level_and_nested_keys() -> None:
    _err(dry_data("x", smapler={"name": "tpe"}), "smapler")
    _err(dry_data("x", space={"layers": {"int": [1, 2], "whn": {"mixer": ["lstm"]}}}), "space.layers.whn")


def test_wrong_types_name_the_field() -> None:
    _err(dry_data("x", budget={"n_trials": "ten"}), "budget.n_trials")
    _err(dry_data("x", space={"layers": {"int": [1, "two"]}}), "space.layers.int.1")
    _err(dry_data("x", space={"layers": {"float": [1.0, 2.0]}}), "space.layers.float")
    _err(dry_data("x", space={"width": {"int": [1, 32]}}), "space.width.int.0")  # width >= 2
    _err(dry_data("x", space={"eig_range": {"choices": ["unit", "wide"]}}), "space.eig_range.choices.1")
    _err(dry_data("x", model={"layers": 0}), "model.layers")
    _err(dry_data("x", train={"lr": -1.0}), "train.lr")


def test_empty_space_and_missing_seed() -> None:
    data = dry_data("x")
    data["space"] = {}
    e = _err(data, "space")
    assert "empty" in str(e)
    data = dry_data("x")
    del data["sampler"]["seed"]
    _err(data, "sampler.seed")


def test_unknown_probe_suite_and_mixer() -> None:
    e = _err(
        dry_data("x", objective={"probes": [{"probe": "parity"}, {"probe": "parrity"}]}), "objective.probes.1"
    )
    assert "parity" in str(e)
    e = _err(dry_data("x", objective={"probes": None, "suite": "no_such_suite"}), "objective.suite")
    e = _err(dry_data("x", space={"mixer": {"choices": ["lstm", "mamba9"]}}), "space.mixer.choices.1")
    assert "unknown" in str(e)


def test_when_conditions_are_checked() -> None:
    e = _err(
        dry_data("x", space={"householder_factors": {"choices": [1], "when": {"mixr": ["householder"]}}}),
        "space.householder_factors.when.mixr",
    )
    _err(
        dry_data("x", space={"householder_factors": {"choices": [1], "when": {"mixer": ["hh"]}}}),
        "space.householder_factors.when.mixer",
    )
    cyc = {
        "layers": {"choices": [1, 2], "when": {"width": [16]}},
        "width": {"choices": [16], "when": {"layers": [1]}},
    }
    _err(dry_data("x", space=cyc), "space.")
    assert e.field


def test_cross_checks() -> None:
    _err(dry_data("x", objective={"second": "params"}, pruner={"name": "wilcoxon"}), "pruner.name")
    _err(dry_data("x", sampler={"name": "grid"}), "sampler.name")  # lr is a range
    _err(dry_data("x", model={"mixer": "lstm"}), "model.mixer")  # fixed and searched
    _err(dry_data("x", heartbeat={"interval_s": 10, "grace_s": 15}), "heartbeat")
    _err(dry_data("x", heartbeat={"interval_s": 1, "grace_s": 2}), "heartbeat")  # below 10 s
    _err(dry_data("x", heartbeat={"interval_s": 5, "grace_s": 12}), "heartbeat")  # below 3 × interval
    data = dry_data("x")
    data["budget"] = {"n_trials": None, "timeout_s": None}
    _err(data, "budget")


def test_spec_hash_ignores_budget_and_storage_only() -> None:
    a = dry_spec("h")
    assert spec_hash(a) == spec_hash(dry_spec("h", budget={"n_trials": 99}, storage="journal:x.journal"))
    assert spec_hash(a) != spec_hash(dry_spec("h", sampler={"seed": 1}))
    assert spec_hash(a) != spec_hash(dry_spec("h", objective={"test_lengths": [8, 32]}))


def test_yaml_file_errors_carry_the_file_name(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(dry_data("x", budget={"n_trials": 0})))
    with pytest.raises(ConfigError, match=r"bad\.yaml: budget\.n_trials"):
        load_spec(p)


SHIPPED = sorted(p for p in (ROOT / "search").glob("*.yaml") if not p.name.startswith("zoo"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_specs_load(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    spec = load_spec(path)
    assert spec.name == path.stem
    if spec.is_dna:
        assert spec.objective.dna is not None and spec.objective.dna.tasks
    else:
        assert spec.suite_config().probes


@pytest.mark.parametrize("zoo", ["zoo.yaml", "zoo_dna.yaml"])
def test_shipped_zoos_load(zoo: str) -> None:
    from archlab.cli_common import load_models

    models = load_models(str(ROOT / "search" / zoo))
    assert len(models) >= 5 and len({label for label, _ in models}) == len(models)


def test_the_shipped_specs_exist() -> None:
    assert {p.name for p in SHIPPED} >= {
        "demo.yaml",
        "state_tracking.yaml",
        "fixed_point_depth.yaml",
        "memory_pareto.yaml",
        "dna_grammar.yaml",
        "dna_real.yaml",
    }
