"""``archlab study …``: create, run and inspect Optuna search studies (:mod:`archlab.search`).
Registered on the main app by :mod:`archlab.cli`.

Storage URLs: ``postgresql+psycopg2://user@host/db`` (several machines), ``journal:PATH`` or a
``*.journal`` path (one machine), nothing or ``:memory:`` (one process). ``status``, ``export``,
``replay`` and ``repair`` default to ``journal:studies/NAME.journal``, the file ``study run
--workers K`` uses when no storage is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from archlab.cli_common import echo_json, err, friendly, out

if TYPE_CHECKING:
    from archlab.search.spec import StudySpec

study_app = typer.Typer(
    help="Optuna search studies from YAML specs (search/*.yaml): theory-seeded, distributed on "
    "PostgreSQL or a journal file, resumable, with per-trial provenance.",
    no_args_is_help=True,
)

STATE_STYLE = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red", "RUNNING": "cyan", "WAITING": "dim"}

StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        envvar="ARCHLAB_STORAGE",
        help="Storage URL (postgresql+psycopg2://…, journal:PATH, :memory:), or @FILE holding it; "
        "default $ARCHLAB_STORAGE. Keep passwords out of it: ~/.pgpass, or @FILE.",
    ),
]
SpecArg = Annotated[str, typer.Argument(metavar="SPEC", help="A study spec YAML (search/*.yaml).")]
ScaleOpt = Annotated[
    str | None,
    typer.Option(
        "--scale",
        help="Run at one of the spec's scales (its scales: section, e.g. cpu: budgets shrunk): "
        "another study, NAME-SCALE. Default: the spec as written.",
    ),
]


def _default_storage(name: str, storage: str | None) -> str:
    """The storage of study ``name`` (checked like a spec's name: it may name a file)."""
    from archlab.search.spec import check_study_name

    check_study_name(name)
    return storage if storage is not None else f"journal:studies/{name}.journal"


def _load_scaled(spec_path: str, scale: str | None) -> StudySpec:
    """The spec at ``scale`` (as written when None); says on one line which values the scale
    changed before anything runs."""
    from archlab.search import load_spec
    from archlab.search.spec import scale_line

    spec = load_spec(spec_path, scale=scale)
    line = scale_line(spec)
    if line is not None:
        out.print(line, markup=False)
    return spec


def _show_progress(quiet: bool) -> bool:
    """Per-trial lines unless --quiet: coloured on a terminal, plain text (one line a trial,
    flushed) in logs, nohup files and batch schedulers' output."""
    return not quiet


@study_app.command("create")
@friendly
def create_cmd(
    spec_path: SpecArg,
    storage: StorageOpt = None,
    if_exists: Annotated[
        str, typer.Option("--if-exists", help="error: refuse an existing study; load: reuse it (same spec).")
    ] = "error",
    scale: ScaleOpt = None,
) -> None:
    """Create the study once (stores the spec and its hash; enqueues the theory-seeded
    architectures). Workers then only load it."""
    from archlab.errors import ConfigError
    from archlab.search import create_study
    from archlab.search.runner import storage_kind

    if if_exists not in ("error", "load"):
        raise ConfigError("--if-exists", f"unknown value {if_exists!r}", "error, load")
    spec = _load_scaled(spec_path, scale)
    if storage_kind(storage if storage is not None else spec.storage) == "memory":
        err.print("[yellow]note:[/] in-memory storage: the study ends with this command (give --storage)")
    study = create_study(spec, storage, if_exists=if_exists)  # type: ignore[arg-type]
    seeds = study.user_attrs.get("theory_seeds", [])
    out.print(
        f"study [bold]{spec.name}[/] ready ({', '.join(spec.objective.directions)}; "
        f"{len(study.trials)} trial(s), {len(seeds)} theory seed(s) enqueued)"
    )


@study_app.command("run")
@friendly
def run_cmd(
    spec_path: SpecArg,
    storage: StorageOpt = None,
    n_trials: Annotated[
        int | None,
        typer.Option("--n-trials", min=1, max=1_000_000, help="Finished trials the study aims for in total."),
    ] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", min=0.0, help="Seconds per worker.")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=256, help="Local worker processes.")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-trial lines.")] = False,
    scale: ScaleOpt = None,
) -> None:
    """Create (or resume) the study and run the missing trials of its budget with K local
    worker processes. Without --storage (and no storage in the spec) the study is written to
    the journal file studies/NAME.journal, whatever K, so it survives the run and resumes;
    --storage :memory: keeps it in memory (one process). Ends with a line of trial states; exits
    1 when no trial was done (every one failed)."""
    from archlab.search import run_study, status
    from archlab.search.runner import mask_url

    spec = _load_scaled(spec_path, scale)
    url = storage if storage is not None else spec.storage or _default_storage(spec.name, None)
    study = run_study(
        spec, url, n_trials=n_trials, timeout=timeout, workers=workers, quiet=not _show_progress(quiet)
    )
    s = status(spec.name, study._storage)
    _print_status(spec.name, s, brief=True)
    where = "in memory (not kept)" if url == ":memory:" else mask_url(url)
    out.print(
        f"{spec.name}: {s['n_complete'] + s['n_pruned']} done ({s['n_complete']} complete, {s['n_pruned']} "
        f"pruned), {s['n_fail']} failed, {s['n_running']} running, {s['n_waiting']} waiting; {where}"
    )
    if s["n_complete"] + s["n_pruned"] == 0 and s["n_fail"] > 0:
        err.print(
            f"[bold red]error:[/] every trial of {spec.name} failed; `archlab study status {spec.name}` "
            "lists the reasons",
            markup=True,
        )
        raise typer.Exit(1)


