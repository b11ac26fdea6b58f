"""The protocol registry and the suites that name a protocol."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from archlab.cli import app
from archlab.errors import ArchlabError, UnknownNameError
from archlab.probes import PROBES
from archlab.probes.protocols import PROTOCOLS, get_protocol
from archlab.probes.suite import ProbeSuite

SUITES = sorted((Path(__file__).resolve().parents[2] / "probes").glob("*.yaml"))


def test_every_protocol_names_real_tasks_and_a_real_suite() -> None:
    names = {p.stem for p in SUITES}
    for p in PROTOCOLS.values():
        for task in p.tasks:
            assert task in PROBES, task
        assert (p.suite in names) if p.suite else p.missing, p.name
        assert p.citation and p.metric and p.aggregation


def test_unknown_protocol_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="deletang2023"):
        get_protocol("deletang")
    with pytest.raises(UnknownNameError, match="zoology_mqar"):
        ProbeSuite.from_dict(
            {"name": "x", "protocol": "nope", "train_lengths": [5], "test_lengths": [6],
             "probes": [{"probe": "parity"}]}
        )  # fmt: skip


def test_a_suite_cannot_claim_a_protocol_it_does_not_follow() -> None:
    base = {"name": "x", "protocol": "deletang2023", "train_lengths": {"min": 1, "max": 40}}
    with pytest.raises(ArchlabError, match="probes.0.probe"):  # archlab's own variant
        ProbeSuite.from_dict({**base, "test_lengths": [50], "probes": [{"probe": "parity"}]})
    with pytest.raises(ArchlabError, match="test_lengths"):  # tests beyond the paper's range
        ProbeSuite.from_dict({**base, "test_lengths": [600], "probes": [{"probe": "dm_parity_check"}]})
    ok = ProbeSuite.from_dict({**base, "test_lengths": [50], "probes": [{"probe": "dm_parity_check"}]})
    assert len(ok) == 1


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.stem)
def test_shipped_suites_follow_what_they_name(path: Path) -> None:
    suite = ProbeSuite.load(path)  # loading checks tasks and lengths against the protocol
    if suite.config.protocol:
        proto = get_protocol(suite.config.protocol)
        assert proto.suite == suite.name
        assert {e.probe.name for e in suite} <= set(proto.tasks)


def _suite(stem: str) -> ProbeSuite:
    return ProbeSuite.load(next(p for p in SUITES if p.stem == stem))


@pytest.mark.parametrize("stem", [p.stem for p in SUITES if ProbeSuite.load(p).config.forbid_test_in_train])
def test_suites_that_hold_out_test_data_never_train_on_it(stem: str) -> None:
    """Where a suite (and the protocol it names) keeps test sequences out of training — Zoology's
    disjoint examples, the word-problem repository's held-out 20 % — no test row of a length used
    for both occurs in a training batch, for two seeds."""
    suite = _suite(stem)
    checked = 0
    for entry in suite:
        for length in sorted(entry.shared_lengths)[:2]:
            for seed in (0, 1):
                train = suite.train_batch(entry, suite.rng(entry, "train", seed), 256, length, seed).tokens
                test = suite.test_batch(entry, suite.rng(entry, "test", seed), 64, length).tokens
                seen = {r.tobytes() for r in train}
                assert not any(r.tobytes() in seen for r in test), (entry.name, length)
                checked += 1
    assert checked
    if suite.config.protocol:
        assert get_protocol(suite.config.protocol).settings.get("forbid_test_in_train", True)


def test_illusion_suite_holds_out_a_fifth_at_k_and_trains_every_shorter_length() -> None:
    suite = _suite("illusion2024")
    assert suite.config.reserve_fraction == 0.2
    for entry in suite:
        assert entry.shared_lengths == {10}  # only k is both trained and tested
        assert set(range(2, 11)) <= set(entry.train_lengths)
        assert entry.probe.params["bos"] and entry.probe.params["apply_first"] == "token"


def test_a_protocol_fixes_probe_params_and_split_settings() -> None:
    base = {
        "name": "x", "protocol": "illusion2024", "train_lengths": [2, 4], "test_lengths": [4, 6],
        "forbid_test_in_train": True, "reserve_fraction": 0.2,
    }  # fmt: skip
    good = {"probe": "word_problem", "params": {"group": "S3", "apply_first": "token", "bos": True}}
    assert len(ProbeSuite.from_dict({**base, "probes": [good]})) == 1
    with pytest.raises(ArchlabError, match=r"probes\.0\.params\.bos"):
        ProbeSuite.from_dict(
            {**base, "probes": [{**good, "params": {"group": "S3", "apply_first": "token"}}]}
        )
    with pytest.raises(ArchlabError, match="reserve_fraction"):
        ProbeSuite.from_dict({**base, "reserve_fraction": 0.25, "probes": [good]})
    with pytest.raises(ArchlabError, match="forbid_test_in_train"):
        ProbeSuite.from_dict({**base, "forbid_test_in_train": False, "probes": [good]})
    mad = {"name": "m", "protocol": "mad2024", "train_lengths": [32], "test_lengths": [32]}
    lm = {"probe": "mad_in_context_recall", "params": {"scoring": "lm"}}
    with pytest.raises(ArchlabError, match=r"probes\.0\.test_params\.scoring"):  # tested as trained
        ProbeSuite.from_dict({**mad, "probes": [lm]})
    ok = ProbeSuite.from_dict({**mad, "probes": [{**lm, "test_params": {"scoring": "recall"}}]})
    assert next(iter(ok)).test_probe.params["scoring"] == "recall"


def test_test_params_must_keep_the_vocabulary() -> None:
    with pytest.raises(ArchlabError, match="test_params change the vocabulary"):
        ProbeSuite.from_dict(
            {"name": "x", "train_lengths": [8], "test_lengths": [8],
             "probes": [{"probe": "copy", "params": {"alphabet": 4}, "test_params": {"alphabet": 5}}]}
        )  # fmt: skip


def test_mad_suite_trains_on_fixed_sets_and_tests_recall_only() -> None:
    suite = _suite("mad2024")
    entry = next(iter(suite))
    assert entry.train_set_size == 12800
    memo = next(e for e in suite if e.probe.name == "mad_memorization")
    assert memo.train_set_size == 256
    length = entry.train_lengths[0]
    fixed = suite.train_set(entry, 0, length)
    assert fixed.tokens.shape[0] == 12800
    assert suite.train_set(entry, 0, length) is fixed  # the same set at every step
    assert not np.array_equal(suite.train_set(entry, 1, length).tokens[:8], fixed.tokens[:8])
    rows = {r.tobytes() for r in fixed.tokens}
    rng = suite.rng(entry, "train", 0)
    for _ in range(3):
        b = suite.train_batch(entry, rng, 128, length, seed=0)
        assert all(r.tobytes() in rows for r in b.tokens)
        assert b.mask.mean() > 0.9  # LM loss: (nearly) every next token
    val = suite.train_batch(entry, suite.rng(entry, "train", 0), 64, length)  # no seed: a stream
    assert not all(r.tobytes() in rows for r in val.tokens)
    test = suite.test_batch(entry, suite.rng(entry, "test", 0), 64, length)
    assert 0 < test.mask.mean() < 0.5  # recall scoring: values of keys seen before only (V 16: ~44 %)


def test_macro_accuracy_is_torchmetrics_macro() -> None:
    """Per-class recall averaged over classes seen as target or prediction (torchmetrics'
    MulticlassAccuracy(average="macro"), which ignores classes with neither)."""
    from archlab.train import macro_accuracy

    # targets: class 0 ×3 (2 right), class 1 ×1 (0 right), class 2 never a target but predicted once,
    # class 3 absent: (2/3 + 0 + 0) / 3
    right, support, predicted = np.array([2, 0, 0, 0]), np.array([3, 1, 0, 0]), np.array([2, 1, 1, 0])
    assert macro_accuracy(right, support, predicted) == pytest.approx((2 / 3) / 3)
    assert macro_accuracy(np.zeros(3), np.zeros(3), np.zeros(3)) == 0.0


def test_exact_length_formal_language_fills_every_row() -> None:
    from archlab.probes import make_probe

    p = make_probe("formal_language", language="D_2", exact_length=True)
    b = p.sample(np.random.default_rng(0), 32, 51)
    assert b.mask.sum(axis=1).tolist() == [50] * 32  # D_2 strings have even length
    free = make_probe("formal_language", language="D_2").sample(np.random.default_rng(0), 32, 51)
    assert free.mask.sum(axis=1).min() < 50


def test_cli_protocols_json() -> None:
    res = CliRunner().invoke(app, ["probe", "protocols", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert {r["name"] for r in rows} >= {
        "deletang2023", "illusion2024", "grazzi2025", "zoology_mqar", "mad2024",
        "bhattamishra2020", "sarrof2024", "movahedi2025",
    }  # fmt: skip
    assert all(r["citation"] and "missing" in r for r in rows)


def test_a_run_on_a_protocol_suite_records_its_test_probe_and_fixed_set() -> None:
    from archlab.config import ModelConfig, TrainConfig
    from archlab.train import DataSource, train_run

    suite = ProbeSuite.from_dict(
        {"name": "m", "protocol": "mad2024", "train_lengths": [16], "test_lengths": [16],
         "train_set_size": 32,
         "probes": [{"probe": "mad_in_context_recall", "params": {"scoring": "lm"},
                     "test_params": {"scoring": "recall"}}]}
    )  # fmt: skip
    source = DataSource.from_suite(suite, next(iter(suite)))
    cfg = TrainConfig(steps=4, batch=8, eval_every=4, eval_batch=16, val_batch=16, device="cpu")
    rec = train_run(source, ModelConfig(mixer="lstm", width=8, layers=1), cfg)
    assert rec["protocol"] == "mad2024" and rec["train_set_size"] == 32
    assert rec["test_probe_params"]["scoring"] == "recall" and rec["probe_params"]["scoring"] == "lm"
    row = rec["range_eval"][0]
    assert 0.0 <= row["macro_acc"] <= 1.0
    assert row["n_tokens"] < 16 * 15 * 0.6  # recall positions only at test


def test_train_one_probe_of_a_suite_and_record_deviations(tmp_path: Path) -> None:
    suite = tmp_path / "dm.yaml"
    suite.write_text(
        "name: dm\nprotocol: deletang2023\ntrain_lengths: {min: 1, max: 6}\ntest_lengths: [41, 42]\n"
        "probes:\n  - probe: dm_parity_check\n  - probe: dm_even_pairs\n"
    )
    runner = CliRunner()
    out = str(tmp_path / "runs")
    base = ["train", "--suite", str(suite), "--model", "lstm", "--set", "model.width=8", "--set",
            "train.steps=2", "--set", "train.eval_batch=8", "--out", out, "--json"]  # fmt: skip
    res = runner.invoke(app, [*base, "--probe", "dm_parity_check"])
    assert res.exit_code == 0, res.output
    (rec,) = json.loads(res.output)
    assert rec["probe"] == "dm_parity_check" and rec["protocol"] == "deletang2023"
    assert rec["protocol_deviations"] == []
    res = runner.invoke(app, [*base, "--probe", "dm_parity_check", "--set", "train.test_lengths=[43]"])
    (rec,) = json.loads(res.output)
    assert rec["protocol_deviations"] == ["test lengths 43 instead of the suite's 41, 42"]
    res = runner.invoke(app, [*base, "--probe", "parity"])
    assert res.exit_code == 2
    assert "dm_even_pairs" in res.output and "dm_parity_check" in res.output


@pytest.mark.parametrize(
    ("language", "length"), [("tomita3", 600), ("D_12", 600), ("boolean3", 600), ("shuffle2", 200)]
)
def test_formal_language_strings_at_long_lengths(language: str, length: int) -> None:
    """The state tables replace a recursive search that overflowed Python's stack at length 512;
    long rows are valid strings (build raises otherwise) of lengths in [L/2, L]."""
    from archlab.probes import make_probe

    p = make_probe("formal_language", language=language)
    b = p.sample(np.random.default_rng(1), 8, length)
    ref = p.reference_sample(np.random.default_rng(1), 8, length)
    assert np.array_equal(b.targets, ref.targets) and np.array_equal(b.mask, ref.mask)
    n = b.mask.sum(axis=1)
    assert (n >= length // 2 - 2).all() and (n <= length).all() and len(set(n.tolist())) > 1


def test_shuffle_sampler_from_depths_matches_the_state_tables() -> None:
    """Shuffle-Dyck is sampled from its depths (its state tables would be too large for n ≥ 4);
    for Shuffle-2, where the tables fit, both give the same distribution over strings."""
    import dataclasses
    from collections import Counter

    from archlab.probes import make_probe

    direct = make_probe("formal_language", language="shuffle2", exact_length=True)
    tabled = make_probe("formal_language", language="shuffle2", exact_length=True)
    tabled.lang = dataclasses.replace(tabled.lang, shuffle=0)
    n = 20000
    freq = [
        Counter(r.tobytes() for r in p.sample(np.random.default_rng(3), n, 6).tokens)
        for p in (direct, tabled)
    ]
    assert set(freq[0]) == set(freq[1]) and len(freq[0]) > 20
    assert max(abs(freq[0][k] - freq[1][k]) / n for k in freq[0]) < 0.01
    for lang in ("shuffle4", "shuffle6"):
        p = make_probe("formal_language", language=lang)
        b, ref = (
            p.sample(np.random.default_rng(0), 16, 300),
            p.reference_sample(np.random.default_rng(0), 16, 300),
        )
        assert np.array_equal(b.targets, ref.targets)


def test_published_numbers_belong_to_their_protocols() -> None:
    from archlab.probes import make_probe
    from archlab.probes.published.numbers import SARROF_RESULTS, SARROF_WINDOWS

    for proto in PROTOCOLS.values():
        for r in proto.published:
            assert r.task in proto.tasks, (proto.name, r.task)
            make_probe(r.task, **r.params)  # the task exists with those parameters
            assert r.source and r.metric
    grazzi = get_protocol("grazzi2025").published
    assert {r.task for r in grazzi} == set(get_protocol("grazzi2025").tasks)
    assert all(0.0 <= r.value <= 1.0 and r.verified for r in grazzi)
    assert all(not r.verified for r in get_protocol("deletang2023").published)  # second-hand only
    assert set(SARROF_RESULTS) == set(SARROF_WINDOWS)


def test_sarrof_suite_uses_their_windows_and_bins() -> None:
    from archlab.probes.published.numbers import SARROF_WINDOWS, sarrof_test_window

    suite = _suite("sarrof2024")
    langs = {e.probe.params["language"]: e for e in suite}
    assert set(langs) == set(SARROF_WINDOWS)
    for lang, e in langs.items():
        _, upper, step, bins, _ = SARROF_WINDOWS[lang]
        assert max(e.train_lengths) == upper and e.probe.params["exact_length"]
        assert max(e.test_lengths) == upper + (bins - 1) * step == sarrof_test_window(lang)[1]
    assert sarrof_test_window("dyck1") == (52, 150)  # Dyck bins start two past the window
    assert sarrof_test_window("D_2") == (2, 200)  # star-free bin 2 keeps the lower end


def test_a_run_under_a_protocol_carries_the_published_numbers() -> None:
    from archlab.config import ModelConfig, TrainConfig
    from archlab.train import DataSource, train_run

    suite = _suite("grazzi2025")
    source = DataSource.from_suite(suite, next(e for e in suite if e.probe.name == "dm_parity_check"))
    cfg = TrainConfig(
        steps=2, batch=8, eval_every=2, eval_batch=8, val_batch=8, test_lengths=[40], device="cpu"
    )
    rec = train_run(source, ModelConfig(mixer="lstm", width=8, layers=1), cfg)
    pub = {p["model"]: p["value"] for p in rec["published"]}
    assert pub["Mamba [-1,1]"] == 1.0 and pub["Mamba [0,1]"] == 0.0 and len(pub) == 7
    assert rec["protocol_deviations"] == ["test lengths 40 instead of the suite's 40–256 (217 lengths)"]
    row = rec["range_eval"][0]
    assert row["scaled_acc_uniform"] == pytest.approx((row["token_acc"] - 0.5) / 0.5)
