"""Spec scales (``scales:`` + ``--scale NAME``) and the paper-scale specs that use them.

A scale overrides fields of a spec; the scaled spec is another study (``NAME-SCALE``, its hash
covers the scale) that records what the scale changed, and the CLI says so on one line."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import typer
import yaml
from typer.testing import CliRunner

from archlab.cli_study import study_app
from archlab.errors import ConfigError, UnknownNameError
from archlab.search import create_study, load_spec, parse_spec, run_study, run_worker, spec_hash
from archlab.search.runner import StudyExistsError, make_storage, stored_spec
from archlab.search.space import enumerate_choices
from archlab.search.spec import NOT_SEARCHED, scale_line
from tests.search._util import dry_data

app = typer.Typer()
app.add_typer(study_app, name="study")
runner = CliRunner()

ROOT = Path(__file__).resolve().parents[2]
PAPER_SPECS = ["grazzi2025_paper", "merrill2024_depth", "movahedi2025_fp"]

SCALES: dict[str, Any] = {
    "small": {
        "note": "for the tests",
        "model": {"width": 8},
        "train": {"steps": 2, "batch": 4},
        "budget": {"n_trials": 2},
    },
    "other": {"train": {"steps": 3}, "budget": {"n_trials": 2}},
}


def scaled_data(name: str = "dry", scales: dict[str, Any] | None = None, **over: Any) -> dict[str, Any]:
    data = dry_data(name, **over)
    data["scales"] = copy.deepcopy(SCALES if scales is None else scales)
    return data


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text, text
    return text


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# -- applying a scale ---------------------------------------------------------------------------


def test_without_scale_the_spec_runs_as_written() -> None:
    spec = parse_spec(scaled_data())
    assert spec.name == "dry" and spec.scale is None
    assert spec.model == {"layers": 1, "width": 16} and spec.train["steps"] == 5
    assert set(spec.scales) == {"small", "other"}


def test_scale_overrides_apply_and_leave_the_rest() -> None:
    base = parse_spec(scaled_data())
    spec = parse_spec(scaled_data(), scale="small")
    assert spec.name == "dry-small"
    assert spec.model == {"layers": 1, "width": 8}  # width changed, layers kept
    assert spec.train == {"steps": 2, "batch": 4, "device": "cpu"}  # device kept
    assert spec.budget.n_trials == 2
    for key in ("objective", "space", "sampler", "pruner", "heartbeat", "theory_seed"):
        assert getattr(spec, key) == getattr(base, key), key
    assert spec.scales == {} and spec.scale is not None
    assert spec.scale.name == "small" and spec.scale.spec_name == "dry" and spec.scale.note == "for the tests"
    assert spec.scale.overrides == SCALES["small"]
    changes = {c.path: (c.old, c.new) for c in spec.scale.changes}
    # train.batch was not in the spec: its old value is TrainConfig's default
    assert changes == {
        "model.width": (16, 8),
        "train.steps": (5, 2),
        "train.batch": (64, 4),
        "budget.n_trials": (10, 2),
    }


def test_a_space_entry_is_replaced_whole_and_null_stops_searching_it() -> None:
    scales = {
        "narrow": {
            "space": {"lr": None, "mixer": {"choices": ["diag_rnn", "householder"]}},
            "train": {"lr": 0.01},
        }
    }
    spec = parse_spec(scaled_data(scales=scales), scale="narrow")
    assert "lr" not in spec.space and spec.train["lr"] == 0.01
    assert spec.space["mixer"].choices == ["diag_rnn", "householder"]
    assert spec.scale is not None
    changes = {c.path: (c.old, c.new) for c in spec.scale.changes}
    assert changes["space.lr"] == ({"float": [1.0e-4, 1.0e-2], "log": True}, NOT_SEARCHED)
    assert changes["train.lr"] == ("(searched)", 0.01)


def test_the_scale_line_lists_each_changed_value_old_to_new() -> None:
    line = scale_line(parse_spec(scaled_data(), scale="small"))
    assert line is not None and "\n" not in line
    assert line.startswith("scale small (for the tests): ")
    for part in ("model.width 16 → 8", "train.steps 5 → 2", "train.batch 64 → 4", "budget.n_trials 10 → 2"):
        assert part in line, line
    assert line.endswith("; study dry-small")
    assert scale_line(parse_spec(scaled_data())) is None
    # a value the scale sets to what the spec has already is no change
    same = parse_spec(scaled_data(scales={"s": {"train": {"steps": 5, "batch": 8}}}), scale="s")
    line = scale_line(same)
    assert line is not None and "train.steps" not in line and "train.batch 64 → 8" in line
    assert line.startswith("scale s (not the spec as written): ")


# -- errors ---------------------------------------------------------------------------------


def test_an_unknown_scale_is_one_line_listing_the_scales() -> None:
    with pytest.raises(UnknownNameError) as info:
        parse_spec(scaled_data(), scale="smal")
    text = _one_line(info.value)
    assert "'smal'" in text and "other, small" in text and "did you mean 'small'" in text
    with pytest.raises(ConfigError, match=r"--scale: spec dry has no scales") as e2:
        parse_spec(dry_data("dry"), scale="cpu")
    _one_line(e2.value)


@pytest.mark.parametrize(
    ("over", "path"),
    [
        ({"train": {"stepz": 3}}, r"scales\.cpu\.train\.stepz: unknown TrainConfig field"),
        ({"model": {"width": 1}}, r"scales\.cpu\.model\.width: 1 is not a valid width"),
        ({"budget": {"n_trialz": 3}}, r"scales\.cpu\.budget\.n_trialz"),
        ({"objective": {"seeds": 0}}, r"scales\.cpu\.objective\.seeds"),
        ({"space": {"mixer": {"choices": ["mamba9"]}}}, r"scales\.cpu\.space\.mixer\.choices\.0"),
        ({"space": {"depth": None}}, r"scales\.cpu\.space\.depth: is not searched"),
        ({"trian": {"steps": 3}}, r"scales\.cpu\.trian: not a key a scale may override"),
        ({"name": "other"}, r"scales\.cpu\.name: not a key"),
        ({"note": 3}, r"scales\.cpu\.note"),
        # not at a value the scale set: the scaled spec's path, after the scale's name
        ({"space": {"width": {"choices": [8]}}}, r"scales\.cpu, applied: model\.width: is also searched"),
    ],
)
def test_a_bad_override_names_its_yaml_path(over: dict[str, Any], path: str) -> None:
    data = scaled_data(scales={"cpu": over})
    with pytest.raises(ConfigError, match=path) as info:
        parse_spec(data)  # checked when the spec loads, whether or not the scale is asked for
    _one_line(info.value)


def test_scale_errors_in_a_file_carry_the_file_name(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(scaled_data(scales={"cpu": {"train": {"stepz": 3}}})))
    with pytest.raises(ConfigError, match=r"bad\.yaml: scales\.cpu\.train\.stepz"):
        load_spec(p)


def test_a_scale_name_and_a_written_scale_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"scales\.c-pu: 'c-pu' is not a scale name"):
        parse_spec(scaled_data(scales={"c-pu": {"train": {"steps": 3}}}))
    data = scaled_data()
    data["scale"] = {"name": "small"}
    with pytest.raises(ConfigError, match=r"scale: is recorded by --scale"):
        parse_spec(data)


# -- identity: hash, name, records, resume --------------------------------------------------


def test_the_scale_changes_the_hash_and_the_scales_section_does_not() -> None:
    plain = parse_spec(dry_data("dry"))
    with_scales = parse_spec(scaled_data())
    assert spec_hash(plain) == spec_hash(with_scales)  # an existing study keeps its hash
    small = parse_spec(scaled_data(), scale="small")
    assert spec_hash(small) != spec_hash(plain)
    # even a scale that only changes the budget (not hashed) is another study
    budget_only = parse_spec(scaled_data(scales={"b": {"budget": {"n_trials": 3}}}), scale="b")
    assert budget_only.name == "dry-b" and spec_hash(budget_only) != spec_hash(plain)


def test_the_scale_is_recorded_in_the_study() -> None:
    spec = parse_spec(scaled_data(), scale="small")
    study = create_study(spec, ":memory:")
    assert study.study_name == "dry-small"
    rec = study.user_attrs["scale"]
    assert rec["name"] == "small" and rec["spec_name"] == "dry" and rec["overrides"] == SCALES["small"]
    assert {"path": "train.steps", "old": 5, "new": 2} in rec["changes"]
    assert study.user_attrs["spec"]["scale"]["name"] == "small"
    stored, _ = stored_spec(study)
    assert stored.scale is not None and stored.scale.name == "small" and stored.model["width"] == 8
    plain = create_study(parse_spec(scaled_data()), ":memory:")
    assert plain.study_name == "dry" and plain.user_attrs["scale"] is None


def test_a_resume_at_another_scale_is_another_study_and_a_clash_is_refused(tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 'scales.journal'}"
    small = parse_spec(scaled_data(), scale="small")
    run_study(small, url)
    run_study(small, url)  # the same scale resumes: nothing left to run
    other = parse_spec(scaled_data(), scale="other")
    run_study(other, url)  # another scale: another study, the first one untouched
    st = make_storage(url)
    assert sorted(optuna.get_all_study_names(st)) == ["dry-other", "dry-small"]
    for name in ("dry-small", "dry-other"):
        study = optuna.load_study(study_name=name, storage=st)
        assert len(study.trials) == 2
    # a worker without the scale finds no such study, and is told the scaled one's name
    with pytest.raises(UnknownNameError, match=r"'dry'.*did you mean 'dry-(small|other)'"):
        run_worker(parse_spec(scaled_data()), url)
    # a spec as written whose name is the scaled study's: refused, naming both scales
    clash = parse_spec(dry_data("dry-small"))
    with pytest.raises(
        StudyExistsError, match=r"created at scale small of spec dry, not at the spec as written"
    ):
        create_study(clash, url, if_exists="load")
    with pytest.raises(StudyExistsError, match=r"created at scale small"):
        run_worker(clash, url)


# -- the command line -----------------------------------------------------------------------


def _spec_file(tmp_path: Path, data: dict[str, Any]) -> Path:
    p = tmp_path / f"{data['name']}.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def test_cli_says_the_scale_on_one_line_before_the_study_starts(tmp_path: Path) -> None:
    spec = _spec_file(tmp_path, scaled_data())
    url = f"journal:{tmp_path / 'cli.journal'}"
    r = runner.invoke(app, ["study", "create", str(spec), "--storage", url, "--scale", "small"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("scale small"))
    ready = next(i for i, line in enumerate(lines) if "ready" in line)
    assert first < ready and "train.steps 5 → 2" in lines[first] and "dry-small" in lines[ready]
    r = runner.invoke(app, ["study", "run", str(spec), "--storage", url, "--scale", "small", "--quiet"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("scale small (for the tests): ") and "dry-small: 2 done" in r.output
    r = runner.invoke(app, ["study", "worker", str(spec), "--storage", url, "--scale", "small"])
    assert r.exit_code == 0 and "worker 0: 0 trial(s) run" in r.output, r.output
    r = runner.invoke(app, ["study", "run", str(spec), "--storage", url, "--quiet"])  # as written
    assert r.exit_code == 0 and "scale" not in r.output.split("\n")[0], r.output
    assert "dry: 10 done" in r.output
    r = runner.invoke(app, ["study", "run", str(spec), "--storage", url, "--scale", "gpu"])
    assert r.exit_code == 2
    err = [line for line in r.output.splitlines() if line.strip()]
    assert (
        len(err) == 1
        and "unknown scale 'gpu'" in err[0]
        and "other, small (the scales of spec dry)" in err[0]
    )


# -- the paper specs ------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAPER_SPECS)
def test_paper_specs_load_as_published_and_at_cpu_scale(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    spec = load_spec(name)
    assert spec.name == name and spec.scale is None and "cpu" in spec.scales
    assert spec.sampler.name == "grid"
    # a grid over the published architectures: every cell once, no more
    assert spec.budget.n_trials == len(list(enumerate_choices(spec)))
    cpu = load_spec(name, scale="cpu")
    assert cpu.name == f"{name}-cpu" and cpu.objective.seeds == 1
    line = scale_line(cpu)
    assert line is not None and line.startswith("scale cpu (budgets shrunk, not the paper's): ")
    assert "train.steps" in line and "train.batch" in line and "model.width" in line
    assert spec_hash(cpu) != spec_hash(spec)


def test_the_paper_numbers() -> None:
    g = load_spec("grazzi2025_paper")
    assert g.model == {"layers": 2, "width": 128}
    assert (g.train["steps"], g.train["batch"], g.train["lr"]) == (20000, 256, 0.001)
    assert (g.objective.seeds, g.objective.seed_aggregate) == (3, "best")
    assert g.space["mixer"].choices == ["mamba", "mlstm", "slstm", "gated_deltanet", "householder"]
    assert g.space["eig_range"].when == {"mixer": ["mamba", "gated_deltanet", "householder"]}
    m = load_spec("merrill2024_depth")
    assert m.space["layers"].choices == [1, 2, 3] and m.train["batch"] == 512
    f = load_spec("movahedi2025_fp")
    assert f.model["layers"] == 1 and f.space["fp_iters"].choices == [2, 4, 8, 16]
    assert f.suite_config().model_dump(mode="json")["train_lengths"] == {"min": 2, "max": 16, "step": 1}


#: per paper spec, a scale on top of its cpu scale that keeps a CLI run to seconds
TINY: dict[str, dict[str, Any]] = {
    "grazzi2025_paper": {"objective": {"test_lengths": [40]}},
    "merrill2024_depth": {"objective": {"test_lengths": [10, 11]}},
    "movahedi2025_fp": {"objective": {"test_lengths": [2, 16]}},
}
TINY_ALL: dict[str, Any] = {
    "model": {"width": 16},
    "train": {"steps": 2, "batch": 4, "warmup": 0, "eval_every": 2, "val_batch": 4, "eval_batch": 4},
}


@pytest.mark.parametrize("name", PAPER_SPECS)
def test_paper_spec_at_cpu_scale_runs_end_to_end_through_the_cli(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped file with one more scale: its cpu scale made tinier (fewer steps, smaller
    batches and test lengths), run through ``archlab study run --scale``: every cell of the
    grid, so each published architecture is built and trained."""
    data = yaml.safe_load((ROOT / "search" / f"{name}.yaml").read_text())
    tiny = deep_merge(deep_merge(data["scales"]["cpu"], TINY_ALL), TINY[name])
    tiny["note"] = "the cpu scale, tinier for the tests"
    data["scales"]["cpu_tiny"] = tiny
    spec = _spec_file(tmp_path, data)
    monkeypatch.chdir(tmp_path)
    n = load_spec(name).budget.n_trials
    t0 = time.monotonic()
    r = runner.invoke(app, ["study", "run", str(spec), "--scale", "cpu_tiny", "--quiet"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("scale cpu_tiny (the cpu scale, tinier for the tests): "), r.output
    assert f"{name}-cpu_tiny: {n} done ({n} complete" in r.output, r.output
    assert (tmp_path / "studies" / f"{name}-cpu_tiny.journal").is_file()
    assert time.monotonic() - t0 < 60
