"""The prediction rules: (probe facts, model features, length) → impossible / expressible / unknown.

One :class:`Rule` per row of THEORY.md §1 (R1–R17) plus R18 (a convolution's receptive field).
Each rule has a statement, a citation, its assumptions and a ``check`` function that returns an
:class:`Outcome` when the rule applies to the (probe, model, length) cell and None otherwise.
:func:`predict_one` combines them: an applicable *impossibility* decides first, then an
*expressibility* result; otherwise the verdict is ``unknown``. Empirical rules (R8, R11, R15, R16,
R17) never decide a verdict: they attach a note saying what experiments found.

Scope. An impossibility such as "a diagonal RNN cannot solve parity" is a statement about *all
lengths*: any finite length can be solved by some large enough model, so it is checked against
measurements at lengths beyond training (``scope = "length-gen"``). Capacity rules (R13, R14, R18)
bound what a given model can do at *this* length, in or out of the training range
(``scope = "length"``). Expressibility is about the architecture, not about training: a model that
fails an expressible task is *not learned*, not a theory violation.

Model features outside a rule's assumptions make the rule not apply, so an unfamiliar model gets
``unknown``, never a guess: the impossibility rules for linear RNNs are applied only to plain
stacks (no hierarchy levels; fixed-point models are handled by R10 and by their iteration cap).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from archlab.models.model import ModelFeatures
from archlab.theory.facts import ProbeFacts

__all__ = ["RULES", "Outcome", "Rule", "rule_by_id"]

Verdict = Literal["impossible", "expressible", "unknown"]
Scope = Literal["length-gen", "length", "none"]


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reason: str
    scope: Scope = "length-gen"
    #: capacity rules: the largest length at which the task is still possible for this model
    max_length: int | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    kind: Literal["impossibility", "expressibility", "capacity", "empirical"]
    architecture: str
    probe: str
    statement: str
    citation: str
    assumptions: str
    check: Callable[[ProbeFacts, ModelFeatures, int], Outcome | None]


# -- model predicates ---------------------------------------------------------------------------

LINEAR_DIAGONAL = ("diagonal_real", "diagonal_complex")


def plain(m: ModelFeatures) -> bool:
    """A plain stack: no hierarchy levels and no fixed-point iteration (the linear-RNN theorems'
    setting; weight-tied depth and pruning gates keep the transition class)."""
    return m.hier_levels == 1 and m.fp_iters is None


def fp_cap(m: ModelFeatures) -> int | None:
    """The iteration cap a fixed-point model evaluates with."""
    return m.fp_eval_iters if m.fp_iters is not None else None


def base_is(m: ModelFeatures, transition: str, *eig: str) -> bool:
    return m.transition == transition and (not eig or m.eig_range in eig)


def nonneg_real(m: ModelFeatures) -> bool:
    """Transitions with only real eigenvalues in [0, 1]: unit diagonal gates, DeltaNet β ∈ [0,1]
    with one factor (a product of several PSD factors is R6's case)."""
    return base_is(m, "diagonal_real", "unit") or (
        base_is(m, "householder_product", "unit") and m.householder_factors == 1
    )


def real_only(m: ModelFeatures) -> bool:
    """Only real eigenvalues: real diagonal gates (any sign), or one symmetric Householder factor."""
    return base_is(m, "diagonal_real") or (base_is(m, "householder_product") and m.householder_factors == 1)


def fixed_depth_tc0(m: ModelFeatures, length: int) -> str | None:
    """Why the model is a fixed-depth, log-precision circuit of the kind Merrill et al. bound
    (R7), or None. A fixed-point model whose cap is below the length is a stack of ``cap``
    diagonal scans (or Jacobi sweeps) — fixed depth as the length grows."""
    if m.hier_levels != 1:
        return None
    if m.fp_iters is not None:
        cap = fp_cap(m)
        if m.transition in LINEAR_DIAGONAL and cap is not None and cap < length:
            return (
                f"a fixed-point model capped at {cap} iterations < length {length} "
                f"is {cap} stacked diagonal scans"
            )
        return None
    if m.transition in LINEAR_DIAGONAL:
        return f"a {m.layers}-layer diagonal linear RNN (simultaneously diagonalisable transitions)"
    if m.transition == "attention":
        return f"a {m.layers}-layer transformer"
    if m.transition == "convolution":
        return f"a {m.layers}-layer convolution stack"
    return None


def receptive_field(m: ModelFeatures) -> int | None:
    """Input positions one output can depend on, None when unbounded: the model's own count
    (:attr:`ModelFeatures.receptive_field` — the stacked conv mixer across ``layers ×
    depth_repeat`` plus the stem, plain stacks only)."""
    return m.receptive_field


# -- the rules ----------------------------------------------------------------------------------


def _r1(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not p.is_group or (p.order or 1) < 2 or not (plain(m) and nonneg_real(m)):
        return None
    if p.group == "Z2":
        return Outcome(
            "impossible", "eigenvalues in [0,1] cannot flip a sign: parity is out of reach at every depth"
        )
    return Outcome(
        "impossible",
        f"eigenvalues in [0,1] give only star-free languages, and the word problem of {p.group} is not "
        "star-free (it counts modulo the order of its elements)",
    )


def _r2(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if p.group != "Z2" or m.hier_levels != 1:
        return None
    if base_is(m, "diagonal_real", "signed") or base_is(m, "householder_product", "signed"):
        return Outcome("expressible", "an eigenvalue −1 on the 1 token flips the state: parity in one layer")
    return None


def _r3(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not (p.is_group and p.odd_token_order):
        return None
    odd = [o for o in p.token_orders if o & (o - 1)]
    capped = m.fp_iters is not None and (fp_cap(m) or 0) < n and m.hier_levels == 1 and not m.fp_shift
    if real_only(m) and (plain(m) or capped):
        return Outcome(
            "impossible",
            f"a token of order {odd[0]} (not a power of 2) repeated is counting mod {odd[0]}, "
            "which needs a complex eigenvalue; these transitions only have real ones",
        )
    return None


def _r4(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not (p.is_group and p.abelian) or m.hier_levels != 1 or m.fp_iters is not None:
        return None
    kind = "cyclic" if p.cyclic else "abelian (a product of cyclic groups: one rotation channel per factor)"
    if base_is(m, "diagonal_complex"):
        return Outcome(
            "expressible", f"{p.group} is {kind}: rotations by 2π k/m in complex diagonal channels"
        )
    if base_is(m, "householder_product", "signed") and (m.householder_factors or 0) >= 2:
        return Outcome("expressible", f"{p.group} is {kind}: two reflections make each rotation")
    return None


def _r5(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not p.is_group or not plain(m) or not base_is(m, "householder_product", "signed"):
        return None
    n_h = m.householder_factors or 1
    need = p.reflections_needed
    if need is not None and n_h >= need:
        return Outcome(
            "expressible",
            f"every element of {p.group} is a product of ≤ {need} reflections in an orthogonal "
            f"representation, and the model has {n_h} per token",
        )
    lower = p.reflections_lower_bound
    if lower is not None and n_h < lower and m.layers == 1:
        return Outcome(
            "impossible", f"{p.group} needs {lower} reflections per token in one layer; the model has {n_h}"
        )
    return None


def _r6(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if (
        not (p.is_group and (p.order or 1) > 1)
        or not plain(m)
        or not base_is(m, "householder_product", "unit")
    ):
        return None
    return Outcome(
        "impossible",
        f"factors with β ∈ [0,1] keep eigenvalues in [0,1]: no sign flip or rotation for {p.group}",
    )


def _r7(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not p.is_group or p.solvable:
        return None
    why = fixed_depth_tc0(m, n)
    if why is None:
        return None
    return Outcome(
        "impossible",
        f"{p.group} is not solvable: its word problem is NC1-complete, and {why} is in TC0 "
        "(unless TC0 = NC1)",
    )


def _r8(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not p.is_group or not p.solvable or p.abelian or not plain(m) or m.transition not in LINEAR_DIAGONAL:
        return None
    return Outcome(
        "unknown",
        f"{p.group} is solvable (derived length {p.derived_length}): expressible in principle with depth; "
        "empirically the depth needed grows with the length",
        "none",
    )


def _r9(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not p.regular or m.hier_levels != 1 or m.fp_iters is not None:
        return None
    if m.transition == "nonlinear" or m.transition == "dense":
        return Outcome(
            "expressible",
            "a one-layer nonlinear RNN (or a dense input-dependent linear RNN) can run any finite automaton",
        )
    return None


def _r10(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if m.fp_iters is None or m.hier_levels != 1 or not p.regular:
        return None
    cap = fp_cap(m) or 0
    if cap >= n and m.transition in LINEAR_DIAGONAL:
        what = (
            "a nonlinear RNN (shifted state dependence)"
            if m.fp_shift
            else "a dense input-dependent linear RNN"
        )
        return Outcome(
            "expressible", f"with {cap} ≥ {n} iterations the fixed point is {what} (R9 at the limit)"
        )
    return None


def _r11(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if m.fp_iters is None or p.name not in ("copy", "modular_sum", "modular_arithmetic_brackets"):
        return None
    return Outcome(
        "unknown", "fixed-point iterations to converge stay small and independent of length", "none"
    )


def _r12(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not (p.star_free or p.bounded_depth is not None) or not plain(m) or m.layers < 2:
        return None
    if m.transition in LINEAR_DIAGONAL or base_is(m, "householder_product"):
        what = "star-free" if p.star_free else f"Dyck with depth ≤ {p.bounded_depth}"
        return Outcome("expressible", f"{what}: a 2-layer SSM with non-negative gates suffices")
    return None


def _capacity(p: ProbeFacts, m: ModelFeatures, n: int, names: tuple[str, ...]) -> Outcome | None:
    if p.name not in names:
        return None
    if m.transition == "attention":
        return Outcome(
            "expressible",
            "attention reads the tokens it needs back from the context (no fixed state)",
            "length",
        )
    bits = p.info_bits_at(n)
    if bits is None or m.state_bits is None or m.hier_levels != 1:
        return None
    longest = p.max_length_for_bits(m.state_bits)
    upto = "" if longest is None else f"; possible up to length {longest}"
    if bits > m.state_bits:
        return Outcome(
            "impossible",
            f"needs {bits:.0f} bits ({p.info_formula}) > {m.state_bits} bits of state "
            f"({m.state_floats} floats, {m.state_bits_bound}){upto}",
            "length",
            longest,
        )
    return Outcome(
        "unknown",
        f"needs {bits:.0f} bits ≤ {m.state_bits} bits of state: the bound does not bind{upto}",
        "none",
        longest,
    )


def _r13(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    return _capacity(p, m, n, ("copy", "selective_copy"))


def _r14(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    return _capacity(p, m, n, ("mqar",))


def _r15(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if p.level not in ("context-free", "context-sensitive") or p.bounded_depth is not None:
        return None
    if m.mixer == "elman" or m.transition == "attention":
        return Outcome(
            "unknown", "Elman RNNs and transformers failed length generalisation on these tasks", "none"
        )
    return None


def _r16(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if m.transition != "attention" or not p.regular:
        return None
    return Outcome(
        "unknown", "transformers with standard positional encodings fail length generalisation here", "none"
    )


def _r17(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not m.prune or p.level != "memory":
        return None
    return Outcome(
        "unknown", "permanent token dropping should hurt once a needed token is dropped (hypothesis)", "none"
    )


def _r18(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    rf = receptive_field(m)
    if rf is None or not p.is_group or (p.order or 1) < 2 or n <= rf:
        return None
    return Outcome(
        "impossible",
        f"the label at position {n} depends on the first token, beyond the receptive field of {rf} positions",
        "length",
        rf,
    )


RULES: tuple[Rule, ...] = (
    Rule(
        "R1",
        "impossibility",
        "linear RNN, eigenvalues real and in [0,1] (any depth, finite precision)",
        "parity (and every non-trivial group word problem: not star-free)",
        "impossible at all lengths",
        "Grazzi et al. ICLR 2025 (arXiv 2411.12537) Thm 1; Sarrof et al. NeurIPS 2024 (star-free)",
        "finite precision; transitions diagonal in [0,1] or one DeltaNet factor with β ∈ [0,1]; plain stack",
        _r1,
    ),
    Rule(
        "R2",
        "expressibility",
        "diagonal RNN with range [−1,1], or Householder with β ∈ [0,2]",
        "parity",
        "parity is expressible in one layer",
        "Grazzi et al. ICLR 2025 §4",
        "signed range",
        _r2,
    ),
    Rule(
        "R3",
        "impossibility",
        "linear RNN with only real eigenvalues, any sign",
        "counting mod m, m not a power of 2",
        "impossible: needs a complex eigenvalue",
        "Grazzi et al. ICLR 2025 Thm 2",
        "applies to any group probe with a token whose order is not a power of 2",
        _r3,
    ),
    Rule(
        "R4",
        "expressibility",
        "complex diagonal, or ≥ 2 Householder reflections with β ∈ [0,2]",
        "Z_m (abelian groups)",
        "expressible in one layer",
        "Grazzi et al. ICLR 2025 Thm 3",
        "abelian groups: one rotation channel per cyclic factor",
        _r4,
    ),
    Rule(
        "R5",
        "expressibility",
        "products of n_h generalised Householder matrices, range [−1,1], 1 layer",
        "word problem of G ≤ S_n",
        "expressible with n_h ≥ the reflections G needs (2 for subgroups of SO(3): A4, S4, A5); S5 needs 4",
        "Grazzi et al. Thm 3; DeltaProduct (Siems et al., arXiv 2502.10297)",
        "reflections needed: an upper bound from SO(2)/SO(3)/O(2) embeddings or the permutation "
        "representation; "
        "the impossibility side only where a lower bound is stated (S5: 4) and for one layer",
        _r5,
    ),
    Rule(
        "R6",
        "impossibility",
        "Householder products with β ∈ [0,1]",
        "parity, S_n, any non-trivial group",
        "impossible: eigenvalues stay in [0,1]",
        "Grazzi et al. ICLR 2025 Prop 1",
        "plain stack",
        _r6,
    ),
    Rule(
        "R7",
        "impossibility",
        "transformer, diagonal / simultaneously diagonalisable linear SSM, fixed depth, log precision",
        "word problem of a non-solvable group (A5, S5)",
        "impossible at all lengths unless TC0 = NC1",
        "Merrill, Petty & Sabharwal ICML 2024 (arXiv 2404.08819) Cor 4.7; Barrington 1989",
        "fixed depth (weight-tied repeats and a fixed-point cap below the length count as fixed depth)",
        _r7,
    ),
    Rule(
        "R8",
        "empirical",
        "diagonal linear SSM, fixed depth",
        "solvable non-abelian group (S3, A4, A4×Z5)",
        "expressible in principle; the depth needed grows with length in practice",
        "Merrill et al. ICML 2024 Fig. 3",
        "empirical",
        _r8,
    ),
    Rule(
        "R9",
        "expressibility",
        "1-layer nonlinear RNN (tanh/LSTM/GRU) or dense input-dependent linear RNN (IDS4)",
        "any regular language, incl. S5/A5",
        "expressible in one layer at all lengths",
        "Merrill et al. ICML 2024 Thms 5.1–5.2",
        "regular languages (groups, counters bounded in depth)",
        _r9,
    ),
    Rule(
        "R10",
        "expressibility",
        "fixed-point RNN (diagonal RNN iterated with a channel mixer)",
        "A5/S5 (regular languages)",
        "with enough iterations it behaves as a dense RNN; a cap below the length is fixed depth "
        "(R7 applies)",
        "Movahedi, Sarnthein, Cirone & Orvieto NeurIPS 2025 (arXiv 2503.10799)",
        "expressible when the evaluation cap ≥ the length (the fixed point is reached)",
        _r10,
    ),
    Rule(
        "R11",
        "empirical",
        "fixed-point RNN",
        "copy, modular arithmetic",
        "iterations to converge stay small and independent of length",
        "Movahedi et al. NeurIPS 2025",
        "empirical",
        _r11,
    ),
    Rule(
        "R12",
        "expressibility",
        "non-negative diagonal SSM, 2 layers",
        "star-free languages (flip-flop), bounded-depth Dyck",
        "expressible at all lengths",
        "Sarrof, Veitsman & Hahn NeurIPS 2024 (arXiv 2405.17394)",
        "≥ 2 layers",
        _r12,
    ),
    Rule(
        "R13",
        "capacity",
        "any model with a fixed state of s bits",
        "copy a random string of length L over alphabet D",
        "impossible once L·log2|D| > s; attention is not bounded by a fixed state",
        "Jelassi et al. ICML 2024 (arXiv 2402.01032)",
        "s = state floats × significand bits (the generous bound); attention expressible with enough "
        "positional information",
        _r13,
    ),
    Rule(
        "R14",
        "capacity",
        "any recurrent model with a fixed state",
        "MQAR with N pairs over c values",
        "needs Ω(N·log c) bits of state; attention does not",
        "Arora et al. (Zoology arXiv 2312.04927; Based arXiv 2402.18668)",
        "s = state floats × significand bits (the generous bound)",
        _r14,
    ),
    Rule(
        "R15",
        "empirical",
        "Elman RNN, transformer without extra memory",
        "DCF / CS tasks (reverse, duplicate string)",
        "fail length generalisation",
        "Delétang et al. ICLR 2023 (arXiv 2207.02098)",
        "empirical",
        _r15,
    ),
    Rule(
        "R16",
        "empirical",
        "transformer (standard positional encodings)",
        "regular tasks (parity, cycle navigation, mod arithmetic)",
        "fails length generalisation in practice (not a theorem)",
        "Delétang et al. ICLR 2023; Grazzi et al. Table 3",
        "empirical",
        _r16,
    ),
    Rule(
        "R17",
        "empirical",
        "learned context pruning that drops tokens permanently",
        "copy / recall",
        "predicted to degrade once a needed token is dropped (a hypothesis)",
        "mechanism of Anagnostidis et al. NeurIPS 2023 (arXiv 2305.15805)",
        "hypothesis",
        _r17,
    ),
    Rule(
        "R18",
        "capacity",
        "convolution stack with a finite receptive field r",
        "word problems (every prefix matters)",
        "impossible at lengths > r: the last label depends on the first token",
        "receptive field 1 + layers·depth_repeat·(k−1)(2^depth − 1) of dilated convolutions "
        "(archlab.models.conv), + stem_kernel − 1 with a conv stem",
        "causal, no hierarchy",
        _r18,
    ),
)


def rule_by_id(rule_id: str) -> Rule:
    from archlab.errors import UnknownNameError

    for r in RULES:
        if r.id.lower() == rule_id.strip().lower():
            return r
    raise UnknownNameError("theory rule", rule_id, [r.id for r in RULES])
