"""Typed configuration (pydantic v2) and YAML loading with errors that name the field.

Every config model forbids unknown keys, so a typo in a YAML file is an error that names the
key instead of a silently ignored setting. Later issues add TrainConfig and StudyConfig here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from archlab.errors import ArchlabError, ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # inf or NaN is never a setting


#: the longest sequence length archlab accepts anywhere (64 kb DNA windows fit; 10⁹ is a typo)
MAX_LENGTH = 1_000_000
#: the most distinct lengths one range may name
MAX_LENGTHS = 10_000


class LengthRange(StrictModel):
    """An inclusive range of lengths: ``{min: 41, max: 256, step: 5}``."""

    min: int = Field(ge=1, le=MAX_LENGTH)
    max: int = Field(ge=1, le=MAX_LENGTH)
    step: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> LengthRange:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        if (self.max - self.min) // self.step + 1 > MAX_LENGTHS:
            raise ValueError(f"names more than {MAX_LENGTHS} lengths (use a larger step)")
        return self

    def values(self) -> list[int]:
        out = list(range(self.min, self.max + 1, self.step))
        if out[-1] != self.max:
            out.append(self.max)  # the longest length is always evaluated
        return out


Lengths = list[int] | LengthRange


def expand_lengths(spec: Lengths) -> list[int]:
    """The sorted, de-duplicated lengths of a list or a range."""
    values = spec.values() if isinstance(spec, LengthRange) else list(spec)
    return sorted(set(values))


def _check_length_list(v: Lengths | None) -> Lengths | None:
    if isinstance(v, list):
        if not v:
            raise ValueError("needs at least one length")
        bad = [x for x in v if not 1 <= x <= MAX_LENGTH]
        if bad:
            raise ValueError(f"lengths must be in 1…{MAX_LENGTH:,}, got {bad[:5]}")
        if len(v) > MAX_LENGTHS:
            raise ValueError(f"more than {MAX_LENGTHS} lengths")
    return v


class ProbeSpec(StrictModel):
    """One probe of a suite: its registry name, parameters and optional length overrides.

    ``test_params`` override ``params`` for the test split only (e.g. MAD's tasks: trained with
    ``scoring: lm``, tested with ``scoring: recall``); the test probe must have the same token and
    target vocabularies as the training one.
    """

    probe: str
    params: dict[str, Any] = Field(default_factory=dict)
    test_params: dict[str, Any] = Field(default_factory=dict)
    train_lengths: Lengths | None = None
    test_lengths: Lengths | None = None
    #: this probe's finite training set size (overrides the suite's ``train_set_size``)
    train_set_size: int | None = Field(default=None, ge=1, le=5_000_000)

    _check = field_validator("train_lengths", "test_lengths")(_check_length_list)

    @model_validator(mode="after")
    def _buildable(self) -> ProbeSpec:
        from archlab.probes import make_probe

        try:
            train = make_probe(self.probe, **self.params)
            test = make_probe(self.probe, **{**self.params, **self.test_params})
        except ArchlabError as exc:  # unknown names are KeyErrors: pydantic needs a ValueError
            raise ValueError(str(exc)) from None
        if (train.vocab_size, train.n_classes) != (test.vocab_size, test.n_classes):
            raise ValueError(
                f"test_params change the vocabulary ({train.vocab_size} tokens, {train.n_classes} "
                f"classes in training; {test.vocab_size}, {test.n_classes} at test): one model "
                "cannot be trained on one and tested on the other"
            )
        return self


class ProbeSuiteConfig(StrictModel):
    """A probe suite: which probes, trained at which lengths and tested at which.

    ``forbid_test_in_train``: no test sequence may occur in training. Sequences of different
    lengths never collide, so the rule acts at lengths used both for training and testing: a
    hash of the tokens reserves a fraction ``reserve_fraction`` of all sequences of such a length
    for testing; the training stream never emits them and the test stream emits only them.
    """

    name: str = Field(min_length=1)
    description: str = ""
    #: the published protocol this suite follows *exactly* (task variants, scoring, splits, test
    #: lengths); empty for archlab's own suites, including those adapted from a paper, which say
    #: so, and how they differ, in ``description``
    protocol: str = ""
    train_lengths: Lengths
    test_lengths: Lengths
    forbid_test_in_train: bool = False
    reserve_fraction: float = Field(default=0.25, gt=0.0, lt=1.0)
    #: a finite training set of this many sequences per probe, training length and seed (drawn
    #: once from the run's stream, sampled with replacement); None: fresh sequences every step
    train_set_size: int | None = Field(default=None, ge=1, le=5_000_000)
    probes: list[ProbeSpec] = Field(min_length=1)

    _check = field_validator("train_lengths", "test_lengths")(_check_length_list)


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        out.append((loc, err["msg"].removeprefix("Value error, ")))
    return out


def validate(model: type[M], data: Any, source: str = "") -> M:
    """Validate ``data`` against ``model``; a failure becomes a ConfigError naming the field
    (``probes.2.params``), prefixed by the file it came from."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc)
        field, msg = problems[0]
        if len(problems) > 1:
            msg += "; also " + "; ".join(f"{f}: {m}" for f, m in problems[1:])
        raise ConfigError(f"{source}: {field}" if source else field, msg) from None


