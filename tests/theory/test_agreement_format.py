"""How a measured cell is written: a single seed shows no "± 0.000" (there is no spread)."""

from __future__ import annotations

from archlab.theory.agreement import Measurement


def test_one_seed_shows_no_spread_and_several_do() -> None:
    one = Measurement("parity", "lstm", 64, [0.91], train_max=40, aggregate="mean")
    assert one.describe() == "0.910 (n=1)"
    best = Measurement("parity", "lstm", 64, [0.91], train_max=40)
    assert "±" not in best.describe() and best.describe().startswith("best 0.910 of 1")
    three = Measurement("parity", "lstm", 64, [0.9, 0.92, 0.94], train_max=40, aggregate="mean")
    assert three.describe() == "0.920 ± 0.020 (n=3)"
