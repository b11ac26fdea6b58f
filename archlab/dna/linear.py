"""Linear baselines for DNA tasks: GC content alone, and k-mer counts (k = 1..6).

These are the shortcut detectors of the confound checks and the floor of the baseline table.
Features follow the shared data README: GC = (G+C)/known bases; k-mer = counts of all ``4**k``
k-mers for ``k = k_min..k_max`` on the given strand with overlapping windows (windows touching
``N`` skipped), the whole vector L2-normalised per sequence. Models: logistic regression
(classification) or OLS / ridge (regression), fitted on train (+ valid when present), scored on
test with AUROC/AUPR or Pearson/Spearman r.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from archlab.dna.data import N_CODE, DnaDataset, Split, gc_fraction

__all__ = ["fit_gc", "fit_kmer", "gc_features", "kmer_features", "score_predictions"]

#: C grid of the k-mer logistic regression (as the shared README's reference numbers)
KMER_CS = np.logspace(-2, 4, 13)


def gc_features(split: Split) -> np.ndarray:
    """``float32 [n, 1]``: GC fraction of each row's non-N bases."""
    return gc_fraction(split.codes).astype(np.float32)[:, None]


def kmer_features(
    codes: np.ndarray, lengths: np.ndarray | None = None, k_max: int = 6, k_min: int = 1
) -> np.ndarray:
    """``float32 [n, Σ_k 4**k]``: counts of every k-mer for ``k_min ≤ k ≤ k_max``, L2-normalised.

    Vectorised: a rolling base-4 index over the columns, and one ``np.bincount`` over
    ``row * 4**k + index`` per k. Windows that touch ``N`` or the padding beyond ``lengths``
    are skipped. Column order: k ascending, then k-mers in lexicographic ACGT order.
    """
    codes = np.asarray(codes)
    n, width = codes.shape
    if not 1 <= k_min <= k_max <= 10:
        raise ValueError(f"need 1 ≤ k_min ≤ k_max ≤ 10, got {k_min}, {k_max}")
    valid = codes < N_CODE
    if lengths is not None:
        valid &= np.arange(width)[None, :] < np.asarray(lengths)[:, None]
    base = np.where(valid, codes, 0).astype(np.int64)
    blocks = []
    idx = np.zeros((n, width), dtype=np.int64)
    ok = np.ones((n, width), dtype=bool)
    rows = np.arange(n, dtype=np.int64)[:, None]
    for k in range(1, k_max + 1):
        m = width - k + 1
        if m <= 0:
            if k >= k_min:
                blocks.append(np.zeros((n, 4**k), dtype=np.float32))
            continue
        # idx[:, p] holds the (k-1)-mer starting at p; extend it by the base at p + k - 1
        idx = idx[:, :m] * 4 + base[:, k - 1 : k - 1 + m]
        ok = ok[:, :m] & valid[:, k - 1 : k - 1 + m]
        if k < k_min:
            continue
        flat = (rows * 4**k + idx)[ok]
        counts = np.bincount(flat, minlength=n * 4**k).reshape(n, 4**k)
        blocks.append(counts.astype(np.float32))
    x = np.concatenate(blocks, axis=1)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def score_predictions(task: str, y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """:func:`archlab.dna.metrics.score` plus ``metric`` (the headline: AUROC for binary,
    accuracy for multi-class, Pearson r for regression) and its value as ``score``. ``pred``:
    positive-class scores ``[n]`` or class probabilities ``[n, C]``; values for regression."""
    from archlab.dna.metrics import score

    out = score("regression" if task == "regression" else "classification", y, pred)
    if task == "regression":
        metric = "pearson"
    else:
        metric = "auroc" if "auroc" in out and (np.ndim(pred) == 1 or np.shape(pred)[1] <= 2) else "accuracy"
    return {"metric": metric, "score": out[metric], **out}


def _positive(proba: np.ndarray) -> np.ndarray:
    """Binary: the positive-class column; multi-class: every column."""
    return proba[:, 1] if proba.shape[1] == 2 else proba


def _fit_split(dataset: DnaDataset) -> tuple[list[Split], Split]:
    fit = [dataset.splits["train"]]
    if "valid" in dataset.splits:
        fit.append(dataset.splits["valid"])
    return fit, dataset.splits["test"]


def fit_gc(dataset: DnaDataset, seed: int = 0) -> dict[str, Any]:
    """GC-only baseline: default logistic regression (classification) or OLS (regression),
    fitted on train+valid, scored on test."""
    from sklearn.linear_model import LinearRegression, LogisticRegression

    fit, test = _fit_split(dataset)
    x = np.concatenate([gc_features(s) for s in fit])
    y = np.concatenate([s.y for s in fit])
    xt = gc_features(test)
    if dataset.task == "classification":
        model = LogisticRegression(random_state=seed).fit(x, y)
        pred = _positive(model.predict_proba(xt))
        coef = float(model.coef_[0, 0])
    else:
        reg = LinearRegression().fit(x, y)  # several targets: one column of coefficients each
        pred = reg.predict(xt)
        coef = np.ravel(reg.coef_).tolist() if y.ndim == 2 else float(reg.coef_[0])
    out = score_predictions(dataset.task, test.y, pred)
    out.update({"baseline": "gc", "coef": coef, "n_fit": len(y), "n_test": len(test)})
    return out


def fit_kmer(
    dataset: DnaDataset,
    seed: int = 0,
    k_max: int = 6,
    *,
    select: str = "valid",
    cs: Sequence[float] | np.ndarray = KMER_CS,
    max_iter: int = 2000,
) -> dict[str, Any]:
    """k-mer baseline (``k = 1..k_max``, L2-normalised counts).

    Classification: logistic regression with C from ``logspace(-2, 4, 13)``. ``select="valid"``
    (default, fast) picks C by validation AUROC (fitting on train; on a 5-fold split of train
    when there is no valid split), then refits on train+valid; ``select="cv"`` is the shared
    README's reference procedure: ``LogisticRegressionCV`` with 5-fold unshuffled stratified CV
    and ROC-AUC scoring on train+valid. ``cs`` narrows the C grid (the confound checks use a
    short grid for speed). Regression: ``RidgeCV`` over ``logspace(-3, 3, 13)``.
    """
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, RidgeCV
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    fit, test = _fit_split(dataset)
    feats = [kmer_features(s.codes, s.lengths, k_max=k_max) for s in fit]
    x = np.concatenate(feats)
    y = np.concatenate([s.y for s in fit])
    xt = kmer_features(test.codes, test.lengths, k_max=k_max)
    extra: dict[str, Any] = {}
    if dataset.task == "regression":  # several targets: one ridge, α chosen for all together
        ridge = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(x, y)
        pred = ridge.predict(xt)
        extra["alpha"] = float(ridge.alpha_)
    elif select == "cv":
        cv = StratifiedKFold(n_splits=5, shuffle=False)
        model = LogisticRegressionCV(
            Cs=np.asarray(cs),
            cv=cv,
            scoring="roc_auc" if len(np.unique(y)) == 2 else "roc_auc_ovr",
            max_iter=max_iter,
            random_state=seed,
        )
        model.fit(x, y)
        pred = _positive(model.predict_proba(xt))
        extra["C"] = float(np.ravel(model.C_)[0])
    elif select == "valid":
        if len(fit) == 2:
            xa, ya, xb, yb = feats[0], fit[0].y, feats[1], fit[1].y
        else:
            tr, va = next(StratifiedKFold(n_splits=5, shuffle=True, random_state=seed).split(x, y))
            xa, ya, xb, yb = x[tr], y[tr], x[va], y[va]
        best_c, best = float(cs[0]), -1.0
        for c in cs:
            m = LogisticRegression(C=float(c), max_iter=max_iter, random_state=seed).fit(xa, ya)
            proba = m.predict_proba(xb)
            auc = float(
                roc_auc_score(yb, proba[:, 1])
                if proba.shape[1] == 2
                else roc_auc_score(yb, proba, multi_class="ovr")
            )
            if auc > best + 1e-9:
                best_c, best = float(c), auc
        model_v = LogisticRegression(C=best_c, max_iter=max_iter, random_state=seed).fit(x, y)
        pred = _positive(model_v.predict_proba(xt))
        extra.update({"C": best_c, "valid_auroc": best})
    else:
        raise ValueError(f"select must be 'valid' or 'cv', not {select!r}")
    out = score_predictions(dataset.task, test.y, pred)
    out.update(
        {"baseline": "kmer", "k_max": k_max, "n_features": x.shape[1], "n_fit": len(y), "n_test": len(test)}
    )
    out.update(extra)
    return out
