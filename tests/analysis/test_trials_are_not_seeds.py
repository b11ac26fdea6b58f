"""Runs of one architecture at several learning rates are not seeds: the report and the
length-generalisation plot show the best learning rate (and say of how many), never a ± sd over
learning rates; a band needs two seeds at one learning rate."""

from __future__ import annotations

from typing import Any

from matplotlib.collections import PolyCollection

from archlab.analysis.plots import length_generalisation
from archlab.analysis.report import _best_by_probe


def _rec(lr: float, seed: int, acc: float) -> dict[str, Any]:
    return {
        "probe": "parity",
        "model": {"mixer": "lstm"},
        "seed": seed,
        "status": "completed",
        "train_lengths": [2, 8],
        "train": {"lr": lr, "steps": 300},
        "range_eval": [
            {"length": n, "seq_acc": acc, "token_acc": acc, "scaled_acc": 2 * acc - 1} for n in (8, 16, 32)
        ],
    }


def test_learning_rates_are_not_pooled_as_seeds() -> None:
    records = [_rec(1e-3, 0, 0.55), _rec(1e-2, 0, 0.95)]
    ((probe, model, mean, _sd, n, lr),) = _best_by_probe(records, "seq_acc")
    assert (probe, model, mean, n, lr) == ("parity", "lstm", 0.95, 1, "0.01 (best of 2)")
    fig = length_generalisation(records)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("1 seed, best of 2 lrs (0.01), 300 steps" in x for x in labels), labels
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]  # no band: one seed
    y = ax.get_lines()[0].get_ydata()
    assert list(y) == [0.95, 0.95, 0.95]  # the best learning rate's line, not a mean over lrs


def test_two_seeds_at_one_learning_rate_make_a_band() -> None:
    records = [_rec(1e-2, 0, 0.9), _rec(1e-2, 1, 0.8), _rec(1e-3, 0, 0.1)]
    ((_, _, mean, sd, n, lr),) = _best_by_probe(records, "seq_acc")
    assert (round(mean, 3), n, lr) == (0.85, 2, "0.01 (best of 2)") and sd > 0
    ax = length_generalisation(records).axes[0]
    assert [c for c in ax.collections if isinstance(c, PolyCollection)]
