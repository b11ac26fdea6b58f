"""``archlab dna …``: synthetic grammar levels, their confound checks, real sets, baselines,
training and synthetic→real transfer. Registered on the main app by :mod:`archlab.cli`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from archlab.cli_common import echo_json, err, friendly, load_models, out, parse_sets, set_pairs
from archlab.errors import ConfigError

dna_app = typer.Typer(
    help="DNA tasks: motif-grammar levels from JASPAR motifs (D0–D7), confound checks, real labelled "
    "sets, GC / k-mer / CNN baselines, training, and which synthetic level predicts real rankings.",
    no_args_is_help=True,
)

DataDirOpt = Annotated[
    str | None,
    typer.Option(
        "--data-dir",
        help="Folder with the shared sets (irf1, zbed2, lentimpra, yeast); default $ARCHLAB_DNA_DIR, "
        "else the copy shipped with archlab.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (stable keys) instead of a table.")]
ParamOpt = Annotated[
    list[str] | None, typer.Option("--param", "-p", help="Level parameter key=value (repeatable).")
]


def _params(items: list[str] | None) -> dict[str, Any]:
    """``--param`` values read as YAML scalars (``gap=12`` → int, ``motifs=MA0050.2,MA0139.2``)."""
    return dict(set_pairs(items, option="--param"))


def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _limit_text(check: dict[str, Any]) -> str:
    """A confound check's limit as a range or bound, as the check applies it."""
    limit = check["limit"]
    if limit is None:
        return "–"
    name = check["name"]
    if name.endswith("_auroc"):
        return f"{1 - limit:.2f}–{limit:.2f}"
    if name.endswith("_pearson"):
        return f"|r| ≤ {limit:g}"
    if name.startswith("oracle"):
        return f"≥ {limit:g}"
    return str(limit)


def _task_from_arg(
    target: str, length: int | None, params: dict[str, Any], background: str, n: int | None, seed: int
) -> Any:
    """A level name (with --length) or a dataset name/path → :class:`DnaTaskSpec`."""
    import archlab.dna.grammar  # noqa: F401  (registers the levels)
    from archlab.dna.tasks import DnaTaskSpec
    from archlab.registry import DNA_TASKS

    if target in DNA_TASKS:
        if length is None:
            raise ConfigError("--length", f"level {target} needs a sequence length", "50–65536 bp")
        sizes: dict[str, Any] = (
            {} if n is None else {"n_train": n, "n_valid": max(n // 4, 10), "n_test": max(n // 2, 10)}
        )
        return DnaTaskSpec(
            level=target, length=length, background=background, data_seed=seed, params=params, **sizes
        )
    if length is not None:
        raise ConfigError("--length", f"{target!r} is a dataset, not a synthetic level: drop --length")
    return DnaTaskSpec(dataset=target, params=params)


SplitFractionOpt = Annotated[
    float | None,
    typer.Option(
        "--split-fraction",
        min=0.0,
        max=1.0,
        help="A split folder without a test split: move this share of train (per class) to test.",
    ),
]


SoftMaskOpt = Annotated[
    str | None,
    typer.Option(
        "--soft-mask",
        help="Lower-case (soft-masked) bases in text files: upper (read as bases, the default), "
        "n (read as N: the check a lower-case-fraction warning suggests), keep (read as bases, the "
        "mask kept as extra tokens for mixer models: what the mask alone is worth) or error (refuse them).",
    ),
]
SOFT_MASKS = ("upper", "n", "keep", "error")
LabelColOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--label-col",
        help="The label column of a TSV/CSV table, by name or 0-based index; repeat it for several "
        "targets (multi-target regression, e.g. --label-col Dev_log2 --label-col Hk_log2).",
    ),
]


def _load_options(
    split_fraction: float | None, soft_mask: str | None = None, label_cols: list[str] | None = None
) -> dict[str, Any]:
    """Loader options from the shared flags (only those given: HDF5 takes none of them)."""
    opts: dict[str, Any] = {} if split_fraction is None else {"split_fraction": split_fraction}
    if label_cols:
        cols: list[str | int] = [int(c) if c.lstrip("-").isdigit() else c for c in label_cols]
        opts["label_col"] = cols[0] if len(cols) == 1 else cols
    if soft_mask is not None:
        if soft_mask not in SOFT_MASKS:
            raise ConfigError("--soft-mask", f"unknown value {soft_mask!r}", ", ".join(SOFT_MASKS))
        opts["soft_mask"] = soft_mask
    return opts


#: sequences longer than this get the chunk_len hint (16 kb: where whole-sequence memory of the
#: heavier mixers passes a few GiB at batch 4, see README → Long sequences)
LONG_HINT_BP = 16384


