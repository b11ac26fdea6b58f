"""JASPAR motifs as position weight matrices: loading, sampling instances, log-odds scanning.

Motifs come from the JASPAR 2024 CORE vertebrate collection through :mod:`pyjaspar` (which
bundles its SQLite database, so nothing here touches the network). A :class:`Motif` holds the
count matrix turned into probabilities with a pseudocount (1 count per column, spread by the
background), and everything the grammar generators need:

* :meth:`Motif.sample` draws instances *from the PWM* (each position from its column's
  distribution, vectorised over many instances), optionally conditioned on being a hit — never
  the consensus, so a model must learn the motif's tolerance, not one string;
* :func:`scan` gives the log-odds score (log2, against a background) of every window on both
  strands, vectorised as a sum over the ``W`` columns of gathered per-base scores;
* :meth:`Motif.threshold` is the hit cut: the smallest score whose probability under the
  background is at most ``pvalue`` for one window on one strand, computed exactly (up to a
  0.001-bit rounding of the scores) by convolving the column score distributions, the
  dynamic-programming approach of TFM-Pvalue / FIMO. With the default ``pvalue=1e-5`` a random
  16 kb sequence holds about 0.3 chance hits per motif over both strands, which the generators
  then remove.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from archlab.dna.data import N_CODE
from archlab.errors import ArchlabError, closest_match

__all__ = [
    "DEFAULT_MOTIFS",
    "JASPAR_RELEASE",
    "Motif",
    "UnknownMotifError",
    "best_hits",
    "get_motif",
    "hit_mask",
    "known_motifs",
    "scan",
]

JASPAR_RELEASE = "JASPAR2024"

#: Well-known, mutually dissimilar, non-palindromic vertebrate motifs with high information
#: content (all in the bundled JASPAR 2024 database): CTCF, SPI1 (PU.1), REST, HNF4A, IRF1,
#: ZNF143. The generator levels take their motifs A, B, C, D from the front of this tuple.
DEFAULT_MOTIFS: tuple[str, ...] = ("MA0139.2", "MA0080.7", "MA0138.3", "MA1494.2", "MA0050.2", "MA0088.2")

#: default per-window false-positive rate of the hit threshold (one strand)
DEFAULT_PVALUE = 1e-5
_SCALE = 1000  # score resolution of the p-value computation: 0.001 bit

UNIFORM = np.full(4, 0.25)


class UnknownMotifError(ArchlabError, KeyError):
    """A JASPAR ID or TF name not in the bundled database; names the closest known ones."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        msg = f"unknown JASPAR motif {name!r} (JASPAR 2024 CORE vertebrates)"
        msg += f"; did you mean {', '.join(suggestions)}?" if suggestions else "."
        self.message = msg
        super().__init__(msg)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, eq=False)
