"""Result records rebuilt from a study's trials, for the theory engine and the report.

Reading a study is the search layer's job (it owns the storage and the trial attrs); the engine
(:mod:`archlab.theory`) only classifies the records, so the import runs search → theory, never
back (theory does not import search).
"""

from __future__ import annotations

from typing import Any

__all__ = ["records_from_study"]


def records_from_study(name: str, storage: str) -> list[dict[str, Any]]:
    """Result records rebuilt from a study's finished trials (the ``range_eval`` and ``config``
    user attrs every trial of ``archlab study`` stores), one per (trial, probe)."""
    import optuna

    from archlab.errors import ConfigError
    from archlab.search.objective import trial_record
    from archlab.search.runner import load_study, mask_url

    try:
        study = load_study(name, storage)
    except KeyError as exc:
        raise ConfigError(
            "RESULTS", f"no study {name!r} in {mask_url(storage)}", "a study name in that storage"
        ) from exc
    records: list[dict[str, Any]] = []
    for t in study.get_trials(deepcopy=False):
        if t.state not in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
            continue
        rec = trial_record(t)
        config = rec.get("config")
        extra = {
            "provenance": rec.get("provenance"),
            "seed": (rec.get("seeds") or {}).get("train"),
            "trial": t.number,
            "trial_wall_time_s": rec.get("wall_time_s"),  # the whole trial's (all its probes)
        }
        for ev in rec.get("range_eval", []):
            if config:
                # a run's own seed (a study with objective.seeds > 1 has several per probe)
                seed = ev.get("seed", extra["seed"])
                path = f"{name}#trial{t.number}"
                records.append(
                    {
                        **ev,
                        **extra,
                        "seed": seed,
                        "model": config["model"],
                        "train": config.get("train"),
                        "_path": path,
                    }
                )
    return records
