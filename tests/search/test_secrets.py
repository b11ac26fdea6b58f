"""No storage password in any output, report or stored attribute; the URL can come from a file
or $ARCHLAB_STORAGE instead of the command line."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from archlab.analysis.report import write_report
from archlab.cli_study import study_app
from archlab.errors import ConfigError
from archlab.search import create_study, load_study, run_study
from archlab.search.runner import make_storage, mask_url, read_storage_url
from tests.search._util import dry_data, dry_spec

SECRET = "s3cr3t-Pa55"


def test_mask_url_hides_every_password() -> None:
    assert mask_url(f"postgresql+psycopg2://me:{SECRET}@db.example:5432/x") == (
        "postgresql+psycopg2://me:***@db.example:5432/x"
    )
    text = f"cannot open mysql://a:{SECRET}@h/d and sqlite:///x.db, postgresql://b@h/d"
    assert SECRET not in mask_url(text) and "postgresql://b@h/d" in mask_url(text)
    assert mask_url("journal:studies/x.journal") == "journal:studies/x.journal"


def test_storage_errors_do_not_show_the_password() -> None:
    url = f"postgresql+psycopg2://me:{SECRET}@127.0.0.1:1/nodb"  # nothing listens on port 1
    with pytest.raises(ConfigError) as exc:
        make_storage(url)
    assert SECRET not in str(exc.value) and "me:***@127.0.0.1:1" in str(exc.value)
    res = CliRunner().invoke(study_app, ["status", "x", "--storage", url])
    assert res.exit_code == 2 and SECRET not in res.output


def test_storage_url_from_a_file_or_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = tmp_path / "s.journal"
    run_study(dry_spec("fromfile", budget={"n_trials": 2}), f"journal:{journal}")
    url_file = tmp_path / "storage.url"
    url_file.write_text(f"journal:{journal}\n")
    assert read_storage_url(f"@{url_file}") == f"journal:{journal}"
    res = CliRunner().invoke(study_app, ["status", "fromfile", "--storage", f"@{url_file}", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["n_complete"] == 2
    monkeypatch.setenv("ARCHLAB_STORAGE", f"journal:{journal}")
    res = CliRunner().invoke(study_app, ["status", "fromfile", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["n_complete"] == 2
    with pytest.raises(ConfigError, match="cannot read the storage URL"):
        read_storage_url(f"@{tmp_path / 'missing'}")


def test_the_stored_spec_carries_no_password(tmp_path: Path) -> None:
    spec = dry_spec("noleak", storage=f"postgresql+psycopg2://me:{SECRET}@h/db")
    study = create_study(spec, f"journal:{tmp_path / 'n.journal'}")
    attrs = json.dumps(study.user_attrs)
    assert SECRET not in attrs and "me:***@h/db" in attrs


@pytest.mark.postgres
def test_no_password_anywhere_on_postgres(db_url: str, tmp_path: Path) -> None:
    """The CI cluster trusts any password: a URL with one works, and nothing shows it."""
    url = db_url.replace("://archlab@", f"://archlab:{SECRET}@")
    assert SECRET in url
    name = f"secret_{uuid.uuid4().hex[:8]}"
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text(yaml.safe_dump({**dry_data(name, budget={"n_trials": 3}), "storage": url}))
    runner = CliRunner()
    outputs = [runner.invoke(study_app, ["run", str(spec_file), "--quiet"])]
    outputs.append(runner.invoke(study_app, ["status", name, "--storage", url, "--json"]))
    for res in outputs:
        assert res.exit_code == 0, res.output
        assert SECRET not in res.output
    study = load_study(name, url)
    assert SECRET not in json.dumps(study.user_attrs, default=str)
    for t in study.trials:
        assert SECRET not in json.dumps(t.user_attrs, default=str)
    rep = write_report(name, storage=url, out=tmp_path / "rep", html=True)
    for f in rep.out.rglob("*"):
        if f.is_file() and f.suffix in (".md", ".html", ".csv", ".json"):
            assert SECRET not in f.read_text(errors="replace"), f
