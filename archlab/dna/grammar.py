"""Synthetic DNA motif-grammar tasks D0–D7: the DNA twin of the formal-language probes.

Each level plants JASPAR motif instances (drawn from the PWM and conditioned on scoring above
the motif's hit threshold, see :mod:`archlab.dna.motifs`) into a background and labels the
sequence by a rule of increasing complexity:

====  ==========================  =========================================================
D0    presence                    motif A on either strand vs absent
D1    counting                    ≥ k copies of A vs exactly k−1
D2    local syntax                A then B, same orientation, gap d±1 vs wrong gap/orientation/order
D3    boolean logic               A xor B (negatives: neither or both)
D4    helical spacing             A–B spacing in phase with the ~10.5 bp helical turn vs out of phase
D5    long-range pairing          a block and its reverse complement at distance D vs an unrelated block
D6    hierarchy                   two ordered modules, each a valid D2 pair
D7    quantitative (regression)   occupancy of several motifs + pairwise cooperativity + noise
====  ==========================  =========================================================

Controls that keep the labels clean and the shortcuts closed:

* **Decoys.** Every slot that could hold a motif holds either an instance or a *decoy* (the same
  sampled instance with its bases permuted, checked to score below every threshold), so both
  classes have identical base composition and the GC-only baseline sits at chance.
* **Clean backgrounds.** Backgrounds are scanned for chance hits (score ≥ threshold on either
  strand) of every motif the level uses and the offending windows redrawn; after planting, each
  row is rescanned and must hold exactly the planted hits and get its intended label from the
  oracle, otherwise the row is generated again. Both counts are reported (``resampled``).
* **Strand symmetry.** Each row is reverse-complemented with probability 1/2, so "same
  orientation" and "A then B" are read in either strand's frame.

Backgrounds (``background=``): ``iid`` (uniform), ``gc`` (i.i.d. with GC fraction ``gc``),
``markov`` (an order-``markov_order`` chain fitted on both strands of the IRF1 ChIP-seq
training set) and ``shuffle`` (real sequences from that file, concatenated to the length and
dinucleotide-shuffled with the Altschul–Erickson Eulerian-walk method, which preserves the
dinucleotide counts exactly). The last two need the file ``koo_chipseq/IRF1_400_h3k27ac.h5``
under ``data_dir`` (argument), ``$ARCHLAB_DNA_DIR``, or the copy shipped with archlab.

Facts the levels rest on: B-DNA makes one helical turn per ~10.5 bp (Wang 1979; Rhodes & Klug
1980), so two factors on the same face of the helix sit at spacings ≈ 10.5·j bp; inverted repeats
(a block and its reverse complement) can pair into hairpins/cruciforms, the DNA analogue of the
nested dependencies of context-free languages.
"""

from __future__ import annotations

import functools
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from archlab.dna.data import N_CODE, DataError, DnaDataset, Split, revcomp
from archlab.dna.motifs import DEFAULT_MOTIFS, DEFAULT_PVALUE, Motif, get_motif, scan
from archlab.errors import ArchlabError, ConfigError
from archlab.registry import DNA_TASKS

__all__ = [
    "BACKGROUNDS",
    "Level",
    "dinucleotide_counts",
    "dinucleotide_shuffle",
    "fit_markov",
    "get_level",
    "list_levels",
    "make_background",
    "make_dataset",
    "oracle_scores",
    "real_sequences",
    "sample_reference",
    "xor_linear_ceiling",
]

BACKGROUNDS = ("iid", "gc", "markov", "shuffle")
REAL_FILE = "koo_chipseq/IRF1_400_h3k27ac.h5"
HELICAL_PERIOD = 10.5
MAX_ROUNDS = 60
_COMP = np.array([3, 2, 1, 0, N_CODE], dtype=np.uint8)

#: parameters every level accepts (background choice, threshold) with their defaults
COMMON_PARAMS: dict[str, Any] = {
    "background": "iid",
    "gc": 0.5,
    "markov_order": 3,
    "data_dir": None,
    "pvalue": DEFAULT_PVALUE,
}


# ---------------------------------------------------------------------------------------------
# real sequences, Markov chains, dinucleotide shuffles


def real_sequences(data_dir: str | os.PathLike[str] | None = None, train_only: bool = False) -> np.ndarray:
    """Codes ``[N, 400]`` of the IRF1 ChIP-seq file (all splits, or ``X_train`` only), found
    by :func:`archlab.dna.io.resolve_data_dir`."""
    from archlab.dna.io import resolve_data_dir, verify_checksums

    need = (
        "the markov and shuffle backgrounds need the Koo lab IRF1 ChIP-seq file "
        f"({REAL_FILE}); pass data_dir=<folder holding koo_chipseq/> or set ARCHLAB_DNA_DIR, "
        "or use background='iid' or 'gc'"
    )
    try:
        root = resolve_data_dir(data_dir)
    except DataError as exc:
        raise DataError(exc.source, need) from None
    path = root / REAL_FILE
    if not path.is_file():
        raise DataError(str(path), need)
    verify_checksums(root, path)
    return _real_codes(str(path), train_only)


@functools.lru_cache(maxsize=4)
def _real_codes(path: str, train_only: bool) -> np.ndarray:
    from archlab.dna.io import load_hdf5

    ds = load_hdf5(path)
    names = ["train"] if train_only else [s for s in ("train", "valid", "test") if s in ds.splits]
    return np.concatenate([ds.splits[s].codes for s in names])


