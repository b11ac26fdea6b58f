"""Paper-exact task variants against the peers' own data (shared/fixtures/peers)."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from archlab.cli import app
from archlab.probes import make_probe, stream_rng
from archlab.probes.fixtures import check_file, checkers
from archlab.probes.groups import WordProblem
from archlab.probes.published.deletang2023 import (
    X,
    _draw_rows,
    bracketed_expression,
    bracketed_expressions,
    evaluate,
    expression_draws,
)


def _lines(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as fh:
        return [json.loads(line) for line in fh]


PEERS = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "peers"
FILES = sorted(PEERS.glob("*.jsonl.gz")) if PEERS.is_dir() else []

needs_fixtures = pytest.mark.skipif(not FILES, reason=f"no peer fixtures at {PEERS}")


@needs_fixtures
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fixture_file_agrees_exactly(path: Path) -> None:
    check = check_file(path)
    assert check.skipped_reason is None
    assert check.n == len(_lines(path)) and check.n > 0
    assert check.mismatches == 0, check.first_mismatch


@needs_fixtures
def test_every_fixture_peer_is_named() -> None:
    peers = {_lines(p)[0]["peer"] for p in FILES}
    assert peers == set(checkers())  # every peer in the folder has a checker, and no other


def _copy_with(tmp: Path, name: str, edit: Callable[[list[dict]], None]) -> Path:
    src = PEERS / name
    rows = _lines(src)
    edit(rows)
    dst = tmp / name
    with gzip.open(dst, "wt") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    shutil.copy(src.with_name(name + ".vocab.json"), tmp)
    return dst


@needs_fixtures
def test_a_changed_target_is_a_mismatch(tmp_path: Path) -> None:
    def flip(rows: list[dict]) -> None:
        rows[3]["target"] = 1 - rows[3]["target"]

    def score_padding(rows: list[dict]) -> None:
        padded = [r for r in rows if 0 in r["scored_positions"]]
        padded[0]["scored_positions"] = [1] * len(padded[0]["target"])

    dst = _copy_with(tmp_path, "deepmind__parity_check.jsonl.gz", flip)
    check = check_file(dst)
    assert check.mismatches == 1 and check.first_mismatch and check.first_mismatch.startswith("line 4")
    dst = _copy_with(tmp_path, "deepmind__binary_addition.jsonl.gz", score_padding)
    check = check_file(dst)  # archlab never scores the padding after the termination token
    assert check.mismatches == 1 and "scored" in (check.first_mismatch or "")


@needs_fixtures
def test_word_problem_order_matters_and_equals_inverse_relabelling(tmp_path: Path) -> None:
    # the default order (state first) disagrees with their code on a non-abelian group
    wrong = WordProblem(group="S3")
    tok = stream_rng(0, "train").integers(0, 6, size=(64, 20))
    ours = WordProblem(group="S3", apply_first="token").label(tok)
    assert not np.array_equal(wrong.label(tok).targets, ours.targets)
    inv = wrong.inverse
    assert np.array_equal(inv[wrong.label(inv[tok]).targets], ours.targets)
    # and the reference loop agrees with the fast scan for both orders, with BOS
    for order in ("state", "token"):
        p = WordProblem(group="A4", apply_first=order, bos=True)
        a = p.sample(stream_rng(1, "train"), 8, 17)
        b = p.reference_sample(stream_rng(1, "train"), 8, 17)
        assert a.equals(b)
        assert (a.tokens[:, 0] == 12).all() and not a.mask[:, 0].any() and a.shape == (8, 18)


@needs_fixtures
def test_cli_fixtures_json_and_exit_status(tmp_path: Path) -> None:
    runner = CliRunner()
    for name in ("deepmind__even_pairs.jsonl.gz", "wordproblem__S3_k16.jsonl.gz"):
        shutil.copy(PEERS / name, tmp_path)
        shutil.copy(PEERS / (name + ".vocab.json"), tmp_path)
    res = runner.invoke(app, ["probe", "fixtures", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["file"] for r in rows] == ["deepmind__even_pairs.jsonl.gz", "wordproblem__S3_k16.jsonl.gz"]
    assert all(set(r) >= {"file", "peer", "task", "n", "mismatches", "skipped_reason"} for r in rows)
    assert [(r["task"], r["mismatches"], r["skipped_reason"]) for r in rows] == [
        ("even_pairs", 0, None),
        ("word_problem_S3", 0, None),
    ]
    # a file of a task archlab has no variant of: skipped with a reason, exit 1
    (tmp_path / "other__x.jsonl.gz").write_bytes(
        gzip.compress(b'{"peer": "someone/else", "task": "x", "input": [1], "target": 1}\n')
    )
    (tmp_path / "other__x.jsonl.gz.vocab.json").write_text("{}")
    res = runner.invoke(app, ["probe", "fixtures", str(tmp_path), "--json"])
    assert res.exit_code == 1
    skipped = [r for r in json.loads(res.output) if r["skipped_reason"]]
    assert len(skipped) == 1 and "someone/else" in skipped[0]["skipped_reason"]
    res = runner.invoke(app, ["probe", "fixtures", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "not a folder" in res.output


def test_expression_evaluator() -> None:
    m = 5
    plus, minus, times, lp, rp = m, m + 1, m + 2, m + 3, m + 4
    assert evaluate([1, minus, 2, times, 3], m) == (0, 0)  # 1 - 6 = -5
    assert evaluate([lp, minus, 3, rp, times, lp, 2, plus, 4, rp], m) == (2, 0)  # -18
    assert evaluate([lp, X, minus, lp, minus, 2, rp, rp], m) == (2, 1)  # x + 2
    assert evaluate([minus, X], m) == (0, 4)
    with pytest.raises(ValueError):
        evaluate([lp, 1, plus, 2], m)
    with pytest.raises(ValueError):
        evaluate([X, times, X], m)


def _expression_law(length: int, m: int, n_ops: int) -> dict[tuple[int, ...], float]:
    """Every expression of Delétang et al.'s grammar of this length with its probability."""
    if length <= 4:
        shape = {1: [0], 2: [m + 1, 0], 3: [m + 3, 0, m + 4], 4: [m + 3, m + 1, 0, m + 4]}[length]
        return {tuple(d if t == 0 else t for t in shape): 1 / m for d in range(m)}
    law: dict[tuple[int, ...], float] = {}
    for left in range(1, length - 3):
        for a, pa in _expression_law(left, m, n_ops).items():
            for b, pb in _expression_law(length - left - 3, m, n_ops).items():
                for op in range(n_ops):
                    key = (m + 3, *a, m + op, *b, m + 4)
                    law[key] = law.get(key, 0.0) + pa * pb / (length - 4) / n_ops
    return law


