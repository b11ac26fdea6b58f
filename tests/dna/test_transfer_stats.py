"""Exact / permutation p-values, bootstrap intervals and chance refusals of ``archlab dna transfer``."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

import archlab.dna.transfer as transfer_mod
from archlab.analysis.report import _transfer_lines
from archlab.cli import app
from archlab.dna.rankstats import (
    _permutations,
    bootstrap_cell_means,
    chance_check,
    chance_null,
    percentile_interval,
    spearman_rows,
    spearman_test,
)
from archlab.dna.tasks import DnaTaskSpec
from archlab.dna.transfer import MEAN_RANK, correlations, transfer


def _avg_ranks(v: list[float]) -> list[float]:
    """1-based ranks, ties sharing the mean of their positions (written out, no numpy)."""
    order = sorted(range(len(v)), key=lambda i: v[i])
    ranks = [0.0] * len(v)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _pearson(a: list[float], b: list[float]) -> float:
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    num = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    den = math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b))
    return num / den


def _brute_force(x: list[float], y: list[float]) -> tuple[float, float]:
    """ρ and the two-sided exact p by plain enumeration of every ordering of y's ranks."""
    rx, ry = _avg_ranks(x), _avg_ranks(y)
    rho = _pearson(rx, ry)
    perms = list(itertools.permutations(ry))
    hits = sum(1 for p in perms if abs(_pearson(rx, list(p))) >= abs(rho) - 1e-12)
    return rho, hits / len(perms)


def test_the_two_small_cases_from_the_brief() -> None:
    three = spearman_test([0.6, 0.7, 0.8], [0.1, 0.2, 0.3])
    assert three.rho == pytest.approx(1.0) and three.p_method == "exact"
    assert three.p == pytest.approx(1 / 3)  # identity and reversal out of 3! = 6
    five = spearman_test([1, 2, 3, 4, 5], [1, 2, 3, 5, 4])
    assert five.rho == pytest.approx(0.9)
    assert five.p == pytest.approx(1 / 12)  # 10 of 120 orderings have |ρ| ≥ 0.9
    assert stats.spearmanr([1, 2, 3, 4, 5], [1, 2, 3, 5, 4]).pvalue == pytest.approx(0.0374, abs=1e-3)


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7])
def test_exact_p_matches_brute_force(n: int) -> None:
    rng = np.random.default_rng(n)
    for trial in range(4):
        x = rng.normal(size=n).tolist()
        y = (np.asarray(x) + rng.normal(scale=1.0, size=n)).tolist()
        if trial >= 2:  # ties on both sides
            x = [round(v) for v in x]
            y = [round(v) for v in y]
        if len(set(x)) < 2 or len(set(y)) < 2:
            continue
        rho, p = _brute_force(x, y)
        got = spearman_test(x, y)
        assert got.p_method == "exact" and got.n == n
        assert got.rho == pytest.approx(rho, abs=1e-12)
        assert got.rho == pytest.approx(float(stats.spearmanr(x, y).statistic), abs=1e-12)
        assert got.p == pytest.approx(p, abs=1e-12)


def test_permutations_are_all_distinct() -> None:
    for n in range(1, 7):
        perms = _permutations(n)
        assert perms.shape == (math.factorial(n), n)
        assert len({tuple(r) for r in perms.tolist()}) == math.factorial(n)
        assert all(sorted(r) == list(range(n)) for r in perms.tolist())


def test_nine_is_exact_and_ten_is_a_seeded_permutation_test() -> None:
    rng = np.random.default_rng(0)
    x9 = rng.normal(size=9)
    assert spearman_test(x9, x9 + rng.normal(size=9)).p_method == "exact"
    x = rng.normal(size=10)
    y = x + rng.normal(size=10)
    a = spearman_test(x, y, n_perm=5000, seed=3)
    b = spearman_test(x, y, n_perm=5000, seed=3)
    assert a.p_method == "permutation" and a.n_perm == 5000 and a.p == b.p  # seeded
    assert a.p >= 1 / 5001  # (1 + count) / (1 + B) is never 0


