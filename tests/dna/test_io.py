"""Loaders for real labelled DNA sets (archlab.dna.io), on the shared files and on bad input."""

from __future__ import annotations

import functools
import gzip
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from archlab.dna import io
from archlab.dna.data import DataError, DnaDataset, decode, one_hot
from archlab.errors import UnknownNameError
from archlab.shipped import shipped_dir

DATA = shipped_dir("dna")
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared DNA data not at {DATA}")


@functools.cache
def named(name: str) -> DnaDataset:
    return io.load_named(name, data_dir=DATA)


# ----------------------------------------------------------------------------- real files


@needs_data
@pytest.mark.parametrize(
    ("name", "sizes", "positives"),
    [
        ("zbed2", {"train": 3431, "valid": 490, "test": 981}, {"train": 1729, "valid": 255, "test": 467}),
        ("irf1", {"train": 2724, "valid": 389, "test": 779}, {"train": 1372, "valid": 200, "test": 374}),
    ],
)
def test_koo_hdf5_shapes_and_balance(name: str, sizes: dict[str, int], positives: dict[str, int]) -> None:
    ds = named(name)
    assert ds.task == "classification" and ds.classes == ["0", "1"] and ds.metric == "auroc"
    for s, n in sizes.items():
        sp = ds.splits[s]
        assert sp.codes.shape == (n, 400) and sp.codes.dtype == np.uint8
        assert int((sp.y == 1).sum()) == positives[s]
        assert np.all(sp.lengths == 400)
        assert not np.any(sp.codes == 4)  # strict one-hot: no N
    assert any("channels-first" in note for note in ds.notes)


@needs_data
def test_hdf5_one_hot_round_trip() -> None:
    ds = named("irf1")
    with h5py.File(DATA / "koo_chipseq" / "IRF1_400_h3k27ac.h5", "r") as f:
        x = f["X_test"][()]
        y = f["Y_test"][()]
    np.testing.assert_array_equal(one_hot(ds.splits["test"].codes), x)
    np.testing.assert_array_equal(ds.splits["test"].y, y[:, 0].astype(np.int64))


@needs_data
def test_lentimpra_sample() -> None:
    ds = named("lentimpra")
    assert ds.task == "regression" and ds.classes is None and ds.metric == "pearson"
    for s in ("train", "valid", "test"):
        sp = ds.splits[s]
        assert sp.codes.shape == (1000, 230) and np.all(sp.lengths == 230)
        assert sp.ids is not None and sp.ids[0].startswith(("seq", "ENSG"))
        assert not np.any(sp.codes == 4)
    assert float(ds.splits["test"].y.min()) == pytest.approx(-4.839)
    assert float(ds.splits["valid"].y.max()) == pytest.approx(4.735)
    assert ds.splits["train"].ids[0] == "seq22915_Reversed:"  # type: ignore[index]
    assert decode(ds.splits["train"].codes[:1])[0].startswith("AGGACCGGATCAACT")
    assert "no lower-case (soft-masked) bases" in ds.notes


@needs_data
def test_yeast_lengths_padding_and_n_counts() -> None:
    ds = named("yeast")
    tr, te = ds.splits["train"], ds.splits["test"]
    assert ds.task == "regression" and set(ds.splits) == {"train", "test"}
    assert (len(tr), len(te)) == (5096, 1274)
    lengths = np.concatenate([tr.lengths, te.lengths])
    assert lengths.min() == 87 and lengths.max() == 135 and tr.width == te.width == 135
    assert int((lengths == 110).sum()) == 5219
    for sp in (tr, te):  # padding is N, beyond each row's length
        pad = np.arange(sp.width)[None, :] >= sp.lengths[:, None]
        assert np.all(sp.codes[pad] == 4)
    # 25 sequences contain N, 387 N characters in total (the README's counts)
    real_n = [((sp.codes == 4) & (np.arange(sp.width)[None, :] < sp.lengths[:, None])) for sp in (tr, te)]
    assert sum(int(m.any(axis=1).sum()) for m in real_n) == 25
    assert sum(int(m.sum()) for m in real_n) == 387
    comp = ds.meta["composition"]
    assert isinstance(comp, dict) and comp["train"]["seqs_with_n"] + comp["test"]["seqs_with_n"] == 25
    # the deterministic split: 0-based row i with i % 5 == 4 → test
    lines = (DATA / "yeast_promoter_demo" / "demo_train.txt").read_text().split("\n")
    seq4, y4 = lines[4].split("\t")
    assert decode(te.codes[:1], te.lengths[:1])[0] == seq4 and te.y[0] == pytest.approx(float(y4))
    assert decode(tr.codes[4:5], tr.lengths[4:5])[0] == lines[5].split("\t")[0]


