"""The probe interface: what every formal-language probe provides.

A probe turns random numbers into a batch of labelled sequences (token tagging):

* ``tokens``  int64 [B, T] — the input, ids in ``[0, vocab_size)``;
* ``targets`` int64 [B, T] — the label at every position, ids in ``[0, n_classes)``
  (0 where the mask is False, so every target is a valid class id);
* ``mask``    bool  [B, T] — where the loss and the accuracy are taken.

``length`` is the probe's size parameter (the input length in the sense of Delétang et al.);
the batch has ``T = probe.seq_len(length)`` columns, which is ``length`` for running-label
probes and longer for probes that append an output segment (copy, reverse, …).

Sampling is split in two so that a fast and a slow implementation can be compared exactly:

* :meth:`Probe.draw` takes every random number the probe needs from the generator
  (vectorised, cheap, shared by both implementations);
* :meth:`Probe.build` turns those draws into a :class:`Batch` with vectorised numpy;
* :meth:`Probe.build_reference` does the same with plain, obviously-correct Python loops.

``sample = build ∘ draw`` and ``reference_sample = build_reference ∘ draw``: given generators in
the same state they must return identical batches, which the property tests check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from archlab.config import MAX_LENGTH
from archlab.errors import ConfigError

#: the most tokens one generated batch may hold (2 GiB of int64 tokens; a typo in a batch size or
#: a length should be an error, not an out-of-memory kill)
MAX_BATCH_TOKENS = 1 << 28

Draws = dict[str, Any]

#: Language classes, as in Delétang et al. (ICLR 2023) plus "counter" and "memory".
LEVELS = ("regular", "counter", "context-free", "context-sensitive", "memory")

SPLITS = {"train": 0, "test": 1}


@dataclass(frozen=True)
class Batch:
    """A batch of labelled sequences; see the module docstring for the contract."""

    tokens: np.ndarray
    targets: np.ndarray
    mask: np.ndarray

    def __post_init__(self) -> None:
        if not (self.tokens.shape == self.targets.shape == self.mask.shape):
            raise ValueError(
                f"shape mismatch: tokens {self.tokens.shape}, targets {self.targets.shape}, "
                f"mask {self.mask.shape}"
            )

    @property
    def shape(self) -> tuple[int, int]:
        b, t = self.tokens.shape
        return int(b), int(t)

    def equals(self, other: Batch) -> bool:
        return (
            np.array_equal(self.tokens, other.tokens)
            and np.array_equal(self.targets, other.targets)
            and np.array_equal(self.mask, other.mask)
        )

    def row(self, i: int) -> Batch:
        return Batch(self.tokens[i : i + 1], self.targets[i : i + 1], self.mask[i : i + 1])


def make_batch(tokens: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> Batch:
    """Build a Batch with the contract's dtypes and C-contiguous arrays."""
    mask = np.ascontiguousarray(mask, dtype=bool)
    if not mask.all():
        targets = targets * mask  # zero where not scored (cheaper than np.where)
    return Batch(
        np.ascontiguousarray(tokens, dtype=np.int64),
        np.ascontiguousarray(targets, dtype=np.int64),
        mask,
    )


@dataclass(frozen=True)
class Param:
    """One probe parameter: its type, default and allowed range (checked, never clamped)."""

    name: str
    kind: type
    default: Any
    doc: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None

    def allowed(self) -> str:
        if self.choices is not None:
            return " | ".join(str(c) for c in self.choices)
        if self.kind is bool:
            return "true | false"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        return f"{self.kind.__name__} in [{lo}, {hi}]"

    def coerce(self, value: Any, probe: str) -> Any:
        """Convert ``value`` (possibly a CLI string) to this parameter's type and check its range."""
        fname = f"{probe}.{self.name}"
        try:
            if self.kind is bool:
                if isinstance(value, str):
                    low = value.strip().lower()
                    if low not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError(value)
                    value = low in ("true", "1", "yes")
                elif not isinstance(value, (bool, np.bool_)):
                    raise ValueError(value)
                value = bool(value)
            elif self.kind is int:
                if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                    raise ValueError(value)
                value = int(value)
            elif self.kind is float:
                if isinstance(value, bool):
                    raise ValueError(value)
                value = float(value)
            else:
                value = self.kind(value)
        except (TypeError, ValueError):
            raise ConfigError(
                fname, f"{value!r} is not a valid {self.kind.__name__}", self.allowed()
            ) from None
        if self.choices is not None and value not in self.choices:
            raise ConfigError(fname, f"{value!r} is not one of the choices", self.allowed())
        if self.low is not None and value < self.low:
            raise ConfigError(fname, f"{value!r} is below the minimum", self.allowed())
        if self.high is not None and value > self.high:
            raise ConfigError(fname, f"{value!r} is above the maximum", self.allowed())
        return value


@dataclass(frozen=True)
class TheoryTag:
    """What theory needs to know about a probe.

    ``level``: the language class (one of :data:`LEVELS`); ``task``: a short statement of the
    function computed; ``facts``: extra facts (for group probes the group's sympy facts).
    """

    level: str
    task: str
    facts: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "task": self.task, **dict(self.facts)}


