"""Paper figures from archlab's result records, agreement cells, studies and DNA results.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global figure
registry, nothing to close, no backend change) and, given ``out``, writes ``out.png`` and
``out.svg`` beside each other atomically (a temporary file in the same folder, then
``os.replace``). Bad input (no usable records, nothing of the kind the plot needs) raises
:class:`PlotInputError` (an :class:`~archlab.errors.ArchlabError` and a ``ValueError``) naming what
is missing.

* :func:`length_generalisation` — result records (``result.json`` of ``archlab train`` /
  ``archlab reproduce``, or :func:`archlab.search.records.records_from_study`): ``probe``,
  ``model``, ``seed``, ``status``, ``train_lengths`` and ``range_eval`` rows (``length``, the
  metric, ``chance``). Accuracy vs test length per architecture, one panel per probe, mean ± sd
  over seeds, the training range shaded.
* :func:`expressivity_matrix` — agreement cells (:func:`archlab.theory.agreement.check_records`:
  an ``AgreementReport``, its ``cells`` or their ``to_dict()`` rows): architectures × probes,
  measured accuracy at the longest test length, the theory verdict as a glyph, violations outlined
  in red, the deciding rules (:data:`archlab.theory.rules.RULES`) named in a legend.
* :func:`recurrence_depth` — result records of fixed-point models (``model.fp_iters`` set): the
  ``fp_iters`` / ``fp_iters_max`` columns of their ``range_eval`` rows, which the trainer fills per
  test length (iterations the *whole sequence* needed — those of its last position — averaged over
  the evaluated sequences and layers, the differentiable step included; ``fp_iters_max`` the
  largest, averaged over evaluation chunks). Per-position counts (``last_iters_per_position``)
  live only in the model and are not recorded; records rebuilt from a study keep accuracies only
  and are refused with that reason.
* :func:`capacity` — result records of memory probes (copy, selective copy, MQAR): accuracy vs
  state size (``features.state_bits`` / ``state_floats`` of the record, else
  :func:`archlab.models.model_features`), with the information the state must hold at each test
  length (:meth:`archlab.theory.facts.ProbeFacts.info_bits_at`, R13/R14) as a vertical line.
* :func:`study_plots` — an Optuna study (:mod:`archlab.search.runner`), through
  :mod:`optuna.visualization.matplotlib`: optimisation history, parameter importances, Pareto
  front (multi-objective), parallel coordinates, timeline; a plot that cannot be drawn is skipped
  with its reason (:attr:`StudyPlots.skipped`).
* :func:`dna_baselines` — :func:`archlab.dna.baselines.run_baselines` results (``dataset``,
  ``metric``, ``gc``, ``kmer``, ``cnn_mean``, ``cnn_sd``, ``cnn_values``) and optional searched
  architectures ``{label: {dataset: (mean, sd)}}``: grouped bars per dataset.
* :func:`transfer_correlations` — :func:`archlab.dna.transfer.transfer`'s result
  (``synthetic``, ``real``, ``metrics``, ``correlations`` rows ``{synthetic, real, spearman, p,
  n_models}``): a heatmap of Spearman ρ, synthetic level × real task, with p and n in each cell.
"""

from __future__ import annotations

import contextlib
import json
import math
import statistics
import textwrap
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, cast

import matplotlib as mpl
import numpy as np
from cycler import cycler
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from archlab.atomic import atomic_write
from archlab.errors import ArchlabError

if TYPE_CHECKING:
    import optuna
    from matplotlib.axes import Axes

__all__ = [
    "METRIC_LABELS",
    "OKABE_ITO",
    "PlotInputError",
    "StudyPlots",
    "capacity",
    "dna_baselines",
    "expressivity_matrix",
    "length_generalisation",
    "model_label",
    "recurrence_depth",
    "save_figure",
    "study_plots",
    "transfer_correlations",
]

#: Okabe & Ito's colour-blind-safe palette (yellow last: it is faint on white)
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermilion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
GREY = "#7F7F7F"
VIOLATION_RED = "#D00000"
#: sequential (accuracy) and diverging (correlation) colour maps, both colour-blind safe
SEQUENTIAL_CMAP = "cividis"
DIVERGING_CMAP = "PuOr_r"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

#: what each range-evaluation metric measures, for axis labels
METRIC_LABELS: dict[str, str] = {
    "seq_acc": "sequence accuracy (every labelled position right)",
    "token_acc": "token accuracy (labelled positions)",
    "scaled_acc": "scaled accuracy (0 = chance, 1 = perfect)",
}
#: the theory verdicts as glyphs the default font (DejaVu Sans) has
VERDICT_GLYPHS: dict[str, str] = {"impossible": "✗", "expressible": "✓", "unknown": "?"}

#: the expressivity matrix's glyph per agreement class (theory and measurement together), and
#: what it means in the legend
CLASS_GLYPHS: dict[str, tuple[str, str]] = {
    "agree-solved": ("✓", "agree-solved: expressible, and solved"),
    "agree-impossible": ("✗", "agree-impossible: impossible, and not solved"),
    "not-learned": ("○", "not-learned: expressible, not solved (training, not theory)"),
    "violation": ("!", "violation: impossible, yet solved (outlined)"),
    "bound-not-reached": ("≈", "bound-not-reached: an asymptotic bound met at a finite length"),
    "unknown": ("?", "unknown: no rule decides"),
    "in-training": ("·", "in-training: no test length beyond training"),
}

#: sizes readable in a two-column paper (the figure is printed at about its size)
STYLE: dict[str, Any] = {
    "font.size": 8,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 6.5,
    "legend.title_fontsize": 7,
    "figure.titlesize": 9.5,
    "axes.prop_cycle": cycler(color=list(OKABE_ITO)),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",
}
OK_STATUS = ("solved", "completed")
LOG_SPAN = 8.0


