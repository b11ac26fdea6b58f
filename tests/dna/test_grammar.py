"""Grammar levels D0–D7: labels follow the rule, clean negatives, determinism, backgrounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from archlab.dna.data import gc_fraction
from archlab.dna.grammar import (
    count_hits,
    dinucleotide_counts,
    dinucleotide_shuffle,
    get_level,
    list_levels,
    make_background,
    make_dataset,
    oracle_scores,
    real_sequences,
    sample_reference,
    xor_linear_ceiling,
)
from archlab.dna.motifs import get_motif
from archlab.errors import ArchlabError, ConfigError, UnknownNameError

LEVELS = [f"D{i}" for i in range(8)]


def _have_real() -> bool:
    try:
        real_sequences()
    except ArchlabError:
        return False
    return True


HAVE_REAL = _have_real()


def test_registry_lists_every_level() -> None:
    levels = list_levels()
    assert [lv.name for lv in levels] == LEVELS
    for lv in levels:
        assert lv.title and lv.theory and lv.task in ("classification", "regression")
        assert set(lv.defeats) <= {"gc", "kmer"}
        assert "background" in lv.default_params
    assert get_level("d3").name == "D3"
    with pytest.raises(UnknownNameError, match="D3"):
        get_level("D33")


@pytest.mark.parametrize("name", LEVELS)
def test_labels_follow_the_rule_and_are_deterministic(name: str) -> None:
    lv = get_level(name)
    sp = lv.sample(np.random.default_rng(5), 200, 300)
    again = lv.sample(np.random.default_rng(5), 200, 300)
    np.testing.assert_array_equal(sp.codes, again.codes)
    np.testing.assert_array_equal(sp.y, again.y)
    assert sp.codes.shape == (200, 300) and sp.codes.dtype == np.uint8 and sp.codes.max() < 4
    res = oracle_scores(name, sp)
    if lv.task == "classification":
        assert sp.y.dtype == np.int64 and int(sp.y.sum()) == 100
        assert res["accuracy"] == 1.0
    else:
        assert sp.y.dtype == np.float32
        assert res["pearson"] > 0.9


def test_negatives_have_no_accidental_hits() -> None:
    lv = get_level("D0")
    sp = lv.sample(np.random.default_rng(0), 300, 2000)
    m = get_motif(lv.default_params["motifs"][0])
    hits = count_hits(sp.codes, m, m.threshold())
    np.testing.assert_array_equal(hits, sp.y)  # exactly the planted site, nothing else
    d1 = get_level("D1").sample(np.random.default_rng(0), 200, 1000, k=3)
    c = count_hits(d1.codes, m, m.threshold())
    assert (c[d1.y == 0] == 2).all() and (c[d1.y == 1] >= 3).all()
    # D3: other motifs' hits are exactly the planted ones too
    d3 = get_level("D3").sample(np.random.default_rng(0), 200, 500)
    b = get_motif(get_level("D3").default_params["motifs"][1])
    ca, cb = count_hits(d3.codes, m, m.threshold()), count_hits(d3.codes, b, b.threshold())
    assert ((ca + cb == 1) == (d3.y == 1)).all() and (ca <= 1).all() and (cb <= 1).all()


def test_d3_p_both_sets_the_negatives_mix_and_the_linear_ceiling() -> None:
    lv = get_level("D3")
    a, b = (get_motif(m) for m in lv.default_params["motifs"])
    for q in (0.5, 0.25, 0.0):
        sp = lv.sample(np.random.default_rng(4), 4000, 300, p_both=q)
        ca, cb = count_hits(sp.codes, a, a.threshold()), count_hits(sp.codes, b, b.threshold())
        neg, pos = sp.y == 0, sp.y == 1
        assert ((ca + cb == 1) == pos).all()  # positives: exactly one motif
        assert (ca[neg] == cb[neg]).all()  # negatives: both or neither
        assert ca[neg].mean() == pytest.approx(q, abs=0.03) and ca[pos].mean() == pytest.approx(0.5, abs=0.03)
        # enumerate linear scores w_a·[A] + w_b·[B] (integer weights: exact ties) on the presences
        best = 0.0
        for wa, wb in np.ndindex(7, 7):
            score = (wa - 3) * ca + (wb - 3) * cb
            sp_pos, sp_neg = score[pos][:, None], score[neg][None, :]
            auroc = float((sp_pos > sp_neg).mean() + 0.5 * (sp_pos == sp_neg).mean())
            best = max(best, auroc)
        assert best == pytest.approx(xor_linear_ceiling(q), abs=0.03)
    with pytest.raises(ConfigError, match="D3.p_both"):
        lv.sample(np.random.default_rng(0), 10, 300, p_both=1.5)


@pytest.mark.parametrize("name", ["D0", "D5"])
def test_long_sequences(name: str) -> None:
    lv = get_level(name)
    sp = lv.sample(np.random.default_rng(1), 20, 16384)
    assert sp.codes.shape == (20, 16384)
    assert oracle_scores(name, sp)["accuracy"] == 1.0


def test_d5_distance_and_nesting() -> None:
    lv = get_level("D5")
    sp = lv.sample(np.random.default_rng(2), 100, 4000, distance=3500, block=10)
    assert oracle_scores("D5", sp, distance=3500, block=10)["accuracy"] == 1.0
    # the rule at another distance does not hold: the oracle is distance-specific
    assert oracle_scores("D5", sp, distance=3400, block=10)["accuracy"] == pytest.approx(0.5, abs=0.02)
    nested = lv.sample(np.random.default_rng(2), 100, 1000, nested=True)
    assert oracle_scores("D5", nested, nested=True)["accuracy"] == 1.0
    # negatives keep one of the two pairs: the outer pair alone does not decide
    assert oracle_scores("D5", nested)["accuracy"] < 0.9


def test_syntax_negatives_vary_only_in_grammar() -> None:
    """D2 negatives hold both motifs once, like positives; only gap/orientation/order differ."""
    lv = get_level("D2")
    sp = lv.sample(np.random.default_rng(3), 300, 400)
    for mid in lv.default_params["motifs"]:
        m = get_motif(mid)
        assert (count_hits(sp.codes, m, m.threshold()) == 1).all()
    wider = oracle_scores("D2", sp, gap=14)["accuracy"]
    assert wider < 0.9


def test_unknown_parameter_and_short_length() -> None:
    with pytest.raises(ConfigError, match="unknown parameter"):
        get_level("D0").sample(np.random.default_rng(0), 10, 300, bogus=1)
    with pytest.raises(ConfigError, match="too short"):
        get_level("D6").sample(np.random.default_rng(0), 10, 60)


def test_make_dataset_meta_and_streams() -> None:
    ds = make_dataset("D2", 300, n_train=40, n_valid=10, n_test=20, seed=4)
    assert set(ds.splits) == {"train", "valid", "test"}
    assert ds.classes == ["negative", "positive"]
    assert ds.meta["level"] == "D2" and ds.meta["length"] == 300 and ds.meta["seed"] == 4
    assert [m["id"] for m in ds.meta["motifs"]] == list(get_level("D2").default_params["motifs"])  # type: ignore[union-attr]
    assert set(ds.meta["resampled"]) == {"train", "valid", "test"}  # type: ignore[arg-type]
    other = make_dataset("D2", 300, n_train=40, n_valid=10, n_test=20, seed=5)
    assert not np.array_equal(ds.splits["train"].codes, other.splits["train"].codes)
    assert not np.array_equal(ds.splits["train"].codes[:20], ds.splits["test"].codes)
    reg = make_dataset("D7", 300, n_train=20, n_valid=0, n_test=20)
    assert reg.task == "regression" and reg.classes is None and "valid" not in reg.splits


def test_gc_background() -> None:
    bg = make_background("gc", gc=0.7)
    codes = bg.draw(np.random.default_rng(0), 200, 1000)
    assert gc_fraction(codes).mean() == pytest.approx(0.7, abs=0.01)
    sp = get_level("D3").sample(np.random.default_rng(0), 100, 500, background="gc", gc=0.65)
    assert oracle_scores("D3", sp)["accuracy"] == 1.0
    with pytest.raises(ConfigError):
        make_background("gc", gc=1.5)
    with pytest.raises(ConfigError, match="iid"):
        make_background("nope")


def test_dinucleotide_shuffle_preserves_counts() -> None:
    rng = np.random.default_rng(0)
    for length in (3, 10, 400, 2000):
        seq = rng.choice(4, length, p=[0.4, 0.1, 0.1, 0.4]).astype(np.uint8)
        out = dinucleotide_shuffle(seq, rng)
        np.testing.assert_array_equal(dinucleotide_counts(out), dinucleotide_counts(seq))
        assert out[0] == seq[0] and out[-1] == seq[-1]
    seq = rng.integers(0, 4, 400).astype(np.uint8)
    outs = {dinucleotide_shuffle(seq, rng).tobytes() for _ in range(20)}
    assert len(outs) == 20  # actually shuffles


def test_missing_real_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="ARCHLAB_DNA_DIR") as err:
        make_background("markov", data_dir=tmp_path)
    assert "IRF1_400_h3k27ac.h5" in str(err.value)
    with pytest.raises(Exception, match="data_dir"):
        get_level("D0").sample(np.random.default_rng(0), 4, 300, background="shuffle", data_dir=str(tmp_path))


@pytest.mark.skipif(not HAVE_REAL, reason="needs the shared IRF1 ChIP-seq file")
def test_real_backgrounds() -> None:
    mk = get_level("D0").sample(np.random.default_rng(0), 100, 600, background="markov")
    assert oracle_scores("D0", mk)["accuracy"] == 1.0
    # a fitted order-3 chain of human sequence is AT-rich and CpG-depleted
    gc = gc_fraction(mk.codes).mean()
    assert 0.4 < gc < 0.5
    bg = make_background("shuffle")
    codes = bg.draw(np.random.default_rng(0), 5, 800)
    assert codes.shape == (5, 800) and codes.max() < 4
    sh = get_level("D3").sample(np.random.default_rng(0), 60, 500, background="shuffle")
    assert oracle_scores("D3", sh)["accuracy"] == 1.0


def test_reference_generator_agrees_with_fast_rule() -> None:
    ref = sample_reference("D0", np.random.default_rng(0), 40, 300)
    fast = get_level("D0").sample(np.random.default_rng(0), 40, 300)
    for sp in (ref, fast):
        assert int(sp.y.sum()) == 20
        assert oracle_scores("D0", sp)["accuracy"] == 1.0
    m = get_motif(get_level("D0").default_params["motifs"][0])
    np.testing.assert_array_equal(count_hits(ref.codes, m, m.threshold()), ref.y)
    assert abs(gc_fraction(ref.codes).mean() - gc_fraction(fast.codes).mean()) < 0.02
    with pytest.raises(ConfigError):
        sample_reference("D2", np.random.default_rng(0), 2, 300)


@pytest.mark.slow
@pytest.mark.parametrize("name", LEVELS)
@pytest.mark.parametrize("length", [200, 16000])
def test_every_level_works_from_200_bp_to_16_kb(name: str, length: int) -> None:
    lv = get_level(name)
    split = lv.sample(np.random.default_rng(1), 8, length)
    assert split.codes.shape == (8, length) and (split.codes < 4).all()
    orc = oracle_scores(name, split)
    if lv.task == "classification":
        assert np.bincount(split.y.astype(np.int64)).tolist() == [4, 4]
        assert orc["accuracy"] == 1.0  # the labels follow the rule at every length
    else:
        assert orc["pearson"] > 0.8
