"""Optuna search studies: YAML specs (:mod:`.spec`), conditional spaces (:mod:`.space`), the
probe-suite objective (:mod:`.objective`) and the runner (:mod:`.runner`: storages, create once,
workers, status, export, replay, repair). ``archlab study …`` is the command line."""

from archlab.search.objective import CATCH, RECORD_KEY, Objective, TrialFailedError, trial_record
from archlab.search.runner import (
    create_study,
    export,
    load_study,
    make_storage,
    repair,
    replay,
    run_study,
    run_worker,
    status,
    theory_candidates,
)
from archlab.search.spec import StudySpec, load_spec, parse_spec, spec_hash

__all__ = [
    "CATCH",
    "RECORD_KEY",
    "Objective",
    "StudySpec",
    "TrialFailedError",
    "create_study",
    "export",
    "load_spec",
    "load_study",
    "make_storage",
    "parse_spec",
    "repair",
    "replay",
    "run_study",
    "run_worker",
    "spec_hash",
    "status",
    "theory_candidates",
    "trial_record",
]