class PlotInputError(ArchlabError, ValueError):
    """The data given to a plot function cannot make that plot (the message says why)."""


# ---------------------------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------------------------


def save_figure(fig: Figure, out: str | Path, dpi: int = 200) -> list[Path]:
    """Write ``fig`` as ``out`` with suffix ``.png`` and ``.svg`` (each atomically: a temporary
    file in the same folder, then ``os.replace``); return the two paths."""
    out = Path(out)
    written = []
    for fmt in ("png", "svg"):
        path = out.with_suffix(f".{fmt}")

        def write(f: IO[Any], fmt: str = fmt) -> None:
            fig.savefig(f, format=fmt, dpi=dpi, bbox_inches="tight")

        atomic_write(path, write, mode="wb")
        written.append(path)
    return written


@contextlib.contextmanager
def _style() -> Iterator[None]:
    with mpl.rc_context(cast(Any, STYLE)):
        yield


def _finish(fig: Figure, out: str | Path | None) -> Figure:
    if out is not None:
        with _style():
            save_figure(fig, out)
    return fig


def _grid(n: int, width: float = 3.6, height: float = 2.9, ncols: int = 3) -> tuple[Figure, list[Axes]]:
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(n)]
    return fig, axes


def model_label(model: Mapping[str, Any]) -> str:
    """The architecture label the theory engine uses (``mixer(option=value, …)``, the fields that
    differ from the defaults; the init seed aside) for a record's ``model`` dump."""
    from archlab.config import ModelConfig
    from archlab.theory.predict import config_label

    try:
        return config_label(ModelConfig(**{k: v for k, v in model.items() if k != "init_seed"}))
    except Exception:  # a record from another archlab version: fall back to the mixer name
        return str(model.get("mixer", "?"))


def _wrap(text: str, width: int = 38) -> str:
    return "\n".join(textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)) or text


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return math.nan, math.nan
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0


def _check_metric(metric: str) -> None:
    if metric not in METRIC_LABELS:
        raise PlotInputError(f"unknown metric {metric!r}; one of {', '.join(METRIC_LABELS)}")


def _usable_records(records: Iterable[Mapping[str, Any]], what: str) -> list[Mapping[str, Any]]:
    """Records that finished (solved / completed) with a range evaluation; an error naming why
    there are none."""
    records = list(records)
    if not records:
        raise PlotInputError(f"{what}: no result records given")
    bad = [r for r in records if not isinstance(r, Mapping) or "model" not in r or "probe" not in r]
    if bad:
        raise PlotInputError(
            f"{what}: {len(bad)} item(s) are not result records (a dict with 'probe', 'model' and "
            "'range_eval', as in result.json)"
        )
    ok = [r for r in records if r.get("status") in OK_STATUS and r.get("range_eval")]
    if not ok:
        states = sorted({str(r.get("status")) for r in records})
        raise PlotInputError(
            f"{what}: none of the {len(records)} record(s) finished with a range evaluation "
            f"(statuses: {', '.join(states)}; need {' or '.join(OK_STATUS)})"
        )
    return ok


def _length_axis(ax: Axes, lengths: Iterable[float], unit: str = "tokens") -> None:
    """Log₂ length axis when the lengths span more than 8×, else linear."""
    ls = [float(v) for v in lengths if v and v > 0]
    if ls and max(ls) / min(ls) > LOG_SPAN:
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _p: f"{v:g}"))
    ax.set_xlabel(f"sequence length ({unit}; training range shaded)")


def _shade_training(ax: Axes, lo: float, hi: float) -> None:
    ax.axvspan(lo, hi, color=GREY, alpha=0.15, lw=0, label=f"training lengths {lo:g}–{hi:g}")


@dataclass
class _Series:
    """One architecture on one probe: per length, the values over seeds (and more columns)."""

    label: str
    seeds: set[int]
    values: dict[int, list[float]]
    extra: dict[str, dict[int, list[float]]]
    train: list[int]
    model: Mapping[str, Any]
    #: the learning rate of these runs, and how many the architecture was tried at (the series
    #: shown is the best of them: trials at other learning rates are not seeds)
    lr: float | None = None
    n_lrs: int = 1
    #: the training budget of the runs (``2000 steps``, ``1M tokens``), for the legend
    budget: str = ""
    #: sequence accuracy of the runs beyond their training lengths: what picks the best lr
    beyond: list[float] = field(default_factory=list)

    def legend(self) -> str:
        seeds = f"{len(self.seeds)} seed{'s' if len(self.seeds) != 1 else ''}"
        lrs = f", best of {self.n_lrs} lrs ({self.lr:g})" if self.n_lrs > 1 and self.lr is not None else ""
        budget = f", {self.budget}" if self.budget else ""
        return f"{_wrap(self.label)} ({seeds}{lrs}{budget})"

    def score(self) -> float:
        """Mean sequence accuracy beyond the training lengths (what picks the best lr, whatever
        the plotted metric)."""
        return statistics.fmean(self.beyond) if self.beyond else float("-inf")


def budget_label(rec: Mapping[str, Any]) -> str:
    """A run's training budget for people (``2,000 steps``, ``1,000,000 tokens``), or ""."""
    train = rec.get("train") or {}
    if train.get("token_budget"):
        return f"{train['token_budget']:,} tokens"
    return f"{train['steps']:,} steps" if train.get("steps") else ""


