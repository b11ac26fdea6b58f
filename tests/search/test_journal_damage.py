"""A truncated or corrupt journal is refused with one line, never appended to; a torn tail is
repairable with a backup kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archlab.cli_study import study_app
from archlab.errors import ConfigError
from archlab.search import run_study, status
from archlab.search.runner import journal_problem, make_storage, repair_journal
from tests.search._util import dry_spec

runner = CliRunner()


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    path = tmp_path / "studies" / "torn.journal"
    run_study(dry_spec("torn", budget={"n_trials": 3}), f"journal:{path}")
    return path


def test_a_truncated_journal_is_refused_and_repaired(journal: Path, tmp_path: Path) -> None:
    whole = journal.read_bytes()
    journal.write_bytes(whole[:-7])  # cut mid-record, as a full disk or a killed copy leaves it
    before = journal.read_bytes()
    url = f"journal:{journal}"
    with pytest.raises(ConfigError, match="torn"):
        make_storage(url)
    res = runner.invoke(study_app, ["status", "torn", "--storage", url])
    assert res.exit_code == 2 and "torn" in res.output and "repair" in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) <= 3
    with pytest.raises(ConfigError, match="torn"):  # a worker refuses to append after the tear
        run_study(dry_spec("torn", budget={"n_trials": 5}), url)
    assert journal.read_bytes() == before
    res = runner.invoke(study_app, ["repair", "torn", "--storage", url, "--journal"])
    assert res.exit_code == 0, res.output
    assert "dropped a torn record" in res.output
    backups = list(journal.parent.glob("torn.journal.torn-*.bak"))
    assert len(backups) == 1 and backups[0].read_bytes() == before
    assert journal_problem(journal.read_bytes()) is None
    s = status("torn", url)  # readable again: the torn last record (one trial's end) is gone
    assert s["n_complete"] >= 2
    assert repair_journal(journal) == (0, None)  # whole now: nothing to do


def test_a_corrupt_middle_line_is_named(journal: Path) -> None:
    lines = journal.read_bytes().split(b"\n")
    lines[2] = b'{"op_code": 4, "worker_id": tru'
    journal.write_bytes(b"\n".join(lines))
    with pytest.raises(ConfigError, match="line 3 is not a journal record"):
        make_storage(f"journal:{journal}")
    with pytest.raises(ConfigError, match="line 3"):
        repair_journal(journal)  # not repairable: what followed cannot be trusted


def test_a_binary_journal_is_one_line(journal: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bin.journal"
    shutil.copy(journal, bad)
    bad.write_bytes(b"\xff\xfe\x00garbage\n" + journal.read_bytes())
    res = runner.invoke(study_app, ["status", "torn", "--storage", f"journal:{bad}"])
    assert res.exit_code == 2 and "line 1 is not a journal record" in res.output