def _long_sequence_hint(spec: Any, ds: Any) -> str | None:
    """A note for long sequences run whole by a mixer that could stream (``chunk_len``), else None."""
    from archlab.config import ModelConfig
    from archlab.registry import MIXERS

    longest = max((int(sp.codes.shape[1]) for sp in ds.splits.values()), default=0)
    if not isinstance(spec, ModelConfig) or spec.chunk_len is not None or longest <= LONG_HINT_BP:
        return None
    plain = spec.fp_iters is None and spec.hier_levels == 1 and spec.depth_repeat == 1
    if MIXERS.get(spec.mixer).unstreamable or not spec.causal or not plain:
        return None
    return (
        f"sequences of up to {longest:,} bp run whole: memory grows with the length; "
        "--set chunk_len=4096 runs the blocks chunk by chunk in bounded memory (truncated BPTT)"
    )


def _print_warnings(ds: Any) -> None:
    for w in ds.warnings:
        err.print(f"warning: {w}", style="yellow", markup=False)


DedupeOpt = Annotated[
    bool,
    typer.Option(
        "--dedupe",
        help="Regroup the splits first so that no exact or near duplicate (either strand) straddles "
        "two of them (archlab.dna.leakage.regroup_splits; class balance kept).",
    ),
]


def _leakage(
    ds: Any, dedupe: bool, *, k: int = 31, min_fraction: float = 0.5, examples: int = 0
) -> tuple[Any, dict[str, Any]]:
    """(the dataset, regrouped with --dedupe; its leakage summary), with progress on stderr."""
    from archlab.dna.leakage import leakage_summary, regroup_splits

    if dedupe:
        with err.status(f"{ds.name}: regrouping the splits …"):
            ds = regroup_splits(ds, k=k, min_fraction=min_fraction)
    with err.status(f"{ds.name}: duplicates across splits …"):
        return ds, leakage_summary(ds, k=k, min_fraction=min_fraction, examples=examples)


@dna_app.command("list")
@friendly
def list_cmd(json_out: JsonOpt = False, data_dir: DataDirOpt = None) -> None:
    """The synthetic levels (name, task, what they test, the baselines they defeat) and the shared
    real sets (whether their files are here)."""
    from archlab.dna.grammar import list_levels
    from archlab.dna.io import CATALOGUE, catalogue_path
    from archlab.errors import ArchlabError

    levels: list[dict[str, Any]] = [
        {
            "name": lv.name,
            "title": lv.title,
            "task": lv.task,
            "theory": lv.theory,
            "defeats": list(lv.defeats),
            "params": lv.default_params,
        }
        for lv in list_levels()
    ]
    sets: list[dict[str, Any]] = []
    for name in CATALOGUE:
        try:
            path: str | None = str(catalogue_path(name, data_dir))
        except ArchlabError:
            path = None
        sets.append({"name": name, "path": path, "available": path is not None})
    if json_out:
        echo_json({"levels": levels, "datasets": sets})
        return
    table = Table(title="Synthetic grammar levels (archlab dna sample LEVEL --length L)")
    for col in ("level", "task", "what it tests", "theory tag", "defeats"):
        table.add_column(col)
    for lv in levels:
        table.add_row(lv["name"], lv["task"], lv["title"], lv["theory"], ", ".join(lv["defeats"]))
    out.print(table)
    table = Table(title="Shared real sets (archlab dna baselines NAME)")
    table.add_column("name")
    table.add_column("file")
    for s in sets:
        table.add_row(s["name"], s["path"] or "[yellow]not found[/] (--data-dir or ARCHLAB_DNA_DIR)")
    out.print(table)