def _series(
    records: Sequence[Mapping[str, Any]], metric: str, extra: Sequence[str] = ()
) -> dict[str, dict[str, _Series]]:
    """``{probe: {model label: series}}`` in the order first seen. Runs of one architecture at
    several learning rates are grouped per learning rate and the best group (:meth:`_Series.score`)
    is the series: learning rates are not seeds, so they never make a ± sd band."""
    by_lr: dict[str, dict[str, dict[float | None, _Series]]] = {}
    for rec in records:
        probe, label = str(rec["probe"]), model_label(rec["model"])
        lr = (rec.get("train") or {}).get("lr")
        s = by_lr.setdefault(probe, {}).setdefault(label, {}).setdefault(
            lr,
            _Series(
                label, set(), defaultdict(list), {k: defaultdict(list) for k in extra}, [], rec["model"],
                lr=lr, budget=budget_label(rec),
            ),
        )  # fmt: skip
        s.seeds.add(int(rec.get("seed", 0)))
        top = max((int(v) for v in rec.get("train_lengths") or []), default=0)
        s.beyond += [
            float(r["seq_acc"])
            for r in rec["range_eval"]
            if r.get("seq_acc") is not None and r["length"] > top
        ]
        s.train += [int(v) for v in rec.get("train_lengths") or []]
        for row in rec["range_eval"]:
            length = int(row["length"])
            if metric in row:
                s.values[length].append(float(row[metric]))
            for k in extra:
                if row.get(k) is not None:
                    s.extra[k][length].append(float(row[k]))
    out: dict[str, dict[str, _Series]] = {}
    for probe, models in by_lr.items():
        for label, lrs in models.items():
            best = max(lrs.values(), key=_Series.score)
            best.n_lrs = len(lrs)
            out.setdefault(probe, {})[label] = best
    return out


def _band(
    ax: Axes,
    xs: Sequence[float],
    vals: Sequence[list[float]],
    colour: str,
    clip: tuple[float, float] | None = None,
    **line: Any,
) -> None:
    """Mean line and, where some length has several values, a ± sd band (clipped to ``clip``)."""
    stats = [_mean_sd(v) for v in vals]
    mean = np.array([m for m, _ in stats])
    sd = np.array([s for _, s in stats])
    ax.plot(xs, mean, color=colour, **line)
    if any(len(v) > 1 for v in vals):
        lo, hi = mean - sd, mean + sd
        if clip is not None:
            lo, hi = np.clip(lo, *clip), np.clip(hi, *clip)
        ax.fill_between(xs, lo, hi, color=colour, alpha=0.2, lw=0)


# ---------------------------------------------------------------------------------------------
# 1. length generalisation
# ---------------------------------------------------------------------------------------------


def length_generalisation(
    records: Iterable[Mapping[str, Any]], *, metric: str = "seq_acc", out: str | Path | None = None
) -> Figure:
    """Accuracy (``metric``) vs test length, one line per architecture (mean over seeds, a ± sd
    band where there are several), one panel per probe; the training range shaded, a log₂ length
    axis when the lengths span more than 8×, and the chance level where it is known (token
    accuracy: the majority class of each test set, the ``chance`` column; scaled accuracy: 0;
    sequence accuracy: no closed form, none drawn). Only finished runs (solved / completed) are
    plotted."""
    _check_metric(metric)
    recs = _usable_records(records, "length_generalisation")
    groups = _series(recs, metric, extra=("chance",))
    with _style():
        fig, axes = _grid(len(groups))
        for ax, (probe, models) in zip(axes, groups.items(), strict=True):
            lengths: set[int] = set()
            train: list[int] = []
            chance: dict[int, list[float]] = defaultdict(list)
            for i, s in enumerate(models.values()):
                xs = sorted(s.values)
                lengths.update(xs)
                train += s.train
                for length, v in s.extra["chance"].items():
                    chance[length] += v
                colour = OKABE_ITO[i % len(OKABE_ITO)]
                _band(
                    ax,
                    xs,
                    [s.values[x] for x in xs],
                    colour,
                    clip=None if metric == "scaled_acc" else (0.0, 1.0),
                    marker=MARKERS[i % len(MARKERS)],
                    ms=3.5,
                    lw=1.4,
                    label=s.legend(),
                )
            if train:
                _shade_training(ax, min(train), max(train))
            if metric == "token_acc" and chance:
                cx = sorted(chance)
                ax.plot(
                    cx,
                    [statistics.fmean(chance[x]) for x in cx],
                    ls=":",
                    color=GREY,
                    lw=1.0,
                    label="chance (majority class)",
                )
            elif metric == "scaled_acc":
                ax.axhline(0.0, ls=":", color=GREY, lw=1.0, label="chance")
            _length_axis(ax, [*lengths, *train])
            ax.set_ylim(-0.03 if metric != "scaled_acc" else None, 1.03)
            ax.set_ylabel(_wrap(METRIC_LABELS[metric], 34))
            ax.set_title(_wrap(f"{probe}: {metric} vs test length", 48))
            ax.legend(loc="best", frameon=False)
        fig.suptitle("Length generalisation: trained on short sequences, evaluated on longer ones")
    return _finish(fig, out)


# ---------------------------------------------------------------------------------------------
# 2. expressivity matrix
# ---------------------------------------------------------------------------------------------


@dataclass
class _CellView:
    probe: str
    model: str
    length: int
    mean: float
    sd: float
    n: int
    verdict: str
    rule: str
    cls: str


