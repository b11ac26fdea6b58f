"""The k-mer baseline is exactly a scikit-learn pipeline written here (issue 22): character
n-gram counts for n = 1…6 over the ACGT vocabulary (windows touching N or padding not counted),
one L2 normalisation of the whole concatenated vector, and a logistic regression whose C is
chosen on valid (13 values, 1e-2…1e4) and refitted on train + valid."""

from __future__ import annotations

import itertools

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer

from archlab.dna.data import DnaDataset, Split, decode, encode
from archlab.dna.linear import KMER_CS, fit_kmer, kmer_features

VOCAB = ["".join(p) for k in range(1, 7) for p in itertools.product("ACGT", repeat=k)]


def _pipeline(c: float = 1.0) -> object:
    counts = CountVectorizer(analyzer="char", ngram_range=(1, 6), vocabulary=VOCAB, lowercase=False)
    return make_pipeline(
        counts, Normalizer(norm="l2"), LogisticRegression(C=c, max_iter=2000, random_state=0)
    )


def _split(seqs: list[str], y: np.ndarray) -> Split:
    codes, lengths = encode(seqs)
    return Split(codes, y, lengths)


def _dataset(seed: int = 0) -> DnaDataset:
    rng = np.random.default_rng(seed)

    def rows(n: int) -> tuple[list[str], np.ndarray]:
        y = rng.integers(0, 2, n)
        seqs = []
        for label in y:
            s = list(rng.choice(list("ACGT"), size=int(rng.integers(60, 100))))
            if label and rng.random() < 0.7:  # a weak motif: the classes overlap
                j = int(rng.integers(0, len(s) - 6))
                s[j : j + 6] = list("CACGTG")
            if rng.random() < 0.2:
                s[int(rng.integers(0, len(s)))] = "N"
            seqs.append("".join(s))
        return seqs, y

    splits = {name: _split(*rows(n)) for name, n in (("train", 300), ("valid", 100), ("test", 200))}
    return DnaDataset("toy", "classification", splits, ["neg", "pos"])


def test_features_are_the_sklearn_char_ngram_pipeline() -> None:
    sp = _dataset().splits["train"]
    texts = decode(sp.codes, sp.lengths)
    expect = make_pipeline(
        CountVectorizer(analyzer="char", ngram_range=(1, 6), vocabulary=VOCAB, lowercase=False), Normalizer()
    ).fit_transform(texts)
    np.testing.assert_allclose(kmer_features(sp.codes, sp.lengths), expect.toarray(), rtol=1e-5, atol=1e-7)


def test_fit_kmer_is_the_pipeline_with_c_chosen_on_valid() -> None:
    ds = _dataset()
    got = fit_kmer(ds)
    tr, va, te = (ds.splits[s] for s in ("train", "valid", "test"))
    text = {s: decode(sp.codes, sp.lengths) for s, sp in (("train", tr), ("valid", va), ("test", te))}
    aucs = {}
    for c in KMER_CS:
        proba = _pipeline(c).fit(text["train"], tr.y).predict_proba(text["valid"])
        aucs[float(c)] = roc_auc_score(va.y, proba[:, 1])
    best = max(aucs, key=lambda c: (aucs[c], -c))  # the first of equal scores, as fit_kmer
    assert got["C"] == best
    model = _pipeline(best).fit(text["train"] + text["valid"], np.concatenate([tr.y, va.y]))
    auroc = roc_auc_score(te.y, model.predict_proba(text["test"])[:, 1])
    # archlab's features are float32, the pipeline's float64, and lbfgs stops (tol 1e-4) at
    # slightly different weights: 4e-4 to 3.2e-3 AUROC apart on 200 test rows (1 or 2 threads)
    assert abs(got["auroc"] - auroc) < 1e-2
