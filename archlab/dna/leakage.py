"""Leakage between splits of a DNA set: exact and near duplicates on both strands, regrouping,
and reverse-complement augmentation / prediction averaging.

Definitions (used by every function here):

- A sequence is compared on its first ``lengths[i]`` bases, after cutting ``trim = (a, b)``
  bases off its start and end (constant adapters, e.g. ``(15, 15)`` for the lentiMPRA sample,
  whose adapters are not reverse-complemented with the element; ``trim="auto"`` cuts the
  longest prefix and suffix shared by every row, see :func:`common_flanks`).
- **Exact duplicate** (:func:`exact_duplicates`): two rows whose compared bases are equal
  (``same_strand``) or one is the reverse complement of the other (``reverse_complement``).
  Rows are hashed by their bytes; the canonical key is ``min(seq, revcomp(seq))``.
- **Near duplicate** (:func:`near_duplicates`): a query row shares at least ``min_fraction`` of
  its distinct canonical ``k``-mers (both strands; windows with ``N`` skipped) with a single
  reference row. ``min_fraction=0`` means "shares at least one k-mer". k-mers are hashed with a
  64-bit polynomial rolling hash (collisions have probability about ``2**-64`` per pair).
- **Leaked rows**: ``valid`` rows with a duplicate in ``train``; ``test`` rows with a duplicate
  in ``train`` or ``valid``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, cast

import numpy as np

from archlab.dna.data import N_CODE, DataError, DnaDataset, Split, revcomp

__all__ = [
    "augment_rc",
    "average_rc",
    "common_flanks",
    "exact_duplicates",
    "kmer_hashes",
    "leakage_line",
    "leakage_notes",
    "leakage_summary",
    "near_duplicates",
    "regroup_splits",
    "shared_sequences",
]

Trim = tuple[int, int] | Literal["auto"] | None

_COMP_BYTES = bytes.maketrans(bytes([0, 1, 2, 3, 4]), bytes([3, 2, 1, 0, 4]))
_ORDER = ("train", "valid", "test")
#: odd 64-bit multiplier of the k-mer polynomial hash (odd, so it is invertible mod 2**64)
_P = 0x9E3779B97F4A7C15
_P_INV = pow(_P, -1, 1 << 64)
_EMPTY = np.uint64(2**64 - 1)  # marks windows with N (a real k-mer hashing to it is ~2**-64 likely)


def _splits(dataset: DnaDataset) -> list[str]:
    return [s for s in _ORDER if s in dataset.splits]


def common_flanks(dataset: DnaDataset) -> tuple[int, int]:
    """Longest prefix and suffix (in bases) that every row of every split shares, each at most
    half the shortest sequence (constant adapters/flanks carry no signal but create matches)."""
    rows = [(sp.codes, sp.lengths) for sp in dataset.splits.values() if len(sp)]
    if not rows:
        return 0, 0
    shortest = min(int(n.min()) for _, n in rows)
    half = shortest // 2
    ref_fwd = rows[0][0][0, :half]
    ref_end = rows[0][0][0, int(rows[0][1][0]) - half : int(rows[0][1][0])][::-1]
    prefix = suffix = half
    for codes, lengths in rows:
        same = np.all(codes[:, :half] == ref_fwd[None, :], axis=0) & (ref_fwd < N_CODE)
        prefix = min(prefix, int(np.argmin(same)) if not same.all() else half)
        idx = lengths[:, None].astype(np.int64) - 1 - np.arange(half)[None, :]
        ends = np.take_along_axis(codes, idx, axis=1)
        same = np.all(ends == ref_end[None, :], axis=0) & (ref_end < N_CODE)
        suffix = min(suffix, int(np.argmin(same)) if not same.all() else half)
    return prefix, suffix


def _trim(dataset: DnaDataset, trim: Trim) -> tuple[int, int]:
    if trim is None:
        return 0, 0
    if trim == "auto":
        return common_flanks(dataset)
    a, b = trim
    if a < 0 or b < 0:
        raise DataError(dataset.name, f"trim must be two non-negative base counts, got {trim}")
    return int(a), int(b)


def _keys(split: Split, trim: tuple[int, int]) -> tuple[list[bytes | None], np.ndarray]:
    """Per row: the canonical key (``min(seq, revcomp)`` as bytes; None when trimming leaves
    nothing) and whether the row's own strand is the canonical one."""
    a, b = trim
    keys: list[bytes | None] = []
    forward = np.ones(len(split), dtype=bool)
    for i, (row, n) in enumerate(zip(split.codes, split.lengths, strict=True)):
        end = int(n) - b
        if end <= a:
            keys.append(None)
            continue
        s = row[a:end].tobytes()
        r = s.translate(_COMP_BYTES)[::-1]
        if r < s:
            keys.append(r)
            forward[i] = False
        else:
            keys.append(s)
    return keys, forward


