"""JASPAR motif loading, PWM sampling, log-odds scanning and the p-value threshold."""

from __future__ import annotations

import numpy as np
import pytest

from archlab.dna.data import revcomp
from archlab.dna.motifs import DEFAULT_MOTIFS, UnknownMotifError, best_hits, get_motif, scan


def test_default_motifs_load_and_are_distinct() -> None:
    motifs = [get_motif(m) for m in DEFAULT_MOTIFS]
    assert len({m.name.upper() for m in motifs}) == len(motifs)
    for m in motifs:
        assert m.pwm.shape == (m.width, 4)
        np.testing.assert_allclose(m.pwm.sum(1), 1.0)
        assert (m.pwm > 0).all()  # the pseudocount keeps every base possible
        assert m.information_content() > 14.0


def test_lookup_by_name_and_base_id() -> None:
    assert get_motif("ctcf").name == "CTCF"
    assert get_motif("MA0139").id.startswith("MA0139.")
    assert get_motif("MA0050.2").name == "IRF1"


@pytest.mark.parametrize(("key", "suggestion"), [("MA0139.9", "MA0139"), ("CTCFF", "CTCF")])
def test_unknown_motif_suggests_close_matches(key: str, suggestion: str) -> None:
    with pytest.raises(UnknownMotifError) as err:
        get_motif(key)
    assert any(s.startswith(suggestion) for s in err.value.suggestions), err.value.suggestions
    assert key in str(err.value)


def test_pwm_sampling_matches_column_frequencies() -> None:
    m = get_motif("MA0139.2")
    inst = m.sample(np.random.default_rng(0), 40000)
    freq = np.stack([np.bincount(inst[:, j], minlength=4) / len(inst) for j in range(m.width)])
    np.testing.assert_allclose(freq, m.pwm, atol=0.015)
    # not the consensus: most draws differ from it somewhere
    consensus = m.pwm.argmax(1)
    assert (inst != consensus).any(1).mean() > 0.5


def test_conditioned_sampling_and_strands() -> None:
    m = get_motif("MA0080.7")
    t = m.threshold()
    rng = np.random.default_rng(1)
    plus = m.sample(rng, 500, min_score=t)
    s = scan(plus, m)
    assert (s[:, 0, 0] >= t).all()
    minus = m.sample(np.random.default_rng(1), 500, min_score=t, strand="-")
    np.testing.assert_array_equal(minus, revcomp(plus))
    assert (scan(minus, m)[:, 1, 0] >= t).all()


@pytest.mark.parametrize("motif", DEFAULT_MOTIFS)
def test_scan_matches_brute_force_both_strands(motif: str) -> None:
    m = get_motif(motif)  # widths 13–21 cover every remainder of the scan's 4-column blocks
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 4, (3, 60)).astype(np.uint8)
    codes[0, 5] = 4  # an N makes its windows -inf
    lo = m.log_odds()
    s = scan(codes, m)
    w = m.width
    for r in range(3):
        rc = revcomp(codes[r : r + 1])[0]
        for p in range(60 - w + 1):
            for strand, seq in ((0, codes[r]), (1, rc)):
                win = seq[p : p + w]
                want = -np.inf if (win == 4).any() else sum(lo[j, win[j]] for j in range(w))
                assert s[r, strand, p] == pytest.approx(want, abs=1e-4)
    np.testing.assert_allclose(best_hits(codes, m), s.reshape(3, -1).max(1))


def test_threshold_false_positive_rate() -> None:
    m = get_motif("MA0080.7")
    p = 1e-3
    t = m.threshold(p)
    rng = np.random.default_rng(3)
    windows = rng.integers(0, 4, (400000, m.width)).astype(np.uint8)
    rate = float((scan(windows, m)[:, 0, 0] >= t).mean())
    assert 0.6 * p < rate <= 1.15 * p
    assert m.threshold(1e-5) > t
