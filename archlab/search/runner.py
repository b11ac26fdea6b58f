"""Creating, running, inspecting and repairing studies on any Optuna storage.

Storages (:func:`make_storage`):

* ``None`` or ``":memory:"`` → ``InMemoryStorage`` (one process: tests, notebooks);
* ``journal:PATH`` or a path ending in ``.journal``/``.log`` → ``JournalStorage(JournalFileBackend)``
  (several processes on one machine; no heartbeat: :func:`repair` fails stale trials);
* ``postgresql…``/``sqlite…`` URLs → ``RDBStorage`` with ``pool_pre_ping``, the spec's heartbeat and
  ``RetryHeartbeatStaleTrialCallback(max_retry)``: a trial whose worker died is failed by the next
  worker that asks for a trial, and re-enqueued with the same params (``retried_from``).

Life cycle: :func:`create_study` creates the study **once** (storing the spec and its hash as
study user attrs, then enqueueing the theory-seeded architectures); workers only load it
(:func:`run_worker`, sampler seed = ``sampler.seed + rank``). :func:`run_study` does both, with
``workers`` spawned processes (a journal file ``studies/<name>.journal`` when no storage is given
and ``workers > 1``).

Budgets: ``budget.n_trials`` counts the **done** trials of the whole study (complete or pruned:
they measured something); a failed trial does not count, and a killed one is retried. A study
stops early once as many trials have failed as its budget (its trials keep failing: `study status`
says why). :func:`run_study` runs the missing trials in rounds, each split exactly over its
workers (so without failures it runs exactly the budget), until the budget is done; a resumed run
continues the trial numbers, never re-runs a finished trial, and gives its workers ranks (sampler
seeds ``seed + rank``) past those the study has seen. A standalone worker without
``n_trials`` stops at a **soft** cap shared by every worker: before each trial it counts the done
trials and the live running ones (heartbeat within ``grace_s``), so concurrent workers overshoot
the budget by at most ``workers − 1`` done trials (those deciding in the same instant); enforce an
exact budget in the analysis (first N done trials). A worker killed during the last trials can
leave such a study short (the others stopped, counting its trial as running): one more worker,
or :func:`run_study`, finishes it.

Theory seeding (:func:`theory_candidates`): every assignment of the model fields searched with
``choices`` (conditions respected, at most 512 enumerated) is built on the base model; the ones
:func:`archlab.theory.predict` calls ``expressible`` for **every** probe of the suite at its
longest test length are enqueued, in enumeration order, at most :data:`SEED_LIMIT`; range and
training fields are left to the sampler. Grid studies are not seeded (the grid covers them all).
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import multiprocessing
import re
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

import optuna
from optuna.storages import (
    BaseStorage,
    InMemoryStorage,
    JournalStorage,
    RDBStorage,
    RetryHeartbeatStaleTrialCallback,
)
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock
from optuna.trial import FrozenTrial, TrialState

import archlab
from archlab.atomic import atomic_write, json_default
from archlab.config import ProbeSuiteConfig
from archlab.errors import ArchlabError, ConfigError
from archlab.search.objective import (
    CATCH,
    DONE,
    FINISHED,
    Objective,
    budget_reached,
    last_alive,
    trial_record,
)
from archlab.search.space import build_configs, enumerate_choices, grid_space
from archlab.search.spec import HeartbeatSpec, StudySpec, canonical, spec_hash

_log = logging.getLogger(__name__)

__all__ = [
    "FINISHED",
    "SEED_LIMIT",
    "StudyExistsError",
    "create_study",
    "export",
    "load_study",
    "make_pruner",
    "make_sampler",
    "make_storage",
    "repair",
    "replay",
    "run_study",
    "run_worker",
    "status",
    "storage_kind",
    "stored_spec",
    "theory_candidates",
]

#: the most architectures theory seeding enqueues
SEED_LIMIT = 8
#: states that count against a budget

StorageArg = str | BaseStorage | None


class StudyExistsError(ArchlabError):
    """The study already exists (with this or another spec)."""


# ---------------------------------------------------------------------------------------------
# storages, samplers, pruners
# ---------------------------------------------------------------------------------------------


_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):(?P<password>[^@/\s]*)@")


def mask_url(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``
    (``postgresql://user:***@host/db``): what any message, report or stored attribute shows."""
    return _PASSWORD.sub(lambda m: f"{m['head']}:***@", text)


