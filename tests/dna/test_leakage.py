"""Leakage utilities (archlab.dna.leakage): toys with known answers and the shared sets' counts."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from archlab.dna import io
from archlab.dna import leakage as lk
from archlab.dna.data import DnaDataset, Split, decode, encode, revcomp
from archlab.shipped import shipped_dir

DATA = shipped_dir("dna")
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared DNA data not at {DATA}")


@functools.cache
def named(name: str) -> DnaDataset:
    return io.load_named(name, data_dir=DATA)


def _rc(s: str) -> str:
    return s[::-1].translate(str.maketrans("ACGTN", "TGCAN"))


def _split(seqs: list[str], y: list[int] | None = None) -> Split:
    codes, lengths = encode(seqs)
    return Split(codes, np.asarray(y if y is not None else [0] * len(seqs), dtype=np.int64), lengths)


def _random_seqs(n: int, length: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return decode(rng.integers(0, 4, size=(n, length)))


def _toy() -> DnaDataset:
    train = _random_seqs(20, 60, 1)
    test = _random_seqs(6, 60, 2)
    test[1] = _rc(train[3])  # reverse-complement copy
    test[4] = train[7]  # exact copy
    test[5] = train[7][:30] + _random_seqs(1, 30, 3)[0]  # half of train[7]: a near duplicate
    return DnaDataset(
        "toy",
        "classification",
        {"train": _split(train, [i % 2 for i in range(20)]), "test": _split(test, [i % 2 for i in range(6)])},
        ["a", "b"],
    )


def test_exact_duplicates_toy_both_strands() -> None:
    ex = lk.exact_duplicates(_toy())
    block = ex["pairs"]["train/test"]  # type: ignore[index]
    assert block["n"] == 2 and block["same_strand"] == 1 and block["reverse_complement"] == 1
    pairs = sorted(map(tuple, block["index"].tolist()))
    assert pairs == [(3, 1), (7, 4)]
    assert ex["leaked"] == {"test": 2} and ex["unique"] == 24
    one_strand = lk.exact_duplicates(_toy(), both_strands=False)
    assert one_strand["leaked"] == {"test": 1}


def test_kmer_hashes_canonical_and_skip_n() -> None:
    seqs = ["ACGTTGCAAGGCTTNACGGT", "ACGTTGCAAGGC"]
    codes, lengths = encode(seqs)
    rows, hashes = lk.kmer_hashes(codes, lengths, 5)
    for r, s in enumerate(seqs):  # distinct canonical 5-mers without N, counted by brute force
        kmers = {min(s[i : i + 5], _rc(s[i : i + 5])) for i in range(len(s) - 4) if "N" not in s[i : i + 5]}
        assert int((rows == r).sum()) == len(kmers)
    rc_codes = revcomp(codes, lengths)
    rows_rc, hashes_rc = lk.kmer_hashes(rc_codes, lengths, 5)
    for r in range(2):  # the same set of canonical hashes on either strand
        assert set(hashes[rows == r].tolist()) == set(hashes_rc[rows_rc == r].tolist())


def test_near_duplicates_toy() -> None:
    nd = lk.near_duplicates(_toy(), k=11, min_fraction=0.3)
    assert set(nd["near"].tolist()) == {1, 4, 5}  # type: ignore[union-attr]
    best = nd["best"]
    assert best[1].tolist() == [0, 3] and best[5].tolist() == [0, 7]  # type: ignore[index]
    assert nd["max_share"][4] == pytest.approx(1.0)  # type: ignore[index]
    strict = lk.near_duplicates(_toy(), k=11, min_fraction=0.9)
    assert set(strict["near"].tolist()) == {1, 4}  # type: ignore[union-attr]


def test_regroup_splits_toy_removes_leaks_and_keeps_balance() -> None:
    ds = _toy()
    out = lk.regroup_splits(ds, seed=3, k=11, min_fraction=0.3)
    assert sum(len(sp) for sp in out.splits.values()) == 26
    assert lk.exact_duplicates(out)["leaked"] == {"test": 0}
    assert lk.near_duplicates(out, k=11, min_fraction=0.3)["n_near"] == 0
    assert "regroup_splits(seed=3)" in out.notes[-1] and out.meta["regroup"]["groups_multi"] == 2  # type: ignore[index]
    assert abs(len(out.splits["test"]) - 6) <= 2
    assert abs(float(np.mean(out.splits["train"].y)) - 0.5) < 0.15
    # the same seed gives the same splits
    again = lk.regroup_splits(ds, seed=3, k=11, min_fraction=0.3)
    assert again.splits["test"].ids == out.splits["test"].ids


def test_augment_rc_and_average_rc() -> None:
    seqs = ["AACGT", "GGGTTTC", "ACN"]
    sp = Split(
        *encode(seqs)[:1], np.array([1.0, 2.0, 3.0], dtype=np.float32), encode(seqs)[1], ["x", "y", "z"]
    )
    aug = lk.augment_rc(sp)
    assert len(aug) == 6 and aug.ids == ["x", "y", "z", "x_rc", "y_rc", "z_rc"]
    assert decode(aug.codes, aug.lengths) == [*seqs, *map(_rc, seqs)]
    np.testing.assert_array_equal(aug.y, [1, 2, 3, 1, 2, 3])
    np.testing.assert_array_equal(aug.codes[5, 3:], [4] * 4)  # padding stays at the end

    def first_base_is_a(codes: np.ndarray) -> np.ndarray:
        return (codes[:, 0] == 0).astype(np.float64)

    avg = lk.average_rc(first_base_is_a, sp.codes, sp.lengths)
    np.testing.assert_allclose(avg, [(1 + 1) / 2, (0 + 0) / 2, (1 + 0) / 2])  # ACGTT, GAAACCC, NGT

    def gc(codes: np.ndarray) -> np.ndarray:  # strand-symmetric: averaging changes nothing
        return ((codes == 1) | (codes == 2)).sum(axis=1).astype(np.float64)

    np.testing.assert_allclose(lk.average_rc(gc, sp.codes, sp.lengths), gc(sp.codes))


# ----------------------------------------------------------------------------- shared sets


@needs_data
def test_lentimpra_exact_duplicates_match_readme() -> None:
    ds = named("lentimpra")
    full = lk.exact_duplicates(ds)  # whole 230-nt rows
    pairs = full["pairs"]
    assert {p: v["n"] for p, v in pairs.items()} == {"train/valid": 12, "train/test": 26, "valid/test": 23}  # type: ignore[union-attr]
    assert sum(v["n"] for v in pairs.values()) == 61 and full["unique"] == 2940  # type: ignore[union-attr]
    assert lk.common_flanks(ds) == (15, 15)
    inner = lk.exact_duplicates(ds, trim="auto")  # the 200-nt element, adapters cut
    assert inner["trim"] == (15, 15)
    rc = {p: v["reverse_complement"] for p, v in inner["pairs"].items()}  # type: ignore[union-attr]
    assert rc == {"train/valid": 16, "train/test": 18, "valid/test": 21}
    within = {s: v["reverse_complement"] for s, v in inner["within"].items()}  # type: ignore[union-attr]
    assert within == {"train": 8, "valid": 7, "test": 10}
    assert inner["leaked"]["test"] == 84  # type: ignore[index]


@needs_data
@pytest.mark.parametrize(
    ("name", "expected"), [("zbed2", {40: 48, 100: 8, 200: 4}), ("irf1", {40: 65, 100: 18, 200: 12})]
)
def test_koo_near_duplicates_match_readme(name: str, expected: dict[int, int]) -> None:
    ds = named(name)
    ex = lk.exact_duplicates(ds)
    assert all(v["n"] == 0 for v in ex["pairs"].values()) and ex["unique"] == sum(
        map(len, ds.splits.values())
    )  # type: ignore[union-attr]
    for k, n in expected.items():
        assert lk.near_duplicates(ds, k=k, min_fraction=0.0)["n_shared_any"] == n


@needs_data
def test_zbed2_irf1_share_169_negatives() -> None:
    sh = lk.shared_sequences(named("zbed2"), named("irf1"))
    assert sh["n_shared"] == 169 and sh["labels"] == {("0", "0"): 169}


@needs_data
def test_regroup_lentimpra_leaves_no_leak() -> None:
    ds = named("lentimpra")
    out = lk.regroup_splits(ds, seed=0, trim=(15, 15))
    assert lk.exact_duplicates(out, trim=(15, 15))["leaked"] == {"valid": 0, "test": 0}
    assert lk.near_duplicates(out, trim=(15, 15))["n_near"] == 0
    assert all(abs(len(sp) - 1000) <= 5 for sp in out.splits.values())
    assert "exact leaks before {'valid': 27, 'test': 84}" in out.notes[-1]
