"""``archlab theory …``: predictions with citations, agreement with measurements, rule texts,
and the spectral checks of a trained model. Registered on the main app by :mod:`archlab.cli`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from archlab.cli_common import (
    echo_json,
    err,
    friendly,
    load_models,
    out,
    parse_params,
    parse_sets,
    set_pairs,
)
from archlab.errors import ConfigError

theory_app = typer.Typer(
    help="Theory engine: predictions (impossible / expressible / unknown) with the rule and its "
    "citation, agreement with measured results, rule statements, spectral checks.",
    no_args_is_help=True,
)

VERDICT_STYLE = {"impossible": "red", "expressible": "green", "unknown": "dim"}
CLASS_STYLE = {
    "agree-impossible": "green",
    "agree-solved": "green",
    "not-learned": "yellow",
    "violation": "bold red",
    "bound-not-reached": "cyan",
    "consistent": "green",
    "unknown": "dim",
    "in-training": "dim",
}
DEFAULT_LENGTHS = (64, 256)
#: lengths (bp) predicted for a DNA grammar level when none are given
DEFAULT_DNA_LENGTHS = (500,)


def _dna_net(name: str) -> Any:
    """The DNA-native network named ``name`` (``cnn``, ``pairmap``: DNA levels only), or None."""
    from archlab.dna.nets import DNA_NETS

    return DNA_NETS.get(name) if name in DNA_NETS else None


def _lengths(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        values = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise ConfigError(
            "--lengths", f"{text!r} is not a comma-separated list of integers", "e.g. 16,64,256"
        ) from None
    if not values or values[0] < 1:
        raise ConfigError("--lengths", f"{text!r} gives no positive lengths", "e.g. 16,64,256")
    return values


def _probe_list(spec: str, lengths: list[int] | None) -> list[tuple[Any, list[int]]]:
    """A suite file/name (its probes with their test lengths; a shipped suite's name, e.g.
    ``zoology_mqar``, means the suite) or comma-separated probe names; a
    DNA grammar level's name (D0–D7) stays a string (predicted by :func:`_predict_rows`)."""
    from archlab.probes import make_probe
    from archlab.probes.suite import ProbeSuite, find_suite
    from archlab.shipped import is_name
    from archlab.theory.dna import is_level

    path = Path(spec)
    if spec.endswith((".yaml", ".yml")) or path.exists() or is_name("suites", spec):
        suite = ProbeSuite.load(find_suite(spec))
        return [(e.probe, lengths or list(e.test_lengths)) for e in suite]
    out_list: list[tuple[Any, list[int]]] = []
    for name in (n.strip() for n in spec.split(",")):
        if not name:
            continue
        if is_level(name):
            out_list.append((name, lengths or list(DEFAULT_DNA_LENGTHS)))
        else:
            out_list.append((make_probe(name), lengths or list(DEFAULT_LENGTHS)))
    return out_list


def _model_list(spec: str) -> list[tuple[str, Any]]:
    """:func:`load_models`, plus DNA networks (``cnn``, ``pairmap``) among comma-separated names,
    at their defaults, first."""
    if spec.endswith((".yaml", ".yml")) or Path(spec).is_file():
        return load_models(spec)
    names = [n.strip() for n in spec.split(",") if n.strip()]
    nets = [(n.lower(), _dna_net(n).config()) for n in names if _dna_net(n) is not None]
    mixers = [n for n in names if _dna_net(n) is None]
    return [*nets, *(load_models(",".join(mixers)) if mixers else [])]