def read_storage_url(url: StorageArg) -> StorageArg:
    """``@FILE`` → the URL written in FILE (its first line), so that a password need not appear
    on a command line (``ps``) or in a spec; anything else unchanged. ``--storage`` also reads
    ``$ARCHLAB_STORAGE``; a URL without a password lets libpq take it from ``~/.pgpass``."""
    if not isinstance(url, str) or not url.startswith("@"):
        return url
    path = Path(url[1:]).expanduser()
    try:
        line = path.read_text(encoding="utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("storage", f"cannot read the storage URL from {path}: {exc}") from None
    if not line or not line[0].strip():
        raise ConfigError("storage", f"{path} is empty", "a file whose first line is the storage URL")
    return line[0].strip()


def storage_kind(url: StorageArg) -> Literal["memory", "journal", "rdb"]:
    url = read_storage_url(url)
    if url is None or isinstance(url, InMemoryStorage) or url == ":memory:":
        return "memory"
    if isinstance(url, JournalStorage):
        return "journal"
    if isinstance(url, BaseStorage):
        return "rdb"
    if url.startswith(("postgresql", "sqlite", "mysql")):
        return "rdb"
    if url.startswith("journal:") or url.endswith((".journal", ".log")):
        return "journal"
    raise ConfigError(
        "storage",
        f"cannot tell the storage kind of {mask_url(url)!r}",
        "null/:memory:, journal:PATH, PATH.journal, PATH.log, postgresql+psycopg2://…, sqlite:///…",
    )


def journal_problem(data: bytes) -> str | None:
    """What is wrong with a journal file's bytes, or None: a line that is not a JSON record (a
    corrupt middle), or a last record without its newline (a torn tail: the file was truncated,
    or a writer died mid-record)."""
    lines = data.split(b"\n")
    tail = lines.pop()  # what follows the last newline: empty when the file is whole
    for i, line in enumerate(lines, 1):
        try:
            json.loads(line)
        except ValueError:
            return f"line {i} is not a journal record (corrupt; restore the file from a backup)"
    if tail:
        return f"the last record (line {len(lines) + 1}, {len(tail)} bytes) is torn: the file ends mid-record"
    return None


@contextlib.contextmanager
def _journal_lock(path: Path) -> Iterator[None]:
    """The journal's own writer lock (Optuna's), so that a record being written is not read as torn."""
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def check_journal(path: Path) -> None:
    """Refuse a journal with a torn tail or a corrupt line (one line naming the file and the
    line) before any worker reads or appends to it."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with _journal_lock(path):
        data = path.read_bytes()
    problem = journal_problem(data)
    if problem is not None:
        fix = (
            "drop the torn record with `archlab study repair NAME --journal` (a backup is kept)"
            if "torn" in problem
            else "restore the journal from a backup"
        )
        raise ConfigError("storage", f"{path}: {problem}", fix)


def repair_journal(path: Path) -> tuple[int, Path | None]:
    """Drop a journal's torn last record, keeping the whole file as ``PATH.torn-TIME.bak``;
    returns (bytes dropped, the backup) — (0, None) if the file was whole. A corrupt middle
    line is not repaired (an error names it): what followed it cannot be trusted."""
    with _journal_lock(path):
        data = path.read_bytes()
        problem = journal_problem(data)
        if problem is None:
            return 0, None
        if "torn" not in problem:
            raise ConfigError("storage", f"{path}: {problem}", "restore the journal from a backup")
        keep = data[: data.rfind(b"\n") + 1]
        backup = path.with_name(f"{path.name}.torn-{time.strftime('%Y%m%dT%H%M%S')}.bak")
        atomic_write(backup, lambda f: f.write(data), mode="wb")
        atomic_write(path, lambda f: f.write(keep), mode="wb")
    return len(data) - len(keep), backup


def make_storage(url: StorageArg, heartbeat: HeartbeatSpec | None = None) -> BaseStorage:
    """An Optuna storage for ``url`` (see the module docstring); storages pass through."""
    if isinstance(url, BaseStorage):
        return url
    url = read_storage_url(url)
    kind = storage_kind(url)
    if kind == "memory":
        return InMemoryStorage()
    assert isinstance(url, str)
    if kind == "journal":
        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        check_journal(path)
        return JournalStorage(JournalFileBackend(str(path)))
    hb = heartbeat or HeartbeatSpec()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return RDBStorage(
                url,
                engine_kwargs={"pool_pre_ping": True},
                heartbeat_interval=hb.interval_s,
                grace_period=hb.grace_s,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=hb.max_retry),
            )
        except ImportError as exc:
            raise ConfigError(
                "storage", mask_url(f"{url}: driver missing ({exc})"), "pip install psycopg2-binary"
            ) from None
        except Exception as exc:  # sqlalchemy's connection errors: one readable line, no password
            raise ConfigError(
                "storage", mask_url(f"cannot open {url}: {type(exc).__name__}: {exc}")
            ) from None


def check_args(
    field: str, cls: Callable[..., object], args: dict[str, Any], managed: tuple[str, ...]
) -> None:
    """``args`` must be keyword parameters of ``cls`` that archlab does not set itself
    (``managed``, e.g. ``seed``): an unknown one is an error listing the valid ones."""
    import inspect

    params = inspect.signature(cls).parameters
    valid = sorted(
        n for n, p in params.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in managed and n != "self"
    )  # fmt: skip
    for key in args:
        if key in managed:
            raise ConfigError(f"{field}.{key}", "is set by archlab, not in args", ", ".join(valid) or "none")
        if key not in valid:
            name = getattr(cls, "__name__", str(cls))
            raise ConfigError(f"{field}.{key}", f"not an argument of {name}", ", ".join(valid) or "none")


def make_sampler(spec: StudySpec, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The spec's sampler, always explicit (Optuna 5 defaults shift between versions). Its
    ``args`` are checked against the sampler's own parameters (random and grid take none)."""
    s = spec.sampler
    seed = s.seed if seed is None else seed
    args = dict(s.args)
    classes: dict[str, Callable[..., object]] = {
        "tpe": optuna.samplers.TPESampler, "gp": optuna.samplers.GPSampler,
        "nsga2": optuna.samplers.NSGAIISampler,
    }  # fmt: skip
    if s.name in classes:
        check_args("sampler.args", classes[s.name], args, ("seed",))
    elif args:
        raise ConfigError("sampler.args", f"the {s.name} sampler takes no arguments", "args: {}")
    conditional = any(d.when for d in spec.space.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if s.name == "tpe":
            args.setdefault("multivariate", True)
            args.setdefault("group", conditional)
            args.setdefault("constant_liar", True)
            return optuna.samplers.TPESampler(seed=seed, **args)
        if s.name == "gp":
            return optuna.samplers.GPSampler(seed=seed, **args)
        if s.name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed, **args)
        if s.name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if conditional:  # a tree of cells: each branch's fields only where its condition holds
            return optuna.samplers.BruteForceSampler(seed=seed)
        return optuna.samplers.GridSampler(grid_space(spec), seed=seed)


def make_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    p = spec.pruner
    classes: dict[str, Callable[..., optuna.pruners.BasePruner]] = {
        "wilcoxon": optuna.pruners.WilcoxonPruner,
        "median": optuna.pruners.MedianPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
    }
    if p.name not in classes:
        if p.args:
            raise ConfigError("pruner.args", f"the {p.name} pruner takes no arguments", "args: {}")
        return optuna.pruners.NopPruner()
    check_args("pruner.args", classes[p.name], dict(p.args), ())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return classes[p.name](**p.args)
        except (TypeError, ValueError) as exc:
            raise ConfigError("pruner.args", str(exc)) from None


# ---------------------------------------------------------------------------------------------
# create / load
# ---------------------------------------------------------------------------------------------


def theory_candidates(spec: StudySpec, limit: int = SEED_LIMIT) -> list[dict[str, Any]]:
    """The architectures (choice params) theory predicts can express every probe (module doc).
    None for a DNA objective: the theory engine's rules speak about probes."""
    if spec.is_dna:
        return []
    from archlab.probes.suite import ProbeSuite
    from archlab.theory import predict, probe_facts

    suite = ProbeSuite(spec.suite_config())
    facts = {e.index: probe_facts(e.probe) for e in suite}
    out: list[dict[str, Any]] = []
    for params in enumerate_choices(spec):
        if not params:
            continue
        try:
            model_cfg, _ = build_configs(spec, params)
        except ConfigError:
            continue
        if all(
            predict(e.probe, model_cfg, [max(e.test_lengths)], facts=facts[e.index])[0].verdict
            == "expressible"
            for e in suite
        ):
            out.append(params)
            if len(out) >= limit:
                break
    return out


def _load(
    name: str, storage: BaseStorage, sampler: optuna.samplers.BaseSampler | None = None
) -> optuna.Study:
    try:
        return optuna.load_study(
            study_name=name, storage=storage, sampler=sampler or optuna.samplers.RandomSampler(seed=0)
        )
    except KeyError:
        names = optuna.get_all_study_names(storage=storage)
        from archlab.errors import UnknownNameError

        raise UnknownNameError("study", name, names, "create it with `archlab study create SPEC`") from None


#: the second objective's name, as optuna-dashboard shows it
SECOND_NAMES = {
    "params": "parameters",
    "flops": "FLOPs",
    "wall_time": "wall time (s)",
    "state_floats": "state size (floats)",
}


def metric_names(spec: StudySpec) -> list[str]:
    """The names of a study's values (``study.set_metric_names``): what the trial's value is
    the mean of, then the second objective's name."""
    obj = spec.objective
    if obj.kind == "synthetic":
        first = "synthetic score (dry objective)"
    elif spec.is_dna:
        first = "mean validation score over the DNA tasks (AUROC, accuracy or Pearson r)"
    elif obj.aggregate == "mean_seq_acc":
        first = "mean sequence accuracy at the test lengths (mean over the probes)"
    else:
        first = "mean scaled accuracy at the test lengths (mean over the probes)"
    return [first] if obj.second is None else [first, SECOND_NAMES[obj.second]]


def create_study(
    spec: StudySpec, storage: StorageArg = None, *, if_exists: Literal["error", "load"] = "error"
) -> optuna.Study:
    """Create the study once; store the spec and its hash; enqueue the theory seeds.

    If it exists: ``if_exists="load"`` loads it when its spec hash matches; otherwise (or with
    another spec) a :class:`StudyExistsError` says so."""
    st = make_storage(storage if storage is not None else spec.storage, spec.heartbeat)
    digest = spec_hash(spec)
    sampler = make_sampler(spec)
    try:
        study = optuna.create_study(
            storage=st,
            study_name=spec.name,
            directions=spec.objective.directions,
            sampler=sampler,
            pruner=make_pruner(spec),
        )
    except optuna.exceptions.DuplicatedStudyError:
        study = _load(spec.name, st, sampler)
        theirs = study.user_attrs.get("spec_hash")
        if theirs != digest:
            _check_same_scale(study, spec)
            raise StudyExistsError(
                f"study {spec.name!r} already exists with a different spec (hash {str(theirs)[:12]} ≠ "
                f"{digest[:12]}); rename the study or use the original spec"
            ) from None
        if if_exists != "load":
            raise StudyExistsError(
                f"study {spec.name!r} already exists (same spec); use --if-exists load to reuse it"
            ) from None
        return study
    stored = canonical(spec)
    if isinstance(stored.get("storage"), str):
        stored["storage"] = mask_url(stored["storage"])  # no password in the database
    study.set_user_attr("spec", stored)
    study.set_user_attr("suite", None if spec.is_dna else spec.suite_config().model_dump(mode="json"))
    study.set_user_attr("archlab_version", archlab.__version__)
    study.set_user_attr("created_at", time.time())
    # the scale it runs at (None: the spec as written), so that no scaled study passes for the other
    study.set_user_attr("scale", None if spec.scale is None else spec.scale.model_dump(mode="json"))
    with warnings.catch_warnings():  # (experimental in Optuna 5: a warning per study otherwise)
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(metric_names(spec))  # what optuna-dashboard labels the values with
    seeds: list[dict[str, Any]] = []
    if spec.theory_seed and spec.sampler.name != "grid":
        seeds = theory_candidates(spec)
        for params in seeds:
            study.enqueue_trial(params, user_attrs={"theory_seed": True}, skip_if_exists=True)
    study.set_user_attr("theory_seeds", seeds)
    study.set_user_attr("spec_hash", digest)  # last: a study with a hash is complete
    return study


def _scale_words(scale: Any) -> str:
    """How a stored or applied scale reads in a message."""
    if isinstance(scale, dict) and scale.get("name"):
        return f"scale {scale['name']} of spec {scale.get('spec_name', '?')}"
    return "the spec as written (no --scale)"


def _check_same_scale(study: optuna.Study, spec: StudySpec) -> None:
    """A clear refusal when an existing study was created at another scale than ``spec`` asks
    for (its hash differs then, and the scale is why)."""
    theirs = study.user_attrs.get("scale")
    ours = None if spec.scale is None else spec.scale.model_dump(mode="json")
    if (theirs or {}).get("name") != (ours or {}).get("name"):
        raise StudyExistsError(
            f"study {spec.name!r} was created at {_scale_words(theirs)}, not at {_scale_words(ours)}: "
            "a study runs at one scale; resume it with the scale it was created at, or give another "
            "--storage"
        )


def load_study(name: str, storage: StorageArg) -> optuna.Study:
    """An existing study (for status, export, replay)."""
    return _load(name, make_storage(storage))


def stored_spec(study: optuna.Study) -> tuple[StudySpec, ProbeSuiteConfig | None]:
    """The spec and suite a study was created with (from its user attrs; no suite for DNA)."""
    attrs = study.user_attrs
    if "spec" not in attrs or "suite" not in attrs:
        raise ArchlabError(f"study {study.study_name!r} was not created by archlab (no stored spec)")
    suite = attrs["suite"]
    return (
        StudySpec.model_validate(attrs["spec"]),
        ProbeSuiteConfig.model_validate(suite) if suite is not None else None,
    )


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------


def _n_done(study: optuna.Study) -> int:
    """The trials that count toward the budget (:data:`DONE`: complete or pruned)."""
    return len(study.get_trials(deepcopy=False, states=DONE))


def _n_failed(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))