def _index(keys: Sequence[bytes | None]) -> dict[bytes, list[int]]:
    out: dict[bytes, list[int]] = {}
    for i, k in enumerate(keys):
        if k is not None:
            out.setdefault(k, []).append(i)
    return out


def exact_duplicates(
    dataset: DnaDataset, *, trim: Trim = None, both_strands: bool = True
) -> dict[str, object]:
    """Exact duplicates within and across splits, on both strands (see the module docstring).

    Returns a dict:

    - ``trim``: the ``(start, end)`` bases cut before comparing;
    - ``pairs``: per split pair ``"train/test"`` etc.: ``n`` (row pairs), ``same_strand``,
      ``reverse_complement``, ``index`` (``int64 [n, 2]``: row in the first split, row in the
      second) and ``strand`` (``int8 [n]``: +1 same strand, -1 reverse complement);
    - ``within``: per split, the same counts for pairs of rows inside the split;
    - ``leaked``: ``{"valid": rows with a duplicate in train, "test": rows with one in train
      or valid}`` (only the splits present);
    - ``unique``: distinct sequences over all splits (reverse complements counted once unless
      ``both_strands=False``).
    """
    tr = _trim(dataset, trim)
    names = _splits(dataset)
    keyed: dict[str, tuple[list[bytes | None], np.ndarray]] = {}
    for s in names:
        keys, fwd = _keys(dataset.splits[s], tr)
        if not both_strands:
            a, b = tr
            sp = dataset.splits[s]
            keys = [
                None if int(n) - b <= a else row[a : int(n) - b].tobytes()
                for row, n in zip(sp.codes, sp.lengths, strict=True)
            ]
            fwd = np.ones(len(keys), dtype=bool)
        keyed[s] = (keys, fwd)
    index = {s: _index(keyed[s][0]) for s in names}

    def pair_block(s1: str, s2: str) -> dict[str, object]:
        idx1, idx2 = index[s1], index[s2]
        f1, f2 = keyed[s1][1], keyed[s2][1]
        rows: list[tuple[int, int]] = []
        for key, r1 in idx1.items():
            r2 = idx2.get(key)
            if r2 is None:
                continue
            if s1 == s2:
                rows.extend((i, j) for x, i in enumerate(r1) for j in r1[x + 1 :])
            else:
                rows.extend((i, j) for i in r1 for j in r2)
        arr = np.asarray(rows, dtype=np.int64).reshape(-1, 2)
        # a palindrome (equal to its reverse complement) is always "forward", so same strand
        same = f1[arr[:, 0]] == f2[arr[:, 1]] if len(arr) else np.zeros(0, dtype=bool)
        return {
            "n": len(arr),
            "same_strand": int(same.sum()),
            "reverse_complement": int((~same).sum()),
            "index": arr,
            "strand": np.where(same, 1, -1).astype(np.int8),
        }

    pairs = {f"{a}/{b}": pair_block(a, b) for i, a in enumerate(names) for b in names[i + 1 :]}
    within = {s: {k: v for k, v in pair_block(s, s).items()} for s in names}
    leaked: dict[str, int] = {}
    if "valid" in names:
        leaked["valid"] = sum(1 for k in keyed["valid"][0] if k is not None and k in index["train"])
    earlier = [s for s in ("train", "valid") if s in names]
    leaked["test"] = sum(1 for k in keyed["test"][0] if k is not None and any(k in index[s] for s in earlier))
    unique = len(set().union(*(set(index[s]) for s in names)))
    return {"trim": tr, "pairs": pairs, "within": within, "leaked": leaked, "unique": unique}


