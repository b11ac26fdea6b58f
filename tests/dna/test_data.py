"""The shared DNA array types: encoding rules, reverse complements, one-hot, datasets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archlab.dna.data import (
    N_CODE,
    DataError,
    DnaDataset,
    Split,
    decode,
    encode,
    gc_fraction,
    one_hot,
    revcomp,
)


def test_encode_pads_with_n_and_keeps_lengths() -> None:
    codes, lengths = encode(["ACGT", "GA"])
    assert codes.dtype == np.uint8 and codes.shape == (2, 4)
    assert codes.tolist() == [[0, 1, 2, 3], [2, 0, N_CODE, N_CODE]]
    assert lengths.tolist() == [4, 2]
    assert decode(codes, lengths) == ["ACGT", "GA"]


def test_soft_masked_bases_follow_the_policy() -> None:
    assert encode(["acgT"])[0].tolist() == [[0, 1, 2, 3]]  # upper-cased by default
    assert encode(["acgT"], soft_mask="n")[0].tolist() == [[4, 4, 4, 3]]
    with pytest.raises(DataError, match=r"row 0: unknown character 'a'.*soft-masked"):
        encode(["acgT"], soft_mask="error")


def test_iupac_codes_become_n_or_are_refused() -> None:
    assert encode(["ARYN"])[0].tolist() == [[0, 4, 4, 4]]
    assert encode(["ryn"])[0].tolist() == [[4, 4, 4]]
    assert encode(["AN"], ambiguous="error")[0].tolist() == [[0, 4]]  # N itself is a gap, allowed
    with pytest.raises(DataError, match="IUPAC"):
        encode(["AR"], ambiguous="error")


@pytest.mark.parametrize("bad", ["AC-T", "AC1T", "ACUT", "AC T", "ACéT"])
def test_unknown_characters_name_the_source_and_row(bad: str) -> None:
    with pytest.raises(DataError) as err:
        encode(["ACGT", "ACGT", bad], source="x.fa", first_row=10)
    assert str(err.value).startswith("x.fa, row 12:")
    assert err.value.row == 12


def test_empty_and_too_long_sequences_are_errors() -> None:
    with pytest.raises(DataError, match="row 1: empty sequence"):
        encode(["A", ""])
    with pytest.raises(DataError, match="row 0: sequence of length 5 is longer than 4"):
        encode(["ACGTA"], length=4)
    assert encode([], length=7)[0].shape == (0, 7)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="ACGTN", min_size=1, max_size=30), min_size=1, max_size=8))
def test_revcomp_is_an_involution_and_complements(seqs: list[str]) -> None:
    codes, lengths = encode(seqs)
    rc = revcomp(codes, lengths)
    comp = str.maketrans("ACGTN", "TGCAN")
    assert decode(rc, lengths) == [s.translate(comp)[::-1] for s in seqs]
    assert np.array_equal(revcomp(rc, lengths), codes)
    # the padding stays at the end
    for row, n in zip(rc, lengths, strict=True):
        assert np.all(row[n:] == N_CODE)


def test_one_hot_layout_matches_the_koo_files() -> None:
    codes, _ = encode(["ACGTN"])
    x = one_hot(codes)
    assert x.shape == (1, 4, 5) and x.dtype == np.float32
    assert x[0, :, :4].tolist() == np.eye(4).tolist()  # channel c is base c
    assert x[0, :, 4].tolist() == [0, 0, 0, 0]  # N: all zeros


def test_gc_fraction_ignores_n() -> None:
    codes, _ = encode(["GGCC", "AAGN", "NNNN"])
    assert gc_fraction(codes).tolist() == pytest.approx([1.0, 1 / 3, 0.5])


def _split(n: int, y: np.ndarray | None = None) -> Split:
    codes = np.zeros((n, 3), dtype=np.uint8)
    return Split(codes, y if y is not None else np.zeros(n, dtype=np.int64), np.full(n, 3, dtype=np.int32))


def test_split_and_dataset_validate_their_shapes() -> None:
    with pytest.raises(ValueError, match="shapes disagree"):
        Split(np.zeros((2, 3), dtype=np.uint8), np.zeros(3), np.zeros(2, dtype=np.int32))
    with pytest.raises(DataError, match="missing split"):
        DnaDataset("x", "classification", {"train": _split(2)}, classes=["a", "b"])
    with pytest.raises(DataError, match="unknown split"):
        DnaDataset("x", "regression", {"train": _split(2), "test": _split(2), "dev": _split(1)})
    with pytest.raises(DataError, match="class names"):
        DnaDataset("x", "classification", {"train": _split(2), "test": _split(2)})


def test_dataset_metric_and_summary() -> None:
    y = np.array([0, 1, 1, 1])
    splits = {"train": _split(4, y), "test": _split(4, y)}
    ds = DnaDataset("toy", "classification", splits, classes=["n", "p"])
    assert ds.n_outputs == 2 and ds.metric == "auroc"
    s = ds.summary()
    assert s["train"] == {"n": 4, "length_min": 3, "length_max": 3, "positive_fraction": 0.75}
    reg = DnaDataset("r", "regression", {"train": _split(2), "test": _split(2)})
    assert reg.n_outputs == 1 and reg.metric == "pearson"
    sub = ds.splits["train"].subset(np.array([1, 2]))
    assert len(sub) == 2 and sub.y.tolist() == [1, 1]