@needs_data
def test_load_dispatch_and_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    by_path = io.load(DATA / "yeast_promoter_demo" / "demo_train.txt")  # header/columns auto-detected
    np.testing.assert_array_equal(by_path.splits["test"].codes, named("yeast").splits["test"].codes)
    assert io.load(DATA / "lentimpra_sample").task == "regression"
    assert io.load("irf1", data_dir=DATA).name == "irf1"
    assert io.resolve("zbed2", data_dir=DATA) == DATA / "koo_chipseq" / "ZBED2_400_h3k27ac.h5"
    monkeypatch.setenv(io.DATA_DIR_ENV, str(DATA))
    assert io.resolve_data_dir() == DATA
    assert io.catalogue_path("lentimpra") == DATA / "lentimpra_sample"


def test_catalogue_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'irf1'"):
        io.catalogue_path("irf2", data_dir=tmp_path)
    with pytest.raises(DataError) as e:
        io.load_named("yeast", data_dir=tmp_path)
    msg = str(e.value)
    assert str(tmp_path) in msg and "ARCHLAB_DNA_DIR" in msg and "--data-dir" in msg
    monkeypatch.setenv(io.DATA_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="ARCHLAB_DNA_DIR"):
        io.resolve_data_dir()
    (tmp_path / "x.bam").write_text("")
    with pytest.raises(DataError, match=r"unknown file type '\.bam'.*HDF5.*FASTA"):
        io.load(tmp_path / "x.bam")
    with pytest.raises(DataError, match="not a shared set name"):
        io.load(tmp_path / "missing.fa")


# ----------------------------------------------------------------------------- HDF5 input


