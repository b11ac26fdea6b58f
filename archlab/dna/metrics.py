"""Metrics for labelled DNA tasks, defined (or NaN with a reason) for every input.

:func:`score` returns every metric of a task in one dict:

- binary classification: ``auroc``, ``aupr`` (average precision) and ``accuracy``;
- multi-class classification: ``accuracy`` and ``auroc`` (macro one-vs-rest over the classes
  present in ``y_true``);
- regression: ``pearson``, ``spearman`` and ``mse``.

Nothing here raises on a degenerate input. A constant prediction gives AUROC 0.5 (every pair is a
tie) and a correlation of NaN; a test set holding one class gives an AUROC of NaN; non-finite
predictions (a diverged model) give NaN everywhere. Every NaN is explained under ``undefined``
(metric name → reason), so a report can say why a number is missing.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = ["accuracy", "aupr", "auroc", "mean_sd", "pearson", "score", "spearman"]

NAN = float("nan")


def _binary_inputs(y_true: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).reshape(-1)
    s = np.asarray(y_score, dtype=np.float64).reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"{y.size} labels but {s.size} scores")
    return y, s


def _why_binary_undefined(y: np.ndarray, s: np.ndarray) -> str | None:
    if y.size == 0:
        return "no samples"
    if not np.all(np.isfinite(s)):
        return "non-finite predictions"
    if np.unique(y).size < 2:
        return "y_true holds one class only"
    return None


def auroc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Area under the ROC curve of scores for the positive class (labels 0/1 or bool).

    NaN when ``y_true`` holds one class or a score is not finite; a constant score gives 0.5.
    """
    y, s = _binary_inputs(y_true, y_score)
    if _why_binary_undefined(y, s):
        return NAN
    return float(roc_auc_score(y, s))


def aupr(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Area under the precision-recall curve (average precision) for the positive class.

    NaN when ``y_true`` holds one class or a score is not finite; a constant score gives the
    positive fraction.
    """
    y, s = _binary_inputs(y_true, y_score)
    if _why_binary_undefined(y, s):
        return NAN
    return float(average_precision_score(y, s))


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of correct predictions. ``y_pred`` holds class indices ``[n]`` or class scores
    ``[n, C]`` (argmax taken; ties go to the lowest class). NaN for no samples or non-finite scores."""
    y = np.asarray(y_true).reshape(-1)
    p = np.asarray(y_pred)
    if p.ndim == 2:
        if not np.all(np.isfinite(p)):
            return NAN
        p = p.argmax(axis=1)
    p = p.reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"{y.size} labels but {p.size} predictions")
    if y.size == 0:
        return NAN
    return float(np.mean(y == p))


def _why_corr_undefined(y: np.ndarray, p: np.ndarray) -> str | None:
    if y.size < 2:
        return "fewer than 2 samples"
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(y))):
        return "non-finite values"
    if np.ptp(p) == 0:
        return "constant prediction"
    if np.ptp(y) == 0:
        return "constant y_true"
    return None


def _corr_inputs(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"{y.size} labels but {p.size} predictions")
    return y, p