# ----------------------------------------------------------------------------- k-mers


def kmer_hashes(
    codes: np.ndarray, lengths: np.ndarray, k: int, *, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct canonical k-mer hashes of each row: ``(rows int64 [m], hashes uint64 [m])``,
    sorted by row then hash. Canonical = min of the forward and reverse-complement hashes;
    windows that contain ``N`` (or run past ``lengths``) are skipped. Vectorised: prefix sums of
    ``code * P**t`` (mod 2**64) give every window's hash in O(n L) whatever ``k`` is."""
    if k < 1:
        raise DataError("kmer_hashes", f"k must be >= 1, got {k}")
    n, width = codes.shape
    if width < k or n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    pw = np.ones(width + 1, dtype=np.uint64)
    pw[1:] = np.cumprod(np.full(width, _P, dtype=np.uint64))
    pinv = np.ones(width + 1, dtype=np.uint64)
    pinv[1:] = np.cumprod(np.full(width, _P_INV, dtype=np.uint64))
    nwin = width - k + 1
    out_rows, out_hash = [], []
    cols = np.arange(width)
    for start in range(0, n, chunk):
        c = codes[start : start + chunk]
        ln = np.asarray(lengths[start : start + chunk], dtype=np.int64)
        bad = (c >= N_CODE) | (cols[None, :] >= ln[:, None])
        fwd = np.where(bad, 0, c.astype(np.uint64) + np.uint64(1))
        rev = np.where(bad, 0, np.uint64(4) - c.astype(np.uint64))  # complement code + 1
        hf = np.zeros((len(c), width + 1), dtype=np.uint64)
        hr = np.zeros((len(c), width + 1), dtype=np.uint64)
        np.cumsum(fwd * pw[None, :width], axis=1, out=hf[:, 1:])
        np.cumsum(rev * pinv[None, :width], axis=1, out=hr[:, 1:])
        w_f = (hf[:, k:] - hf[:, :nwin]) * pinv[None, :nwin]
        w_r = (hr[:, k:] - hr[:, :nwin]) * pw[None, k - 1 : k - 1 + nwin]
        nbad = np.zeros((len(c), width + 1), dtype=np.int32)
        np.cumsum(bad, axis=1, out=nbad[:, 1:])
        ok = (nbad[:, k:] - nbad[:, :nwin]) == 0
        # sort each row's hashes (invalid windows → the max value, sorted last), drop repeats
        canon = np.where(ok, np.minimum(w_f, w_r), _EMPTY)
        canon.sort(axis=1)
        keep = canon != _EMPTY
        keep[:, 1:] &= canon[:, 1:] != canon[:, :-1]
        r, _ = np.nonzero(keep)
        out_rows.append(r.astype(np.int64) + start)
        out_hash.append(canon[keep])
    return np.concatenate(out_rows), np.concatenate(out_hash)


def _pool(dataset: DnaDataset, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows of several splits stacked: (codes, lengths, split index, row in split)."""
    width = max(dataset.splits[s].width for s in names)
    n = sum(len(dataset.splits[s]) for s in names)
    codes = np.full((n, width), N_CODE, dtype=np.uint8)
    lengths = np.zeros(n, dtype=np.int64)
    which = np.zeros(n, dtype=np.int64)
    row = np.zeros(n, dtype=np.int64)
    at = 0
    for i, s in enumerate(names):
        sp = dataset.splits[s]
        codes[at : at + len(sp), : sp.width] = sp.codes
        lengths[at : at + len(sp)] = sp.lengths
        which[at : at + len(sp)] = i
        row[at : at + len(sp)] = np.arange(len(sp))
        at += len(sp)
    return codes, lengths, which, row


def _trimmed(codes: np.ndarray, lengths: np.ndarray, trim: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``trim`` bases off each row's start and end (end relative to its length)."""
    a, b = trim
    if a == 0 and b == 0:
        return codes, lengths
    new_len = np.maximum(lengths - a - b, 0)
    out = np.full_like(codes[:, a:], N_CODE) if codes.shape[1] > a else np.zeros((len(codes), 0), codes.dtype)
    if out.shape[1]:
        keep = np.arange(out.shape[1])[None, :] < new_len[:, None]
        out[keep] = codes[:, a:][keep]
    return out, new_len


def _join(
    q_rows: np.ndarray, q_hash: np.ndarray, r_rows: np.ndarray, r_hash: np.ndarray, max_hits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Join query and reference k-mers on hash. Returns (query has the k-mer anywhere [mq] bool,
    pair query rows, pair reference rows, shared k-mer counts per pair). k-mers found in more
    than ``max_hits`` reference rows count for ``anywhere`` but not for pairs (low complexity)."""
    order = np.argsort(r_hash, kind="stable")
    rh, rr = r_hash[order], r_rows[order]
    q_order = np.argsort(q_hash)  # sorted needles make searchsorted cache-friendly
    q_rows, q_hash = q_rows[q_order], q_hash[q_order]
    lo = np.searchsorted(rh, q_hash, side="left")
    hi = np.searchsorted(rh, q_hash, side="right")
    cnt = hi - lo
    anywhere = np.empty_like(cnt, dtype=bool)
    anywhere[q_order] = cnt > 0
    use = (cnt > 0) & (cnt <= max_hits)
    lo_u, cnt_u, qr_u = lo[use], cnt[use], q_rows[use]
    total = int(cnt_u.sum())
    if total == 0:
        empty = np.zeros(0, np.int64)
        return anywhere, empty, empty, empty
    offsets = np.repeat(np.cumsum(cnt_u) - cnt_u, cnt_u)
    pos = np.arange(total) - offsets + np.repeat(lo_u, cnt_u)
    pq = np.repeat(qr_u, cnt_u)
    pr = rr[pos]
    n_ref = int(r_rows.max()) + 1
    pair, counts = np.unique(pq * n_ref + pr, return_counts=True)
    return anywhere, pair // n_ref, pair % n_ref, counts


def near_duplicates(
    dataset: DnaDataset,
    *,
    k: int = 31,
    min_fraction: float = 0.5,
    query: str = "test",
    reference: Sequence[str] = ("train", "valid"),
    trim: Trim = None,
    max_hits: int = 2000,
) -> dict[str, object]:
    """Query rows (default ``test``) that nearly duplicate a reference row (``train``+``valid``).

    A query row is *near* when some single reference row holds at least ``min_fraction`` of
    the query's distinct canonical k-mers (``min_fraction=0``: at least one k-mer). Returns:

    - ``k``, ``min_fraction``, ``trim``, ``query``, ``reference`` (the splits used);
    - ``n_kmers`` (``int64 [n_query]``: distinct valid k-mers per query row);
    - ``shared_any`` (bool per query row: any k-mer in any reference row) and ``n_shared_any``;
    - ``union_fraction``: fraction of each query row's k-mers found anywhere in the reference;
    - ``max_share`` and ``best`` (``int64 [n_query, 2]``: reference split index into
      ``reference``, row; -1 when none): the best single reference row;
    - ``near`` (query row indices) and ``n_near``.
    """
    tr = _trim(dataset, trim)
    ref = [s for s in reference if s in dataset.splits and s != query]
    if query not in dataset.splits:
        raise DataError(dataset.name, f"no {query!r} split (splits: {sorted(dataset.splits)})")
    qsp = dataset.splits[query]
    qc, ql = _trimmed(qsp.codes, np.asarray(qsp.lengths, dtype=np.int64), tr)
    q_rows, q_hash = kmer_hashes(qc, ql, k)
    n_q = len(qsp)
    n_kmers = np.bincount(q_rows, minlength=n_q)
    out: dict[str, object] = {
        "k": k,
        "min_fraction": min_fraction,
        "trim": tr,
        "query": query,
        "reference": ref,
    }
    best = np.full((n_q, 2), -1, dtype=np.int64)
    max_share = np.zeros(n_q)
    if not ref or len(q_rows) == 0:
        shared = np.zeros(n_q, dtype=bool)
        union = np.zeros(n_q)
    else:
        rc, rl, which, rrow = _pool(dataset, ref)
        rc, rl = _trimmed(rc, rl, tr)
        r_rows, r_hash = kmer_hashes(rc, rl, k)
        anywhere, pq, pr, counts = _join(q_rows, q_hash, r_rows, r_hash, max_hits)
        hits = np.bincount(q_rows, weights=anywhere, minlength=n_q)
        union = np.divide(hits, n_kmers, out=np.zeros(n_q), where=n_kmers > 0)
        shared = hits > 0
        if len(pq):
            share = counts / n_kmers[pq]
            order = np.lexsort((-share, pq))
            first = np.ones(len(order), dtype=bool)
            first[1:] = pq[order][1:] != pq[order][:-1]
            top = order[first]
            max_share[pq[top]] = share[top]
            best[pq[top], 0] = which[pr[top]]
            best[pq[top], 1] = rrow[pr[top]]
    near = np.flatnonzero((max_share >= min_fraction) & (max_share > 0))
    out.update(
        n_kmers=n_kmers,
        shared_any=shared,
        n_shared_any=int(shared.sum()),
        union_fraction=union,
        max_share=max_share,
        best=best,
        near=near,
        n_near=len(near),
    )
    return out


def shared_sequences(
    ds_a: DnaDataset, ds_b: DnaDataset, *, both_strands: bool = True, trim: Trim = None
) -> dict[str, object]:
    """Sequences that occur in both datasets (any split), e.g. ZBED2 and IRF1 before pooling.

    Returns ``n_shared`` (distinct shared sequences), ``rows_a``/``rows_b`` (per split, the
    row indices of shared sequences), and ``labels``: a :class:`Counter` of ``(label in a,
    label in b)`` pairs over the shared sequences (class names for classification sets).
    """
    tr_a = _trim(ds_a, trim)
    tr_b = _trim(ds_b, trim)

    def keyed(ds: DnaDataset, tr: tuple[int, int]) -> dict[str, list[bytes | None]]:
        out = {}
        for s in _splits(ds):
            sp = ds.splits[s]
            if both_strands:
                out[s] = _keys(sp, tr)[0]
            else:
                a, b = tr
                out[s] = [
                    None if int(n) - b <= a else row[a : int(n) - b].tobytes()
                    for row, n in zip(sp.codes, sp.lengths, strict=True)
                ]
        return out

    ka, kb = keyed(ds_a, tr_a), keyed(ds_b, tr_b)
    first_a: dict[bytes, object] = {}
    for s, keys in ka.items():
        for i, key in enumerate(keys):
            if key is not None and key not in first_a:
                first_a[key] = _label(ds_a, s, i)
    first_b: dict[bytes, object] = {}
    for s, keys in kb.items():
        for i, key in enumerate(keys):
            if key is not None and key not in first_b:
                first_b[key] = _label(ds_b, s, i)
    common = set(first_a) & set(first_b)
    rows_a = {
        s: np.asarray([i for i, key in enumerate(v) if key in common], dtype=np.int64) for s, v in ka.items()
    }
    rows_b = {
        s: np.asarray([i for i, key in enumerate(v) if key in common], dtype=np.int64) for s, v in kb.items()
    }
    labels = Counter((first_a[key], first_b[key]) for key in common)
    return {"n_shared": len(common), "rows_a": rows_a, "rows_b": rows_b, "labels": labels}


def _label(ds: DnaDataset, split: str, i: int) -> object:
    y = ds.splits[split].y[i]
    if ds.task == "classification" and ds.classes:
        return ds.classes[int(y)]
    return float(y)


# ----------------------------------------------------------------------------- regrouping


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels, dtype=np.int64)


def regroup_splits(
    dataset: DnaDataset,
    seed: int = 0,
    fractions: dict[str, float] | None = None,
    *,
    k: int = 31,
    min_fraction: float = 0.5,
    near: bool = True,
    trim: Trim = None,
    max_hits: int = 2000,
) -> DnaDataset:
    """Rebuild the splits so that no duplicate group straddles two splits.

    All rows are pooled; groups are the connected components of exact duplicates (both
    strands) and, with ``near``, near duplicates (two rows sharing at least ``min_fraction``
    of the smaller row's distinct canonical k-mers). Groups are assigned, largest first (ties
    in a ``seed``-shuffled order), to the split whose target is least filled for the group's
    strata: classes, or label quintiles for regression, so class balance stays close to the
    original. ``fractions`` (split → share; default: the current split sizes) set the targets.
    What was done is appended to ``notes`` and stored in ``meta["regroup"]``.
    """
    names = _splits(dataset)
    if fractions is None:
        fractions = {s: float(len(dataset.splits[s])) for s in names}
    bad = sorted(set(fractions) - set(_ORDER))
    if bad or "train" not in fractions or "test" not in fractions or min(fractions.values()) <= 0:
        raise DataError(
            dataset.name, f"fractions need positive train and test (and optional valid): {fractions}"
        )
    targets_names = [s for s in _ORDER if s in fractions]
    total_frac = sum(fractions[s] for s in targets_names)
    frac = np.asarray([fractions[s] / total_frac for s in targets_names])

    tr = _trim(dataset, trim)
    codes, lengths, _, _ = _pool(dataset, names)
    y = np.concatenate([dataset.splits[s].y for s in names])
    ids: list[str] = []
    for s in names:
        sp = dataset.splits[s]
        ids.extend(sp.ids if sp.ids is not None else [f"{s}:{i}" for i in range(len(sp))])
    n = len(codes)
    masked = None
    if any(dataset.splits[s].masked is not None for s in names):  # soft_mask="keep": carry the mask
        masked = np.zeros(codes.shape, dtype=bool)
        at = 0
        for s in names:
            sp = dataset.splits[s]
            if sp.masked is not None:
                masked[at : at + len(sp), : sp.width] = sp.masked
            at += len(sp)
    pooled = Split(codes, y, lengths.astype(np.int32), ids, masked)

    keys, _ = _keys(pooled, tr)
    edges_a: list[np.ndarray] = []
    edges_b: list[np.ndarray] = []
    first: dict[bytes, int] = {}
    ea, eb = [], []
    for i, key in enumerate(keys):
        if key is None:
            continue
        j = first.setdefault(key, i)
        if j != i:
            ea.append(j)
            eb.append(i)
    n_exact = len(ea)
    edges_a.append(np.asarray(ea, dtype=np.int64))
    edges_b.append(np.asarray(eb, dtype=np.int64))
    n_near = 0
    if near:
        tc, tl = _trimmed(codes, lengths, tr)
        rows, hashes = kmer_hashes(tc, tl, k)
        if len(rows):
            nk = np.bincount(rows, minlength=n)
            _, pa, pb, counts = _join(rows, hashes, rows, hashes, max_hits)
            keep = pa < pb
            pa, pb, counts = pa[keep], pb[keep], counts[keep]
            share = counts / np.maximum(np.minimum(nk[pa], nk[pb]), 1)
            sel = share >= min_fraction if min_fraction > 0 else counts > 0
            edges_a.append(pa[sel])
            edges_b.append(pb[sel])
            n_near = int(sel.sum())
    group = _components(n, np.concatenate(edges_a), np.concatenate(edges_b))

    if dataset.task == "classification":
        strata = y.astype(np.int64)
    else:
        yv = y.mean(axis=1) if y.ndim == 2 else y  # several targets: strata of their mean
        qs = np.quantile(yv, [0.2, 0.4, 0.6, 0.8]) if n else np.zeros(4)
        strata = np.searchsorted(qs, yv, side="right").astype(np.int64)
    n_strata = int(strata.max()) + 1 if n else 1
    n_groups = int(group.max()) + 1 if n else 0
    gs_counts = np.zeros((n_groups, n_strata), dtype=np.int64)
    np.add.at(gs_counts, (group, strata), 1)
    sizes = gs_counts.sum(axis=1)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_groups)
    order = order[np.argsort(-sizes[order], kind="stable")]
    target = frac[:, None] * gs_counts.sum(axis=0)[None, :]  # [splits, strata]
    current = np.zeros_like(target)
    assign = np.zeros(n_groups, dtype=np.int64)
    for g in order:
        c = gs_counts[g]
        fill = ((current + c[None, :]) / np.maximum(target, 1e-9) * c[None, :]).sum(axis=1) / max(c.sum(), 1)
        best = int(np.argmin(fill))
        assign[g] = best
        current[best] += c
    row_split = assign[group]
    new_splits = {s: pooled.subset(np.flatnonzero(row_split == i)) for i, s in enumerate(targets_names)}
    multi = sizes > 1
    before = exact_duplicates(dataset, trim=trim)["leaked"]
    info: dict[str, object] = {
        "seed": seed,
        "fractions": dict(zip(targets_names, frac.round(4).tolist(), strict=True)),
        "k": k if near else None,
        "min_fraction": min_fraction if near else None,
        "trim": tr,
        "exact_edges": n_exact,
        "near_edges": n_near,
        "groups": n_groups,
        "groups_multi": int(multi.sum()),
        "rows_in_multi": int(sizes[multi].sum()),
        "exact_leaked_before": before,
        "sizes": {s: len(sp) for s, sp in new_splits.items()},
    }
    note = (
        f"regroup_splits(seed={seed}): pooled {n} rows into {n_groups} groups "
        f"({int(multi.sum())} with >1 row, {int(sizes[multi].sum())} rows; {n_exact} exact"
        + (f", {n_near} near (k={k}, >= {min_fraction:g} shared k-mers)" if near else "")
        + f" links, both strands, trim {tr}); exact leaks before {before}; new sizes "
        + ", ".join(f"{s} {len(sp)}" for s, sp in new_splits.items())
    )
    meta = {**dataset.meta, "regroup": info}
    return dataset.replace(splits=new_splits, notes=[*dataset.notes, note], meta=meta)


# ----------------------------------------------------------------------------- strands


def augment_rc(split: Split) -> Split:
    """The split followed by the reverse complement of every row (labels copied, ``N``
    padding kept at the end, ids suffixed ``_rc``): twice as many rows."""
    rc = revcomp(split.codes, split.lengths)
    ids = [*split.ids, *(f"{i}_rc" for i in split.ids)] if split.ids is not None else None
    return Split(
        np.concatenate([split.codes, rc]),
        np.concatenate([split.y, split.y]),
        np.concatenate([split.lengths, split.lengths]),
        ids,
    )


def average_rc(
    predict_fn: Callable[[np.ndarray], np.ndarray], codes: np.ndarray, lengths: np.ndarray | None = None
) -> np.ndarray:
    """Mean of ``predict_fn`` on the sequences and on their reverse complements (with
    ``lengths``, padding stays at the end). ``predict_fn`` maps codes ``[n, L]`` to an array
    whose first axis is ``n``."""
    forward = np.asarray(predict_fn(codes), dtype=np.float64)
    backward = np.asarray(predict_fn(revcomp(codes, lengths)), dtype=np.float64)
    return (forward + backward) / 2


def leakage_notes(
    dataset: DnaDataset, *, k: int = 31, min_fraction: float = 0.5, trim: Trim = None
) -> list[str]:
    """One-line findings for ``dataset.notes``: exact duplicates per split pair and leaked rows,
    and near-duplicate test rows."""
    ex = exact_duplicates(dataset, trim=trim)
    pairs = ex["pairs"]
    assert isinstance(pairs, dict)
    parts = ", ".join(
        f"{p} {v['n']} ({v['same_strand']} same strand, {v['reverse_complement']} reverse complement)"
        for p, v in pairs.items()
    )
    notes = [f"exact duplicates across splits (trim {ex['trim']}): {parts}; leaked rows {ex['leaked']}"]
    nd = near_duplicates(dataset, k=k, min_fraction=min_fraction, trim=trim)
    notes.append(
        f"near duplicates: {nd['n_near']} test rows share >= {min_fraction:g} of their {k}-mers with one "
        f"train/valid row; {nd['n_shared_any']} share at least one {k}-mer"
    )
    return notes


def leakage_summary(
    dataset: DnaDataset, *, k: int = 31, min_fraction: float = 0.5, trim: Trim = None, examples: int = 0
) -> dict[str, Any]:
    """What a user should know before trusting a test score, JSON-ready: exact duplicates per
    split pair (same strand / reverse complement) and within each split, the test (and valid)
    rows that exactly copy an earlier split's row, and the test rows that nearly duplicate one
    train/valid row (≥ ``min_fraction`` of their distinct canonical ``k``-mers); ``examples``
    near-duplicate rows are listed (test row, reference split and row, share)."""
    ex = exact_duplicates(dataset, trim=trim)
    pairs = cast(dict[str, dict[str, Any]], ex["pairs"])
    within = cast(dict[str, dict[str, Any]], ex["within"])
    counts = ("n", "same_strand", "reverse_complement")
    out: dict[str, Any] = {
        "trim": list(cast(tuple[int, int], ex["trim"])),
        "exact": {
            "pairs": {p: {c: int(v[c]) for c in counts} for p, v in pairs.items()},
            "within": {s: {c: int(v[c]) for c in counts} for s, v in within.items()},
            "leaked": dict(cast(dict[str, int], ex["leaked"])),
            "unique": int(cast(int, ex["unique"])),
        },
    }
    if "test" in dataset.splits and any(s in dataset.splits for s in ("train", "valid")):
        nd = near_duplicates(dataset, k=k, min_fraction=min_fraction, trim=trim)
        ref = cast(list[str], nd["reference"])
        near = cast(np.ndarray, nd["near"])
        best = cast(np.ndarray, nd["best"])
        share = cast(np.ndarray, nd["max_share"])
        rows = [
            {
                "test_row": int(i),
                "split": ref[int(best[i, 0])],
                "row": int(best[i, 1]),
                "share": float(share[i]),
            }
            for i in near[:examples]
        ]
        out["near"] = {
            "k": k,
            "min_fraction": min_fraction,
            "reference": ref,
            "n_near": int(cast(int, nd["n_near"])),
            "n_shared_any": int(cast(int, nd["n_shared_any"])),
            "examples": rows,
        }
    return out


def leakage_line(summary: Mapping[str, Any]) -> str:
    """One line for a report: leaked test rows, exact and near."""
    leaked = summary["exact"]["leaked"]
    parts = [f"{leaked.get('test', 0)} test rows exactly copy a train/valid row (either strand)"]
    if "valid" in leaked:
        parts.append(f"{leaked['valid']} valid rows copy a train row")
    near = summary.get("near")
    if near is not None:
        parts.append(
            f"{near['n_near']} test rows nearly duplicate one (≥ {near['min_fraction']:g} of their "
            f"{near['k']}-mers)"
        )
    return "leakage: " + "; ".join(parts)
