"""Predictions: every rule applied to a (probe, model, length) cell, combined into one verdict.

:func:`predict` is the entry point: ``predict(probe, model_cfg, lengths)`` → one
:class:`Prediction` per length. The verdict is decided by the first applicable impossibility
rule, else the first applicable expressibility rule, else ``unknown``; every other applicable rule
is kept as a note (``notes``), and an impossibility that meets an expressibility result is
recorded as a ``conflict`` — a bug in the rules, which the tests rule out for every known case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from archlab.config import ModelConfig
from archlab.models.base import TRANSITIONS
from archlab.models.model import ModelFeatures, model_features
from archlab.probes import Probe
from archlab.theory.facts import ProbeFacts, probe_facts
from archlab.theory.rules import RULES, Outcome, Rule

__all__ = ["Prediction", "config_label", "predict", "predict_one"]

_DEFAULTS = ModelConfig().model_dump()


@dataclass(frozen=True)
class Prediction:
    """What theory says about one (probe, model, length) cell."""

    probe: str
    model: str
    length: int
    verdict: str  # impossible | expressible | unknown
    rule: str  # deciding rule id ("—" when none applies)
    citation: str
    reason: str
    #: "length-gen": a statement about all lengths, checked beyond training; "length": a bound at
    #: this length; "asymptotic": a failure at some large enough length only (a success at this
    #: length is consistent with it); "none": no verdict to check
    scope: str = "none"
    notes: tuple[str, ...] = field(default_factory=tuple)
    conflict: str | None = None
    #: capacity rules: the largest length at which the task is still possible (else None)
    max_length: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "model": self.model,
            "length": self.length,
            "verdict": self.verdict,
            "rule": self.rule,
            "citation": self.citation,
            "reason": self.reason,
            "scope": self.scope,
            "notes": list(self.notes),
            "conflict": self.conflict,
            "max_length": self.max_length,
        }


def config_label(cfg: ModelConfig) -> str:
    """``mixer(option=value, …)`` with the fields that differ from the defaults (init seed aside)."""
    data = cfg.model_dump()
    diff = [
        f"{k}={v}"
        for k, v in data.items()
        if k not in ("mixer", "init_seed") and v != _DEFAULTS.get(k) and v is not None
    ]
    return cfg.mixer + (f"({', '.join(diff)})" if diff else "")


def predict_one(facts: ProbeFacts, feats: ModelFeatures, length: int, model: str = "") -> Prediction:
    """Apply every rule to one cell and combine the outcomes (see the module docstring)."""
    model = model or feats.mixer
    if feats.transition not in TRANSITIONS:
        why = (
            "the mixer declares no theory features (a plugin without transition()): no rule can be applied"
            if feats.transition == "undeclared"
            else f"unknown transition class {feats.transition!r}: no rule can be applied"
        )
        return Prediction(facts.probe, model, length, "unknown", "—", "", why)
    hits: list[tuple[Rule, Outcome]] = []
    for rule in RULES:
        out = rule.check(facts, feats, length)
        if out is not None:
            hits.append((rule, out))
    impossible = [h for h in hits if h[1].verdict == "impossible"]
    expressible = [h for h in hits if h[1].verdict == "expressible"]
    conflict = None
    if impossible:
        rule, out = impossible[0]
        if expressible:
            conflict = f"{rule.id} (impossible) vs {', '.join(r.id for r, _ in expressible)} (expressible)"
    elif expressible:
        rule, out = expressible[0]
    elif hits:
        rule, out = hits[0]
    else:
        what = f"DNA level {facts.name}" if facts.level == "dna" else f"a {facts.level} probe ({facts.name})"
        return Prediction(
            facts.probe, model, length, "unknown", "—", "",
            f"no rule covers a {feats.transition} model on {what}",
        )  # fmt: skip
    notes = tuple(f"{r.id}: {o.reason}" for r, o in hits if r is not rule)
    return Prediction(
        facts.probe, model, length, out.verdict, rule.id, rule.citation, out.reason,
        out.scope if out.verdict != "unknown" else "none", notes, conflict, out.max_length,
    )  # fmt: skip


def predict(
    probe: Probe, cfg: ModelConfig, lengths: Sequence[int], *, facts: ProbeFacts | None = None
) -> list[Prediction]:
    """One prediction per length for ``cfg`` on ``probe``."""
    facts = facts if facts is not None else probe_facts(probe)
    label = config_label(cfg)
    longest = max(lengths) if lengths else 1
    feats = model_features(cfg, probe.vocab_size, probe.n_classes, seq_len=longest)
    return [predict_one(facts, feats, int(n), label) for n in lengths]