def _cell_views(cells: Any) -> tuple[list[_CellView], str | None, float | None]:
    metric = getattr(cells, "metric", None)
    threshold = getattr(cells, "threshold", None)
    if isinstance(cells, Mapping) and "cells" in cells:
        metric, threshold, cells = cells.get("metric"), cells.get("threshold"), cells["cells"]
    items = list(getattr(cells, "cells", cells))
    views = []
    for c in items:
        if isinstance(c, Mapping):
            try:
                views.append(
                    _CellView(
                        str(c["probe"]),
                        str(c["model"]),
                        int(c["length"]),
                        float(c["measured_mean"]),
                        float(c.get("measured_sd", 0.0)),
                        int(c.get("n_seeds", 1)),
                        str(c["verdict"]),
                        str(c.get("rule", "—")),
                        str(c["class"]),
                    )
                )
            except KeyError as e:
                raise PlotInputError(f"expressivity_matrix: an agreement cell has no {e} key") from e
        elif hasattr(c, "prediction") and hasattr(c, "measurement"):
            p, m = c.prediction, c.measurement
            views.append(
                _CellView(p.probe, p.model, m.length, m.mean, m.sd, len(m.values), p.verdict, p.rule, c.cls)
            )
        else:
            raise PlotInputError(
                f"expressivity_matrix: {type(c).__name__} is not an agreement cell (check_records(...).cells)"
            )
    return views, metric, threshold


def expressivity_matrix(
    cells: Any, *, metric: str | None = None, threshold: float | None = None, out: str | Path | None = None
) -> Figure:
    """Architectures × probes: the measured accuracy (mean over seeds) at each pair's longest
    test length as a heatmap, the agreement class of theory and measurement at that length as a
    glyph (:data:`CLASS_GLYPHS`: ✓ agree-solved, ✗ agree-impossible, ○ not-learned,
    ! violation, ? unknown, …), violations (predicted impossible, measured solved) also
    outlined in red, and a legend naming every deciding rule of the matrix with its statement.

    ``cells``: an :class:`~archlab.theory.agreement.AgreementReport` (its metric and threshold are
    used), its ``cells``, or their ``to_dict()`` rows (``archlab theory check --json``)."""
    from archlab.theory.rules import RULES

    views, rep_metric, rep_threshold = _cell_views(cells)
    if not views:
        raise PlotInputError(
            "expressivity_matrix: no agreement cells (check_records found no measured cells)"
        )
    metric = metric or rep_metric or "seq_acc"
    threshold = threshold if threshold is not None else rep_threshold
    longest: dict[tuple[str, str], _CellView] = {}
    for v in views:
        key = (v.model, v.probe)
        if key not in longest or v.length > longest[key].length:
            longest[key] = v
    models = list(dict.fromkeys(v.model for v in views))
    probes = list(dict.fromkeys(v.probe for v in views))
    grid = np.full((len(models), len(probes)), np.nan)
    for (m, p), v in longest.items():
        grid[models.index(m), probes.index(p)] = v.mean
    cmap = mpl.colormaps[SEQUENTIAL_CMAP].with_extremes(bad="#EEEEEE")
    rules = {r.id: r for r in RULES}
    used = sorted({v.rule for v in longest.values() if v.rule in rules}, key=lambda r: int(r[1:]))
    with _style():
        fig = Figure(
            figsize=(max(4.5, 1.15 * len(probes) + 3.2), 0.55 * len(models) + 1.9 + 0.28 * len(used)),
            layout="constrained",
        )
        ax = fig.add_subplot(1, 1, 1)
        lo = min(0.0, float(np.nanmin(grid)))
        image = ax.imshow(grid, cmap=cmap, vmin=lo, vmax=1.0, aspect="auto")
        for (m, p), v in longest.items():
            i, j = models.index(m), probes.index(p)
            r, g, b, _ = cmap((v.mean - lo) / (1.0 - lo) if lo < 1.0 else 1.0)
            ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
            glyph = CLASS_GLYPHS.get(v.cls, (VERDICT_GLYPHS.get(v.verdict, "?"), ""))[0]
            ax.text(j, i - 0.12, glyph, ha="center", va="center", fontsize=12, color=ink, fontweight="bold")
            ax.text(
                j,
                i + 0.27,
                f"{v.mean:.2f}" + (f"±{v.sd:.2f}" if v.n > 1 else "") + f" @{v.length}",
                ha="center",
                va="center",
                fontsize=6,
                color=ink,
            )
            if v.cls == "violation":
                ax.add_patch(
                    Rectangle(
                        (j - 0.47, i - 0.47),
                        0.94,
                        0.94,
                        fill=False,
                        edgecolor=VIOLATION_RED,
                        lw=2.5,
                        label="violation",
                    )
                )
        ax.set_xticks(range(len(probes)), [_wrap(p, 16) for p in probes], rotation=30, ha="right")
        ax.set_yticks(range(len(models)), [_wrap(m, 44) for m in models])
        ax.set_xlabel("probe")
        ax.set_ylabel("architecture")
        ax.spines[:].set_visible(False)
        ax.tick_params(length=0)
        bar = fig.colorbar(image, ax=ax, shrink=0.9, pad=0.02)
        bar.set_label(_wrap(f"measured {metric} at the longest test length", 30))
        solved = f" (solved = mean ≥ {threshold:g})" if threshold is not None else ""
        ax.set_title(
            f"Expressivity: measured {metric}, mean over seeds,\nand how theory and measurement agree{solved}"
        )
        shown = [k for k in CLASS_GLYPHS if any(v.cls == k for v in longest.values())]
        handles: list[Any] = [
            Line2D([], [], ls="", marker=f"${CLASS_GLYPHS[k][0]}$", color="black", label=CLASS_GLYPHS[k][1])
            for k in shown
        ]
        if "violation" in shown:
            handles.append(Patch(fill=False, edgecolor=VIOLATION_RED, lw=2, label="violation outline"))
        handles += [
            Line2D(
                [], [], ls="", label=_wrap(f"{rid}: {rules[rid].architecture} — {rules[rid].statement}", 110)
            )
            for rid in used
        ]
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=1,
            frameon=False,
            title="agreement of theory and measurement, and the deciding rules (archlab theory explain)",
            alignment="left",
        )
    return _finish(fig, out)


