"""Probe facts for the theory rules: group structure from sympy, information content as sympy
expressions, and the language-class facts the rules key on.

:func:`probe_facts` turns any probe into a :class:`ProbeFacts`. For group probes (word problems,
and the probes that *are* a cyclic group's word problem: parity = Z2, ``modular_sum`` and
``cycle_navigation`` = Z_m) it adds the group's facts (:mod:`archlab.probes.groups`, from
sympy) plus:

* ``embeds_so2`` / ``embeds_so3`` — whether the group is isomorphic to a finite subgroup of SO(2)
  (cyclic) or SO(3) (cyclic, dihedral, A4, S4, A5: the classical classification). Decided from the
  group's structure: cyclic; dihedral (an element r of order n = |G|/2 and an involution s ∉ ⟨r⟩
  with s r s = r⁻¹); A4 (order 12, non-abelian, no element of order 6); S4 (order 24, element
  orders 1:1, 2:9, 3:8, 4:6); A5 (order 60, perfect).
* ``reflections_needed`` — an upper bound on the generalised Householder factors per token that a
  one-layer product needs for the word problem (R5), from the tokens actually used: 1 for Z2 (−1
  is one reflection); otherwise ``token_reflections`` = max over the token elements g of
  n − #cycles(g) (g is a product of that many transpositions, each a reflection of the
  permutation representation), capped at 2 when the group embeds in SO(2), SO(3) or O(2) (every
  rotation is two reflections). With transpositions as tokens S5 needs 1, with all elements 4.
  ``reflections_lower_bound`` is set only for S5 with a 5-cycle among the tokens: 4 (a 5-cycle
  moves a 4-dimensional subspace in every faithful real representation; DeltaProduct's "S5 needs
  4" is the all-elements case).
* ``token_orders`` — the orders of the elements used as tokens (R3 keys on an order that is not a
  power of two: counting that token mod its order needs a complex eigenvalue).

Memory probes carry ``info_bits`` as a sympy expression in the length symbol ``L`` (copy:
``L·log2(alphabet)``; MQAR: ``n_pairs·log2(vocab/2)``), evaluated per length by
:meth:`ProbeFacts.info_bits_at`.

DNA grammar levels get their facts from :func:`archlab.theory.dna.level_facts` (``level="dna"``,
with ``span``, ``site_distance``, ``period`` and ``state_bits_needed`` set).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sympy

from archlab.probes import Probe
from archlab.probes.groups import get_group

__all__ = ["L", "ProbeFacts", "probe_facts", "so3_type"]

#: the length symbol of the information-content expressions
L = sympy.Symbol("L", positive=True, integer=True)

#: probes whose language is star-free (aperiodic): R12's class
STAR_FREE = {"flip_flop": True, "even_pairs": True, "count_threshold": True, "majority": False}
#: probes that are the word problem of a cyclic group: name → (modulus parameter or fixed m)
CYCLIC_PROBES: dict[str, int | str] = {"parity": 2, "modular_sum": "m", "cycle_navigation": "m"}


@dataclass
class ProbeFacts:
    """What the rules know about one probe (see the module docstring)."""

    probe: str  # the probe's spec, e.g. "A5(generators=generators)"
    name: str  # registry name ("word_problem", "parity", …)
    level: str  # regular | counter | context-free | context-sensitive | memory
    task: str
    #: the word problem's group name (parity → "Z2"), else None
    group: str | None = None
    order: int | None = None
    abelian: bool | None = None
    cyclic: bool | None = None
    solvable: bool | None = None
    derived_length: int | None = None
    max_reflections_perm_rep: int | None = None
    embeds_so2: bool | None = None
    embeds_so3: bool | None = None
    reflections_needed: int | None = None
    reflections_lower_bound: int | None = None
    token_orders: tuple[int, ...] = ()
    #: the most reflections one token needs in the permutation representation (n − #cycles)
    token_reflections: int | None = None
    #: regular language that is star-free (aperiodic); None when not known
    star_free: bool | None = None
    #: bounded depth makes Dyck regular
    bounded_depth: int | None = None
    info_bits: sympy.Expr | None = None
    info_formula: str | None = None
    #: DNA levels (:mod:`archlab.theory.dna`): the span in bp that one window must hold to
    #: decide the label, the distance between related sites, the helical period, and the bits a
    #: left-to-right streaming model must carry (with the argument in ``state_formula``)
    span: int | None = None
    site_distance: int | None = None
    period: float | None = None
    state_bits_needed: float | None = None
    state_formula: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_group(self) -> bool:
        return self.group is not None

    @property
    def regular(self) -> bool:
        """The language is regular (finite-state): groups, regular probes, bounded-depth Dyck."""
        return self.level == "regular" or self.bounded_depth is not None

    @property
    def parity_token_order(self) -> int | None:
        """The order of a token of even order, or None: a token g of order 2k repeated holds a
        parity sub-task (the parity of its count is read off ⟨g⟩ → Z2), Grazzi Thm 1's case."""
        return next((o for o in self.token_orders if o % 2 == 0), None)

    @property
    def odd_token_order(self) -> bool:
        """Some token has an order that is not a power of two (R3's counting mod m sub-task)."""
        return any(o & (o - 1) for o in self.token_orders)

    def info_bits_at(self, length: int) -> float | None:
        """Bits the state must hold at ``length`` (memory probes), else None."""
        if self.info_bits is None:
            return None
        return float(self.info_bits.subs(L, length))

    def max_length_for_bits(self, bits: float) -> int | None:
        """The largest length whose information fits in ``bits`` (None: no bound in L, or no
        memory formula); 0 when even the fixed part does not fit."""
        if self.info_bits is None or L not in self.info_bits.free_symbols:
            return None
        per = float(sympy.diff(self.info_bits, L))
        fixed = float(self.info_bits.subs(L, 0))
        if per <= 0:
            return None
        return max(0, math.floor((bits - fixed) / per + 1e-9))

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("info_bits", "extra")}
        out["token_orders"] = list(self.token_orders)
        out["info_bits"] = None if self.info_bits is None else str(self.info_bits)
        out.update(self.extra)
        return out


