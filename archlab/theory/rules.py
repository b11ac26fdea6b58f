"""The prediction rules: (probe facts, model features, length) → impossible / expressible / unknown.

One :class:`Rule` per row of THEORY.md §1 (R1–R17), as corrected by its Corrections section, plus
R18 (a convolution's receptive field), the DNA rules R19–R24 and R25 (a fixed state on unbounded
Dyck-k, which is not regular).
Each rule has a statement, a citation, its assumptions and a ``check`` function, named for what it
decides (``nonnegative_eigenvalues_cannot_parity`` is R1; the ids stay the rules' names everywhere
else), that returns an
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

DNA grammar levels (facts from :func:`archlab.theory.dna.level_facts`, ``level == "dna"``) have
their own rules, all scoped to the length at hand, and few verdicts: most cells are ``unknown``
with the reason why no result decides them.

* R19 — receptive field. A conv output does not depend on bases outside its window. Where the
  model's *output* reads only a window (``pool: last``: the last ``r`` bases, and the first ``r``
  too when the reverse strand is averaged in) and that window can never hold bases of both blocks
  of a D5 pair, the bases it reads are i.i.d. background in both classes: impossible (AUROC 0.5).
  With a global mean/max pool (the CNN, pooled sequence models) a receptive field shorter than
  the span is *not* an impossibility: the pool combines which ``r``-bp features occur anywhere,
  and the ``r``-bp windows of a sequence without a repeated ``(r−1)``-mer determine the sequence
  (the de Bruijn argument of sequencing by hybridisation), so only an unbounded-width limit is
  ruled in, nothing ruled out — unknown.
* R20 — a PWM hit is a linear threshold of the one-hot window: the CNN with a first kernel at
  least as wide as motif A expresses D0 (construction in the rule).
* R21 — counting (D1) with pooled convolutions: what mean and max pooling can and cannot do;
  no verdict.
* R22 — a one-pass streaming state of ``s`` bits on D5: an information bound on the AUROC
  (:func:`pairing_auroc_bound`); impossible when it is below :data:`DNA_SOLVED`. Other levels:
  the bits their memory needs (``state_bits_needed``), for reference.
* R23 — D4's helical phase: no theorem; R24 — D7's noise ceiling on Pearson's r, for any model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from archlab.models.model import ModelFeatures
from archlab.theory.facts import ProbeFacts

__all__ = ["DNA_SOLVED", "RULES", "Outcome", "Rule", "pairing_auroc_bound", "rule_by_id", "streaming_bits"]

Verdict = Literal["impossible", "expressible", "unknown"]
#: which kind of statement a verdict is: "length-gen" — at every length beyond training (R1:
#: parity with non-negative gates); "length" — at this length, from a bound computed for it
#: (capacity rules); "asymptotic" — at *some* large enough length, not at a given one (R7's
#: TC0 vs NC1: a success at a finite length is consistent with it); "none" — no verdict
Scope = Literal["length-gen", "length", "asymptotic", "none"]


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
    #: "note": a reasoned no-verdict (what is known and why it does not decide), like empirical rules
    kind: Literal["impossibility", "expressibility", "capacity", "empirical", "note"]
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


def products_stay_real(m: ModelFeatures) -> bool:
    """Every *product* of transitions has only real eigenvalues: real diagonal gates (any sign).
    Not a single Householder factor: each factor is symmetric with real eigenvalues, but a product
    of two reflections is a rotation (Grazzi et al. Thm 2 is a condition on the products)."""
    return base_is(m, "diagonal_real")


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


def nonnegative_eigenvalues_cannot_parity(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not p.is_group or (p.order or 1) < 2 or not (plain(m) and nonneg_real(m)):
        return None
    if p.group == "Z2":
        return Outcome(
            "impossible", "eigenvalues in [0,1] cannot flip a sign: parity is out of reach at every depth"
        )
    even = p.parity_token_order
    if not base_is(m, "diagonal_real"):
        # Grazzi Thm 1 is about parity; without a parity sub-task only the diagonal (star-free)
        # argument speaks
        if even is None:
            return None
        return Outcome(
            "impossible",
            f"a token of order {even} repeated tracks the parity of its count, and transitions "
            "with eigenvalues in [0,1] cannot solve parity at every length (Grazzi Thm 1)",
        )
    return Outcome(
        "impossible",
        f"eigenvalues in [0,1] give only star-free languages, and the word problem of {p.group} is not "
        "star-free (it counts modulo the order of its elements)",
    )


def signed_eigenvalue_flips_parity(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if p.group != "Z2" or m.hier_levels != 1:
        return None
    if base_is(m, "diagonal_real", "signed") or base_is(m, "householder_product", "signed"):
        return Outcome("expressible", "an eigenvalue −1 on the 1 token flips the state: parity in one layer")
    return None


def real_products_cannot_count_mod_odd(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not (p.is_group and p.odd_token_order):
        return None
    odd = [o for o in p.token_orders if o & (o - 1)]
    capped = m.fp_iters is not None and (fp_cap(m) or 0) < n and m.hier_levels == 1 and not m.fp_shift
    if products_stay_real(m) and (plain(m) or capped):
        return Outcome(
            "impossible",
            f"a token of order {odd[0]} (not a power of 2) repeated is counting mod {odd[0]}, "
            "which needs a complex eigenvalue in some product of transitions; real diagonal "
            "transitions multiply to real diagonal ones",
        )
    return None


def rotations_express_abelian_groups(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
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


def householder_products_express_permutations(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not p.is_group or not plain(m) or not base_is(m, "householder_product", "signed"):
        return None
    n_h = m.householder_factors or 1
    need = p.reflections_needed
    if need is not None and n_h >= need:
        return Outcome(
            "expressible",
            f"every token of {p.probe} is a product of ≤ {need} reflections in an orthogonal "
            f"representation (n − #cycles in the permutation one), and the model has {n_h} per token",
        )
    lower = p.reflections_lower_bound
    if lower is not None and n_h < lower and m.layers == 1:
        return Outcome(
            "impossible",
            f"a 5-cycle token of {p.group} moves a {lower}-dimensional subspace in every faithful real "
            f"representation, and {n_h} Householder factors change at most {n_h} dimensions: one layer "
            f"needs {lower}",
        )
    return None


def psd_factors_cannot_parity(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if (
        not (p.is_group and (p.order or 1) > 1)
        or not plain(m)
        or not base_is(m, "householder_product", "unit")
        or (m.householder_factors or 1) > 2
    ):
        return None
    even = p.parity_token_order
    if p.group != "Z2" and even is None:  # Thm 1 is about parity: no token holds a parity sub-task
        return None
    inside = "" if p.group == "Z2" else f" (a token of order {even} holds a parity sub-task)"
    return Outcome(
        "impossible",
        f"a product of {m.householder_factors or 1} ≤ 2 factors with β ∈ [0,1] has its eigenvalues "
        f"in [0,1], and such transitions cannot solve parity (Grazzi Thm 1): {p.group} is out of "
        f"reach{inside}",
    )


def fixed_depth_cannot_nonsolvable(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not p.is_group or p.solvable:
        return None
    why = fixed_depth_tc0(m, n)
    if why is None:
        return None
    return Outcome(
        "impossible",
        f"{p.group} is not solvable: its word problem is NC1-complete, and {why} is in TC0 "
        "(unless TC0 = NC1) — an asymptotic statement: some large enough length defeats the "
        "model, not necessarily this one",
        "asymptotic",
    )


def solvable_nonabelian_depth_unknown(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not p.is_group or not p.solvable or p.abelian or not plain(m) or m.transition not in LINEAR_DIAGONAL:
        return None
    return Outcome(
        "unknown",
        f"{p.group} is solvable (derived length {p.derived_length}): Merrill et al. leave open whether "
        "fixed-depth diagonal SSMs express solvable non-abelian word problems; empirically the depth "
        "needed grows with the length",
        "none",
    )


def nonlinear_rnn_runs_any_automaton(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not p.regular or m.hier_levels != 1 or m.fp_iters is not None:
        return None
    if m.transition == "nonlinear" or m.transition == "dense":
        return Outcome(
            "expressible",
            "a one-layer nonlinear RNN (or a dense input-dependent linear RNN) can run any finite automaton",
        )
    return None


def fixed_point_limit_is_dense(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
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
            "unknown",
            f"the exact fixed point would be {what}, which runs any finite automaton (R9), but "
            f"{cap} ≥ {n} iterations need not reach it: each iteration also mixes channels within a "
            "step, which converges only geometrically, and Movahedi et al.'s convergence result "
            "assumes contraction bounds, not a cap against the length — no verdict",
            "none",
        )
    return None


def fixed_point_iterations_stay_small(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if m.fp_iters is None or p.name not in ("copy", "modular_sum", "modular_arithmetic_brackets"):
        return None
    return Outcome(
        "unknown", "fixed-point iterations to converge stay small and independent of length", "none"
    )


#: star-free probes whose 2-layer construction is stated (THEORY.md Corrections, R12): flip-flop
TWO_LAYER_STAR_FREE = ("flip_flop",)


def two_layers_express_flip_flop_bounded_dyck(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not (p.star_free or p.bounded_depth is not None) or not plain(m):
        return None
    if not (m.transition in LINEAR_DIAGONAL or base_is(m, "householder_product")):
        return None
    if p.bounded_depth is None and p.name not in TWO_LAYER_STAR_FREE:
        return Outcome(
            "unknown",
            f"{p.name} is star-free: non-negative diagonal SSMs express star-free languages with a "
            "number of layers that depends on the language (Sarrof et al.), not a stated 2",
            "none",
        )
    if m.layers < 2:
        return None
    what = "flip-flop" if p.bounded_depth is None else f"Dyck with depth ≤ {p.bounded_depth}"
    return Outcome("expressible", f"{what}: a 2-layer SSM with non-negative gates suffices")


def dyck_stack_depth(bits: float, bracket_types: int) -> int:
    """The deepest stack of ``bracket_types`` bracket kinds that ``bits`` of state can tell apart:
    the k^h stacks of depth h need distinct states (⌊bits / log2 k⌋)."""
    return math.floor(bits / math.log2(bracket_types) + 1e-9)


def fixed_state_cannot_unbounded_dyck(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    k = int(p.extra.get("bracket_types", 0))
    if p.name != "dyck" or p.bounded_depth is not None or k < 2:
        return None
    if m.transition == "attention" or not m.recurrent or m.state_bits is None or m.hier_levels != 1:
        return None
    deepest = dyck_stack_depth(m.state_bits, k)
    longest = 2 * deepest + 1  # the longest input whose stacks (depth ≤ ⌊n/2⌋ to still close) fit
    reach = n // 2
    if reach > deepest:
        return Outcome(
            "impossible",
            f"exact on every input of length {n} means telling apart all {k}^{reach} stacks of depth "
            f"{reach} (each is closed by a different suffix), which needs {reach}·log2 {k} bits > "
            f"{m.state_bits} bits of state: some input of this length is misread; possible up to "
            f"length {longest}",
            "length",
            longest,
        )
    return Outcome(
        "unknown",
        f"unbounded Dyck-{k} is not regular, so every fixed state fails at some depth: {m.state_bits} "
        f"bits tell apart stacks up to depth {deepest}, which inputs of length {n} (depth ≤ {reach}) "
        f"do not exceed — the bound does not bind up to length {longest}, and a model may still "
        "misread sampled inputs far shallower",
        "none",
        longest,
    )


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


def fixed_state_cannot_copy(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    return _capacity(p, m, n, ("copy", "selective_copy"))


def fixed_state_cannot_recall(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    return _capacity(p, m, n, ("mqar",))


def chomsky_tasks_fail_length_gen(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if p.level not in ("context-free", "context-sensitive") or p.bounded_depth is not None:
        return None
    if m.mixer == "elman" or m.transition == "attention":
        return Outcome(
            "unknown", "Elman RNNs and transformers failed length generalisation on these tasks", "none"
        )
    return None


def transformer_length_gen_empirical(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if m.transition != "attention" or not p.regular:
        return None
    if p.name == "even_pairs":
        note = "Delétang et al. report transformers solving Even Pairs"
    elif p.name == "cycle_navigation":
        note = "Delétang et al. report transformers partly solving Cycle Navigation"
    else:
        note = (
            "transformers with standard positional encodings fail length generalisation on parity and "
            "modular arithmetic (Delétang et al.; Grazzi et al. Table 3: 0.022 parity, 0.031 modular "
            "arithmetic, scaled accuracy, best of 3)"
        )
    return Outcome("unknown", f"{note} (empirical, not a theorem)", "none")


def pruning_drops_needed_tokens(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not m.prune or p.level != "memory":
        return None
    return Outcome(
        "unknown", "permanent token dropping should hurt once a needed token is dropped (hypothesis)", "none"
    )


def receptive_field_bounds_word_problems(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    rf = receptive_field(m)
    if rf is None or not p.is_group or (p.order or 1) < 2 or n <= rf:
        return None
    return Outcome(
        "impossible",
        f"the label at position {n} depends on the first token, beyond the receptive field of {rf} positions",
        "length",
        rf,
    )


# -- DNA grammar levels -------------------------------------------------------------------------

#: a DNA cell counts as solved when its metric (AUROC, or Pearson's r for D7) reaches this
DNA_SOLVED = 0.9
#: pooled heads that combine every position (a global pool); "last" (and a token head) read one
GLOBAL_POOLS = ("mean", "max", "max+mean")
#: all bits of one float, by significand bits (the information a float can hold: 2^bits values)
_FLOAT_BITS = {53: 64, 24: 32, 11: 16, 8: 16}
#: D5's chance-pairing correction above which R19/R22 keep quiet rather than state a bound
_MAX_CHANCE = 0.01


def dna(p: ProbeFacts) -> bool:
    return p.level == "dna"


def _ends(m: ModelFeatures) -> int:
    """Strands an evaluation reads: 2 when the reverse complement is averaged in (``rc: both``)
    or the model runs on both (``siamese``) — a window at the end then covers both ends."""
    return 2 if m.rc in ("both", "siamese") else 1


def _chance_pairing(p: ProbeFacts) -> float | None:
    """Upper bound on the fraction of D5 negatives the generator redraws because the background
    paired by chance (union bound over start positions; both pairs when nested), or None when
    the background is not i.i.d."""
    q = p.extra.get("pair_match_prob")
    if q is None:
        return None
    starts = int(p.extra["starts"]) * (2 if p.extra.get("nested") else 1)
    return min(1.0, starts * float(q) ** int(p.extra["block"]))


def streaming_bits(m: ModelFeatures) -> tuple[int, str] | None:
    """``(bits, what they are)``: everything a left-to-right pass of ``m`` carries from one
    position to the next, counted as *all* bits of each float (an upper bound on its
    information): the recurrent state of every layer and tied repeat, the running sum/max of a
    mean/max pooled head, and the conv stem's last ``stem_kernel − 1`` base codes (3 bits each).
    None when ``m`` is not a plain causal recurrent stack (attention, convolutions, hierarchy,
    fixed-point iteration and non-causal models are outside the one-pass argument)."""
    if not m.recurrent or not m.causal or m.hier_levels != 1 or m.fp_iters is not None:
        return None
    if m.state_floats is None or m.state_bits is None or m.state_floats == 0:
        return None
    per = _FLOAT_BITS.get(m.state_bits // m.state_floats, 32)
    floats = m.state_floats * m.depth_repeat
    parts = [f"{floats} state floats"]
    if m.pool in ("mean", "max"):
        floats += m.width
        parts.append(f"{m.width} pooled {m.pool} accumulators")
    bits = floats * per
    if m.stem == "conv" and m.stem_kernel:
        bits += 3 * (m.stem_kernel - 1)
        parts.append(f"the stem's last {m.stem_kernel - 1} bases")
    return bits, f"{' + '.join(parts)}, {per} bits per float"


def pairing_auroc_bound(
    length: int, distance: int, block: int, bits: float, entropy: float, chance: float = 0.0
) -> float:
    """The largest AUROC a one-pass model carrying ``bits`` between positions can reach on D5
    (one pair, i.i.d. background of ``entropy`` bits per base).

    The argument. Starts ``p`` of the pair are uniform over ``N = length − distance − block + 1``
    positions; split them into runs of at most ``c = distance − block + 1`` consecutive starts, so
    that one cut ``m`` lies after every first block and before every second block of a run. The
    output is a function of the state ``S`` at ``m`` and the suffix. Negatives are i.i.d.
    background everywhere, and positives have the same marginals on prefix and suffix, so the
    KL divergence of (``S``, suffix) between the classes is ``I(S; suffix) ≤ I(S; x_p | p)``, the
    information the state holds about the block at a uniform start of the run. Blocks ``block``
    apart are independent, so summed over a run it is at most ``min(block, n)·bits`` (and each term
    at most ``block·entropy``): a run of ``n`` starts gives ``KL ≤ min(block, n)·bits / n`` bits.
    Pinsker turns it into a total-variation bound ``TV ≤ √(KL·ln 2 / 2)``, averaged over runs, plus
    ``chance`` (negatives redrawn because they paired by chance). Every point of an ROC curve has
    ``TPR − FPR ≤ TV``, so ``AUROC ≤ 1 − (1 − TV)²/2``.

    This is far below the ``2·distance`` bits an exact model needs on every input (a fooling
    set): a model may err on rare inputs and still rank well, and this bound allows for that.
    """
    n_starts = length - distance - block + 1
    run = distance - block + 1
    if n_starts < 1 or run < 1:
        return 1.0
    groups = math.ceil(n_starts / run)
    base, rem = divmod(n_starts, groups)
    tv = 0.0
    for size in [base + 1] * rem + [base] * (groups - rem):
        kl = min(min(block, size) * bits / size, block * entropy)
        tv += size / n_starts * min(1.0, math.sqrt(kl * math.log(2) / 2))
    tv = min(1.0, tv + chance)
    return 1.0 - (1.0 - tv) ** 2 / 2


def receptive_field_on_dna_span(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not dna(p) or p.span is None or m.transition != "convolution" or m.receptive_field is None:
        return None
    r, span = m.receptive_field, p.span
    if m.pool in GLOBAL_POOLS:
        if r >= span:
            return None
        return Outcome(
            "unknown",
            f"no single feature sees the {span}-bp span (receptive field {r} bp), but the global "
            f"{m.pool} pool combines which {r}-bp features occur anywhere, which the window argument "
            f"does not bound (the {r}-bp windows of a sequence without repeated {r - 1}-mers determine "
            "it); no theorem decides this cell",
            "none",
        )
    where = f"the last {r} bases" + (f" and the first {r}" if _ends(m) == 2 else "")
    if p.name == "D5":
        d, w = int(p.site_distance or 0), int(p.extra["block"])
        chance = _chance_pairing(p)
        far_apart = _ends(m) == 1 or 2 * r <= n - d - w + 1
        if r <= int(p.extra["blind_window"]) and far_apart and chance is not None and chance <= _MAX_CHANCE:
            return Outcome(
                "impossible",
                f"the output reads only {where}, which never hold bases of both blocks of a pair "
                f"({w}-bp blocks, {d} bp apart); those bases are i.i.d. background ({p.extra['background']}) "
                f"in both classes, so the output is independent of the label: AUROC 0.5, "
                f"up to the ≤ {chance:.1e} of negatives redrawn for a chance pairing",
                "length",
            )
        why = (
            "the background is not i.i.d." if chance is None
            else f"chance pairings reach {chance:.2g}" if chance > _MAX_CHANCE
            else "its windows can hold bases of both blocks"
        )  # fmt: skip
        return Outcome(
            "unknown",
            f"the output reads only {where}, but {why}: the window argument does not decide",
            "none",
        )
    return Outcome(
        "unknown",
        f"the output reads only {where} (pool: last): it sees the planted sites only when they lie "
        "there, and this rule does not bound how often that is",
        "none",
    )


def cnn_detects_one_motif(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not dna(p) or p.name != "D0" or m.mixer != "cnn":
        return None
    kernel, wa = int(m.extra.get("kernel", 0)), int(p.extra["motif_widths"][0])
    if kernel < wa:
        return Outcome(
            "unknown",
            f"motif A ({wa} bp) is wider than the first-layer kernel ({kernel}): one filter cannot "
            "hold its log-odds, and no two-layer construction is written down",
            "none",
        )
    return Outcome(
        "expressible",
        f"a first-layer filter with motif A's log-odds ({wa} ≤ kernel {kernel}) and its reverse-complement "
        "twin, batch norm as the hit threshold, the max-pools and the global max: positives hold a "
        "window scoring ≥ the cut and negatives none, so the pooled maximum ranks every positive "
        "first (AUROC 1)",
        "length",
    )


def pooled_conv_counting(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not dna(p) or p.name != "D1" or m.transition != "convolution" or m.pool not in GLOBAL_POOLS:
        return None
    k = int(p.extra["count_positive"][0])
    if m.pool == "max":
        return Outcome(
            "unknown",
            f"a max pool reports which features occur, not how often: telling {k} copies of A from "
            f"{k - 1} must come from features that differ between copies (their flanks) or from "
            "windows that hold several copies; no result bounds either",
            "none",
        )
    return Outcome(
        "unknown",
        f"a mean pool sums local detections, so the count is within reach (hits/L against "
        f"(k − ½)/L with k = {k}), but no exact construction is written down: the CNN's max-pools "
        "can merge hits closer than their windows, and the sequence model's norms and GELUs make "
        "a detector approximate",
        "none",
    )


def streaming_state_bounds_pairing(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not dna(p):
        return None
    counted = streaming_bits(m)
    if counted is None:
        return None
    bits, what = counted
    if p.name != "D5":
        if p.state_bits_needed is None:  # D7: real-valued sums, no bit count to compare
            return None
        window = p.extra.get("window_bits")
        buf = f" besides a {window}-bit buffer of the last bases" if window is not None else ""
        return Outcome(
            "unknown",
            f"a streaming model needs {p.state_bits_needed:.3g} bit(s) ({p.state_formula}){buf}; the "
            f"model carries {bits} ({what}), so capacity does not bind. With fixed parameters the level "
            "is a finite set of local patterns, so some one-layer nonlinear RNN recognises it (R9), "
            "but no result says this width suffices",
            "none",
        )
    d, w = int(p.site_distance or 0), int(p.extra["block"])
    exact = int(p.state_bits_needed or 0)
    chance = _chance_pairing(p)
    if p.extra.get("nested") or chance is None or p.extra.get("base_entropy") is None:
        return Outcome(
            "unknown",
            f"exact recognition of every input needs {exact} bits (fooling set); the model carries "
            f"{bits}. The AUROC bound is derived for one pair on an i.i.d. background only",
            "none",
        )
    if _ends(m) == 2:
        return Outcome(
            "unknown",
            f"the evaluation also reads the reverse strand (rc: {m.rc}), a second right-to-left pass "
            f"the one-pass bound does not cover; exact recognition needs {exact} bits, the model "
            f"carries {bits}",
            "none",
        )
    bound = pairing_auroc_bound(n, d, w, bits, float(p.extra["base_entropy"]), chance)
    if bound < DNA_SOLVED:
        return Outcome(
            "impossible",
            f"a one-pass model carrying {bits} bits ({what}) reaches AUROC at most {bound:.3f} < "
            f"{DNA_SOLVED} on pairs {d} bp apart (information bound; exact recognition would need "
            f"{exact} bits)",
            "length",
        )
    return Outcome(
        "unknown",
        f"the one-pass information bound allows AUROC up to {bound:.3f} with {bits} bits ({what}); "
        f"exact recognition of every input needs {exact} bits (fooling set), which bounds "
        "worst-case inputs, not the AUROC",
        "none",
    )


def pairmap_run_length(m: ModelFeatures) -> int:
    """The longest anti-diagonal run of complementary cells the pair map's stacked convolutions
    can AND into one 0/1 detector (:func:`pair_map_detects_pairing`'s construction), 0 without
    one. Layer 1 (dilation 1) tests ``a ≤ k`` consecutive cells (``ReLU(Σ − (a − 1))``); each
    further layer of dilation ``d`` ANDs up to ``k`` shifted copies of the previous detector,
    ``d`` cells apart, which extends a run of ``r ≥ d`` cells to ``r + (k − 1)·d``. Each stage
    writes its own channel (a residual layer keeps the earlier ones), so ``channels`` bounds
    the stages."""
    k = int(m.extra.get("kernel", 0))
    dilations = list(m.extra.get("dilations") or [])
    if k < 1 or not dilations or dilations[0] != 1:
        return 0
    reach = k
    for d in dilations[1 : int(m.extra.get("channels", 1))]:
        if d > reach:
            break
        reach += (k - 1) * int(d)
    return reach


def chance_inverted_repeats(n: int, w: int, pi: float) -> float:
    """Union bound on the chance that an i.i.d. background of ``n`` bp holds some ``w``-bp block
    whose reverse complement starts ``s ≥ 0`` bp later, at any ``s`` (``pi``: the chance that two
    independent bases pair). The constraints pair base ``x`` with base ``T − x`` (an involution):
    for ``s ≥ w`` they are ``w`` independent pairs; for ``s < w`` the two windows overlap in
    ``w + s`` bases, which pair up into ``(w + s)/2`` constraints, and when ``w + s`` is odd one
    base would pair with itself, which no base does."""
    total = 0.0
    for s in range(0, n - w + 1):
        if s < w:
            if (w + s) % 2:
                continue
            c = (w + s) // 2
        else:
            c = w
        total += (n - w - s + 1) * pi**c
    return min(1.0, total)


def pair_map_detects_pairing(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not dna(p) or p.name != "D5" or m.transition != "pairwise":
        return None
    w, d = int(p.extra["block"]), int(p.site_distance or 0)
    reach = pairmap_run_length(m)
    pi = p.extra.get("pair_match_prob")
    if p.extra.get("nested") or pi is None or reach < w:
        if p.extra.get("nested"):
            why = "nested pairs need two detectors and an AND of their maxima, not written down"
        elif pi is None:
            why = "the background is not i.i.d., so the chance of a stray inverted repeat is not bounded"
        else:
            why = f"the stacked convolutions AND at most {reach} anti-diagonal cells < the {w}-bp block"
        return Outcome("unknown", f"pair map on D5: {why}", "none")
    q = chance_inverted_repeats(n, w, float(pi))
    if 1.0 - q < DNA_SOLVED:
        return Outcome(
            "unknown",
            f"the construction detects a {w}-bp inverted repeat at any distance; at {n} bp stray ones "
            f"occur in up to {q:.2f} of the negatives (union bound), so it guarantees only AUROC ≥ "
            f"{1 - q:.3f} < {DNA_SOLVED}",
            "length",
        )
    return Outcome(
        "expressible",
        f"in the pair map the {w}-bp block and its reverse complement {d} bp later are {w} "
        f"complementary cells on one anti-diagonal, a local pattern; the convolutions AND up to "
        f"{reach} such cells, so the global max is 1 on every positive and on a negative only when "
        f"it holds a stray {w}-bp inverted repeat (≤ {q:.2g}, union bound): AUROC ≥ {1 - q:.3f}",
        "length",
    )


def helical_phase_note(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not dna(p) or p.name != "D4":
        return None
    inp, out = p.extra["in_phase"], p.extra["out_of_phase"]
    return Outcome(
        "unknown",
        f"no theorem covers reading an A–B spacing modulo the {p.period}-bp helical period: the "
        f"classes differ only in the spacing (in phase {inp[0]}–{inp[-1]} vs out of phase "
        f"{out[0]}–{out[-1]} bp, each ±1), so bp resolution over {p.span} bp is needed; the rule set "
        "is a finite set of local patterns, decidable from one window of that span, but no "
        "construction or bound for these models is established",
        "none",
    )


def noise_caps_pearson(p: ProbeFacts, m: ModelFeatures, n: int) -> Outcome | None:
    if not dna(p) or p.name != "D7":
        return None
    noise, ceiling = float(p.extra["noise"]), float(p.extra["pearson_ceiling"])
    if ceiling < DNA_SOLVED:
        return Outcome(
            "impossible",
            f"the target is the oracle plus independent noise of {noise}× its sd, so no predictor's "
            f"Pearson r exceeds 1/√(1 + {noise}²) = {ceiling:.3f} < {DNA_SOLVED} (over many rows; a "
            "test set of n rows scatters by about (1 − r²)/√n)",
            "length",
        )
    return Outcome(
        "unknown",
        f"the noise ({noise}× the signal's sd) caps Pearson's r at {ceiling:.3f} ≥ {DNA_SOLVED} for "
        "any model: the ceiling does not bind",
        "none",
    )


RULES: tuple[Rule, ...] = (
    Rule(
        "R1",
        "impossibility",
        "linear RNN, eigenvalues real and in [0,1] (any depth, finite precision)",
        "parity; for diagonal gates every non-trivial group word problem (not star-free); for one "
        "DeltaNet factor with β ∈ [0,1] groups with a token of even order (parity inside)",
        "impossible at all lengths",
        "Grazzi et al. ICLR 2025 (arXiv 2411.12537) Thm 1, read: a finite-precision LRNN with any "
        "matrices A(x), any number of layers, solves parity only if some A(x) has an eigenvalue that "
        "is not real and ≥ 0 — this gives the DeltaNet [0,1] case; the diagonal star-free case is "
        "Sarrof et al. NeurIPS 2024 Thm 2 as Grazzi cite it (Sarrof's text not read)",
        "finite precision; transitions diagonal in [0,1] or one DeltaNet factor with β ∈ [0,1]; plain stack",
        nonnegative_eigenvalues_cannot_parity,
    ),
    Rule(
        "R2",
        "expressibility",
        "diagonal RNN with range [−1,1], or Householder with β ∈ [0,2]",
        "parity",
        "parity is expressible in one layer",
        "Grazzi et al. ICLR 2025 §4",
        "signed range",
        signed_eigenvalue_flips_parity,
    ),
    Rule(
        "R3",
        "impossibility",
        "linear RNN with only real eigenvalues, any sign",
        "counting mod m, m not a power of 2",
        "impossible: some product of transitions must have a non-real eigenvalue",
        "Grazzi et al. ICLR 2025 Thm 2, read: counting mod m (m not a power of 2) needs, in some layer "
        "i, a product A(x_1)⋯A(x_{2^(i−1)}) with an eigenvalue of nonzero imaginary part; "
        "single reflections are excluded because two of them make a rotation (their App. D Thm 6: "
        "2-layer DeltaNet [−1,1] adds mod m; Table 3: 0.971 on modular arithmetic w/o brackets)",
        "applies where every product stays real: real diagonal transitions (any sign); any group "
        "probe with a token whose order is not a power of 2",
        real_products_cannot_count_mod_odd,
    ),
    Rule(
        "R4",
        "expressibility",
        "complex diagonal, or ≥ 2 Householder reflections with β ∈ [0,2]",
        "Z_m (abelian groups)",
        "expressible in one layer",
        "Grazzi et al. ICLR 2025 Thm 3, read: for a transition group ≅ Z_m, 2×2 products of two "
        "generalised Householder factors with eigenvalues in [−1,1] suffice (rotations); −1 for m = 2",
        "abelian groups: one rotation channel per cyclic factor",
        rotations_express_abelian_groups,
    ),
    Rule(
        "R5",
        "expressibility",
        "products of n_h generalised Householder matrices, range [−1,1], 1 layer",
        "word problem of G ≤ S_n",
        "expressible with n_h ≥ max over the tokens g of n − #cycles(g) (2 for subgroups of SO(3): A4, "
        "S4, A5); S5 with a 5-cycle token needs 4 in one layer, with transpositions only 1",
        "Grazzi et al. Thm 3, read: one layer with A : Σ → products of k − 1 reflections, k the most "
        "states one letter moves (an upper bound; n − #cycles ≤ k − 1 is the tighter count used here: "
        "g is n − #cycles transpositions); their Fig. 4 text: 1-layer DeltaNet [−1,1] learns swaps-only "
        "S5. DeltaProduct (Siems et al., arXiv 2502.10297; secondary transcription, not read): S4 and "
        "A5 extrapolate with n_h = 2 (SO(3)), S5 needs n_h = 4 — empirical, not a theorem",
        "the reflections are counted from the tokens actually used; the impossibility side (S5 with a "
        "5-cycle token, one layer) is derived here: a 5-cycle fixes a subspace of codimension 4 in every "
        "faithful real representation of S5 (character table), and n_h factors differ from I by rank "
        "≤ n_h",
        householder_products_express_permutations,
    ),
    Rule(
        "R6",
        "impossibility",
        "Householder products with β ∈ [0,1]",
        "parity, and groups with a token of even order (S_n)",
        "impossible for n_h ≤ 2 factors: their products' eigenvalues stay in [0,1] (Thm 1 applies)",
        "Grazzi et al. ICLR 2025 Prop 1 item 3, read: a product of k ≤ 2 generalised Householder "
        "factors with eigenvalues in [0,1] has eigenvalues in [0,1]; for k ≥ 3 only 'λ = 1 or |λ| < 1' "
        "(non-real eigenvalues occur: 226 of 20 000 random 3-factor products, THEORY.md) — no verdict",
        "plain stack; householder_factors ≤ 2",
        psd_factors_cannot_parity,
    ),
    Rule(
        "R7",
        "impossibility",
        "transformer, diagonal / simultaneously diagonalisable linear SSM, fixed depth, log precision",
        "word problem of a non-solvable group (A5, S5)",
        "impossible at some large enough length unless TC0 = NC1 (asymptotic: says nothing about a "
        "given length; a success at a finite length is consistent)",
        "Merrill, Petty & Sabharwal ICML 2024 (arXiv 2404.08819) Thm 4.2/Cor 4.3 (S4), Thm 4.4/Cor 4.5 "
        "(diagonal SSMs, Mamba), Thm 4.6 (simultaneously diagonalisable): log-precision SSMs in "
        "L-uniform TC0 (read in a secondary transcription; the A5/S5 corollary's number not checked); "
        "transformers: Merrill & Sabharwal 2023 (arXiv 2207.00729, not read); non-solvable word "
        "problems NC1-complete: Barrington 1989 (not read)",
        "fixed depth (weight-tied repeats and a fixed-point cap below the length count as fixed depth)",
        fixed_depth_cannot_nonsolvable,
    ),
    Rule(
        "R8",
        "empirical",
        "diagonal linear SSM, fixed depth",
        "solvable non-abelian group (S3, A4, A4×Z5)",
        "not known whether fixed depth expresses it; in experiments the depth needed grows with length",
        "Merrill et al. ICML 2024 Fig. 3 (secondary transcription: minimum depth for 90 % accuracy "
        "grows with length for transformer, S4 and Mamba on A4×Z5)",
        "empirical",
        solvable_nonabelian_depth_unknown,
    ),
    Rule(
        "R9",
        "expressibility",
        "1-layer nonlinear RNN (tanh/LSTM/GRU) or dense input-dependent linear RNN (IDS4)",
        "any regular language, incl. S5/A5",
        "expressible in one layer at all lengths",
        "a one-layer RNN with a nonlinear update runs any finite automaton (one-hot state: the "
        "classical construction); IDS4: Merrill et al. ICML 2024 Thm 5.2 (secondary transcription)",
        "regular languages (groups, counters bounded in depth)",
        nonlinear_rnn_runs_any_automaton,
    ),
    Rule(
        "R10",
        "expressibility",
        "fixed-point RNN (diagonal RNN iterated with a channel mixer)",
        "A5/S5 (regular languages)",
        "no verdict: the exact fixed point is a dense (or, with shift, nonlinear) RNN, but a finite "
        "cap need not reach it; a cap below the length is fixed depth (R7 applies, asymptotically)",
        "Movahedi, Sarnthein, Cirone & Orvieto NeurIPS 2025 (arXiv 2503.10799): no statement that a "
        "cap ≥ the length reaches the fixed point; their convergence result assumes contraction "
        "(‖Λ‖ < 1, ‖I − Q‖ < 1; secondary). Their code evaluates with up to 1000 iterations, stopping "
        "at relative change 0.1 (dr-faustus/fp-rnn models/model_utils.py, read)",
        "archlab evaluates with fp_eval_iters (default fp_iters); set fp_eval_iters: 1000 to evaluate "
        "as the paper does",
        fixed_point_limit_is_dense,
    ),
    Rule(
        "R11",
        "empirical",
        "fixed-point RNN",
        "copy, modular arithmetic",
        "iterations to converge stay small and independent of length",
        "Movahedi et al. NeurIPS 2025",
        "empirical",
        fixed_point_iterations_stay_small,
    ),
    Rule(
        "R12",
        "expressibility",
        "non-negative diagonal SSM, 2 layers",
        "flip-flop and bounded-depth Dyck (2 layers); other star-free languages: layers depend on the "
        "language",
        "expressible at all lengths (flip-flop, bounded Dyck); other star-free probes: unknown",
        "Sarrof, Veitsman & Hahn NeurIPS 2024 (arXiv 2405.17394), as THEORY.md's corrections state it "
        "(2 layers for flip-flop and bounded-depth Dyck; the paper's theorem text was not read)",
        "≥ 2 layers; non-negative or signed diagonal / Householder transitions",
        two_layers_express_flip_flop_bounded_dyck,
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
        fixed_state_cannot_copy,
    ),
    Rule(
        "R14",
        "capacity",
        "any recurrent model with a fixed state",
        "MQAR with N pairs over c values",
        "needs Ω(N·log c) bits of state; attention does not",
        "Arora et al. (Zoology arXiv 2312.04927; Based arXiv 2402.18668)",
        "s = state floats × significand bits (the generous bound)",
        fixed_state_cannot_recall,
    ),
    Rule(
        "R15",
        "empirical",
        "Elman RNN, transformer without extra memory",
        "DCF / CS tasks (reverse, duplicate string)",
        "fail length generalisation",
        "Delétang et al. ICLR 2023 (arXiv 2207.02098)",
        "empirical",
        chomsky_tasks_fail_length_gen,
    ),
    Rule(
        "R16",
        "empirical",
        "transformer (standard positional encodings)",
        "regular tasks (parity, cycle navigation, mod arithmetic)",
        "fails length generalisation in practice on parity and modular arithmetic (not a theorem); "
        "solves Even Pairs and partly Cycle Navigation",
        "Delétang et al. ICLR 2023 Table 2 (as THEORY.md's corrections state it; not read); Grazzi et "
        "al. Table 3, read: transformer 0.022 parity, 0.031 / 0.067 modular arithmetic w/o / with "
        "brackets (scaled accuracy, best of 3, trained 3–40, tested 40–256)",
        "empirical",
        transformer_length_gen_empirical,
    ),
    Rule(
        "R17",
        "empirical",
        "learned context pruning that drops tokens permanently",
        "copy / recall",
        "predicted to degrade once a needed token is dropped (a hypothesis)",
        "mechanism of Anagnostidis et al. NeurIPS 2023 (arXiv 2305.15805)",
        "hypothesis",
        pruning_drops_needed_tokens,
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
        receptive_field_bounds_word_problems,
    ),
    Rule(
        "R19",
        "capacity",
        "convolution (sequence-model conv stack, the one-hot CNN) with receptive field r",
        "DNA levels: the span one window must hold (D0 motif width … D5 distance + block, D6 all)",
        "impossible where the output reads only windows that never hold both blocks of a D5 pair "
        "(pool: last); with a global pool, r < span is not an impossibility (unknown)",
        "the receptive field of a convolution: outputs do not depend on inputs outside it, a property "
        "of the computation graph (the theoretical field of Luo et al. NeurIPS 2016 §1, whose "
        "*effective* field is smaller); r from archlab.models.conv / archlab.dna.cnn.cnn_receptive_field; "
        "the global-pool caveat: a sequence without repeated (r−1)-mers is determined by its r-mers "
        "(Pevzner's de Bruijn argument for sequencing by hybridisation, as in Shamir's lecture notes; "
        "the 1989 paper not read)",
        "D5 impossibility: i.i.d. background (iid, gc), both blocks never jointly visible, chance "
        "pairings ≤ 1 %",
        receptive_field_on_dna_span,
    ),
    Rule(
        "R20",
        "expressibility",
        "the one-hot CNN with first-layer kernel ≥ motif A's width",
        "D0 (presence of motif A)",
        "expressible: AUROC 1 by construction",
        "construction: a PWM hit is a linear threshold of the one-hot window (log-odds ≥ cut), one "
        "filter per strand with a per-column constant that keeps partial windows at the ends below the "
        "cut; batch norm (eval) is affine, exp/ReLU and max-pools are monotone, and the layer norm on "
        "the pooled features keeps one coordinate increasing when the other channels are constants "
        "of spread",
        "the level's negatives hold no window scoring ≥ the cut (the generator rescans every row)",
        cnn_detects_one_motif,
    ),
    Rule(
        "R21",
        "capacity",
        "convolution with a global mean or max pool",
        "D1 (≥ k copies vs k − 1)",
        "no verdict: a mean pool can sum detections, a max pool reports presence, not multiplicity",
        "the pooling operations themselves (sum vs max over positions)",
        "receptive field ≥ the motif (else R19 speaks)",
        pooled_conv_counting,
    ),
    Rule(
        "R22",
        "capacity",
        "plain causal recurrent model, one strand at evaluation, s bits carried between positions",
        "D5 (and the state each level needs, for reference)",
        "impossible when AUROC ≤ 1 − (1 − TV)²/2 with TV ≤ avg √(min(w, n)·s·ln2 / (2n)) + chance "
        "falls below 0.9; exact recognition needs 2·distance bits",
        "information bound derived here (pairing_auroc_bound: data processing + Pinsker's inequality + "
        "TPR − FPR ≤ TV); the 2·distance bits: a fooling-set argument",
        "s counts all 32 bits of each fp32 float: recurrent state × tied repeats, a mean/max head's "
        "accumulator, a stem's buffer; one pair (not nested), i.i.d. background",
        streaming_state_bounds_pairing,
    ),
    Rule(
        "R23",
        "note",
        "any",
        "D4 (helical phase of an A–B spacing)",
        "no theorem: unknown with the reason",
        "—",
        "note only",
        helical_phase_note,
    ),
    Rule(
        "R24",
        "impossibility",
        "any model",
        "D7 (regression with target noise)",
        "Pearson r ≤ 1/√(1 + noise²) for every predictor; impossible when that is < 0.9",
        "corr(g(x), f(x) + ε) ≤ corr(g, f)·sd(f)/sd(f + ε) for noise ε independent of x",
        "over many rows (a finite test set scatters by about (1 − r²)/√n)",
        noise_caps_pearson,
    ),
    Rule(
        "R25",
        "capacity",
        "any model with a fixed state of s bits (recurrent, no hierarchy)",
        "unbounded Dyck-k, k ≥ 2 (generation not bounded in depth)",
        "exact on every input of length n only if ⌊n/2⌋·log2 k ≤ s: a fixed state is a finite "
        "automaton, and the k^h stacks of depth h need distinct states; bounded-depth Dyck is "
        "regular instead (R9, R12)",
        "Myhill–Nerode: two different stacks are told apart by the suffix that closes one of them "
        "(a counting argument derived here, as for R13; the Dyck languages for k ≥ 2 are not regular)",
        "s = state floats × significand bits (the generous bound); exactness on all inputs, not on "
        "the sampled ones, whose depth is far below ⌊n/2⌋",
        fixed_state_cannot_unbounded_dyck,
    ),
    Rule(
        "R26",
        "expressibility",
        "the pair-map network (2-D convolutions over the L × L map of base pairs)",
        "D5 (one block and its reverse complement at distance d; i.i.d. background)",
        "expressible when its convolutions can AND w anti-diagonal cells and stray inverted repeats "
        "leave AUROC ≥ 0.9; the distance does not enter",
        "construction derived here (pairmap_run_length, chance_inverted_repeats: a union bound over "
        "block pairs at every offset); the pair-map input is UFold's (Fu et al., Nucleic Acids Res. "
        "50(3):e14, 2022, Methods: a 16 × L × L Kronecker product of the one-hot encoding, 'base "
        "pairing between distant sequence segments shows up locally in the image representation')",
        "one pair (not nested), i.i.d. background; a detector of inverted repeats at any distance, so "
        "the bound falls with the length",
        pair_map_detects_pairing,
    ),
)


def rule_by_id(rule_id: str) -> Rule:
    from archlab.errors import UnknownNameError

    for r in RULES:
        if r.id.lower() == rule_id.strip().lower():
            return r
    raise UnknownNameError("theory rule", rule_id, [r.id for r in RULES])