@study_app.command("worker")
@friendly
def worker_cmd(
    spec_path: Annotated[
        str, typer.Argument(metavar="SPEC", help="The spec (and --scale) the study was created with.")
    ],
    storage: StorageOpt = None,
    rank: Annotated[int, typer.Option("--rank", min=0, help="Worker rank: sampler seed = seed + rank.")] = 0,
    n_trials: Annotated[
        int | None,
        typer.Option(
            "--n-trials", min=1, max=1_000_000, help="Exactly N trials (default: to the study budget)."
        ),
    ] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", min=0.0, help="Seconds.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-trial lines.")] = False,
    scale: ScaleOpt = None,
) -> None:
    """One worker (launch on other machines: Slurm array, k8s Job): loads the study (never creates
    it) and runs exactly --n-trials trials, or, without it, trials until the study has its budget of
    done (complete or pruned) trials: a soft cap shared by every worker, overshot by at most
    workers − 1; --timeout stops it either way."""
    from archlab.errors import ConfigError
    from archlab.search import run_worker

    spec = _load_scaled(spec_path, scale)
    url = storage or spec.storage
    if url is None:
        raise ConfigError("--storage", "a worker needs a shared storage (the study's URL)")
    ran = run_worker(
        spec, url, rank=rank, n_trials=n_trials, timeout=timeout, quiet=not _show_progress(quiet)
    )
    out.print(f"worker {rank}: {ran} trial(s) run")


def _value_cell(values: list[float | None] | None) -> str:
    if not values:
        return "—"
    return ", ".join("nan" if v is None else f"{v:.4g}" for v in values)


def _print_status(name: str, s: dict[str, Any], brief: bool = False) -> None:
    counts = "  ".join(
        f"[{STATE_STYLE[k.upper()]}]{k}[/] {s[f'n_{k}']}"
        for k in ("complete", "pruned", "fail", "running", "waiting")
    )
    out.print(f"study [bold]{name}[/]: {counts}")
    if s["best"]:
        table = Table(title="best trial(s)" if len(s["best"]) == 1 else "Pareto front", title_justify="left")
        for col in ("trial", "value(s)", "params"):
            table.add_column(col, overflow="fold")
        for b in s["best"]:
            params = ", ".join(f"{k}={v}" for k, v in b["params"].items())
            table.add_row(str(b["number"]), _value_cell(b["values"]), params)
        out.print(table)
    if brief:
        return
    if s["running"]:
        table = Table(title="running", title_justify="left")
        for col in ("trial", "age", "since heartbeat", "worker"):
            table.add_column(col)
        for r in s["running"]:
            table.add_row(
                str(r["number"]),
                f"{r['age_s']:.0f} s",
                f"{r['since_heartbeat_s']:.0f} s",
                str(r["worker_rank"]),
            )
        out.print(table)
    if s["failures"]:
        table = Table(title="failures", title_justify="left")
        for col in ("trial", "reason", "retried by"):
            table.add_column(col, overflow="fold")
        for f in s["failures"]:
            table.add_row(str(f["number"]), f["reason"], ", ".join(map(str, f["retried_by"])) or "—")
        out.print(table)


