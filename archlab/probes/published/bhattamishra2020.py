"""The formal languages of Bhattamishra, Ahuja & Goyal (EMNLP 2020), "On the Ability and Limitations
of Transformers to Recognize Formal Languages", with their next-character targets.

Source: satwik77/Transformer-Formal-Languages at 48eea2e (``src/dataloader.py`` and the language
generators it calls), read for facts; nothing copied. The probe ``formal_language`` takes the
language by name. Its rows are valid strings of the language, padded to the batch width with the
pad token ``T`` (id 0, unscored, as their loss mask does). The label at position t is their
target vector after the prefix s_1 … s_t — which next symbols are allowed (or, for some
languages, whether the prefix is in the language) — as one class: the vector read as a binary
number, dimension 0 the lowest bit. A string is correct when every position is, as they score.

Each language is tagged star-free, non-star-free (regular languages) or counter as Bhattamishra
et al. group them in their Sec. 5 and tables (from the paper's text as summarised in its
abstract and by the fixture README; the tables themselves were not re-read here) and as Sarrof,
Veitsman & Hahn (NeurIPS 2024) group the same suite in their official code
(lacoco-lab/ssm_expressivity @5b87520: configs/dataset/*.yaml lang_fam, and the plotting
notebook's star-free / non-star-free / counter panels). Sarrof et al.'s additions follow their
generators (src/generators/starfree_generator.py): aa*bb*cc*dd*ee*, {a,b}*d{b,c}* and
{0,1,2}*02*; Reset-Dyck-1 follows Bhattamishra et al.'s src/utils/reset_dyck_generator.py.
Their bounded Dyck with 8 bracket types and depth ≤ 10 (from Yao et al.) is not here: its stack
states (8^10) cannot be tabulated and it has no sampler of its own yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from archlab.errors import ConfigError
from archlab.probes.base import Batch, Draws, Param, Probe, TheoryTag, make_batch
from archlab.probes.memory import ParamMinLength
from archlab.registry import PROBES

PEER = "satwik77/Transformer-Formal-Languages"
SOURCE = "Bhattamishra, Ahuja & Goyal 2020 (EMNLP, arXiv 2009.11264), Sec. 5 (language classes)"

State = Any
DEAD = None


@dataclass(frozen=True)
class Language:
    """A language as a deterministic machine: ``step`` returns the next state (DEAD: no valid
    continuation), ``target`` the target vector after a prefix, ``accepts`` membership."""

    name: str
    alphabet: str
    dims: tuple[str, ...]
    kind: str  # star-free | non-star-free | counter | regular
    init: State
    step: Callable[[State, str], State]
    target: Callable[[State], tuple[int, ...]]
    accepts: Callable[[State], bool]
    #: bracket types of a Shuffle-Dyck language (0 otherwise): its states, one depth per type,
    #: number ~ L^n / n! at length L, too many to tabulate, so it is labelled and sampled from
    #: the depths directly (:class:`ShuffleDepths`)
    shuffle: int = 0


def _dfa(table: dict[tuple[State, str], State]) -> Callable[[State, str], State]:
    return lambda s, c: table.get((s, c), DEAD)


def _next_of(alphabet: str, step: Callable[[State, str], State]) -> Callable[[State], tuple[int, ...]]:
    """The vector 'appending c keeps a valid continuation', per symbol of ``alphabet``."""
    return lambda s: tuple(int(step(s, c) is not DEAD) for c in alphabet)


def _next_in(
    alphabet: str, step: Callable[[State, str], State], accepts: Callable[[State], bool]
) -> Callable[[State], tuple[int, ...]]:
    """The vector 'appending c gives a prefix in the language' (their Tomita-3 targets: after an
    odd block of 1s a 0 is marked not allowed, though 00 may follow)."""
    return lambda s: tuple(int((x := step(s, c)) is not DEAD and accepts(x)) for c in alphabet)


def _member(accepts: Callable[[State], bool]) -> Callable[[State], tuple[int, ...]]:
    """Their one-hot (prefix not in the language, prefix in it)."""
    return lambda s: (0, 1) if accepts(s) else (1, 0)


def _tomita(n: int) -> Language:
    a = "01"
    if n == 1:  # 1*
        step = _dfa({(0, "1"): 0})
        acc = lambda s: True  # noqa: E731
    elif n == 2:  # (10)*
        step = _dfa({(0, "1"): 1, (1, "0"): 0})
        acc = lambda s: s == 0  # noqa: E731
    elif n == 3:  # no odd block of 1s followed by an odd block of 0s
        step = _dfa(
            {(0, "0"): 0, (0, "1"): 1, (1, "1"): 0, (1, "0"): 2, (2, "0"): 3, (3, "0"): 2, (3, "1"): 1}
        )
        acc = lambda s: s != 2  # noqa: E731
    elif n == 4:  # no 000
        step = _dfa({(0, "1"): 0, (1, "1"): 0, (2, "1"): 0, (0, "0"): 1, (1, "0"): 2})
        acc = lambda s: True  # noqa: E731
    elif n == 5:  # even numbers of 0s and of 1s
        step = lambda s, c: (s[0] ^ (c == "0"), s[1] ^ (c == "1"))  # noqa: E731
        acc = lambda s: s == (0, 0)  # noqa: E731
    elif n == 6:  # (#0 - #1) divisible by 3
        step = lambda s, c: (s + (1 if c == "0" else -1)) % 3  # noqa: E731
        acc = lambda s: s == 0  # noqa: E731
    else:  # 7: 0*1*0*1*
        step = lambda s, c: next((p for p in range(s, 4) if "0101"[p] == c), DEAD)  # noqa: E731
        acc = lambda s: True  # noqa: E731
    init = (0, 0) if n == 5 else 0
    member = n in (5, 6)
    return Language(
        f"tomita{n}",
        a,
        ("prefix not in language", "prefix in language") if member else ("0 allowed", "1 allowed"),
        "non-star-free" if n in (3, 5, 6) else "star-free",
        init,
        step,
        _member(acc) if member else _next_in(a, step, acc) if n == 3 else _next_of(a, step),
        acc,
    )


def _power(word: str, name: str, kind: str) -> Language:
    """(word)*: membership of the prefix."""
    step = lambda s, c: (s + 1) % len(word) if word[s] == c else DEAD  # noqa: E731
    acc = lambda s: s == 0  # noqa: E731
    return Language(name, "".join(sorted(set(word))), ("not in", "in"), kind, 0, step, _member(acc), acc)


def _dn(n: int) -> Language:
    """D_n: Dyck-1 (a = open, b = close) of depth at most n."""
    step = lambda d, c: (d + 1 if d < n else DEAD) if c == "a" else (d - 1 if d > 0 else DEAD)  # noqa: E731
    return Language(f"D_{n}", "ab", ("a", "b"), "star-free", 0, step, _next_of("ab", step), lambda d: d == 0)


def _dyck(pairs: str, max_depth: int | None, shuffle: bool, name: str) -> Language:
    """Dyck (a stack of open brackets) or Shuffle-Dyck (one counter per type); opens are always
    allowed next, as their targets say (even at the depth bound)."""
    opens, closes = pairs[0::2], pairs[1::2]

    def step(s: tuple[int, ...], c: str) -> State:
        if c in opens:
            if max_depth is not None and (sum(s) if shuffle else len(s)) >= max_depth:
                return DEAD
            i = opens.index(c)
            return tuple(v + (j == i) for j, v in enumerate(s)) if shuffle else (*s, i)
        i = closes.index(c)
        if shuffle:
            return tuple(v - (j == i) for j, v in enumerate(s)) if s[i] > 0 else DEAD
        return s[:-1] if s and s[-1] == i else DEAD

    def target(s: tuple[int, ...]) -> tuple[int, ...]:
        out = []
        for i in range(len(opens)):
            close_ok = s[i] > 0 if shuffle else bool(s) and s[-1] == i
            out += [1, int(close_ok)]
        return tuple(out)

    init: tuple[int, ...] = (0,) * len(opens) if shuffle else ()
    dims = tuple(ch for ch in pairs)
    types = len(opens) if shuffle and max_depth is None else 0
    return Language(name, pairs, dims, "counter", init, step, target, lambda s: not any(s), types)


def _a_star_b_star() -> Language:
    # state: the last letter; their target: that letter's successor and its predecessor
    # (after a: {a, b}; after b: {b, end})
    step = _dfa({("", "a"): "a", ("", "b"): "b", ("a", "a"): "a", ("a", "b"): "b", ("b", "b"): "b"})
    table = {"a": (1, 1, 0), "b": (0, 1, 1), "": (1, 1, 1)}
    return Language(
        "a_star_b_star", "ab", ("a", "b", "T"), "star-free", "", step, table.__getitem__, lambda s: True
    )


def _counting(letters: str) -> Language:
    """aⁿbⁿ…: each letter of ``letters`` n ≥ 1 times, in order (their CounterLanguage). Target:
    the next allowed letters — {a, b} while reading a's, then the current letter until its n-th,
    then the next letter, and T after the last one. State (n, phase, k): n a's read; in a later
    phase, k of that letter so far."""
    last = len(letters) - 1

    def step(s: tuple[int, int, int], c: str) -> State:
        n, phase, k = s
        if phase == 0:
            if c == letters[0]:
                return (n + 1, 0, 0)
            return (n, 1, 1) if c == letters[1] and n > 0 else DEAD
        if c == letters[phase] and k < n:
            return (n, phase, k + 1)
        if phase < last and c == letters[phase + 1] and k == n:
            return (n, phase + 1, 1)
        return DEAD

    def target(s: tuple[int, int, int]) -> tuple[int, ...]:
        n, phase, k = s
        out = [0] * (len(letters) + 1)
        if phase == 0:
            out[0] = out[1] = 1
        else:
            out[phase + 1 if k == n else phase] = 1  # the next letter, or T after the last
        return tuple(out)

    name = "".join(f"{c}n" for c in letters)
    return Language(
        name, letters, (*letters, "T"), "counter", (0, 0, 0), step, target,
        lambda s: s[1] == last and s[2] == s[0],
    )  # fmt: skip


def _reset_dyck() -> Language:
    """Reset-Dyck-1 as their generator writes it (src/utils/reset_dyck_generator.py): a prefix of
    a Dyck-1 word, the reset symbol 1, then a Dyck-1 word. Target: ( always allowed, ) allowed
    when the depth since the last reset is positive (their two output dimensions). State
    (reset seen, depth)."""

    def step(s: tuple[int, int], c: str) -> State:
        reset, d = s
        if c == "1":
            return (1, 0) if not reset else DEAD
        if c == "(":
            return (reset, d + 1)
        return (reset, d - 1) if d > 0 else DEAD

    return Language(
        "reset_dyck1", "()1", ("(", ")"), "counter", (0, 0), step,
        lambda s: (1, int(s[1] > 0)), lambda s: s == (1, 0),
    )  # fmt: skip


def _boolean(n: int) -> Language:
    """n-ary Boolean expressions in Polish notation over 0, 1 and the operators ~ + > * ^ of
    arity 1 … n (their NAryBooleanExpLang): the state is how many operands are still needed;
    the target, whether the prefix is a complete expression."""
    if not 1 <= n <= 5:
        raise ValueError("BoolExp-n is defined for n = 1 … 5")
    arity = {"0": 0, "1": 0, **{op: i + 1 for i, op in enumerate("~+>*^"[:n])}}
    step = lambda need, c: need - 1 + arity[c] if need > 0 else DEAD  # noqa: E731
    acc = lambda need: need == 0  # noqa: E731
    return Language(
        f"boolean{n}", "".join(arity), ("not complete", "complete"), "counter", 1, step, _member(acc), acc
    )


def _parity() -> Language:
    """Strings of 0s and 1s with an even number of 1s (their ParityLanguage); target: whether the
    prefix has an even number of 1s."""
    step = lambda s, c: s ^ (c == "1")  # noqa: E731
    acc = lambda s: s == 0  # noqa: E731
    return Language("parity", "01", ("odd", "even"), "non-star-free", 0, step, _member(acc), acc)


def _letter_runs(letters: str) -> Language:
    """aa*bb*cc*… : every letter at least once, in order (Sarrof et al.'s AAStarBBStarLanguage).
    Target after a letter: it or the next one (the last: it or T)."""
    nxt = {c: letters[i + 1] if i + 1 < len(letters) else "T" for i, c in enumerate(letters)}

    def step(s: str, c: str) -> State:
        if s == "":
            return c if c == letters[0] else DEAD
        return c if c in (s, nxt[s]) else DEAD

    dims = (*letters, "T")
    name = "_".join(f"{c}{c}_star" for c in letters)
    return Language(
        name, letters, dims, "star-free", "", step,
        lambda s: tuple(int(s != "" and d in (s, nxt[s])) for d in dims), lambda s: s == letters[-1],
    )  # fmt: skip


def _ab_d_bc() -> Language:
    """{a,b}*d{b,c}* (Sarrof et al.'s AB_D_BC): targets over (a, b, c, d) — before the d, a, b
    or d; from the d on, b or c."""
    step = _dfa({(0, "a"): 0, (0, "b"): 0, (0, "d"): 1, (1, "b"): 1, (1, "c"): 1})
    table = {0: (1, 1, 0, 1), 1: (0, 1, 1, 0)}
    return Language(
        "ab_star_d_bc_star", "abcd", ("a", "b", "c", "d"), "star-free", 0, step, table.__getitem__,
        lambda s: s == 1,
    )  # fmt: skip


def _zot() -> Language:
    """{0,1,2}*02* (Sarrof et al.'s ZOT_Z_T): target 'e' (the string may end) only at a 2 whose
    last 0/1 before it was a 0, else 'c' (continue) — their labelling marks a final 0 'c' too,
    though such a string is in the language. States: 0 = last 0/1 was a 1 (or none), 1 = just
    read a 0, 2 = a 2 after the last 0."""
    step = _dfa({(s, "0"): 1 for s in range(3)} | {(s, "1"): 0 for s in range(3)}
                | {(0, "2"): 0, (1, "2"): 2, (2, "2"): 2})  # fmt: skip
    return Language(
        "012_star_0_2_star", "012", ("c", "e"), "star-free", 0, step,
        lambda s: (0, 1) if s == 2 else (1, 0), lambda s: s in (1, 2),
    )  # fmt: skip


#: their bracket pairs, in order (src/utils/shuffle_generator.py, dyck_generator.py)
SHUFFLE_PAIRS = "()[]{}<>+-abxo"

LANGUAGES: dict[str, Language] = {
    lang.name: lang
    for lang in (
        *(_tomita(i) for i in range(1, 8)),
        _power("aa", "aa_star", "non-star-free"),
        _power("aaaa", "aaaa_star", "non-star-free"),
        _power("ab", "ab_star", "star-free"),
        _power("abab", "abab_star", "non-star-free"),
        _a_star_b_star(),
        *(_dn(i) for i in (2, 3, 4, 12)),
        _dyck("()", None, False, "dyck1"),
        _dyck("()[]", 10, False, "dyck2_bounded_depth10"),
        *(_dyck(SHUFFLE_PAIRS[: 2 * n], None, True, f"shuffle{n}") for n in (2, 4, 6)),
        _reset_dyck(),
        *(_counting(w) for w in ("ab", "abc", "abcd")),
        _boolean(3),
        _boolean(5),
        _parity(),
        _letter_runs("abcde"),
        _ab_d_bc(),
        _zot(),
    )
}
# bounded-depth Dyck is regular; their tables do not place it among the star-free ones
LANGUAGES["dyck2_bounded_depth10"] = LANGUAGES["dyck2_bounded_depth10"].__class__(
    **{**LANGUAGES["dyck2_bounded_depth10"].__dict__, "kind": "regular"}
)


@PROBES.register("formal_language")
class FormalLanguage(Probe):
    """Valid strings of one of Bhattamishra et al.'s languages with their next-character targets
    (see the module docstring). Example (``language=D_2``): ``a a b a b b`` → the allowed next
    sets {a}→… after each prefix: ``{a,b} {b} {a,b} {b} {a,b} {a}``, i.e. classes
    ``3 2 3 2 3 1``."""

    name = "formal_language"
    family = "bhattamishra2020"
    level = "regular"
    task = "next-allowed-character vector after every prefix of a valid string"
    PARAMS = (
        Param("language", str, "tomita3", "the language", choices=tuple(LANGUAGES)),
        Param(
            "exact_length",
            bool,
            False,
            "every string is as long as the batch length allows (the longest string of the language "
            "that fits); off: each string's length is uniform in [length/2, length]",
        ),
    )

    #: the shortest non-empty string of the language
    min_length = ParamMinLength(lambda p: p.shortest())

    def _validate(self) -> None:
        self.lang = LANGUAGES[self.params["language"]]
        self._tables: StateTables | None = None

    @property
    def theory(self) -> TheoryTag:
        level = "counter" if self.lang.kind == "counter" else "regular"
        return TheoryTag(
            level, self.task, {"language": self.lang.name, "class": self.lang.kind, "source": SOURCE}
        )

    def token_labels(self) -> list[str]:
        return ["T", *self.lang.alphabet]

    def target_labels(self) -> list[str]:
        dims = self.lang.dims
        return [
            "{" + ",".join(d for i, d in enumerate(dims) if c >> i & 1) + "}" for c in range(2 ** len(dims))
        ]

    # -- labelling ---------------------------------------------------------------------------------
    def answer(self, letters: str) -> list[int]:
        """The target class after every prefix of a valid string (the reference labelling)."""
        s, out = self.lang.init, []
        for i, c in enumerate(letters):
            s = self.lang.step(s, c)
            if s is DEAD:
                raise ValueError(f"{letters[: i + 1]!r} is not a prefix of a {self.lang.name} string")
            out.append(sum(v << j for j, v in enumerate(self.lang.target(s))))
        if not self.lang.accepts(s):
            raise ValueError(f"{letters!r} is not in {self.lang.name}")
        return out

    def label(self, tokens: np.ndarray) -> Batch:
        """Rows of ids (0 = T padding at the end) → the scored batch, one row at a time through
        the language's step function (the reference; :meth:`build` uses the state tables)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        alphabet = self.token_labels()
        targets = np.zeros_like(tokens)
        mask = tokens != 0
        for i, row in enumerate(tokens.tolist()):
            n = int(mask[i].sum())
            targets[i, :n] = self.answer("".join(alphabet[t] for t in row[:n]))
        return make_batch(tokens, targets, mask)

    def tables(self, horizon: int) -> StateTables:
        """The language's state tables up to strings of length ``horizon`` (cached; rebuilt for
        the horizon rounded up to a multiple of 64 when a longer one is asked for: a counter
        language's states grow with the horizon, Shuffle-2's as its square)."""
        have = self._tables
        if have is None or have.horizon < horizon:
            self._tables = have = StateTables.build(self.lang, -(-horizon // 64) * 64)
        return have

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        """The labels of all rows at once: the state ids follow the tokens through the transition
        table (padding keeps the state; invalid letters lead to a dead sink), one position at a
        time for the whole batch; Shuffle-Dyck from its depths (:class:`ShuffleDepths`)."""
        tokens = np.asarray(draws["tokens"], dtype=np.int64)
        if self.lang.shuffle:
            targets, mask = ShuffleDepths(self.lang.shuffle).label(tokens)
            return make_batch(tokens, targets, mask)
        tab = self.tables(tokens.shape[1])
        width = len(self.lang.alphabet)
        # time-major, so that every step reads and writes contiguous rows; column ``width`` of the
        # padded table is the padding letter
        cols = np.ascontiguousarray(np.where(tokens == 0, width, tokens - 1).T)
        states = np.empty_like(cols)
        state = np.zeros(tokens.shape[0], dtype=np.int64)  # id 0 = the initial state
        trans, w1 = tab.padded.ravel(), width + 1
        for t in range(tokens.shape[1]):
            state = trans.take(state * w1 + cols[t])
            states[t] = state
        states = states.T
        mask = tokens != 0
        if (states == tab.sink).any():
            raise ValueError(f"a row is not a prefix of a {self.lang.name} string")
        if tokens.shape[1] and not tab.accept[states[:, -1]].all():
            raise ValueError(f"a row is not in {self.lang.name}")
        return make_batch(tokens, np.where(mask, tab.target[states], 0), mask)

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        return self.label(draws["tokens"])

    # -- sampling ----------------------------------------------------------------------------------
    def shortest(self) -> int:
        if self.lang.shuffle:
            return 2
        tab = self.tables(64)
        return next(n for n in range(1, 65) if tab.can[n, 0])

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        """``batch`` valid strings, each of a length drawn uniformly in [length/2, length] (or
        ``length`` with ``exact_length``) and cut to the longest length ≤ it that the language
        has; letter by letter, uniformly among the letters after which the string can still end
        at that length. Rows are padded with T (id 0)."""
        lo = length if self.params["exact_length"] else max(self.min_length, length // 2)
        want = rng.integers(lo, length + 1, size=batch)
        if self.lang.shuffle:
            return {"tokens": ShuffleDepths(self.lang.shuffle).draw(rng, want - want % 2, length)}
        tab = self.tables(length)
        n = tab.longest[want]  # the longest length <= want with a string from the start
        if (n == 0).any():
            raise ConfigError(
                "length", f"{self.lang.name} has no string of length <= {length}", "a longer length"
            )
        u = rng.random((batch, length))
        width = len(self.lang.alphabet)
        # flat offsets into ``good`` by the letters still to come after position t (time-major,
        # so that every step reads contiguous rows); past a row's end, its all-zero last row
        rows = n[None, :] - np.arange(length)[:, None] - 1
        offsets = np.where(rows >= 0, rows, tab.good.shape[0] - 1) * tab.good.shape[1]
        uniform = np.ascontiguousarray(u.T)
        letters = np.empty((length, batch), dtype=np.int64)
        state = np.zeros(batch, dtype=np.int64)
        good, trans, nth = tab.good.ravel(), tab.padded.ravel(), tab.nth_bit.ravel()
        popcount, stride, w1 = tab.popcount, tab.nth_bit.shape[1], width + 1
        for t in range(length):
            ok = good.take(offsets[t] + state).astype(np.int64)  # bit c: letter c lets the row end
            pick = (uniform[t] * popcount.take(ok)).astype(np.int64)  # the pick-th allowed letter
            c = nth.take(ok * stride + pick)  # ``width``, the padding letter, where none is allowed
            letters[t] = c
            state = trans.take(state * w1 + c)
        letters = letters.T
        tokens = np.where(letters == width, 0, letters + 1)
        return {"tokens": tokens}


@dataclass(frozen=True)
class ShuffleDepths:
    """Shuffle-Dyck with ``types`` bracket types, from its depths (one per type). Letter ids:
    1 + 2i opens type i, 2 + 2i closes it; 0 is the padding T. Targets as the tables would give
    them: every opening bracket allowed, a closing one when its depth is positive."""

    types: int

    def label(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask = tokens != 0
        letter = np.where(mask, tokens - 1, 0)
        sign = np.where(mask, 1 - 2 * (letter % 2), 0)
        kind = letter // 2
        delta = np.zeros((*tokens.shape, self.types), dtype=np.int64)
        np.put_along_axis(delta, kind[..., None], sign[..., None], axis=2)
        depth = np.cumsum(delta, axis=1)
        if (depth < 0).any() or (tokens.shape[1] and (depth[:, -1] != 0).any()):
            raise ValueError(f"a row is not a Shuffle-{self.types} string")
        opens = sum(1 << (2 * i) for i in range(self.types))
        closes = ((depth > 0) << (2 * np.arange(self.types) + 1)).sum(axis=2)
        return np.where(mask, opens + closes, 0), mask

    def draw(self, rng: np.random.Generator, n: np.ndarray, length: int) -> np.ndarray:
        """Rows of the even lengths ``n``: letter by letter, uniformly among those after which
        the row can still end at its length (open: the open brackets plus one fit in what is
        left; close: its depth is positive)."""
        batch, k2 = n.shape[0], 2 * self.types
        u = np.ascontiguousarray(rng.random((batch, length)).T)
        depth = np.zeros((batch, self.types), dtype=np.int64)
        tokens = np.zeros((length, batch), dtype=np.int64)
        rows = np.arange(batch)
        for t in range(length):
            left = n - t - 1  # letters after this one
            allowed = np.empty((batch, k2), dtype=bool)
            allowed[:, 0::2] = (depth.sum(axis=1) + 1 <= left)[:, None]
            allowed[:, 1::2] = depth > 0
            allowed &= (left >= 0)[:, None]
            count = allowed.sum(axis=1)
            pick = np.minimum((u[t] * count).astype(np.int64), np.maximum(count - 1, 0))
            c = np.argmax(np.cumsum(allowed, axis=1) > pick[:, None], axis=1)  # the pick-th allowed
            live = count > 0
            depth[rows[live], c[live] // 2] += 1 - 2 * (c[live] % 2)  # one (row, type) per row
            tokens[t] = np.where(live, c + 1, 0)
        return tokens.T.copy()


@dataclass(frozen=True)
class StateTables:
    """A language's deterministic machine as arrays, for the states reachable within ``horizon``
    letters: state 0 is the initial one; ``trans[s, c]`` the next state (-1: no valid
    continuation, or beyond the horizon); ``target[s]`` the target class after a prefix ending
    in ``s``; ``accept[s]``; ``can[r, s]``: a string can end exactly ``r`` letters after ``s``;
    ``good[r, s]``: bitmask of the letters after which it still can in ``r`` more; ``longest[m]``:
    the longest string length ≤ m (0: none)."""

    horizon: int
    trans: np.ndarray
    #: ``trans`` with a dead sink state (id ``sink``, which every invalid letter and the sink
    #: itself lead to) and a last column for the padding letter, which keeps the state
    padded: np.ndarray
    sink: int
    target: np.ndarray
    accept: np.ndarray
    can: np.ndarray
    good: np.ndarray
    longest: np.ndarray
    popcount: np.ndarray
    nth_bit: np.ndarray

    @classmethod
    def build(cls, lang: Language, horizon: int) -> StateTables:
        ids: dict[State, int] = {lang.init: 0}
        frontier, order = [lang.init], [lang.init]
        edges: list[tuple[int, int, int]] = []
        for _ in range(horizon):  # breadth first, one level per letter
            nxt = []
            for st in frontier:
                for c, ch in enumerate(lang.alphabet):
                    x = lang.step(st, ch)
                    if x is DEAD:
                        continue
                    if x not in ids:
                        ids[x] = len(order)
                        order.append(x)
                        nxt.append(x)
                    edges.append((ids[st], c, ids[x]))
            frontier = nxt
        size, width = len(order), len(lang.alphabet)
        trans = np.full((size, width), -1, dtype=np.int64)
        for a, c, b in edges:
            trans[a, c] = b
        target = np.array([sum(v << j for j, v in enumerate(lang.target(x))) for x in order], dtype=np.int64)
        accept = np.array([bool(lang.accepts(x)) for x in order])
        can = np.zeros((horizon + 1, size), dtype=bool)
        can[0] = accept
        # one row more, all zero, that index -1 reads: no letter allowed (past a row's end)
        good = np.zeros((horizon + 2, size + 1), dtype=np.uint8 if width <= 8 else np.int64)
        valid = trans >= 0
        safe = np.where(valid, trans, 0)
        for r in range(1, horizon + 1):
            after = valid & can[r - 1][safe]  # [size, width]
            good[r - 1, :size] = (after << np.arange(width)).sum(axis=1)
            can[r] = after.any(axis=1)
        ends = np.flatnonzero(can[:, 0])
        k = np.searchsorted(ends, np.arange(horizon + 1), side="right")
        longest = np.where(k > 0, ends[np.maximum(k - 1, 0)], 0)
        popcount = np.array([bin(m).count("1") for m in range(1 << width)], dtype=np.int64)
        # nth_bit[m, j]: the j-th set bit of m; none set: the padding letter; one column more so
        # that a pick rounding up to popcount still reads the last set bit
        nth_bit = np.full((1 << width, width + 1), width, dtype=np.int64)
        for bitmask in range(1, 1 << width):
            bits = [c for c in range(width) if bitmask >> c & 1]
            nth_bit[bitmask, : len(bits)] = bits
            nth_bit[bitmask, len(bits) :] = bits[-1]
        sink = size
        padded = np.empty((size + 1, width + 1), dtype=np.int64)
        padded[:size, :width] = np.where(valid, trans, sink)
        padded[sink, :width] = sink
        padded[:, width] = np.arange(size + 1)
        target = np.append(target, 0)
        accept = np.append(accept, False)
        return cls(horizon, trans, padded, sink, target, accept, can, good, longest, popcount, nth_bit)


# ---------------------------------------------------------------------------------------------
# their data, checked (archlab probe fixtures)

#: their task names that differ from ours (D_n etc. are the same)
TASKS: dict[str, str] = {}


def check_fixture_rows(task: str, rows: list[dict], vocab: dict) -> list[str | None]:
    """Map their ids to letters (their vocabulary file), label with our language, compare the
    multi-hot target vectors at their loss-mask positions."""
    from archlab.probes.fixtures import NotCheckable, compare

    name = TASKS.get(task, task)
    if name not in LANGUAGES:
        raise NotCheckable(f"archlab has no language {task!r} (known: {', '.join(LANGUAGES)})")
    probe = FormalLanguage(language=name)
    letters = {int(k): v for k, v in vocab["vocabulary"].items()}
    if len(vocab.get("target_dims", [])) != len(probe.lang.dims):
        raise NotCheckable(
            f"their {len(vocab.get('target_dims', []))} target dims, ours {len(probe.lang.dims)}"
        )
    results: list[str | None] = []
    for row in rows:
        word = "".join(letters[t] for t in row["input"] if t != 0)
        try:
            ours = probe.answer(word)
        except ValueError as e:
            results.append(f"archlab cannot label this input: {e}")
            continue
        scored = [i for i, m in enumerate(row["loss_mask"]) if m]
        want = [sum(v << j for j, v in enumerate(row["target"][i])) for i in scored]
        results.append(compare(ours, want, "target class"))
    return results