def test_monte_carlo_agrees_with_exact() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=7)
    y = x + rng.normal(scale=1.5, size=7)
    exact = spearman_test(x, y)
    mc = spearman_test(x, y, max_exact=0, n_perm=20_000, seed=0)
    assert mc.p_method == "permutation"
    se = math.sqrt(exact.p * (1 - exact.p) / 20_000)
    assert abs(mc.p - exact.p) < 5 * se + 1e-4


def test_undefined_rho() -> None:
    assert spearman_test([1, 2], [1, 2]).p_method is None  # too few
    res = spearman_test([1, 1, 1], [1, 2, 3])  # constant
    assert math.isnan(res.rho) and math.isnan(res.p) and res.p_method is None


def test_spearman_rows_matches_scipy() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    b[0] = 1.0  # a constant row is NaN
    got = spearman_rows(a, b)
    assert math.isnan(got[0])
    for i in range(1, 6):
        assert got[i] == pytest.approx(float(stats.spearmanr(a[i], b[i]).statistic))


def test_bootstrap_helpers() -> None:
    rng = np.random.default_rng(0)
    draws = bootstrap_cell_means([0.6, 0.7, math.nan], 1000, rng)
    assert draws.shape == (1000,) and set(np.round(draws, 6)) <= {0.6, 0.65, 0.7}
    assert np.all(bootstrap_cell_means([0.6], 10, rng) == 0.6)
    assert np.all(np.isnan(bootstrap_cell_means([math.nan], 10, rng)))
    lo, hi = percentile_interval(np.arange(1001.0))
    assert (lo, hi) == pytest.approx((25.0, 975.0))


def _cells(means: dict[str, dict[str, list[float]]]) -> tuple[dict[str, dict[str, float]], Any]:
    scores = {a: {t: float(np.mean(v)) for t, v in row.items()} for a, row in means.items()}
    return scores, means


def test_correlations_give_exact_p_and_a_bootstrap_interval() -> None:
    values = {
        "a": {"s": [0.90, 0.92, 0.88], "r": [0.80, 0.82, 0.79]},
        "b": {"s": [0.80, 0.79, 0.81], "r": [0.75, 0.74, 0.76]},
        "c": {"s": [0.70, 0.72, 0.69], "r": [0.70, 0.71, 0.69]},
        "d": {"s": [0.60, 0.61, 0.62], "r": [0.65, 0.66, 0.64]},
        "e": {"s": [0.55, 0.54, 0.56], "r": [0.60, 0.61, 0.59]},
    }
    scores, vals = _cells(values)
    rows = correlations(scores, ["s"], ["r"], values=vals, n_boot=500, seed=0)
    (row,) = rows
    assert set(row) >= {
        "synthetic",
        "real",
        "spearman",
        "p",
        "n_models",
        "p_method",
        "rho_ci",
        "n_boot",
        "refused",
    }
    assert row["spearman"] == pytest.approx(1.0) and row["p"] == pytest.approx(2 / 120)
    assert row["p_method"] == "exact" and row["refused"] is None and row["n_models"] == 5
    lo, hi = row["rho_ci"]
    assert lo <= hi <= 1.0 and lo > 0.5 and row["n_boot"] == 500  # well separated cells
    again = correlations(scores, ["s"], ["r"], values=vals, n_boot=500, seed=0)
    assert again[0]["rho_ci"] == row["rho_ci"]  # seeded
    (plain,) = correlations(scores, ["s"], ["r"])  # means only: ρ and p, no interval
    assert plain["p"] == row["p"] and plain["rho_ci"] is None and "no per-seed" in plain["rho_ci_note"]


def test_one_seed_per_cell_gives_no_interval() -> None:
    values = {a: {"s": [v], "r": [v]} for a, v in zip("abcd", (0.9, 0.8, 0.7, 0.6), strict=True)}
    scores, vals = _cells(values)
    (row,) = correlations(scores, ["s"], ["r"], values=vals)
    assert row["spearman"] == pytest.approx(1.0) and row["p"] == pytest.approx(2 / 24)
    assert row["rho_ci"] is None and row["n_boot"] == 0 and "one seed" in row["rho_ci_note"]


