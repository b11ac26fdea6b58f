"""``archlab report``: a study or a folder of runs → plots, CSV tables and ``summary.md``.

:func:`write_report` reads either

- a **results folder** (every ``result.json`` below it: ``archlab train --out``, ``archlab
  reproduce``; plus DNA baseline JSONs (``archlab dna baselines --out``) and ``transfer.json``
  files found there), or
- a **study** (by name, with its storage URL): its trials rebuilt as run records
  (:func:`archlab.search.records.records_from_study`), its Optuna plots and its trial table,

and writes into ``out``:

- ``plots/*.png`` and ``*.svg`` (:mod:`archlab.analysis.plots`);
- ``runs.csv`` (one row per run and test length), ``agreement.csv`` (one row per theory cell),
  ``trials.csv`` (studies);
- ``summary.md``: what was run and how long, the best architectures, the agreement counts per
  class, every violation and not-learned cell, provenance, and a link to every plot; with
  ``html=True`` also ``summary.html``, one self-contained page with the images embedded.

A plot that the data cannot support (no fixed-point model for the recurrence-depth plot, no
copy/MQAR runs for the capacity plot) is skipped, and ``summary.md`` says why.
"""

from __future__ import annotations

import base64
import csv
import html as html_lib
import math
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import archlab
from archlab.atomic import atomic_write, write_json_atomic
from archlab.errors import ArchlabError, ConfigError

__all__ = ["Report", "write_report"]


@dataclass
class Report:
    """What :func:`write_report` wrote: the folder, the plots (name → PNG), skipped plots
    (name → reason), tables, and the headline lines of the summary."""

    out: Path
    source: str
    plots: dict[str, Path] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    #: :func:`leaderboard` rows, best first
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, Path] = field(default_factory=dict)
    headline: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def summary(self) -> Path:
        return self.out / "summary.md"


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _param(v: Any) -> str:
    """A parameter value for a table: floats with 3 significant digits."""
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _write_csv(path: Path, header: list[str], rows: Iterable[list[Any]]) -> None:
    def write(f: IO[Any]) -> None:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)

    atomic_write(path, write, mode="w")


