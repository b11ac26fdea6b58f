"""Loaders for real labelled DNA sets: one-hot HDF5, FASTA, TSV/CSV, folders of splits.

Every loader returns a :class:`~archlab.dna.data.DnaDataset` (codes ``A=0 C=1 G=2 T=3 N=4``).
:func:`load` dispatches on what a path is; :func:`load_named` reads the small shared sets by
short name (``irf1``, ``zbed2``, ``lentimpra``, ``yeast``). Nothing here ever downloads.

Formats and rules (each stated once, here):

- **HDF5** (:func:`load_hdf5`): keys ``X_train``/``Y_train``, ``X_test``/``Y_test`` and
  optionally ``X_valid``/``Y_valid`` (the Koo lab's layout). ``X`` is a one-hot array
  ``(N, 4, L)`` (channels A, C, G, T) or ``(N, L, 4)``; the layout is detected from the axis of
  size 4 and written to ``notes``. An all-zero column (or one that is 0.25 in every channel) is
  ``N``; any other column that is not one-hot is an error naming the file, the key and the row.
- **FASTA** (:func:`load_fasta_classes`, :func:`load_fasta_labelled`, :func:`load_fasta_dir`):
  ``.fa``/``.fasta``/``.fna`` optionally gzipped (``.gz``); records may span several lines.
  Labels come from one file per class (class = file stem, or the mapping's key) or from the
  header, see :data:`HEADER_LABEL_PATTERN`.
- **Tables** (:func:`load_table`, :func:`load_table_splits`): TSV/CSV with a sequence column and
  a label column (DREAM/lentiMPRA style), with or without a header line.
- A file with no split of its own gets the deterministic split of :func:`index_split`
  (row ``i`` with ``i % 5 == 4`` → test, the split the shared README's baselines used).

Labels: values that are all integers with at most :data:`MAX_CLASSES` distinct values make a
classification task (class names = the values, sorted); otherwise regression. ``task=`` forces
either. Text sequences are encoded by :func:`~archlab.dna.data.encode`: lower-case bases are
upper-cased by default (``soft_mask="upper"``) and IUPAC ambiguity codes become ``N``; the
notes say how many bases were lower-case per class and how many were ``N``/ambiguous, measured
before encoding (masking that differs by class is a known shortcut).

Errors are :class:`~archlab.dna.data.DataError`; for text files they name the file and the
1-based **line** number (the line an editor shows), for HDF5 the file, the key and the 0-based
row of the array.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import numpy as np

from archlab.dna.data import (
    AMBIGUOUS,
    N_CODE,
    Ambiguous,
    DataError,
    DnaDataset,
    SoftMask,
    Split,
    encode,
    lower_case_mask,
)
from archlab.errors import UnknownNameError

__all__ = [
    "CATALOGUE",
    "DATA_DIR_ENV",
    "FASTA_SUFFIXES",
    "HEADER_LABEL_PATTERN",
    "MAX_CLASSES",
    "SPLITS",
    "TABLE_SUFFIXES",
    "catalogue_path",
    "index_split",
    "load",
    "load_fasta_classes",
    "load_fasta_dir",
    "load_fasta_labelled",
    "load_hdf5",
    "load_named",
    "load_table",
    "load_table_splits",
    "read_fasta",
    "resolve",
    "resolve_data_dir",
]

Task = Literal["classification", "regression"]
PathLike = str | os.PathLike[str]

#: split names in their canonical order
SPLITS = ("train", "valid", "test")
#: environment variable naming the folder that holds the shared sets
DATA_DIR_ENV = "ARCHLAB_DNA_DIR"
#: integer labels with at most this many distinct values are classes (else regression)
MAX_CLASSES = 20
FASTA_SUFFIXES = (".fa", ".fasta", ".fna")
TABLE_SUFFIXES = (".tsv", ".csv", ".txt")
HDF5_SUFFIXES = (".h5", ".hdf5")

#: Default header label pattern for :func:`load_fasta_labelled`, tried on the header text after
#: ``>``: either a whitespace-separated token ``label=VALUE`` anywhere in the header
#: (``>seq1 label=1``), or else the last ``|``-separated field of the first token
#: (``>seq1|1``, ``>chr1:100-500|pos``). The label is the first group that matched.
HEADER_LABEL_PATTERN = re.compile(r"(?:^|\s)label=(\S+)|^[^\s|]*\|(?:[^\s|]*\|)*([^\s|]+)(?=\s|$)")

#: the shared sets by short name: path under the data folder and loader options
CATALOGUE: dict[str, tuple[str, dict[str, object]]] = {
    "irf1": ("koo_chipseq/IRF1_400_h3k27ac.h5", {}),
    "zbed2": ("koo_chipseq/ZBED2_400_h3k27ac.h5", {}),
    "lentimpra": ("lentimpra_sample", {"label_col": "mean_value", "id_col": "seq_id"}),
    "yeast": ("yeast_promoter_demo/demo_train.txt", {"header": False, "seq_col": 0, "label_col": 1}),
}

_SUPPORTED = (
    "one-hot HDF5 (.h5/.hdf5 with X_train/Y_train, X_test/Y_test[, X_valid/Y_valid]); "
    "FASTA (.fa/.fasta/.fna[.gz], labels in headers); TSV/CSV (.tsv/.csv/.txt[.gz]); "
    "a folder with train/ and test/ (and optional valid/) subfolders of <class>.fa files; "
    "a folder with one table per split (e.g. sample_train.txt, sample_valid.txt, sample_test.txt)"
)


# ----------------------------------------------------------------------------- helpers


def _line_error(source: PathLike, problem: str, line: int) -> DataError:
    """A :class:`DataError` whose message says ``line`` (1-based, as an editor shows it)."""
    err = DataError(str(source), problem, line)
    err.args = (f"{source}, line {line}: {problem}",)
    return err


def _suffixes(path: Path) -> tuple[str, bool]:
    """(the format suffix, gzipped?) of a file name: ``x.fa.gz`` → ``(".fa", True)``."""
    name = path.name.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    return Path(name).suffix, gz


def file_stem(path: Path) -> str:
    """The file name without its format suffix and ``.gz`` (``pos.fa.gz`` → ``pos``)."""
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    return Path(name).stem


def _read_text(path: Path) -> str:
    """A whole text file (gzip if ``.gz``), with ``\\r`` removed; non-UTF-8 bytes are an error."""
    if not path.is_file():
        raise DataError(str(path), "no such file")
    if path.name.lower().endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    else:
        raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise _line_error(path, f"not UTF-8 text (byte {raw[e.start]:#04x})", line) from None
    return text.lstrip("\ufeff").replace("\r", "")


def index_split(n: int, test_every: int = 5, valid: bool = False) -> dict[str, np.ndarray]:
    """The deterministic split for a file that has none: 0-based row ``i`` goes to ``test``
    when ``i % test_every == test_every - 1`` (``i % 5 == 4`` by default, the split of the
    shared README's reference baselines), to ``valid`` (only when ``valid``) when
    ``i % test_every == test_every - 2``, else to ``train``. Returns row indices per split."""
    if test_every < 2 or (valid and test_every < 3):
        raise DataError("index_split", f"test_every={test_every} is too small (>= 2, or >= 3 with valid)")
    i = np.arange(n)
    r = i % test_every
    out = {"train": i[r < test_every - (2 if valid else 1)]}
    if valid:
        out["valid"] = i[r == test_every - 2]
    out["test"] = i[r == test_every - 1]
    return out


#: what a split folder without a test split says (the CLI flag, and the loader option)
NO_TEST_SPLIT = (
    "no test split: add test/ (or a *_test table) or pass --split-fraction F "
    "(split_fraction=F: a share F of train, per class, becomes the test split)"
)


def carve_test(splits: dict[str, Split], fraction: float, task: Task, seed: int = 0) -> str:
    """Move a share ``fraction`` of ``splits["train"]`` to a new ``test`` split (in place), per
    class for classification, by a ``seed``-ed permutation; returns the note saying so."""
    if not 0.0 < fraction < 1.0:
        raise DataError("split_fraction", f"must be in (0, 1), got {fraction}")
    if "test" in splits:
        raise DataError("split_fraction", "there already is a test split: split_fraction applies without one")
    train = splits["train"]
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(train.y == c) for c in np.unique(train.y)] if task == "classification" else [
        np.arange(len(train))
    ]  # fmt: skip
    test_idx: list[np.ndarray] = []
    for g in groups:
        g = rng.permutation(g)
        test_idx.append(g[: round(fraction * len(g))])
    test = np.sort(np.concatenate(test_idx)) if test_idx else np.zeros(0, dtype=np.int64)
    if len(test) == 0 or len(test) == len(train):
        raise DataError("split_fraction", f"{fraction} of {len(train)} train rows leaves an empty split")
    keep = np.setdiff1d(np.arange(len(train)), test)
    splits["test"], splits["train"] = train.subset(test), train.subset(keep)
    per = " per class" if task == "classification" else ""
    return f"split: {len(test)} of {len(train)} train rows ({fraction:g}{per}, seed {seed}) → test"


def _labels_to_y(
    values: np.ndarray, task: Task | None, source: str
) -> tuple[Task, np.ndarray, list[str] | None]:
    """Numeric labels → (task, y, classes): integer-valued with ≤ MAX_CLASSES distinct values →
    classification (y = index into the sorted distinct values), else regression (float32)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size and not np.all(np.isfinite(values)):
        raise DataError(source, "labels contain NaN or infinity")
    if task is None:
        distinct = np.unique(values)
        is_int = bool(np.all(values == np.round(values)))
        task = "classification" if is_int and 0 < len(distinct) <= MAX_CLASSES else "regression"
    if task == "regression":
        return task, values.astype(np.float32), None
    distinct, y = np.unique(values, return_inverse=True)
    if not np.all(distinct == np.round(distinct)):
        raise DataError(source, "task='classification' needs integer labels (or strings)")
    return task, y.astype(np.int64), [str(int(v)) for v in distinct]


def _string_labels_to_y(labels: Sequence[str], source: str) -> tuple[np.ndarray, list[str]]:
    """String class labels → (y indices, sorted class names); integers sort numerically."""
    distinct = sorted(set(labels))
    with contextlib.suppress(ValueError):
        distinct = sorted(distinct, key=float)
    index = {c: i for i, c in enumerate(distinct)}
    return np.fromiter((index[s] for s in labels), dtype=np.int64, count=len(labels)), distinct


def _composition(seqs: Sequence[str]) -> dict[str, int]:
    """Counts on the raw strings (before encoding): bases, lower-case bases, N, other IUPAC
    codes, and the sequences that contain an N or another ambiguity code."""
    if not seqs:
        return {"bases": 0, "lower": 0, "n": 0, "iupac": 0, "seqs_with_n": 0}
    raw = np.frombuffer("".join(seqs).encode("ascii", errors="replace"), dtype=np.uint8)
    counts = np.bincount(raw, minlength=256)
    lower = int(counts[ord("a") : ord("z") + 1].sum())
    n = int(counts[ord("N")] + counts[ord("n")])
    other = [c for c in AMBIGUOUS if c != "N"]
    iupac = int(sum(counts[ord(c)] + counts[ord(c.lower())] for c in other))
    amb_table = np.zeros(256, dtype=bool)
    for c in AMBIGUOUS:
        amb_table[ord(c)] = amb_table[ord(c.lower())] = True
    starts = np.concatenate([[0], np.cumsum([len(s) for s in seqs])[:-1]])
    per_seq = np.add.reduceat(amb_table[raw].astype(np.int64), starts)
    return {
        "bases": int(raw.size),
        "lower": lower,
        "n": n,
        "iupac": iupac,
        "seqs_with_n": int((per_seq > 0).sum()),
    }


def _composition_notes(
    groups: Mapping[str, Sequence[str]], what: str, soft_mask: SoftMask, meta: dict[str, object]
) -> list[str]:
    """Notes on lower-case and N/ambiguity counts per group (class or split); fills ``meta``."""
    stats = {g: _composition(s) for g, s in groups.items()}
    meta["composition"] = {"by": what, **stats}
    fracs = {g: (st["lower"] / st["bases"] if st["bases"] else 0.0) for g, st in stats.items()}
    meta["lowercase_fraction"] = fracs
    notes = []
    total_lower = sum(st["lower"] for st in stats.values())
    if total_lower:
        done = {"upper": "upper-cased", "n": "read as N", "error": "refused",
                "keep": "upper-cased with the mask kept for token models"}[soft_mask]  # fmt: skip
        parts = ", ".join(
            f"{what} {g} {fracs[g]:.2%} ({stats[g]['lower']}/{stats[g]['bases']})" for g in stats
        )
        notes.append(f"lower-case (soft-masked) bases, {done} (soft_mask={soft_mask!r}): {parts}")
        if len(fracs) > 1 and max(fracs.values()) - min(fracs.values()) > 0.05:
            notes.append(
                f"WARNING: the lower-case fraction differs by {what} "
                f"({min(fracs.values()):.1%} to {max(fracs.values()):.1%}): a model could learn "
                "the masking; compare with soft_mask='n' (--soft-mask n), see what the mask alone "
                "gives a token model (--soft-mask keep), or check the source"
            )
    else:
        notes.append("no lower-case (soft-masked) bases")
    total_n = sum(st["n"] + st["iupac"] for st in stats.values())
    if total_n:
        parts = ", ".join(
            f"{what} {g}: {st['seqs_with_n']} sequences, {st['n']} N, {st['iupac']} other IUPAC"
            for g, st in stats.items()
        )
        notes.append(f"N / IUPAC ambiguity codes (read as N): {parts}")
    else:
        notes.append("no N or IUPAC ambiguity codes")
    return notes


@dataclass
class _Records:
    """Sequences read from a text file, with the 1-based line of each record and a way back
    from a record to the exact line of a bad character."""

    path: Path
    ids: list[str]
    seqs: list[str]
    lines: np.ndarray  # line of the record (FASTA header / table row)
    parts: list[str] | None = None  # FASTA: the record's sequence lines as one "\n"-joined text

    def masked(self, soft_mask: SoftMask, width: int) -> np.ndarray | None:
        """``soft_mask="keep"``: where the records are lower-case (``bool [n, width]``); else None."""
        return lower_case_mask(self.seqs, width) if soft_mask == "keep" else None

    def encode(
        self, soft_mask: SoftMask, ambiguous: Ambiguous, length: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Encode all records; an error names the file and the line of the bad record/character."""
        try:
            return encode(
                self.seqs, source=str(self.path), soft_mask=soft_mask, ambiguous=ambiguous, length=length
            )
        except DataError as e:
            if e.row is None:
                raise
            r = e.row
            line = int(self.lines[r])
            if self.parts is not None and e.problem != "empty sequence" and "longer than" not in e.problem:
                for offset, text in enumerate(self.parts[r].split("\n")):
                    if not text:
                        continue
                    try:
                        encode([text], soft_mask=soft_mask, ambiguous=ambiguous)
                    except DataError as e2:
                        raise _line_error(self.path, e2.problem, line + 1 + offset) from None
            problem = e.problem
            if self.parts is not None and problem == "empty sequence":
                problem = f"empty sequence (record {self.ids[r]!r} has no sequence lines)"
            raise _line_error(self.path, problem, line) from None


# ----------------------------------------------------------------------------- FASTA


def read_fasta(path: PathLike) -> tuple[list[str], list[str], list[int]]:
    """Read a FASTA file (``.gz`` = gzip): ``(headers, sequences, header line numbers)``.

    Headers are the text after ``>``; sequences join a record's lines. A sequence line before
    the first header, or a file without records, is a :class:`DataError` with the line number.
    Characters are not checked here (the loaders' encoding does that, naming the line).
    """
    rec = _parse_fasta(Path(path))
    return rec.ids, rec.seqs, rec.lines.tolist()


def _parse_fasta(path: Path) -> _Records:
    text = _read_text(path)
    if text.startswith(">"):
        prefix, body = "", text[1:]
    else:
        cut = text.find("\n>")
        prefix, body = (text, "") if cut < 0 else (text[: cut + 1], text[cut + 2 :])
    for i, text_line in enumerate(prefix.split("\n")):
        if text_line.strip():
            raise _line_error(path, "sequence line before the first header ('>')", i + 1)
    if not body and not text.startswith(">"):
        raise DataError(str(path), "no FASTA records (no line starts with '>')")
    line = prefix.count("\n") + 1
    headers: list[str] = []
    seqs: list[str] = []
    parts: list[str] = []
    lines: list[int] = []
    for chunk in body.split("\n>"):
        header, _, seqpart = chunk.partition("\n")
        headers.append(header.strip())
        parts.append(seqpart)
        seqs.append(seqpart.replace("\n", ""))
        lines.append(line)
        line += chunk.count("\n") + 1
    return _Records(path, headers, seqs, np.asarray(lines, dtype=np.int64), parts)


def _fasta_ids(headers: Sequence[str]) -> list[str]:
    return [h.split(maxsplit=1)[0] if h.strip() else "" for h in headers]


def _records_to_split(
    recs: Sequence[_Records],
    ys: Sequence[np.ndarray],
    soft_mask: SoftMask,
    ambiguous: Ambiguous,
) -> Split:
    """Several record sets (one per class file) → one split, padded to a common width."""
    codes_list, lengths_list = [], []
    for rec in recs:
        c, n = rec.encode(soft_mask, ambiguous)
        codes_list.append(c)
        lengths_list.append(n)
    width = max((c.shape[1] for c in codes_list), default=0)
    codes = np.full((sum(len(c) for c in codes_list), width), N_CODE, dtype=np.uint8)
    row = 0
    for c in codes_list:
        codes[row : row + len(c), : c.shape[1]] = c
        row += len(c)
    ids = [i for rec in recs for i in _fasta_ids(rec.ids)]
    masks = [m for rec in recs if (m := rec.masked(soft_mask, width)) is not None]
    masked = np.concatenate(masks) if masks else None
    return Split(
        codes, np.concatenate(ys) if ys else np.zeros(0, np.int64), np.concatenate(lengths_list), ids, masked
    )


def _pad_splits(splits: dict[str, Split]) -> dict[str, Split]:
    """Pad every split to the widest one (N at the end), so the splits share one width."""
    width = max(sp.width for sp in splits.values())
    out = {}
    for name, sp in splits.items():
        if sp.width < width:
            codes = np.full((len(sp), width), N_CODE, dtype=np.uint8)
            codes[:, : sp.width] = sp.codes
            masked = None
            if sp.masked is not None:
                masked = np.zeros((len(sp), width), dtype=bool)
                masked[:, : sp.width] = sp.masked
            sp = Split(codes, sp.y, sp.lengths, sp.ids, masked)
        out[name] = sp
    return out


def _class_files(files: Mapping[str, PathLike] | Sequence[PathLike]) -> dict[str, Path]:
    if isinstance(files, Mapping):
        return {str(k): Path(v) for k, v in files.items()}
    out: dict[str, Path] = {}
    for f in files:
        p = Path(f)
        if file_stem(p) in out:
            raise DataError(
                str(p), f"two files give the class {file_stem(p)!r} ({out[file_stem(p)]} and {p})"
            )
        out[file_stem(p)] = p
    return out


def load_fasta_classes(
    files: Mapping[str, PathLike] | Sequence[PathLike],
    *,
    name: str | None = None,
    test_every: int = 5,
    valid: bool = False,
    soft_mask: SoftMask = "upper",
    ambiguous: Ambiguous = "n",
) -> DnaDataset:
    """One FASTA file per class → a classification set split by :func:`index_split`.

    ``files`` maps class name → path (``{"pos": "pos.fa", "neg": "neg.fa.gz"}``) or lists
    paths (class = file stem). Classes are sorted by name (``y`` = index). The split is applied
    within each class file, so every split keeps the class balance.
    """
    t0 = time.perf_counter()
    by_class = _class_files(files)
    if len(by_class) < 2:
        raise DataError(
            ", ".join(map(str, by_class.values())) or "<no files>", "need at least two class files"
        )
    classes = sorted(by_class)
    recs = {c: _parse_fasta(by_class[c]) for c in classes}
    parts: dict[str, tuple[list[_Records], list[np.ndarray]]] = {s: ([], []) for s in SPLITS}
    for ci, c in enumerate(classes):
        rec = recs[c]
        for s, idx in index_split(len(rec.seqs), test_every, valid).items():
            parts[s][0].append(_subset_records(rec, idx))
            parts[s][1].append(np.full(len(idx), ci, dtype=np.int64))
    splits = {s: _records_to_split(r, y, soft_mask, ambiguous) for s, (r, y) in parts.items() if r}
    meta: dict[str, object] = {"files": {c: str(p) for c, p in by_class.items()}}
    notes = [
        f"split: row i of each class file with i % {test_every} == {test_every - 1} → test"
        + (f", == {test_every - 2} → valid" if valid else "")
    ]
    notes += _composition_notes({c: recs[c].seqs for c in classes}, "class", soft_mask, meta)
    meta["load_seconds"] = time.perf_counter() - t0
    return DnaDataset(
        name or "+".join(classes),
        "classification",
        _pad_splits(splits),
        classes,
        source=", ".join(str(p) for p in by_class.values()),
        notes=notes,
        meta=meta,
    )


def _subset_records(rec: _Records, idx: np.ndarray) -> _Records:
    parts = [rec.parts[i] for i in idx] if rec.parts is not None else None
    return _Records(rec.path, [rec.ids[i] for i in idx], [rec.seqs[i] for i in idx], rec.lines[idx], parts)


def load_fasta_labelled(
    path: PathLike,
    *,
    label_pattern: str | re.Pattern[str] = HEADER_LABEL_PATTERN,
    task: Task | None = None,
    name: str | None = None,
    test_every: int = 5,
    valid: bool = False,
    soft_mask: SoftMask = "upper",
    ambiguous: Ambiguous = "n",
) -> DnaDataset:
    """A FASTA file whose headers carry the label → a dataset split by :func:`index_split`.

    ``label_pattern`` is searched in each header (text after ``>``); the label is the first
    group that matched (the default, :data:`HEADER_LABEL_PATTERN`, reads ``>id label=1`` and
    ``>id|1``). A header without a label is an error naming its line. Numeric labels follow
    the module's classification/regression rule; other strings are class names.
    """
    t0 = time.perf_counter()
    p = Path(path)
    rec = _parse_fasta(p)
    pattern = re.compile(label_pattern) if isinstance(label_pattern, str) else label_pattern
    labels: list[str] = []
    for header, line in zip(rec.ids, rec.lines, strict=True):
        m = pattern.search(header)
        found = [g for g in m.groups() if g is not None] if m else []
        value = found[0] if found else (m.group(0) if m and not m.groups() else "")
        if not value:
            raise _line_error(
                p, f"no label in the header {header!r} (pattern {pattern.pattern!r})", int(line)
            )
        labels.append(value)
    y, classes, task = _parse_labels(labels, rec.lines, p, task)
    rec.encode(soft_mask, ambiguous)  # errors first, with lines
    parts = index_split(len(rec.seqs), test_every, valid)
    splits = {
        s: _records_to_split([_subset_records(rec, idx)], [y[idx]], soft_mask, ambiguous)
        for s, idx in parts.items()
    }
    meta: dict[str, object] = {"file": str(p)}
    notes = [f"labels from headers (pattern {pattern.pattern!r})"]
    notes.append(
        f"split: row i with i % {test_every} == {test_every - 1} → test"
        + (f", == {test_every - 2} → valid" if valid else "")
    )
    notes += _group_notes(rec.seqs, y, classes, task, parts, soft_mask, meta)
    meta["load_seconds"] = time.perf_counter() - t0
    return DnaDataset(name or file_stem(p), task, _pad_splits(splits), classes, str(p), notes, meta)


def _parse_labels(
    labels: Sequence[str], lines: np.ndarray, path: Path, task: Task | None
) -> tuple[np.ndarray, list[str] | None, Task]:
    """Label strings → (y, classes, task). Numbers follow the classification/regression rule;
    strings are class names (an error when ``task="regression"``, naming the line)."""
    try:
        values = np.asarray(labels, dtype=np.float64)
    except ValueError:
        values = None
    if values is None:
        if task == "regression":
            bad = _first_non_numeric(labels)
            raise _line_error(path, f"non-numeric label {labels[bad]!r}", int(lines[bad]))
        y_str, names = _string_labels_to_y(labels, str(path))
        return y_str, names, "classification"
    bad_finite = np.flatnonzero(~np.isfinite(values))
    if bad_finite.size:
        i = int(bad_finite[0])
        raise _line_error(path, f"label {labels[i]!r} is not a finite number", int(lines[i]))
    t, y, classes = _labels_to_y(values, task, str(path))
    return y, classes, t


def _first_non_numeric(values: Sequence[str]) -> int:
    for i, v in enumerate(values):
        try:
            float(v)
        except ValueError:
            return i
    return -1


def load_fasta_dir(
    path: PathLike,
    *,
    name: str | None = None,
    soft_mask: SoftMask = "upper",
    ambiguous: Ambiguous = "n",
    split_fraction: float | None = None,
) -> DnaDataset:
    """A folder ``DIR/{train,valid,test}/<class>.fa[.gz]`` → a classification set.

    ``valid`` is optional; the class (file stem) sets must be the same in every split. Without
    ``test/``, ``split_fraction`` moves that share of each class of train to test
    (:func:`carve_test`).
    """
    t0 = time.perf_counter()
    root = Path(path)
    per_split: dict[str, dict[str, Path]] = {}
    for s in SPLITS:
        d = root / s
        if not d.is_dir():
            if s == "valid" or (s == "test" and split_fraction is not None):
                continue
            if s == "test":
                raise DataError(str(root), NO_TEST_SPLIT)
            raise DataError(
                str(root), f"no {s}/ subfolder (expected {'/'.join(SPLITS)} with <class>.fa files)"
            )
        files = sorted(f for f in d.iterdir() if f.is_file() and _suffixes(f)[0] in FASTA_SUFFIXES)
        if not files:
            raise DataError(str(d), f"no FASTA files ({', '.join(FASTA_SUFFIXES)}, optionally .gz)")
        per_split[s] = _class_files(files)
    class_sets = {s: sorted(f) for s, f in per_split.items()}
    first = class_sets["train"]
    for s, cs in class_sets.items():
        if cs != first:
            raise DataError(str(root), f"class files differ between splits: train {first}, {s} {cs}")
    classes = first
    if len(classes) < 2:
        raise DataError(str(root), f"need at least two classes, found {classes}")
    recs = {s: {c: _parse_fasta(per_split[s][c]) for c in classes} for s in per_split}
    splits = {
        s: _records_to_split(
            [recs[s][c] for c in classes],
            [np.full(len(recs[s][c].seqs), k, dtype=np.int64) for k, c in enumerate(classes)],
            soft_mask,
            ambiguous,
        )
        for s in per_split
    }
    meta: dict[str, object] = {}
    notes = _composition_notes(
        {c: [x for s in recs for x in recs[s][c].seqs] for c in classes}, "class", soft_mask, meta
    )
    if split_fraction is not None:
        notes.insert(0, carve_test(splits, split_fraction, "classification"))
    meta["load_seconds"] = time.perf_counter() - t0
    return DnaDataset(
        name or root.name, "classification", _pad_splits(splits), classes, str(root), notes, meta
    )


# ----------------------------------------------------------------------------- tables


_SEQ_NAMES = ("seq", "sequence", "sequences", "dna")
_LABEL_NAMES = (
    "label",
    "labels",
    "y",
    "target",
    "class",
    "expression",
    "mean_value",
    "activity",
    "value",
    "score",
)
_ID_NAMES = ("seq_id", "id", "name", "seqname")
_DNA_RE = re.compile(r"^[ACGTNRYSWKMBDHVacgtnryswkmbdhv]{10,}$")


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _delimiter(path: Path, first_line: str) -> str:
    suffix, _ = _suffixes(path)
    if suffix == ".tsv":
        return "\t"
    if suffix == ".csv":
        return ","
    if "\t" in first_line:
        return "\t"
    if "," in first_line:
        return ","
    return " "


def _pick_column(
    col: str | int | None,
    header: list[str] | None,
    ncols: int,
    defaults: Sequence[str],
    what: str,
    path: Path,
) -> int | None:
    """Resolve a column given by name or 0-based index (None → the first default name)."""
    if isinstance(col, int) and not isinstance(col, bool):
        if not -ncols <= col < ncols:
            raise DataError(str(path), f"{what} column index {col} is out of range ({ncols} columns)")
        return col % ncols
    if header is None:
        if isinstance(col, str):
            raise DataError(
                str(path), f"{what} column {col!r} given by name, but the file has no header line"
            )
        return None
    lower = [h.strip().lower() for h in header]
    names = [col] if isinstance(col, str) else list(defaults)
    for nm in names:
        if nm.lower() in lower:
            return lower.index(nm.lower())
    if isinstance(col, str):
        flag = " (--label-col NAME)" if what == "label" else ""
        raise DataError(str(path), f"no {what} column {col!r}; columns present: {header}{flag}")
    return None


def _read_table(
    path: Path,
    *,
    seq_col: str | int | None,
    label_col: str | int | Sequence[str | int] | None,
    id_col: str | int | None,
    header: bool | None,
    delimiter: str | None,
) -> tuple[_Records, list[str], dict[str, object]]:
    """Parse a table: (records, label strings, info about columns/header/delimiter). Several
    label columns (a list) are joined into one string per row with tabs and named in
    ``info["label_col"]`` as a list: :func:`_multi_targets` reads them back as numbers."""
    text = _read_text(path)
    lines = text.split("\n")
    first = next((ln for ln in lines if ln.strip()), None)
    if first is None:
        raise DataError(str(path), "empty file")
    delim = delimiter or _delimiter(path, first)
    reader = csv.reader(lines, delimiter=delim, skipinitialspace=delim == " ")
    rows: list[list[str]] = []
    line_nos: list[int] = []
    for row in reader:
        if not row or all(not c.strip() for c in row):
            continue
        rows.append(row)
        line_nos.append(reader.line_num)
    head = rows[0]
    if header is None:
        header = not any(_is_number(c) or _DNA_RE.match(c.strip()) for c in head)
    names = [c.strip() for c in head] if header else None
    if header:
        rows, line_nos = rows[1:], line_nos[1:]
    ncols = len(head)
    si = _pick_column(seq_col, names, ncols, _SEQ_NAMES, "sequence", path)
    if si is None:
        sample = rows[0] if rows else head
        si = next((j for j, c in enumerate(sample) if _DNA_RE.match(c.strip())), None)
        if si is None:
            raise DataError(
                str(path), f"cannot find the sequence column; give seq_col= (columns: {names or ncols})"
            )
    multi = isinstance(label_col, (list, tuple))
    one = cast(str | int | None, label_col)
    wanted: list[str | int | None] = list(label_col) if isinstance(label_col, (list, tuple)) else [one]
    lis: list[int] = []
    for col in wanted:
        li = _pick_column(col, names, ncols, _LABEL_NAMES, "label", path)
        if li is None:
            others = [
                j for j in range(ncols) if j != si and (names is None or names[j].lower() not in _ID_NAMES)
            ]
            if len(others) != 1:
                shown = names if names is not None else f"{ncols} columns, no header"
                raise DataError(
                    str(path),
                    f"no label column found (columns present: {shown}); name it with --label-col NAME "
                    "(repeat it for several targets; label_col= in Python)",
                )
            li = others[0]
        lis.append(li)
    ii = _pick_column(id_col, names, ncols, _ID_NAMES, "id", path)
    need = max(si, *lis, ii if ii is not None else 0)
    for row, ln in zip(rows, line_nos, strict=True):
        if len(row) <= need:
            raise _line_error(path, f"{len(row)} column(s), need at least {need + 1}", ln)
    seqs = [r[si].strip() for r in rows]
    labels = ["\t".join(r[li].strip() for li in lis) for r in rows]
    ids = [r[ii].strip() for r in rows] if ii is not None else [f"{file_stem(path)}:{ln}" for ln in line_nos]
    label_names = [names[li] if names else li for li in lis]
    info: dict[str, object] = {
        "delimiter": delim,
        "header": names,
        "seq_col": names[si] if names else si,
        "label_col": label_names if multi else label_names[0],
    }
    return _Records(path, ids, seqs, np.asarray(line_nos, dtype=np.int64)), labels, info


def load_table(
    path: PathLike,
    *,
    seq_col: str | int | None = None,
    label_col: str | int | Sequence[str | int] | None = None,
    id_col: str | int | None = None,
    header: bool | None = None,
    delimiter: str | None = None,
    task: Task | None = None,
    name: str | None = None,
    test_every: int = 5,
    valid: bool = False,
    soft_mask: SoftMask = "upper",
    ambiguous: Ambiguous = "n",
) -> DnaDataset:
    """One TSV/CSV file with no split of its own → a dataset split by :func:`index_split`.

    Delimiter: ``.tsv`` tab, ``.csv`` comma, else sniffed from the first line (tab, comma, else
    whitespace). ``header=None`` detects a header line: the first row is a header when none of
    its fields is a number or a DNA string. Columns are chosen by name (with a header) or
    0-based index; by default the sequence column is named ``seq``/``sequence`` (or is the
    first field that looks like DNA), the label column is named ``label``/``y``/``expression``/
    ``mean_value``/… or is the only other non-id column. Labels must be numbers (a
    non-numeric label is an error naming the line) unless ``task="classification"``. A list of
    label columns (``label_col=["Dev", "Hk"]``, ``--label-col`` repeated) makes a multi-target
    regression: ``y`` is ``[n, targets]`` and ``targets`` names them.
    """
    t0 = time.perf_counter()
    p = Path(path)
    rec, labels, info = _read_table(
        p, seq_col=seq_col, label_col=label_col, id_col=id_col, header=header, delimiter=delimiter
    )
    targets = _target_names(info)
    if targets is not None:
        y, classes, t = _multi_targets(labels, rec.lines, p, task), None, cast(Task, "regression")
    else:
        y, classes, t = _table_labels(labels, rec, p, task)
    rec.encode(soft_mask, ambiguous)
    parts = index_split(len(rec.seqs), test_every, valid)
    splits = {
        s: _table_split(_subset_records(rec, idx), y[idx], soft_mask, ambiguous) for s, idx in parts.items()
    }
    meta: dict[str, object] = {"file": str(p), "columns": info}
    notes = [
        f"split: 0-based data row i with i % {test_every} == {test_every - 1} → test"
        + (f", == {test_every - 2} → valid" if valid else "")
        + " (no split in the file)"
    ]
    notes.append(
        f"read {info['seq_col']!r} as sequence and {info['label_col']!r} as label"
        f"{' (no header line)' if info['header'] is None else ''}"
    )
    notes += _group_notes(rec.seqs, y, classes, t, parts, soft_mask, meta)
    meta["load_seconds"] = time.perf_counter() - t0
    return DnaDataset(name or file_stem(p), t, _pad_splits(splits), classes, str(p), notes, meta, targets)


def _target_names(info: Mapping[str, object]) -> list[str] | None:
    """The targets' names when several label columns were read, else None."""
    cols = info["label_col"]
    return [str(c) for c in cols] if isinstance(cols, list) else None


def _multi_targets(labels: Sequence[str], lines: np.ndarray, path: Path, task: Task | None) -> np.ndarray:
    """Tab-joined label fields (:func:`_read_table` with several label columns) → ``float32
    [n, targets]``; every field must be a finite number (the error names the line)."""
    if task == "classification":
        raise DataError(str(path), "several label columns make a regression task, not classification")
    rows = [s.split("\t") for s in labels]
    try:
        y = np.asarray(rows, dtype=np.float64)
    except ValueError:
        i = next(i for i, r in enumerate(rows) if any(_first_non_numeric([v]) == 0 for v in r))
        raise _line_error(path, f"non-numeric label in {rows[i]}", int(lines[i])) from None
    bad = np.flatnonzero(~np.isfinite(y).all(axis=1))
    if bad.size:
        raise _line_error(path, f"label {rows[int(bad[0])]} is not finite", int(lines[int(bad[0])]))
    return y.astype(np.float32)


def _table_labels(
    labels: list[str], rec: _Records, path: Path, task: Task | None
) -> tuple[np.ndarray, list[str] | None, Task]:
    if task == "classification":
        return _parse_labels(labels, rec.lines, path, task)
    try:
        values = np.asarray(labels, dtype=np.float64)
    except ValueError:
        bad = _first_non_numeric(labels)
        raise _line_error(
            path,
            f"non-numeric label {labels[bad]!r} (pass task='classification' for class names)",
            int(rec.lines[bad]),
        ) from None
    del values
    return _parse_labels(labels, rec.lines, path, task)


def _table_split(rec: _Records, y: np.ndarray, soft_mask: SoftMask, ambiguous: Ambiguous) -> Split:
    codes, lengths = rec.encode(soft_mask, ambiguous)
    return Split(codes, y, lengths, rec.ids, rec.masked(soft_mask, codes.shape[1]))


def _group_notes(
    seqs: Sequence[str],
    y: np.ndarray,
    classes: list[str] | None,
    task: Task,
    parts: Mapping[str, np.ndarray],
    soft_mask: SoftMask,
    meta: dict[str, object],
) -> list[str]:
    """Composition notes by class (classification) or by split (regression)."""
    if task == "classification" and classes:
        groups = {c: [s for s, yi in zip(seqs, y, strict=True) if yi == k] for k, c in enumerate(classes)}
        return _composition_notes(groups, "class", soft_mask, meta)
    return _composition_notes(
        {s: [seqs[i] for i in idx] for s, idx in parts.items()}, "split", soft_mask, meta
    )


def _split_files(root: Path) -> dict[str, Path]:
    """Tables in ``root`` named per split: ``train.tsv``, ``sample_valid.txt``, ``x-test.csv``…"""
    aliases = {"train": "train", "valid": "valid", "val": "valid", "validation": "valid", "test": "test"}
    found: dict[str, Path] = {}
    for f in sorted(root.iterdir()):
        if not f.is_file() or _suffixes(f)[0] not in TABLE_SUFFIXES:
            continue
        stem = file_stem(f).lower()
        tail = re.split(r"[_\-.]", stem)[-1]
        split = aliases.get(tail)
        if split is None:
            continue
        if split in found:
            raise DataError(str(root), f"two files for the {split} split: {found[split].name}, {f.name}")
        found[split] = f
    return found


def load_table_splits(
    files: PathLike | Mapping[str, PathLike],
    *,
    seq_col: str | int | None = None,
    label_col: str | int | Sequence[str | int] | None = None,
    id_col: str | int | None = None,
    header: bool | None = None,
    delimiter: str | None = None,
    task: Task | None = None,
    name: str | None = None,
    soft_mask: SoftMask = "upper",
    ambiguous: Ambiguous = "n",
    split_fraction: float | None = None,
) -> DnaDataset:
    """One table per split → a dataset. ``files`` maps split → path, or is a folder holding
    files whose stem ends in ``train``/``valid`` (or ``val``)/``test`` after ``_``, ``-`` or
    ``.`` (lentiMPRA: ``sample_train.txt``, ``sample_valid.txt``, ``sample_test.txt``).
    Column options are those of :func:`load_table`; the task is decided on all splits together.
    Without a test table, ``split_fraction`` moves that share of train to test (:func:`carve_test`).
    """
    t0 = time.perf_counter()
    if isinstance(files, Mapping):
        paths = {str(k): Path(v) for k, v in files.items()}
        root = None
    else:
        root = Path(files)
        if not root.is_dir():
            raise DataError(str(root), "not a folder of per-split tables")
        paths = _split_files(root)
    where = str(root) if root is not None else ", ".join(map(str, paths.values()))
    if "train" not in paths:
        raise DataError(where, f"no table for the train split (found {sorted(paths)})")
    if "test" not in paths and split_fraction is None:
        raise DataError(where, f"{NO_TEST_SPLIT} (found {sorted(paths)})")
    order = [s for s in SPLITS if s in paths]
    recs: dict[str, _Records] = {}
    labels: dict[str, list[str]] = {}
    info: dict[str, object] = {}
    for s in order:
        recs[s], labels[s], info = _read_table(
            paths[s], seq_col=seq_col, label_col=label_col, id_col=id_col, header=header, delimiter=delimiter
        )
    # decide the task and classes on all rows, then cut back per split
    all_labels = [v for s in order for v in labels[s]]
    all_lines = np.concatenate([recs[s].lines for s in order])
    targets = _target_names(info)
    if targets is not None:
        y_all = np.concatenate([_multi_targets(labels[s], recs[s].lines, paths[s], task) for s in order])
        classes, t = None, cast(Task, "regression")
    else:
        for s in order:
            _table_labels(
                labels[s], recs[s], paths[s], "classification" if task == "classification" else None
            )
        y_all, classes, t = _parse_labels(all_labels, all_lines, paths[order[0]], task)
    splits: dict[str, Split] = {}
    start = 0
    bounds: dict[str, np.ndarray] = {}
    for s in order:
        n = len(recs[s].seqs)
        splits[s] = _table_split(recs[s], y_all[start : start + n], soft_mask, ambiguous)
        bounds[s] = np.arange(start, start + n)
        start += n
    meta: dict[str, object] = {"files": {s: str(p) for s, p in paths.items()}, "columns": info}
    notes = [f"splits from files: {', '.join(f'{s} {paths[s].name}' for s in order)}"]
    all_seqs = [x for s in order for x in recs[s].seqs]
    notes += _group_notes(all_seqs, y_all, classes, t, bounds, soft_mask, meta)
    if split_fraction is not None:
        notes.insert(1, carve_test(splits, split_fraction, t))
    meta["load_seconds"] = time.perf_counter() - t0
    src = str(root) if root is not None else ", ".join(str(p) for p in paths.values())
    nm = name or (root.name if root is not None else file_stem(paths["train"]))
    return DnaDataset(nm, t, _pad_splits(splits), classes, src, notes, meta, targets)


# ----------------------------------------------------------------------------- HDF5


def _hdf5_codes(x: object, path: Path, key: str, chunk: int = 4096) -> tuple[np.ndarray, str, int]:
    """One-hot ``X`` (an h5py dataset or array) → (codes ``[n, L]``, layout, N columns).

    Vectorised per chunk of rows: argmax over the channel axis; an all-zero column (or a 0.25
    column, another common way to write N) → N; any other non-one-hot column is an error."""
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) != 3 or 4 not in shape[1:]:
        raise DataError(
            f"{path}:{key}", f"expected a one-hot array (N, 4, L) or (N, L, 4), got shape {shape}"
        )
    axis = 1 if shape[1] == 4 else 2
    layout = "(N, 4, L) channels-first" if axis == 1 else "(N, L, 4) channels-last"
    if shape[1] == 4 and shape[2] == 4:
        layout += " (ambiguous: L = 4; read as channels-first)"
    n, length = shape[0], shape[2] if axis == 1 else shape[1]
    codes = np.empty((n, length), dtype=np.uint8)
    n_missing = 0
    for start in range(0, n, chunk):
        block = np.asarray(x[start : start + chunk], dtype=np.float32)  # type: ignore[index]
        if axis == 2:
            block = block.transpose(0, 2, 1)
        total = block.sum(axis=1)
        binary = np.all((block == 0) | (block == 1), axis=1)
        zero = total == 0
        quarter = np.all(block == 0.25, axis=1)
        ok = (binary & ((total == 1) | zero)) | quarter
        if not ok.all():
            r, c = np.argwhere(~ok)[0]
            vals = [float(v) for v in block[r, :, c]]
            raise DataError(
                f"{path}:{key}",
                f"position {int(c)} is not one-hot (channel values A,C,G,T = {vals}, sum {sum(vals):g})",
                start + int(r),
            )
        out = block.argmax(axis=1).astype(np.uint8)
        missing = zero | quarter
        out[missing] = N_CODE
        n_missing += int(missing.sum())
        codes[start : start + len(block)] = out
    return codes, layout, n_missing


def load_hdf5(path: PathLike, *, task: Task | None = None, name: str | None = None) -> DnaDataset:
    """A one-hot HDF5 file (the Koo lab's layout) → a dataset.

    Keys ``X_train``/``Y_train`` and ``X_test``/``Y_test`` are required, ``X_valid``/``Y_valid``
    optional. ``Y`` is ``(N,)`` or ``(N, 1)``; the task follows the module's label rule on all
    splits together (``task=`` forces it). Missing keys → an error listing the keys present.
    """
    import h5py

    t0 = time.perf_counter()
    p = Path(path)
    if not p.is_file():
        raise DataError(str(p), "no such file")
    try:
        f = h5py.File(p, "r")
    except OSError as e:
        raise DataError(str(p), f"not a readable HDF5 file ({e})") from None
    with f:
        keys = sorted(f.keys())
        need = [k for s in ("train", "test") for k in (f"X_{s}", f"Y_{s}")]
        missing = [k for k in need if k not in f]
        if "X_valid" in f and "Y_valid" not in f:
            missing.append("Y_valid")
        if missing:
            raise DataError(
                str(p),
                f"missing key(s) {missing}; keys present: {keys} (expected X_train/Y_train, "
                "X_test/Y_test, optional X_valid/Y_valid)",
            )
        order = [s for s in SPLITS if f"X_{s}" in f]
        codes: dict[str, np.ndarray] = {}
        ys: dict[str, np.ndarray] = {}
        layouts: set[str] = set()
        n_missing: dict[str, int] = {}
        for s in order:
            codes[s], layout, n_missing[s] = _hdf5_codes(f[f"X_{s}"], p, f"X_{s}")
            layouts.add(layout)
            yr = np.asarray(f[f"Y_{s}"][()])
            if yr.ndim == 2 and yr.shape[1] == 1:
                yr = yr[:, 0]
            if yr.ndim != 1:
                raise DataError(
                    f"{p}:Y_{s}",
                    f"expected labels of shape (N,) or (N, 1), got {yr.shape} "
                    "(multi-output labels are not supported)",
                )
            if len(yr) != len(codes[s]):
                raise DataError(f"{p}:Y_{s}", f"{len(yr)} labels for {len(codes[s])} sequences in X_{s}")
            ys[s] = yr
    widths = {c.shape[1] for c in codes.values()}
    if len(widths) > 1:
        raise DataError(str(p), f"the splits have different lengths {sorted(widths)}")
    y_all = np.concatenate([ys[s] for s in order]).astype(np.float64)
    t, y_enc, classes = _labels_to_y(y_all, task, str(p))
    splits: dict[str, Split] = {}
    start = 0
    for s in order:
        n = len(codes[s])
        lengths = np.full(n, codes[s].shape[1], dtype=np.int32)
        splits[s] = Split(codes[s], y_enc[start : start + n], lengths, None)
        start += n
    notes = [f"one-hot layout {', '.join(sorted(layouts))}, channels A,C,G,T assumed"]
    total_missing = sum(n_missing.values())
    notes.append(
        "N (all-zero or 0.25 columns): " + ", ".join(f"{s} {n_missing[s]}" for s in order)
        if total_missing
        else "no N (every column is one-hot)"
    )
    meta: dict[str, object] = {
        "n_positions": n_missing,
        "layout": sorted(layouts),
        "load_seconds": time.perf_counter() - t0,
    }
    return DnaDataset(name or file_stem(p), t, splits, classes, str(p), notes, meta)


# ----------------------------------------------------------------------------- dispatch


def _looks_like_fasta_dir(p: Path) -> bool:
    """A split folder: ``train/`` (``test/`` may be missing: :func:`load_fasta_dir` says so)."""
    return (p / "train").is_dir()


def _loader(p: Path) -> Callable[..., DnaDataset]:
    """The loader for an existing file or folder (a :class:`DataError` for anything else)."""
    if p.is_dir():
        if _looks_like_fasta_dir(p):
            return load_fasta_dir
        if "train" in _split_files(p):
            return load_table_splits
        subdirs = sorted(d.name for d in p.iterdir() if d.is_dir())
        if {"valid", "test"} & set(subdirs):
            raise DataError(str(p), f"no train/ subfolder (found {', '.join(subdirs)}/)")
        raise DataError(str(p), f"a folder in no supported layout (supported: {_SUPPORTED})")
    suffix, _ = _suffixes(p)
    if suffix in HDF5_SUFFIXES:
        return load_hdf5
    if suffix in FASTA_SUFFIXES:
        return load_fasta_labelled
    if suffix in TABLE_SUFFIXES:
        return load_table
    raise DataError(str(p), f"unknown file type {suffix or '(no suffix)'!r} (supported: {_SUPPORTED})")


def resolve(spec: PathLike, data_dir: PathLike | None = None) -> Path:
    """Where a dataset given as a catalogue name or a path lives, checked without loading it:
    a catalogue name (``irf1``, ``zbed2``, ``lentimpra``, ``yeast``) that is not an existing path
    → its file under the data folder; else an existing file or folder in a supported format.
    Anything else is a :class:`DataError` naming the catalogue and the supported formats."""
    p = Path(spec)
    if not p.exists() and str(spec).lower() in CATALOGUE:
        return catalogue_path(str(spec).lower(), data_dir)
    if not p.exists():
        raise DataError(
            str(p),
            f"no such file or folder, and not a shared set name ({', '.join(sorted(CATALOGUE))}); "
            f"supported: {_SUPPORTED}",
        )
    _loader(p)
    return p


def load(path: PathLike, *, data_dir: PathLike | None = None, **options: object) -> DnaDataset:
    """Load a labelled DNA set from whatever ``path`` is, passing ``options`` to the loader:

    - ``.h5``/``.hdf5`` → :func:`load_hdf5`
    - ``.fa``/``.fasta``/``.fna`` (optionally ``.gz``) → :func:`load_fasta_labelled`
    - ``.tsv``/``.csv``/``.txt`` (optionally ``.gz``) → :func:`load_table`
    - a folder with ``train/`` and ``test/`` subfolders → :func:`load_fasta_dir`
    - a folder with per-split tables (``*_train.txt`` …) → :func:`load_table_splits`
    - a catalogue name (``irf1``, ``zbed2``, ``lentimpra``, ``yeast``) that is not an existing
      path → :func:`load_named`, looked up in ``data_dir`` (see :func:`resolve_data_dir`;
      ``data_dir`` is ignored for a real path)

    Anything else is a :class:`DataError` listing the supported formats.
    """
    p = Path(path)
    key = str(path).lower()
    named = not p.exists() and key in CATALOGUE
    loader = _loader(catalogue_path(key, data_dir) if named else resolve(p))
    # options only some formats take: refused with the flag's name before anything is read
    if options.get("split_fraction") is not None and (
        named or loader not in (load_fasta_dir, load_table_splits)
    ):
        what = "a shared set has its splits" if named else "applies to a split folder without a test split"
        raise DataError(str(p), f"split_fraction (--split-fraction): {what}")
    if options.get("soft_mask") is not None and loader is load_hdf5:
        raise DataError(str(p), "soft_mask (--soft-mask): one-hot HDF5 has no lower-case bases to treat")
    if options.get("label_col") is not None and loader not in (load_table, load_table_splits):
        raise DataError(str(p), "label_col (--label-col) names columns of a TSV/CSV table")
    if named:
        return load_named(key, data_dir, **options)
    return loader(p, **options)


def resolve_data_dir(data_dir: PathLike | None = None) -> Path:
    """The folder holding the shared sets: ``data_dir`` if given, else ``$ARCHLAB_DNA_DIR``, else
    the copy shipped inside the package (``archlab/shipped/dna``, with its README and
    ``SHA256SUMS``)."""
    if data_dir is not None:
        p = Path(data_dir)
        if not p.is_dir():
            raise DataError(str(p), "the data folder given (data_dir / --data-dir) does not exist")
        return p
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        p = Path(env)
        if not p.is_dir():
            raise DataError(str(p), f"${DATA_DIR_ENV} names a folder that does not exist")
        return p
    from archlab.shipped import shipped_dir

    return shipped_dir("dna")


#: files already checked against their folder's SHA256SUMS in this process (path, size, mtime)
_VERIFIED: set[tuple[Path, int, int]] = set()


def verify_checksums(root: Path, target: Path) -> None:
    """Check the files of one set (``target``: a file or a folder under ``root``) against
    ``root/SHA256SUMS`` when the folder has one (the shipped copy does); a mismatch is a
    :class:`DataError` naming the file. Each file is hashed once per process (again if its size or
    modification time changes)."""
    sums = root / "SHA256SUMS"
    if not sums.is_file():
        return
    table = {}
    for line in sums.read_text().splitlines():
        digest, _, name = line.strip().partition("  ")
        if name:
            table[name] = digest
    files = [target] if target.is_file() else sorted(q for q in target.rglob("*") if q.is_file())
    for f in files:
        rel = f.relative_to(root).as_posix()
        st = f.stat()
        key = (f, st.st_size, st.st_mtime_ns)
        if rel not in table or key in _VERIFIED:
            continue
        h = hashlib.sha256()
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != table[rel]:
            raise DataError(
                str(f),
                f"its SHA-256 ({h.hexdigest()[:16]}…) differs from {sums} ({table[rel][:16]}…): the file is "
                "damaged or was changed; restore it (or reinstall archlab for the shipped copy)",
            )
        _VERIFIED.add(key)


def catalogue_path(name: str, data_dir: PathLike | None = None) -> Path:
    """The file or folder of a shared set (``irf1``, ``zbed2``, ``lentimpra``, ``yeast``)."""
    key = name.lower()
    if key not in CATALOGUE:
        raise UnknownNameError("DNA dataset", name, CATALOGUE)
    root = resolve_data_dir(data_dir)
    p = root / CATALOGUE[key][0]
    if not p.exists():
        raise DataError(
            str(p),
            f"the {key} set is not there (looked in {root}); point archlab at a copy of the shared "
            f"DNA folder with --data-dir DIR or {DATA_DIR_ENV}=DIR (archlab never downloads data)",
        )
    verify_checksums(root, p)
    return p


def load_named(name: str, data_dir: PathLike | None = None, **options: object) -> DnaDataset:
    """Load a shared set by short name; ``options`` override the catalogue's loader options."""
    p = catalogue_path(name, data_dir)
    opts = {**CATALOGUE[name.lower()][1], "name": name.lower(), **options}
    return _loader(p)(p, **opts)