def test_refused_task_rows_and_mean_rank_over_the_rest() -> None:
    values = {
        a: {"s": [v, v + 0.01], "r1": [v, v], "r2": [0.5, 0.5]}
        for a, v in zip("abc", (0.9, 0.8, 0.7), strict=True)
    }
    scores, vals = _cells(values)
    rows = correlations(
        scores, ["s"], ["r1", "r2"], values=vals, refused={"r2": "r2: every … chance"}, n_boot=50
    )
    by = {r["real"]: r for r in rows}
    assert by["r2"]["spearman"] is None and by["r2"]["p"] is None and by["r2"]["rho_ci"] is None
    assert by["r2"]["refused"] == "r2: every … chance" and by["r2"]["p_method"] is None
    assert by["r1"]["refused"] is None and by["r1"]["spearman"] == pytest.approx(1.0)
    assert by[MEAN_RANK]["refused"] is None and by[MEAN_RANK]["spearman"] == pytest.approx(1.0)  # r1 only
    both = correlations(scores, ["s"], ["r1", "r2"], refused={"r1": "x", "r2": "y"})
    assert {r["real"]: r["refused"] for r in both}[MEAN_RANK].startswith("every real task is refused")


def test_chance_null_and_chance_check() -> None:
    y = np.array([0] * 30 + [1] * 20)
    level, se = chance_null("auroc", y)
    assert level == 0.5 and se == pytest.approx(math.sqrt(51 / (12 * 30 * 20)))
    level, se = chance_null("pearson", np.zeros(101))
    assert level == 0.0 and se == pytest.approx(0.1)
    level, se = chance_null("accuracy", np.array([0, 0, 0, 1]))
    assert level == 0.75 and se == pytest.approx(math.sqrt(0.75 * 0.25 / 4))
    assert chance_null("mse", None) == (None, None)
    # seeds: a tight cluster above chance is out; a wide spread over it is in
    assert not chance_check([0.60, 0.61, 0.62], 0.5).within
    assert chance_check([0.40, 0.70, 0.55], 0.5).within
    # the test-set band applies even when the seeds agree (they share one test set)
    assert chance_check([0.60, 0.61, 0.62], 0.5, null_se=0.08).within
    # one seed: the null band if known, else a 0.05 margin
    assert chance_check([0.53], 0.5).within and not chance_check([0.56], 0.5).within
    assert not chance_check([0.56], 0.5, null_se=0.01).within
    assert chance_check([math.nan], 0.5).within


def _fake_run(monkeypatch: pytest.MonkeyPatch, table: dict[tuple[str, str, int], float]) -> None:
    """Replace dataset building and training by a table of test AUROCs (100 test rows)."""

    def build(task: DnaTaskSpec, data_dir: str | None = None) -> Any:
        test = SimpleNamespace(y=np.array([0, 1] * 50))
        return SimpleNamespace(metric="auroc", splits={"test": test}, name=task.name)

    def run_one(ds: Any, spec: Any, seed: int, path: Path | None, kw: dict[str, Any]) -> dict[str, Any]:
        return {"status": "ok", "test": {"auroc": table[(spec, ds.name, seed)]}}

    monkeypatch.setattr(transfer_mod, "build_dataset", build)
    monkeypatch.setattr(transfer_mod, "_run_one", run_one)