def _dna_files(folder: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """DNA baseline results and transfer results among the folder's JSON files."""
    import json

    baselines: list[dict[str, Any]] = []
    transfers: list[dict[str, Any]] = []
    for f in sorted(folder.rglob("*.json")):
        if f.name == "result.json" or "runs" in f.relative_to(folder).parts[:-1]:
            continue
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        if {"dataset", "metric", "gc", "kmer", "cnn_mean"} <= set(data):
            baselines.append(data)
        elif {"synthetic", "real", "correlations", "scores"} <= set(data):
            transfers.append(data)
    return baselines, transfers


def _values_by_lr(
    records: list[dict[str, Any]], metric: str
) -> dict[tuple[str, str], dict[Any, list[float]]]:
    """``{(probe, architecture): {lr: [metric beyond training, one per run]}}``: the runs of a
    cell grouped by learning rate (each group's values are over seeds)."""
    from archlab.analysis.plots import model_label
    from archlab.reproduce import measured_value

    cells: dict[tuple[str, str], dict[Any, list[float]]] = defaultdict(lambda: defaultdict(list))
    for rec in records:
        v = measured_value(rec, max(rec.get("train_lengths") or [0]), metric)
        if v is not None:
            lr = (rec.get("train") or {}).get("lr")
            cells[str(rec.get("probe")), model_label(rec["model"])][lr].append(v)
    return cells


def _best_lr(by_lr: dict[Any, list[float]]) -> tuple[Any, list[float]]:
    """The learning rate whose runs have the best mean, and those runs' values."""
    return max(by_lr.items(), key=lambda kv: statistics.fmean(kv[1]))


def _best_by_probe(
    records: list[dict[str, Any]], metric: str
) -> list[tuple[str, str, float, float, int, str]]:
    """Per probe, the architecture with the best mean ``metric`` beyond training over seeds:
    (probe, architecture, mean, sd, seeds, lr). Runs at several learning rates are not seeds:
    each learning rate is averaged over its seeds and the best one is kept (``lr`` says which,
    of how many)."""
    best: dict[str, tuple[str, float, float, int, str]] = {}
    for (probe, model), by_lr in _values_by_lr(records, metric).items():
        lr, vals = _best_lr(by_lr)
        mean = statistics.fmean(vals)
        sd = statistics.stdev(vals) if len(vals) > 1 else float("nan")
        lr_note = "—" if lr is None else f"{lr:g}" + (f" (best of {len(by_lr)})" if len(by_lr) > 1 else "")
        if probe not in best or mean > best[probe][1]:
            best[probe] = (model, mean, sd, len(vals), lr_note)
    return [(p, *best[p]) for p in sorted(best)]


LEADERBOARD_COLUMNS = ["architecture", "score", "probes", "params", "state_floats", "wall_time_s", "budget"]


def leaderboard(records: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """One row per architecture, best first: ``score`` = the mean over its probes of the best
    learning rate's mean ``metric`` beyond training (over seeds, as :func:`_best_by_probe`),
    ``params`` (without embedding and head, so independent of the probe), ``state_floats``
    (None: grows with the context, or undeclared), the summed ``wall_time_s`` of its runs
    (a study's trials counted once) and its training ``budget``."""
    from archlab.analysis.plots import budget_label, model_label
    from archlab.config import ModelConfig
    from archlab.models import model_features

    bests: dict[str, list[float]] = defaultdict(list)  # per architecture, one value per probe
    for (_probe, label), by_lr in _values_by_lr(records, metric).items():
        bests[label].append(statistics.fmean(_best_lr(by_lr)[1]))
    models: dict[str, dict[str, Any]] = {}
    wall: dict[str, float] = defaultdict(float)
    budgets: dict[str, set[str]] = defaultdict(set)
    trials_seen: set[tuple[str, Any]] = set()
    for rec in records:
        label = model_label(rec["model"])
        models.setdefault(label, rec["model"])
        if rec.get("wall_time_s") is not None:
            wall[label] += float(rec["wall_time_s"])
        elif rec.get("trial_wall_time_s") is not None and (label, rec.get("trial")) not in trials_seen:
            trials_seen.add((label, rec.get("trial")))
            wall[label] += float(rec["trial_wall_time_s"])
        if budget := budget_label(rec):
            budgets[label].add(budget)
    rows = []
    for label, model in models.items():
        try:
            feats = model_features(
                ModelConfig(**{k: v for k, v in model.items() if k != "init_seed"}), 16, 16
            )
            params, state = feats.params_body, feats.state_floats
        except Exception:  # a record from another archlab version
            params, state = None, None
        rows.append({
            "architecture": label, "score": statistics.fmean(bests[label]) if bests[label] else None,
            "probes": len(bests[label]), "params": params, "state_floats": state,
            "wall_time_s": round(wall[label], 1) if label in wall else None,
            "budget": ", ".join(sorted(budgets[label])) or None,
        })  # fmt: skip
    return sorted(rows, key=lambda r: -1.0 if r["score"] is None else -r["score"])


def _leaderboard_lines(rows: list[dict[str, Any]], metric: str) -> list[str]:
    lines = [
        f"Per architecture: the mean over its probes of the best learning rate's mean {metric} beyond "
        "training (over seeds); parameters without embedding and head; state in floats per sequence "
        "(— grows with the context, or undeclared); wall time of its runs; training budget. "
        "All rows in `leaderboard.csv`.",
        "",
        "| # | architecture | score | probes | params | state | wall time | budget |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rows[:15], 1):
        wall = "—" if r["wall_time_s"] is None else f"{r['wall_time_s']:.0f} s"
        state = "—" if r["state_floats"] is None else f"{r['state_floats']:,}"
        params = "—" if r["params"] is None else f"{r['params']:,}"
        cells = [str(i), r["architecture"], _fmt(r["score"]), str(r["probes"]), params, state, wall]
        lines.append("| " + " | ".join([*cells, r["budget"] or "—"]) + " |")
    return [*lines, ""]


def _prov(rec: dict[str, Any]) -> dict[str, Any]:
    """A record's provenance: top-level keys in run records, a ``provenance`` dict in trials."""
    return {**rec, **(rec.get("provenance") or {})}


def _provenance(records: list[dict[str, Any]]) -> list[str]:
    provs = [_prov(r) for r in records]
    shas = sorted({str(p.get("git_sha")) for p in provs} - {"None"})
    devices = sorted({str(p.get("device_name") or p.get("device")) for p in provs} - {"None"})
    versions: dict[str, set[str]] = defaultdict(set)
    for p in provs:
        for k, v in (p.get("versions") or {}).items():
            versions[k].add(str(v))
    seeds = sorted({int(r["seed"]) for r in records if r.get("seed") is not None})
    lines = [
        f"- archlab {archlab.__version__} wrote this report on {time.strftime('%Y-%m-%d %H:%M %Z')}.",
        f"- git SHA(s) of the runs: {', '.join(shas) or 'not recorded'}",
        f"- device(s): {', '.join(devices) or 'not recorded'}",
        f"- seeds: {', '.join(map(str, seeds)) or 'not recorded'}",
    ]
    if versions:
        lines.append(
            "- versions: " + ", ".join(f"{k} {'/'.join(sorted(v))}" for k, v in sorted(versions.items()))
        )
    return lines


def _try_plot(rep: Report, name: str, make: Callable[[Path], object]) -> None:
    """Draw one plot into ``plots/name.png``; a plot the data cannot support is recorded as
    skipped with the reason."""
    path = rep.out / "plots" / f"{name}.png"
    try:
        fig = make(path)
    except (ArchlabError, ValueError) as exc:
        rep.skipped[name] = str(exc).removeprefix(f"{name}: ")
        return
    rep.plots[name] = path
    import matplotlib.pyplot as plt

    plt.close(fig)  # type: ignore[arg-type]


def _is_study(name: str, storage: str) -> bool:
    import optuna

    from archlab.search.runner import make_storage

    return name in optuna.get_all_study_names(make_storage(storage))


def write_report(
    source: str,
    *,
    out: str | Path,
    storage: str | None = None,
    html: bool = False,
    threshold: float = 0.9,
    metric: str = "seq_acc",
    dna: list[dict[str, Any]] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> Report:
    """Write the report of ``source`` (a results folder, or a study name with ``storage``).
    ``dna``: DNA baseline results (:func:`archlab.dna.baselines.run_baselines`) to include
    beside those found in a results folder."""
    from archlab.analysis import plots
    from archlab.search.records import records_from_study
    from archlab.theory.agreement import check_records, load_records

    say = on_step or (lambda _line: None)
    out = Path(out)
    rep = Report(out=out, source=source)
    study = None
    if Path(source).is_dir() and (storage is None or not _is_study(source, storage)):
        # a folder is a results folder, unless --storage holds a study of that name
        say(f"reading runs under {source}")
        records = load_records([source])
        baselines, transfers = _dna_files(Path(source))
        kind = f"results folder `{source}`"
    else:
        if storage is None:
            journal = Path("studies") / f"{source}.journal"
            if not journal.is_file():
                raise ConfigError(
                    "SOURCE",
                    f"{source!r} is neither a folder nor a study with a journal at {journal}",
                    "a results folder, or a study name with --storage URL",
                )
            storage = f"journal:{journal}"
        from archlab.search.runner import load_study, mask_url

        say(f"loading study {source}")
        study = load_study(source, storage)
        records = records_from_study(source, storage)
        baselines, transfers = [], []
        kind = f"study `{source}` ({mask_url(storage)})"
    baselines = [*baselines, *(dna or [])]
    if not records and study is None and not baselines and not transfers:
        raise ConfigError("SOURCE", f"no run records (result.json) or DNA results under {source}")
    finished = [r for r in records if r.get("status") in ("solved", "completed")]
    out.mkdir(parents=True, exist_ok=True)

    # -- tables -------------------------------------------------------------------------------
    from archlab.analysis.plots import model_label

    say("writing tables")
    rows = []
    for r in records:
        for row in r.get("range_eval") or []:
            rows.append([
                r.get("probe"), model_label(r["model"]), r.get("seed"), r.get("status"),
                max(r.get("train_lengths") or [0]), row.get("length"), row.get("token_acc"),
                row.get("seq_acc"), row.get("scaled_acc"), r.get("_path", ""),
            ])  # fmt: skip
    rep.tables["runs"] = out / "runs.csv"
    _write_csv(
        rep.tables["runs"],
        [
            "probe",
            "model",
            "seed",
            "status",
            "train_max",
            "length",
            "token_acc",
            "seq_acc",
            "scaled_acc",
            "run",
        ],
        rows,
    )
    board = leaderboard(finished, metric) if finished else []
    rep.leaderboard = board
    if board:
        rep.tables["leaderboard"] = out / "leaderboard.csv"
        _write_csv(
            rep.tables["leaderboard"],
            LEADERBOARD_COLUMNS,
            ([r[c] for c in LEADERBOARD_COLUMNS] for r in board),
        )
    agreement = check_records(finished, threshold, metric) if finished else None
    if agreement is not None:
        rep.counts = agreement.counts
        rep.tables["agreement"] = out / "agreement.csv"
        _write_csv(
            rep.tables["agreement"],
            ["probe", "model", "length", "verdict", "rule", "scope", "measured_best", "measured_mean",
             "measured_sd", "n_seeds", "train_max", "class"],
            [
                [c.prediction.probe, c.prediction.model, c.prediction.length, c.prediction.verdict,
                 c.prediction.rule, c.prediction.scope, c.measurement.best, c.measurement.mean,
                 c.measurement.sd, len(c.measurement.values),
                 c.measurement.train_max, c.cls]
                for c in agreement.cells
            ],
        )  # fmt: skip
    if study is not None:
        from archlab.search.runner import export

        rep.tables["trials"] = out / "trials.csv"
        export(source, storage, rep.tables["trials"])

    # -- plots --------------------------------------------------------------------------------
    say("drawing plots")
    if finished:
        _try_plot(
            rep,
            "length_generalisation",
            lambda p: plots.length_generalisation(finished, metric=metric, out=p),
        )
        if agreement is not None and agreement.cells:
            _try_plot(rep, "expressivity_matrix", lambda p: plots.expressivity_matrix(agreement, out=p))
        _try_plot(rep, "recurrence_depth", lambda p: plots.recurrence_depth(finished, out=p))
        _try_plot(rep, "capacity", lambda p: plots.capacity(finished, out=p))
    if study is not None:
        import warnings

        with warnings.catch_warnings():  # Optuna warns about importances from few trials per value
            warnings.simplefilter("ignore", UserWarning)
            made = plots.study_plots(study, out / "plots")
        rep.plots.update({f"study_{k}": v for k, v in made.items()})
        rep.skipped.update({f"study_{k}": v for k, v in made.skipped.items()})
    if baselines:
        _try_plot(rep, "dna_baselines", lambda p: plots.dna_baselines(baselines, out=p))
    for i, tr in enumerate(transfers):

        def draw(p: Path, tr: dict[str, Any] = tr) -> object:
            return plots.transfer_correlations(tr, out=p)

        _try_plot(rep, f"dna_transfer_{i}", draw)

    # -- summary ------------------------------------------------------------------------------
    say("writing summary.md")
    md = _summary(rep, kind, records, finished, agreement, study, baselines, transfers, threshold, metric)
    atomic_write(rep.summary, lambda f: f.write(md), mode="w")
    # the skipped plots as summary.md lists them (the study plots' own file is replaced)
    write_json_atomic(out / "plots" / "skipped.json", rep.skipped)
    if html:
        page = _html(md, out, rep.plots.values())
        atomic_write(out / "summary.html", lambda f: f.write(page), mode="w")
    return rep


def _summary(
    rep: Report,
    kind: str,
    records: list[dict[str, Any]],
    finished: list[dict[str, Any]],
    agreement: Any,
    study: Any,
    baselines: list[dict[str, Any]],
    transfers: list[dict[str, Any]],
    threshold: float,
    metric: str,
) -> str:
    from archlab.analysis.plots import model_label

    lines = [f"# archlab report: {rep.source}", ""]
    if study is not None:
        from archlab.search.objective import trial_record

        wall = sum(float(trial_record(t).get("wall_time_s") or 0.0) for t in study.get_trials(deepcopy=False))
    else:
        wall = sum(float(r.get("wall_time_s") or 0.0) for r in records)
    probes = sorted({str(r.get("probe")) for r in records})
    models = sorted({model_label(r["model"]) for r in records})
    lines += ["## What was run", ""]
    lines.append(f"- Source: {kind}.")
    lines.append(
        f"- {len(records)} run record(s) ({len(finished)} finished) of {len(models)} architecture(s) on "
        f"{len(probes)} probe(s): {', '.join(probes) or '–'}."
    )
    lines.append(f"- Training time, summed over runs: {wall / 60:.1f} min.")
    head = [f"{len(records)} runs, {len(models)} architectures, {len(probes)} probes"]
    if study is not None:
        from optuna.trial import TrialState

        trials = study.get_trials(deepcopy=False)
        states = {s.name: sum(t.state == s for t in trials) for s in TrialState}
        starts = [t.datetime_start for t in trials if t.datetime_start]
        ends = [t.datetime_complete for t in trials if t.datetime_complete]
        span = (max(ends) - min(starts)).total_seconds() / 60 if starts and ends else math.nan
        lines.append(
            f"- Study: {len(trials)} trials ({states['COMPLETE']} complete, {states['PRUNED']} pruned, "
            f"{states['FAIL']} failed), {_fmt(span, 1)} min from the first start to the last finish."
        )
        head = [
            f"study {rep.source}: {len(trials)} trials ({states['COMPLETE']} complete) in {_fmt(span, 1)} min"
        ]
    lines.append("")

    lines += ["## Best architectures", ""]
    if study is not None:
        best = study.best_trials if len(study.directions) > 1 else []
        if len(study.directions) == 1:
            done = [
                t
                for t in study.get_trials(deepcopy=False)
                if t.value is not None and t.state.name == "COMPLETE"
            ]
            best = sorted(done, key=lambda t: t.value, reverse=study.direction.name == "MAXIMIZE")[:5]
        lines += ["| trial | value(s) | params |", "|---|---|---|"]
        for t in best:
            vals = ", ".join(_fmt(float(v)) for v in t.values)
            params = ", ".join(f"{k}={_param(v)}" for k, v in t.params.items())
            lines.append(f"| {t.number} | {vals} | {params} |")
        if best:
            t0 = best[0]
            params0 = ", ".join(f"{k}={_param(v)}" for k, v in t0.params.items())
            head.append(f"best trial {t0.number}: value {_fmt(float(t0.values[0]))} ({params0})")
        lines.append("")
    if rep.leaderboard:
        lines += ["### Leaderboard", "", *_leaderboard_lines(rep.leaderboard, metric)]
    best_rows = _best_by_probe(finished, metric)
    if best_rows:
        lines += [
            f"Per probe, the best mean {metric} beyond the training lengths (over seeds; runs at "
            "several learning rates: the best learning rate, not pooled as seeds):",
            "",
        ]
        lines += ["| probe | architecture | mean | sd | seeds | lr |", "|---|---|---|---|---|---|"]
        for probe, model, mean, sd, n, lr in best_rows:
            sd_cell = _fmt(sd) if n > 1 else "—"
            lines.append(f"| {probe} | {model} | {_fmt(mean)} | {sd_cell} | {n} | {lr} |")
            spread = f" ± {_fmt(sd)}" if n > 1 else ", 1 seed"
            head.append(f"{probe}: best {model} ({metric} {_fmt(mean)}{spread} beyond training)")
        lines.append("")

    if agreement is not None:
        counts = agreement.counts
        lines += [
            "## Theory vs measurement",
            "",
            f"Each cell is one (probe, architecture, test length); solved = the best run's {metric} "
            f"(over seeds and learning rates, as the papers report) ≥ {threshold}; the table "
            "`agreement.csv` has the best, the mean ± sd and n of every cell. Classes as in "
            "`archlab theory check` (bound-not-reached: an asymptotic impossibility, R7, met by a "
            "success at a finite length — consistent, not a violation).",
            "",
            "| class | cells |",
            "|---|---|",
        ]
        lines += [f"| {k} | {v} |" for k, v in counts.items()]
        lines.append("")
        viol = agreement.violations
        head.append(
            f"theory: {counts.get('agree-impossible', 0) + counts.get('agree-solved', 0)} cells agree, "
            f"{counts.get('not-learned', 0)} not learned, {len(viol)} violation(s)"
        )
        lines += [f"### Violations ({len(viol)})", ""]
        if viol:
            from archlab.theory.agreement import explain_violation

            for c in viol:
                p = c.prediction
                lines.append(f"- {p.probe} · {p.model} · length {p.length}: {explain_violation(c)}")
        else:
            lines.append("None: no measurement contradicts an impossibility result.")
        lines.append("")
        nl = [c for c in agreement.cells if c.cls == "not-learned"]
        lines += [f"### Not learned ({len(nl)}): expressible, but below the threshold", ""]
        shown: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for c in nl:
            shown[c.prediction.probe, c.prediction.model].append(c)
        for (probe, model), cs in sorted(shown.items()):
            lens = ", ".join(f"{c.prediction.length}: {_fmt(c.measurement.mean, 2)}" for c in cs[:8])
            more = f" … ({len(cs)} lengths)" if len(cs) > 8 else ""
            lines.append(f"- {probe} · {model} ({cs[0].prediction.rule}): {lens}{more}")
        if not nl:
            lines.append("None.")
        lines.append("")

    if baselines or transfers:
        lines += ["## DNA", ""]
        for b in baselines:
            lines.append(
                f"- {b['dataset']} (test {b['metric']}): GC {_fmt(b['gc'])}, k-mer {_fmt(b['kmer'])}, "
                f"CNN {_fmt(b['cnn_mean'])}"
                + (f" ± {_fmt(b['cnn_sd'])}" if b.get("cnn_n", 2) != 1 else "")
                + f" (n = {b.get('cnn_n', '?')})"
            )
        for tr in transfers:
            lines += _transfer_lines(tr)
        lines.append("")

    lines += ["## Plots", ""]
    for name, path in rep.plots.items():
        rel = path.relative_to(rep.out)
        lines += [
            f"### {name.replace('_', ' ')}",
            "",
            f"![{name}]({rel.as_posix()})",
            f"([SVG]({rel.with_suffix('.svg').as_posix()}))",
            "",
        ]
    if rep.skipped:
        lines += ["Skipped:", ""] + [f"- {k}: {v}" for k, v in rep.skipped.items()] + [""]
    lines += ["## Tables", ""] + [f"- [{p.name}]({p.name})" for p in rep.tables.values()] + [""]
    lines += ["## Provenance", "", *_provenance(records), ""]
    rep.headline = head
    return "\n".join(lines)


def _transfer_lines(tr: dict[str, Any]) -> list[str]:
    """Summary lines of one ``transfer.json``: the best synthetic predictor of each real task
    (ρ, its p-value and how it was computed, the bootstrap interval over seeds, n), then every
    task refused because no architecture on it was above chance. Older files without the
    method, interval or refusal keys give the lines they can."""
    lines: list[str] = []
    for r, bp in sorted((tr.get("best_predictor") or {}).items()):
        method = f" ({bp['p_method']})" if bp.get("p_method") else ""
        ci = bp.get("rho_ci")
        if ci:
            interval = f", 95% interval over seeds [{_fmt(ci[0], 2)}, {_fmt(ci[1], 2)}]"
        elif "rho_ci" in bp:
            interval = f", no interval ({bp.get('rho_ci_note') or 'not computed'})"
        else:
            interval = ""
        lines.append(
            f"- best synthetic predictor of {r}: {bp['synthetic']} "
            f"(ρ = {_fmt(bp['spearman'], 2)}, p = {_fmt(bp['p'])}{method}{interval}, n = {bp['n_models']})"
        )
    for task, reason in (tr.get("refused_tasks") or {}).items():
        lines.append(f"- transfer to or from {task} not ranked: {reason}")
    return lines


#: links the HTML page may carry: web addresses, or relative paths (checked to stay inside the
#: report folder); anything else (javascript:, data:, file:, absolute paths) stays text
_WEB_LINK = re.compile(r"https?://[^\s\"'<>`]+")


def _inside(root: Path, target: str) -> Path | None:
    """``target`` as a path inside ``root``, or None (absolute, a scheme, or escaping by ..)."""
    if not target or ":" in target or target.startswith(("/", "\\")):
        return None
    path = (root / target).resolve()
    return path if path.is_relative_to(root.resolve()) else None


def _inline(text: str, root: Path, images: frozenset[Path]) -> str:
    """Markdown inline spans of the summary (code, links, images) → HTML. All text is escaped
    (quotes included, so nothing can leave an attribute); an image is embedded only if it is one
    the report itself wrote (``images``, resolved paths inside ``root``), a link kept only if it
    is a web address or a path inside the report folder — record text (a probe name, a study's
    description) can therefore add no tag, attribute or file to the page."""
    out = html_lib.escape(text, quote=True)

    def image(m: re.Match[str]) -> str:
        path = _inside(root, html_lib.unescape(m.group(2)))
        if path is None or path not in images or not path.is_file():
            return m.group(0)
        data = base64.b64encode(path.read_bytes()).decode()
        return f'<img alt="{m.group(1)}" src="data:image/png;base64,{data}" style="max-width:100%">'

    def link(m: re.Match[str]) -> str:
        target = html_lib.unescape(m.group(2))
        if _WEB_LINK.fullmatch(target) is None and _inside(root, target) is None:
            return m.group(0)
        return f'<a href="{html_lib.escape(target, quote=True)}">{m.group(1)}</a>'

    out = re.sub(r"!\[([^\]]*)\]\(([^)]+)\)", image, out)
    out = re.sub(r"(?<!!)\[([^\]]+)\]\(([^)]+)\)", link, out)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)


def _html(md: str, root: Path, images: Iterable[Path] = ()) -> str:
    """The summary as one self-contained HTML page (headings, lists, tables, embedded PNGs):
    built from the generated markdown, but escaped throughout, embedding only ``images`` (the
    plots the report wrote) — see :func:`_inline`."""
    written = frozenset(Path(p).resolve() for p in images)
    body: list[str] = []
    table: list[list[str]] = []
    in_list = False

    def flush_table() -> None:
        if table:
            head, *rows = table
            body.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr>")
            body.extend("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
            body.append("</table>")
            table.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not all(re.fullmatch(r"-+", c) for c in cells):
                table.append([_inline(c, root, written) for c in cells])
            continue
        flush_table()
        if line.startswith("- "):
            if not in_list:
                body.append("<ul>")
                in_list = True
            body.append(f"<li>{_inline(line[2:], root, written)}</li>")
            continue
        if in_list:
            body.append("</ul>")
            in_list = False
        if m := re.match(r"(#{1,4}) (.*)", line):
            n = len(m.group(1))
            body.append(f"<h{n}>{_inline(m.group(2), root, written)}</h{n}>")
        elif line.strip():
            body.append(f"<p>{_inline(line, root, written)}</p>")
    flush_table()
    if in_list:
        body.append("</ul>")
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}"
        "code{background:#f3f3f3}"
    )
    head = f"<head><meta charset='utf-8'><title>archlab report</title><style>{style}</style></head>"
    return f"<!doctype html><html>{head}<body>{''.join(body)}</body></html>\n"


def write_comparison(
    sources: list[str],
    *,
    out: str | Path,
    storage: str | None = None,
    threshold: float = 0.9,
    metric: str = "seq_acc",
    html: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> tuple[Path, list[Report]]:
    """Several studies or results folders side by side: each one's full report in
    ``out/<n>-<name>/``, and ``out/summary.md`` with one leaderboard across them (one row per
    architecture, one score column per source) and links to the reports. Returns the summary's
    path and the reports."""
    out = Path(out)
    reports = []
    for i, source in enumerate(sources, 1):
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(source).name or source).strip("_") or "source"
        reports.append(
            write_report(
                source, out=out / f"{i}-{slug}", storage=storage, html=html, threshold=threshold,
                metric=metric, on_step=on_step,
            )
        )  # fmt: skip
    scores: dict[str, list[Any]] = {}
    for j, rep in enumerate(reports):
        for row in rep.leaderboard:
            scores.setdefault(row["architecture"], [None] * len(reports))[j] = row["score"]
    order = sorted(scores, key=lambda a: -max((s for s in scores[a] if s is not None), default=-1.0))
    head = " | ".join(f"{i}. {Path(s).name or s}" for i, s in enumerate(sources, 1))
    lines = [
        "# archlab comparison",
        "",
        f"{len(sources)} sources, each scored as its own report does: per architecture, the mean over "
        f"its probes of the best learning rate's mean {metric} beyond training (over seeds); — where "
        "a source did not run that architecture. Reports:",
        "",
        *[f"- {i}. `{s}`: [{r.summary.relative_to(out).as_posix()}]({r.summary.relative_to(out).as_posix()})"
          for i, (s, r) in enumerate(zip(sources, reports, strict=True), 1)],
        "",
        f"| architecture | {head} |",
        "|---|" + "---|" * len(sources),
        *[f"| {a} | " + " | ".join(_fmt(v) for v in scores[a]) + " |" for a in order],
        "",
    ]  # fmt: skip
    summary = out / "summary.md"
    atomic_write(summary, lambda f: f.write("\n".join(lines)), mode="w")
    _write_csv(out / "comparison.csv", ["architecture", *sources], ([a, *scores[a]] for a in order))
    return summary, reports