# ---------------------------------------------------------------------------------------------
# 3. recurrence depth
# ---------------------------------------------------------------------------------------------


def recurrence_depth(records: Iterable[Mapping[str, Any]], *, out: str | Path | None = None) -> Figure:
    """Fixed-point iterations to converge vs test length, one panel per probe, one line per
    fixed-point architecture (mean over seeds of the per-length ``fp_iters`` of ``range_eval``,
    ± sd band; the mean per-chunk maximum ``fp_iters_max`` dashed) with the evaluation cap
    (``fp_eval_iters``, else ``fp_iters``) as a dotted line: a line on its cap did not converge.
    The iteration counts are those of a whole sequence (its last position), recorded per test
    length by the trainer; per-position counts are not in the records."""
    recs = _usable_records(records, "recurrence_depth")
    fp = [r for r in recs if r["model"].get("fp_iters") is not None]
    if not fp:
        raise PlotInputError(
            "recurrence_depth: no fixed-point records (model.fp_iters set) among the "
            f"{len(recs)} finished record(s)"
        )
    if not any("fp_iters" in row for r in fp for row in r["range_eval"]):
        raise PlotInputError(
            "recurrence_depth: the fixed-point records carry no per-length iteration counts "
            "(range_eval rows without fp_iters; records rebuilt from a study keep accuracies only — "
            "use the runs' result.json files)"
        )
    groups = _series(fp, "fp_iters", extra=("fp_iters_max",))
    with _style():
        fig, axes = _grid(len(groups))
        for ax, (probe, models) in zip(axes, groups.items(), strict=True):
            lengths: set[int] = set()
            train: list[int] = []
            for i, s in enumerate(models.values()):
                colour = OKABE_ITO[i % len(OKABE_ITO)]
                xs = sorted(s.values)
                if not xs:
                    continue
                lengths.update(xs)
                train += s.train
                _band(
                    ax,
                    xs,
                    [s.values[x] for x in xs],
                    colour,
                    marker=MARKERS[i % len(MARKERS)],
                    ms=3.5,
                    lw=1.4,
                    label=s.legend(),
                )
                mx = sorted(s.extra["fp_iters_max"])
                if mx:
                    ax.plot(
                        mx,
                        [statistics.fmean(s.extra["fp_iters_max"][x]) for x in mx],
                        ls="--",
                        color=colour,
                        lw=0.9,
                        alpha=0.8,
                    )
                cap = s.model.get("fp_eval_iters") or s.model.get("fp_iters")
                if cap is not None:
                    ax.axhline(float(cap), ls=":", color=colour, lw=1.0)
            if train:
                _shade_training(ax, min(train), max(train))
            handles, labels = ax.get_legend_handles_labels()
            handles += [Line2D([], [], ls="--", color=GREY), Line2D([], [], ls=":", color=GREY)]
            labels += ["max over a batch", "evaluation cap"]
            ax.legend(handles, labels, loc="best", frameon=False)
            _length_axis(ax, [*lengths, *train])
            ax.set_ylim(bottom=0)
            ax.set_ylabel(_wrap("iterations to converge (whole sequence, incl. the gradient step)", 34))
            ax.set_title(_wrap(f"{probe}: fixed-point iterations vs test length", 48))
        fig.suptitle("Recurrence depth: fixed-point iterations needed at each test length")
    return _finish(fig, out)


# ---------------------------------------------------------------------------------------------
# 4. capacity
# ---------------------------------------------------------------------------------------------


def _pick_lengths(lengths: Sequence[int], k: int = 4) -> list[int]:
    ls = sorted(set(lengths))
    if len(ls) <= k:
        return ls
    idx = np.unique(np.round(np.linspace(0, len(ls) - 1, k)).astype(int))
    return [ls[i] for i in idx]