def _write_h5(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f[k] = v
    return path


def _toy_onehot(n: int, length: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    codes = np.random.default_rng(seed).integers(0, 4, size=(n, length)).astype(np.uint8)
    return codes, one_hot(codes)


def test_hdf5_channels_last_zero_columns_and_float_labels(tmp_path: Path) -> None:
    codes, x = _toy_onehot(6, 10)
    x[2, :, 7] = 0  # an all-zero column → N
    codes[2, 7] = 4
    xl = np.ascontiguousarray(x.transpose(0, 2, 1))  # (N, L, 4)
    y = np.linspace(0.1, 2.3, 6).astype(np.float32)
    p = _write_h5(tmp_path / "t.h5", {"X_train": xl[:4], "Y_train": y[:4], "X_test": xl[4:], "Y_test": y[4:]})
    ds = io.load(p)
    assert ds.task == "regression" and set(ds.splits) == {"train", "test"}
    np.testing.assert_array_equal(ds.splits["train"].codes, codes[:4])
    np.testing.assert_allclose(ds.splits["test"].y, y[4:])
    assert any("channels-last" in note for note in ds.notes)
    assert ds.meta["n_positions"] == {"train": 1, "test": 0}


def test_hdf5_multiclass_labels(tmp_path: Path) -> None:
    _, x = _toy_onehot(8, 5)
    y = np.array([3, 5, 7, 3, 5, 7, 3, 5], dtype=np.int8)[:, None]
    ds = io.load_hdf5(
        _write_h5(tmp_path / "m.h5", {"X_train": x[:6], "Y_train": y[:6], "X_test": x[6:], "Y_test": y[6:]})
    )
    assert ds.classes == ["3", "5", "7"] and ds.metric == "accuracy"
    assert ds.splits["test"].y.tolist() == [0, 1]


def test_hdf5_errors(tmp_path: Path) -> None:
    _, x = _toy_onehot(5, 8)
    y = np.zeros((5, 1), dtype=np.int8)
    p = _write_h5(tmp_path / "shape.h5", {"X_train": x[:, :3], "Y_train": y, "X_test": x, "Y_test": y})
    with pytest.raises(
        DataError, match=r"shape\.h5:X_train: expected a one-hot array .*got shape \(5, 3, 8\)"
    ):
        io.load(p)
    p = _write_h5(tmp_path / "keys.h5", {"X_train": x, "Y_train": y, "X_val": x})
    with pytest.raises(DataError) as e:
        io.load(p)
    assert "keys.h5" in str(e.value) and "['X_test', 'Y_test']" in str(e.value)
    assert "keys present: ['X_train', 'X_val', 'Y_train']" in str(e.value)
    bad = x.copy()
    bad[3, :, 6] = [1, 1, 0, 0]
    p = _write_h5(tmp_path / "hot.h5", {"X_train": x, "Y_train": y, "X_test": bad, "Y_test": y})
    with pytest.raises(DataError) as e:
        io.load(p)
    assert e.value.row == 3
    assert str(e.value).startswith(f"{tmp_path / 'hot.h5'}:X_test, row 3: position 6 is not one-hot")
    p = _write_h5(tmp_path / "y.h5", {"X_train": x, "Y_train": y[:4], "X_test": x, "Y_test": y})
    with pytest.raises(DataError, match=r"Y_train: 4 labels for 5 sequences"):
        io.load(p)


# ----------------------------------------------------------------------------- FASTA input


def test_fasta_classes_multiline_gzip_and_soft_mask(tmp_path: Path) -> None:
    pos = tmp_path / "pos.fa"
    pos.write_text(">p0\nACGTAC\nGTacgt\n>p1\nGGGGCCCC\n\n>p2\nacgtNNRA\n>p3\nTTTT\n>p4\nAAAA\n")
    neg = tmp_path / "neg.fa.gz"
    with gzip.open(neg, "wt") as f:
        f.write(">n0 some description\nCCCC\n>n1\nGGGG\n>n2\nAC\nGT\n>n3\nTTTT\n>n4\nAAAAC\n")
    ds = io.load_fasta_classes([pos, neg])
    assert ds.classes == ["neg", "pos"] and ds.task == "classification"
    assert [len(ds.splits[s]) for s in ("train", "test")] == [8, 2]  # row 4 of each class → test
    tr = ds.splits["train"]
    assert tr.ids == ["n0", "n1", "n2", "n3", "p0", "p1", "p2", "p3"]
    assert decode(tr.codes, tr.lengths)[4] == "ACGTACGTACGT" and tr.lengths[6] == 8
    assert decode(tr.codes[6:7], tr.lengths[6:7])[0] == "ACGTNNNA"
    frac = ds.meta["lowercase_fraction"]
    assert frac == {"neg": 0.0, "pos": pytest.approx(8 / 36)}
    assert any("WARNING: the lower-case fraction differs by class" in n for n in ds.notes)
    assert any("class pos: 1 sequences, 2 N, 1 other IUPAC" in n for n in ds.notes)
    masked = io.load_fasta_classes({"a": pos, "b": neg}, soft_mask="n")
    assert decode(masked.splits["train"].codes[:1])[0] == "ACGTACGTNNNN"


def test_fasta_labelled_headers(tmp_path: Path) -> None:
    p = tmp_path / "lab.fasta"
    p.write_text(
        ">s1 label=1\nACGT\n>s2|0\nCCGG\n>s3 x label=1 y\nTTAA\n>chr1:5-9|0 note\nGGAT\n>s5|1\nGATT\n"
    )
    ds = io.load(p)
    assert ds.classes == ["0", "1"]
    assert ds.splits["train"].y.tolist() == [1, 0, 1, 0] and ds.splits["test"].y.tolist() == [1]
    assert ds.splits["train"].ids == ["s1", "s2|0", "s3", "chr1:5-9|0"]
    p.write_text(">s1 label=0.5\nACGT\n>s2 label=1.25\nCCGG\n")
    assert io.load(p).task == "regression"
    p.write_text(">s1 label=1\nACGT\n>s2\nCCGG\n")
    with pytest.raises(DataError, match=r"lab\.fasta, line 3: no label in the header 's2'"):
        io.load(p)


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (">a\nACGT\n>b\n>c\nGG\n", 3, "empty sequence"),
        (">a\nACGT\n>b\n\n", 3, "empty sequence"),
        ("\nACGT\n>a\nAC\n", 2, "sequence line before the first header"),
        (">a\nACGT\nACGT\n>b\nAAAA\nCCCC\nGG-G\nTT\n", 7, "unknown character '-'"),
        (">a\nACGT\n>b\nAAAA\nCCXC\n", 5, "unknown character 'X'"),
        (">a\nAC GT\n", 2, "unknown character ' '"),
    ],
)
def test_fasta_errors_name_file_and_line(tmp_path: Path, text: str, line: int, problem: str) -> None:
    p = tmp_path / "bad.fa"
    p.write_text(text)
    good = tmp_path / "good.fa"
    good.write_text(">g\nACGT\n")
    with pytest.raises(DataError) as e:
        io.load_fasta_classes([p, good])
    assert str(e.value).startswith(f"{p}, line {line}: {problem}")
    assert e.value.row == line and e.value.source == str(p)


def test_fasta_dir(tmp_path: Path) -> None:
    for split, n in (("train", 3), ("valid", 1), ("test", 2)):
        (tmp_path / split).mkdir()
        for cls, base in (("bound", "A"), ("unbound", "C")):
            (tmp_path / split / f"{cls}.fa").write_text(
                "".join(f">{cls}{i}\n{base * (4 + i)}\n" for i in range(n))
            )
    ds = io.load(tmp_path)
    assert ds.classes == ["bound", "unbound"] and [len(ds.splits[s]) for s in io.SPLITS] == [6, 2, 4]
    assert ds.splits["train"].width == ds.splits["test"].width == 6  # padded to the widest split
    (tmp_path / "test" / "other.fa").write_text(">o\nACGT\n")
    with pytest.raises(DataError, match="class files differ between splits"):
        io.load(tmp_path)


