"""Theory for the DNA grammar levels: level facts, the DNA rules (R19–R24), the CNN's receptive
field against a measurement, ``archlab theory predict`` on a level, and ``check_records`` on
DNA run records."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from archlab.cli import app
from archlab.config import ModelConfig
from archlab.dna.cnn import CNNConfig, build_cnn, cnn_features, cnn_receptive_field
from archlab.dna.grammar import get_level
from archlab.dna.motifs import DEFAULT_MOTIFS, get_motif
from archlab.errors import ConfigError
from archlab.theory import DNA_SOLVED, check_records, level_facts, load_records, predict_level, predict_one
from archlab.theory.dna import dna_features, level_label
from archlab.theory.rules import pairing_auroc_bound

runner = CliRunner()
IMP, E, U = "impossible", "expressible", "unknown"
W = [get_motif(m).width for m in DEFAULT_MOTIFS[:4]]  # motif widths A, B, C, D
#: a conv stack whose receptive field is 15: 1 + (3 − 1)(2³ − 1)
CONV15 = {"mixer": "conv", "conv_kernel": 3, "conv_depth": 3, "layers": 1}


# -- facts ----------------------------------------------------------------------------------------


def test_spans_follow_the_parameters() -> None:
    assert level_facts("D0", 500).span == W[0]
    assert level_facts("D0", 500, motifs="MA0050.2").span == get_motif("MA0050.2").width
    d2 = level_facts("D2", 500)
    assert d2.span == W[0] + 10 + 1 + W[1] and d2.site_distance == W[0] + 11
    assert level_facts("D2", 500, gap=20).span == W[0] + 21 + W[1]
    assert level_facts("D3", 500).span == max(W[:2])
    d5 = level_facts("D5", 500, distance=200)
    assert (d5.span, d5.site_distance, d5.state_bits_needed) == (212, 200, 400)
    assert d5.extra["blind_window"] == 200 - 12 + 1
    assert level_facts("D5", 800).site_distance == 400  # default: half the length
    assert level_facts("D5", 800, block=20).span == 420
    d6 = level_facts("D6", 700)
    assert d6.span == 700  # module order is global
    assert d6.extra["module_spans"] == [W[0] + 8 + 1 + W[1], W[2] + 14 + 1 + W[3]]
    assert level_facts("D6", 700, gap2=30).extra["module_spans"][1] == W[2] + 31 + W[3]


def test_counting_and_periodicity_facts() -> None:
    d1 = level_facts("D1", 500)
    assert d1.extra["count_negative"] == 2 and d1.extra["count_positive"] == [3, 4]
    assert d1.state_bits_needed == pytest.approx(2.0)  # log2(k + 1), k = 3
    d1b = level_facts("D1", 500, k=5, max_extra=2)
    assert d1b.extra["count_positive"] == [5, 7] and d1b.state_bits_needed == pytest.approx(math.log2(6))
    d4 = level_facts("D4", 500)
    assert d4.period == 10.5
    far = max(*d4.extra["in_phase"], *d4.extra["out_of_phase"])
    assert d4.span == far + W[1] and d4.site_distance == far
    assert all(min(abs(s - 10.5 * j) for j in range(1, 7)) <= 1.5 for s in d4.extra["in_phase"])
    assert level_facts("D4", 500, max_turns=8).span > d4.span


def test_d7_ceiling_and_labels() -> None:
    assert level_facts("D7", 500).extra["pearson_ceiling"] == pytest.approx(1 / math.sqrt(1.09))
    assert level_label("D5") == "D5" and level_label("D5", {"distance": 200}) == "D5(distance=200)"
    assert level_label("D0", {"motifs": list(DEFAULT_MOTIFS[:1]), "data_dir": "/x"}) == "D0"
    with pytest.raises(ConfigError):
        level_facts("D5", 500, distanse=3)
    with pytest.raises(ConfigError):
        level_facts("D5", 300, distance=290)  # the pair does not fit


# -- rules ----------------------------------------------------------------------------------------


def _one(level: str, spec: Any, length: int = 500, **params: Any) -> Any:
    return predict_level(level, spec, [length], **params)[0]


def test_conv_receptive_field_on_d5() -> None:
    last = ModelConfig(**CONV15, pool="last")
    assert dna_features(last, 500).receptive_field == 15
    pred = _one("D5", last, distance=200)
    assert (pred.verdict, pred.rule, pred.scope) == (IMP, "R19", "length")
    assert _one("D5", last.model_copy(update={"rc": "none"}), distance=200).verdict == IMP
    # a pair closer than the window: both blocks can be in view, so no verdict
    assert _one("D5", last, distance=20).verdict == U
    assert _one("D5", last, distance=200, background="markov").verdict == U  # not i.i.d.
    # a global pool combines features from everywhere: the window argument does not decide
    pooled = _one("D5", ModelConfig(**CONV15), distance=200)
    assert (pooled.verdict, pooled.rule) == (U, "R19") and "global mean pool" in pooled.reason
    assert _one("D5", CNNConfig(), distance=200).verdict == U
    assert _one("D5", ModelConfig(mixer="lstm"), distance=200).verdict != IMP


def test_no_rule_contradicts_itself_on_dna() -> None:
    specs = [ModelConfig(**CONV15), ModelConfig(**CONV15, pool="last"), ModelConfig(mixer="lstm"),
             ModelConfig(mixer="diag_rnn"), ModelConfig(mixer="attention"), CNNConfig()]  # fmt: skip
    for level in ("D0", "D1", "D2", "D3", "D4", "D5", "D6", "D7"):
        for spec in specs:
            pred = _one(level, spec, 1000)
            assert pred.conflict is None and pred.verdict in (IMP, E, U)
            if pred.verdict != U:
                assert pred.rule.startswith("R") and pred.citation


def test_cnn_presence_construction() -> None:
    pred = _one("D0", CNNConfig())
    assert (pred.verdict, pred.rule) == (E, "R20")
    wide = _one("D0", CNNConfig(), motifs="MA0050.2")  # IRF1: 21 bp > kernel 19
    assert wide.verdict == U
    assert _one("D0", CNNConfig(kernel=21), motifs="MA0050.2").verdict == E


def test_streaming_state_bound_on_d5() -> None:
    assert pairing_auroc_bound(500, 200, 12, bits=5, entropy=2.0) < DNA_SOLVED
    assert pairing_auroc_bound(500, 200, 12, bits=10_000, entropy=2.0) == 1.0
    values = [pairing_auroc_bound(16_000, 8000, 12, bits=b, entropy=2.0) for b in (64, 256, 1024)]
    assert values == sorted(values)
    tiny = ModelConfig(mixer="lstm", width=4, layers=1, pool="last", rc="none")  # 8 floats: 256 bits
    pred = _one("D5", tiny, 16_000)
    assert (pred.verdict, pred.rule) == (IMP, "R22") and "256 bits" in pred.reason
    # evaluated on both strands: a second pass the bound does not cover
    assert _one("D5", tiny.model_copy(update={"rc": "both"}), 16_000).verdict == U
    assert _one("D5", ModelConfig(mixer="lstm", rc="none"), 16_000).verdict == U
    # the counter of D1 and the flags of other levels are far below any model's state
    d1 = _one("D1", ModelConfig(mixer="lstm"))
    assert d1.verdict == U and "log2(k+1)" in d1.reason


def test_noise_ceiling_holds_for_every_model() -> None:
    for spec in (CNNConfig(), ModelConfig(mixer="lstm"), ModelConfig(mixer="attention")):
        pred = _one("D7", spec, noise=0.6)
        assert (pred.verdict, pred.rule) == (IMP, "R24")
        assert _one("D7", spec).verdict != IMP  # noise 0.3: ceiling 0.958


def test_rules_skip_dna_facts_of_other_kinds() -> None:
    feats = dna_features(ModelConfig(mixer="diag_rnn", eig_range="unit"), 500)
    pred = predict_one(level_facts("D3", 500), feats, 500)
    assert pred.verdict == U  # no group rule (R1 …) fires on a DNA level
    gone = dataclasses.replace(feats, transition="quantum")
    assert predict_one(level_facts("D3", 500), gone, 500).verdict == U


# -- the CNN's receptive field, measured ----------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize(
    "cfg",
    [
        CNNConfig(),
        CNNConfig(kernel=9, pool=2, kernel2=5, pool2=3),
        CNNConfig(kernel=8, pool=3, kernel2=4, pool2=1),
    ],
)
def test_cnn_receptive_field_matches_a_measurement(cfg: CNNConfig) -> None:
    """Change one base at a time (every position, every other base, a few backgrounds) and record
    which positions of the block-2 feature map move: the inputs one position depends on span
    exactly the formula's width, never more."""
    assert cnn_features(cfg).receptive_field == cnn_receptive_field(cfg)
    net = build_cnn(cfg, 2, seed=0).eval()
    length, rng = 160, np.random.default_rng(0)
    depends: torch.Tensor | None = None
    with torch.no_grad():
        for _ in range(4):
            base = torch.from_numpy(rng.integers(0, 4, length)).long()
            rows, where = [base], []
            for i in range(length):
                for b in range(4):
                    if b != int(base[i]):
                        row = base.clone()
                        row[i] = b
                        rows.append(row)
                        where.append(i)
            fmap = net.block2(net.block1(net.one_hot(torch.stack(rows))))  # [B, C, L2]
            moved = (fmap[1:] - fmap[:1]).abs().amax(1) > 1e-6 * (1 + fmap[:1].abs().amax(1))
            if depends is None:
                depends = torch.zeros(length, fmap.shape[-1], dtype=torch.bool)
            for k, i in enumerate(where):
                depends[i] |= moved[k]
    assert depends is not None
    spans = []
    for j in range(depends.shape[1]):
        inputs = torch.nonzero(depends[:, j]).flatten()
        if len(inputs):
            spans.append(int(inputs.max() - inputs.min() + 1))
    assert max(spans) == cnn_receptive_field(cfg)