def capacity(
    records: Iterable[Mapping[str, Any]],
    *,
    metric: str = "scaled_acc",
    unit: Literal["bits", "floats"] = "bits",
    lengths: Sequence[int] | None = None,
    out: str | Path | None = None,
) -> Figure:
    """Accuracy vs state size on the memory probes (copy, selective copy, MQAR), one panel per
    probe. Per test length (``lengths``, default up to 4 spread over the test lengths) a colour:
    each architecture's mean over seeds as a marker (shape = mixer), a line through the means of
    the fixed-state models ordered by state size, and the bound of R13/R14 — the information the
    state must hold at that length (``ProbeFacts.info_bits_at``; in floats: divided by the
    significand bits per float the records state) — as a vertical dashed line. Attention has no
    fixed state: its accuracy is a horizontal dotted line. State size from the record's
    ``features`` (else recomputed with :func:`archlab.models.model_features`)."""
    from archlab.config import ModelConfig
    from archlab.models import model_features
    from archlab.probes import make_probe
    from archlab.theory.facts import probe_facts

    _check_metric(metric)
    recs = _usable_records(records, "capacity")
    facts: dict[str, Any] = {}
    panels: dict[str, list[tuple[Mapping[str, Any], int | None, int | None]]] = {}
    for rec in recs:
        spec = str(rec["probe"])
        if spec not in facts:
            probe = make_probe(str(rec.get("probe_name", spec)), **dict(rec.get("probe_params") or {}))
            facts[spec] = (probe, probe_facts(probe))
        probe, f = facts[spec]
        if f.info_bits is None:
            continue
        feats = rec.get("features")
        if not feats:
            cfg = ModelConfig(**{k: v for k, v in rec["model"].items() if k != "init_seed"})
            longest = max(int(r["length"]) for r in rec["range_eval"])
            feats = model_features(cfg, probe.vocab_size, probe.n_classes, seq_len=longest).to_dict()
        panels.setdefault(spec, []).append((rec, feats.get("state_bits"), feats.get("state_floats")))
    if not panels:
        raise PlotInputError(
            "capacity: no record of a memory probe (copy, selective_copy, mqar: a probe with an "
            f"information formula) among {len(recs)} finished record(s)"
        )
    with _style():
        fig, axes = _grid(len(panels), width=4.0, height=3.1)
        for ax, (spec, items) in zip(axes, panels.items(), strict=True):
            f = facts[spec][1]
            all_lengths = sorted({int(r["length"]) for rec, _, _ in items for r in rec["range_eval"]})
            chosen = [x for x in (lengths or _pick_lengths(all_lengths)) if x in all_lengths]
            if not chosen:
                raise PlotInputError(
                    f"capacity: {spec} was not evaluated at any of the lengths {list(lengths or [])}"
                )
            bits_per_float = next((b / s for _, b, s in items if b and s), 24.0)
            mixers = list(dict.fromkeys(str(rec["model"].get("mixer")) for rec, _, _ in items))
            xs_seen: list[float] = []
            for ci, length in enumerate(chosen):
                colour = OKABE_ITO[ci % len(OKABE_ITO)]
                by_model: dict[str, list[float]] = defaultdict(list)
                size: dict[str, float] = {}  # fixed-state models only
                mixer_of: dict[str, str] = {}
                for rec, bits, floats in items:
                    row = next((r for r in rec["range_eval"] if int(r["length"]) == length), None)
                    if row is None or metric not in row:
                        continue
                    label = model_label(rec["model"])
                    by_model[label].append(float(row[metric]))
                    amount = bits if unit == "bits" else floats
                    if amount is not None:
                        size[label] = float(amount)
                    mixer_of[label] = str(rec["model"].get("mixer"))
                fixed = sorted((size[m], _mean_sd(v)[0], m) for m, v in by_model.items() if m in size)
                if fixed:
                    ax.plot(
                        [x for x, _, _ in fixed], [y for _, y, _ in fixed],
                        color=colour, lw=1.0, alpha=0.7, label=f"L = {length}",
                    )  # fmt: skip
                    for x, y, m in fixed:
                        marker = MARKERS[mixers.index(mixer_of[m]) % len(MARKERS)]
                        ax.plot(x, y, ls="", marker=marker, color=colour, ms=4.5)
                        xs_seen.append(x)
                for m, v in by_model.items():
                    if m not in size:
                        ax.axhline(_mean_sd(v)[0], ls=":", color=colour, lw=1.1)
                need = f.info_bits_at(length)
                if need is not None:
                    bound = need if unit == "bits" else need / bits_per_float
                    ax.axvline(bound, ls="--", color=colour, lw=1.0)
                    xs_seen.append(bound)
            if xs_seen and max(xs_seen) / max(min(xs_seen), 1e-9) > 4:
                ax.set_xscale("log", base=2)
                ax.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _p: f"{v:g}"))
            handles, labels = ax.get_legend_handles_labels()
            handles += [
                Line2D([], [], ls="", marker=MARKERS[i % len(MARKERS)], color=GREY)
                for i in range(len(mixers))
            ]
            labels += mixers
            handles += [Line2D([], [], ls="--", color=GREY), Line2D([], [], ls=":", color=GREY)]
            labels += [f"state needed at L ({f.info_formula} bits)", "attention (no fixed state)"]
            ax.legend(handles, labels, loc="best", frameon=False)
            ax.set_xlabel(
                "recurrent state (bits = floats × significand bits)"
                if unit == "bits"
                else "recurrent state (floats)"
            )
            ax.set_ylabel(_wrap(METRIC_LABELS[metric], 34))
            ax.set_ylim(min(-0.05, ax.get_ylim()[0]), 1.05)
            ax.set_title(_wrap(f"{spec}: {metric} vs state size at test length L", 50))
        fig.suptitle("Capacity: accuracy vs state size, with the information the state must hold (R13/R14)")
    return _finish(fig, out)


# ---------------------------------------------------------------------------------------------
# 5. studies
# ---------------------------------------------------------------------------------------------


class StudyPlots(dict[str, Path]):
    """Plot name → PNG path (an SVG lies beside each); :attr:`skipped`: plot name → why not drawn."""

    def __init__(self) -> None:
        super().__init__()
        self.skipped: dict[str, str] = {}


def _restyle(fig: Figure) -> None:
    """An Optuna figure in archlab's style: white axes, a light grid, no top and right spines,
    the style's font sizes, and Okabe–Ito colours for its scatter points."""
    fig.set_facecolor("white")
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            continue
        ax.set_facecolor("white")
        ax.grid(True, color="#E3E3E3", lw=0.5)
        ax.set_axisbelow(True)
        for side, spine in ax.spines.items():
            spine.set_visible(side in ("left", "bottom"))
            spine.set_color("black")
        ax.tick_params(colors="black", labelsize=STYLE["xtick.labelsize"])
        for loc in ("left", "center", "right"):
            if ax.get_title(loc=loc):
                ax.set_title(ax.get_title(loc=loc), loc=loc, fontsize=STYLE["axes.titlesize"])
        ax.xaxis.label.set_fontsize(STYLE["axes.labelsize"])
        ax.yaxis.label.set_fontsize(STYLE["axes.labelsize"])
        ax.xaxis.label.set_color("black")
        ax.yaxis.label.set_color("black")
        colour = {}
        for i, coll in enumerate(c for c in ax.collections if c.get_array() is None):
            coll.set_color(OKABE_ITO[i % len(OKABE_ITO)])
            colour[coll.get_label()] = OKABE_ITO[i % len(OKABE_ITO)]
        legend = ax.get_legend()
        if legend is not None:
            legend.get_frame().set_facecolor("white")
            for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=False):
                text.set_fontsize(STYLE["legend.fontsize"])
                if text.get_text() in colour and handle is not None:
                    handle.set_color(colour[text.get_text()])  # type: ignore[attr-defined]


