"""The synthetic DNA grammar levels (D0–D7) for the theory engine: facts, features, predictions.

:func:`level_facts` turns a level at a length into a :class:`~archlab.theory.facts.ProbeFacts`
(``level="dna"``), computed from the level's resolved parameters
(:meth:`archlab.dna.grammar.Level.resolve`) and the JASPAR motif widths. The facts the DNA rules
(R19–R24 in :mod:`archlab.theory.rules`) read:

* ``span`` — the bp one window must hold to decide the label. D0, D1, D3, D7: the motif widths
  (each site is local; D1 counts, D3 XORs and D7 sums sites anywhere, which ``extra["combine"]``
  names). D2: ``wA + (gap + 1) + wB`` (the widest allowed A…B block). D4: the largest in- or
  out-of-phase start-to-start spacing + ``wB``. D5: ``distance + block``. D6: the whole sequence —
  the order of the two modules is global — with the module spans in ``extra["module_spans"]``.
* ``site_distance`` — start-to-start distance of related sites (D2 largest allowed, D4 largest
  spacing, D5 the pairing distance); ``period`` — D4's helical period (10.5 bp by default).
* ``state_bits_needed`` — what a left-to-right streaming model must carry besides a buffer of the
  last ``span − 1`` bases (``extra["window_bits"]``), with the argument in ``state_formula``:
  one flag for "a hit seen" (D0, D2, D4), two for D3, log2 3 for D6 (nothing / module 1 seen /
  accepted), log2(k+1) for D1 (a counter that saturates at k), and for D5 ``2·distance`` bits.
  The D5 argument is a fooling set: cut the sequence at a position m; two different contents of
  the ``distance`` bases before m differ at some base, which some block of a pair starting before
  m covers, and a suffix holding that block's reverse complement ``distance`` bp later makes one
  content a positive and the other a negative — so a model exact on *every* input needs 4^distance
  states at m, 2·distance bits. That bounds worst-case inputs; what bounds the AUROC on the
  generated distribution is R22's information bound.
* ``extra`` — motif IDs and widths, the count range (D1: negatives ``k−1``, positives ``k`` to
  ``k + max_extra``), allowed gaps and spacings, D5's ``blind_window`` (the longest window that
  never holds bases of both blocks of a pair), the background's per-base entropy and the chance that
  two random bases pair (D5), and D7's noise and Pearson ceiling.

:func:`predict_level` is :func:`archlab.theory.predict` for a level: the model is a
:class:`~archlab.config.ModelConfig` (built as :mod:`archlab.dna.train` builds it: a pooled
head over the 5 base codes) or a DNA-native network's config (:mod:`archlab.dna.nets`: the
one-hot CNN's :class:`~archlab.dna.cnn.CNNConfig`, the pair map's
:class:`~archlab.dna.pairmap.PairMapConfig`), whose registry entry gives its features.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, cast

from archlab.config import ModelConfig
from archlab.dna.cnn import CNNConfig
from archlab.dna.nets import dna_net_for
from archlab.dna.pairmap import PairMapConfig
from archlab.errors import ConfigError
from archlab.models.model import ModelFeatures, model_features
from archlab.theory.facts import ProbeFacts
from archlab.theory.predict import Prediction, config_label, predict_one

__all__ = [
    "DNA_VOCAB",
    "DnaModel",
    "dna_features",
    "dna_model_label",
    "is_level",
    "level_facts",
    "level_label",
    "predict_level",
]

#: token codes a sequence model reads on DNA (A C G T N)
DNA_VOCAB = 5
#: labels of the parameters that never change the task (where the data files live)
_IGNORED = ("data_dir",)

DnaModel = ModelConfig | CNNConfig | PairMapConfig


def _registry() -> Any:
    import archlab.dna.grammar  # noqa: F401  (registers D0–D7)
    from archlab.registry import DNA_TASKS

    return DNA_TASKS


def _name(level: str) -> str:
    return level.strip().removeprefix("synthetic/")


def is_level(name: str) -> bool:
    """Whether ``name`` (or ``synthetic/<name>``, a DNA dataset's name) is a grammar level."""
    return _name(name) in _registry()


def _level(name: str) -> Any:
    from archlab.dna.grammar import get_level

    return get_level(_name(name))


def _plain(v: Any) -> Any:
    return tuple(_plain(x) for x in v) if isinstance(v, list | tuple) else v


def _show(v: Any) -> str:
    return ",".join(map(str, v)) if isinstance(v, tuple) else str(v)


def level_label(level: str, params: dict[str, Any] | None = None) -> str:
    """``D5`` or ``D5(distance=200)``: the level with the parameters that differ from its
    defaults (``data_dir`` aside), as predictions and measurements name it."""
    lv = _level(level)
    p = lv.resolve(**(params or {}))
    defaults = lv.default_params
    diff = [
        f"{k}={_show(_plain(v))}"
        for k, v in p.items()
        if k not in _IGNORED and _plain(v) != _plain(defaults.get(k))
    ]
    return lv.name + (f"({', '.join(diff)})" if diff else "")


def _background_stats(p: dict[str, Any]) -> tuple[float | None, float | None]:
    """(entropy per base in bits, chance that two independent bases are complementary) of an
    i.i.d. background (``iid``, ``gc``); None for the Markov and shuffled backgrounds."""
    if p["background"] == "iid":
        return 2.0, 0.25
    if p["background"] == "gc":
        g = float(p["gc"])
        probs = [(1 - g) / 2, g / 2, g / 2, (1 - g) / 2]
        return -sum(q * math.log2(q) for q in probs), ((1 - g) ** 2 + g**2) / 2
    return None, None


def level_facts(level: str, length: int, **params: Any) -> ProbeFacts:
    """The facts of grammar level ``level`` at ``length`` bp with ``params`` (see the module
    docstring); unknown parameters raise :class:`~archlab.errors.ConfigError`."""
    from archlab.dna.motifs import get_motif

    lv = _level(level)
    p = lv.resolve(**params)
    n = int(length)
    motifs = [get_motif(m) for m in p.get("motifs", ())]
    widths = [m.width for m in motifs]
    facts = ProbeFacts(probe=level_label(lv.name, params), name=lv.name, level="dna", task=lv.title)
    extra: dict[str, Any] = {
        "theory": lv.theory,
        "dna_task": lv.task,
        "length": n,
        "background": p["background"],
        "motifs": [m.id for m in motifs],
        "motif_widths": widths,
    }
    name = lv.name
    if name == "D0":
        facts.span = widths[0]
        facts.state_bits_needed = 1.0
        facts.state_formula = "one flag: a hit of A seen so far"
        extra["combine"] = "any site"
    elif name == "D1":
        k, more = int(p["k"]), int(p["max_extra"])
        facts.span = widths[0]
        facts.state_bits_needed = math.log2(k + 1)
        facts.state_formula = f"log2(k+1): a counter of A hits that saturates at k = {k}"
        extra.update(combine="count of sites", count_negative=k - 1, count_positive=[k, k + more])
    elif name == "D2":
        d = int(p["gap"])
        starts = [widths[0] + g for g in (d - 1, d, d + 1)]
        facts.span = widths[0] + d + 1 + widths[1]
        facts.site_distance = starts[-1]
        facts.state_bits_needed = 1.0
        facts.state_formula = "one flag: a valid A…B block seen so far"
        wrong = [*range(1, d - 2), *range(d + 3, 3 * d + 1)]
        extra.update(combine="any local block", gaps=[d - 1, d, d + 1], site_distances=starts,
                     wrong_gaps=[min(wrong), max(wrong)] if wrong else [])  # fmt: skip
    elif name == "D3":
        facts.span = max(widths[:2])
        facts.state_bits_needed = 2.0
        facts.state_formula = "two flags: A seen, B seen"
        extra["combine"] = "xor of presence anywhere"
    elif name == "D4":
        ctx = cast(Any, SimpleNamespace(params=p, motifs=motifs, length=n))
        in_phase, out_phase = lv.spacings(ctx)
        far = max(*in_phase, *out_phase)
        facts.span = far + widths[1]
        facts.site_distance = far
        facts.period = float(p["period"])
        facts.state_bits_needed = 1.0
        facts.state_formula = "one flag: an in-phase A…B pair seen so far"
        extra.update(combine="any local pair", in_phase=in_phase, out_of_phase=out_phase)
    elif name == "D5":
        w = int(p["block"])
        d = n // 2 if p["distance"] is None else int(p["distance"])
        if w < 4 or d < w or d + w > n:
            raise ConfigError(
                "D5.distance",
                f"block {w}, distance {d} do not fit {n} bp",
                "4 ≤ block ≤ distance ≤ length − block",
            )
        nested = bool(p["nested"])
        nearest = d // 2 if nested else d
        facts.span = d + w
        facts.site_distance = d
        facts.state_bits_needed = 2.0 * d
        facts.state_formula = (
            f"2·distance = {2 * d}: a model exact on every input must tell apart all 4^{d} contents of "
            f"the last {d} bases (a fooling set)"
        )
        entropy, pair = _background_stats(p)
        extra.update(combine="any pair at the distance", block=w, nested=nested,
                     blind_window=nearest - w + 1, starts=n - d - w + 1, base_entropy=entropy,
                     pair_match_prob=pair)  # fmt: skip
        if nested:
            extra["inner_distance"] = d // 2
    elif name == "D6":
        g1, g2 = int(p["gap1"]), int(p["gap2"])
        modules = [widths[0] + g1 + 1 + widths[1], widths[2] + g2 + 1 + widths[3]]
        facts.span = n
        facts.state_bits_needed = math.log2(3)
        facts.state_formula = "log2 3: nothing yet / module 1 seen / module 2 seen after it"
        extra.update(combine="order of two local modules", module_spans=modules)
    elif name == "D7":
        noise = float(p["noise"])
        facts.span = max(widths)
        facts.state_formula = "three running occupancy sums (real-valued): no finite bit count"
        extra.update(combine="sum of occupancies + A·B product", noise=noise,
                     pearson_ceiling=1.0 / math.sqrt(1.0 + noise**2))  # fmt: skip
    if facts.span is not None and name != "D6":
        extra["window_bits"] = 2 * (facts.span - 1)
    facts.extra.update(extra)
    return facts


def dna_model_label(spec: DnaModel) -> str:
    """``cnn`` / ``cnn(kernel=9)`` for a DNA network (the CNN baseline, the pair map), else
    :func:`config_label` of the ModelConfig (the pooled head every DNA model has is not repeated
    in the label)."""
    if not isinstance(spec, ModelConfig):
        net = dna_net_for(spec)
        defaults = net.config().model_dump()
        diff = [f"{k}={v}" for k, v in spec.model_dump().items() if v != defaults.get(k)]
        return net.name + (f"({', '.join(diff)})" if diff else "")
    return config_label(spec.model_copy(update={"head": ModelConfig().head}))


def dna_features(spec: DnaModel, length: int, n_outputs: int = 2) -> ModelFeatures:
    """Model features of ``spec`` as the DNA trainer builds it (vocabulary 5, pooled head)."""
    if not isinstance(spec, ModelConfig):
        feats: ModelFeatures = dna_net_for(spec).features(spec, n_outputs, seq_len=length)
        return feats
    cfg = spec.model_copy(update={"head": "pooled"})
    return model_features(cfg, DNA_VOCAB, n_outputs, seq_len=length)


def predict_level(
    level: str, spec: DnaModel, lengths: Sequence[int], label: str | None = None, **params: Any
) -> list[Prediction]:
    """One prediction per length for ``spec`` (a ModelConfig or a DNA network's config) on grammar
    level ``level`` with ``params``; ``label`` names the model (default :func:`dna_model_label`)."""
    lv = _level(level)
    n_outputs = 1 if lv.task == "regression" else 2
    longest = max(lengths) if lengths else 1
    feats = dna_features(spec, int(longest), n_outputs)
    name = label or dna_model_label(spec)
    return [predict_one(level_facts(lv.name, int(n), **params), feats, int(n), name) for n in lengths]