class Motif:
    """A motif: JASPAR ``id`` and TF ``name``, ``counts`` and ``pwm`` (float ``[W, 4]``, ACGT)."""

    id: str
    name: str
    counts: np.ndarray
    pseudocount: float = 1.0
    pwm: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts, dtype=np.float64)
        if counts.ndim != 2 or counts.shape[1] != 4 or len(counts) == 0:
            raise ValueError(f"motif {self.id}: counts must be [W, 4], got {counts.shape}")
        pwm = (counts + self.pseudocount * UNIFORM) / (counts.sum(1, keepdims=True) + self.pseudocount)
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "pwm", pwm)

    @property
    def width(self) -> int:
        return int(self.pwm.shape[0])

    def log_odds(self, background: Sequence[float] | np.ndarray = UNIFORM) -> np.ndarray:
        """log2(pwm / background), ``[W, 4]``."""
        bg = np.asarray(background, dtype=np.float64)
        return np.log2(self.pwm / bg[None, :])

    def max_score(self, background: Sequence[float] | np.ndarray = UNIFORM) -> float:
        return float(self.log_odds(background).max(1).sum())

    def information_content(self) -> float:
        """Total information content (bits) against a uniform background."""
        p = self.pwm
        return float((2.0 + (p * np.log2(p)).sum(1)).sum())

    def threshold(self, pvalue: float = DEFAULT_PVALUE, background: Sequence[float] | None = None) -> float:
        """The smallest log-odds score ``t`` with ``P(score ≥ t) ≤ pvalue`` for one background window."""
        bg = tuple(float(x) for x in (UNIFORM if background is None else background))
        return _threshold(self, float(pvalue), bg)

    def sample(
        self,
        rng: np.random.Generator,
        n: int,
        *,
        min_score: float | None = None,
        strand: str = "+",
        background: Sequence[float] | None = None,
    ) -> np.ndarray:
        """``n`` instances (codes ``uint8 [n, W]``) drawn column by column from the PWM.

        With ``min_score`` only draws scoring at least that much (log-odds against
        ``background``, default uniform) are kept — the PWM distribution conditioned on being a
        hit, by rejection. ``strand="-"`` returns the reverse complements, ``"both"`` flips each
        instance with probability 1/2.
        """
        lo = self.log_odds(UNIFORM if background is None else background)
        cdf = np.cumsum(self.pwm, axis=1)
        cdf[:, -1] = 1.0
        out = np.empty((0, self.width), dtype=np.uint8)
        for _ in range(1000):
            need = n - len(out)
            if need <= 0:
                break
            draw = max(need, 16) if min_score is None else max(2 * need, 64)
            u = rng.random((draw, self.width))
            inst = (u[:, :, None] > cdf[None, :, :]).sum(2).astype(np.uint8)
            if min_score is not None:
                score = lo[np.arange(self.width)[None, :], inst].sum(1)
                inst = inst[score >= min_score]
            out = np.concatenate([out, inst[:need]])
        else:
            raise ArchlabError(f"motif {self.id}: could not sample instances scoring ≥ {min_score}")
        if strand == "-":
            out = _rc(out)
        elif strand == "both":
            flip = rng.random(n) < 0.5
            out[flip] = _rc(out[flip])
        elif strand != "+":
            raise ValueError(f"strand must be '+', '-' or 'both', not {strand!r}")
        return out


def _rc(codes: np.ndarray) -> np.ndarray:
    return np.array([3, 2, 1, 0, N_CODE], dtype=np.uint8)[codes][..., ::-1].copy()


@functools.lru_cache(maxsize=256)
def _threshold(motif: Motif, pvalue: float, background: tuple[float, ...]) -> float:
    if not 0.0 < pvalue < 1.0:
        raise ValueError(f"pvalue must be in (0, 1), got {pvalue}")
    bg = np.asarray(background)
    lo = np.round(motif.log_odds(bg) * _SCALE).astype(np.int64)
    mins = lo.min(1)
    dist = np.ones(1)
    for j in range(motif.width):
        col = np.zeros(int(lo[j].max() - mins[j]) + 1)
        np.add.at(col, lo[j] - mins[j], bg)
        dist = np.convolve(dist, col)
    tail = np.cumsum(dist[::-1])[::-1]  # P(score >= offset)
    ok = np.flatnonzero(tail <= pvalue)
    offset = int(ok[0]) if ok.size else len(dist) - 1
    return float((offset + mins.sum()) / _SCALE) - 0.5 / _SCALE


def scan(codes: np.ndarray, motif: Motif, background: Sequence[float] | None = None) -> np.ndarray:
    """Log-odds scores of every window on both strands: ``float32 [n, 2, L - W + 1]``.

    ``[:, 0, p]`` scores the forward window starting at ``p``; ``[:, 1, q]`` scores the
    reverse-complement strand's window starting at ``q`` *in reverse-complement coordinates*
    (the forward window at ``L - W - q``), so each strand reads 5'→3' in its own frame. A
    window touching ``N`` scores ``-inf``.
    """
    codes = np.asarray(codes)
    if codes.ndim == 1:
        codes = codes[None, :]
    n, length = codes.shape
    w = motif.width
    lo = motif.log_odds(UNIFORM if background is None else background).astype(np.float32)
    n_win = length - w + 1
    if n_win <= 0:
        return np.full((n, 2, 0), -np.inf, dtype=np.float32)
    table_f = np.concatenate([lo, np.full((w, 1), -np.inf, dtype=np.float32)], axis=1)  # [W, 5]
    lo_rc = lo[::-1, ::-1]  # reverse complement PWM: position W-1-j, base 3-b
    table_r = np.concatenate([lo_rc, np.full((w, 1), -np.inf, dtype=np.float32)], axis=1)
    both = np.stack([table_f, table_r], axis=-1)  # [W, 5, 2]: both strands from one gather
    base = codes.astype(np.intp)
    scores = np.zeros((n, n_win, 2), dtype=np.float32)
    # Columns in blocks of 4: one gather per block from a 5^4-entry table of partial sums (the
    # 4-mer code at each position is computed once), instead of one gather per column.
    blocks = w // 4
    if blocks:
        m = length - 3
        kmer = base[:, 0:m] * 125 + base[:, 1 : m + 1] * 25 + base[:, 2 : m + 2] * 5 + base[:, 3 : m + 3]
        for blk in range(blocks):
            j = 4 * blk
            part = (
                both[j][:, None, None, None]
                + both[j + 1][None, :, None, None]
                + both[j + 2][None, None, :, None]
                + both[j + 3][None, None, None, :]
            )
            scores += part.reshape(625, 2)[kmer[:, j : j + n_win]]
    for j in range(4 * blocks, w):
        scores += both[j][base[:, j : j + n_win]]
    # the minus-strand sum at p covers forward p..p+W-1; in rc coordinates that window starts at
    # L - W - p, i.e. reverse the position axis.
    return np.stack([scores[..., 0], scores[..., 1][:, ::-1]], axis=1)


