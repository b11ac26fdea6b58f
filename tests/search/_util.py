"""Helpers for the search tests: small dry (synthetic) specs."""

from __future__ import annotations

import copy
from typing import Any

from archlab.search import StudySpec, parse_spec

BASE: dict[str, Any] = {
    "name": "dry",
    "objective": {
        "kind": "synthetic",
        "probes": [{"probe": "parity"}, {"probe": "Z3"}],
        "train_lengths": [2, 8],
        "test_lengths": [8, 16],
    },
    "model": {"layers": 1, "width": 16},
    "train": {"steps": 5, "device": "cpu"},
    "space": {
        "mixer": {"choices": ["diag_rnn", "householder", "lstm"]},
        "eig_range": {"choices": ["unit", "signed"], "when": {"mixer": ["diag_rnn", "householder"]}},
        "householder_factors": {"choices": [1, 2], "when": {"mixer": ["householder"]}},
        "lr": {"float": [1.0e-4, 1.0e-2], "log": True},
    },
    "sampler": {"name": "random", "seed": 0},
    "budget": {"n_trials": 10},
    "theory_seed": False,
}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated recursively with ``over`` (a None value deletes the key)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def dry_data(name: str, **over: Any) -> dict[str, Any]:
    return merge(BASE, {"name": name, **over})


def dry_spec(name: str, **over: Any) -> StudySpec:
    return parse_spec(dry_data(name, **over))
