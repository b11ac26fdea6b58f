"""Context-free (and counter) probes: bracket languages, a^n b^n and the context-free tasks of
Delétang et al. (ICLR 2023): reverse string, stack manipulation, modular arithmetic with brackets.

The bracket probes need to know, for every close bracket, which open bracket it closes. The fast
implementations find it without a loop over time: give an open bracket the depth *after* it and
a close bracket the depth *before* it (its "level"); in a stable sort of one row by level, every
close comes right after the open it matches (within one level opens and closes alternate).
"""

from __future__ import annotations

import functools
from typing import ClassVar

import numpy as np

from archlab.errors import ConfigError
from archlab.probes.base import Batch, Draws, Param, Probe, TheoryTag, make_batch
from archlab.probes.sampling import bernoulli, prefix_sums, random_bits, uniform_digits, uniform_ints
from archlab.registry import PROBES


def _small_int(length: int) -> type[np.signedinteger]:
    """The smallest signed dtype that holds running sums/depths of a row of ``length`` steps."""
    return np.int16 if length < 2**15 - 2 else np.int32


def scan_time(x: np.ndarray, op: np.ufunc, reverse: bool = False) -> np.ndarray:
    """Inclusive scan of ``op`` along axis 0 (time-major data), by Hillis–Steele doubling:
    log2(T) passes of whole-array operations, each over contiguous memory (much faster than
    ``op.accumulate`` along a row)."""
    a = np.array(x[::-1] if reverse else x)
    b = np.empty_like(a)
    n, step = a.shape[0], 1
    while step < n:
        b[:step] = a[:step]
        op(a[step:], a[:-step], out=b[step:])
        a, b = b, a
        step *= 2
    return a[::-1] if reverse else a


