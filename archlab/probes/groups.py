"""Word problems of finite groups, for any group given by name.

Names: ``Z<m>`` cyclic of order m, ``S<n>`` symmetric, ``A<n>`` alternating, ``D<n>`` dihedral of
order 2n (the symmetries of an n-gon), and direct products joined by ``x``: ``A4xZ5``. Names are
case-insensitive (``s5`` = ``S5``). Every group is built as a permutation group with
:mod:`sympy.combinatorics` (a direct product acts on the disjoint union of its factors' points).

**Composition convention.** Elements are sympy ``Permutation`` objects, and ``p*q`` is sympy's
product: *apply p first, then q*, i.e. ``(p*q)(i) = q(p(i))`` and, on array forms,
``(p*q)[i] = q[p[i]]``. The word problem's state is the prefix product
``state_t = state_{t-1} * g_t = g_1 * g_2 * … * g_t``, which is the label at step t.

**Ids.** Element ids index the elements sorted lexicographically by array form, so the identity
is always id 0. Tokens and targets use the same ids.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from sympy.combinatorics import Permutation, PermutationGroup
from sympy.combinatorics.group_constructs import DirectProduct
from sympy.combinatorics.named_groups import (
    AlternatingGroup,
    CyclicGroup,
    DihedralGroup,
    SymmetricGroup,
)

from archlab.errors import ConfigError
from archlab.probes.base import Batch, Draws, Param, Probe, TheoryTag, make_batch
from archlab.probes.group_names import looks_like_named_group, named_group
from archlab.probes.regular import FINAL_ONLY, running_mask
from archlab.registry import PROBES

#: The largest group whose multiplication table is built (S7 has 5040 elements: a 50 MB table).
MAX_ORDER = 5040

_FACTOR = re.compile(r"([ZSAD])(\d+)")
_NAME = re.compile(r"[ZSAD]\d+(?:X[ZSAD]\d+)*")

#: Smallest parameter of each family (below it the group is trivial or not what the name says).
_MIN = {"Z": 2, "S": 2, "A": 3, "D": 3}
_FAMILY = {"Z": "cyclic", "S": "symmetric", "A": "alternating", "D": "dihedral"}

#: Named groups shown by ``archlab probe list`` (any other name works as well).
STANDARD_GROUPS = ("Z2", "Z3", "Z5", "Z60", "S3", "A4", "S4", "A4xZ5", "A5", "S5", "D4")


def looks_like_group(name: str) -> bool:
    """Whether ``name`` is written like a group name (it may still be out of range)."""
    return _NAME.fullmatch(name.upper()) is not None or looks_like_named_group(name)


def _factor_order(kind: str, n: int) -> int | None:
    """The order of one factor; None for S_n / A_n with n > 20, far beyond MAX_ORDER (S1000000 is
    not worth a factorial)."""
    if kind == "Z":
        return n
    if kind == "D":
        return 2 * n
    if n > 20:
        return None
    return math.factorial(n) if kind == "S" else math.factorial(n) // 2


def parse_group_name(name: str) -> tuple[str, list[tuple[str, int]]]:
    """Canonical name and factors of a group name; raises ConfigError naming the bad part."""
    up = name.strip().upper()
    if not _NAME.fullmatch(up):
        raise ConfigError(
            "word_problem.group",
            f"{name!r} is not a group name",
            "Z<m>, S<n>, A<n>, D<n> and products joined by x (e.g. A4xZ5), Q8, Q16, Dic<n>, SL(2,3), "
            "GL(2,3), PSL(2,7), F20, D2, or perm:(0 1 2)(3 4),(0 1)",
        )
    factors = [(k, int(n)) for k, n in _FACTOR.findall(up)]
    for kind, n in factors:
        if n < _MIN[kind]:
            raise ConfigError(
                "word_problem.group",
                f"{kind}{n}: the {_FAMILY[kind]} group needs n >= {_MIN[kind]}",
                f"{kind}<n> with n >= {_MIN[kind]}",
            )
    orders = [_factor_order(k, n) for k, n in factors]
    order = None if None in orders else math.prod(o for o in orders if o is not None)
    canonical = "x".join(f"{k}{n}" for k, n in factors)
    if order is None or order > MAX_ORDER:
        # exact when it is short; digits only beyond that (float() of a huge int overflows)
        told = "> 20!" if order is None else str(order) if order < 10**12 else f"~10^{len(str(order)) - 1}"
        raise ConfigError("word_problem.group", f"{canonical} has order {told}, too large to tabulate",
                          f"order <= {MAX_ORDER}")  # fmt: skip
    return canonical, factors


def _sympy_factor(kind: str, n: int) -> PermutationGroup:
    return {"Z": CyclicGroup, "S": SymmetricGroup, "A": AlternatingGroup, "D": DihedralGroup}[kind](n)


def cycle_notation(array_form: list[int]) -> str:
    """``(0 1)(2 3 4)``; the identity is ``e``."""
    cycles = Permutation(array_form).cyclic_form
    return "".join("(" + " ".join(map(str, c)) + ")" for c in cycles) or "e"


@dataclass(frozen=True)
class FiniteGroup:
    """A finite permutation group with its elements tabulated.

    ``elements[i]`` is the array form of element i (uint8, identity first); ``table[a, b]`` is the
    id of ``elements[a] * elements[b]`` in sympy's convention (apply a first, then b).
    """

    name: str
    sympy_group: PermutationGroup = field(repr=False)
    elements: np.ndarray = field(repr=False)
    table: np.ndarray = field(repr=False)

    @property
    def order(self) -> int:
        return int(self.elements.shape[0])

    @property
    def degree(self) -> int:
        return int(self.elements.shape[1])

    def id_of(self, array_form: list[int] | np.ndarray) -> int:
        arr = np.asarray(array_form, dtype=np.uint8)
        if arr.shape != (self.degree,):
            raise KeyError(f"{list(array_form)} is not an element of {self.name}")
        key = _codes(arr[None, :])
        i = int(np.searchsorted(self._keys, key)[0])
        if i >= self.order or self._keys[i] != key[0]:
            raise KeyError(f"{list(array_form)} is not an element of {self.name}")
        return i

    @functools.cached_property
    def _keys(self) -> np.ndarray:
        return _codes(self.elements)

    def permutation(self, i: int) -> Permutation:
        return Permutation(self.elements[i].tolist())

    def array_labels(self) -> list[str]:
        """Each element's array form, e.g. ``[1, 0, 2, 3, 4]`` (used as the JSON vocabulary)."""
        return [str(e) for e in self.elements.tolist()]

    def cycle_labels(self) -> list[str]:
        return [cycle_notation(e) for e in self.elements.tolist()]

    def n_cycles(self) -> np.ndarray:
        """Number of cycles of every element, fixed points included."""
        out = np.zeros(self.order, dtype=np.int64)
        for i, perm in enumerate(self.elements.tolist()):
            seen = [False] * len(perm)
            for start in range(len(perm)):
                if not seen[start]:
                    out[i] += 1
                    j = start
                    while not seen[j]:
                        seen[j] = True
                        j = perm[j]
        return out

    @functools.cached_property
    def facts(self) -> dict[str, Any]:
        """The group's facts from sympy (what the theory rules key on)."""
        g = self.sympy_group
        series = g.derived_series()
        solvable = bool(g.is_solvable)
        reflections = self.degree - self.n_cycles()
        return {
            "group": self.name,
            "order": self.order,
            "degree": self.degree,
            "abelian": bool(g.is_abelian),
            "cyclic": bool(g.is_cyclic),
            "solvable": solvable,
            "nilpotent": bool(g.is_nilpotent),
            "perfect": g.derived_subgroup().order() == self.order,
            "derived_series_orders": [int(s.order()) for s in series],
            # Number of steps of the derived series down to the trivial group; None when it stalls.
            "derived_length": len(series) - 1 if solvable else None,
            # Max over g of (degree − #cycles of g): reflections needed to write g in the
            # permutation representation sympy builds (Grazzi et al. 2025; DeltaProduct).
            "max_reflections_perm_rep": int(reflections.max()),
            "n_transpositions": int((reflections == 1).sum()),
            "exponent": int(np.lcm.reduce([int(o) for o in self._element_orders()])),
            "identity_id": 0,
            "convention": "state_t = state_{t-1} * g_t (sympy: apply state first, then g_t)",
        }

    @functools.cached_property
    def flat_table(self) -> np.ndarray:
        """``table`` flattened to int32 (row a*order + b), the layout the fast scan indexes."""
        return self.table.astype(np.int32).ravel()

    def _element_orders(self) -> list[int]:
        return [self.permutation(i).order() for i in range(self.order)]