def pearson(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant, non-finite or has < 2 values."""
    y, p = _corr_inputs(y_true, y_pred)
    if _why_corr_undefined(y, p):
        return NAN
    return float(stats.pearsonr(y, p).statistic)


def spearman(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Spearman rank correlation; NaN when either side is constant, non-finite or has < 2 values."""
    y, p = _corr_inputs(y_true, y_pred)
    if _why_corr_undefined(y, p):
        return NAN
    return float(stats.spearmanr(y, p).statistic)


def _macro_auroc(y: np.ndarray, prob: np.ndarray) -> tuple[float, str | None]:
    """Mean over the classes present in ``y`` of the one-vs-rest AUROC of that class's score."""
    if not np.all(np.isfinite(prob)):
        return NAN, "non-finite predictions"
    present = np.unique(y)
    if present.size < 2:
        return NAN, "y_true holds one class only"
    values = [roc_auc_score(y == c, prob[:, int(c)]) for c in present]
    return float(np.mean(values)), None


def score(
    task: Literal["classification", "regression"], y_true: np.ndarray, y_pred: np.ndarray
) -> dict[str, Any]:
    """Every metric of ``task`` on ``y_pred``, plus ``n`` and ``undefined`` (metric → why NaN).

    ``y_pred`` for classification: class probabilities (or any scores) ``[n, C]``; for binary
    tasks also a positive-class score ``[n]``. ``y_true`` holds class indices. For regression,
    ``y_pred`` and ``y_true`` are values ``[n]`` (or ``[n, 1]``); with several targets
    (``[n, T]``, T ≥ 2) every metric is the mean over the targets, and ``per_target`` lists each
    target's own metrics (in column order).
    """
    y = np.asarray(y_true)
    p = np.asarray(y_pred, dtype=np.float64)
    if task == "regression" and y.ndim == 2 and y.shape[1] > 1:
        if p.shape != y.shape:
            raise ValueError(f"{y.shape[1]} targets but predictions of shape {p.shape}")
        per = [score("regression", y[:, j], p[:, j]) for j in range(y.shape[1])]
        merged: dict[str, Any] = {"n": int(y.shape[0])}
        for m in ("pearson", "spearman", "mse"):
            merged[m] = float(np.mean([r[m] for r in per]))
        undefined_any = {m: w for r in per for m, w in r.get("undefined", {}).items()}
        if undefined_any:
            merged["undefined"] = undefined_any
        merged["per_target"] = per
        return merged
    out: dict[str, Any] = {"n": int(y.reshape(-1).size)}
    undefined: dict[str, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn / scipy warn about cases handled here
        if task == "regression":
            y, p = _corr_inputs(y, p)
            why = _why_corr_undefined(y, p)
            out["pearson"], out["spearman"] = pearson(y, p), spearman(y, p)
            if why:
                undefined["pearson"] = undefined["spearman"] = why
            finite = y.size > 0 and bool(np.all(np.isfinite(p)))
            out["mse"] = float(np.mean((y - p) ** 2)) if finite else NAN
            if not finite:
                undefined["mse"] = "non-finite predictions" if y.size else "no samples"
        elif task == "classification":
            y = y.reshape(-1).astype(np.int64)
            binary = p.ndim == 1 or p.shape[1] <= 2
            if p.ndim == 1:
                p = np.stack([1.0 - p, p], axis=1)
            if p.ndim != 2 or len(p) != len(y):
                raise ValueError(f"{len(y)} labels but predictions of shape {p.shape}")
            out["accuracy"] = accuracy(y, p)
            if math.isnan(out["accuracy"]):
                undefined["accuracy"] = "non-finite predictions" if y.size else "no samples"
            if binary:
                pos = p[:, -1]
                why = _why_binary_undefined(y, pos)
                out["auroc"], out["aupr"] = auroc(y, pos), aupr(y, pos)
                if why:
                    undefined["auroc"] = undefined["aupr"] = why
            else:
                out["auroc"], why = _macro_auroc(y, p) if y.size else (NAN, "no samples")
                if why:
                    undefined["auroc"] = why
        else:
            raise ValueError(f"unknown task {task!r} (classification, regression)")
    if undefined:
        out["undefined"] = undefined
    return out


def mean_sd(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (ddof 1) and count of the finite ``values``.

    Non-finite values (failed runs) are left out, and ``n`` says how many were kept. With one
    value the sd is 0.0 (no spread measured: read it with ``n``); with none, ``(nan, nan, 0)``.
    An empty input is an error.
    """
    arr = np.asarray(list(values), dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError("mean_sd needs at least one value")
    kept = arr[np.isfinite(arr)]
    n = int(kept.size)
    if n == 0:
        return NAN, NAN, 0
    sd = float(np.std(kept, ddof=1)) if n > 1 else 0.0
    return float(np.mean(kept)), sd, n