def hit_mask(codes: np.ndarray, motif: Motif, threshold: float) -> np.ndarray:
    """``bool [n, 2, L - W + 1]``: windows scoring at least ``threshold`` (see :func:`scan`)."""
    return scan(codes, motif) >= threshold


def best_hits(codes: np.ndarray, motif: Motif) -> np.ndarray:
    """The maximum log-odds score over all positions and both strands of each row: ``[n]``."""
    s = scan(codes, motif)
    return s.reshape(len(s), -1).max(1) if s.shape[-1] else np.full(len(s), -np.inf, dtype=np.float32)


@functools.lru_cache(maxsize=1)
def _jaspar() -> object:
    from pyjaspar import jaspardb

    return jaspardb(release=JASPAR_RELEASE)


@functools.lru_cache(maxsize=1)
def known_motifs() -> dict[str, tuple[str, str]]:
    """``{matrix_id: (name, base_id)}`` for the JASPAR 2024 CORE vertebrate collection (cached)."""
    jdb = _jaspar()
    motifs = jdb.fetch_motifs(collection="CORE", tax_group=["vertebrates"])  # type: ignore[attr-defined]
    return {m.matrix_id: (m.name, m.base_id) for m in motifs}


def _from_jaspar(m: object) -> Motif:
    counts = np.array([m.counts[b] for b in "ACGT"], dtype=np.float64).T  # type: ignore[attr-defined]
    return Motif(id=m.matrix_id, name=m.name, counts=counts)  # type: ignore[attr-defined]


def _suggest(name: str) -> list[str]:
    known = known_motifs()
    names = sorted({v[0] for v in known.values()})
    out = []
    for pool in (list(known), names):
        hit = closest_match(name, pool)
        if hit:
            out.append(hit)
    return out


@functools.lru_cache(maxsize=512)
def get_motif(key: str) -> Motif:
    """A motif by JASPAR matrix ID (``MA0139.2``), base ID (``MA0139``: the 2024 CORE version)
    or TF name (``CTCF``, case-insensitive: the first CORE vertebrate matrix with that name).

    Unknown keys raise :class:`UnknownMotifError` with the closest IDs and names.
    """
    key = key.strip()
    jdb = _jaspar()
    upper = key.upper()
    if upper.startswith(("MA", "UN", "PB", "PF", "PH", "CN", "PL", "POL")) and any(c.isdigit() for c in key):
        mid = upper
        if "." not in mid:
            versions = sorted(k for k, v in known_motifs().items() if v[1] == mid)
            if versions:
                mid = versions[-1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                m = jdb.fetch_motif_by_id(mid)  # type: ignore[attr-defined]
            except Exception:
                m = None
        if m is not None:
            return _from_jaspar(m)
        raise UnknownMotifError(key, _suggest(key))
    matches = sorted(k for k, v in known_motifs().items() if v[0].upper() == upper)
    if not matches:
        raise UnknownMotifError(key, _suggest(key))
    return _from_jaspar(jdb.fetch_motif_by_id(matches[0]))  # type: ignore[attr-defined]