def _fmt_values(values: Sequence[float] | None) -> str:
    if not values:
        return "—"
    return ", ".join(f"{v:.4g}" for v in values)


def progress_callback(rank: int = 0) -> Callable[[optuna.Study, FrozenTrial], None]:
    """One line per finished trial: number, state, value(s) (rich)."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    style = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red"}

    def cb(study: optuna.Study, trial: FrozenTrial) -> None:
        state = trial.state.name
        line = f"[dim]w{rank}[/] trial {trial.number:>4} [{style.get(state, '')}]{state:<8}[/] "
        line += _fmt_values(trial.values)
        if trial.state == TrialState.FAIL:
            line += f"  [dim]{trial_record(trial).get('fail_reason', '')}[/]"
        console.print(line)

    return cb


def run_worker(
    spec: StudySpec,
    storage: StorageArg = None,
    *,
    rank: int = 0,
    n_trials: int | None = None,
    timeout: float | None = None,
    max_total: int | None = None,
    quiet: bool = True,
) -> int:
    """Load the study and run trials: exactly ``n_trials`` of them (the budget is not consulted),
    or, when ``n_trials`` is None, until the study has ``max_total`` done trials (default
    ``budget.n_trials``: a soft cap shared by every worker, checked before each trial; see the
    module docstring), or until ``timeout``. Returns the number of trials this worker ran."""
    st = make_storage(storage if storage is not None else spec.storage, spec.heartbeat)
    seed = spec.sampler.seed + rank
    study = _load(spec.name, st, make_sampler(spec, seed))
    study.pruner = make_pruner(spec)
    theirs = study.user_attrs.get("spec_hash")
    if theirs != spec_hash(spec):
        _check_same_scale(study, spec)
        raise StudyExistsError(
            f"study {spec.name!r} was created with another spec (hash {str(theirs)[:12]}); "
            "a worker must use the spec the study was created with"
        )
    total = max_total if max_total is not None else spec.budget.n_trials
    grace = spec.heartbeat.grace_s

    def reached() -> bool:
        trials = study.get_trials(deepcopy=False)
        return n_trials is None and total is not None and budget_reached(trials, total, grace, time.time())

    if reached():
        return 0
    if n_trials == 0:
        return 0
    tick = float(spec.heartbeat.interval_s) if storage_kind(st) != "memory" else None
    # the budget check lives in the objective: a callback would cost a deep copy of every trial
    cap = total if n_trials is None else None
    objective = Objective(spec, rank=rank, sampler_seed=seed, tick_s=tick, max_total=cap)
    callbacks: list[Callable[[optuna.Study, FrozenTrial], None]] = []
    if not quiet:
        callbacks.append(progress_callback(rank))
    ran = [0]  # the trials this worker ran itself (not the study's total, which others raise)

    def count(_study: optuna.Study, _trial: FrozenTrial) -> None:
        ran[0] += 1

    callbacks.append(count)
    deadline = time.monotonic() + timeout if timeout is not None else None
    prev = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        while True:
            left = None if n_trials is None else n_trials - ran[0]
            wait = None if deadline is None else deadline - time.monotonic()
            if (left is not None and left <= 0) or (wait is not None and wait <= 0):
                break
            try:
                study.optimize(objective, n_trials=left, timeout=wait, catch=CATCH, callbacks=callbacks)
                break
            except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError, AssertionError) as exc:
                if not _failed_under_us(exc):
                    raise
                ran[0] += 1  # it ran here, and another process failed it (its heartbeat looked stale)
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                _log.warning(
                    "worker %d: its trial was failed under it (%s); going on with the next", rank, first
                )
                if reached():
                    break
    finally:
        optuna.logging.set_verbosity(prev)
        objective.close()
    return ran[0]


def _failed_under_us(exc: BaseException) -> bool:
    """Whether ``exc`` is Optuna refusing to finish a trial that another process already finished
    (the RDB heartbeat failed it as stale while this worker was still computing it)."""
    if isinstance(exc, optuna.exceptions.UpdateFinishedTrialError):
        return True
    if isinstance(exc, AssertionError):  # Optuna 5.1 masks the refusal with "Should not reach."
        return exc.__context__ is not None and _failed_under_us(exc.__context__)
    text = str(exc)
    return "Cannot tell a" in text or "has already finished" in text


def _worker_main(
    spec: StudySpec, storage: str, rank: int, n_trials: int | None, timeout: float | None, total: int | None,
    quiet: bool,
) -> None:  # fmt: skip
    """Entry point of a spawned worker process."""
    import torch

    torch.set_num_threads(1)
    run_worker(spec, storage, rank=rank, n_trials=n_trials, timeout=timeout, max_total=total, quiet=quiet)


def split(n: int, workers: int) -> list[int]:
    """``n`` trials over ``workers`` as evenly as possible (exact total)."""
    return [n // workers + (1 if k < n % workers else 0) for k in range(workers)]


def run_study(
    spec: StudySpec,
    storage: StorageArg = None,
    *,
    n_trials: int | None = None,
    timeout: float | None = None,
    workers: int = 1,
    quiet: bool = True,
) -> optuna.Study:
    """Create (or load, same spec) the study, then run the missing trials of the budget in
    ``workers`` processes (in this process when 1). Returns the study."""
    if workers < 1:
        raise ConfigError("--workers", f"must be >= 1, got {workers}")
    # the sampler's and pruner's arguments are checked before any storage file is made
    make_sampler(spec, spec.sampler.seed)
    make_pruner(spec)
    url = storage if storage is not None else spec.storage
    if workers > 1:
        if url is None:
            url = f"journal:studies/{spec.name}.journal"
        if storage_kind(url) == "memory":
            raise ConfigError("storage", "an in-memory study cannot be shared by several worker processes")
        if isinstance(url, BaseStorage):
            raise ConfigError("storage", "give a URL (not a storage object) to run several worker processes")
    st = make_storage(url, spec.heartbeat)
    study = create_study(spec, st, if_exists="load")
    total = n_trials if n_trials is not None else spec.budget.n_trials
    timeout = timeout if timeout is not None else spec.budget.timeout_s
    deadline = None if timeout is None else time.monotonic() + timeout
    # the first rank past every rank the study has seen, so that a resumed run's samplers do not
    # repeat the seeds (and, for the random sampler, the proposals) of an earlier run
    seen = [trial_record(t).get("worker_rank") for t in study.get_trials(deepcopy=False)]
    last, first_rank = (-1, -1), 1 + max((r for r in seen if isinstance(r, int)), default=-1)
    # rounds: each runs the trials still missing, split exactly over the workers; a failed trial
    # does not count, so the next round replaces it (a killed one with its retry). Each round's
    # workers get the next ranks (first_rank, first_rank + 1, …): new sampler seeds.
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            break
        done, failed = _n_done(study), _n_failed(study)
        if total is not None and done >= total:
            break
        if total is not None and failed >= total:
            _log.warning(
                "study %r: %d trials failed, as many as its budget: stopping with %d of %d done "
                "(`archlab study status %s` shows why)", spec.name, failed, done, total, spec.name,
            )  # fmt: skip
            break
        missing = None if total is None else total - done
        if done + failed > 0 and (done, failed) == last:
            break  # the round ended nothing (its workers were stopped): do not spin
        last = (done, failed)
        if workers == 1:
            run_worker(
                spec, st, rank=first_rank, n_trials=missing, timeout=left, max_total=total, quiet=quiet
            )
        else:
            assert isinstance(url, str)
            _run_round(spec, url, range(first_rank, first_rank + workers), missing, left, total, quiet)
        first_rank += workers
        if total is None:  # a time budget only: the round ran to the deadline
            break
    return study


def _run_round(
    spec: StudySpec, url: str, ranks: range, missing: int | None, timeout: float | None, total: int | None,
    quiet: bool,
) -> None:  # fmt: skip
    """``missing`` trials (None: until the timeout) split exactly over one spawned process per
    rank; raises when a worker process fails."""
    n = len(ranks)
    shares: list[int | None] = list(split(missing, n)) if missing is not None else [None] * n
    ctx = multiprocessing.get_context("spawn")
    started = [
        (r, ctx.Process(target=_worker_main, args=(spec, url, r, share, timeout, total, quiet), daemon=False))
        for r, share in zip(ranks, shares, strict=True)
        if share != 0
    ]
    procs = [p for _, p in started]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        for p in procs:
            p.join(timeout=30)
        raise
    bad = [(r, p.exitcode) for r, p in started if p.exitcode != 0]
    if bad:
        raise ArchlabError(f"worker process(es) failed: {', '.join(f'rank {k} exit {c}' for k, c in bad)}")


# ---------------------------------------------------------------------------------------------
# inspecting
# ---------------------------------------------------------------------------------------------


def retried_from(trial: FrozenTrial) -> int | None:
    """The number of the (original) trial this one retries, or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)