@dna_app.command("sample")
@friendly
def sample_cmd(
    level: Annotated[str, typer.Argument(help="A level: D0 … D7 (archlab dna list).")],
    length: Annotated[int, typer.Option("--length", "-L", min=50, max=65536, help="Sequence length (bp).")],
    n: Annotated[int, typer.Option("--n", min=1, max=100_000, help="Sequences (balanced classes).")] = 4,
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
    background: Annotated[str, typer.Option("--background", help="iid, gc, markov or shuffle.")] = "iid",
    param: ParamOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Generate labelled sequences of a level. ``--json`` prints
    ``{"sequences": [...], "labels": [...]}``."""
    import numpy as np

    from archlab.dna.data import decode
    from archlab.dna.grammar import get_level

    lv = get_level(level)
    split = lv.sample(np.random.default_rng(seed), n, length, background=background, **_params(param))
    seqs = decode(split.codes, split.lengths)
    labels = [float(v) if lv.task == "regression" else int(v) for v in split.y]
    if json_out:
        echo_json({"sequences": seqs, "labels": labels})
        return
    out.print(f"[bold]{lv.name}[/] {lv.title} · {length} bp · background {background} · seed {seed}")
    for s, y in zip(seqs, labels, strict=True):
        shown = s if len(s) <= 120 else f"{s[:60]}…{s[-60:]}"
        out.print(f"{y!s:>6}  {shown}")


@dna_app.command("check")
@friendly
def check_cmd(
    level: Annotated[str, typer.Argument(help="A level: D0 … D7, or all.")],
    length: Annotated[int, typer.Option("--length", "-L", min=50, max=65536)] = 500,
    n: Annotated[int, typer.Option("--n", min=100, help="Training rows (valid n/4, test n/2).")] = 2000,
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
    background: Annotated[str, typer.Option("--background")] = "iid",
    json_out: JsonOpt = False,
) -> None:
    """Confound checks: GC-only and k-mer baselines near chance (AUROC ≤ 0.55) where the level is
    built to defeat them, no duplicates across splits, deterministic per seed, the oracle's
    accuracy. Exit status 1 when a check fails."""
    from archlab.dna.confounds import check_level
    from archlab.dna.grammar import list_levels

    names = [lv.name for lv in list_levels()] if level.lower() == "all" else [level]
    reports = []
    for name in names:
        with err.status(f"checking {name} at {length} bp …"):
            reports.append(check_level(name, length=length, seed=seed, n=n, background=background))
    if json_out:
        echo_json(reports if level.lower() == "all" else reports[0])
    else:
        for rep in reports:
            table = Table(title=f"{rep['level']} at {rep['length']} bp, background {rep['background']}")
            for col in ("check", "value", "limit", ""):
                table.add_column(col)
            for c in rep["checks"]:
                v = c["value"]
                table.add_row(
                    c["name"],
                    _fmt(v) if isinstance(v, float) else str(v),
                    _limit_text(c),
                    "[green]pass[/]" if c["passed"] else "[bold red]FAIL[/]",
                )
            out.print(table)
    if not all(r["passed"] for r in reports):
        raise typer.Exit(1)


@dna_app.command("baselines")
@friendly
def baselines_cmd(
    path: Annotated[
        str,
        typer.Argument(
            help="A file or folder (HDF5, FASTA, TSV/CSV, split folders) or irf1/zbed2/lentimpra/yeast."
        ),
    ],
    seeds: Annotated[int, typer.Option("--seeds", min=1, max=20, help="CNN seeds 0…N−1.")] = 3,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="CNN epochs (default 10).")] = None,
    device: Annotated[str, typer.Option("--device", help="auto (CUDA if present), cpu, cuda.")] = "auto",
    data_dir: DataDirOpt = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Also write the JSON here.")] = None,
    dedupe: DedupeOpt = False,
    split_fraction: SplitFractionOpt = None,
    soft_mask: SoftMaskOpt = None,
    label_col: LabelColOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """GC-only, k-mer (k = 1…6) and one-hot CNN (mean ± sd over seeds) on the dataset's test split,
    with the duplicates across splits that could inflate them (``archlab dna leakage`` for the
    full report). ``--json`` prints ``{"dataset", "metric", "gc", "kmer", "cnn_mean", "cnn_sd", …,
    "leakage"}``."""
    from archlab.atomic import write_json_atomic
    from archlab.dna.baselines import run_baselines
    from archlab.dna.io import load

    ds, leakage = _leakage(
        load(path, data_dir=data_dir, **_load_options(split_fraction, soft_mask, label_col)), dedupe
    )
    kw: dict[str, Any] = {} if epochs is None else {"epochs": epochs}
    with err.status(f"{ds.name}: baselines …") as status:
        result = run_baselines(ds, seeds=range(seeds), device=device, on_step=status.update, **kw)
    result["leakage"] = {**leakage, "deduped": dedupe}
    result["warnings"] = ds.warnings
    if out_file is not None:
        write_json_atomic(out_file, result)
    if json_out:
        echo_json(result)
        return
    m = result["metric"]
    table = Table(title=f"{result['dataset']}: test {m} ({len(ds.splits['test'])} sequences)")
    for col in ("baseline", m, "notes"):
        table.add_column(col)
    table.add_row("GC only", _fmt(result["gc"]), "base composition alone")
    table.add_row("k-mer (k ≤ 6)", _fmt(result["kmer"]), "words without positions")
    cnn = _fmt(result["cnn_mean"]) + (f" ± {_fmt(result['cnn_sd'])}" if result["cnn_n"] > 1 else "")
    table.add_row("one-hot CNN", cnn, f"n = {result['cnn_n']} seeds, RC augmented and averaged")
    out.print(table)
    if result.get("per_target"):
        per = Table(title=f"test {m} per target (the table above: their mean)")
        for col in ("target", "GC only", "k-mer (k ≤ 6)", "one-hot CNN"):
            per.add_column(col)
        for row in result["per_target"]:
            spread = f" ± {_fmt(row['cnn_sd'])}" if row["cnn_n"] > 1 else ""
            per.add_row(row["target"], _fmt(row["gc"]), _fmt(row["kmer"]), _fmt(row["cnn_mean"]) + spread)
        out.print(per)
    _print_leakage(leakage, dedupe)
    for note in ds.notes:
        if not note.startswith("WARNING"):
            out.print(f"note: {note}", style="dim", markup=False)
    _print_warnings(ds)


def _print_leakage(leakage: dict[str, Any], dedupe: bool) -> None:
    from archlab.dna.leakage import leakage_line

    line = leakage_line(leakage)
    leaked = leakage["exact"]["leaked"].get("test", 0) + leakage.get("near", {}).get("n_near", 0)
    hint = (
        " (splits regrouped by --dedupe)"
        if dedupe
        else (" — rerun with --dedupe to regroup" if leaked else "")
    )
    out.print(("[yellow]" if leaked else "") + line + hint + ("[/]" if leaked else ""), markup=bool(leaked))


@dna_app.command("leakage")
@friendly
def leakage_cmd(
    path: Annotated[
        str,
        typer.Argument(
            help="A file or folder (HDF5, FASTA, TSV/CSV, split folders) or a shipped set's name."
        ),
    ],
    k: Annotated[
        int, typer.Option("--k", min=8, max=64, help="k-mer length of the near-duplicate test.")
    ] = 31,
    min_fraction: Annotated[
        float,
        typer.Option(
            "--min-fraction",
            min=0.0,
            max=1.0,
            help="A test row is a near duplicate when one train/valid row holds this share of its k-mers.",
        ),
    ] = 0.5,
    examples: Annotated[int, typer.Option("--examples", min=0, help="Near-duplicate rows to list.")] = 10,
    dedupe: DedupeOpt = False,
    split_fraction: SplitFractionOpt = None,
    soft_mask: SoftMaskOpt = None,
    label_col: LabelColOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Exact duplicates within and across splits (same strand and reverse complement), the rows
    of valid/test that copy an earlier split, and test rows that nearly duplicate one train/valid
    row. With --dedupe: the same report after regrouping the splits. Exit status 0 either way."""
    from archlab.dna.io import load

    ds = load(path, data_dir=data_dir, **_load_options(split_fraction, soft_mask, label_col))
    ds, rep = _leakage(ds, dedupe, k=k, min_fraction=min_fraction, examples=examples)
    rep = {
        "dataset": ds.name,
        "sizes": {s: len(sp) for s, sp in ds.splits.items()},
        "deduped": dedupe,
        **rep,
        "warnings": ds.warnings,
    }
    if json_out:
        echo_json(rep)
        return
    sizes = ", ".join(f"{s} {n}" for s, n in rep["sizes"].items())
    out.print(f"[bold]{ds.name}[/]: {sizes}; {rep['exact']['unique']} distinct sequences (either strand)")
    table = Table(title="exact duplicates (row pairs)")
    for col in ("splits", "pairs", "same strand", "reverse complement"):
        table.add_column(col)
    for name, v in [
        *rep["exact"]["pairs"].items(),
        *((f"within {s}", v) for s, v in rep["exact"]["within"].items()),
    ]:
        table.add_row(name, str(v["n"]), str(v["same_strand"]), str(v["reverse_complement"]))
    out.print(table)
    _print_leakage(rep, dedupe)
    for ex in rep.get("near", {}).get("examples", []):
        out.print(
            f"[dim]  test row {ex['test_row']} ~ {ex['split']} row {ex['row']} "
            f"({ex['share']:.0%} of its k-mers)[/]"
        )
    _print_warnings(ds)


def _model_spec(model: str, fields: dict[str, Any]) -> Any:
    """``--model`` and its ``--set`` fields as a config: a DNA network (the CNN, the pair map) or
    a mixer's ModelConfig; an unknown name lists both."""
    import archlab.models  # noqa: F401  (registers the mixers)
    from archlab.config import ModelConfig, validate
    from archlab.dna.nets import DNA_NETS
    from archlab.errors import UnknownNameError
    from archlab.registry import MIXERS

    if model in DNA_NETS:
        return validate(DNA_NETS.get(model).config, fields, source="--set")
    if model not in MIXERS:
        raise UnknownNameError("model", model, [*DNA_NETS.names(), *MIXERS.names()])
    return validate(ModelConfig, {"mixer": model, "head": "pooled", **fields}, source="--set")


@dna_app.command("train")
@friendly
def train_cmd(
    target: Annotated[str, typer.Argument(help="A level (D0 … D7, with --length) or a dataset path/name.")],
    model: Annotated[
        str,
        typer.Option(
            "--model", help="cnn (the baseline), pairmap (2-D pair map) or a mixer name (archlab model list)."
        ),
    ] = "cnn",
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Field=value of the model's config (ModelConfig, CNNConfig, PairMapConfig); for "
            "16-64 kb sequences with a recurrent mixer, --set chunk_len=4096 runs the blocks chunk by "
            "chunk in bounded memory (state carried, truncated BPTT).",
        ),
    ] = None,
    length: Annotated[int | None, typer.Option("--length", "-L", min=50, max=65536)] = None,
    n: Annotated[int | None, typer.Option("--n", min=20, help="Synthetic: training rows.")] = None,
    background: Annotated[str, typer.Option("--background")] = "iid",
    param: ParamOpt = None,
    seeds: Annotated[int, typer.Option("--seeds", min=1, max=20)] = 1,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Passes over the training set.")] = 10,
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Optimiser steps; overrides --epochs.")
    ] = None,
    eval_every: Annotated[
        int, typer.Option("--eval-every", min=1, help="Steps between validation evaluations.")
    ] = 100,
    patience: Annotated[
        int,
        typer.Option(
            "--patience", min=1, help="Early stop after this many steps without a better valid score."
        ),
    ] = 600,
    min_steps: Annotated[
        int, typer.Option("--min-steps", min=0, help="Never stop early before this step.")
    ] = 0,
    no_early_stop: Annotated[
        bool, typer.Option("--no-early-stop", help="Run the whole budget and score the final weights.")
    ] = False,
    max_time: Annotated[
        float | None,
        typer.Option(
            "--max-time", min=0.0, help="Seconds per run; the run ends scored with its best weights."
        ),
    ] = None,
    lr: Annotated[float | None, typer.Option("--lr", min=0.0)] = None,
    batch: Annotated[int, typer.Option("--batch", min=1)] = 64,
    device: Annotated[str, typer.Option("--device")] = "auto",
    stacked: Annotated[
        bool,
        typer.Option(
            "--stacked/--one-by-one",
            help="Train the seeds as one stacked model (archlab mixers; the same records). Slower "
            "on a CPU at DNA lengths (README → Speed); meant for GPUs.",
        ),
    ] = False,
    data_dir: DataDirOpt = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Write seed_S/result.json (S the seed) and summary.json.")
    ] = None,
    dedupe: DedupeOpt = False,
    split_fraction: SplitFractionOpt = None,
    soft_mask: SoftMaskOpt = None,
    label_col: LabelColOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Train one architecture on a DNA task and score it on the test split (mean ± sd over seeds).
    A real dataset's duplicates across splits are reported (``leakage`` in --json).

    The budget is --steps (or --epochs); validation every --eval-every steps; early stop after
    --patience steps without improvement, never before --min-steps; --max-time ends a run with
    its best weights scored. A run whose predictions are constant is reported as such."""
    from archlab.dna.tasks import build_dataset
    from archlab.dna.train import run_seeds

    spec = _model_spec(model, parse_sets(sets))
    if stacked and seeds > 1:
        from archlab.dna.stacked import dna_stack_support

        why = dna_stack_support(spec, max_time)
        if why:
            err.print(f"--stacked: the seeds train one by one ({why})")
    loading = _load_options(split_fraction, soft_mask, label_col)
    task = _task_from_arg(target, length, _params(param) | loading, background, n, 0)
    if loading and task.dataset is None:
        flag = next(f for f, v in (("--split-fraction", split_fraction), ("--soft-mask", soft_mask),
                                   ("--label-col", label_col)) if v)  # fmt: skip
        raise ConfigError(flag, "applies to a dataset read from files, not a synthetic level")
    ds = build_dataset(task, data_dir)
    leakage = None
    if task.dataset is not None:  # synthetic levels are checked by construction (archlab dna check)
        ds, leakage = _leakage(ds, dedupe)
    elif dedupe:
        raise ConfigError("--dedupe", "regroups a real dataset's splits; a synthetic level has no duplicates")
    hint = _long_sequence_hint(spec, ds)
    if hint:
        err.print(f"note: {hint}", style="yellow", markup=False)
    with err.status(f"training {model} on {ds.name} …"):
        summary = run_seeds(
            ds, spec, seeds=list(range(seeds)), out_dir=out_dir, epochs=epochs, steps=steps, lr=lr,
            batch=batch, device=device, eval_every=eval_every, patience=patience, min_steps=min_steps,
            early_stop=not no_early_stop, max_time_s=max_time, stacked=stacked,
        )  # fmt: skip
    if leakage is not None:
        summary["leakage"] = {**leakage, "deduped": dedupe}
    summary["warnings"] = ds.warnings
    if json_out:
        echo_json({k: v for k, v in summary.items() if k != "runs"} | {"runs": summary["runs"]})
        return
    m = summary["metric"]
    spread = f" ± {_fmt(summary['sd'])} (sd over n = {summary['n']} seeds" if summary["n"] > 1 else " (1 seed"
    out.print(
        f"{model} on {ds.name}: test {m} {_fmt(summary['mean'])}{spread}; "
        f"per seed {', '.join(_fmt(v) for v in summary['values'])})"
        + (" — the mean over the targets" if summary.get("per_target") else "")
    )
    for row in summary.get("per_target", []):
        sd = f" ± {_fmt(row['sd'])}" if row["n"] > 1 else ""
        out.print(f"  {row['target']}: test {m} {_fmt(row['mean'])}{sd}")
    for run in summary["runs"]:
        stop = run.get("stopped_by") or run["status"]
        out.print(
            f"[dim]seed {run['seed']}: {run['steps']} steps (best at {run['best_step']}, stopped by {stop}), "
            f"{run['wall_time_s']:.0f} s[/]"
        )
        for warning in run.get("warnings", []):
            err.print(f"[yellow]seed {run['seed']}: {warning}[/]")
    if leakage is not None:
        _print_leakage(leakage, dedupe)
    _print_warnings(ds)
    bad = [s for s in summary["statuses"] if s not in ("ok", "timeout")]
    if bad:
        err.print(f"[yellow]runs not scored: {', '.join(bad)}[/]")
        raise typer.Exit(1)


@dna_app.command("transfer")
@friendly
def transfer_cmd(
    models: Annotated[
        str,
        typer.Option(
            "--models", help="A zoo: a YAML file or a shipped one by name (zoo_dna); or mixer names a,b."
        ),
    ] = "zoo_dna",
    levels: Annotated[
        str, typer.Option("--levels", help="Synthetic levels, comma-separated.")
    ] = "D0,D2,D4,D5",
    length: Annotated[int, typer.Option("--length", "-L", min=50, max=65536)] = 400,
    n: Annotated[int, typer.Option("--n", min=100, help="Synthetic training rows per level.")] = 2000,
    real: Annotated[
        str, typer.Option("--real", help="Real sets (names or paths), comma-separated.")
    ] = "irf1,zbed2",
    seeds: Annotated[int, typer.Option("--seeds", min=1, max=10)] = 1,
    epochs: Annotated[
        int, typer.Option("--epochs", min=1, help="Epochs per run (early stop on valid).")
    ] = 10,
    device: Annotated[str, typer.Option("--device")] = "auto",
    no_cnn: Annotated[bool, typer.Option("--no-cnn", help="Leave the CNN baseline out.")] = False,
    data_dir: DataDirOpt = None,
    ladder_dir: Annotated[
        Path | None,
        typer.Option(
            "--ladder",
            help="Use the calibrated ladder instead: its levels (--levels, or all) and architectures "
            "(--models as ladder labels, default all trained ones), sharing the runs in this folder.",
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Parallel runs (--ladder).")] = 1,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Runs (reused on a rerun) and transfer.json.")
    ] = Path("reports/dna_transfer"),
    json_out: JsonOpt = False,
) -> None:
    """Train the same architectures on synthetic levels and on real sets; report, per pair, the
    Spearman rank correlation of their test scores (which level predicts the real ranking).

    With --ladder DIR the synthetic side is the calibrated DNA ladder (archlab dna ladder): its
    runs in DIR are reused, the architectures are trained on the real sets into DIR as well,
    and transfer.json is written there.

    p is an exact permutation p-value over all orderings of up to 9 architectures (a seeded
    100 000-draw permutation test beyond), so 3 or 4 architectures never reach p < 0.05. The
    95% interval of ρ resamples seeds (bootstrap) and needs --seeds 2 or more. A task on which
    no architecture is above chance (AUROC 0.5, r = 0; judged from the seeds and the
    test-set size) is refused: its pairs are not ranked, and the reason is printed.

    Cost: architectures × (levels + sets) × seeds trainings. With the defaults (2000 rows,
    10 epochs, early stop) a recurrent model takes minutes per task on 2 CPU cores; with 3
    epochs (45 steps on 1000 rows) every architecture but a non-causal conv stayed at chance on
    D0–D5, so a short budget ranks noise. Runs are reused from --out when rerun."""
    from archlab.dna.tasks import DnaTaskSpec, check_task

    if ladder_dir is not None:
        from archlab.dna.ladder import get_architecture, ladder_transfer, parse_levels

        default_zoo = models in ("search/zoo_dna.yaml", "zoo_dna")
        labels = (
            None
            if default_zoo
            else [get_architecture(x.strip()).label for x in models.split(",") if x.strip()]
        )
        names = parse_levels("all" if levels == "D0,D2,D4,D5" else levels)
        rl_names = [x.strip() for x in real.split(",") if x.strip()]
        for r in rl_names:
            check_task(DnaTaskSpec(dataset=r), data_dir)
        with err.status("transfer from the ladder …") as status:
            result = ladder_transfer(
                names, rl_names, labels, seeds=list(range(seeds)), out_dir=ladder_dir, data_dir=data_dir,
                workers=workers, device=device,
                on_done=lambda rec, i, n: status.update(f"[{i}/{n}] {rec.get('architecture')} done"),
            )  # fmt: skip
        out_dir = ladder_dir
    else:
        result = _transfer_zoo(
            models, levels, length, n, real, seeds, epochs, device, no_cnn, data_dir, out_dir
        )
    _print_transfer(result, seeds, out_dir, json_out)


def _transfer_zoo(
    models: str, levels: str, length: int, n: int, real: str, seeds: int, epochs: int, device: str,
    no_cnn: bool, data_dir: str | None, out_dir: Path,
) -> dict[str, Any]:  # fmt: skip
    """``dna transfer`` over a zoo of ModelConfigs on uncalibrated levels."""
    from archlab.dna.tasks import DnaTaskSpec, check_task
    from archlab.dna.transfer import transfer

    pairs: list[tuple[str, Any]] = []
    for label, cfg in load_models(models):
        pairs.append((label, cfg.model_copy(update={"head": "pooled"})))
    sizes: dict[str, Any] = {"n_train": n, "n_valid": max(n // 4, 10), "n_test": max(n // 2, 10)}
    syn = [DnaTaskSpec(level=x.strip(), length=length, **sizes) for x in levels.split(",") if x.strip()]
    rl = [DnaTaskSpec(dataset=x.strip()) for x in real.split(",") if x.strip()]
    if not syn or not rl:
        raise ConfigError("--levels/--real", "give at least one synthetic level and one real set")
    for t in [*syn, *rl]:
        check_task(t, data_dir)
    with err.status("transfer …") as status:
        return transfer(
            pairs, syn, rl, seeds=list(range(seeds)), data_dir=data_dir, include_cnn=not no_cnn,
            out_dir=out_dir, on_step=status.update, epochs=epochs, device=device,
        )  # fmt: skip


def _print_transfer(result: dict[str, Any], seeds: int, out_dir: Path, json_out: bool) -> None:
    """The score table, the ρ table (refusals marked) and the best predictors."""
    from rich.markup import escape

    if json_out:
        echo_json(result)
        return
    tasks = [*result["synthetic"], *result["real"]]
    table = Table(
        title=f"Test scores (mean over {seeds} seed(s)); metric per task: "
        + ", ".join(f"{t} {result['metrics'][t]}" for t in tasks)
    )
    table.add_column("architecture")
    for t in tasks:
        table.add_column(t, justify="right")
    for arch in result["models"]:
        table.add_row(arch, *[_fmt(result["scores"][arch][t]["mean"]) for t in tasks])
    out.print(table)
    table = Table(title="Spearman ρ between architecture rankings (synthetic level vs real task)")
    for col in ("synthetic", "real", "ρ", "p (method)", "95% interval (seeds)", "architectures"):
        table.add_column(col)
    for c in result["correlations"]:
        if c.get("refused"):
            rho, p, ci = "[yellow]refused[/]", "–", "–"
        else:
            rho = _fmt(c["spearman"], 2)
            p = f"{_fmt(c['p'], 3)} ({c['p_method']})" if c.get("p_method") else "–"
            ci = _transfer_ci(c)
        table.add_row(c["synthetic"], c["real"], rho, p, ci, str(c["n_models"]))
    out.print(table)
    for reason in result.get("refused_tasks", {}).values():
        out.print(f"[yellow]not ranked: {escape(reason)}[/]")
    for r, b in sorted(result["best_predictor"].items()):
        p = f"{_fmt(b['p'], 3)} ({b['p_method']})" if b.get("p_method") else _fmt(b["p"], 3)
        out.print(
            f"best predictor of {r}: {b['synthetic']} (ρ = {_fmt(b['spearman'], 2)}, p = {p}, "
            f"95% interval {_transfer_ci(b)}, n = {b['n_models']})"
        )
    out.print(f"[dim]runs and transfer.json in {out_dir}[/]")


def _transfer_ci(row: dict[str, Any]) -> str:
    """A correlation row's bootstrap interval for the transfer table (escaped for rich)."""
    from rich.markup import escape

    ci = row.get("rho_ci")
    if not ci:
        return "– (one seed)" if "one seed" in str(row.get("rho_ci_note") or "") else "–"
    return escape(f"[{_fmt(ci[0], 2)}, {_fmt(ci[1], 2)}]")