def study_plots(study: optuna.Study, out_dir: str | Path) -> StudyPlots:
    """Optuna's matplotlib plots of ``study`` written to ``out_dir`` as ``<name>.png`` and
    ``<name>.svg``: ``history`` (one per objective when multi-objective: ``history_0``, …),
    ``importances`` (skipped with < 2 complete trials or < 2 parameters), ``pareto``
    (multi-objective only), ``parallel`` and ``timeline``. The reasons for skipped plots are in
    the result's ``skipped`` and in ``out_dir/skipped.json``."""
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as ovm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = StudyPlots()
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not study.trials:
        raise PlotInputError(f"study_plots: study {study.study_name!r} has no trials")
    names = study.metric_names or [f"objective {i}" for i in range(len(study.directions))]
    multi = len(study.directions) > 1
    params = {p for t in complete for p in t.params}

    def target(i: int) -> Callable[[optuna.trial.FrozenTrial], float]:
        def value(t: optuna.trial.FrozenTrial) -> float:
            assert t.values is not None
            return float(t.values[i])

        return value

    def draw(name: str, make: Callable[[], Any]) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # the importances get a target turned into "lower is better" below
            warnings.filterwarnings("ignore", message=".*importances of params to achieve low `target`")
            with mpl.rc_context(), _style():  # (Optuna sets the ggplot style globally: undone here)
                made = make()
        axes = made if not isinstance(made, np.ndarray) else made.ravel()[0]
        fig = axes.figure
        _restyle(fig)
        try:
            if not isinstance(made, np.ndarray):
                fig.set_size_inches(6.4, 4.2)
            with _style():
                result[name] = save_figure(fig, out / name)[0]
        finally:
            plt.close(fig)  # a figure Optuna made through pyplot: released here

    def history(i: int) -> Callable[[], Any]:
        return lambda: ovm.plot_optimization_history(
            study, target=target(i) if multi else None, target_name=names[i]
        )

    def first_objective(plot: Callable[..., Any]) -> Callable[[], Any]:
        return lambda: plot(study, target=target(0) if multi else None, target_name=names[0])

    def importances() -> Any:
        if not multi:
            return ovm.plot_param_importances(study, target_name=names[0])
        # with a target Optuna's default evaluator (PED-ANOVA) ranks by low values: flip a maximised one
        sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
        return ovm.plot_param_importances(
            study, target=lambda t: sign * target(0)(t), target_name=f"{names[0]} (importance)"
        )

    if not complete:
        result.skipped["history"] = "no complete trial"
    else:
        for i in range(len(study.directions)):
            draw(f"history_{i}" if multi else "history", history(i))
    if len(complete) < 2:
        result.skipped["importances"] = f"{len(complete)} complete trial(s); importances need at least 2"
    elif len(params) < 2:
        result.skipped["importances"] = f"{len(params)} parameter(s); importances need at least 2"
    else:
        draw("importances", importances)
    if not multi:
        result.skipped["pareto"] = "single-objective study"
    elif not complete:
        result.skipped["pareto"] = "no complete trial"
    elif len(study.directions) > 3:
        result.skipped["pareto"] = f"{len(study.directions)} objectives; a Pareto plot shows 2 or 3"
    else:
        draw("pareto", lambda: ovm.plot_pareto_front(study, target_names=names))
    if not complete or not params:
        result.skipped["parallel"] = "no complete trial with parameters"
    else:
        draw("parallel", first_objective(ovm.plot_parallel_coordinate))
    draw("timeline", lambda: ovm.plot_timeline(study))
    atomic_write(out / "skipped.json", lambda f: json.dump(result.skipped, f, indent=1))
    return result


# ---------------------------------------------------------------------------------------------
# 6. DNA
# ---------------------------------------------------------------------------------------------

#: the no-skill level of each headline metric
METRIC_CHANCE = {"auroc": 0.5, "pearson": 0.0, "pearson_r": 0.0, "spearman": 0.0, "accuracy": None}