#: the largest config, spec or suite file read (a real one is a few KB)
MAX_CONFIG_BYTES = 1 << 20
#: the most aliases one YAML document may use (each can stand for a whole subtree: a few
#: nested aliases expand to billions of nodes when the spec is hashed or printed)
MAX_YAML_ALIASES = 100


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that repeats a key (plain YAML keeps the last one
    silently, so a second ``mixer:`` would override the first unseen) and more than
    :data:`MAX_YAML_ALIASES` aliases (an alias bomb)."""

    _aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_YAML_ALIASES} aliases (refused: they can expand "
                    "without bound)", self.peek_event().start_mark,
                )  # fmt: skip
        return super().compose_node(parent, index)  # type: ignore[arg-type]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str) -> Any:
    """``text`` as YAML with :class:`UniqueKeyLoader` (safe, no duplicate keys)."""
    return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects


def load_yaml(path: str | os.PathLike[str]) -> Any:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(str(p), "file not found")
    if p.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(
            str(p), f"{p.stat().st_size:,} bytes: too large for a config", f"<= {MAX_CONFIG_BYTES:,} bytes"
        )
    try:
        return parse_yaml(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(str(p), f"not a UTF-8 text file (byte {exc.start}): not YAML") from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(p), f"invalid YAML: {yaml_problem(exc)}") from None


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error in one line: what and where (``duplicate key 'mixer' at line 3, column 3``)."""
    mark = getattr(exc, "problem_mark", None)
    what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{what} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else what


def load_config(model: type[M], path: str | os.PathLike[str]) -> M:
    """Read a YAML file into ``model``."""
    return validate(model, load_yaml(path), source=str(path))


# ---------------------------------------------------------------------------------------------
# Model configuration
# ---------------------------------------------------------------------------------------------

#: ModelConfig fields every mixer accepts; every other field belongs to the mixers that list it
#: in their ``options`` (or to an axis with its own rule, checked below).
COMMON_MODEL_FIELDS = frozenset(
    {
        "mixer",
        "layers",
        "width",
        "mlp_ratio",
        "norm",
        "dropout",
        "head",
        "pool",
        "init_seed",
        "stem",
        "stem_kernel",
        "stem_width",
        "rc",
    }
)


def _mixer_class(info: ValidationInfo) -> Any | None:
    """The mixer class named by the already validated ``mixer`` field, or None if it failed."""
    name = info.data.get("mixer")
    if name is None:
        return None
    from archlab.registry import MIXERS

    return MIXERS.get(name)