LevelsArg = Annotated[str, typer.Argument(help="Levels: D0,D2,… or all.")]
QuickOpt = Annotated[
    bool, typer.Option("--quick", help="Smoke run: tiny sets and budgets (figures are not measurements).")
]
WorkersOpt = Annotated[
    int, typer.Option("--workers", min=1, max=64, help="Parallel runs (one torch thread each).")
]


def _mean_text(mean: float, sd: float, n: int) -> str:
    return _fmt(mean) + (f" ± {_fmt(sd)}" if n > 1 else "")


@dna_app.command("calibrate")
@friendly
def calibrate_cmd(
    levels: LevelsArg,
    seeds: Annotated[
        int, typer.Option("--seeds", min=1, max=20, help="Training seeds 0…N−1 per control.")
    ] = 3,
    quick: QuickOpt = False,
    workers: WorkersOpt = 1,
    device: Annotated[str, typer.Option("--device")] = "auto",
    out_dir: Annotated[
        Path,
        typer.Option("--out", help="Runs (reused when rerun; shared with dna ladder) and calibration.json."),
    ] = Path("reports/dna_ladder"),
    json_out: JsonOpt = False,
) -> None:
    """Run each level's positive controls (must reach test AUROC or r ≥ 0.9, mean over seeds)
    and negative controls (must stay at or below their bound, best seed) at the level's
    calibrated defaults (archlab.dna.ladder.CALIBRATION), with the test-long scores beside them.

    ``--json`` prints a list of objects with ``level``, ``control`` (positive|negative),
    ``architecture``, ``expected`` (solves|fails), ``metric``, ``mean``, ``best``, ``seeds``,
    ``passed``. Exit status 1 when a control fails. One level with one seed takes up to about
    15 minutes on 2 CPU cores."""
    from archlab.dna.ladder import calibrate, parse_levels

    names = parse_levels(levels)
    with err.status("calibrating …") as status:

        def done(rec: dict[str, Any], i: int, total: int) -> None:
            status.update(f"[{i}/{total}] {rec.get('architecture')} on {names}, seed {rec.get('seed')} done")

        rows = calibrate(
            names, seeds=list(range(seeds)), quick=quick, out_dir=out_dir, workers=workers, device=device,
            on_done=done,
        )  # fmt: skip
    if json_out:
        echo_json(rows)
    else:
        title = "DNA level calibration" + (" (--quick: smoke run, not a measurement)" if quick else "")
        table = Table(title=title)
        for col in (
            "level",
            "control",
            "architecture",
            "expected",
            "metric",
            "mean ± sd",
            "best",
            "seeds",
            "",
        ):
            table.add_column(col)
        for r in rows:
            table.add_row(
                r["level"], r["control"], r["architecture"], r["expected"], str(r["metric"]),
                _mean_text(r["mean"], r["sd"], len(r["seeds"])), _fmt(r["best"]), str(len(r["seeds"])),
                "[green]pass[/]" if r["passed"] else "[bold red]FAIL[/]",
            )  # fmt: skip
        out.print(table)
        for r in rows:
            if not r["passed"]:
                bound = (
                    f"≥ {r['threshold']:g} (mean)"
                    if r["expected"] == "solves"
                    else f"≤ {r['threshold']:g} (best)"
                )
                err.print(
                    f"[bold red]{r['level']} {r['control']} control failed[/]: {r['architecture']} should "
                    f"{r['expected'].removesuffix('s')} ({r['why']}); {r['metric']} mean {_fmt(r['mean'])}, "
                    f"best {_fmt(r['best'])}, needed {bound}"
                )
        out.print(f"[dim]runs and calibration.json in {out_dir}[/]")
    if not all(r["passed"] for r in rows):
        raise typer.Exit(1)