def dna_baselines(
    results: Mapping[str, Any] | Iterable[Mapping[str, Any]],
    searched: Mapping[str, Mapping[str, tuple[float, float]]] | None = None,
    *,
    out: str | Path | None = None,
) -> Figure:
    """One panel per dataset: bars for the GC-only and k-mer baselines, the one-hot CNN (mean,
    error bar = sd over seeds, each seed a dot) and every searched architecture (``searched``:
    ``{label: {dataset: (mean, sd)}}``), in the dataset's headline metric, with its no-skill level
    dotted (AUROC 0.5, correlations 0)."""
    rows = [results] if isinstance(results, Mapping) else list(results)
    if not rows:
        raise PlotInputError("dna_baselines: no baseline results given")
    for r in rows:
        missing = [k for k in ("dataset", "metric", "gc", "kmer", "cnn_mean") if k not in r]
        if missing:
            raise PlotInputError(
                f"dna_baselines: a result lacks {', '.join(missing)} (pass run_baselines(...) results)"
            )
    searched = searched or {}
    with _style():
        fig, axes = _grid(len(rows), width=max(2.6, 0.62 * (3 + len(searched)) + 1.0), height=2.9, ncols=4)
        for ax, r in zip(axes, rows, strict=True):
            ds, metric = str(r["dataset"]), str(r["metric"])
            bars: list[tuple[str, float, float, list[float], str]] = [
                ("GC", float(r["gc"]), 0.0, [], GREY),
                ("k-mer", float(r["kmer"]), 0.0, [], OKABE_ITO[5]),
                (
                    "CNN",
                    float(r["cnn_mean"]),
                    float(r.get("cnn_sd") or 0.0),
                    list(r.get("cnn_values") or []),
                    OKABE_ITO[0],
                ),
            ]
            for i, (label, per_ds) in enumerate(searched.items()):
                if ds in per_ds:
                    mean, sd = per_ds[ds]
                    bars.append((label, float(mean), float(sd), [], OKABE_ITO[(i + 1) % len(OKABE_ITO)]))
            x = np.arange(len(bars))
            heights = [b[1] for b in bars]
            ax.bar(
                x,
                heights,
                yerr=[b[2] for b in bars],
                color=[b[4] for b in bars],
                capsize=3,
                edgecolor="black",
                lw=0.5,
                error_kw={"lw": 0.9},
            )
            for xi, (_l, mean, _sd, values, _c) in zip(x, bars, strict=True):
                if values:
                    ax.plot([xi] * len(values), values, ls="", marker="o", ms=2.5, color="black", alpha=0.7)
                if math.isfinite(mean):
                    ax.annotate(
                        f"{mean:.3f}",
                        (xi, mean),
                        xytext=(0, 3),
                        textcoords="offset points",
                        ha="center",
                        va="bottom",
                        fontsize=6,
                    )
            chance = METRIC_CHANCE.get(metric.lower())
            if chance is not None:
                ax.axhline(chance, ls=":", color=GREY, lw=1.0)
            ax.set_xticks(x, [_wrap(b[0], 14) for b in bars], rotation=30, ha="right")
            finite = [h for h in heights if math.isfinite(h)]
            top = max([*finite, 1.0 if metric.lower() == "auroc" else 0.0])
            ax.set_ylim(min(0.0, *finite) if finite else 0.0, top * 1.12 if top > 0 else 1.0)
            ax.set_ylabel(f"test {metric}")
            n = r.get("cnn_n") or len(r.get("cnn_values") or []) or "?"
            ax.set_title(_wrap(f"{ds}: test {metric} (CNN: mean ± sd over {n} seeds)", 50))
        fig.suptitle("DNA baselines: GC-only, k-mer and one-hot CNN beside searched architectures")
    return _finish(fig, out)


def transfer_correlations(transfer_result: Mapping[str, Any], *, out: str | Path | None = None) -> Figure:
    """Heatmap of the Spearman rank correlation ρ between the architectures' test scores on each
    synthetic level (rows) and each real task (columns), from :func:`archlab.dna.transfer.transfer`;
    every cell states ρ, its p-value and the number of architectures n (with 5, only ρ = 1 reaches
    p < 0.05). Undefined correlations (fewer than 3 architectures, or constant scores) are grey."""
    rows = list(transfer_result.get("correlations") or [])
    if not rows:
        raise PlotInputError("transfer_correlations: the transfer result has no correlations")
    synthetic = list(dict.fromkeys(transfer_result.get("synthetic") or [r["synthetic"] for r in rows]))
    real = list(dict.fromkeys([*(transfer_result.get("real") or []), *(r["real"] for r in rows)]))
    metrics = dict(transfer_result.get("metrics") or {})
    grid = np.full((len(synthetic), len(real)), np.nan)
    cell: dict[tuple[int, int], Mapping[str, Any]] = {}
    for r in rows:
        if r["synthetic"] in synthetic and r["real"] in real:
            i, j = synthetic.index(r["synthetic"]), real.index(r["real"])
            grid[i, j] = float(r["spearman"]) if r.get("spearman") is not None else math.nan
            cell[(i, j)] = r
    cmap = mpl.colormaps[DIVERGING_CMAP].with_extremes(bad="#DDDDDD")
    with _style():
        fig = Figure(figsize=(1.35 * len(real) + 2.6, 0.6 * len(synthetic) + 1.7), layout="constrained")
        ax = fig.add_subplot(1, 1, 1)
        image = ax.imshow(grid, cmap=cmap, vmin=-1.0, vmax=1.0, aspect="auto")
        for (i, j), r in cell.items():
            rho, p = grid[i, j], r.get("p")
            text = (
                f"ρ = {rho:.2f}\np = {p:.2g}\nn = {r.get('n_models', '?')}"
                if math.isfinite(rho) and p is not None and math.isfinite(float(p))
                else f"ρ undefined\nn = {r.get('n_models', '?')}"
            )
            ink = "white" if math.isfinite(rho) and abs(rho) > 0.6 else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=6.5, color=ink)
        labels = [f"{t}\n({metrics[t]})" if t in metrics else t for t in real]
        ax.set_xticks(range(len(real)), labels, rotation=20, ha="right")
        ax.set_yticks(range(len(synthetic)), synthetic)
        ax.set_xlabel("real task (test metric)")
        ax.set_ylabel("synthetic level")
        ax.spines[:].set_visible(False)
        ax.tick_params(length=0)
        fig.colorbar(image, ax=ax, shrink=0.9, pad=0.02).set_label("Spearman ρ of the architectures' scores")
        ax.set_title(
            _wrap(
                "Transfer: does the ranking of architectures on a synthetic level predict the "
                "ranking on a real task?",
                70,
            )
        )
    return _finish(fig, out)
