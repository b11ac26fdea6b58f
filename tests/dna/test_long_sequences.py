"""Long DNA sequences from the CLI (issue 22): ``--set chunk_len=N`` trains and evaluates a
recurrent mixer chunk by chunk on sequences longer than a chunk, records the setting, and a
mixer that cannot chunk is refused with the reason and the mixers that can."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from archlab.cli import app

runner = CliRunner()


def _long_tsv(path: Path, n: int = 40, length: int = 3000) -> Path:
    rng = np.random.default_rng(0)
    lines = ["sequence\tlabel"]
    for i in range(n):
        s = list(rng.choice(list("ACGT"), size=length))
        if i % 2:
            p = int(rng.integers(0, length - 8))
            s[p : p + 8] = list("GATAAGGC")
        lines.append("".join(s) + f"\t{i % 2}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_chunked_training_from_the_cli(tmp_path: Path, one_torch_thread: None) -> None:
    path = str(_long_tsv(tmp_path / "long.tsv"))
    args = ["dna", "train", path, "--model", "mamba", "--set", "chunk_len=700", "--set", "width=8"]
    res = runner.invoke(app, [*args, "--steps", "2", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["model"]["config"]["chunk_len"] == 700
    assert out["statuses"] == ["ok"]
    assert 0.0 <= out["mean"] <= 1.0  # test AUROC, evaluated chunk by chunk


def test_attention_cannot_chunk(tmp_path: Path) -> None:
    path = str(_long_tsv(tmp_path / "long.tsv", n=20, length=200))
    res = runner.invoke(app, ["dna", "train", path, "--model", "attention", "--set", "chunk_len=64"])
    assert res.exit_code != 0
    assert "chunk_len" in res.output and "KV cache" in res.output and "lstm" in res.output


def test_long_sequences_run_whole_get_the_chunk_len_hint() -> None:
    from types import SimpleNamespace

    from archlab.cli_dna import _long_sequence_hint
    from archlab.config import ModelConfig

    ds = SimpleNamespace(splits={"train": SimpleNamespace(codes=np.zeros((2, 20_000), dtype=np.uint8))})
    assert "chunk_len=4096" in (_long_sequence_hint(ModelConfig(mixer="lstm", head="pooled"), ds) or "")
    for quiet in (ModelConfig(mixer="lstm", chunk_len=512), ModelConfig(mixer="attention"),
                  ModelConfig(mixer="lstm", fp_iters=2)):  # fmt: skip
        assert _long_sequence_hint(quiet, ds) is None
    short = SimpleNamespace(splits={"train": SimpleNamespace(codes=np.zeros((2, 1000), dtype=np.uint8))})
    assert _long_sequence_hint(ModelConfig(mixer="lstm"), short) is None
