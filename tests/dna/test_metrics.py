"""DNA metrics against hand-computed values, and their behaviour on degenerate inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from archlab.dna.metrics import accuracy, aupr, auroc, mean_sd, pearson, score, spearman


def test_auroc_hand_computed() -> None:
    # positives {0.8, 0.4}, negatives {0.6, 0.2}: pairs (0.8>0.6, 0.8>0.2, 0.4<0.6, 0.4>0.2) → 3/4
    assert auroc(np.array([1, 0, 1, 0]), np.array([0.8, 0.6, 0.4, 0.2])) == pytest.approx(0.75)
    # a tie counts one half: positive 0.5 vs negative 0.5 → 0.5
    assert auroc(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(0.5)


def test_aupr_hand_computed() -> None:
    # ranked 0.8(+) 0.6(-) 0.4(+) 0.2(-): precision at the two positives 1 and 2/3 → AP = (1 + 2/3) / 2
    assert aupr(np.array([1, 0, 1, 0]), np.array([0.8, 0.6, 0.4, 0.2])) == pytest.approx(5 / 6)


def test_accuracy_labels_and_scores() -> None:
    y = np.array([0, 1, 2, 1])
    assert accuracy(y, np.array([0, 1, 1, 1])) == pytest.approx(0.75)
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.5, 0.4, 0.1]])
    assert accuracy(y, probs) == pytest.approx(0.75)


def test_correlations_hand_computed() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.0, 3.0, 2.0, 4.0])
    # deviations (-1.5 -.5 .5 1.5) and (-1.5 .5 -.5 1.5): cov 4.0, both sums of squares 5 → 0.8
    assert pearson(y, p) == pytest.approx(0.8)
    # ranks equal the values here, so Spearman is the same number
    assert spearman(y, p) == pytest.approx(0.8)
    assert spearman(y, p**3) == pytest.approx(0.8)  # rank-based: a monotone map changes nothing


def test_score_binary() -> None:
    y = np.array([1, 0, 1, 0])
    probs = np.array([[0.2, 0.8], [0.4, 0.6], [0.6, 0.4], [0.8, 0.2]])
    s = score("classification", y, probs)
    assert s["auroc"] == pytest.approx(0.75)
    assert s["aupr"] == pytest.approx(5 / 6)
    assert s["accuracy"] == pytest.approx(0.5)
    assert s["n"] == 4
    assert "undefined" not in s
    # a positive-class score vector gives the same numbers
    assert score("classification", y, probs[:, 1])["auroc"] == pytest.approx(0.75)


def test_score_multiclass_macro_auroc() -> None:
    y = np.array([0, 1, 2, 2])
    probs = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]])
    s = score("classification", y, probs)
    assert s["accuracy"] == pytest.approx(0.75)
    # class 0: pos 0.8 vs negs .1 .1 .6 → 1; class 1: pos .8 vs .1 .1 .3 → 1;
    # class 2: pos .8, .1 vs negs .1 .1 → (1 + 1 + .5 + .5) / 4 = .75  → macro (1 + 1 + .75) / 3
    assert s["auroc"] == pytest.approx(2.75 / 3)
    assert "aupr" not in s


def test_score_regression() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    s = score("regression", y, np.array([1.0, 3.0, 2.0, 4.0]))
    assert s["pearson"] == pytest.approx(0.8)
    assert s["spearman"] == pytest.approx(0.8)
    assert s["mse"] == pytest.approx(0.5)


def test_constant_predictions_do_not_crash() -> None:
    y = np.array([0, 1, 0, 1])
    s = score("classification", y, np.full((4, 2), 0.5))
    assert s["auroc"] == pytest.approx(0.5)  # every pair is a tie
    assert s["aupr"] == pytest.approx(0.5)  # the positive fraction
    r = score("regression", np.array([1.0, 2.0, 3.0]), np.zeros(3))
    assert math.isnan(r["pearson"]) and math.isnan(r["spearman"])
    assert r["undefined"]["pearson"] == "constant prediction"
    assert r["mse"] == pytest.approx(14 / 3)


def test_one_class_and_nonfinite_are_nan_with_reason() -> None:
    s = score("classification", np.array([1, 1, 1]), np.array([0.1, 0.5, 0.9]))
    assert math.isnan(s["auroc"]) and math.isnan(s["aupr"])
    assert s["undefined"]["auroc"] == "y_true holds one class only"
    assert s["accuracy"] == pytest.approx(1 / 3)  # 0.5 is a tie, and ties go to class 0
    bad = score("classification", np.array([0, 1]), np.array([[np.nan, np.nan], [0.2, 0.8]]))
    assert math.isnan(bad["auroc"]) and math.isnan(bad["accuracy"])
    assert bad["undefined"]["auroc"] == "non-finite predictions"
    reg = score("regression", np.array([1.0, 2.0]), np.array([np.inf, 1.0]))
    assert math.isnan(reg["mse"]) and "mse" in reg["undefined"]
    assert math.isnan(score("regression", np.array([1.0]), np.array([1.0]))["pearson"])


def test_mean_sd() -> None:
    mean, sd, n = mean_sd([1.0, 2.0, 3.0])
    assert (mean, n) == (pytest.approx(2.0), 3)
    assert sd == pytest.approx(1.0)  # sample sd: sqrt(((1)² + 0 + (1)²) / 2)
    assert mean_sd([0.7]) == (pytest.approx(0.7), 0.0, 1)
    assert mean_sd([1.0, float("nan"), 3.0]) == (pytest.approx(2.0), pytest.approx(math.sqrt(2)), 2)
    m, s, k = mean_sd([float("nan")])
    assert math.isnan(m) and math.isnan(s) and k == 0
    with pytest.raises(ValueError):
        mean_sd([])