def so3_type(group_name: str) -> str | None:
    """The SO(3) subgroup type the group is isomorphic to (cyclic, dihedral, A4, S4, A5), else
    None (it does not embed in SO(3))."""
    g = get_group(group_name)
    sg = g.sympy_group
    n = g.order
    if sg.is_cyclic:
        return "cyclic"
    orders = Counter(int(g.permutation(i).order()) for i in range(n))
    if n % 2 == 0 and n >= 4 and _is_dihedral(g, orders):
        return "dihedral"
    if n == 12 and not sg.is_abelian and orders.get(6, 0) == 0:
        return "A4"
    if n == 24 and dict(orders) == {1: 1, 2: 9, 3: 8, 4: 6}:
        return "S4"
    if n == 60 and sg.derived_subgroup().order() == 60:
        return "A5"
    return None


def _is_dihedral(g: Any, orders: Counter[int]) -> bool:
    half = g.order // 2
    if orders.get(half, 0) == 0:
        return False
    perms = [g.permutation(i) for i in range(g.order)]
    r = next(p for p in perms if p.order() == half)
    rot = {tuple(p.array_form) for p in (r**k for k in range(half))}
    for s in perms:
        if s.order() == 2 and tuple(s.array_form) not in rot:
            return bool(s * r * s == r**-1)
    return False