@pytest.mark.parametrize(("length", "mult"), [(4, True), (8, True), (9, False)])
def test_vectorised_expressions_follow_the_recursive_law(length: int, mult: bool) -> None:
    # the batch generator against the exact law of the recursive one (a chi-square test at a
    # fixed seed; its statistic against the 0.999 quantile), and each value against the parser
    m, n = 2, 40_000
    law = _expression_law(length, m, 3 if mult else 2)
    assert abs(sum(law.values()) - 1) < 1e-9
    draws = expression_draws(np.random.default_rng(7), n, length, m, mult)
    tokens, values = bracketed_expressions(draws, m, mult)
    rows = [tuple(r) for r in tokens.tolist()]
    assert set(rows) <= set(law)
    seen = {k: 0 for k in law}
    for r in rows:
        seen[r] += 1
    chi2 = sum((seen[k] - n * p) ** 2 / (n * p) for k, p in law.items())
    dof = len(law) - 1
    assert chi2 < dof + 3.1 * (2 * dof) ** 0.5 + 10, (chi2, dof)
    # row for row: the recursive generator on the same draws, and the parser on each value
    some = {k: v[:500] for k, v in draws.items()}
    recursive = [tuple(bracketed_expression(d, o, sp, m, mult)) for d, o, sp in _draw_rows(some)]
    assert recursive == rows[:500]
    assert [evaluate(list(r), m)[0] for r in rows[:2000]] == values[:2000].tolist()


@pytest.mark.parametrize("length", [3, 5, 12, 41])
def test_solve_equation_answer_solves_the_equation(length: int) -> None:
    p = make_probe("dm_solve_equation")
    b = p.sample(stream_rng(length, "train"), 32, length)
    m = 5
    for row, tgt in zip(b.tokens, b.targets, strict=True):
        inp = row[:length].tolist()
        eq = inp.index(m + 5)
        expr = [{m + 2: m + 3, m + 3: m + 4, m + 4: int(tgt[-1])}.get(t, t) for t in inp[:eq]]
        assert evaluate(expr, m)[0] == inp[eq + 1]


def test_deepmind_layout_scores_only_the_output_segment() -> None:
    p = make_probe("dm_binary_addition")
    b = p.sample(stream_rng(0, "train"), 16, 10)
    assert b.shape == (16, 10 + 11)
    assert not b.mask[:, :10].any() and (b.tokens[:, 10:] == 3).all()
    # scored exactly up to and including the termination token (2), never the padding
    out, mask = b.targets[:, 10:], b.mask[:, 10:]
    first_end = np.argmax(out == 2, axis=1)
    assert (mask.sum(axis=1) == first_end + 1).all()
    assert make_probe("dm_modular_arithmetic").seq_len(10) == 10  # 9 tokens, then one answer