class ModelConfig(StrictModel):
    """One architecture: a mixer from the registry plus the three search axes.

    Layout: embedding → ``layers`` residual blocks (norm, mixer, channel MLP) → head. Options
    that only some mixers understand (``eig_range``, ``householder_factors``, ``heads``,
    ``pos_enc`` …) are rejected with the field's name when set for a mixer that ignores them,
    so a search never silently varies a knob that does nothing. ``archlab model list`` shows
    which mixer takes which option.

    Search axes:

    * recurrence depth — ``fp_iters`` (fixed-point iterations of a recurrent mixer, Movahedi et
      al. 2025) with ``fp_tol``, ``fp_mixer``, ``fp_rank``, ``fp_sample``, ``fp_shift``, ``fp_grad``,
      ``fp_eval_iters``; and ``depth_repeat``
      (a weight-tied block applied k times) with optional ``halting: act`` and ``ponder_cost``;
    * hierarchy — ``hier_levels`` and ``hier_stride``, ``hier_chunking`` (fixed or learned
      boundaries) and ``hier_ratio_loss``;
    * context pruning — ``prune`` with ``prune_gamma`` (sparsity weight) and ``prune_keep``.

    Input stem — ``stem: conv`` with ``stem_kernel`` and ``stem_width``: one short convolution
    between the embedding and the first block, for every mixer (see :class:`~archlab.models.model.Stem`).

    ``rc`` — how DNA training treats the reverse-complement strand; formal-language probes ignore it.
    """

    mixer: str = "diag_rnn"
    layers: int = Field(default=2, ge=1, le=64)
    width: int = Field(default=64, ge=2, le=8192)
    mlp_ratio: float = Field(default=2.0, ge=0.0, le=16.0)
    norm: Literal["layernorm", "rmsnorm", "none"] = "layernorm"
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    head: Literal["token", "pooled"] = "token"
    #: pooled head: mean over positions, the last position, or the max per channel (a motif
    #: detector: one strong hit anywhere decides, as in the global max-pool of DNA CNNs)
    pool: Literal["mean", "last", "max"] = "mean"
    init_seed: int | None = None

    # mixer options (each mixer lists the ones it uses)
    heads: int | None = Field(default=None, ge=1)
    state_size: int | None = Field(default=None, ge=1, le=8192)
    eig_range: Literal["unit", "signed", "complex"] | None = None
    householder_factors: int | None = Field(default=None, ge=1, le=16)
    gate: bool | None = None
    #: SSM state dimension per channel (Mamba's N, ``d_state``)
    d_state: int | None = Field(default=None, ge=1, le=1024)
    #: inner width / width of a block that projects up before mixing (Mamba's ``expand``,
    #: the mLSTM's projection factor)
    expand: int | None = Field(default=None, ge=1, le=8)
    pos_enc: Literal["none", "sinusoidal", "rope", "alibi"] | None = None
    conv_kernel: int | None = Field(default=None, ge=2, le=64)
    conv_depth: int | None = Field(default=None, ge=1, le=16)
    causal: bool = True

    # recurrence depth
    fp_iters: int | None = Field(default=None, ge=1, le=1000)
    fp_tol: float = Field(default=0.1, gt=0.0)
    fp_mixer: Literal["householder", "lowrank"] = "householder"
    fp_rank: int = Field(default=2, ge=1, le=64)
    fp_sample: bool = False
    fp_shift: bool = False
    fp_grad: Literal["last", "all"] = "last"
    fp_eval_iters: int | None = Field(default=None, ge=1, le=4096)
    depth_repeat: int = Field(default=1, ge=1, le=64)
    halting: Literal["none", "act"] = "none"
    ponder_cost: float = Field(default=0.01, ge=0.0)

    # hierarchy
    hier_levels: int = Field(default=1, ge=1, le=8)
    hier_stride: int = Field(default=4, ge=2, le=1024)
    #: ``fixed``: chunks of ``hier_stride`` positions; ``dynamic``: learned boundaries (H-Net's
    #: dynamic chunking, see :mod:`archlab.models.hierarchy`) aiming at ``hier_stride`` positions
    #: per chunk on average
    hier_chunking: Literal["fixed", "dynamic"] = "fixed"
    #: weight of dynamic chunking's ratio loss (pulls the compression towards hier_stride)
    hier_ratio_loss: float = Field(default=0.03, ge=0.0)

    # context pruning
    prune: bool = False
    prune_gamma: float = Field(default=0.01, ge=0.0)
    prune_keep: float | None = Field(default=None, gt=0.0, le=1.0)

    # input stem (every mixer): x ← x + stem(x) right after the embedding
    #: ``conv``: a short convolution over the embeddings before the first block — the short causal
    #: conv Mamba puts before its scan, the k-mer detector that opens DNA CNNs; ``none``: no stem
    stem: Literal["none", "conv"] = "none"
    #: taps of the stem convolution (causal: the last ``stem_kernel`` positions; non-causal: the
    #: same count centred on the position, one more on the left when the kernel is even)
    stem_kernel: int = Field(default=9, ge=2, le=64)
    #: channels of the stem convolution; None: ``width`` (no projection back)
    stem_width: int | None = Field(default=None, ge=2, le=8192)

    #: Reverse-complement handling, **DNA tasks only** (read by the DNA trainer; the formal-language
    #: probes ignore it): ``none``; ``augment`` — each training sequence is replaced by its reverse
    #: complement at random; ``both`` — that augmentation plus, at evaluation, the prediction
    #: averaged over both strands; ``siamese`` — the model runs on both strands and the two pooled
    #: outputs are averaged, in training and evaluation (strand-invariant by construction).
    rc: Literal["none", "augment", "both", "siamese"] = "both"

    #: Long sequences in bounded memory: run the blocks chunk by chunk, ``chunk_len`` positions at
    #: a time, each mixer's state carried from one chunk into the next (the outputs equal the
    #: whole-sequence forward). In training each chunk's activations are recomputed in the
    #: backward pass (gradient checkpointing) and the carried state enters the next chunk as a
    #: constant: **truncated backpropagation through time**, gradients do not cross chunk
    #: boundaries. None: the whole sequence at once. Causal streamable mixers only (every
    #: recurrent mixer and causal ``conv``); not with ``fp_iters``, ``hier_levels`` or ``depth_repeat``.
    chunk_len: int | None = Field(default=None, ge=1)

    #: fields added after run ids and cache keys were first written (the Mamba/xLSTM options,
    #: chunking): left out of :meth:`identity_dump` at these defaults, so earlier runs keep their ids
    LATER_FIELDS: ClassVar[dict[str, Any]] = {
        "d_state": None, "expand": None, "chunk_len": None, "hier_chunking": "fixed", "hier_ratio_loss": 0.03,
    }  # fmt: skip

    def identity_dump(self, **kwargs: Any) -> dict[str, Any]:
        """``model_dump(**kwargs)`` for hashing into run ids and cache keys (see :attr:`LATER_FIELDS`)."""
        data = self.model_dump(**kwargs)
        for name, default in self.LATER_FIELDS.items():
            if data.get(name) == default:
                del data[name]
        return data

    @field_validator("mixer")
    @classmethod
    def _known_mixer(cls, v: str) -> str:
        from archlab.registry import MIXERS

        try:
            MIXERS.get(v)
        except ArchlabError as exc:
            raise ValueError(str(exc)) from None
        return v if ":" in v else v.lower()  # a dotted path keeps its case (module:Class)

    @field_validator(
        "heads",
        "state_size",
        "eig_range",
        "householder_factors",
        "gate",
        "d_state",
        "expand",
        "pos_enc",
        "conv_kernel",
        "conv_depth",
    )
    @classmethod
    def _mixer_option(cls, v: Any, info: ValidationInfo) -> Any:
        mixer = _mixer_class(info)
        if mixer is None or v is None:
            return v
        assert info.field_name is not None
        allowed = mixer.allowed_values(info.field_name)
        if allowed is None:
            users = _mixers_with_option(info.field_name)
            raise ValueError(
                f"mixer {mixer.name!r} does not use {info.field_name}; it is an option of {', '.join(users)}"
            )
        if allowed and v not in allowed:
            raise ValueError(
                f"mixer {mixer.name!r} takes {info.field_name} in "
                f"{{{', '.join(map(str, allowed))}}}, got {v!r}"
            )
        return v

    @field_validator("heads", mode="after")
    @classmethod
    def _heads_divide_width(cls, v: int | None, info: ValidationInfo) -> int | None:
        width = info.data.get("width")
        if v is not None and width is not None and width % v:
            divisors = [d for d in range(1, min(width, 64) + 1) if width % d == 0]
            raise ValueError(
                f"width {width} is not divisible by heads={v} (divisors of width up to 64: {divisors})"
            )
        return v

    @field_validator("causal")
    @classmethod
    def _causal(cls, v: bool, info: ValidationInfo) -> bool:
        mixer = _mixer_class(info)
        if mixer is not None and not v and not mixer.supports_noncausal:
            ok = [m.name for _, m in _all_mixers() if m.supports_noncausal]
            raise ValueError(
                f"mixer {mixer.name!r} is causal only; causal=false is allowed for {', '.join(ok)}"
            )
        return v

    @classmethod
    def _is_default(cls, v: Any, info: ValidationInfo) -> bool:
        """An option left at its default (as in a dumped config) is accepted whatever gates it."""
        assert info.field_name is not None
        return bool(v == cls.model_fields[info.field_name].default)

    @field_validator("fp_iters")
    @classmethod
    def _fp(cls, v: int | None, info: ValidationInfo) -> int | None:
        mixer = _mixer_class(info)
        if v is not None and mixer is not None and not mixer.recurrent:
            ok = [m.name for _, m in _all_mixers() if m.recurrent]
            raise ValueError(
                f"fixed-point iterations need a recurrent mixer; {mixer.name!r} is not one "
                f"(recurrent: {', '.join(ok)})"
            )
        return v

    @field_validator("fp_tol", "fp_mixer", "fp_rank", "fp_sample", "fp_shift", "fp_grad", "fp_eval_iters")
    @classmethod
    def _fp_option(cls, v: Any, info: ValidationInfo) -> Any:
        if info.data.get("fp_iters", 0) is None and not cls._is_default(v, info):
            raise ValueError(f"{info.field_name} is an option of the fixed-point wrapper: set fp_iters too")
        return v

    @field_validator("halting", "ponder_cost")
    @classmethod
    def _halting(cls, v: Any, info: ValidationInfo) -> Any:
        if info.field_name == "halting" and v == "act" and info.data.get("depth_repeat", 2) < 2:
            raise ValueError("halting 'act' needs depth_repeat >= 2 (the most steps a token may take)")
        if (
            info.field_name == "ponder_cost"
            and info.data.get("halting", "act") != "act"
            and not cls._is_default(v, info)
        ):
            raise ValueError("ponder_cost is only used with halting: act")
        return v

    @field_validator("hier_stride", "hier_chunking")
    @classmethod
    def _hier(cls, v: Any, info: ValidationInfo) -> Any:
        if info.data.get("hier_levels", 2) < 2 and not cls._is_default(v, info):
            raise ValueError(f"{info.field_name} is only used with hier_levels >= 2")
        return v

    @field_validator("hier_ratio_loss")
    @classmethod
    def _hier_ratio(cls, v: float, info: ValidationInfo) -> float:
        if info.data.get("hier_chunking", "dynamic") != "dynamic" and not cls._is_default(v, info):
            raise ValueError("hier_ratio_loss is only used with hier_chunking: dynamic")
        return v

    @field_validator("prune")
    @classmethod
    def _prune(cls, v: bool, info: ValidationInfo) -> bool:
        mixer = _mixer_class(info)
        if v and mixer is not None and not mixer.supports_prune:
            ok = [m.name for _, m in _all_mixers() if m.supports_prune]
            raise ValueError(
                f"mixer {mixer.name!r} has no context pruning; prune is supported by {', '.join(ok)}"
            )
        if v and info.data.get("causal") is False:
            raise ValueError("context pruning drops keys for later queries: it needs causal: true")
        return v

    @field_validator("prune_gamma", "prune_keep")
    @classmethod
    def _prune_option(cls, v: Any, info: ValidationInfo) -> Any:
        if info.data.get("prune") is False and not cls._is_default(v, info):
            raise ValueError(f"{info.field_name} is an option of context pruning: set prune: true too")
        return v

    @field_validator("stem_kernel", "stem_width")
    @classmethod
    def _stem_option(cls, v: Any, info: ValidationInfo) -> Any:
        if info.data.get("stem") == "none" and not cls._is_default(v, info):
            raise ValueError(f"{info.field_name} is an option of the conv stem: set stem: conv too")
        return v

    @field_validator("chunk_len")
    @classmethod
    def _chunk_len(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is None:
            return v
        mixer = _mixer_class(info)
        if mixer is not None and _unstreamable(mixer):
            ok = [m.name for _, m in _all_mixers() if not _unstreamable(m)]
            raise ValueError(f"mixer {mixer.name!r} cannot run chunk by chunk: {_unstreamable(mixer)} "
                             f"(chunk_len works with {', '.join(ok)})")  # fmt: skip
        if info.data.get("causal") is False:
            raise ValueError("chunk_len carries state forward from chunk to chunk: it needs causal: true")
        for name, off in (("fp_iters", None), ("hier_levels", 1), ("depth_repeat", 1)):
            if info.data.get(name, off) != off:
                raise ValueError(f"chunk_len is not implemented together with {name} (leave {name} unset)")
        return v

    def resolved(self, field: str) -> Any:
        """The value a mixer uses for ``field``: the explicit one, else the mixer's default."""
        v = getattr(self, field)
        if v is not None:
            return v
        from archlab.registry import MIXERS

        return MIXERS.get(self.mixer).default_value(field, self)


def _all_mixers() -> list[tuple[str, Any]]:
    from archlab.registry import MIXERS

    return MIXERS.items()


def _unstreamable(mixer: Any) -> str:
    """Why ``mixer`` cannot run chunk by chunk ("" if it can; a plugin without the attribute cannot)."""
    return str(getattr(mixer, "unstreamable", "it has no chunked form (forward_chunk)"))


def _mixers_with_option(field: str) -> list[str]:
    return [name for name, m in _all_mixers() if m.allowed_values(field) is not None]


# ---------------------------------------------------------------------------------------------
# Training configuration
# ---------------------------------------------------------------------------------------------


class TrainConfig(StrictModel):
    """How one model is trained on one probe and evaluated on longer sequences.

    Steps (or a token budget, whichever ends first) of AdamW with linear warm-up and cosine decay
    to ``min_lr_ratio × lr``, gradient clipping, a curriculum over the training lengths, early
    stop once the validation sequence accuracy at the longest training length is at least
    ``solve_threshold`` for ``solve_patience`` evaluations in a row, then range evaluation on
    ``test_lengths`` from the probe's test seed stream.

    ``train_lengths`` / ``test_lengths`` override the suite's (or the defaults for a single probe:
    train 1–40, test 41–256 as in Delétang et al. 2023, scaled down for CPUs).
    """

    steps: int = Field(default=2000, ge=1)
    token_budget: int | None = Field(default=None, ge=1)
    batch: int = Field(default=64, ge=1)
    lr: float = Field(default=1e-3, gt=0.0)
    warmup: int = Field(default=100, ge=0)
    min_lr_ratio: float = Field(default=0.1, ge=0.0, le=1.0)
    weight_decay: float = Field(default=0.01, ge=0.0)
    clip: float | None = Field(default=1.0, gt=0.0)
    curriculum: Literal["uniform", "increasing"] = "uniform"
    #: where each step's training length comes from: ``seed`` — the run's own data stream (every
    #: seed its own sequence of lengths); ``shared`` — one stream of lengths for every seed (the
    #: data still differs per seed), so a stacked cell's members need no padding
    length_stream: Literal["seed", "shared"] = "seed"
    train_lengths: Lengths | None = None
    test_lengths: Lengths | None = None
    eval_every: int = Field(default=100, ge=1)
    val_batch: int = Field(default=128, ge=1)
    eval_batch: int = Field(default=256, ge=1)
    solve_threshold: float = Field(default=0.99, gt=0.0, le=1.0)
    solve_patience: int = Field(default=3, ge=1)
    early_stop: bool = True
    seed: int = Field(default=0, ge=0)
    device: str = "auto"
    dtype: Literal["float32", "float64", "bfloat16"] = "float32"
    checkpoint: bool = False

    _check = field_validator("train_lengths", "test_lengths")(_check_length_list)

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if v != "auto" and v.split(":")[0] not in ("cpu", "cuda", "mps"):
            raise ValueError(f"unknown device {v!r} (allowed: auto, cpu, cuda, cuda:N, mps)")
        return v
