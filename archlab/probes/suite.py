"""Probe suites: several probes with their train and test lengths, read from YAML.

Train and test data come from disjoint seed streams (:func:`~archlab.probes.base.stream_rng`
with split "train" or "test", keyed by the probe's index in the suite). With
``forbid_test_in_train`` a suite also guarantees that no test sequence ever occurs in training:
at every length used for both, a hash of the token row reserves a fraction of all sequences
for testing; training batches resample reserved rows and test batches keep only reserved rows.
The rule is a property of the sequence itself, so it holds for infinite training streams
without storing what was seen.

With ``train_set_size`` training uses a finite set per probe, length and run seed instead of a
stream (MAD's and the word-problem repository's protocols train for epochs on fixed sets): the
first ``train_set_size`` sequences of the run's own stream, sampled with replacement.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from archlab.config import ProbeSuiteConfig, expand_lengths, load_config, validate
from archlab.errors import ArchlabError
from archlab.probes.base import Batch, Probe, make_batch, stream_rng

#: Rounds of resampling before a suite gives up on filling a batch.
MAX_ROUNDS = 200
#: Finite training sets (``train_set_size``) kept in memory per suite: (probe, seed, length) keys.
MAX_CACHED_SETS = 64

_MULT = np.uint64(0x9E3779B97F4A7C15)


def row_hash(tokens: np.ndarray) -> np.ndarray:
    """A 64-bit hash of every row of an int array (polynomial hash + splitmix64 finaliser)."""
    t = tokens.shape[1]
    powers = np.multiply.accumulate(np.full(t, _MULT, dtype=np.uint64))
    h = (tokens.astype(np.uint64) * powers).sum(axis=1, dtype=np.uint64) ^ np.uint64(t)
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


def is_reserved(tokens: np.ndarray, fraction: float) -> np.ndarray:
    """Whether each row belongs to the test-reserved part of sequence space."""
    return (row_hash(tokens) >> np.uint64(11)).astype(np.float64) < fraction * 2.0**53


def _concat(parts: list[Batch]) -> Batch:
    return make_batch(
        np.concatenate([p.tokens for p in parts]),
        np.concatenate([p.targets for p in parts]),
        np.concatenate([p.mask for p in parts]),
    )


def _select(b: Batch, rows: np.ndarray) -> Batch:
    return Batch(b.tokens[rows], b.targets[rows], b.mask[rows])


@dataclass(frozen=True)
class SuiteEntry:
    """One probe of a suite with its lengths."""

    index: int
    probe: Probe
    train_lengths: tuple[int, ...]
    test_lengths: tuple[int, ...]
    #: the probe of the test split: ``probe`` itself unless the suite gives ``test_params``
    test_probe: Probe
    #: the finite training set's size (``train_set_size``), or None for a stream
    train_set_size: int | None = None

    @property
    def name(self) -> str:
        return self.probe.spec()

    @cached_property
    def shared_lengths(self) -> frozenset[int]:
        return frozenset(self.train_lengths) & frozenset(self.test_lengths)


class ProbeSuite:
    """A validated probe suite with its seed streams and (optionally) disjoint train/test data."""

    def __init__(self, config: ProbeSuiteConfig) -> None:
        from archlab.probes import make_probe

        self.config = config
        self.entries: list[SuiteEntry] = []
        self._train_sets: dict[tuple[int, int, int], Batch] = {}
        for i, spec in enumerate(config.probes):
            probe = make_probe(spec.probe, **spec.params)
            test_probe = (
                make_probe(spec.probe, **{**spec.params, **spec.test_params}) if spec.test_params else probe
            )
            train = expand_lengths(spec.train_lengths or config.train_lengths)
            test = expand_lengths(spec.test_lengths or config.test_lengths)
            for split, lengths in (("train_lengths", train), ("test_lengths", test)):
                if lengths[0] < probe.min_length:
                    raise ArchlabError(
                        f"probes.{i}.{split}: length {lengths[0]} is below the minimum "
                        f"{probe.min_length} of probe {probe.name!r}"
                    )
            size = spec.train_set_size or config.train_set_size
            self.entries.append(SuiteEntry(i, probe, tuple(train), tuple(test), test_probe, size))
        if config.protocol:
            self._check_protocol()

    def _check_protocol(self) -> None:
        """A suite names a protocol only if its probes are the protocol's tasks (not the probe
        names archlab uses for its own variants) with the parameters the protocol fixes, its
        lengths are within the protocol's, and its split settings are the protocol's."""
        from archlab.errors import ConfigError
        from archlab.probes.protocols import get_protocol

        proto = get_protocol(self.config.protocol)
        for key, want in proto.settings.items():
            if getattr(self.config, key) != want:
                raise ConfigError(
                    key,
                    f"{getattr(self.config, key)!r}; protocol {proto.name!r} fixes it",
                    f"{key}: {want!r}",
                )
        for e in self.entries:
            if e.probe.name not in proto.tasks:
                raise ConfigError(
                    f"probes.{e.index}.probe",
                    f"{e.probe.name!r} is not a task of protocol {proto.name!r}",
                    ", ".join(proto.tasks),
                )
            for split, probe in (("train", e.probe), ("test", e.test_probe)):
                for key, want in proto.fixed_params(e.probe.name, split).items():
                    if probe.params.get(key) != want:
                        where = "params" if split == "train" else "test_params"
                        raise ConfigError(
                            f"probes.{e.index}.{where}.{key}",
                            f"{probe.params.get(key)!r} in the {split} split; protocol {proto.name!r} "
                            f"fixes {key}={want!r}",
                            f"{key}: {want!r}",
                        )
            for split, lengths, bounds in (
                ("train_lengths", e.train_lengths, proto.train_lengths),
                ("test_lengths", e.test_lengths, proto.test_lengths),
            ):
                if bounds and not (bounds[0] <= min(lengths) and max(lengths) <= bounds[1]):
                    raise ConfigError(
                        f"probes.{e.index}.{split}",
                        f"{min(lengths)}–{max(lengths)} is outside protocol {proto.name!r}",
                        f"lengths within {bounds[0]}–{bounds[1]}",
                    )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ProbeSuite:
        return cls(load_config(ProbeSuiteConfig, path))

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ProbeSuite:
        return cls(validate(ProbeSuiteConfig, data))

    @property
    def name(self) -> str:
        return self.config.name

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[SuiteEntry]:
        return iter(self.entries)

    def rng(self, entry: SuiteEntry, split: str, seed: int) -> np.random.Generator:
        """The seed stream of one probe and split; train and test never share a stream."""
        return stream_rng(seed, split, entry.index)

    def _filters(self, entry: SuiteEntry, length: int) -> bool:
        return self.config.forbid_test_in_train and length in entry.shared_lengths

    def train_set(self, entry: SuiteEntry, seed: int, length: int) -> Batch:
        """The finite training set of ``entry`` at ``length`` for run seed ``seed``: the first
        ``train_set_size`` sequences of its own seed stream (free of test-reserved sequences under
        ``forbid_test_in_train``), the same at every step of the run."""
        size = entry.train_set_size
        if size is None:
            raise ArchlabError(f"{entry.name} has no train_set_size: its training data is a stream")
        key = (entry.index, seed, length)
        if key not in self._train_sets:
            if len(self._train_sets) >= MAX_CACHED_SETS:
                self._train_sets.pop(next(iter(self._train_sets)))
            self._train_sets[key] = self._stream_batch(
                entry, stream_rng(seed, "train", entry.index, 3, length), size, length
            )
        return self._train_sets[key]

    def train_batch(
        self, entry: SuiteEntry, rng: np.random.Generator, batch: int, length: int, seed: int | None = None
    ) -> Batch:
        """A training batch; with ``forbid_test_in_train``, free of test-reserved sequences. With
        ``train_set_size`` and the run's ``seed`` given, ``batch`` rows drawn uniformly (with
        replacement) from the run's finite training set (:meth:`train_set`); without ``seed``
        (validation batches), fresh sequences from the training distribution."""
        if seed is not None and entry.train_set_size is not None:
            data = self.train_set(entry, seed, length)
            return _select(data, rng.integers(0, data.tokens.shape[0], size=batch))
        return self._stream_batch(entry, rng, batch, length)

    def _stream_batch(self, entry: SuiteEntry, rng: np.random.Generator, batch: int, length: int) -> Batch:
        b = entry.probe.sample(rng, batch, length)
        if not self._filters(entry, length):
            return b
        frac = self.config.reserve_fraction
        for _ in range(MAX_ROUNDS):
            bad = np.flatnonzero(is_reserved(b.tokens, frac))
            if bad.size == 0:
                return b
            fresh = entry.probe.sample(rng, bad.size, length)
            tokens, targets, mask = b.tokens.copy(), b.targets.copy(), b.mask.copy()
            tokens[bad], targets[bad], mask[bad] = fresh.tokens, fresh.targets, fresh.mask
            b = Batch(tokens, targets, mask)
        raise ArchlabError(
            f"{entry.name} at length {length}: every sequence drawn in {MAX_ROUNDS} rounds is "
            "reserved for testing; the sequence space at this length is too small for "
            "forbid_test_in_train (use different train and test lengths)"
        )

    def test_batch(self, entry: SuiteEntry, rng: np.random.Generator, batch: int, length: int) -> Batch:
        """A test batch; with ``forbid_test_in_train``, only sequences training never emits."""
        if not self._filters(entry, length):
            return entry.test_probe.sample(rng, batch, length)
        frac = self.config.reserve_fraction
        kept: list[Batch] = []
        have = 0
        draw = max(8, int(batch / frac * 1.2))
        for _ in range(MAX_ROUNDS):
            b = entry.test_probe.sample(rng, draw, length)
            ok = np.flatnonzero(is_reserved(b.tokens, frac))
            if ok.size:
                kept.append(_select(b, ok[: batch - have]))
                have += min(ok.size, batch - have)
            if have == batch:
                return _concat(kept)
        raise ArchlabError(
            f"{entry.name} at length {length}: found only {have} of {batch} test sequences outside "
            f"the training set in {MAX_ROUNDS} rounds; the sequence space at this length is too "
            "small for forbid_test_in_train (use different train and test lengths)"
        )


def find_suite(name_or_path: str | os.PathLike[str]) -> Path:
    """A suite file by path, or by name: in the working directory's ``probes/`` folder, then
    among the suites shipped with archlab (:mod:`archlab.shipped`)."""
    from archlab.shipped import find

    return find("suites", name_or_path)
