"""Fast, exact random draws and running sums for the vectorised probe generators.

Probe generation is memory-bound: numpy's bounded integer draws, ``cumsum`` along rows and
``%`` cost several nanoseconds per value on this kind of machine, more than the rest of a
probe. These helpers draw only the random bits a value needs (a byte, or eight values per
64-bit word) and form running sums in packed lanes, while staying exact: every draw here has
exactly the stated distribution (rejected values are replaced by fresh exact draws), and every
running sum equals ``np.cumsum``. tests/test_sampling.py checks both.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np


def uniform_ints(rng: np.random.Generator, high: int, shape: tuple[int, ...]) -> np.ndarray:
    """Exactly uniform integers in ``[0, high)`` (``high`` ≤ 65536), drawn fast.

    Lemire's multiply-shift on random bytes (8 bits per value when ``high`` ≤ 16, else 16): the
    values it rejects (low part of the product below ``2**bits % high``, at most 1 in 16 for
    ``high`` ≤ 16) are replaced by fresh exact draws, so every value has probability exactly
    1/high. Returns uint8 for ``high`` ≤ 16, else uint16.
    """
    if not 1 <= high <= 65536:
        raise ValueError(f"high must be in [1, 65536], got {high}")
    n = int(np.prod(shape))
    bits = 8 if high <= 16 else 16
    wide: type[np.unsignedinteger[Any]] = np.uint16 if bits == 8 else np.uint32
    narrow: type[np.unsignedinteger[Any]] = np.uint8 if bits == 8 else np.uint16
    raw = np.frombuffer(rng.bytes(n * bits // 8), dtype=narrow)
    product = raw.astype(wide) * wide(high)
    out = (product >> wide(bits)).astype(narrow)
    threshold = (1 << bits) % high
    if threshold:
        bad = np.flatnonzero((product & wide((1 << bits) - 1)) < threshold)
        if bad.size:
            out[bad] = rng.integers(0, high, size=bad.size, dtype=narrow)
    return out.reshape(shape)


def residues(values: np.ndarray, m: int, low: int, high: int) -> np.ndarray:
    """``values % m`` for integers in ``[low, high]``: a table lookup when the range is small
    (several times faster than numpy's integer remainder), the remainder otherwise."""
    if high - low > 1 << 22:
        return np.remainder(values, m)
    table = (np.arange(low, high + 1, dtype=np.int64) % m).astype(np.int16 if m < 2**15 else np.int64)
    return table.take(values - low if low else values)


def random_bits(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Fair bits as uint8, unpacked from 64-bit words of the bit generator."""
    rows, cols = shape
    words = np.asarray(rng.bit_generator.random_raw(rows * -(-cols // 64)), dtype="<u8").reshape(rows, -1)
    return np.unpackbits(words.view(np.uint8), axis=1, bitorder="little")[:, :cols]


_LANES = np.uint64(0x0001_0001_0001_0001)


def prefix_sums(values: np.ndarray, bound: int) -> np.ndarray:
    """Running sums along axis 1 of small non-negative integers.

    ``bound`` is an upper bound on every row's total. Below 2¹⁶ the sums are formed four at a
    time in 16-bit lanes of 64-bit words (two shifted adds per word, then a running sum over the
    words) and returned as uint16 — several times faster than ``np.cumsum``; otherwise int64.
    """
    rows, cols = values.shape
    if bound >= 1 << 16 or sys.byteorder != "little":
        return np.cumsum(values, axis=1, dtype=np.int64)
    words = -(-cols // 4)
    lanes = np.zeros((rows, 4 * words), dtype=np.uint16)
    lanes[:, :cols] = values
    x = lanes.view(np.uint64)  # lane i of a word is position 4w + i (little-endian)
    x += x << np.uint64(16)
    x += x << np.uint64(32)
    totals = x >> np.uint64(48)
    before = np.cumsum(totals, axis=1, dtype=np.uint64)
    before -= totals
    x += before * _LANES
    return lanes[:, :cols]


def count_below(
    rng: np.random.Generator, probabilities: Sequence[float], shape: tuple[int, int]
) -> np.ndarray:
    """For one uniform 32-bit word per value, how many thresholds ``round(p·2³²)`` it lies below
    (uint8). Exactly that, but only 8 random bits are drawn per value: the remaining 24 bits are
    drawn only where the top byte ties a threshold's top byte (probability ≤ k/256).

    ``count_below(rng, [p], shape)`` is Bernoulli(p); with increasing ``[p1, p1 + p2]`` it gives
    a three-way categorical draw.
    """
    thresholds = [min(round(p * 2.0**32), 2**32) for p in probabilities]
    top = np.frombuffer(rng.bytes(shape[0] * shape[1]), dtype=np.uint8).reshape(shape)
    out = np.zeros(shape, dtype=np.uint8)
    tie = np.zeros(shape, dtype=bool)
    for t in thresholds:
        if t >> 24 >= 256:
            out += 1
            continue
        out += top < (t >> 24)
        tie |= top == (t >> 24)
    where = np.flatnonzero(tie)
    if where.size:
        low = rng.integers(0, 1 << 24, size=where.size, dtype=np.uint32)
        words = (top.reshape(-1)[where].astype(np.uint64) << np.uint64(24)) | low
        counts = sum((words < np.uint64(t)).astype(np.uint8) for t in thresholds)
        out.reshape(-1)[where] = counts
    return out


def bernoulli(rng: np.random.Generator, p: float, shape: tuple[int, int]) -> np.ndarray:
    """Bernoulli(p) draws as uint8 (exact for p on the 2⁻³² grid; see :func:`count_below`)."""
    return count_below(rng, [p], shape)


@functools.cache
def _digit_table(m: int, k: int) -> np.ndarray:
    """Row b holds the k base-m digits of b (least significant first), for b < m**k."""
    b = np.arange(m**k)
    return np.stack([(b // m**i) % m for i in range(k)], axis=1).astype(np.uint8)


def uniform_digits(rng: np.random.Generator, m: int, shape: tuple[int, int]) -> np.ndarray:
    """Exactly uniform integers in ``[0, m)`` as uint8, packing k = ⌊log_m 256⌋ of them into one
    random byte (5 per byte for m = 3). Bytes ≥ m**k are replaced by fresh exact draws. For
    m > 16 this is :func:`uniform_ints`."""
    if m > 16:
        return uniform_ints(rng, m, shape)
    k = 1
    while m ** (k + 1) <= 256:
        k += 1  # digits per byte: the largest k with m**k <= 256
    n = shape[0] * shape[1]
    n_bytes = -(-n // k)
    raw = np.frombuffer(rng.bytes(n_bytes), dtype=np.uint8)
    if m**k < 256:
        bad = np.flatnonzero(raw >= m**k)
        if bad.size:
            raw = raw.copy()
            raw[bad] = rng.integers(0, m**k, size=bad.size, dtype=np.uint8)
    return _digit_table(m, k).take(raw, axis=0).reshape(-1)[:n].reshape(shape)


_BYTE_LANES = np.uint64(0x0101_0101_0101_0101)


def running_sum_mod(values: np.ndarray, m: int) -> np.ndarray:
    """Running sums modulo m along axis 1 of integers in ``[0, m)``.

    For m ≤ 28 the sums are formed eight at a time in 8-bit lanes of 64-bit words (three shifted
    adds per word); only the words' totals go through a running sum, reduced mod m, so no lane
    ever exceeds 9(m − 1) < 256, and one table lookup reduces every lane. Larger m falls back to
    :func:`prefix_sums` and :func:`residues`.
    """
    rows, cols = values.shape
    if m > 28 or sys.byteorder != "little":
        bound = (m - 1) * cols
        return residues(prefix_sums(values, bound), m, 0, bound)
    words = -(-cols // 8)
    lanes = np.zeros((rows, 8 * words), dtype=np.uint8)
    lanes[:, :cols] = values
    x = lanes.view(np.uint64)
    x += x << np.uint64(8)
    x += x << np.uint64(16)
    x += x << np.uint64(32)
    totals = x >> np.uint64(56)
    before = np.cumsum(totals, axis=1, dtype=np.uint64)
    before -= totals
    before %= np.uint64(m)
    x += before * _BYTE_LANES
    table = (np.arange(256) % m).astype(np.uint8)
    return table.take(lanes[:, :cols])