def test_transfer_refuses_a_task_at_chance(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    good = {"a": 0.95, "b": 0.85, "c": 0.75, "d": 0.65}
    table: dict[tuple[str, str, int], float] = {}
    for arch, v in good.items():
        for seed in (0, 1):
            table[(arch, "syn", seed)] = v + 0.01 * seed
            table[(arch, "real", seed)] = v - 0.05 + 0.01 * seed
            table[(arch, "flat", seed)] = 0.5 + 0.02 * (seed - 0.5) + 0.01 * "abcd".index(arch)
    _fake_run(monkeypatch, table)
    models = [(a, a) for a in good]
    tasks = [DnaTaskSpec(dataset=x, name=x) for x in ("syn", "real", "flat")]
    res = transfer(
        models, tasks[:1], tasks[1:], seeds=[0, 1], include_cnn=False, out_dir=tmp_path, n_boot=200
    )
    assert set(res["refused_tasks"]) == {"flat"}
    reason = res["refused_tasks"]["flat"]
    assert reason.startswith("flat: no architecture is above chance (auroc chance 0.500")
    assert "null SE" in reason and "a 0.5" in reason
    by = {c["real"]: c for c in res["correlations"]}
    assert by["flat"]["spearman"] is None and by["flat"]["p"] is None and by["flat"]["refused"] == reason
    assert by["real"]["spearman"] == pytest.approx(1.0) and by["real"]["p"] == pytest.approx(2 / 24)
    assert by["real"]["p_method"] == "exact" and by["real"]["rho_ci"] is not None
    assert set(res["best_predictor"]) == {"real", MEAN_RANK}  # the refused task has no best predictor
    assert res["chance"]["flat"]["cells"]["a"]["within"] and not res["chance"]["real"]["cells"]["a"]["within"]
    saved = json.loads((tmp_path / "transfer.json").read_text())
    assert saved["refused_tasks"] == res["refused_tasks"]
    lines = _transfer_lines(saved)
    assert any("best synthetic predictor of real: syn" in ln and "(exact)" in ln for ln in lines)
    assert any(
        ln.startswith("- transfer to or from flat not ranked: flat: no architecture is above chance")
        for ln in lines
    )


def test_cli_prints_the_refusal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    refusal = "irf1: no architecture is above chance (auroc chance 0.500; a 0.51 [0.40, 0.62])"
    refused_row = {"synthetic": "D0@400", "real": "irf1", "spearman": None, "p": None, "n_models": 3}
    refused_row |= {
        "p_method": None,
        "rho_ci": None,
        "n_boot": 0,
        "rho_ci_note": "refused",
        "refused": refusal,
    }
    ok_row = {"synthetic": "D0@400", "real": "zbed2", "spearman": 1.0, "p": 1 / 3, "n_models": 3}
    ok_row |= {
        "p_method": "exact",
        "rho_ci": [0.5, 1.0],
        "n_boot": 2000,
        "rho_ci_note": None,
        "refused": None,
    }
    tasks = ("D0@400", "irf1", "zbed2")
    result = {
        "models": ["a"],
        "synthetic": ["D0@400"],
        "real": ["irf1", "zbed2"],
        "metrics": dict.fromkeys(tasks, "auroc"),
        "seeds": [0],
        "scores": {"a": {t: {"mean": 0.5, "sd": 0.0, "n": 1, "values": [0.5]} for t in tasks}},
        "refused_tasks": {"irf1": refusal},
        "correlations": [refused_row, ok_row],
        "best_predictor": {
            "zbed2": {k: ok_row[k] for k in ("synthetic", "spearman", "p", "p_method", "rho_ci")}
        },
    }
    result["best_predictor"]["zbed2"] |= {"rho_ci_note": None, "n_models": 3}
    monkeypatch.setattr(transfer_mod, "transfer", lambda *a, **k: result)
    monkeypatch.setattr("archlab.dna.tasks.check_task", lambda *a, **k: None)
    res = CliRunner().invoke(
        app, ["dna", "transfer", "--models", "conv,lstm", "--levels", "D0", "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "refused" in text and "not ranked: " + refusal in text
    assert "0.333 (exact)" in text and "[0.50, 1.00]" in text
    assert (
        "best predictor of zbed2: D0@400 (ρ = 1.00, p = 0.333 (exact), 95% interval [0.50, 1.00], n = 3)"
        in text
    )


def test_a_score_below_chance_is_not_above_chance() -> None:
    """A k-mer fit at AUROC 0.46 on 1000 balanced rows is significantly below 0.5: no learning."""
    level, se = chance_null("auroc", np.array([0, 1] * 500))
    assert level == 0.5 and se is not None
    assert chance_check([0.46], level, se).within
    assert not chance_check([0.60], level, se).within
