"""DNA sequences as arrays: the alphabet, encoding, reverse complements, one-hot, datasets.

Every DNA task in archlab (synthetic grammar levels and real labelled sets) is a
:class:`DnaDataset`: named splits (``train``, optional ``valid``, ``test``) of integer-coded
sequences with one label each. The codes are ``A=0, C=1, G=2, T=3, N=4`` (``uint8``); sequences
of different lengths are padded at the end with ``N`` and carry their true ``lengths``. Models
read the codes as tokens (vocabulary 5); CNN baselines read :func:`one_hot` (``[n, 4, L]``,
channels A, C, G, T, an ``N`` all zeros, the layout of the Koo lab's HDF5 files).

Encoding rules (:func:`encode`), explicit because public sets differ in them:

- lower-case (soft-masked) bases are upper-cased by default (``soft_mask="upper"``): masking
  often differs between the classes of a public set, so a model could learn the case instead of
  the sequence. ``soft_mask="n"`` turns masked bases into ``N``; ``"error"`` refuses them;
  ``"keep"`` upper-cases them too but keeps where they were (:attr:`Split.masked`), so token
  models can read the mask: a masked base is token ``code + 5`` (vocabulary 10,
  :data:`MASKED_OFFSET`). Baselines and one-hot models read the upper-cased codes.
- ``N`` and the other IUPAC ambiguity codes (``R Y S W K M B D H V``) become ``N`` by default
  (``ambiguous="n"``); ``ambiguous="error"`` refuses them.
- anything else (digits, ``-``, ``.``, ``U``, spaces) is an error that names the source, the
  row and the character.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from archlab.errors import ArchlabError

__all__ = [
    "ALPHABET",
    "AMBIGUOUS",
    "N_CODE",
    "DataError",
    "DnaDataset",
    "Split",
    "decode",
    "encode",
    "gc_fraction",
    "lower_case_mask",
    "one_hot",
    "revcomp",
]

#: the four bases in code order (code 4 is N)
ALPHABET = "ACGT"
N_CODE = 4
#: IUPAC ambiguity codes (mapped to N unless ``ambiguous="error"``)
AMBIGUOUS = "NRYSWKMBDHV"

SoftMask = Literal["upper", "n", "error", "keep"]
#: ``soft_mask="keep"``: a soft-masked base is token ``code + MASKED_OFFSET`` for token models
MASKED_OFFSET = 5
Ambiguous = Literal["n", "error"]

_INVALID = 255


def _table(soft_mask: SoftMask, ambiguous: Ambiguous) -> np.ndarray:
    """byte → code lookup (255 = invalid) for the given policies."""
    t = np.full(256, _INVALID, dtype=np.uint8)
    for i, b in enumerate(ALPHABET):
        t[ord(b)] = i
    if ambiguous == "n":
        for b in AMBIGUOUS:
            t[ord(b)] = N_CODE
    else:
        t[ord("N")] = N_CODE  # N itself is always allowed: it is how gaps are written
    if soft_mask != "error":
        upper = t[ord("A") : ord("Z") + 1].copy()
        if soft_mask == "n":
            upper[upper != _INVALID] = N_CODE
        t[ord("a") : ord("z") + 1] = upper
    return t


class DataError(ArchlabError, ValueError):
    """A sequence file or array that cannot be read: names the source, the row and the problem."""

    def __init__(self, source: str, problem: str, row: int | None = None) -> None:
        self.source = source
        self.row = row
        self.problem = problem
        where = f"{source}, row {row}" if row is not None else source
        super().__init__(f"{where}: {problem}")


def encode(
    seqs: Sequence[str],
    *,
    source: str = "<sequences>",
    first_row: int = 0,
    soft_mask: SoftMask = "upper",
    ambiguous: Ambiguous = "n",
    length: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Strings → ``(codes uint8 [n, L], lengths int32 [n])``, padded at the end with ``N``.

    ``L`` is ``length`` when given (a longer sequence is an error), else the longest sequence.
    Errors name ``source`` and the row (``first_row`` + index; pass the file's line number of
    the first sequence so the message points into the file).
    """
    if len(seqs) == 0:
        return np.zeros((0, length or 0), dtype=np.uint8), np.zeros(0, dtype=np.int32)
    table = _table(soft_mask, ambiguous)
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        raise DataError(source, "empty sequence", first_row + int(empty[0]))
    width = int(lengths.max()) if length is None else length
    if length is not None and lengths.max() > length:
        i = int(np.argmax(lengths))
        raise DataError(source, f"sequence of length {lengths[i]} is longer than {length}", first_row + i)
    try:
        raw = np.frombuffer("".join(seqs).encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        for i, s in enumerate(seqs):
            bad = next((c for c in s if ord(c) > 127), None)
            if bad is not None:
                raise DataError(source, f"non-ASCII character {bad!r} in a sequence", first_row + i) from None
        raise
    flat = table[raw]
    bad_pos = np.flatnonzero(flat == _INVALID)
    if bad_pos.size:
        ends = np.cumsum(lengths)
        row = int(np.searchsorted(ends, bad_pos[0], side="right"))
        char = chr(raw[bad_pos[0]])
        hint = ""
        if char.islower() and soft_mask == "error":
            hint = " (lower-case, soft-masked; soft_mask='upper' upper-cases it)"
        elif char.upper() in AMBIGUOUS and ambiguous == "error":
            hint = " (an IUPAC ambiguity code; ambiguous='n' reads it as N)"
        raise DataError(source, f"unknown character {char!r} in a sequence{hint}", first_row + row)
    codes = np.full((len(seqs), width), N_CODE, dtype=np.uint8)
    if np.all(lengths == width):
        codes[:] = flat.reshape(len(seqs), width)
    else:
        cols = np.arange(width)
        codes[cols[None, :] < lengths[:, None]] = flat
    return codes, lengths.astype(np.int32)


def lower_case_mask(seqs: Sequence[str], width: int) -> np.ndarray:
    """``bool [n, width]``: True where a sequence has a lower-case (soft-masked) letter; False in
    the end padding. The sequences are those :func:`encode` accepted (ASCII)."""
    mask = np.zeros((len(seqs), width), dtype=bool)
    if not seqs:
        return mask
    raw = np.frombuffer("".join(seqs).encode("ascii"), dtype=np.uint8)
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    mask[np.arange(width)[None, :] < lengths[:, None]] = (raw >= ord("a")) & (raw <= ord("z"))
    return mask


def decode(codes: np.ndarray, lengths: np.ndarray | None = None) -> list[str]:
    """Codes ``[n, L]`` → strings (cut to ``lengths`` when given)."""
    letters = np.frombuffer(b"ACGTN", dtype=np.uint8)[np.asarray(codes, dtype=np.intp)]
    out = [row.tobytes().decode("ascii") for row in letters]
    if lengths is not None:
        out = [s[: int(n)] for s, n in zip(out, lengths, strict=True)]
    return out


def revcomp(codes: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """Reverse complement of codes ``[..., L]`` (A↔T, C↔G, N stays N). With ``lengths``, each
    row's first ``lengths[i]`` bases are reversed and the ``N`` padding stays at the end."""
    comp = np.array([3, 2, 1, 0, N_CODE], dtype=np.uint8)[codes]
    if lengths is None or np.all(lengths == codes.shape[-1]):
        return comp[..., ::-1].copy()
    out = np.full_like(comp, N_CODE)
    width = codes.shape[-1]
    for i, n in enumerate(np.asarray(lengths, dtype=np.int64)):
        out[i, :n] = comp[i, :n][::-1]
        if n > width:
            raise ValueError(f"length {n} exceeds the width {width}")
    return out


def one_hot(codes: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """Codes ``[n, L]`` → ``[n, 4, L]`` (channels A, C, G, T; ``N`` all zeros)."""
    eye = np.concatenate([np.eye(4, dtype=dtype), np.zeros((1, 4), dtype=dtype)])
    return np.ascontiguousarray(eye[codes].transpose(0, 2, 1))


def gc_fraction(codes: np.ndarray) -> np.ndarray:
    """Fraction of G or C among the non-N bases of each row (0.5 for an all-N row)."""
    gc = ((codes == 1) | (codes == 2)).sum(axis=-1)
    known = (codes < N_CODE).sum(axis=-1)
    return np.where(known > 0, gc / np.maximum(known, 1), 0.5).astype(np.float64)


@dataclass
class Split:
    """One split: ``codes uint8 [n, L]`` (N-padded), labels ``y`` (``int64`` class indices or
    ``float32`` values), the true ``lengths``, and optional sequence ``ids``."""

    codes: np.ndarray
    y: np.ndarray
    lengths: np.ndarray
    ids: list[str] | None = None
    #: ``soft_mask="keep"``: ``bool [n, L]``, True at the soft-masked (lower-case) bases; else None
    masked: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.codes)
        if self.codes.ndim != 2 or len(self.y) != n or len(self.lengths) != n:
            raise ValueError(
                f"split shapes disagree: codes {self.codes.shape}, y {self.y.shape}, "
                f"lengths {self.lengths.shape}"
            )
        if self.masked is not None and self.masked.shape != self.codes.shape:
            raise ValueError(f"masked {self.masked.shape} does not match codes {self.codes.shape}")
        if self.ids is not None and len(self.ids) != n:
            raise ValueError(f"{len(self.ids)} ids for {n} sequences")

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def width(self) -> int:
        return int(self.codes.shape[1])

    def subset(self, index: np.ndarray) -> Split:
        ids = [self.ids[int(i)] for i in index] if self.ids is not None else None
        masked = self.masked[index] if self.masked is not None else None
        return Split(self.codes[index], self.y[index], self.lengths[index], ids, masked)

    def tokens(self) -> np.ndarray:
        """What a token model reads: the codes, plus :data:`MASKED_OFFSET` at soft-masked bases
        when the split keeps the mask (``uint8 [n, L]``, values 0–9)."""
        if self.masked is None:
            return self.codes
        return self.codes + self.masked.astype(np.uint8) * MASKED_OFFSET


@dataclass
class DnaDataset:
    """A labelled DNA task: ``splits`` has ``train`` and ``test`` and optionally ``valid``.

    ``task`` is ``classification`` (``y`` = class index into ``classes``) or ``regression``.
    ``notes`` lists what loading changed or found (upper-cased bases, N counts, leaks), so a
    report can say it; ``meta`` holds generator parameters for synthetic tasks.
    """

    name: str
    task: Literal["classification", "regression"]
    splits: dict[str, Split]
    classes: list[str] | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)
    meta: dict[str, object] = field(default_factory=dict)
    #: multi-target regression: the targets' names (``y`` is ``[n, len(targets)]``); else None
    targets: list[str] | None = None

    def __post_init__(self) -> None:
        missing = [s for s in ("train", "test") if s not in self.splits]
        if missing:
            raise DataError(self.source or self.name, f"missing split(s): {', '.join(missing)}")
        unknown = sorted(set(self.splits) - {"train", "valid", "test"})
        if unknown:
            raise DataError(self.source or self.name, f"unknown split(s) {unknown} (train, valid, test)")
        if self.task == "classification" and not self.classes:
            raise DataError(self.source or self.name, "a classification dataset needs class names")
        if self.targets is not None and self.task != "regression":
            raise DataError(self.source or self.name, "several targets make a regression task")

    @property
    def soft_masked(self) -> bool:
        """The splits keep the soft mask (``soft_mask="keep"``): token models read 10 tokens."""
        return any(sp.masked is not None for sp in self.splits.values())

    @property
    def vocab_size(self) -> int:
        """Tokens a token model reads: 5 (A, C, G, T, N), 10 with the soft mask kept."""
        return 2 * MASKED_OFFSET if self.soft_masked else MASKED_OFFSET

    @property
    def warnings(self) -> list[str]:
        """The notes that are warnings (``WARNING: …``), without the prefix: what a report must
        show, e.g. a lower-case fraction that differs by class."""
        return [n.removeprefix("WARNING: ") for n in self.notes if n.startswith("WARNING")]

    @property
    def n_outputs(self) -> int:
        """Model outputs: one logit per class, or one per regression target (1 by default)."""
        if self.task == "classification" and self.classes:
            return len(self.classes)
        return len(self.targets) if self.targets else 1

    @property
    def metric(self) -> str:
        """The headline metric: ``auroc`` (binary), ``accuracy`` (multi-class) or ``pearson`` (for
        several targets, the mean of their Pearson r)."""
        if self.task == "regression":
            return "pearson"
        return "auroc" if self.n_outputs == 2 else "accuracy"

    def replace(self, **changes: object) -> DnaDataset:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def summary(self) -> dict[str, object]:
        """Sizes, lengths and label balance per split (what ``archlab dna`` prints)."""
        out: dict[str, object] = {"name": self.name, "task": self.task, "source": self.source}
        for name, sp in self.splits.items():
            row: dict[str, object] = {
                "n": len(sp),
                "length_min": int(sp.lengths.min()) if len(sp) else 0,
                "length_max": int(sp.lengths.max()) if len(sp) else 0,
            }
            if self.task == "classification" and len(sp):
                row["positive_fraction" if self.n_outputs == 2 else "class_counts"] = (
                    float(np.mean(sp.y == 1))
                    if self.n_outputs == 2
                    else np.bincount(sp.y.astype(np.int64), minlength=self.n_outputs).tolist()
                )
            elif len(sp):
                row["y_mean"], row["y_sd"] = float(np.mean(sp.y)), float(np.std(sp.y))
            out[name] = row
        out["notes"] = list(self.notes)
        return out