@study_app.command("status")
@friendly
def status_cmd(
    name: Annotated[str, typer.Argument(help="Study name (the spec's name).")],
    storage: StorageOpt = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print counts (n_complete, n_fail, n_pruned, n_running, n_waiting), trials, best, "
            "running, failures as JSON.",
        ),
    ] = False,
) -> None:
    """Counts per state, best trial(s) / Pareto front, running trials with their age, failures
    with their reasons."""
    from archlab.search import status

    s = status(name, _default_storage(name, storage))
    if as_json:
        echo_json(s)
        return
    _print_status(name, s)


@study_app.command("export")
@friendly
def export_cmd(
    name: Annotated[str, typer.Argument(help="Study name.")],
    out_path: Annotated[str, typer.Option("--out", help="CSV file to write (atomically).")],
    storage: StorageOpt = None,
) -> None:
    """Every trial as a CSV row: state, value(s), params, times, retries, worker, fail reason,
    per-probe scores, predictions and agreement (JSON cells)."""
    from archlab.search import export

    n = export(name, _default_storage(name, storage), out_path)
    out.print(f"{n} trial(s) → {out_path}")


@study_app.command("replay")
@friendly
def replay_cmd(
    name: Annotated[str, typer.Argument(help="Study name.")],
    number: Annotated[int, typer.Argument(metavar="TRIAL_NUMBER", help="The trial to re-run.")],
    storage: StorageOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the replayed record as JSON.")] = False,
) -> None:
    """Re-run one trial's params with the study's stored spec (optuna FixedTrial)."""
    from archlab.search import replay

    rec = replay(name, _default_storage(name, storage), number)
    if as_json:
        echo_json(rec)
        return
    out.print(
        f"trial {number}: stored {_value_cell(rec['stored_values'])}, replayed {_value_cell(rec['values'])}"
    )
    if "fail_reason" in rec["user_attrs"]:
        err.print(f"[red]failed:[/] {rec['user_attrs']['fail_reason']}")


@study_app.command("repair")
@friendly
def repair_cmd(
    name: Annotated[str, typer.Argument(help="Study name.")],
    older_than: Annotated[
        float,
        typer.Option("--older-than", min=0.0, help="Seconds without a heartbeat before a trial is stale."),
    ] = 60.0,
    storage: StorageOpt = None,
    retry: Annotated[bool, typer.Option("--retry/--no-retry", help="Re-enqueue the failed trials.")] = True,
    journal: Annotated[
        bool,
        typer.Option(
            "--journal", help="First drop a torn last record of the journal file (a backup is kept)."
        ),
    ] = False,
) -> None:
    """Fail RUNNING trials whose worker died (journal storage has no heartbeat of its own):
    no sign of life for --older-than seconds. Keep it well above the heartbeat interval.
    With --journal, first cut a torn record off the end of the journal (a truncated file, or a
    writer killed mid-record), keeping the whole file as a backup."""
    from pathlib import Path

    from archlab.errors import ConfigError
    from archlab.search import repair
    from archlab.search.runner import read_storage_url, repair_journal, storage_kind

    url = _default_storage(name, storage)
    if journal:
        resolved = read_storage_url(url)
        if not isinstance(resolved, str) or storage_kind(resolved) != "journal":
            raise ConfigError("--journal", "the study's storage is not a journal file")
        path = Path(resolved.removeprefix("journal:"))
        dropped, backup = repair_journal(path)
        if backup is None:
            out.print(f"{path}: whole, nothing to drop")
        else:
            out.print(f"{path}: dropped a torn record of {dropped} bytes (backup: {backup})")
    failed = repair(name, url, older_than, retry=retry)
    out.print(f"failed {len(failed)} stale trial(s){': ' + ', '.join(map(str, failed)) if failed else ''}")