def test_cnn_default_receptive_field() -> None:
    assert cnn_receptive_field(CNNConfig()) == 19 - 1 + 4 * (7 + 4 - 1) == 58


# -- command line ---------------------------------------------------------------------------------


def _cli(*args: str) -> Any:
    r = runner.invoke(app, ["theory", "predict", *args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_cli_predict_dna_level() -> None:
    conv15 = ["--set", "conv_kernel=3", "--set", "conv_depth=3", "--set", "layers=1"]
    rows = _cli("--probe", "D5", "--model", "conv", *conv15, "--set", "pool=last", "--length", "500",
                "--param", "distance=200")  # fmt: skip
    assert len(rows) == 1 and (rows[0]["verdict"], rows[0]["rule"]) == (IMP, "R19")
    assert rows[0]["probe"] == "D5(distance=200)" and rows[0]["length"] == 500
    (pooled,) = _cli("--probe", "D5", "--model", "conv", *conv15, "--param", "distance=200")
    assert pooled["verdict"] == U and pooled["length"] == 500  # the DNA default length
    (cnn,) = _cli("--probe", "D0", "--model", "cnn", "--set", "kernel=21")
    assert cnn["verdict"] == E and cnn["name"] == "cnn(kernel=21)"
    rows = _cli("--probes", "D0,parity", "--models", "cnn,lstm", "--lengths", "500")
    assert {(r["probe"], r["name"]) for r in rows} == {("D0", "cnn"), ("D0", "lstm"), ("parity", "lstm")}
    r = runner.invoke(app, ["theory", "predict", "--probe", "parity", "--model", "cnn"])
    assert r.exit_code == 2 and "DNA" in r.output


# -- agreement --------------------------------------------------------------------------------------


def _record(
    level: str, model: Any, value: float, seed: int = 0, length: int = 500, **params: Any
) -> dict[str, Any]:
    """A DNA run record as ``archlab.dna.train.train_dna`` writes it (the keys check reads)."""
    resolved = {
        k: list(v) if isinstance(v, tuple) else v for k, v in get_level(level).resolve(**params).items()
    }
    if isinstance(model, CNNConfig):
        spec = {"kind": "cnn", "config": model.model_dump(mode="json")}
    else:
        cfg = model.model_copy(update={"head": "pooled", "init_seed": seed})
        spec = {"kind": "sequence_model", "config": cfg.model_dump(mode="json")}
    metric = "pearson" if level == "D7" else "auroc"
    return {
        "dataset": f"synthetic/{level}", "task": "classification", "model": spec, "seed": seed,
        "metric": metric, "test": {metric: value}, "status": "ok",
        "level": {"name": level, "length": length, "params": resolved}, "test_long": [],
    }  # fmt: skip


def test_check_records_on_dna_runs() -> None:
    last = ModelConfig(**CONV15, pool="last")
    recs = [
        _record("D5", last, 0.55, 0, distance=200),
        _record("D5", last, 0.93, 1, distance=200),  # best of two seeds ≥ 0.9: a violation
        _record("D5", last, 0.52, 0, length=600, distance=200),  # agree-impossible
        _record("D0", CNNConfig(), 0.70, 0),
        _record("D0", CNNConfig(), 0.80, 1),  # expressible, best 0.80: not learned
        _record("D0", CNNConfig(kernel=21), 0.99, 0),  # agree-solved
        _record("D3", ModelConfig(mixer="lstm"), 0.97, 0),  # no verdict
        {**_record("D0", CNNConfig(), 0.9), "level": None, "dataset": "koo/IRF1"},
        {**_record("D0", CNNConfig(), 0.9), "status": "diverged"},
    ]
    recs[3]["test_long"] = [
        {"name": "D0@2000", "length": 2000, "params": {}, "metric": "auroc", "value": 0.95}
    ]
    rep = check_records(recs)
    cls = {(c.prediction.probe, c.prediction.model, c.prediction.length): c.cls for c in rep.cells}
    conv = "conv(layers=1, pool=last, conv_kernel=3, conv_depth=3)"
    assert set(cls) >= {("D5(distance=200)", conv, 500), ("D0", "cnn", 500)}
    assert cls[("D5(distance=200)", conv, 500)] == "violation"
    assert cls[("D5(distance=200)", conv, 600)] == "agree-impossible"
    assert cls[("D0", "cnn", 500)] == "not-learned"
    assert cls[("D0", "cnn", 2000)] == "agree-solved"  # the test-long cell
    assert cls[("D0", "cnn(kernel=21)", 500)] == "agree-solved"
    assert cls[("D3", "lstm", 500)] == "unknown"
    violation = next(c for c in rep.cells if c.cls == "violation")
    assert violation.measurement.aggregate == "best" and violation.measurement.best == 0.93
    assert "auroc best 0.930" in rep.to_dict()["violations"][0]["explanation"]
    reasons = [s["reason"] for s in rep.skipped]
    assert len(reasons) == 2 and any("level" in r for r in reasons) and any("diverged" in r for r in reasons)
    assert rep.dna_threshold == DNA_SOLVED and rep.metric == "auroc"


def test_load_and_check_dna_folder(tmp_path: Path) -> None:
    last = ModelConfig(**CONV15, pool="last")
    for seed, value in enumerate((0.5, 0.95)):
        run = tmp_path / f"seed_{seed}"
        run.mkdir()
        (run / "result.json").write_text(json.dumps(_record("D5", last, value, seed, distance=200)))
    assert load_records([tmp_path]) == []  # probe readers are not handed DNA records
    assert len(load_records([tmp_path], dna=True)) == 2
    r = runner.invoke(app, ["theory", "check", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["counts"]["violation"] == 1 and report["cells"][0]["n_seeds"] == 2
    table = runner.invoke(app, ["theory", "check", str(tmp_path)])
    assert table.exit_code == 0 and "VIOLATION" in table.stdout


def test_theory_does_not_import_training_search_or_analysis() -> None:
    code = (
        "import sys, archlab.theory, archlab.theory.dna; "
        "bad = [m for m in sys.modules if m.startswith(('archlab.dna.train', 'archlab.search', "
        "'archlab.analysis'))]; print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