@dna_app.command("ladder")
@friendly
def ladder_cmd(
    levels: Annotated[str, typer.Option("--levels", help="Levels: D0,D2,… or all.")] = "all",
    models: Annotated[
        str | None, typer.Option("--models", help="Ladder architectures, comma-separated (default: all).")
    ] = None,
    seeds: Annotated[int, typer.Option("--seeds", min=1, max=20)] = 3,
    quick: QuickOpt = False,
    workers: WorkersOpt = 2,
    device: Annotated[str, typer.Option("--device")] = "auto",
    out_dir: Annotated[
        Path, typer.Option("--out", help="Runs (reused when rerun), ladder.json and ladder.md.")
    ] = Path("reports/dna_ladder"),
    reuse_only: Annotated[
        bool,
        typer.Option(
            "--reuse-only",
            help="Train nothing: build the table from the finished runs in --out (others: not run).",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """The DNA ladder: every architecture on every calibrated level (test AUROC or r, mean ± sd
    and best over seeds), the theory verdict per cell, the winner per level, and the test-long
    scores. Writes ladder.json and ladder.md (the README table) into --out; finished runs there
    are reused, so an interrupted ladder resumes. An architecture with a length limit (pairmap:
    128 bp) is not run on longer levels; --reuse-only regenerates the table without training."""
    from archlab.atomic import atomic_write
    from archlab.dna.ladder import ARCHITECTURES, get_architecture, ladder, ladder_markdown, parse_levels

    names = parse_levels(levels)
    labels = [get_architecture(x.strip()).label for x in models.split(",") if x.strip()] if models else None
    total = len(names) * len(labels or ARCHITECTURES)
    with err.status(f"ladder: {len(names)} levels × {total // max(1, len(names))} architectures …") as status:

        def done(rec: dict[str, Any], i: int, n: int) -> None:
            lv = rec.get("level", {}).get("name", "?")
            status.update(f"[{i}/{n}] {rec.get('architecture')} on {lv}, seed {rec.get('seed')} done")

        result = ladder(
            names, labels, seeds=list(range(seeds)), quick=quick, out_dir=out_dir, workers=workers,
            device=device, on_done=done, reuse_only=reuse_only,
        )  # fmt: skip
    md = ladder_markdown(result)
    atomic_write(out_dir / "ladder.md", lambda f: f.write(md))
    if json_out:
        echo_json(result)
        return
    if quick:
        out.print("[yellow]--quick: a smoke run on tiny sets; the figures are not measurements[/]")
    out.print(md)
    wall = result["wall_time_s"]
    out.print(f"[dim]{wall:.0f} s with {workers} worker(s); ladder.json and ladder.md in {out_dir}[/]")
