"""``--soft-mask keep`` (issue 22): soft-masked bases are read upper-cased, as with ``upper``, and
the mask is kept beside the codes so a token model (a mixer) can read it — masked bases become
tokens 5–9 (vocabulary 10), the reverse complement keeps the mask on its base, the CNN is refused
(no case channel), and a set whose classes differ only in masking is learnable with ``keep`` and
not with ``upper``: what the mask alone is worth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from typer.testing import CliRunner

from archlab.cli import app
from archlab.dna.cnn import revcomp_tokens
from archlab.dna.data import encode, lower_case_mask
from archlab.dna.io import load_fasta_classes
from archlab.dna.leakage import regroup_splits

runner = CliRunner()


def _masked_by_class(tmp: Path, n: int = 60, length: int = 80, seed: int = 0) -> tuple[Path, Path]:
    """Two FASTA files of random bases (the same composition); class 'pos' has a lower-case stretch."""
    tmp.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    files = {}
    for name in ("pos", "neg"):
        lines = []
        for i in range(n):
            s = "".join(rng.choice(list("ACGT"), size=length))
            if name == "pos":
                a = int(rng.integers(0, length - 20))
                s = s[:a] + s[a : a + 20].lower() + s[a + 20 :]
            lines += [f">{name}{i}", s]
        files[name] = tmp / f"{name}.fa"
        files[name].write_text("\n".join(lines) + "\n")
    return files["pos"], files["neg"]


def test_mask_marks_the_lower_case_letters_and_padding_is_unmasked() -> None:
    seqs = ["ACgt", "aC"]
    mask = lower_case_mask(seqs, 5)
    assert mask.tolist() == [[False, False, True, True, False], [True, False, False, False, False]]
    codes, _ = encode(seqs, soft_mask="keep", length=5)
    assert codes.tolist() == encode(seqs, soft_mask="upper", length=5)[0].tolist()


def test_loader_keeps_the_mask_and_tokens_offset_masked_bases(tmp_path: Path) -> None:
    pos, neg = _masked_by_class(tmp_path)
    ds = load_fasta_classes({"pos": pos, "neg": neg}, soft_mask="keep")
    assert ds.soft_masked and ds.vocab_size == 10
    sp = ds.splits["train"]
    assert sp.masked is not None and sp.masked.any()
    tokens = sp.tokens()
    np.testing.assert_array_equal(tokens[sp.masked], sp.codes[sp.masked] + 5)
    np.testing.assert_array_equal(tokens[~sp.masked], sp.codes[~sp.masked])
    upper = load_fasta_classes({"pos": pos, "neg": neg})
    assert not upper.soft_masked and upper.vocab_size == 5
    np.testing.assert_array_equal(upper.splits["train"].codes, sp.codes)
    # --dedupe regroups rows with their masks
    again = regroup_splits(ds)
    assert all(s.masked is not None for s in again.splits.values())
    assert sum(int(s.masked.sum()) for s in again.splits.values()) == sum(
        int(s.masked.sum()) for s in ds.splits.values()
    )


def test_reverse_complement_keeps_the_mask_on_its_base() -> None:
    tokens = torch.tensor([[0, 6, 2, 8, 4, 9]])  # A, masked C, G, masked T, N, masked N
    rc = revcomp_tokens(tokens)
    assert rc.tolist() == [[9, 4, 5, 1, 7, 3]]
    assert torch.equal(revcomp_tokens(rc), tokens)


def _split_folder(tmp: Path, n: int) -> Path:
    """train/ and test/ with fresh random sequences each: only the mask tells the classes apart."""
    folder = tmp / "set"
    _masked_by_class(folder / "train", n=n, seed=1)
    _masked_by_class(folder / "test", n=n, seed=2)
    return folder


def test_the_mask_alone_is_learnable_with_keep_only(tmp_path: Path, one_torch_thread: None) -> None:
    folder = _split_folder(tmp_path, 60)
    scores = {}
    for mode in ("keep", "upper"):
        args = ["dna", "train", str(folder), "--model", "lstm", "--set", "width=16", "--set", "pool=max"]
        res = runner.invoke(app, [*args, "--soft-mask", mode, "--steps", "150", "--json"])
        assert res.exit_code == 0, res.output
        scores[mode] = json.loads(res.stdout)["mean"]
    assert scores["keep"] > 0.9 and abs(scores["upper"] - 0.5) < 0.15, scores


def test_the_cnn_is_refused_with_keep(tmp_path: Path) -> None:
    folder = _split_folder(tmp_path, 20)
    res = runner.invoke(
        app, ["dna", "train", str(folder), "--model", "cnn", "--soft-mask", "keep", "--steps", "2"]
    )
    assert res.exit_code != 0
    assert "--soft-mask" in res.output and "no case channel" in res.output and "upper, n" in res.output