def _predict_rows(
    task: Any, lens: list[int], models: list[tuple[str, Any]], params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Prediction rows (``to_dict`` + ``name``) of one probe or DNA level for every model; the
    DNA networks (the CNN, the pair map) are skipped for formal-language probes (they read DNA
    only)."""
    from archlab.config import ModelConfig
    from archlab.theory import predict, predict_level, probe_facts

    rows: list[dict[str, Any]] = []
    if isinstance(task, str):  # a DNA grammar level
        for label, spec in models:
            for pred in predict_level(task, spec, lens, **(params or {})):
                rows.append({**pred.to_dict(), "name": label})
        return rows
    facts = probe_facts(task)
    for label, cfg in models:
        if not isinstance(cfg, ModelConfig):
            continue
        for pred in predict(task, cfg, lens, facts=facts):
            rows.append({**pred.to_dict(), "name": label})
    return rows


def _length_runs(rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """Consecutive lengths of one (probe, model) with the same verdict and rule, as one table row:
    (the first prediction of the run, the run's last length). A suite tested at every length
    2–64 gives a few rows per pair instead of 63; ``--json`` keeps every length."""
    runs: list[tuple[dict[str, Any], int]] = []
    for d in rows:
        if runs:
            first, _ = runs[-1]
            same = (first["probe"], first["name"], first["verdict"], first["rule"]) == (
                d["probe"], d["name"], d["verdict"], d["rule"],
            )  # fmt: skip
            if same:
                runs[-1] = (first, d["length"])
                continue
        runs.append((d, d["length"]))
    return runs


def _verdict_cell(verdict: str, rule: str) -> str:
    return f"[{VERDICT_STYLE.get(verdict, '')}]{verdict}[/] ({rule})"


@theory_app.command("predict")
@friendly
def predict_cmd(
    probes: Annotated[
        str | None,
        typer.Option("--probes", "--suite", help="A suite YAML (or name in probes/) or probe names a,b,c."),
    ] = None,
    models: Annotated[
        str | None,
        typer.Option(
            "--models", help="A zoo: a YAML file or a shipped one by name (zoo); or mixer names a,b."
        ),
    ] = None,
    probe: Annotated[
        str | None,
        typer.Option("--probe", help="One probe, or a DNA grammar level D0–D7 (single-pair form)."),
    ] = None,
    params: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Probe or level parameter key=value.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="One mixer, or cnn / pairmap (DNA networks, levels only; single-pair form)."
        ),
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="ModelConfig (or the DNA network's config: CNNConfig, PairMapConfig) field=value."
        ),
    ] = None,
    lengths: Annotated[
        str | None,
        typer.Option(
            "--lengths",
            "--length",
            help="Lengths, e.g. 16,64,256 (default: the suite's test lengths, else 64,256; DNA levels 500).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of predictions.")] = False,
) -> None:
    """What theory predicts for each (probe, model, length): impossible / expressible / unknown,
    with the deciding rule, its citation and a one-line reason.

    Examples:

        archlab theory predict --probe S5 --model householder --set householder_factors=2

        archlab theory predict --probes state_tracking --models zoo

        archlab theory predict --probe D5 --model conv --length 500 --param distance=200

    A DNA grammar level (D0–D7; ``synthetic/D5`` works too) takes precedence over the dihedral
    group of the same name (that one is ``--probe word_problem --param group=D5``); its
    ``--param`` values are read as YAML scalars; ``--model cnn`` is the one-hot CNN baseline and
    ``--model pairmap`` the 2-D pair-map network.
    """
    from archlab.config import ModelConfig, validate
    from archlab.probes import make_probe
    from archlab.theory import config_label
    from archlab.theory.dna import dna_model_label, is_level

    wanted = _lengths(lengths)
    level_params: dict[str, Any] | None = None
    pairs_m: list[tuple[str, Any]]
    pairs_p: list[tuple[Any, list[int]]]
    if probe is not None or model is not None:
        if probe is None or model is None or probes or models:
            raise ConfigError(
                "--probe/--model",
                "the single-pair form needs both --probe and --model (and no --probes/--models)",
            )
        dna = is_level(probe)
        net = _dna_net(model)
        if net is not None:
            if not dna:
                raise ConfigError("--model", f"{net.name} is a DNA network: use it with a level D0–D7")
            cfg_net = validate(net.config, parse_sets(sets), source=f"--model {net.name}/--set")
            pairs_m = [(dna_model_label(cfg_net), cfg_net)]
        else:
            cfg = validate(ModelConfig, {"mixer": model, **parse_sets(sets)}, source="--model/--set")
            pairs_m = [(dna_model_label(cfg) if dna else config_label(cfg), cfg)]
        if dna:
            level_params = dict(set_pairs(params, option="--param"))
            pairs_p = [(probe, wanted or list(DEFAULT_DNA_LENGTHS))]
        else:
            pairs_p = [(make_probe(probe, **parse_params(params)), wanted or list(DEFAULT_LENGTHS))]
    else:
        if probes is None or models is None:
            raise ConfigError("--probes/--models", "give --probes and --models, or --probe and --model")
        if params or sets:
            raise ConfigError("--param/--set", "only used with the single-pair form (--probe, --model)")
        pairs_p = _probe_list(probes, wanted)
        pairs_m = _model_list(models)
    rows: list[dict[str, Any]] = []
    for task, lens in pairs_p:
        rows += _predict_rows(task, lens, pairs_m, level_params)
    if as_json:
        echo_json(rows)
        return
    table = Table(title="theory predictions (impossible / expressible / unknown)", title_justify="left")
    for col in ("probe", "model", "length", "verdict (rule)", "reason"):
        table.add_column(col, overflow="fold")
    for d, last in _length_runs(rows):
        span = str(d["length"]) if last == d["length"] else f"{d['length']}–{last}"
        table.add_row(d["probe"], d["name"], span, _verdict_cell(d["verdict"], d["rule"]), d["reason"])
    out.print(table)
    conflicts = [d for d in rows if d["conflict"]]
    for d in conflicts:
        err.print(f"[bold red]rule conflict[/] {d['probe']} × {d['name']} at {d['length']}: {d['conflict']}")
    out.print("Rules: archlab theory explain RULE_ID. Citations: --json.")


@theory_app.command("check")
@friendly
def check_cmd(
    results: Annotated[
        list[str],
        typer.Argument(
            help="result.json files or folders of runs (archlab train / reproduce --out); with "
            "--storage, study names."
        ),
    ],
    storage: Annotated[
        str | None, typer.Option("--storage", help="Read the named studies' trials from this storage URL.")
    ] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", help="Solved = mean metric over seeds >= this.", min=0.0, max=1.0)
    ] = 0.9,
    metric: Annotated[str, typer.Option("--metric", help="seq_acc | token_acc | scaled_acc.")] = "seq_acc",
    show_all: Annotated[bool, typer.Option("--all", help="Also list unknown and in-training cells.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the agreement report as JSON.")] = False,
) -> None:
    """Set every measured (model, probe, length) cell beside its prediction: agree-impossible,
    agree-solved, not-learned (expressible, not found by training), violation (predicted
    impossible, measured solved: explained in red), unknown, in-training (an all-lengths statement
    at a trained length: not evidence). Reads result records, or a study's trials with --storage
    (``archlab theory check demo --storage journal:studies/demo.journal``).

    DNA runs (``archlab dna train`` result.json files) are checked too: each grammar level at its
    length and each test-long set is a cell, solved when the best seed's AUROC (or Pearson r)
    reaches 0.9; runs on real data sets are listed as skipped."""
    from archlab.search.records import records_from_study
    from archlab.theory import check_records, load_records

    if storage is not None:
        records = [rec for name in results for rec in records_from_study(name, storage)]
    else:
        records = load_records(results, dna=True)
    if not records:
        raise ConfigError(
            "RESULTS", f"no result records found in {', '.join(results)}", "result.json files or run folders"
        )
    report = check_records(records, threshold=threshold, metric=metric)
    if as_json:
        echo_json(report.to_dict())
        return
    table = Table(
        title=f"agreement: {len(records)} run(s); solved = {report.solved_means}",
        title_justify="left",
    )
    for col in ("probe", "model", "length", "predicted (rule)", "measured", "class"):
        table.add_column(col, overflow="fold")
    for c in report.cells:
        if not show_all and c.cls in ("unknown", "in-training"):
            continue
        m, p = c.measurement, c.prediction
        table.add_row(
            p.probe, p.model, str(m.length), _verdict_cell(p.verdict, p.rule),
            f"{m.metric or metric} {m.describe()}", f"[{CLASS_STYLE[c.cls]}]{c.cls}[/]",
        )  # fmt: skip
    out.print(table)
    for skip in report.skipped:
        out.print(f"[dim]skipped[/] {skip['run']}: {skip['reason']}")
    counts = report.counts
    out.print("counts: " + ", ".join(f"[{CLASS_STYLE[k]}]{k}[/] {v}" for k, v in counts.items()))
    for c in report.violations:
        from archlab.theory.agreement import explain_violation

        out.print(f"[bold red]VIOLATION[/] {explain_violation(c)}")
    if not report.violations:
        out.print("no violations.")


@theory_app.command("explain")
@friendly
def explain_cmd(
    rule_id: Annotated[str, typer.Argument(help="A rule id, e.g. R7 (archlab theory explain all).")],
) -> None:
    """The statement, source and assumptions of a rule (or of every rule: ``all``)."""
    from archlab.theory import RULES, rule_by_id

    chosen = list(RULES) if rule_id.lower() == "all" else [rule_by_id(rule_id)]
    for r in chosen:
        out.print(f"[bold]{r.id}[/] ({r.kind})")
        out.print(f"  architecture: {r.architecture}")
        out.print(f"  probe:        {r.probe}")
        out.print(f"  statement:    {r.statement}")
        out.print(f"  source:       {r.citation}")
        out.print(f"  assumptions:  {r.assumptions}")


@theory_app.command("papers")
@friendly
def papers_cmd(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (stable keys) instead of a table.")
    ] = False,
) -> None:
    """Published cells (Grazzi et al., Merrill et al., DeltaProduct, xLSTM) with the engine's
    verdict beside each outcome; exit status 1 if any is contradicted."""
    from archlab.theory.papers import papers_table

    rows = papers_table()
    bad = [r for r in rows if r["class"] == "contradicted" or r["class"] != r["required"]]
    if as_json:
        echo_json(rows)
    else:
        table = Table(
            title=f"{len(rows)} published cells against the engine (outcome: the paper's; solved = its "
            "threshold, else ≥ 0.9 scaled accuracy beyond training)",
            title_justify="left",
        )
        for col in ("paper", "architecture", "task", "published", "engine", "class"):
            table.add_column(col)
        for r in rows:
            value = "" if r["value"] is None else f" {r['value']:g}"
            style = CLASS_STYLE.get(r["class"], "bold red" if r["class"] == "contradicted" else "")
            table.add_row(
                r["paper"], r["architecture"], r["task"], f"{r['outcome']}{value}",
                _verdict_cell(r["verdict"], r["rule"]), f"[{style}]{r['class']}[/]" if style else r["class"],
            )  # fmt: skip
        out.print(table)
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["class"]] = counts.get(r["class"], 0) + 1
        out.print("classes: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if bad:
        err.print(f"[bold red]{len(bad)} cell(s) contradicted or off their recorded class[/]")
        raise typer.Exit(1)


@theory_app.command("inspect")
@friendly
def inspect_cmd(
    run_dir: Annotated[str, typer.Argument(help="A run folder with result.json and checkpoint.pt.")],
    plot: Annotated[
        str | None,
        typer.Option("--out", help="Plot file (.png, or .svg for SVG + PNG); default RUN_DIR/inspect.png."),
    ] = None,
    lengths: Annotated[
        str | None,
        typer.Option(
            "--lengths", help="Lengths (default: the run's test lengths + longest training length)."
        ),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Sequences per length.")] = 64,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Read a trained model's transitions on real probe inputs (test stream) and compare them
    with the mechanism theory expects: eigenvalues near −1 for parity, rotations by 2πk/m for
    counting mod m, orthogonal products for word problems, the effective dense matrix and the
    iterations to converge of fixed-point models. Train with --set train.checkpoint=true."""
    from archlab.theory.inspect import TABLE_COLUMNS, format_accuracy, format_table, inspect_run, plot_report

    report = inspect_run(run_dir, lengths=_lengths(lengths), batch=batch)
    files = plot_report(report, plot or Path(run_dir) / "inspect.png")
    if as_json:
        echo_json({**report.to_dict(), "plots": [str(f) for f in files]})
        return
    table = Table(title=f"mechanism check: {report.probe}", title_justify="left")
    for col in TABLE_COLUMNS:
        table.add_column(col, overflow="fold")
    for row in format_table(report):
        table.add_row(*row)
    out.print(table)
    out.print(format_accuracy(report))
    out.print("plot: " + ", ".join(str(f) for f in files))