class Probe:
    """Base class of every probe. Subclasses set the class attributes and implement
    :meth:`draw`, :meth:`build` and :meth:`build_reference`."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    level: ClassVar[str] = "regular"
    task: ClassVar[str] = ""
    PARAMS: ClassVar[tuple[Param, ...]] = ()
    min_length: ClassVar[int] = 1
    #: the target class that fills the answer's unused tail (binary_addition's END,
    #: stack_manipulation's EMPTY), or None. Its first occurrence in a row is the termination
    #: (content); the rest is padding, which the range evaluation scores apart (:meth:`padding_mask`)
    padding_target: ClassVar[int | None] = None

    def __init__(self, **params: Any) -> None:
        known = {p.name: p for p in self.PARAMS}
        unknown = sorted(set(params) - set(known))
        if unknown:
            from archlab.errors import closest_match

            hint = closest_match(unknown[0], known)
            raise ConfigError(
                f"{self.name}.{unknown[0]}",
                "unknown parameter" + (f"; did you mean {hint!r}?" if hint else ""),
                ", ".join(known) or "no parameters",
            )
        self.params: dict[str, Any] = {
            p.name: p.coerce(params.get(p.name, p.default), self.name) for p in self.PARAMS
        }
        self._validate()

    # -- to override ---------------------------------------------------------------------------
    def _validate(self) -> None:
        """Check constraints between parameters; raise ConfigError naming the field."""

    @property
    def vocab_size(self) -> int:
        return len(self.token_labels())

    @property
    def n_classes(self) -> int:
        return len(self.target_labels())

    def token_labels(self) -> list[str]:
        raise NotImplementedError

    def target_labels(self) -> list[str]:
        raise NotImplementedError

    def seq_len(self, length: int) -> int:
        """Number of columns T of a batch of size parameter ``length``."""
        return length

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> Draws:
        raise NotImplementedError

    def build(self, draws: Draws, batch: int, length: int) -> Batch:
        raise NotImplementedError

    def build_reference(self, draws: Draws, batch: int, length: int) -> Batch:
        raise NotImplementedError

    @property
    def theory(self) -> TheoryTag:
        return TheoryTag(self.level, self.task)

    # -- public API ----------------------------------------------------------------------------
    def check_length(self, length: int) -> None:
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)):
            raise ConfigError("length", f"{length!r} is not an integer", f">= {self.min_length}")
        if length < self.min_length:
            raise ConfigError(
                "length",
                f"{length} is below the minimum for probe {self.name!r}",
                f"length >= {self.min_length}",
            )

    def _check(self, batch: int, length: int) -> None:
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise ConfigError("batch", f"{batch!r} is not a positive integer", "batch >= 1")
        self.check_length(length)
        if length > MAX_LENGTH:
            raise ConfigError("length", f"{length:,} is longer than archlab accepts", f"<= {MAX_LENGTH:,}")
        if batch * self.seq_len(length) > MAX_BATCH_TOKENS:
            raise ConfigError(
                "batch", f"{batch:,} × {self.seq_len(length):,} tokens is more than one batch may hold",
                f"batch × length <= {MAX_BATCH_TOKENS:,}",
            )  # fmt: skip

    def sample(self, rng: np.random.Generator, batch: int, length: int) -> Batch:
        """A batch of ``batch`` sequences of size parameter ``length`` (vectorised)."""
        self._check(batch, length)
        return self.build(self.draw(rng, batch, length), batch, length)

    def reference_sample(self, rng: np.random.Generator, batch: int, length: int) -> Batch:
        """The same batch as :meth:`sample`, computed by the slow reference implementation."""
        self._check(batch, length)
        return self.build_reference(self.draw(rng, batch, length), batch, length)

    def padding_mask(self, batch: Batch) -> np.ndarray | None:
        """Scored positions that are padding: ``padding_target`` after its first occurrence in the
        row (the first one ends the answer and counts as content); None when the probe has none."""
        if self.padding_target is None:
            return None
        hit = (batch.targets == self.padding_target) & batch.mask
        return hit & (np.cumsum(hit, axis=1) > 1)

    def spec(self) -> str:
        """``name`` plus non-default parameters, e.g. ``modular_sum(m=5)``."""
        diff = {p.name: self.params[p.name] for p in self.PARAMS if self.params[p.name] != p.default}
        if not diff:
            return self.name
        return f"{self.name}(" + ", ".join(f"{k}={v}" for k, v in diff.items()) + ")"

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description (used by ``archlab probe list --json``)."""
        return {
            "name": self.name,
            "family": self.family,
            "theory": self.theory.to_dict(),
            "vocab_size": self.vocab_size,
            "n_classes": self.n_classes,
            "min_length": self.min_length,
            "params": {
                p.name: {
                    "type": p.kind.__name__,
                    "default": p.default,
                    "allowed": p.allowed(),
                    "doc": p.doc,
                }
                for p in self.PARAMS
            },
            "doc": (type(self).__doc__ or "").strip().splitlines()[0] if type(self).__doc__ else "",
        }

    def display_labels(self) -> tuple[list[str], list[str]]:
        """Token and target labels for people to read (groups use cycle notation here)."""
        return self.token_labels(), self.target_labels()

    def format_row(
        self, tokens: Sequence[int], targets: Sequence[int], mask: Sequence[bool]
    ) -> tuple[list[str], list[str]]:
        """Readable labels of one sequence, position by position (masked targets shown as '·')."""
        tl, ll = self.display_labels()
        inp = [tl[int(t)] for t in tokens]
        out = [ll[int(y)] if m else "·" for y, m in zip(targets, mask, strict=True)]
        return inp, out

    def __repr__(self) -> str:
        return f"<probe {self.spec()}>"

    def replace(self, **params: Any) -> Probe:
        return type(self)(**{**self.params, **params})


def stream_rng(seed: int, split: str, *key: int) -> np.random.Generator:
    """The generator of one seed stream. ``split`` is "train" or "test"; the two never share a
    state for any seed because their SeedSequence spawn keys differ."""
    if split not in SPLITS:
        raise ConfigError("split", f"{split!r} is not a split", " | ".join(SPLITS))
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=(SPLITS[split], *key))
    return np.random.default_rng(ss)
