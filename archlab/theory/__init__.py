"""The theory engine: probe facts, prediction rules with citations, agreement with measurements,
and spectral checks of trained models (THEORY.md).

* :func:`probe_facts` — what the rules know about a probe (sympy group facts, information bits);
* :data:`RULES` — R1–R24, each a statement, a citation, assumptions and a check function;
* :func:`predict` — one :class:`Prediction` per (probe, model, length);
* :func:`check_records` / :func:`agreement` — agreement classes for measured results;
* :func:`level_facts` / :func:`predict_level` — the same for the synthetic DNA grammar levels
  (:mod:`archlab.theory.dna`; rules R19–R24).
"""

from archlab.theory.agreement import (
    CLASSES,
    AgreementReport,
    Cell,
    Measurement,
    agreement,
    check_records,
    classify,
    load_records,
    measurements_from_records,
)
from archlab.theory.dna import level_facts, predict_level
from archlab.theory.facts import ProbeFacts, probe_facts
from archlab.theory.predict import Prediction, config_label, predict, predict_one
from archlab.theory.rules import DNA_SOLVED, RULES, Rule, rule_by_id

__all__ = [
    "CLASSES",
    "DNA_SOLVED",
    "RULES",
    "AgreementReport",
    "Cell",
    "Measurement",
    "Prediction",
    "ProbeFacts",
    "Rule",
    "agreement",
    "check_records",
    "classify",
    "config_label",
    "level_facts",
    "load_records",
    "measurements_from_records",
    "predict",
    "predict_level",
    "predict_one",
    "probe_facts",
    "rule_by_id",
]