# ----------------------------------------------------------------------------- tables


def test_table_header_csv_and_columns(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    rows = "\n".join(f"r{i},{'ACGT' * (1 + i % 3)},{i * 0.5},{i % 2}" for i in range(10))
    p.write_text("name,sequence,activity,fold\n" + rows + "\n")
    ds = io.load(p)
    assert ds.task == "regression" and ds.splits["test"].ids == ["r4", "r9"]
    np.testing.assert_allclose(ds.splits["test"].y, [2.0, 4.5])
    cls = io.load(p, label_col="fold")
    assert cls.task == "classification" and cls.classes == ["0", "1"]
    by_index = io.load_table(p, seq_col=1, label_col=3, valid=True)
    assert [len(by_index.splits[s]) for s in io.SPLITS] == [6, 2, 2]


def test_table_splits_from_files(tmp_path: Path) -> None:
    for split, n in (("train", 5), ("valid", 2), ("test", 3)):
        body = "".join(f"id{i}\t{'ACGT' * 3}\t{i}.5\t{i}\n" for i in range(n))
        (tmp_path / f"sample_{split}.txt").write_text("seq_id\tseq\tmean_value\tfold\n" + body)
    ds = io.load(tmp_path)
    assert [len(ds.splits[s]) for s in io.SPLITS] == [5, 2, 3] and ds.task == "regression"
    assert ds.splits["valid"].ids == ["id0", "id1"]


def test_table_errors_name_file_and_row(tmp_path: Path) -> None:
    p = tmp_path / "noLabel.tsv"
    p.write_text("seq_id\tseq\tfold\nx\tACGT\t1\n")
    with pytest.raises(DataError) as e:
        io.load(p, label_col="mean_value")
    assert str(e.value) == (
        f"{p}: no label column 'mean_value'; columns present: ['seq_id', 'seq', 'fold'] (--label-col NAME)"
    )
    p = tmp_path / "several.tsv"
    p.write_text("seq_id\tseq\tfold\tbatch\nx\tACGT\t1\t2\n")
    with pytest.raises(
        DataError,
        match=r"no label column found \(columns present: \['seq_id', 'seq', 'fold', 'batch'\]\); "
        r"name it with --label-col NAME",
    ):
        io.load(p)
    p = tmp_path / "nonnum.txt"
    p.write_text("ACGTACGTAA\t1.5\nACGTACGTAC\t2\n\nACGTACGTAG\tNA\n")
    with pytest.raises(DataError) as e:
        io.load(p)
    assert str(e.value).startswith(f"{p}, line 4: non-numeric label 'NA'") and e.value.row == 4
    p = tmp_path / "badseq.tsv"
    p.write_text("seq\tlabel\nACGT\t1\nACGU\t0\n")
    with pytest.raises(DataError, match=r"badseq\.tsv, line 3: unknown character 'U'"):
        io.load(p)
    p = tmp_path / "short.tsv"
    p.write_text("seq\tlabel\nACGT\t1\nACGT\n")
    with pytest.raises(DataError, match=r"short\.tsv, line 3: 1 column\(s\), need at least 2"):
        io.load(p)


def test_index_split() -> None:
    parts = io.index_split(12)
    assert parts["test"].tolist() == [4, 9] and len(parts["train"]) == 10 and "valid" not in parts
    parts = io.index_split(12, valid=True)
    assert parts["valid"].tolist() == [3, 8] and len(parts["train"]) == 8


def test_the_shipped_copy_is_the_default_and_is_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(io.DATA_DIR_ENV, raising=False)
    assert io.resolve_data_dir() == shipped_dir("dna")
    assert (shipped_dir("dna") / "SHA256SUMS").is_file() and (shipped_dir("dna") / "README.md").is_file()
    assert io.load("irf1").name == "irf1"
    # a copy with its SHA256SUMS: a changed byte is refused, naming the file
    root = tmp_path / "dna"
    shutil.copytree(shipped_dir("dna") / "lentimpra_sample", root / "lentimpra_sample")
    shutil.copy(shipped_dir("dna") / "SHA256SUMS", root / "SHA256SUMS")
    assert io.load_named("lentimpra", data_dir=root).name == "lentimpra"
    bad = root / "lentimpra_sample" / "sample_test.txt"
    data = bytearray(bad.read_bytes())
    data[-2] = ord("7") if data[-2] != ord("7") else ord("8")
    bad.write_bytes(bytes(data))
    with pytest.raises(DataError, match="sample_test.txt.*SHA-256"):
        io.load_named("lentimpra", data_dir=root)