def retried_directly(trial: FrozenTrial) -> int | None:
    """The trial this one is the direct retry of (the last of its retry history: for a retry of
    a retry, the failed retry, not the original), or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        history = RetryHeartbeatStaleTrialCallback.retry_history(trial)
    return history[-1] if history else None


def _clean(v: float | None) -> float | None:
    return None if v is None or math.isnan(v) else float(v)


def status(name: str, storage: StorageArg) -> dict[str, Any]:
    """Counts per state, every trial, best trial(s) (Pareto front when multi-objective), running
    trials with their age, failures with their reasons. Keys: ``n_complete``, ``n_fail``,
    ``n_pruned``, ``n_running``, ``n_waiting``, ``trials``, ``best``, ``running``, ``failures``."""
    study = load_study(name, storage)
    trials = study.get_trials(deepcopy=False)
    now = time.time()
    count = {s: 0 for s in TrialState}
    for t in trials:
        count[t.state] += 1
    retries: dict[int, list[int]] = {}
    rows = []
    for t in trials:
        src = retried_from(t)
        parent = retried_directly(t)
        if parent is not None:  # each failure names its own retry, so none looks lost
            retries.setdefault(parent, []).append(t.number)
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": _clean(t.values[0]) if t.values else None,
                "values": [_clean(v) for v in t.values] if t.values else None,
                "retried_from": src,
            }
        )
    if len(study.directions) > 1:
        best_trials = study.best_trials
    else:
        try:
            best_trials = [study.best_trial]
        except ValueError:
            best_trials = []
    best = [{"number": t.number, "values": list(t.values), "params": t.params} for t in best_trials]
    running = [
        {
            "number": t.number,
            "age_s": now - (t.datetime_start.timestamp() if t.datetime_start else now),
            "since_heartbeat_s": now - last_alive(t),
            "worker_rank": trial_record(t).get("worker_rank"),
        }
        for t in trials
        if t.state == TrialState.RUNNING
    ]
    failures = [
        {
            "number": t.number,
            "reason": trial_record(t).get("fail_reason")
            or "no reason recorded (worker killed? failed as stale by the heartbeat)",
            "retried_by": retries.get(t.number, []),
        }
        for t in trials
        if t.state == TrialState.FAIL
    ]
    return {
        "n_complete": count[TrialState.COMPLETE],
        "n_fail": count[TrialState.FAIL],
        "n_pruned": count[TrialState.PRUNED],
        "n_running": count[TrialState.RUNNING],
        "n_waiting": count[TrialState.WAITING],
        "trials": rows,
        "best": best,
        "running": running,
        "failures": failures,
    }


def _iso(d: datetime | None) -> str:
    return d.isoformat() if d is not None else ""


def export(name: str, storage: StorageArg, out_csv: str | Path) -> int:
    """Write every trial as one CSV row (atomically); returns the number of rows. Columns:
    number, state, value_0…, params_<field>…, start/complete times, duration, retried_from,
    worker_rank, sampler_seed, wall_time_s, fail_reason, scores/predictions/agreement as JSON."""
    study = load_study(name, storage)
    trials = study.get_trials(deepcopy=False)
    n_values = len(study.directions)
    param_names = sorted({k for t in trials for k in t.params})
    header = [
        "number", "state", *[f"value_{i}" for i in range(n_values)], *[f"params_{p}" for p in param_names],
        "datetime_start", "datetime_complete", "duration_s", "retried_from", "worker_rank",
        "sampler_seed", "wall_time_s", "fail_reason", "scores", "predictions", "agreement",
    ]  # fmt: skip

    def write(f: IO[Any]) -> None:
        w = csv.writer(f)
        w.writerow(header)
        for t in trials:
            vals = list(t.values) if t.values else [None] * n_values
            dur = t.duration.total_seconds() if t.duration is not None else None
            u = trial_record(t)

            def js(key: str, attrs: dict[str, Any] = u) -> str:
                return json.dumps(attrs[key], default=json_default) if key in attrs else ""

            w.writerow(
                [
                    t.number, t.state.name, *vals, *[t.params.get(p, "") for p in param_names],
                    _iso(t.datetime_start), _iso(t.datetime_complete), dur, retried_from(t),
                    u.get("worker_rank"), u.get("sampler_seed"), u.get("wall_time_s"),
                    u.get("fail_reason", ""), js("scores"), js("predictions"), js("agreement"),
                ]
            )  # fmt: skip

    atomic_write(out_csv, write, mode="w")
    return len(trials)


def replay(name: str, storage: StorageArg, number: int) -> dict[str, Any]:
    """Re-run trial ``number``'s params with ``optuna.trial.FixedTrial`` and the stored spec;
    returns ``{number, params, stored_values, values, user_attrs}`` (``user_attrs``: the
    replay's record, :func:`~archlab.search.objective.trial_record`)."""
    study = load_study(name, storage)
    match = [t for t in study.get_trials(deepcopy=False) if t.number == number]
    if not match:
        raise ConfigError("trial", f"study {name!r} has no trial {number}", f"0–{len(study.trials) - 1}")
    trial = match[0]
    spec, suite = stored_spec(study)
    fixed = optuna.trial.FixedTrial(dict(trial.params), number=number)
    objective = Objective(spec, suite_config=suite)
    try:
        result = objective(fixed)
    except CATCH:
        result = None  # the objective recorded the fail reason
    values = list(result) if isinstance(result, tuple) else [result] if result is not None else None
    return {
        "number": number,
        "params": dict(trial.params),
        "stored_values": list(trial.values) if trial.values else None,
        "values": values,
        "user_attrs": trial_record(fixed),
    }


def repair(
    name: str, storage: StorageArg, older_than_s: float, *, retry: bool = True, max_retry: int = 2
) -> list[int]:
    """Fail every RUNNING trial with no sign of life (``heartbeat_at`` written by the journal
    worker, else its start time) for ``older_than_s`` seconds, with a ``fail_reason``;
    with ``retry``, re-enqueue it (same params, ``retried_from`` set, at most ``max_retry``
    times), as the RDB heartbeat does. Returns the failed trial numbers. Choose ``older_than_s``
    well above the heartbeat interval (10 s by default)."""
    study = load_study(name, storage)
    st = study._storage
    now = time.time()
    failed: list[int] = []
    for t in study.get_trials(deepcopy=True, states=(TrialState.RUNNING,)):
        idle = now - last_alive(t)
        if idle < older_than_s:
            continue
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
            st.set_trial_user_attr(
                t._trial_id, "fail_reason", f"stale: no heartbeat for {idle:.0f} s (repaired by archlab)"
            )
            if not st.set_trial_state_values(t._trial_id, TrialState.FAIL):
                continue
            failed.append(t.number)
            if retry:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    RetryHeartbeatStaleTrialCallback(max_retry=max_retry)(study, t)
    return failed