def _codes(arrays: np.ndarray) -> np.ndarray:
    """An order-preserving key per array form (last axis): an int64 when it fits, else bytes."""
    d = arrays.shape[-1]
    if d**d < 2**62:
        weights = d ** np.arange(d - 1, -1, -1, dtype=np.int64)
        return arrays.astype(np.int64) @ weights
    return np.ascontiguousarray(arrays).view(np.dtype((np.void, d)))[..., 0]


def _tabulate(elements: np.ndarray) -> np.ndarray:
    """table[a, b] = id of elements[a] * elements[b], computed with numpy in row chunks."""
    n, d = elements.shape
    keys = _codes(elements)
    dtype = np.int16 if n < 2**15 else np.int32
    table = np.empty((n, n), dtype=dtype)
    chunk = max(1, 2_000_000 // (n * d))
    for start in range(0, n, chunk):
        a = elements[start : start + chunk]  # [c, d]
        # (a*b)[i] = b[a[i]]  → products[c, b, i] = elements[b, a[c, i]]
        products = elements[np.arange(n)[None, :, None], a[:, None, :].astype(np.intp)]
        table[start : start + chunk] = np.searchsorted(keys, _codes(products))
    return table


@functools.lru_cache(maxsize=64)
def get_group(name: str) -> FiniteGroup:
    """The tabulated group called ``name`` (cached): a Z/S/A/D name or product, or a name of
    :mod:`archlab.probes.group_names` (Q8, Dic3, SL(2,3), GL(2,3), PSL(2,7), F20, D2,
    ``perm:(0 1 2),(0 1)``)."""
    named = named_group(name)
    if named is not None:
        canonical, g = named
        order = int(g.order())
        if order > MAX_ORDER:
            raise ConfigError(
                "word_problem.group",
                f"{canonical} has order {order}, too large to tabulate",
                f"order <= {MAX_ORDER}",
            )
    else:
        canonical, factors = parse_group_name(name)
        if canonical != name:
            return get_group(canonical)
        groups = [_sympy_factor(k, n) for k, n in factors]
        g = groups[0] if len(groups) == 1 else DirectProduct(*groups)
    elems = np.array([p.array_form for p in g.generate()], dtype=np.uint8)
    elems = elems[np.argsort(_codes(elems), kind="stable")]
    return FiniteGroup(canonical, g, np.ascontiguousarray(elems), _tabulate(elems))


def group_facts(name: str) -> dict[str, Any]:
    return dict(get_group(name).facts)


def prefix_products(group: FiniteGroup, tok: np.ndarray) -> np.ndarray:
    """Prefix products along axis 0 of a time-major [T, B] array of element ids.

    A blocked scan: with blocks of k ≈ √T steps, the products inside every block are formed for
    all blocks at once (k − 1 vectorised steps), then one sequential pass of T/k steps carries
    the state from block to block, and one last vectorised lookup combines the two. That is
    about 2·√T numpy calls instead of T, each on a large array.
    """
    T, B = tok.shape
    order, flat = group.order, group.flat_table
    k = max(1, int(np.sqrt(T)))
    nb = -(-T // k)
    x = np.zeros((nb * k, B), dtype=np.int32)  # padding with the identity (id 0) changes nothing
    x[:T] = tok
    x = x.reshape(nb, k, B)
    within = np.empty_like(x)  # within[j, i] = product of the first i+1 elements of block j
    within[:, 0] = x[:, 0]
    for i in range(1, k):
        within[:, i] = flat.take(within[:, i - 1] * order + x[:, i])
    before = np.zeros((nb, B), dtype=np.int32)  # before[j] = product of all blocks before j
    for j in range(1, nb):
        before[j] = flat.take(before[j - 1] * order + within[j - 1, k - 1])
    states = flat.take(before[:, None, :] * order + within)
    return states.reshape(nb * k, B)[:T]


GENERATOR_SETS = ("all", "nonidentity", "generators", "transpositions")


@PROBES.register("word_problem")
class WordProblem(Probe):
    """Word problem of a finite group: the label at step t is the prefix product g_1·…·g_t.

    Tokens are group elements (ids as in :class:`FiniteGroup`, identity = 0); targets use the same
    ids. Example for S3 (cycle notation, sympy's convention p·q = apply p first, then q):
    tokens ``(0 1)  (1 2)  (0 1)`` → targets ``(0 1)  (0 2 1)  (0 2)``, since
    (0 1)·(1 2) sends 0→1→2, 1→0→0, 2→2→1, i.e. (0 2 1), and (0 2 1)·(0 1) = (0 2).

    ``generators`` restricts the tokens: ``all`` elements, ``nonidentity``, sympy's
    ``generators`` of the group, or only ``transpositions`` (for groups that contain any).

    ``apply_first`` fixes the composition order: ``state`` (the default, above: the state so far
    is applied first, then the new element, s_t = s_{t-1}·g_t in sympy's convention) or ``token``
    (the new element is applied first, s_t = s_{t-1} ∘ g_t as functions: the convention of
    Merrill et al.'s word-problem code, where target[t] = x_0 ∘ x_1 ∘ … ∘ x_t). The two give the
    same labels under element ↦ inverse. ``bos`` puts a BOS token (id = the group's order) before
    the sequence, unscored, as that code does.
    """

    name = "word_problem"
    family = "group"
    level = "regular"
    task = "prefix product of group elements (state tracking)"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param(
            "group",
            str,
            "S5",
            "group name: Z<m>, S<n>, A<n>, D<n>, products like A4xZ5, Q8, Dic<n>, SL(2,3), GL(2,3), "
            "PSL(2,7), F20, D2, or perm:(0 1 2)(3 4),(0 1)",
        ),
        Param("generators", str, "all", "which elements appear as tokens", choices=GENERATOR_SETS),
        FINAL_ONLY,
        Param(
            "apply_first",
            str,
            "state",
            "composition order: state (s·g, sympy) or token (s∘g, the word-problem repo)",
            choices=("state", "token"),
        ),
        Param("bos", bool, False, "prepend an unscored BOS token (id = group order)"),
    )

    def _validate(self) -> None:
        self.group = get_group(self.params["group"])
        self.params["group"] = self.group.name
        self.token_ids = self._token_ids()

    def _token_ids(self) -> np.ndarray:
        g, which = self.group, self.params["generators"]
        if which == "all":
            return np.arange(g.order)
        if which == "nonidentity":
            return np.arange(1, g.order)
        if which == "generators":
            return np.unique([g.id_of(p.array_form) for p in g.sympy_group.generators])
        ids = np.flatnonzero(g.degree - g.n_cycles() == 1)
        if ids.size == 0:
            raise ConfigError(
                "word_problem.generators",
                f"{g.name} contains no transpositions",
                "all | nonidentity | generators",
            )
        return ids

    def spec(self) -> str:
        """The group's name plus non-default options, e.g. ``S5(generators=transpositions)``."""
        extra = [
            f"{p.name}={self.params[p.name]}"
            for p in self.PARAMS
            if p.name != "group" and self.params[p.name] != p.default
        ]
        return self.group.name + (f"({', '.join(extra)})" if extra else "")

    def token_labels(self) -> list[str]:
        return self.group.array_labels() + (["BOS"] if self.params["bos"] else [])

    def target_labels(self) -> list[str]:
        return self.group.array_labels()

    def seq_len(self, length: int) -> int:
        return length + int(self.params["bos"])

    @functools.cached_property
    def inverse(self) -> np.ndarray:
        """inverse[i] = the id of element i's inverse."""
        return np.argmax(self.group.table == 0, axis=1).astype(np.int32)

    @property
    def theory(self) -> TheoryTag:
        return TheoryTag(self.level, self.task, self.group.facts)

    def display_labels(self) -> tuple[list[str], list[str]]:
        labels = self.group.cycle_labels()
        return labels + (["BOS"] if self.params["bos"] else []), labels

    def _finish(self, tokens: np.ndarray, states: np.ndarray) -> Batch:
        """Tokens and states [B, T] → the batch, with the BOS column when asked for."""
        batch, length = tokens.shape
        mask = running_mask(batch, length, self.params["final_only"])
        if self.params["bos"]:
            col = np.full((batch, 1), self.group.order, dtype=np.int64)
            tokens = np.concatenate([col, tokens], axis=1)
            states = np.concatenate([np.zeros_like(col), states], axis=1)
            mask = np.concatenate([np.zeros((batch, 1), dtype=bool), mask], axis=1)
        return make_batch(tokens, states, mask)

    def label(self, tokens: np.ndarray) -> Batch:
        """The batch for given element ids [B, length] (without the BOS column)."""
        tok = np.asarray(tokens).T.astype(np.int32)
        if self.params["apply_first"] == "token":
            # s_{t-1} ∘ g_t = (g_t^-1 ∘ s_{t-1}^-1)^-1: the sympy-order scan of the inverses
            states = self.inverse[prefix_products(self.group, self.inverse[tok])]
        else:
            states = prefix_products(self.group, tok)
        return self._finish(tok.T, states.T)

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        # uint16 draws are several times faster than uint8 ones in numpy 2.x; drawn time-major
        # because the scan walks over time.
        n = len(self.token_ids)
        return {"choice": rng.integers(0, n, size=(length, batch), dtype=np.uint16)}

    def _tokens_tm(self, choice: np.ndarray) -> np.ndarray:
        if self.params["generators"] == "all":
            return choice
        return self.token_ids.astype(np.uint16)[choice]

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        return self.label(self._tokens_tm(draws["choice"]).T)

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        g = self.group
        perms = [g.permutation(i) for i in range(g.order)]
        index = {tuple(p.array_form): i for i, p in enumerate(perms)}
        tokens = self._tokens_tm(draws["choice"]).T.tolist()
        token_first = self.params["apply_first"] == "token"
        targets = []
        for row in tokens:
            state = Permutation(list(range(g.degree)))
            out = []
            for tok in row:
                # sympy's p*q applies p first
                state = perms[tok] * state if token_first else state * perms[tok]
                out.append(index[tuple(state.array_form)])
            targets.append(out)
        return self._finish(np.array(tokens), np.array(targets))