def prev_in_level(level: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For every position, ``values`` at the previous position of the same row in the stable
    (level, position) order (0 for the first one).

    With ``level`` = depth after an open bracket / depth before a close bracket, the previous
    position of a close bracket in that order is the open bracket it matches.
    """
    key = level.astype(np.uint8) if level.shape[1] < 255 else level
    order = np.argsort(key, axis=1, kind="stable")
    v = np.take_along_axis(values, order, axis=1)
    shifted = np.empty_like(v)
    shifted[:, 0] = 0
    shifted[:, 1:] = v[:, :-1]
    out = np.empty_like(values)
    np.put_along_axis(out, order, shifted, axis=1)
    return out


@functools.lru_cache(maxsize=4)
def _walk_tables(wide: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tables of the reflected walk over a block of 8 steps coded by a byte v (bit i set: step i
    goes up): ``-S`` at the block end relative to its start, and its maximum over the block
    ([256]); and the depths after each step from a start depth D, as ``table[9 v + min(D, 8)]
    + D - min(D, 8)`` ([256 · 9, 8]; from depth 8 on no step of the block is forced); int16, or
    int32 when ``wide``."""
    bits = (np.arange(256)[:, None] >> np.arange(8)) & 1
    rel = np.cumsum(1 - 2 * bits, axis=1)
    depths = np.zeros((256, 9, 8), dtype=np.int64)
    for v in range(256):
        for start in range(9):
            d = start
            for i in range(8):
                d = d + 1 if d == 0 or bits[v, i] else d - 1
                depths[v, start, i] = d
    dtype = np.int32 if wide else np.int16
    return rel[:, 7].astype(dtype), rel.max(axis=1).astype(dtype), depths.reshape(-1, 8).astype(dtype)


def bounded_walk(up: np.ndarray, top: int) -> np.ndarray:
    """Depths of the ±1 walk on ``0 … top`` that steps up where ``up`` and down elsewhere,
    except that it always steps up from depth 0 and always down from depth ``top``: every
    prefix is a valid bracket prefix of nesting depth at most ``top``. One vectorised step per
    column (the doubly reflected walk has no closed form like :func:`reflected_walk`'s)."""
    rows, n = up.shape
    dt = _small_int(n)
    out = np.empty((rows, n), dtype=dt)
    d = np.zeros(rows, dtype=dt)
    for t in range(n):
        step = (up[:, t] | (d == 0)) & (d < top)
        d = d + (2 * step.astype(dt) - 1)
        out[:, t] = d
    return out


def reflected_walk(up: np.ndarray) -> np.ndarray:
    """Depths of the ±1 walk that steps up where ``up`` and down elsewhere, except that it always
    steps up from depth 0 (so every prefix is a valid bracket prefix).

    With S the free walk, the depth is ``S + 2 N`` where N, the number of forced up-steps so far,
    is ``max(0, max_{j<=t} ceil(-S_j / 2)) = ceil(M / 2)`` with ``M = max_{j<=t} -S_j`` (M >= -1
    since S starts at ±1; ``M + (M & 1)`` is 2 ceil(M / 2) also for M = -1).

    Computed in blocks of 8 steps (one packed byte each): the formula gives the depth at every
    block start from scans over the blocks only (8 times shorter), and a table the depths within
    a block from its start depth; the start depth beyond 8 is added four 16-bit lanes at a time
    (two 32-bit lanes for rows of 2¹⁵ steps or more).
    """
    rows, n = up.shape
    dt = _small_int(n)
    total, top, table = _walk_tables(dt != np.int16)
    packed = np.packbits(up, axis=1, bitorder="little")  # bit i of byte j: step 8 j + i
    tot = total.take(packed)
    start = np.cumsum(tot, axis=1, dtype=dt)
    start -= tot  # -S before each block
    best = top.take(packed)
    best += start  # max of -S within each block
    m = np.empty_like(start)  # max of -S before each block
    m[:, 0] = 0
    np.maximum.accumulate(best[:, :-1], axis=1, out=m[:, 1:])
    depth = m - start
    depth += m & 1
    depth[:, 0] = 0  # depth at each block start
    clipped = np.minimum(depth, 8)
    index = packed.astype(np.intp)
    index *= 9
    index += clipped
    out = table.take(index, axis=0)  # [rows, blocks, 8]
    depth -= clipped
    lanes = np.uint64(0x0001_0001_0001_0001 if dt == np.int16 else 0x0000_0001_0000_0001)
    words = out.view(np.uint64)  # [rows, blocks, 2 or 4], every lane non-negative: no carries
    add = depth.astype(np.uint64)
    add *= lanes
    for w in range(words.shape[2]):  # strided adds: faster than a broadcast over 2 or 4 words
        words[:, :, w] += add
    return out.reshape(rows, -1)[:, :n]


def _raw_bytes(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Uniform bytes (uint8) from 64-bit words of the bit generator."""
    n = shape[0] * shape[1]
    words = np.asarray(rng.bit_generator.random_raw(-(-n // 8)), dtype="<u8")
    return words.view(np.uint8)[:n].reshape(shape)


@PROBES.register("dyck")
class Dyck(Probe):
    """Dyck-k: well-nested brackets of k types, labelled at every position.

    Tokens: k open brackets then k close brackets, shown as ``( [ { <`` and ``) ] } >``
    (``o4 c4`` … beyond four types). Labels (``label``):

    * ``balanced`` — 1 where the prefix is a complete well-formed Dyck word; once the prefix is
      invalid (a close of the wrong type, or a close with nothing open) it stays 0;
    * ``depth`` — the nesting depth of the valid prefix, with class ``>=max_depth`` for depths
      from ``max_depth`` on and a last class ``invalid`` from the first error on.

    Example (k = 2): ``( [ ] ) [ ) (`` → balanced ``0 0 0 1 0 0 0``;
    depth (max_depth = 8) ``1 2 1 0 1 invalid invalid``.

    Generation: a walk that opens with probability ``p_open`` (always at depth 0) and closes the
    innermost open bracket otherwise; open types are uniform and independent. The walk is not
    bounded: at length 1000 and the default ``p_open`` its depth reaches tens (``max_depth`` only
    caps the depth *label*). With ``bounded`` the walk also always closes at depth
    ``max_depth``, so no sequence nests deeper: the bounded-depth Dyck language, which is
    regular (a finite automaton with one state per stack content of depth ≤ ``max_depth``). With probability
    ``p_error`` one close bracket, chosen uniformly, gets a wrong type (k >= 2), or, for k = 1,
    one of the brackets opened at depth 0 is replaced by a close.

    Draws: ``up`` (Bernoulli(``p_open``) per position, exact on the 2⁻³² grid), ``kind`` (uniform
    in [0, k) per position), ``err``. When k is a power of two, the type of an open at depth h
    (before it) is ``kind`` XOR the type of the previous open at depth h (0 for the first): given
    the past, it is still uniform and independent, so the distribution of sequences is that of
    independent uniform types, but the latest open per level — the one a close matches — is
    one running XOR away (see :meth:`_xor_types`). Otherwise the type is ``kind`` itself and the
    match is found by a sort by level (:func:`prev_in_level`).
    """

    name = "dyck"
    family = "context-free"
    level = "context-free"
    task = "is the prefix a well-formed Dyck-k word / its nesting depth"
    PARAMS = (
        Param("k", int, 2, "number of bracket types", low=1, high=16),
        Param("label", str, "balanced", "what to predict", choices=("balanced", "depth")),
        Param(
            "max_depth",
            int,
            8,
            "label=depth: the last depth class means >= max_depth; with bounded: the deepest nesting",
            low=1,
            high=65535,
        ),
        Param("bounded", bool, False, "generation never nests deeper than max_depth (a regular language)"),
        Param("p_error", float, 0.5, "probability that a sequence has one corruption", low=0.0, high=1.0),
        Param("p_open", float, 0.45, "probability of opening when the depth is positive", low=0.0, high=1.0),
    )
    SHOWN = ("()", "[]", "{}", "<>")

    def _validate(self) -> None:
        p = self.params
        default = next(x.default for x in self.PARAMS if x.name == "max_depth")
        if p["label"] == "balanced" and not p["bounded"] and p["max_depth"] != default:
            raise ConfigError(
                "dyck.max_depth", f"{p['max_depth']} changes nothing with label=balanced and bounded=false",
                "set label=depth (it caps the depth label) or bounded=true (it caps the nesting), or leave "
                "max_depth out",
            )  # fmt: skip

    @property
    def theory(self) -> TheoryTag:
        k = self.params["k"]
        level = "counter" if k == 1 else "context-free"
        facts: dict[str, object] = {"bracket_types": k, "label": self.params["label"]}
        if self.params["bounded"]:  # a finite automaton recognises nesting depth ≤ max_depth
            level = "regular"
            facts["bounded_depth"] = self.params["max_depth"]
        return TheoryTag(level, self.task, facts)

    def token_labels(self) -> list[str]:
        k = self.params["k"]
        opens = [self.SHOWN[i][0] if i < 4 else f"o{i}" for i in range(k)]
        closes = [self.SHOWN[i][1] if i < 4 else f"c{i}" for i in range(k)]
        return opens + closes

    def target_labels(self) -> list[str]:
        if self.params["label"] == "balanced":
            return ["0", "1"]
        md = self.params["max_depth"]
        return [str(i) for i in range(md)] + [f">={md}", "invalid"]

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        k = self.params["k"]
        shape = (batch, length)
        if k == 1:
            kind = np.zeros(shape, dtype=np.uint8)
        elif k == 2:
            kind = random_bits(rng, shape)
        elif k & (k - 1) == 0:  # a power of two: the low log2(k) bits of a random byte
            kind = _raw_bytes(rng, shape) & np.uint8(k - 1)
        else:
            kind = uniform_ints(rng, k, shape)
        return {
            "up": bernoulli(rng, self.params["p_open"], shape),
            "kind": kind,
            # [error?, which candidate, wrong-type offset]
            "err": rng.random((batch, 3)),
        }

    def _labels(self, depth: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Labels from the depths and the first invalid column ``e`` of every row."""
        rows = np.flatnonzero(e < depth.shape[1])
        if self.params["label"] == "balanced":
            ok = depth == 0
            ok[rows] &= np.arange(depth.shape[1]) < e[rows, None]
            return ok.astype(np.int64)
        valid = np.arange(depth.shape[1]) < e[:, None]
        md = self.params["max_depth"]
        # where(valid, min(depth, md), md + 1) without np.where (slow on these shapes)
        dt = np.int16 if md < 2**15 - 1 else np.int32
        lab = np.minimum(depth, min(md, depth.shape[1])).astype(dt, copy=False)
        lab += (~valid).view(np.int8) * (dt(md + 1) - lab)
        return lab.astype(np.int64)

    @staticmethod
    def _xor_types(kind: np.ndarray, is_open: np.ndarray, lvl: np.ndarray, k: int) -> np.ndarray:
        """Bracket types when k is a power of two: the type of an open at level h is the XOR of
        the kinds of every open at level h so far, so slot h (b = log2 k bits) of the running XOR
        of ``kind << b·h`` over the opens is the type of the latest open at level h — the open
        that a close back to level h matches. Slots are b = 1, 2, 4 or 4 bits wide (k = 2, 4, 8,
        16: b divides 32); one running XOR per 32-bit word of slots, the words beyond the first
        only for the rows that reach their levels (a shift of 32 or more gives 0)."""
        b = {2: 1, 4: 2, 8: 4, 16: 4}[k]
        per = 32 // b
        u = kind * is_open.view(np.uint8)
        shift = lvl.astype(np.uint32)
        if b > 1:
            shift *= np.uint32(b)
        top = lvl.max(axis=1)
        out = np.zeros(kind.shape, dtype=np.uint8)
        j = 0
        while True:
            if j == 0:
                rows: slice | np.ndarray = slice(None)
                sh = shift
            else:
                rows = np.flatnonzero(top >= j * per)
                if rows.size == 0:
                    return out
                sh = shift[rows] - np.uint32(32 * j)  # wraps to huge (a zero shift) below the word
            r = np.bitwise_xor.accumulate(u[rows].astype(np.uint32) << sh, axis=1)
            r >>= sh
            typ = r.astype(np.uint8)
            typ &= np.uint8(k - 1)
            if j == 0:
                out = typ
            else:
                out[rows] |= typ
            j += 1

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        k, p = self.params["k"], self.params
        d = bounded_walk(draws["up"], p["max_depth"]) if p["bounded"] else reflected_walk(draws["up"])
        prev = np.empty_like(d)
        prev[:, 0] = 0
        prev[:, 1:] = d[:, :-1]
        is_open = d > prev
        if k == 1:
            types = np.zeros(d.shape, dtype=np.uint8)
        elif k & (k - 1) == 0:
            types = self._xor_types(draws["kind"], is_open, np.minimum(prev, d), k)
        else:  # a close has the type of the open it matches (found by level)
            otype = draws["kind"]
            ctype = prev_in_level(d + ~is_open, otype)
            types = otype + (~is_open).view(np.uint8) * (ctype - otype)
        closing = (~is_open).view(np.uint8)
        tok = closing * np.uint8(k)
        tok += types
        tokens = tok.astype(np.int64)

        err = draws["err"]
        rows = np.flatnonzero(err[:, 0] < p["p_error"])
        e = np.full(batch, length, dtype=np.int64)
        if rows.size:
            if k == 1:  # a close at depth 0, in place of one of the opens at depth 0
                cum = prefix_sums((prev == 0).view(np.uint8), length)
            else:  # the number of closes up to t is (t + 1 - depth) / 2
                cum = np.arange(1, length + 1, dtype=d.dtype) - d
                cum >>= 1
            count = cum[rows, -1].astype(np.int64)
            rows = rows[count > 0]
            r = np.floor(err[rows, 1] * count[count > 0]).astype(np.int64)
            cols = np.count_nonzero(cum[rows] <= r[:, None], axis=1)  # first column above r
            e[rows] = cols
            if k == 1:
                tokens[rows, cols] = 1
            else:
                shift = 1 + np.floor(err[rows, 2] * (k - 1)).astype(np.int64)
                tokens[rows, cols] = k + (types[rows, cols] + shift) % k
        targets = self._labels(d, e)
        return Batch(tokens, targets, np.ones((batch, length), dtype=bool))

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        k, p = self.params["k"], self.params
        md = p["max_depth"]
        xor = k > 1 and k & (k - 1) == 0
        all_tokens, all_targets = [], []
        for ups, kinds, (u_err, u_which, u_type) in zip(
            draws["up"].tolist(), draws["kind"].tolist(), draws["err"].tolist(), strict=True
        ):
            # generate: a random walk over a stack of open bracket types
            depth, stack, tokens, candidates = 0, [], [], []
            last = [0] * (length + 1)  # k a power of two: the type of the latest open per level
            top = md if p["bounded"] else length
            for t in range(length):
                if depth == 0 or (ups[t] and depth < top):
                    if k == 1 and depth == 0:
                        candidates.append(t)
                    typ = kinds[t]
                    if xor:
                        typ ^= last[depth]
                        last[depth] = typ
                    stack.append(typ)
                    tokens.append(typ)
                    depth += 1
                else:
                    if k > 1:
                        candidates.append(t)
                    tokens.append(k + stack.pop())
                    depth -= 1
            if u_err < p["p_error"] and candidates:
                e = candidates[int(u_which * len(candidates))]
                if k == 1:
                    tokens[e] = 1
                else:
                    tokens[e] = k + (tokens[e] - k + 1 + int(u_type * (k - 1))) % k
            # label: an explicit recogniser
            stack, ok, row = [], True, []
            for tok in tokens:
                if ok:
                    if tok < k:
                        stack.append(tok)
                    elif stack and stack[-1] == tok - k:
                        stack.pop()
                    else:
                        ok = False
                if p["label"] == "balanced":
                    row.append(int(ok and not stack))
                else:
                    row.append(min(len(stack), md) if ok else md + 1)
            all_tokens.append(tokens)
            all_targets.append(row)
        return make_batch(
            np.array(all_tokens, dtype=np.int64).reshape(batch, length),
            np.array(all_targets, dtype=np.int64).reshape(batch, length),
            np.ones((batch, length), dtype=bool),
        )


@functools.lru_cache(maxsize=8)
def _anbn_templates(length: int) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows (read-only views) of the label and token templates of :class:`AnBn`."""
    t = length
    lab = np.concatenate(
        [
            np.ones(2 * t, np.int64),
            [2],
            np.zeros(2 * t, np.int64),
            np.ones(2 * t, np.int64),
            np.zeros(2 * t, np.int64),
        ]
    )
    tok = np.concatenate([np.zeros(t, np.int64), np.ones(t + 1, np.int64)])
    view = np.lib.stride_tricks.sliding_window_view
    return view(lab, t), view(tok, t)


@PROBES.register("anbn")
class AnBn(Probe):
    """Prefixes of a^n b^n (n >= 1), labelled at every position.

    Classes: 0 ``dead`` (no continuation is in the language), 1 ``viable`` (some continuation
    is, but the prefix itself is not), 2 ``member`` (the prefix is a^n b^n, n >= 1).
    Example: ``a a b b b`` → ``viable viable viable member dead``; ``b a`` → ``dead dead``.

    Generation: a^i b^(T-i) with i uniform in 0..T; with probability ``p_corrupt`` one position,
    chosen uniformly, is flipped (a <-> b).
    """

    name = "anbn"
    family = "context-free"
    level = "counter"
    task = "is the prefix dead, viable or a member of a^n b^n"
    PARAMS = (Param("p_corrupt", float, 0.5, "probability that one position is flipped", low=0.0, high=1.0),)

    def token_labels(self) -> list[str]:
        return ["a", "b"]

    def target_labels(self) -> list[str]:
        return ["dead", "viable", "member"]

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        return {"split": rng.integers(0, length + 1, size=batch), "u": rng.random((batch, 2))}

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        # Closed form. With split i and a flip at j (if any), every row is, in
        # effect, a^s b^(T-s) (labels 1 before 2s-1, 2 at 2s-1, 0 from 2s on) cut to "dead"
        # from column c on:  j < i-1: s = j, c = j+1;  j = i-1: s = j;  j = i: s = i+1;
        # j > i: s = i, c = j. A row is then one window of a constant template.
        t_len = length
        i = draws["split"].astype(np.int64)
        u = draws["u"]
        flip = u[:, 0] < self.params["p_corrupt"]
        j = np.where(flip, np.floor(u[:, 1] * t_len).astype(np.int64), 2 * t_len + 2)
        s = np.where(j < i, j, np.where(j == i, i + 1, i))
        c = np.where(j < i - 1, j + 1, np.where((j > i) & flip, j, 2 * t_len + 2))
        b = 2 * s - 1
        # template: [1]*2T + [2] + [0]*2T  (row starts at 2T - b), then [1]*2T + [0]*2T
        # (row starts at 4T + 1 + 2T - c)
        tpl, wtok = _anbn_templates(t_len)
        start = np.where(c <= b, 6 * t_len + 1 - c, 2 * t_len - b)
        targets = tpl[start]
        tokens = wtok[t_len - i]
        rows = np.nonzero(flip)[0]
        tokens[rows, j[rows]] ^= 1
        return Batch(tokens, targets, np.ones((batch, length), dtype=bool))

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        all_tokens, all_targets = [], []
        for split, (u_corrupt, u_pos) in zip(draws["split"].tolist(), draws["u"].tolist(), strict=True):
            seq = [0] * split + [1] * (length - split)
            if u_corrupt < self.params["p_corrupt"]:
                pos = int(u_pos * length)
                seq[pos] = 1 - seq[pos]
            na = nb = 0
            shape_ok = True  # the prefix is a* b*
            row = []
            for x in seq:
                if x == 0:
                    if nb > 0:
                        shape_ok = False
                    na += 1
                else:
                    nb += 1
                if not shape_ok or nb > na:
                    row.append(0)
                elif na == nb:
                    row.append(2)
                else:
                    row.append(1)
            all_tokens.append(seq)
            all_targets.append(row)
        return make_batch(
            np.array(all_tokens, dtype=np.int64).reshape(batch, length),
            np.array(all_targets, dtype=np.int64).reshape(batch, length),
            np.ones((batch, length), dtype=bool),
        )


class BitStringTransduction(Probe):
    """Shared layout of the Delétang et al. string-to-string probes (reverse, duplicate).

    The input w (L random bits), a separator ``|``, then ``OUTPUT_FACTOR``·L blanks ``_``; the
    targets at the blanks are ``output(w)`` (the only labelled positions). Subclasses give
    ``output`` (vectorised over rows) and ``output_reference`` (one row, plain Python).
    """

    SEP, BLANK = 2, 3
    OUTPUT_FACTOR: ClassVar[int] = 1

    def token_labels(self) -> list[str]:
        return ["0", "1", "|", "_"]

    def target_labels(self) -> list[str]:
        return ["0", "1"]

    def seq_len(self, length: int) -> int:
        return (1 + self.OUTPUT_FACTOR) * length + 1

    def output(self, w: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def output_reference(self, w: list[int]) -> list[int]:
        raise NotImplementedError

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        return {"bits": random_bits(rng, (batch, length))}

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        w = draws["bits"]
        big = self.seq_len(length)
        tokens = np.full((batch, big), self.BLANK, dtype=np.int64)
        tokens[:, :length] = w
        tokens[:, length] = self.SEP
        targets = np.zeros((batch, big), dtype=np.int64)
        targets[:, length + 1 :] = self.output(w)
        mask = np.zeros((batch, big), dtype=bool)
        mask[:, length + 1 :] = True
        return Batch(tokens, targets, mask)

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        n_out = self.OUTPUT_FACTOR * length
        tokens, targets, mask = [], [], []
        for w in draws["bits"].tolist():
            tokens.append(w + [self.SEP] + [self.BLANK] * n_out)
            targets.append([0] * (length + 1) + self.output_reference(w))
            mask.append([False] * (length + 1) + [True] * n_out)
        return make_batch(np.array(tokens), np.array(targets), np.array(mask))


@PROBES.register("reverse_string")
class ReverseString(BitStringTransduction):
    """Reverse a binary string (Delétang et al.).

    Layout (T = 2L + 1): the string w (L bits), a separator ``|``, then L blanks ``_``; the
    targets at the blanks are w reversed (the only labelled positions).
    Example (L = 3): ``1 1 0 | _ _ _`` → ``· · · · 0 1 1``.
    """

    name = "reverse_string"
    family = "context-free"
    level = "context-free"
    task = "output the input bit string reversed"

    def output(self, w: np.ndarray) -> np.ndarray:
        return w[:, ::-1]

    def output_reference(self, w: list[int]) -> list[int]:
        return [w[len(w) - 1 - i] for i in range(len(w))]


@functools.lru_cache(maxsize=1)
def _compact_table() -> np.ndarray:
    """[256 · 256] uint8: for a survivor byte s and a data byte d (bit i: step i), the bits of d
    where s is set, in reverse order (the latest first) in the low popcount(s) bits."""
    table = np.zeros(256 * 256, dtype=np.uint8)
    for s in range(256):
        steps = [i for i in range(8) if s >> i & 1][::-1]
        for d in range(256):
            table[s * 256 + d] = sum((d >> i & 1) << j for j, i in enumerate(steps))
    return table


@functools.lru_cache(maxsize=4)
def _positions(n: int) -> np.ndarray:
    """``np.arange(n)`` (int64), read-only and cached."""
    out = np.arange(n, dtype=np.int64)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=8)
def _staircase(length: int) -> np.ndarray:
    """[length + 1, length] bool, read-only: row j is ``length - j`` True then j False."""
    z = np.concatenate([np.ones(length, dtype=bool), np.zeros(length, dtype=bool)])
    return np.lib.stride_tricks.sliding_window_view(z, length)


@PROBES.register("stack_manipulation")
class StackManipulation(Probe):
    """Final content of a stack after a sequence of actions (Delétang et al.).

    ``length`` L counts the input tokens. Layout (T = 2L + 1): the initial stack, s bits from
    bottom to top (s uniform in 0..L), then L - s actions ``PUSH0 PUSH1 POP`` (uniform; POP on
    an empty stack does nothing), a separator ``|``, then L blanks ``_``. The targets at the
    blanks are the final stack read from the top, then ``EMPTY`` for every remaining blank (the
    final stack has at most L elements, so it always fits). All blanks are labelled.
    Example (L = 4): ``0 1 POP PUSH1 | _ _ _ _`` → ``. . . . . 1 0 EMPTY EMPTY``.

    Why every blank is scored: the final stack's height is part of the answer (the first EMPTY
    says where it ends), and a fixed layout keeps every target defined. The EMPTYs after the
    first are padding — 30 % of the scored positions at L = 40 — and easy once the height is
    known, so the range evaluation also reports ``content_token_acc`` and ``padding_token_acc``
    apart (:meth:`Probe.padding_mask`).

    Draws: ``stack_size``; per position an exactly uniform ``action`` in 0..2 (PUSH0 PUSH1 POP;
    :func:`~archlab.probes.base.uniform_digits`) and a fair ``bit`` (row-major [B, L]).
    """

    name = "stack_manipulation"
    family = "context-free"
    level = "context-free"
    task = "output the final stack (top first) after push/pop actions on an initial stack"

    PUSH0, PUSH1, POP, SEP, BLANK = 2, 3, 4, 5, 6
    EMPTY = 2
    padding_target = EMPTY

    def token_labels(self) -> list[str]:
        return ["0", "1", "PUSH0", "PUSH1", "POP", "|", "_"]

    def target_labels(self) -> list[str]:
        return ["0", "1", "EMPTY"]

    def seq_len(self, length: int) -> int:
        return 2 * length + 1

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        shape = (batch, length)
        return {
            "stack_size": rng.integers(0, length + 1, size=batch),
            # per position: an action (0 PUSH0, 1 PUSH1, 2 POP; exactly uniform) and a stack bit
            "action": uniform_digits(rng, 3, shape),
            "bit": random_bits(rng, shape),
        }

    def _input(self, draws: Draws, length: int) -> np.ndarray:
        """Input tokens [B, L] (int8): the stack bit before the stack size, the action
        (2 + action) after."""
        stack_part = _staircase(length).take(length - draws["stack_size"], axis=0).view(np.int8)
        x = draws["action"].astype(np.int8)
        x += np.int8(2)
        # where(stack_part, bit, action) without np.where (slow on these shapes)
        bit = draws["bit"].astype(np.int8)
        bit -= x
        bit *= stack_part
        x += bit
        return x

    @staticmethod
    @functools.lru_cache(maxsize=2)
    def _survivor_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tables over a block of 8 steps coded by a byte v (bit i set: step i pushes): the walk
        S (+1 push, -1 pop) at the block end relative to its start, and its minimum over the
        block ([256], int16); and the pushes of the block that S never goes below afterwards,
        as a byte, given the minimum of S after the block relative to its start, clipped to
        [-9, 9]: ``table[19 v + 9 + clipped]``."""
        bits = (np.arange(256)[:, None] >> np.arange(8)) & 1
        rel = np.cumsum(2 * bits - 1, axis=1)
        surv = np.zeros((256, 19), dtype=np.uint8)
        for v in range(256):
            for after in range(-9, 10):
                byte = 0
                for i in range(8):
                    later = min([*rel[v, i + 1 :].tolist(), after])
                    if bits[v, i] and rel[v, i] <= later:
                        byte |= 1 << i
                surv[v, after + 9] = byte
        return rel[:, 7].astype(np.int16), rel.min(axis=1).astype(np.int16), surv.reshape(-1)

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        # With S the free walk (+1 push, -1 pop), a push at t is never popped iff S never goes
        # below S_t after t (a pop on an empty stack cannot happen while it is on the stack);
        # the survivors read backwards are the final stack. S is handled in blocks of 8 steps
        # (one packed byte each): scans over the blocks only, and a table for the survivors
        # inside a block given the minimum of S after it.
        x = self._input(draws, length)
        push = x != self.POP
        blocks = -(-length // 8)
        if length % 8:  # pad with pushes: they never pop anything before them
            padded = np.ones((batch, 8 * blocks), dtype=bool)
            padded[:, :length] = push
            push = padded
        packed = np.packbits(push, axis=1, bitorder="little")  # bit i of byte j: step 8 j + i
        total, low, table = self._survivor_table()
        dt = np.int16 if length < 2**15 - 8 else np.int32
        tot = total.take(packed).astype(dt, copy=False)
        before = np.cumsum(tot, axis=1, dtype=dt)
        np.subtract(before, tot, out=before)  # S before each block
        lowest = low.take(packed).astype(dt, copy=False)
        np.add(lowest, before, out=lowest)  # min of S within each block
        after = np.empty_like(lowest)  # min of S after each block
        after[:, -1] = before[:, -1] + 9  # nothing after the last block
        np.minimum.accumulate(lowest[:, :0:-1], axis=1, out=after[:, -2::-1])
        after -= before
        np.clip(after, -9, 9, out=after)
        index = packed.astype(np.intp)
        index *= 19
        index += after
        index += 9
        surv_bytes = table.take(index)
        if length % 8:
            surv_bytes[:, -1] &= np.uint8((1 << (length % 8)) - 1)
        # the survivors' bits, top first: per block, its survivors' bits compacted and reversed
        # (one table), placed at bit count - (survivors before the block and in it) of the row
        n = np.bitwise_count(surv_bytes)
        below = np.cumsum(n, axis=1, dtype=np.int32)  # survivors up to each block's end
        count = below[:, -1].astype(np.int64)  # final stack size
        pos = count[:, None].astype(np.int32) - below  # top-first bit offset of each block
        data = np.packbits(x & np.int8(1), axis=1, bitorder="little")
        chunk = _compact_table().take(surv_bytes.astype(np.intp) * 256 + data).astype(np.int32)
        chunk <<= pos & 7
        row = (np.arange(batch, dtype=np.int32) * (blocks + 2))[:, None]
        where = np.empty((2, batch, blocks), dtype=np.intp)
        np.add(pos >> 3, row, out=where[0])
        np.add(where[0], 1, out=where[1])
        weight = np.empty((2, batch, blocks), dtype=np.float64)  # sums stay below 256: exact
        np.bitwise_and(chunk, 255, out=weight[0], casting="unsafe")
        np.right_shift(chunk, 8, out=weight[1], casting="unsafe")
        packed_out = np.bincount(where.reshape(-1), weight.reshape(-1), batch * (blocks + 2))
        bits = np.unpackbits(
            packed_out.astype(np.uint8).reshape(batch, blocks + 2), axis=1, count=length, bitorder="little"
        ).view(np.int8)
        beyond = _staircase(length).take(length - count, axis=0).view(np.int8)  # True below count
        beyond -= np.int8(1)
        beyond *= np.int8(-self.EMPTY)
        bits += beyond  # EMPTY from count on
        out = bits

        big = 2 * length + 1
        tokens = np.empty((batch, big), dtype=np.int64)
        tokens[:, :length] = x
        tokens[:, length] = self.SEP
        tokens[:, length + 1 :] = self.BLANK
        targets = np.empty((batch, big), dtype=np.int64)
        targets[:, : length + 1] = 0
        targets[:, length + 1 :] = out
        mask = np.zeros((batch, big), dtype=bool)
        mask[:, length + 1 :] = True
        return Batch(tokens, targets, mask)

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        x = self._input(draws, length)
        tokens, targets, mask = [], [], []
        for seq in x.tolist():
            stack: list[int] = []
            for tok in seq:
                if tok in (0, 1):
                    stack.append(tok)
                elif tok == self.PUSH0:
                    stack.append(0)
                elif tok == self.PUSH1:
                    stack.append(1)
                elif stack:
                    stack.pop()
            top_first = stack[::-1]
            out = top_first + [self.EMPTY] * (length - len(top_first))
            tokens.append(seq + [self.SEP] + [self.BLANK] * length)
            targets.append([0] * (length + 1) + out)
            mask.append([False] * (length + 1) + [True] * length)
        return make_batch(np.array(tokens), np.array(targets), np.array(mask))


@PROBES.register("modular_arithmetic_brackets")
class ModularArithmeticBrackets(Probe):
    """Value modulo m of an expression with + , - and brackets (Delétang et al., without ×).

    Tokens: digits ``0 … m-1``, ``+ - ( ) =`` and ``PAD``. The expression is followed by ``=``,
    whose target is the value mod m (the only labelled position); the rest of the T = ``length``
    columns are ``PAD``. Only + and - are used (left-associative, brackets as usual; no unary
    minus): × would need a parse of precedence that does not vectorise.
    Example (m = 5, length = 13): ``( 3 - ( 4 + 2 ) ) - 1 = PAD`` → label ``1`` at ``=``
    (3 - 6 - 1 = -4, and -4 mod 5 = 1); every other position is unlabelled.

    Generation, by terms: an expression is term (op term)*, a term is o open brackets, a digit,
    c close brackets (o from {0, 1, 2} with probabilities .6/.3/.1, the wanted c likewise but
    never more than the open depth). Terms are added while the expression, with every open
    bracket closed after it, plus ``=`` fits in T; the last term closes all open brackets. Such
    an expression has 2 (opens + terms) tokens with ``=`` (always even), so it leaves between 0
    and 5 ``PAD`` columns at the end. The first term's opens are limited so that it always fits.

    Draws: per term slot a uniform uint16 ``digit`` (digit ``(u · m) >> 16``) and three uniform
    bytes ``shape``, all from one ``rng.bytes`` call. The fast build finds every digit's sign
    from a scan of the open groups' signs (:meth:`_enclosing_parity`) and lays the tokens out
    by reading, for every position, one entry of a table of per-term token blocks.
    """

    name = "modular_arithmetic_brackets"
    family = "context-free"
    level = "context-free"
    task = "value mod m of a bracketed +/- expression over digits 0..m-1"
    min_length = 2
    PARAMS = (Param("m", int, 5, "modulus (digits are 0..m-1)", low=2, high=1000),)

    # o and wanted c: 2 w.p. 26/256, 1 w.p. 76/256, else 0
    BRACKET_THRESHOLDS = (102, 26)

    def token_labels(self) -> list[str]:
        return [str(i) for i in range(self.params["m"])] + ["+", "-", "(", ")", "=", "PAD"]

    def target_labels(self) -> list[str]:
        return [str(i) for i in range(self.params["m"])]

    @property
    def theory(self) -> TheoryTag:
        return TheoryTag(self.level, self.task, {"modulus": self.params["m"], "operators": "+-"})

    def _ids(self) -> tuple[int, int, int, int, int, int]:
        m = self.params["m"]
        return m, m + 1, m + 2, m + 3, m + 4, m + 5  # + - ( ) = PAD

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        slots = length // 2
        n = batch * slots
        raw = np.frombuffer(rng.bytes(5 * n), dtype=np.uint8)  # uniform bytes, ~1 ns each
        return {
            "digit": raw[: 2 * n].view(np.uint16).reshape(batch, slots),
            # [opens, wanted closes, operator (< 128: +)]
            "shape": raw[2 * n :].reshape(batch, slots, 3),
        }

    def _terms(self, draws: Draws, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per term slot: digit, minus sign (bool), opens, wanted closes (first term's opens
        limited to what fits)."""
        m = self.params["m"]
        a, b = self.BRACKET_THRESHOLDS
        shape = draws["shape"]
        dt = _small_int(length)
        digit = ((draws["digit"].astype(np.uint32) * m) >> 16).astype(dt)
        o = (shape[..., 0] < a).astype(dt) + (shape[..., 0] < b)
        c = (shape[..., 1] < a).astype(dt) + (shape[..., 1] < b)
        minus = shape[..., 2] >= 128
        minus[:, 0] = False  # the first term has no operator
        o[:, 0] = np.minimum(o[:, 0], (length - 2) // 2)
        return digit, minus, o, c

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def _token_table(m: int, length: int) -> np.ndarray:
        """Token ids read by :meth:`build`: for every term code ((digit·3 + opens)·2 + has an
        operator)·2 + minus, a block of 8 (operator, opens, digit, then closes); then ``length``
        closes (the closing run before ``=``), then ``=`` and ``length`` PADs."""
        plus_id, minus_id, open_id, close_id, eq_id, pad_id = m, m + 1, m + 2, m + 3, m + 4, m + 5
        blocks = []
        for d in range(m):
            for o in range(3):
                for has_op in range(2):
                    for minus in range(2):
                        block = ([minus_id if minus else plus_id] if has_op else []) + [open_id] * o + [d]
                        blocks.append(block + [close_id] * (8 - len(block)))
        flat = [t for block in blocks for t in block] + [close_id] * length + [eq_id] + [pad_id] * length
        table = np.array(flat, dtype=np.int64)
        table.setflags(write=False)
        return table

    @staticmethod
    def _enclosing_parity(
        minus: np.ndarray, depth: np.ndarray, before: np.ndarray, bits: int = 64
    ) -> np.ndarray:
        """Time-major [slots, rows]: for every term, the parity of the minus signs of the open
        groups that enclose it (before its own brackets).

        The signs of the open groups form a 64-bit word A per row, bit h the sign of the group
        opened at depth h (0 for a group opened by a second "(" of a term: it has no operator).
        A term maps A to ``(A & mask(depth after it)) ^ V`` (V: its minus sign at bit ``before``
        when its first "(" is still open after it), an affine map over GF(2)⁶⁴, so the words
        after every term are a scan: compositions inside chunks of 16 terms, a scan over the
        chunks, then one application per term. Exact while the depth stays <= ``bits`` (32 or
        64: the word size; other rows are redone by :meth:`build`)."""
        slots, rows = depth.shape
        word: type[np.unsignedinteger] = np.uint32 if bits == 32 else np.uint64
        ones = word(-1 & ((1 << bits) - 1))
        k = 16
        chunks = -(-slots // k)
        v = np.zeros((chunks * k, rows), dtype=word)
        mk = np.full((chunks * k, rows), ones, dtype=word)
        rise = (depth > before).view(np.uint8)
        rise &= minus
        np.left_shift(rise, before.astype(word), out=v[:slots], dtype=word)
        np.left_shift(ones, depth.astype(word), out=mk[:slots])
        np.invert(mk[:slots], out=mk[:slots])
        vc = v.reshape(chunks, k, rows)
        mc = mk.reshape(chunks, k, rows)
        tmp = np.empty((chunks, rows), dtype=word)
        for j in range(1, k):  # compositions of the first j + 1 maps of every chunk
            np.bitwise_and(vc[:, j - 1], mc[:, j], out=tmp)
            vc[:, j] ^= tmp
            mc[:, j] &= mc[:, j - 1]
        start = np.zeros((chunks, rows), dtype=word)  # the word before every chunk
        for c in range(1, chunks):
            np.bitwise_and(start[c - 1], mc[c - 1, k - 1], out=start[c])
            start[c] ^= vc[c - 1, k - 1]
        mc &= start[:, None, :]
        vc ^= mc  # the word after every term
        out = np.zeros((slots, rows), dtype=np.uint8)
        np.bitwise_count(v[: slots - 1], out=out[1:])
        out &= np.uint8(1)
        return out

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        # Time-major [slots, batch] term arithmetic, then every position reads one table entry:
        # its term's block at the offset from the term's first token.
        m = self.params["m"]
        a, b = self.BRACKET_THRESHOLDS
        shape = draws["shape"]
        slots = shape.shape[1]
        dt = _small_int(length)
        s0, s1, s2 = shape[..., 0], shape[..., 1], shape[..., 2]
        code = (s0 < a).view(np.uint8) + (s0 < b).view(np.uint8)
        wanted = (s1 < a).view(np.uint8) + (s1 < b).view(np.uint8)
        wanted <<= np.uint8(2)
        code |= wanted
        minus_bit = (s2 >= 128).view(np.uint8)
        minus_bit <<= np.uint8(4)
        code |= minus_bit
        code = np.ascontiguousarray(code.T)  # o | wanted closes << 2 | minus << 4
        o = (code & np.uint8(3)).astype(dt)
        o[0] = np.minimum(o[0], (length - 2) // 2)
        minus = code >> np.uint8(4)
        minus[0] = 0
        step = o - ((code >> np.uint8(2)) & np.uint8(3)).astype(dt)
        o_cum = scan_time(o, np.add)
        i = np.arange(slots, dtype=dt)[:, None]
        used = o_cum + i < length // 2  # 2 (opens so far + terms) <= length
        n = np.count_nonzero(used, axis=0)
        s = scan_time(step, np.add)
        depth = s - np.minimum(scan_time(s, np.minimum), 0)  # after each term's closes
        before = np.empty_like(depth)
        before[0] = 0
        before[1:] = depth[:-1]

        # signs: the parity of the enclosing groups' signs, XOR the term's own operator
        top = int(n.max())  # the slots that any row uses
        sign = np.zeros((slots, batch), dtype=np.uint8)
        reach = depth[:top].max(axis=0)
        bits = 32 if reach.max() <= 32 else 64
        sign[:top] = self._enclosing_parity(minus[:top], depth[:top], before[:top], bits)
        for r in np.flatnonzero(reach > bits).tolist():
            sign[:top, r] = self._parity_loop(
                minus[:top, r].tolist(), o[:top, r].tolist(), depth[:top, r].tolist()
            )
        sign ^= minus
        digit = np.ascontiguousarray(draws["digit"].T).astype(np.uint32)
        digit *= np.uint32(m)
        digit >>= np.uint32(16)
        d = digit.view(np.int32)
        neg = sign.astype(np.int32)
        contrib = d ^ -neg
        contrib += neg  # ±digit
        contrib *= used
        value = contrib.sum(axis=0, dtype=np.int64) % m

        # layout: the term starts (its operator, or its first token for the first term)
        cols = np.arange(batch)
        last = (n - 1) * batch + cols
        eq = 2 * o_cum.reshape(-1)[last].astype(np.int64) + 2 * n - 1
        closer = eq - depth.reshape(-1)[last]  # the closing run of the last term
        start = o_cum - o
        start *= 2
        start -= before
        start += 2 * i
        start[1:] -= 1
        start += (~used).view(np.int8) * (closer.astype(dt) - start)  # unused: the closing run
        key = digit.view(np.int32)
        key *= 3
        key += o
        key *= 2
        key[1:] += 1
        key *= 2
        key += minus
        key *= 8
        # row-major [batch, slots + 2]: the terms, the closing run, "=" and the PADs
        gstart = np.empty((batch, slots + 2), dtype=np.int64)
        gstart[:, :slots] = start.T
        gstart[:, slots] = closer
        gstart[:, slots + 1] = eq
        gstart += (cols * length)[:, None]
        table = self._token_table(m, length)
        flat = np.empty(batch * (slots + 2) + 1, dtype=np.int64)
        flat[0] = 0
        u = flat[1:].reshape(batch, slots + 2)
        u[:, :slots] = key.T
        u[:, slots] = 96 * m
        u[:, slots + 1] = 96 * m + length
        u -= gstart
        count = np.bincount(gstart.reshape(-1), minlength=batch * length)
        term = np.cumsum(count)  # 1 + the row-major index of every position's term
        index = flat.take(term)
        index += _positions(batch * length)
        tokens = table.take(index).reshape(batch, length)

        targets = np.zeros((batch, length), dtype=np.int64)
        targets[cols, eq] = value
        mask = np.zeros((batch, length), dtype=bool)
        mask[cols, eq] = True
        return Batch(tokens, targets, mask)

    @staticmethod
    def _parity_loop(minus: list[int], opens: list[int], depth: list[int]) -> list[int]:
        """:meth:`_enclosing_parity` of one row with an explicit stack (rows deeper than 64)."""
        stack: list[int] = []
        parity, out = 0, []
        for sg, o, d in zip(minus, opens, depth, strict=True):
            out.append(parity)
            if o:
                stack += [sg, 0][:o]
                parity ^= sg
            while len(stack) > d:
                parity ^= stack.pop()
        return out

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        m = self.params["m"]
        plus_id, minus_id, open_id, close_id, eq_id, pad_id = self._ids()
        digit, minus, o, cw = self._terms(draws, length)
        all_tokens, all_targets = [], []
        for ds, ms, os_, cs in zip(digit.tolist(), minus.tolist(), o.tolist(), cw.tolist(), strict=True):
            slots = len(os_)
            tokens: list[int] = []
            depth = 0
            for i in range(slots):
                if i > 0:
                    tokens.append(minus_id if ms[i] else plus_id)
                tokens += [open_id] * os_[i]
                tokens.append(ds[i])
                depth += os_[i]
                c = min(cs[i], depth)
                tokens += [close_id] * c
                depth -= c
                # does one more term, with all brackets closed after it, and "=" still fit?
                if i + 1 == slots or len(tokens) + 1 + 2 * os_[i + 1] + 1 + depth + 1 > length:
                    tokens += [close_id] * depth
                    break
            tokens.append(eq_id)
            eq = len(tokens) - 1
            tokens += [pad_id] * (length - len(tokens))
            # evaluate with an explicit stack of (sum so far, sign before the bracket)
            stack: list[tuple[int, int]] = []
            acc, sign = 0, 1
            for tok in tokens[:eq]:
                if tok < m:
                    acc += sign * tok
                elif tok == plus_id:
                    sign = 1
                elif tok == minus_id:
                    sign = -1
                elif tok == open_id:
                    stack.append((acc, sign))
                    acc, sign = 0, 1
                else:
                    outer, s = stack.pop()
                    acc = outer + s * acc
            row = [0] * length
            row[eq] = acc % m
            all_tokens.append(tokens)
            all_targets.append(row)
        tok_arr = np.array(all_tokens, dtype=np.int64).reshape(batch, length)
        targets = np.array(all_targets, dtype=np.int64).reshape(batch, length)
        return make_batch(tok_arr, targets, tok_arr == eq_id)