def fit_markov(codes: np.ndarray, order: int = 3, pseudocount: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """An order-``order`` Markov chain fitted on ``codes`` and their reverse complements.

    Returns ``(initial [4**order], transition [4**order, 4])``; context index = base-4 number of
    the preceding ``order`` bases (oldest most significant). Windows touching N are skipped.
    """
    if not 0 <= order <= 8:
        raise ConfigError("markov_order", f"{order} is out of range", "0..8")
    both = np.concatenate([codes, revcomp(codes)])
    k1 = order + 1
    idx = np.zeros((len(both), both.shape[1] - order), dtype=np.int64)
    bad = np.zeros(idx.shape, dtype=bool)
    for j in range(k1):
        col = both[:, j : j + idx.shape[1]]
        idx = idx * 4 + np.minimum(col, 3)
        bad |= col >= 4
    counts = np.bincount(idx[~bad], minlength=4**k1).reshape(4**order, 4).astype(np.float64)
    trans = (counts + pseudocount) / (counts + pseudocount).sum(1, keepdims=True)
    init = counts.sum(1) + pseudocount
    return init / init.sum(), trans


@functools.lru_cache(maxsize=8)
def _markov_for(data_dir: str | None, order: int) -> tuple[np.ndarray, np.ndarray]:
    return fit_markov(real_sequences(data_dir, train_only=True), order)


def _sample_markov(
    rng: np.random.Generator, n: int, length: int, init: np.ndarray, trans: np.ndarray
) -> np.ndarray:
    order = round(np.log(len(init)) / np.log(4))
    out = np.empty((n, length), dtype=np.uint8)
    ctx = np.searchsorted(np.cumsum(init), rng.random(n) * np.sum(init), side="right")
    ctx = np.minimum(ctx, len(init) - 1)
    first = min(order, length)
    for j in range(first):
        out[:, j] = (ctx // 4 ** (order - 1 - j)) % 4
    cdf = np.cumsum(trans, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random((n, max(length - first, 0)))
    mod = 4 ** max(order - 1, 0)
    for j in range(first, length):
        b = (u[:, j - first, None] > cdf[ctx]).sum(1)
        out[:, j] = b
        ctx = (ctx % mod) * 4 + b if order > 0 else ctx
    return out


def dinucleotide_counts(codes: np.ndarray) -> np.ndarray:
    """``[n, 5, 5]`` counts of adjacent pairs (row, first base, second base)."""
    codes = np.atleast_2d(codes).astype(np.int64)
    pair = codes[:, :-1] * 5 + codes[:, 1:]
    off = np.arange(len(codes))[:, None] * 25
    return np.bincount((pair + off).ravel(), minlength=25 * len(codes)).reshape(-1, 5, 5)


def dinucleotide_shuffle(seq: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random sequence with exactly the dinucleotide counts of ``seq`` (1-D codes).

    Altschul & Erickson (1985): the sequence is an Eulerian path in the multigraph whose edges
    are its dinucleotides. Pick, for every vertex except the last base, a random "last exit"
    edge such that the last exits form a tree into the last base (retry otherwise); shuffle each
    vertex's other exits; then walk from the first base. First and last bases are kept.
    The walk is inherently sequential (one Python step per base).
    """
    s = np.asarray(seq, dtype=np.int64)
    if len(s) < 3:
        return s.astype(np.uint8)
    alphabet = 5
    succ = [s[1:][s[:-1] == v] for v in range(alphabet)]
    last = int(s[-1])
    present = [v for v in range(alphabet) if len(succ[v])]
    for _ in range(10000):
        exits = {v: int(rng.integers(len(succ[v]))) for v in present if v != last}
        ok = True
        for v in exits:
            seen = {v}
            u = v
            while u != last:
                u = int(succ[u][exits[u]])
                if u in seen:
                    ok = False
                    break
                seen.add(u)
            if not ok:
                break
        if ok:
            break
    else:  # pragma: no cover - a valid arborescence always exists; this is astronomically unlikely
        raise ArchlabError("dinucleotide shuffle: no Eulerian arborescence found")
    lists: list[list[int]] = []
    for v in range(alphabet):
        edges = succ[v]
        if v in exits:
            keep = np.delete(edges, exits[v])
            lists.append([*rng.permutation(keep).tolist(), int(edges[exits[v]])])
        else:
            lists.append(rng.permutation(edges).tolist())
    pos = [0] * alphabet
    out = [int(s[0])]
    cur = out[0]
    for _ in range(len(s) - 1):
        nxt = lists[cur][pos[cur]]
        pos[cur] += 1
        out.append(nxt)
        cur = nxt
    return np.asarray(out, dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# backgrounds


@dataclass
class Background:
    """A background sampler: ``draw`` whole rows, ``redraw`` windows that hold chance hits."""

    name: str
    gc: float = 0.5
    markov_order: int = 3
    data_dir: str | None = None
    _markov: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.name not in BACKGROUNDS:
            raise ConfigError("background", f"unknown background {self.name!r}", " | ".join(BACKGROUNDS))
        if not 0.0 < self.gc < 1.0:
            raise ConfigError("gc", f"{self.gc} is out of range", "0 < gc < 1")
        if self.name == "markov":
            self._markov = _markov_for(self.data_dir, int(self.markov_order))
        if self.name == "shuffle":
            real_sequences(self.data_dir)

    @property
    def probs(self) -> np.ndarray:
        g = self.gc if self.name == "gc" else 0.5
        return np.array([(1 - g) / 2, g / 2, g / 2, (1 - g) / 2])

    def _iid(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        if self.name == "iid":
            return rng.integers(0, 4, shape, dtype=np.uint8)
        cdf = np.cumsum(self.probs)
        return np.minimum(np.searchsorted(cdf, rng.random(shape), side="right"), 3).astype(np.uint8)

    def draw(self, rng: np.random.Generator, n: int, length: int) -> np.ndarray:
        if self.name in ("iid", "gc"):
            return self._iid(rng, (n, length))
        if self.name == "markov":
            assert self._markov is not None
            return _sample_markov(rng, n, length, *self._markov)
        real = real_sequences(self.data_dir)
        per = -(-length // real.shape[1])
        src = real[rng.integers(0, len(real), (n, per))].reshape(n, -1)[:, :length]
        return np.stack([dinucleotide_shuffle(row, rng) for row in src]) if n else src

    def redraw(
        self, rng: np.random.Generator, codes: np.ndarray, rows: np.ndarray, starts: np.ndarray, width: int
    ) -> None:
        """Redraw the windows ``codes[rows, starts:starts+width]`` in place (whole rows for
        ``shuffle``, which must keep each row's dinucleotide counts)."""
        if len(rows) == 0:
            return
        length = codes.shape[1]
        if self.name == "shuffle":
            urows = np.unique(rows)
            codes[urows] = self.draw(rng, len(urows), length)
            return
        cols = starts[:, None] + np.arange(width)[None, :]
        if self.name in ("iid", "gc"):
            codes[rows[:, None], cols] = self._iid(rng, cols.shape)
            return
        assert self._markov is not None
        init, trans = self._markov
        order = round(np.log(len(init)) / np.log(4))
        cdf = np.cumsum(trans, axis=1)
        cdf[:, -1] = 1.0
        marg = np.cumsum(np.bincount(np.arange(4**order) % 4, weights=init, minlength=4))
        for j in range(width):
            c = cols[:, j]
            u = rng.random(len(rows))
            ctx = np.zeros(len(rows), dtype=np.int64)
            ok = c >= order
            for i in range(order, 0, -1):
                ctx = ctx * 4 + np.where(ok, codes[rows, np.maximum(c - i, 0)], 0).astype(np.int64)
            b_markov = (u[:, None] > cdf[ctx]).sum(1)
            b_marg = np.minimum(np.searchsorted(marg, u * marg[-1], side="right"), 3)
            codes[rows, c] = np.where(ok, b_markov, b_marg)


def make_background(
    name: str = "iid",
    *,
    gc: float = 0.5,
    markov_order: int = 3,
    data_dir: str | os.PathLike[str] | None = None,
) -> Background:
    """A :class:`Background` by name (``iid``, ``gc``, ``markov``, ``shuffle``)."""
    return Background(name, float(gc), int(markov_order), None if data_dir is None else str(data_dir))


# ---------------------------------------------------------------------------------------------
# shared generation helpers


@dataclass
class Ctx:
    """One generation call: the generator, the motifs with their thresholds, the background."""

    rng: np.random.Generator
    length: int
    bg: Background
    motifs: list[Motif]
    thresholds: list[float]
    params: dict[str, Any]
    stats: dict[str, int] = field(default_factory=lambda: {"background_rows_cleaned": 0, "rows_resampled": 0})

    def clean(self, codes: np.ndarray) -> None:
        """Redraw background windows holding a chance hit of any motif, until none is left."""
        active = np.arange(len(codes))
        touched = np.zeros(len(codes), dtype=bool)
        for _ in range(MAX_ROUNDS * 4):
            found = False
            sub = codes[active]
            next_active: list[np.ndarray] = []
            for m, t in zip(self.motifs, self.thresholds, strict=True):
                hits = scan(sub, m) >= t
                r, s, p = np.nonzero(hits)
                if len(r) == 0:
                    continue
                found = True
                start = np.where(s == 0, p, self.length - m.width - p)
                rows = active[r]
                touched[rows] = True
                self.bg.redraw(self.rng, codes, rows, start, m.width)
                next_active.append(rows)
                sub = codes[active]
            if not found:
                self.stats["background_rows_cleaned"] += int(touched.sum())
                return
            active = np.unique(np.concatenate(next_active))
        raise ArchlabError(
            f"could not clear chance motif hits from the {self.bg.name} background in {MAX_ROUNDS * 4} "
            "rounds; raise pvalue's stringency (a smaller pvalue) or use other motifs"
        )

    def instances(self, mi: int, n: int, strand: str = "+") -> np.ndarray:
        """``n`` hits of motif ``mi`` drawn from its PWM: ``[n, W]``."""
        return self.motifs[mi].sample(self.rng, n, min_score=self.thresholds[mi], strand=strand)

    def decoys(self, mi: int, n: int) -> np.ndarray:
        """``n`` decoys of motif ``mi``: PWM draws with permuted bases scoring below every threshold."""
        w = self.motifs[mi].width
        out = np.empty((0, w), dtype=np.uint8)
        for _ in range(MAX_ROUNDS):
            need = n - len(out)
            if need <= 0:
                return out
            cand = self.rng.permuted(self.instances(mi, need + 8, strand="both"), axis=1)
            ok = np.ones(len(cand), dtype=bool)
            for m, t in zip(self.motifs, self.thresholds, strict=True):
                if m.width <= w:
                    s = scan(cand, m)
                    ok &= s.reshape(len(cand), -1).max(1) < t
            out = np.concatenate([out, cand[ok][:need]])
        raise ArchlabError(f"could not make decoys for motif {self.motifs[mi].id}")

    def place(self, widths: np.ndarray) -> np.ndarray:
        """Random non-overlapping starts ``[n, k]`` for ``k`` elements of ``widths [n, k]`` (in
        that order along the sequence), uniform over the free space."""
        n, k = widths.shape
        free = self.length - widths.sum(1)
        if (free < 0).any():
            raise ConfigError(
                "length",
                f"{self.length} bp is too short for the planted elements ({int(widths.sum(1).max())} bp)",
            )
        gaps = np.sort(np.floor(self.rng.random((n, k)) * (free[:, None] + 1)).astype(np.int64), axis=1)
        before = np.cumsum(widths, axis=1) - widths
        return gaps + before


def write(codes: np.ndarray, rows: np.ndarray, starts: np.ndarray, block: np.ndarray) -> None:
    """``codes[rows[i], starts[i]:starts[i]+W] = block[i]`` for every i (vectorised)."""
    w = block.shape[1]
    codes[rows[:, None], starts[:, None] + np.arange(w)[None, :]] = block


def count_hits(codes: np.ndarray, motif: Motif, threshold: float) -> np.ndarray:
    """Hits (windows scoring ≥ threshold, both strands) per row."""
    s = scan(codes, motif)
    return (s >= threshold).reshape(len(codes), -1).sum(1)


def _pair_mask(ha: np.ndarray, hb: np.ndarray, offsets: Sequence[int]) -> np.ndarray:
    """``[n]``: some A hit at p and B hit at p + o (same strand frame) for an offset o."""
    n, _, pa = ha.shape
    pb = hb.shape[2]
    out = np.zeros(n, dtype=bool)
    for o in offsets:
        if o < 0:
            continue
        m = min(pa, pb - o)
        if m <= 0:
            continue
        out |= (ha[:, :, :m] & hb[:, :, o : o + m]).any(axis=(1, 2))
    return out


def _pair_starts(ha: np.ndarray, hb: np.ndarray, offsets: Sequence[int]) -> np.ndarray:
    """``bool [n, 2, P_A]``: A hits at p with a B hit at p + o in the same frame."""
    out = np.zeros(ha.shape, dtype=bool)
    pb = hb.shape[2]
    for o in offsets:
        m = min(ha.shape[2], pb - o)
        if o < 0 or m <= 0:
            continue
        out[:, :, :m] |= ha[:, :, :m] & hb[:, :, o : o + m]
    return out


# ---------------------------------------------------------------------------------------------
# levels


class Level:
    """A synthetic grammar level: ``sample`` labelled rows, ``oracle`` the rule, ``defeats``
    the linear baselines it is built to defeat (``gc``, ``kmer``)."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    theory: ClassVar[str] = ""
    task: ClassVar[str] = "classification"
    defeats: ClassVar[tuple[str, ...]] = ("gc", "kmer")
    n_motifs: ClassVar[int] = 0
    level_params: ClassVar[dict[str, Any]] = {}

    @property
    def default_params(self) -> dict[str, Any]:
        out = dict(COMMON_PARAMS)
        if self.n_motifs:
            out["motifs"] = DEFAULT_MOTIFS[: self.n_motifs]
        out.update(self.level_params)
        return out

    def __repr__(self) -> str:
        return f"<Level {self.name}: {self.title}>"

    # -- parameters --------------------------------------------------------------------------
    def resolve(self, **params: Any) -> dict[str, Any]:
        """Defaults updated with ``params`` (unknown names are a :class:`ConfigError`)."""
        p = self.default_params
        unknown = sorted(set(params) - set(p))
        if unknown:
            raise ConfigError(f"{self.name}.{unknown[0]}", "unknown parameter", ", ".join(sorted(p)))
        p.update(params)
        if self.n_motifs:
            ms = p["motifs"]
            ms = tuple(x.strip() for x in ms.split(",")) if isinstance(ms, str) else tuple(ms)
            if len(ms) < self.n_motifs:
                raise ConfigError(f"{self.name}.motifs", f"needs {self.n_motifs} motifs, got {len(ms)}")
            p["motifs"] = ms[: self.n_motifs]
        return p

    def _ctx(self, rng: np.random.Generator, length: int, p: dict[str, Any]) -> Ctx:
        bg = make_background(
            p["background"], gc=p["gc"], markov_order=p["markov_order"], data_dir=p["data_dir"]
        )
        motifs = [get_motif(m) for m in p.get("motifs", ())]
        ids = [m.id for m in motifs]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"{self.name}.motifs", f"motifs must be distinct, got {ids}")
        thresholds = [m.threshold(float(p["pvalue"])) for m in motifs]
        return Ctx(rng, int(length), bg, motifs, thresholds, p)

    # -- sampling ----------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, n: int, length: int, **params: Any) -> Split:
        """``n`` labelled rows of ``length`` bp (balanced classes; deterministic given ``rng``)."""
        return self.sample_info(rng, n, length, **params)[0]

    def sample_info(
        self, rng: np.random.Generator, n: int, length: int, **params: Any
    ) -> tuple[Split, dict[str, int]]:
        """:meth:`sample` plus the resampling counts ``{"background_rows_cleaned", "rows_resampled"}``."""
        if n < 0 or length < 1:
            raise ConfigError("n/length", f"n={n}, length={length}", "n ≥ 0, length ≥ 1")
        p = self.resolve(**params)
        ctx = self._ctx(rng, length, p)
        if self.task == "classification":
            target = rng.permutation(np.arange(n) % 2).astype(np.int64)
        else:
            target = np.zeros(n, dtype=np.int64)
        codes, planted = self._build(ctx, target)
        bad = self._check(ctx, codes, target, planted)
        for _ in range(MAX_ROUNDS):
            if not bad.any():
                break
            idx = np.flatnonzero(bad)
            ctx.stats["rows_resampled"] += len(idx)
            sub, sub_planted = self._build(ctx, target[idx])
            codes[idx] = sub
            for k in planted:
                planted[k][idx] = sub_planted[k]
            bad[idx] = self._check(ctx, sub, target[idx], sub_planted)
        else:
            raise ArchlabError(f"{self.name}: rows kept failing their label check after {MAX_ROUNDS} rounds")
        flip = rng.random(n) < 0.5
        codes[flip] = revcomp(codes[flip])
        if self.task == "regression":
            y = self._target(ctx, codes)
            return Split(codes, y.astype(np.float32), np.full(n, length, dtype=np.int32)), dict(ctx.stats)
        return Split(codes, target, np.full(n, length, dtype=np.int32)), dict(ctx.stats)

    def _build(self, ctx: Ctx, labels: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Rows for ``labels`` and the planted hit count per motif index."""
        raise NotImplementedError

    def _check(
        self, ctx: Ctx, codes: np.ndarray, labels: np.ndarray, planted: dict[int, np.ndarray]
    ) -> np.ndarray:
        """Rows whose hits differ from the planted ones or whose oracle label is wrong."""
        bad = np.zeros(len(codes), dtype=bool)
        for mi, want in planted.items():
            bad |= count_hits(codes, ctx.motifs[mi], ctx.thresholds[mi]) != want
        if self.task == "classification" and len(codes):
            bad |= self._oracle(ctx, codes) != labels
        return bad

    def _target(self, ctx: Ctx, codes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- oracle ------------------------------------------------------------------------------
    def _oracle(self, ctx: Ctx, codes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def oracle(self, codes: np.ndarray, **params: Any) -> np.ndarray:
        """The rule applied with knowledge of the grammar (motifs, thresholds, distances):
        predicted labels (int64) or, for regression, the noiseless target (float64)."""
        p = self.resolve(**params)
        p["background"] = "iid"  # the rule does not depend on the background
        ctx = self._ctx(np.random.default_rng(0), codes.shape[1], p)
        return self._oracle(ctx, np.asarray(codes))

    # -- helpers -----------------------------------------------------------------------------
    def _hits(self, ctx: Ctx, codes: np.ndarray, mi: int) -> np.ndarray:
        return scan(codes, ctx.motifs[mi]) >= ctx.thresholds[mi]

    def _slots(
        self,
        ctx: Ctx,
        codes: np.ndarray,
        contents: list[tuple[int, np.ndarray]],
        order: np.ndarray | None = None,
    ) -> None:
        """Place slots ``(motif index for width, block [n, W])`` at random non-overlapping starts;
        ``order [n, k]`` permutes the slots along each row (default: shuffled)."""
        n = len(codes)
        k = len(contents)
        if order is None:
            order = np.argsort(ctx.rng.random((n, k)), axis=1)
        widths_slot = np.array([blk.shape[1] for _, blk in contents])
        widths = widths_slot[order]
        starts_sorted = ctx.place(widths)
        rows = np.arange(n)
        for pos in range(k):
            for s, (_, blk) in enumerate(contents):
                sel = order[:, pos] == s
                if sel.any():
                    write(codes, rows[sel], starts_sorted[sel, pos], blk[sel])


def _mixed(ctx: Ctx, mi: int, use_motif: np.ndarray) -> np.ndarray:
    """Blocks ``[n, W]``: a motif hit where ``use_motif`` else a decoy."""
    n = len(use_motif)
    inst = ctx.instances(mi, n, strand="both")
    dec = ctx.decoys(mi, n)
    return np.where(use_motif[:, None], inst, dec)


@DNA_TASKS.register("D0")
class Presence(Level):
    """D0 — presence: one instance of motif A (either strand) vs a composition-matched decoy.

    Tests local pattern detection: a single matched filter with a global max-pool solves it, so
    it is the floor every architecture should clear at every length. A motif's k-mers are direct
    evidence, so only the GC-only baseline is meant to fail.
    """

    name = "D0"
    title = "presence: motif A on either strand vs absent"
    theory = "presence"
    defeats = ("gc",)
    n_motifs = 1

    def _build(self, ctx: Ctx, labels: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        codes = ctx.bg.draw(ctx.rng, len(labels), ctx.length)
        ctx.clean(codes)
        self._slots(ctx, codes, [(0, _mixed(ctx, 0, labels == 1))])
        return codes, {0: labels.copy()}

    def _oracle(self, ctx: Ctx, codes: np.ndarray) -> np.ndarray:
        return np.asarray(self._hits(ctx, codes, 0).reshape(len(codes), -1).any(1), dtype=np.int64)


@DNA_TASKS.register("D1")
class Count(Level):
    """D1 — counting: at least ``k`` copies of A vs exactly ``k−1``.

    Every row has ``k + max_extra`` slots; positives fill ``c ∈ [k, k+max_extra]`` of them with
    A hits, negatives ``k−1``; the rest are decoys, so composition matches. Tests a threshold
    counter over positions (a max-pool is not enough; sum-pooling or a counter is needed).
    """

    name = "D1"
    title = "count: ≥ k copies of motif A vs exactly k−1"
    theory = "counting"
    defeats = ("gc",)
    n_motifs = 1
    level_params: ClassVar[dict[str, Any]] = {"k": 3, "max_extra": 1}

    def _build(self, ctx: Ctx, labels: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        k, extra = int(ctx.params["k"]), int(ctx.params["max_extra"])
        if k < 1 or extra < 0:
            raise ConfigError("D1.k", f"k={k}, max_extra={extra}", "k ≥ 1, max_extra ≥ 0")
        n = len(labels)
        slots = k + extra
        count = np.where(labels == 1, k + ctx.rng.integers(0, extra + 1, n), k - 1)
        use = np.arange(slots)[None, :] < count[:, None]
        use = ctx.rng.permuted(use, axis=1)
        codes = ctx.bg.draw(ctx.rng, n, ctx.length)
        ctx.clean(codes)
        contents = [(0, _mixed(ctx, 0, use[:, s])) for s in range(slots)]
        self._slots(ctx, codes, contents, order=np.tile(np.arange(slots), (n, 1)))
        return codes, {0: count}

    def _oracle(self, ctx: Ctx, codes: np.ndarray) -> np.ndarray:
        c = self._hits(ctx, codes, 0).reshape(len(codes), -1).sum(1)
        return (c >= int(ctx.params["k"])).astype(np.int64)


class _PairLevel(Level):
    """Shared construction of an ordered A…B pair (one block: A, gap, B) in the + frame."""

    def _pair_rows(
        self,
        ctx: Ctx,
        n: int,
        first: np.ndarray,
        gaps: np.ndarray,
        flip_b: np.ndarray,
        mi_a: int = 0,
        mi_b: int = 1,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Blocks for pairs: ``first`` True → A then B else B then A, ``gaps`` between them,
        ``flip_b`` → B on the other strand. Returns ``(blocks [n, Wmax], widths [n])``."""
        a = ctx.instances(mi_a, n)
        b = ctx.instances(mi_b, n)
        b = np.where(flip_b[:, None], revcomp(b), b)
        wa, wb = a.shape[1], b.shape[1]
        width = wa + gaps + wb
        wmax = int(width.max()) if n else 0
        blocks = ctx.bg.draw(ctx.rng, n, max(wmax, 1))[:, :wmax].copy()
        rows = np.arange(n)
        s1 = np.zeros(n, dtype=np.int64)
        s2_a = wb + gaps  # A second
        s2_b = wa + gaps  # B second
        if n:
            write(blocks, rows[first], s1[first], a[first])
            write(blocks, rows[first], s2_b[first], b[first])
            write(blocks, rows[~first], s1[~first], b[~first])
            write(blocks, rows[~first], s2_a[~first], a[~first])
        return blocks, width, rows

    def _plant_blocks(self, ctx: Ctx, codes: np.ndarray, blocks: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Place variable-width blocks ``(block [n, Wmax], width [n])`` in the given order."""
        n = len(codes)
        widths = np.stack([w for _, w in blocks], axis=1)
        starts = ctx.place(widths)
        rows = np.arange(n)
        for j, (blk, w) in enumerate(blocks):
            cols = starts[:, j, None] + np.arange(blk.shape[1])[None, :]
            inside = np.arange(blk.shape[1])[None, :] < w[:, None]
            codes[np.broadcast_to(rows[:, None], cols.shape)[inside], cols[inside]] = blk[inside]


@DNA_TASKS.register("D2")
class Syntax(_PairLevel):
    """D2 — local syntax: A then B in the same orientation with gap ``d ± 1``.

    Negatives hold the same two motifs (so the same k-mers and composition) with one of: a wrong
    gap (|gap − d| ≥ 3, from 1 to ``3d``), B on the opposite strand, or B before A. Tests
    order, orientation and spacing — the grammar of composite elements such as the
    STAT/IRF or ETS/RUNX sites. Linear k-mer counts cannot separate it: orientation enters as an
    XOR of the two strands.
    """

    name = "D2"
    title = "syntax: A then B, same orientation, gap d±1 vs wrong gap/orientation/order"
    theory = "local-syntax"
    n_motifs = 2
    level_params: ClassVar[dict[str, Any]] = {"gap": 10}

    def _gaps_ok(self, ctx: Ctx) -> list[int]:
        d = int(ctx.params["gap"])
        if d < 2:
            raise ConfigError("D2.gap", f"{d} is too small", "gap ≥ 2")
        return [d - 1, d, d + 1]

    def _build(self, ctx: Ctx, labels: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        n = len(labels)
        self._gaps_ok(ctx)  # the knob's range, before any draw
        d = int(ctx.params["gap"])
        pos = labels == 1
        kind = ctx.rng.integers(0, 3, n)  # negatives: 0 wrong gap, 1 wrong orientation, 2 wrong order
        good_gap = d + ctx.rng.integers(-1, 2, n)
        wrong = np.concatenate([np.arange(1, d - 2), np.arange(d + 3, 3 * d + 1)])
        bad_gap = wrong[ctx.rng.integers(0, len(wrong), n)]
        gaps = np.where(pos | (kind != 0), good_gap, bad_gap)
        flip_b = ~pos & (kind == 1)
        first = pos | (kind != 2)
        codes = ctx.bg.draw(ctx.rng, n, ctx.length)
        ctx.clean(codes)
        blk, width, _ = self._pair_rows(ctx, n, first, gaps, flip_b)
        self._plant_blocks(ctx, codes, [(blk, width)])
        one = np.ones(n, dtype=np.int64)
        return codes, {0: one, 1: one.copy()}

    def _oracle(self, ctx: Ctx, codes: np.ndarray) -> np.ndarray:
        ha, hb = self._hits(ctx, codes, 0), self._hits(ctx, codes, 1)
        wa = ctx.motifs[0].width
        return _pair_mask(ha, hb, [wa + g for g in self._gaps_ok(ctx)]).astype(np.int64)


@DNA_TASKS.register("D3")
class Xor(Level):
    """D3 — logic: A xor B. Positives hold exactly one of the two; negatives neither or both.

    Each row has an A slot and a B slot, each a hit or a decoy. Positives hold A only or B only
    (1/2 each); a fraction ``p_both`` of the negatives hold both, the rest neither. At the
    default ``p_both`` = 1/2 the frequency of each motif is 1/2 in both classes, so no linear
    function of motif (or k-mer) counts separates the classes: XOR is the classic
    non-linearly-separable function (Minsky & Papert 1969). With ``p_both`` = q ≠ 1/2 the
    motifs carry a first-order signal a gradient can start from, and a linear score of the two
    presences still reaches at most max(q, 1 − q) test AUROC (:func:`xor_linear_ceiling`): only a
    non-linear model gets the "both" negatives right.
    """

    name = "D3"
    title = "logic: A xor B vs neither or both"
    theory = "boolean-xor"
    n_motifs = 2
    level_params: ClassVar[dict[str, Any]] = {"p_both": 0.5}

    def _build(self, ctx: Ctx, labels: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        n = len(labels)
        q = float(ctx.params["p_both"])
        if not 0.0 <= q <= 1.0:
            raise ConfigError("D3.p_both", f"{q} is out of range", "0 ≤ p_both ≤ 1")
        u = ctx.rng.random(n)
        has_a = np.where(labels == 1, u < 0.5, u < q)
        has_b = np.where(labels == 1, ~has_a, has_a)
        codes = ctx.bg.draw(ctx.rng, n, ctx.length)
        ctx.clean(codes)
        self._slots(ctx, codes, [(0, _mixed(ctx, 0, has_a)), (1, _mixed(ctx, 1, has_b))])
        return codes, {0: has_a.astype(np.int64), 1: has_b.astype(np.int64)}

    def _oracle(self, ctx: Ctx, codes: np.ndarray) -> np.ndarray:
        a = self._hits(ctx, codes, 0).reshape(len(codes), -1).any(1)
        b = self._hits(ctx, codes, 1).reshape(len(codes), -1).any(1)
        return np.asarray(a ^ b, dtype=np.int64)


def xor_linear_ceiling(p_both: float) -> float:
    """The best test AUROC of any linear score ``w_a·[A] + w_b·[B]`` on D3 whose negatives hold
    both motifs with probability ``p_both`` (else neither) and whose positives hold one: scoring
    ``[A] + [B]`` ranks every positive above the "neither" negatives and below the "both" ones
    (AUROC 1 − q); its negation gives q; mixed weights fall between (tested by enumeration)."""
    q = float(p_both)
    return max(q, 1.0 - q)


@DNA_TASKS.register("D4")
class Helical(_PairLevel):
    """D4 — helical spacing: A–B start-to-start spacing ≈ 10.5·j (± 1 bp, same face of the
    helix) vs ≈ 10.5·j + 5.25 (± 1 bp, opposite faces), for ``j`` turns up to ``max_turns``.

    B-DNA turns once per ~10.5 bp, so cooperating factors often need in-phase spacing. Both
    classes span the same spacing range, so the model must compute distance modulo 10.5 — a
    periodic (cyclic-group-like) function of position, not a window.
    """

    name = "D4"
    title = "helical spacing: A–B spacing in phase (≡ 0 mod 10.5 bp) vs out of phase"
    theory = "periodic-spacing"
    n_motifs = 2
    level_params: ClassVar[dict[str, Any]] = {"max_turns": 6, "period": HELICAL_PERIOD}

    def spacings(self, ctx: Ctx) -> tuple[list[int], list[int]]:
        """(in-phase, out-of-phase) allowed start-to-start spacings."""
        period = float(ctx.params["period"])
        wa = ctx.motifs[0].width
        turns = int(ctx.params["max_turns"])
        inp: list[int] = []
        out: list[int] = []
        for j in range(1, turns + 1):
            for d in (-1, 0, 1):
                inp.append(round(period * j) + d)
                out.append(round(period * j + period / 2) + d)
        inp = sorted(s for s in set(inp) if s >= wa + 1)
        out = sorted(s for s in set(out) if s >= wa + 1)
        if not inp or not out:
            raise ConfigError("D4.max_turns", f"{turns} turns leave no spacing above motif A's width {wa}")
        return inp, out

    def _build(self, ctx: Ctx, labels: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        n = len(labels)
        inp, out = self.spacings(ctx)
        wa = ctx.motifs[0].width
        s_in = np.asarray(inp)[ctx.rng.integers(0, len(inp), n)]
        s_out = np.asarray(out)[ctx.rng.integers(0, len(out), n)]
        gaps = np.where(labels == 1, s_in, s_out) - wa
        codes = ctx.bg.draw(ctx.rng, n, ctx.length)
        ctx.clean(codes)
        blk, width, _ = self._pair_rows(ctx, n, np.ones(n, dtype=bool), gaps, np.zeros(n, dtype=bool))
        self._plant_blocks(ctx, codes, [(blk, width)])
        one = np.ones(n, dtype=np.int64)
        return codes, {0: one, 1: one.copy()}

    def _oracle(self, ctx: Ctx, codes: np.ndarray) -> np.ndarray:
        ha, hb = self._hits(ctx, codes, 0), self._hits(ctx, codes, 1)
        return _pair_mask(ha, hb, self.spacings(ctx)[0]).astype(np.int64)


@DNA_TASKS.register("D5")
class Pairing(Level):
    """D5 — long-range pairing: a random ``block``-bp block and its reverse complement with
    starts ``distance`` bp apart (an inverted repeat, which can fold into a hairpin) vs the block
    and an unrelated random block.

    Tests a dependency at a chosen distance (default: half the length) between two arbitrary
    strings — no fixed filter can match it, and a CNN whose receptive field is shorter than the
    distance cannot see both ends. With ``nested`` a second, inner inverted repeat sits between
    the outer pair (``distance // 2`` apart); negatives then break one of the two pairs — the
    nested dependencies of a context-free language. Uses no motifs.
    """

    name = "D5"
    title = "long-range pairing: block and its reverse complement at distance D vs unrelated block"
    theory = "long-range-pairing"
    level_params: ClassVar[dict[str, Any]] = {"block": 12, "distance": None, "nested": False}

    def _dist(self, ctx: Ctx) -> tuple[int, int, int]:
        w = int(ctx.params["block"])
        d = ctx.params["distance"]
        d = ctx.length // 2 if d is None else int(d)
        inner = d // 2
        if w < 4 or d < w or d + w > ctx.length:
            raise ConfigError(
                "D5.distance",
                f"block {w}, distance {d} do not fit {ctx.length} bp",
                "4 ≤ block ≤ distance ≤ length − block",
            )
        if ctx.params["nested"] and d - 2 * w - inner < 0:
            raise ConfigError("D5.nested", f"distance {d} leaves no room for an inner pair of {w}-bp blocks")
        return w, d, inner

    def _build(self, ctx: Ctx, labels: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        n = len(labels)
        w, d, inner = self._dist(ctx)
        codes = ctx.bg.draw(ctx.rng, n, ctx.length)
        rows = np.arange(n)
        x = ctx.bg.draw(ctx.rng, n, w)
        y = ctx.bg.draw(ctx.rng, n, w)
        start = np.floor(ctx.rng.random(n) * (ctx.length - d - w + 1)).astype(np.int64)
        pos = labels == 1
        if not ctx.params["nested"]:
            write(codes, rows, start, x)
            write(codes, rows, start + d, np.where(pos[:, None], revcomp(x), y))
            return codes, {}
        x2 = ctx.bg.draw(ctx.rng, n, w)
        y2 = ctx.bg.draw(ctx.rng, n, w)
        lo_in = start + w
        span_in = d - w - inner - w  # room for the inner pair's first start
        s2 = lo_in + np.floor(ctx.rng.random(n) * (span_in + 1)).astype(np.int64)
        break_outer = ctx.rng.random(n) < 0.5
        write(codes, rows, start, x)
        write(codes, rows, start + d, np.where((pos | ~break_outer)[:, None], revcomp(x), y))
        write(codes, rows, s2, x2)
        write(codes, rows, s2 + inner, np.where((pos | break_outer)[:, None], revcomp(x2), y2))
        return codes, {}

    @staticmethod
    def paired(codes: np.ndarray, block: int, distance: int) -> np.ndarray:
        """``[n]``: some ``block``-bp window at p equals the reverse complement of the window at
        ``p + distance`` (checked as ``block`` vectorised column comparisons)."""
        n, length = codes.shape
        p = length - distance - block + 1
        if p <= 0:
            return np.zeros(n, dtype=bool)
        comp = _COMP[codes]
        ok = np.ones((n, p), dtype=bool)
        for j in range(block):
            o = distance + block - 1 - j
            ok &= (codes[:, j : j + p] == comp[:, o : o + p]) & (codes[:, j : j + p] < N_CODE)
        return np.asarray(ok.any(1), dtype=bool)

    def _oracle(self, ctx: Ctx, codes: np.ndarray) -> np.ndarray:
        w, d, inner = self._dist(ctx)
        out = self.paired(codes, w, d)
        if ctx.params["nested"]:
            out &= self.paired(codes, w, inner)
        return out.astype(np.int64)


@DNA_TASKS.register("D6")
class Hierarchy(_PairLevel):
    """D6 — hierarchy: module 1 (A, gap d1, B) before module 2 (C, gap d2, D), both valid D2
    pairs in the same orientation; the modules sit anywhere, in order.

    Negatives hold the same four motifs: the modules swapped (each still valid), or in order
    but one module with a broken (wrong-gap) pair. Tests composition of a local rule (D2) into
    an ordered higher-level rule — the enhanceosome-style hierarchy of regulatory grammar.
    """

    name = "D6"
    title = "hierarchy: module (A,B) before module (C,D), each a valid D2 pair"
    theory = "hierarchy"
    n_motifs = 4
    level_params: ClassVar[dict[str, Any]] = {"gap1": 8, "gap2": 14}

    def _bad_gap(self, ctx: Ctx, d: int, n: int) -> np.ndarray:
        wrong = np.concatenate([np.arange(1, d - 2), np.arange(d + 3, 3 * d + 1)])
        return wrong[ctx.rng.integers(0, len(wrong), n)]

    def _build(self, ctx: Ctx, labels: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        n = len(labels)
        d1, d2 = int(ctx.params["gap1"]), int(ctx.params["gap2"])
        if min(d1, d2) < 2:
            raise ConfigError("D6.gap1/gap2", f"{d1}, {d2}", "≥ 2")
        pos = labels == 1
        kind = ctx.rng.integers(0, 3, n)  # negatives: 0 swapped, 1 module 1 broken, 2 module 2 broken
        g1 = np.where(~pos & (kind == 1), self._bad_gap(ctx, d1, n), d1 + ctx.rng.integers(-1, 2, n))
        g2 = np.where(~pos & (kind == 2), self._bad_gap(ctx, d2, n), d2 + ctx.rng.integers(-1, 2, n))
        codes = ctx.bg.draw(ctx.rng, n, ctx.length)
        ctx.clean(codes)
        yes, no = np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
        b1, w1, _ = self._pair_rows(ctx, n, yes, g1, no, 0, 1)
        b2, w2, _ = self._pair_rows(ctx, n, yes, g2, no, 2, 3)
        swap = ~pos & (kind == 0)
        wmax = max(b1.shape[1], b2.shape[1])
        b1 = np.pad(b1, ((0, 0), (0, wmax - b1.shape[1])))
        b2 = np.pad(b2, ((0, 0), (0, wmax - b2.shape[1])))
        first = np.where(swap[:, None], b2, b1)
        second = np.where(swap[:, None], b1, b2)
        self._plant_blocks(ctx, codes, [(first, np.where(swap, w2, w1)), (second, np.where(swap, w1, w2))])
        one = np.ones(n, dtype=np.int64)
        return codes, {i: one.copy() for i in range(4)}

    def _oracle(self, ctx: Ctx, codes: np.ndarray) -> np.ndarray:
        h = [self._hits(ctx, codes, i) for i in range(4)]
        w = [m.width for m in ctx.motifs]
        d1, d2 = int(ctx.params["gap1"]), int(ctx.params["gap2"])
        m1 = _pair_starts(h[0], h[1], [w[0] + d1 + e for e in (-1, 0, 1)])  # [n, 2, P_A]
        m2 = _pair_starts(h[2], h[3], [w[2] + d2 + e for e in (-1, 0, 1)])  # [n, 2, P_C]
        # module 1 must end before module 2 starts: some m1 start p1 with p1 + w_A + gap + w_B ≤ p2;
        # require p1 < p2 (modules never overlap) in the same frame.
        seen = np.logical_or.accumulate(m1, axis=2)
        pm = min(seen.shape[2], m2.shape[2])
        before = np.zeros_like(m2)
        before[:, :, 1:pm] = seen[:, :, : pm - 1]
        if m2.shape[2] > pm:
            before[:, :, pm:] = seen[:, :, -1:]
        return (m2 & before).any(axis=(1, 2)).astype(np.int64)


@DNA_TASKS.register("D7")
class Occupancy(Level):
    """D7 — regression: an occupancy-like target from several motifs.

    Each motif (A, B, C) has ``sites`` slots, each a PWM draw scoring at least ``threshold − 3``
    bits (graded affinities, around the hit cut) or a decoy with probability 1/2. The target is
    ``Σ_m w_m·occ_m + coop·occ_A·occ_B + noise``, with ``occ_m = Σ_windows σ(score − t_m)``
    summed over both strands (a Boltzmann-like occupancy with 1-bit temperature) and Gaussian
    noise of ``noise`` × the signal's standard deviation. Tests additive quantitative
    readout plus a pairwise (cooperative) interaction.
    """

    name = "D7"
    title = "regression: occupancy from PWM scores of 3 motifs + A·B cooperativity + noise"
    theory = "quantitative-occupancy"
    task = "regression"
    defeats = ("gc",)
    n_motifs = 3
    level_params: ClassVar[dict[str, Any]] = {
        "sites": 2,
        "weights": (1.0, 0.7, 0.5),
        "coop": 0.8,
        "noise": 0.3,
        "affinity_range": 3.0,
    }

    def _build(self, ctx: Ctx, labels: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        n = len(labels)
        sites = int(ctx.params["sites"])
        codes = ctx.bg.draw(ctx.rng, n, ctx.length)
        ctx.clean(codes)
        contents = []
        for mi, m in enumerate(ctx.motifs):
            floor = ctx.thresholds[mi] - float(ctx.params["affinity_range"])
            for _ in range(sites):
                use = ctx.rng.random(n) < 0.5
                inst = m.sample(ctx.rng, n, min_score=floor, strand="both")
                contents.append((mi, np.where(use[:, None], inst, ctx.decoys(mi, n))))
        self._slots(ctx, codes, contents)
        return codes, {}

    def _occ(self, ctx: Ctx, codes: np.ndarray) -> np.ndarray:
        occ = []
        for mi, m in enumerate(ctx.motifs):
            s = scan(codes, m).astype(np.float64) - ctx.thresholds[mi]
            occ.append((1.0 / (1.0 + np.exp(-s))).reshape(len(codes), -1).sum(1))
        return np.stack(occ, axis=1)

    def _oracle(self, ctx: Ctx, codes: np.ndarray) -> np.ndarray:
        occ = self._occ(ctx, codes)
        w = np.asarray(ctx.params["weights"], dtype=np.float64)[: occ.shape[1]]
        return occ @ w + float(ctx.params["coop"]) * occ[:, 0] * occ[:, 1]

    def _target(self, ctx: Ctx, codes: np.ndarray) -> np.ndarray:
        f = self._oracle(ctx, codes)
        sd = float(f.std()) if len(f) > 1 else 1.0
        noise = ctx.rng.standard_normal(len(f))
        return f + float(ctx.params["noise"]) * max(sd, 1e-6) * noise


# ---------------------------------------------------------------------------------------------
# public API


def get_level(name: str) -> Level:
    """The level registered as ``name`` (case-insensitive; ``D0`` … ``D7``)."""
    return DNA_TASKS.get(name)()


def list_levels() -> list[Level]:
    """Every registered level, in name order."""
    return [cls() for _, cls in DNA_TASKS.items()]


def _seed_stream(name: str, seed: int, split: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), split, zlib.crc32(name.lower().encode())])


def make_dataset(
    name: str,
    length: int,
    *,
    n_train: int = 2000,
    n_valid: int = 500,
    n_test: int = 1000,
    seed: int = 0,
    background: str = "iid",
    **params: Any,
) -> DnaDataset:
    """A :class:`DnaDataset` of level ``name`` with disjoint random streams per split.

    ``meta`` records every generator parameter (level, length, background, motif IDs and
    thresholds, seed, sizes) and the resampling counts per split.
    """
    level = get_level(name)
    p = level.resolve(background=background, **params)
    splits: dict[str, Split] = {}
    resampled: dict[str, dict[str, int]] = {}
    for i, (split, n) in enumerate((("train", n_train), ("valid", n_valid), ("test", n_test))):
        if split == "valid" and n == 0:
            continue
        splits[split], resampled[split] = level.sample_info(_seed_stream(level.name, seed, i), n, length, **p)
    motifs = [get_motif(m) for m in p.get("motifs", ())]
    meta: dict[str, object] = {
        "level": level.name,
        "title": level.title,
        "theory": level.theory,
        "length": int(length),
        "seed": int(seed),
        "sizes": {"train": n_train, "valid": n_valid, "test": n_test},
        "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()},
        "motifs": [
            {"id": m.id, "name": m.name, "threshold": m.threshold(float(p["pvalue"]))} for m in motifs
        ],
        "defeats": list(level.defeats),
        "resampled": resampled,
    }
    return DnaDataset(
        name=f"synthetic/{level.name}",
        task=level.task,  # type: ignore[arg-type]
        splits=splits,
        classes=["negative", "positive"] if level.task == "classification" else None,
        source=f"archlab.dna.grammar {level.name} length={length} background={background} seed={seed}",
        notes=[f"{level.name}: {level.title}"],
        meta=meta,
    )


def oracle_scores(name: str, split: Split, **params: Any) -> dict[str, Any]:
    """Apply level ``name``'s oracle to ``split``: predictions and accuracy (classification)
    or Pearson r against the noisy target (regression)."""
    level = get_level(name)
    pred = level.oracle(split.codes, **params)
    if level.task == "classification":
        acc = float(np.mean(pred == split.y)) if len(split) else float("nan")
        return {"predictions": pred, "metric": "accuracy", "accuracy": acc}
    r = float(np.corrcoef(pred, split.y)[0, 1]) if len(split) > 1 else float("nan")
    return {"predictions": pred, "metric": "pearson", "pearson": r, "accuracy": r}


def sample_reference(level: str, rng: np.random.Generator, n: int, length: int, **params: Any) -> Split:
    """A plain-Python, obviously-correct (and slow) D0 generator for throughput comparisons.

    Per base: draw a uniform base; rescan every window with the log-odds table on both strands
    and redraw any window holding a chance hit; then put either a PWM hit (positives, column by
    column from the PWM, retried until it scores above the threshold) or a shuffled decoy
    (negatives) at a random start, rejecting rows whose hits differ from the plan. Only ``D0``
    with the ``iid`` background is implemented.
    """
    if level.upper() != "D0":
        raise ConfigError("level", f"no reference generator for {level!r}", "D0")
    lv = get_level("D0")
    p = lv.resolve(**params)
    if p["background"] != "iid":
        raise ConfigError("background", "the reference generator only draws iid backgrounds", "iid")
    motif = get_motif(p["motifs"][0])
    t = motif.threshold(float(p["pvalue"]))
    lo = motif.log_odds().tolist()
    pwm = motif.pwm.tolist()
    w = motif.width

    def score(seq: list[int], i: int, minus: bool) -> float:
        total = 0.0
        for j in range(w):
            if minus:
                total += lo[w - 1 - j][3 - seq[i + j]]
            else:
                total += lo[j][seq[i + j]]
        return total

    def hits(seq: list[int]) -> list[int]:
        return [i for i in range(len(seq) - w + 1) if score(seq, i, False) >= t or score(seq, i, True) >= t]

    def draw_site() -> list[int]:
        while True:
            site = []
            for j in range(w):
                u, acc, b = float(rng.random()), 0.0, 3
                for k in range(4):
                    acc += pwm[j][k]
                    if u < acc:
                        b = k
                        break
                site.append(b)
            if score(site, 0, False) >= t:
                return site

    labels = [i % 2 for i in range(n)]
    rng.shuffle(labels)
    rows: list[list[int]] = []
    for label in labels:
        while True:
            seq = [int(rng.integers(4)) for _ in range(length)]
            found = hits(seq)
            while found:
                for i in found:
                    for j in range(w):
                        seq[i + j] = int(rng.integers(4))
                found = hits(seq)
            site = draw_site()
            if label == 0:
                while True:
                    perm = [site[int(k)] for k in rng.permutation(w)]
                    if score(perm, 0, False) < t and score(perm, 0, True) < t:
                        site = perm
                        break
            elif rng.random() < 0.5:
                site = [3 - b for b in reversed(site)]
            start = int(rng.integers(0, length - w + 1))
            seq[start : start + w] = site
            if len(hits(seq)) == label:
                rows.append(seq)
                break
    codes = np.array(rows, dtype=np.uint8).reshape(n, length)
    return Split(codes, np.array(labels, dtype=np.int64), np.full(n, length, dtype=np.int32))