@functools.lru_cache(maxsize=128)
def _group_facts(group_name: str, token_ids: tuple[int, ...] | None = None) -> dict[str, Any]:
    g = get_group(group_name)
    f = g.facts
    kind = so3_type(g.name)
    ids = range(g.order) if token_ids is None else [int(i) for i in token_ids]
    perms = [g.permutation(i) for i in ids]
    token_orders = tuple(sorted({int(p.order()) for p in perms} - {1}))
    # reflections per token in the permutation representation: a permutation of n points with c
    # cycles (fixed points included) is a product of n − c transpositions, each a reflection
    per_token = max((int(p.size) - int(p.cycles) for p in perms), default=0)
    if g.order == 2:
        needed = 1
    elif kind is not None:  # cyclic/dihedral ⊂ O(2), and SO(3) rotations: two reflections each
        needed = min(2, per_token) if per_token else 2
    else:
        needed = per_token or int(f["max_reflections_perm_rep"])
    # S5 with a 5-cycle among the tokens: in every faithful real representation a 5-cycle fixes
    # a subspace of codimension 4 (from the character table: (d + 4·χ(5-cycle))/5 fixed dimensions
    # for the irreducibles of dimension d = 4, 4, 5, 5, 6), and I − (n_h Householder factors) has
    # rank ≤ n_h, so one layer needs n_h ≥ 4 (DeltaProduct's "S5 needs 4", all elements as tokens)
    five_cycle = any(int(p.order()) == 5 and int(p.cycles) == 1 for p in perms)
    lower = 4 if g.name == "S5" and five_cycle else None
    return {
        "group": g.name,
        "order": int(f["order"]),
        "abelian": bool(f["abelian"]),
        "cyclic": bool(f["cyclic"]),
        "solvable": bool(f["solvable"]),
        "derived_length": f["derived_length"],
        "max_reflections_perm_rep": int(f["max_reflections_perm_rep"]),
        "embeds_so2": kind == "cyclic",
        "embeds_so3": kind is not None,
        "reflections_needed": needed,
        "reflections_lower_bound": lower,
        "token_orders": token_orders,
        "token_reflections": per_token,
        "extra": {"so3_type": kind},
    }


def probe_facts(probe: Probe) -> ProbeFacts:
    """The facts of ``probe`` (raises :class:`archlab.errors.ConfigError` for a group too large
    to tabulate, naming the limit)."""
    tag = probe.theory
    facts = ProbeFacts(probe=probe.spec(), name=probe.name, level=tag.level, task=tag.task)
    params = probe.params
    group: str | None = None
    tokens = None
    if probe.name == "word_problem":
        ids = getattr(probe, "token_ids", None)
        group, tokens = str(params["group"]), None if ids is None else tuple(int(i) for i in ids)
    elif probe.name in CYCLIC_PROBES:
        m = CYCLIC_PROBES[probe.name]
        group = f"Z{m}" if isinstance(m, int) else f"Z{int(params[m])}"
    if group is not None:
        gf = dict(_group_facts(group, tokens))
        extra = gf.pop("extra")
        for k, v in gf.items():
            setattr(facts, k, v)
        facts.extra.update(extra)
        if probe.name == "cycle_navigation":  # moves are 0, +1, −1: the ±1 steps have order m
            facts.token_orders = (int(params["m"]),) if int(params["m"]) > 1 else ()
    facts.star_free = STAR_FREE.get(probe.name, False if group is not None else None)
    if probe.name == "dyck":
        facts.extra["bracket_types"] = int(params["k"])
    if probe.name == "dyck" and params.get("bounded"):
        # only a bounded walk bounds the depth: max_depth alone caps the depth label, and an
        # unbounded walk at length 1000 nests tens deep
        facts.bounded_depth = int(params["max_depth"])
    if "info_bits_formula" in tag.facts:
        formula = str(tag.facts["info_bits_formula"])
        facts.info_formula = formula
        facts.info_bits = info_expression(formula, params)
    return facts


def info_expression(formula: str, params: dict[str, Any]) -> sympy.Expr:
    """A memory probe's information formula (e.g. ``L*log2(alphabet)``) as an exact sympy
    expression in ``L`` with the probe's parameters substituted (``3*L`` for alphabet 8)."""
    names: dict[str, Any] = {"L": L, "log2": lambda x: sympy.log(x, 2)}
    names.update({k: v for k, v in params.items() if isinstance(v, int) and not isinstance(v, bool)})
    return sympy.sympify(formula, locals=names)
