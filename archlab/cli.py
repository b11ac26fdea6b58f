"""The ``archlab`` command line (typer). Thin: parses, validates, delegates, prints.

Every user error (unknown name, bad parameter, bad config) is printed as one line on stderr
and exits with status 2, without a traceback.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from archlab import __version__
from archlab.cli_common import (
    OneLineErrors,
    echo_json,
    err,
    friendly,
    out,
    parse_params,
    parse_sets,
    set_pairs,
)
from archlab.cli_dna import dna_app
from archlab.cli_study import study_app
from archlab.cli_theory import theory_app
from archlab.errors import ConfigError

app = typer.Typer(
    name="archlab",
    help="archlab: test theories about sequence-model architectures on formal-language probes and DNA tasks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    cls=OneLineErrors,
)
probe_app = typer.Typer(
    help="Formal-language probes: list, sample, group facts, suites.", no_args_is_help=True
)
app.add_typer(probe_app, name="probe")
model_app = typer.Typer(
    help="Model zoo: mixers, their options and theory features; inspect one configuration.",
    no_args_is_help=True,
)
app.add_typer(model_app, name="model")
# ``archlab theory …``, ``archlab study …`` and ``archlab dna …`` live in their own modules
app.add_typer(theory_app, name="theory")
app.add_typer(study_app, name="study")
app.add_typer(dna_app, name="dna")


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(f"archlab {__version__}")
        raise typer.Exit()


# ---------------------------------------------------------------------------------------------
# archlab probe …
# ---------------------------------------------------------------------------------------------


def _probe_catalogue() -> list[dict[str, Any]]:
    from archlab.probes import PROBES, make_probe
    from archlab.probes.groups import STANDARD_GROUPS

    rows = [{**make_probe(name).describe(), "name": name} for name in PROBES.names()]
    rows += [{**make_probe(g).describe(), "name": g} for g in STANDARD_GROUPS]
    return rows


@probe_app.command("list")
@friendly
def probe_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
) -> None:
    """Every probe: name, family, theory class, vocabulary size and parameters.

    Any finite group name (`Zm`, `Sn`, `An`, `Dn`, products like `A4xZ5`) is also a probe: the
    standard ones are listed below the registry entries.
    """
    rows = _probe_catalogue()
    if as_json:
        echo_json(rows)
        return
    table = Table(title="archlab probes", title_justify="left")
    table.add_column("name", no_wrap=True)
    for col in ("family", "theory class", "vocab", "classes", "parameters (default)"):
        table.add_column(col, overflow="fold")
    for r in rows:
        params = ", ".join(f"{k}={v['default']}" for k, v in r["params"].items()) or "—"
        if r["family"] == "group":
            params = "group facts: " + _group_summary(r["theory"])
        table.add_row(
            r["name"], r["family"], r["theory"]["level"], str(r["vocab_size"]), str(r["n_classes"]), params
        )
    out.print(table)
    out.print("Any group name is a probe: archlab probe sample A4xZ5 --length 8 · archlab probe facts S5")


def _group_summary(f: dict[str, Any]) -> str:
    kind = "abelian" if f["abelian"] else ("solvable" if f["solvable"] else "non-solvable")
    return f"order {f['order']}, {kind}"


def _aligned(cols: list[tuple[str, str]], width: int) -> list[tuple[str, str]]:
    """Wrap aligned (input, target) columns into lines no wider than ``width``."""
    lines: list[tuple[str, str]] = []
    top: list[str] = []
    bottom: list[str] = []
    used = 0
    for a, b in cols:
        w = max(len(a), len(b))
        if used and used + w + 1 > width:
            lines.append((" ".join(top), " ".join(bottom)))
            top, bottom, used = [], [], 0
        top.append(a.ljust(w))
        bottom.append(b.ljust(w))
        used += w + 1
    if top:
        lines.append((" ".join(top), " ".join(bottom)))
    return lines


@probe_app.command("sample")
@friendly
def probe_sample(
    name: Annotated[
        str, typer.Argument(help="Probe name (see `archlab probe list`) or a group name such as S5.")
    ],
    length: Annotated[
        int, typer.Option("--length", "-L", help="Size parameter of the probe (input length).")
    ] = 12,
    n: Annotated[int, typer.Option("--n", "-n", help="Number of examples.")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the stream the examples come from.")] = 0,
    split: Annotated[str, typer.Option("--split", help="Seed stream: train or test.")] = "train",
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Probe parameter key=value (repeatable).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print tokens, targets, mask and vocabulary as JSON.")
    ] = False,
) -> None:
    """Show examples of a probe: input tokens and the label at every position ('·' = not scored)."""
    from archlab.probes import make_probe, stream_rng

    probe = make_probe(name, **parse_params(param))
    if n < 1:
        raise ConfigError("--n", f"{n} examples requested", ">= 1")
    batch = probe.sample(stream_rng(seed, split), n, length)
    if as_json:
        echo_json(
            {
                "probe": probe.spec(),
                "tokens": batch.tokens.tolist(),
                "targets": batch.targets.tolist(),
                "mask": batch.mask.tolist(),
                "vocab": {str(i): lab for i, lab in enumerate(probe.token_labels())},
                "target_vocab": {str(i): lab for i, lab in enumerate(probe.target_labels())},
                "params": probe.params,
                "length": length,
                "seed": seed,
                "split": split,
            }
        )
        return
    width = max(40, min(shutil.get_terminal_size((120, 20)).columns, 160) - 10)
    out.print(
        f"[bold]{probe.spec()}[/] · {probe.theory.level} · {probe.task} · length {length} "
        f"(T = {batch.shape[1]}) · seed {seed} ({split} stream)"
    )
    for i in range(n):
        inp, tgt = probe.format_row(batch.tokens[i], batch.targets[i], batch.mask[i])
        out.print(f"[dim]example {i + 1}[/]")
        for top, bottom in _aligned(list(zip(inp, tgt, strict=True)), width):
            out.print(f"  input   {top}", markup=False)
            out.print(f"  target  {bottom}", markup=False)


@probe_app.command("facts")
@friendly
def probe_facts(
    group: Annotated[
        str, typer.Argument(help="Group name: Zm, Sn, An, Dn (m, n numbers), or a product like A4xZ5.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the facts as a JSON object.")] = False,
) -> None:
    """The facts of a finite group computed by sympy (order, abelian, solvable, derived series …)."""
    from archlab.probes.groups import group_facts

    facts = group_facts(group)  # a bad name raises a ConfigError that explains the naming scheme
    if as_json:
        echo_json(facts)
        return
    table = Table(
        title=f"group {facts['group']} (sympy.combinatorics)", title_justify="left", show_header=False
    )
    table.add_column("fact", style="bold")
    table.add_column("value")
    for k, v in facts.items():
        table.add_row(k, "—" if v is None else str(v))
    out.print(table)


@probe_app.command("protocols")
@friendly
def probe_protocols(
    as_json: Annotated[bool, typer.Option("--json", help="Print every protocol as JSON.")] = False,
) -> None:
    """The published protocols archlab knows: paper, tasks, what is scored, lengths, metric,
    aggregation, the suite that follows it, and what archlab does not reproduce yet."""
    from archlab.probes.protocols import PROTOCOLS

    if as_json:
        echo_json([p.to_dict() for p in PROTOCOLS.values()])
        return
    for p in PROTOCOLS.values():
        span = lambda r: "—" if r is None else f"{r[0]}–{r[1]}"  # noqa: E731
        out.print(f"[bold]{p.name}[/]  {p.paper}")
        out.print(f"  tasks    {', '.join(p.tasks)}", markup=False)
        out.print(f"  scored   {p.scored}", markup=False)
        out.print(
            f"  lengths  train {span(p.train_lengths)}, test {span(p.test_lengths)}; {p.splits}", markup=False
        )
        out.print(f"  metric   {p.metric}; {p.aggregation}", markup=False)
        out.print(f"  suite    {p.suite or 'none'}", markup=False)
        for m in p.missing:
            out.print(f"  missing  {m}", markup=False)
        out.print(f"  source   {p.citation}", markup=False)
        by_task: dict[str, list[str]] = {}
        for r in p.published:
            mark = "" if r.verified else " (second-hand)"
            by_task.setdefault(r.label, []).append(f"{r.model} {r.value}{mark}")
        for task, cells in by_task.items():
            src = next(r for r in p.published if r.label == task)
            out.print(f"  published {task} ({src.metric}; {src.source}): {', '.join(cells)}", markup=False)


@probe_app.command("fixtures")
@friendly
def probe_fixtures(
    folder: Annotated[
        str,
        typer.Argument(
            help="A folder of peer fixture files (`*.jsonl.gz` with `*.vocab.json` beside them), e.g. "
            "../shared/fixtures/peers."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list, one object a file.")] = False,
) -> None:
    """Check archlab's paper-exact task variants against data made by the peers' own code.

    For every `*.jsonl.gz` file: the peer's input is labelled by archlab's variant of the task and
    compared with the peer's targets at the peer's scored positions. Prints file, peer, task, n
    (examples checked), mismatches and skipped_reason (why a file could not be checked). Exits 1
    when any file has a mismatch or was skipped.
    """

    from archlab.probes.fixtures import check_dir

    path = Path(folder)
    if not path.is_dir():
        raise ConfigError("FOLDER", f"{folder!r} is not a folder", "a folder of *.jsonl.gz files")
    checks = check_dir(path)
    if not checks:
        raise ConfigError("FOLDER", f"{folder!r} holds no *.jsonl.gz file", "a fixture folder")
    if as_json:
        echo_json([c.to_dict() for c in checks])
    else:
        table = Table(title=f"peer fixtures in {folder}", title_justify="left")
        for col in ("file", "peer", "task", "n", "mismatches", "skipped_reason"):
            table.add_column(col, overflow="fold")
        for c in checks:
            style = "" if c.ok else "red"
            reason = c.skipped_reason or (c.first_mismatch or "")
            table.add_row(
                c.file, c.peer or "—", c.task or "—", str(c.n), str(c.mismatches), reason, style=style
            )
        out.print(table)
        bad = [c for c in checks if not c.ok]
        rows = sum(c.n for c in checks)
        out.print(
            f"{len(checks)} files, {rows} examples checked: "
            f"{sum(c.mismatches > 0 for c in checks)} with mismatches, "
            f"{sum(c.skipped_reason is not None for c in checks)} skipped"
            + ("" if bad else " — every file agrees")
        )
    if any(not c.ok for c in checks):
        raise typer.Exit(1)


@probe_app.command("suite")
@friendly
def probe_suite(
    path: Annotated[
        str, typer.Argument(help="A suite YAML file, or a suite name in probes/ (e.g. chomsky).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the validated suite as JSON.")] = False,
) -> None:
    """Validate a probe suite and show its probes with their train and test lengths."""
    from archlab.probes.suite import ProbeSuite, find_suite

    file = find_suite(path)
    suite = ProbeSuite.load(file)
    if as_json:
        echo_json(
            {
                "name": suite.name,
                "file": str(file),
                "protocol": suite.config.protocol or None,
                "forbid_test_in_train": suite.config.forbid_test_in_train,
                "reserve_fraction": suite.config.reserve_fraction,
                "probes": [
                    {
                        "probe": e.name,
                        "test_probe": e.test_probe.spec(),
                        "train_lengths": list(e.train_lengths),
                        "test_lengths": list(e.test_lengths),
                        "train_set_size": e.train_set_size,
                        "theory": e.probe.theory.to_dict(),
                    }
                    for e in suite
                ],
            }
        )
        return
    proto = f", protocol {suite.config.protocol}" if suite.config.protocol else ""
    table = Table(
        title=f"suite {suite.name} ({file}{proto})", title_justify="left", caption=suite.config.description
    )
    table.add_column("probe", no_wrap=True)
    for col in ("theory class", "train lengths", "test lengths", "training data"):
        table.add_column(col)
    for e in suite:
        data = f"fixed set of {e.train_set_size}" if e.train_set_size else "stream"
        changed = {k: v for k, v in e.test_probe.params.items() if e.probe.params.get(k) != v}
        if changed:
            data += "; test " + ", ".join(f"{k}={v}" for k, v in changed.items())
        table.add_row(e.name, e.probe.theory.level, _span(e.train_lengths), _span(e.test_lengths), data)
    out.print(table)


def _span(lengths: tuple[int, ...]) -> str:
    if len(lengths) <= 4:
        return ", ".join(map(str, lengths))
    return f"{lengths[0]}…{lengths[-1]} ({len(lengths)} lengths)"


# ---------------------------------------------------------------------------------------------
# archlab model …
# ---------------------------------------------------------------------------------------------

#: ModelConfig fields of the three search axes, the input stem and the DNA-only ``rc``, shown by
#: ``model list`` (every mixer takes them)
AXIS_FIELDS = {
    "recurrence depth": (
        "fp_iters",
        "fp_tol",
        "fp_mixer",
        "fp_rank",
        "fp_sample",
        "fp_shift",
        "fp_grad",
        "fp_eval_iters",
        "depth_repeat",
        "halting",
        "ponder_cost",
    ),
    "hierarchy": ("hier_levels", "hier_stride", "hier_chunking", "hier_ratio_loss"),
    "context pruning": ("prune", "prune_gamma", "prune_keep"),
    "input stem (every mixer)": ("stem", "stem_kernel", "stem_width"),
    "reverse complement (DNA tasks only)": ("rc",),
}


def _mixer_catalogue() -> list[dict[str, Any]]:
    from archlab.config import ModelConfig
    from archlab.models import MIXERS, model_features

    rows = []
    for key, cls in MIXERS.items():
        name = cls.name or key  # a plugin's name as given (a dotted path keeps its case)
        cfg = ModelConfig(mixer=name)
        options = {
            f: {"allowed": list(allowed) if allowed else "any", "default": cls.opt(cfg, f)}
            for f, allowed in cls.options.items()
        }
        rows.append(
            {
                "name": name,
                "summary": cls.summary,
                "plugin": cls.plugin or None,  # module:Class of a mixer from outside archlab
                "transition": cls.transition(cfg),
                "recurrent": cls.recurrent,
                "supports_fixed_point": cls.recurrent,
                "supports_noncausal": cls.supports_noncausal,
                "supports_prune": cls.supports_prune,
                "options": options,
                "features": model_features(cfg, vocab_size=16, n_outputs=16).to_dict(),
            }
        )
    return rows


@model_app.command("list")
@friendly
def model_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
) -> None:
    """Every mixer: what it is, its options (allowed values, default), the axes it supports and
    its theory features at the default configuration (width 64, 2 layers). Plugins (entry-point
    group archlab.mixers) are listed too, with the class they come from."""
    rows = _mixer_catalogue()
    if as_json:
        echo_json(rows)
        return
    out.print("[bold]archlab mixers[/] (features at the defaults: width 64, 2 layers)\n")
    for r in rows:
        opts = " · ".join(
            f"{k}={v['default']}"
            + (f" {{{', '.join(map(str, v['allowed']))}}}" if v["allowed"] != "any" else "")
            for k, v in r["options"].items()
        )
        axes = ["depth", "hierarchy"]
        if r["supports_fixed_point"]:
            axes.insert(0, "fixed-point")
        if r["supports_prune"]:
            axes.append("pruning")
        if r["supports_noncausal"]:
            axes.append("non-causal")
        f = r["features"]
        state = (
            "grows with T"
            if f["state_floats_per_layer"] is None
            else f"{f['state_floats_per_layer']} floats/layer"
        )
        out.print(f"[bold cyan]{r['name']}[/]  {r['summary']}")
        out.print(f"  transition {r['transition']} · state {state} · {f['params_body']:,} params")
        out.print(f"  options    {opts or '—'}")
        out.print(f"  axes       {', '.join(axes)}")
    from archlab.dna.nets import DNA_NETS

    out.print("\n[bold]DNA networks[/] (archlab dna … --model NAME; they read DNA codes, not tokens)")
    for name, net in DNA_NETS.items():
        out.print(f"[bold cyan]{name}[/]  {net.summary}")
    out.print()
    for axis, fields in AXIS_FIELDS.items():
        out.print(f"[bold]{axis}[/]: {', '.join(fields)}")
    out.print("Inspect one: archlab model show --set mixer=householder --set householder_factors=2")


@model_app.command("show")
@friendly
def model_show(
    sets: Annotated[
        list[str] | None, typer.Option("--set", help="A ModelConfig field, key=value (repeatable).")
    ] = None,
    config: Annotated[str | None, typer.Option("--config", help="YAML file with ModelConfig fields.")] = None,
    vocab: Annotated[int, typer.Option(help="Input vocabulary size (for the parameter count).", min=1)] = 16,
    outputs: Annotated[int, typer.Option(help="Output classes (for the parameter count).", min=1)] = 16,
    length: Annotated[int, typer.Option(help="Sequence length for the FLOPs estimate.", min=1)] = 256,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object instead of text.")] = False,
) -> None:
    """One architecture: parameter count, state size, FLOPs per token and theory features.

    Example: archlab model show --set mixer=diag_rnn --set eig_range=signed --set fp_iters=8
    """
    import torch

    from archlab.config import ModelConfig, load_yaml, validate
    from archlab.models import build_model

    data: dict[str, Any] = {}
    if config:
        loaded = load_yaml(config) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(config, "expected a mapping of ModelConfig fields")
        data.update(loaded.get("model", loaded))
    data.update(parse_sets(sets))
    cfg = validate(ModelConfig, data, source=config or "--set")
    feats = build_model(cfg, vocab, outputs, device="meta").features(seq_len=length, dtype=torch.float32)
    if as_json:
        echo_json({"config": cfg.model_dump(), "features": feats.to_dict()})
        return
    f = feats.to_dict()
    table = Table(
        title=f"{cfg.mixer} (vocab {vocab}, {outputs} outputs)", title_justify="left", show_header=False
    )
    table.add_column("feature", style="bold")
    table.add_column("value", overflow="fold")
    state = (
        "grows with the context (KV cache)"
        if f["state_floats"] is None
        else f"{f['state_floats']:,} floats = {f['state_bits']:,} bits ({f['state_bits_bound']})"
    )
    rows = [
        ("parameters", f"{f['params']:,} ({f['params_body']:,} without embedding and head)"),
        ("state", state),
        ("FLOPs per token", f"{f['flops_per_token']:,.0f} (forward, T = {length}; fixed-point at its cap)"),
    ]
    rows += [
        (k, str(v))
        for k, v in f.items()
        if k not in ("params", "params_body", "state_bits_bound", "flops_per_token", "flops_seq_len")
    ]
    for k, v in rows:
        table.add_row(k, v)
    out.print(table)
    changed = {k: v for k, v in cfg.model_dump(exclude_defaults=True).items()}
    out.print(f"config (non-default fields): {changed or '{}'}")


# ---------------------------------------------------------------------------------------------
# archlab train
# ---------------------------------------------------------------------------------------------


def parse_lrs(text: str) -> list[float]:
    """``"1e-3,3e-3,1e-2"`` → positive learning rates (a bad one names ``--lrs``)."""
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError("--lrs", f"{text!r} is not a list of numbers", "e.g. 1e-3,3e-3,1e-2") from None
    if not values or min(values) <= 0:
        raise ConfigError("--lrs", f"{text!r} gives no positive learning rates", "e.g. 1e-3,3e-3,1e-2")
    return values


#: the most seeds one command trains (a typo like 0-1000000000 is refused before any work)
MAX_SEEDS = 10_000


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` or ``"0-4"`` → a list of non-negative seeds."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi - lo + 1 + len(seeds) > MAX_SEEDS:
                    raise ConfigError(
                        "--seeds", f"{text!r} gives more than {MAX_SEEDS} seeds", f"<= {MAX_SEEDS} seeds"
                    )
                seeds += list(range(lo, hi + 1))
            elif part:
                seeds.append(int(part))
    except ConfigError:
        raise
    except ValueError:
        raise ConfigError("--seeds", f"{text!r} is not a list of integers", "e.g. 0,1,2 or 0-4") from None
    if not seeds or min(seeds) < 0:
        raise ConfigError("--seeds", f"{text!r} gives no non-negative seeds", "e.g. 0,1,2 or 0-4")
    if len(seeds) > MAX_SEEDS:
        raise ConfigError("--seeds", f"{text!r} gives more than {MAX_SEEDS} seeds", f"<= {MAX_SEEDS} seeds")
    return seeds


def split_sets(items: list[str] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``--set`` values → (ModelConfig fields, TrainConfig fields). ``model.``/``train.`` prefixes
    are optional; an unprefixed key goes where it is a field."""
    from archlab.config import ModelConfig, TrainConfig

    model: dict[str, Any] = {}
    train: dict[str, Any] = {}
    for key, value in set_pairs(items):
        section, dot, name = key.partition(".")
        if dot and section in ("model", "train"):
            (model if section == "model" else train)[name] = value
        elif key in ModelConfig.model_fields:
            model[key] = value
        elif key in TrainConfig.model_fields:
            train[key] = value
        else:
            from archlab.errors import UnknownNameError

            raise UnknownNameError(
                "--set field",
                key,
                [*ModelConfig.model_fields, *TrainConfig.model_fields],
                "model or train fields",
            )
    return model, train


def _train_sources(probe: str | None, suite: str | None, params: list[str] | None) -> list[Any]:
    from archlab.probes import make_probe
    from archlab.probes.suite import ProbeSuite, find_suite
    from archlab.train import DataSource

    if probe is None and suite is None:
        raise ConfigError(
            "--probe/--suite", "give --probe NAME, --suite FILE, or both (one probe of a suite)"
        )
    if suite is not None:
        s = ProbeSuite.load(find_suite(suite))
        entries = list(s)
        if probe is not None:  # the suite's entries of that probe (by name or full spec)
            entries = [e for e in s if probe in (e.probe.name, e.name)]
            if not entries:
                from archlab.errors import UnknownNameError

                raise UnknownNameError(
                    f"probe of suite {s.name!r}", probe, sorted({e.name for e in s}), "--probe with --suite"
                )
            if params:
                raise ConfigError("--param", "a suite fixes its probes' parameters; edit the suite instead")
        return [DataSource.from_suite(s, e) for e in entries]
    assert probe is not None
    return [DataSource.from_probe(make_probe(probe, **parse_params(params)))]


@app.command("train")
@friendly
def train_cmd(
    probe: Annotated[str | None, typer.Option("--probe", help="Probe name (any group name works).")] = None,
    suite: Annotated[
        str | None,
        typer.Option(
            "--suite", help="Train on every probe of a suite (with --probe: only that probe's entries)."
        ),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Mixer name (archlab model list).")] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="model.FIELD=V or train.FIELD=V (prefix optional); repeatable."),
    ] = None,
    params: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Probe parameter key=value.")
    ] = None,
    config: Annotated[
        str | None, typer.Option("--config", help="YAML with model: and train: sections.")
    ] = None,
    seeds: Annotated[str, typer.Option("--seeds", help="Seeds, e.g. 0,1,2 or 0-4.")] = "0",
    lrs: Annotated[
        str | None,
        typer.Option("--lrs", help="Learning rates, e.g. 1e-3,3e-3,1e-2: every seed is trained at each."),
    ] = None,
    stacked: Annotated[
        bool,
        typer.Option(
            "--stacked/--one-by-one",
            help="Train the seeds × lrs of each probe as one stacked model (one step for all members; "
            "same records as separate runs). Mixers that cannot be stacked run one by one anyway.",
        ),
    ] = False,
    out_dir: Annotated[str, typer.Option("--out", help="Folder for run directories.")] = "runs",
    tensorboard: Annotated[
        Path | None,
        typer.Option(
            "--tensorboard",
            help="Also write each run's loss and validation curves to TensorBoard under DIR/RUN_ID "
            '(needs pip install "archlab[tracking]").',
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result records as a JSON list.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh", help="Retrain runs whose finished record is already in --out (default: reuse it)."
        ),
    ] = False,
) -> None:
    """Train a model on a probe (or each probe of a suite), then evaluate length generalisation.

    Each (probe, seed, lr) run writes `OUT/RUN_ID/result.json` (atomically) with the config, seeds,
    versions, training curve and per-length accuracies. Example:

        archlab train --probe parity --model diag_rnn --set eig_range=signed --seeds 0,1,2

    With --stacked the members of a probe's cell train together (archlab.ensemble); on 2 CPU cores
    that is 0.75–2x the speed of one by one (benchmarks/bench_train.py), so it is off by default.
    A run whose finished record is already in --out (same run id: same probe, model, training
    config, seed and lr) is reused, as `reproduce` does; --fresh retrains it. --out is checked
    to be a writable folder before any training.
    """

    from archlab.config import ModelConfig, TrainConfig, load_yaml, validate
    from archlab.ensemble import train_cell
    from archlab.train import finished_record, run_id

    model_data: dict[str, Any] = {}
    train_data: dict[str, Any] = {}
    if config:
        loaded = load_yaml(config) or {}
        if not isinstance(loaded, dict) or set(loaded) - {"model", "train"}:
            raise ConfigError(config, "expected a mapping with 'model' and/or 'train' sections")
        for section, into in (("model", model_data), ("train", train_data)):
            part = loaded.get(section) or {}
            if not isinstance(part, dict):
                raise ConfigError(
                    f"{config}: {section}", f"must be a mapping of fields, not {type(part).__name__}"
                )
            into.update(part)
    if model:
        model_data["mixer"] = model
    set_model, set_train = split_sets(sets)
    model_data.update(set_model)
    train_data.update(set_train)
    model_cfg = validate(ModelConfig, model_data, source="model")
    train_cfg = validate(TrainConfig, train_data, source="train")
    sources = _train_sources(probe, suite, params)
    _check_out_dir(Path(out_dir))
    if "mixer" not in model_data:
        err.print(
            f"no --model (nor mixer in --config/--set): using the default mixer {model_cfg.mixer!r} "
            f"(width {model_cfg.width}, {model_cfg.layers} layers)"
        )
    if tensorboard is not None:
        from archlab.tracking import check_tensorboard

        check_tensorboard()
    seed_list = parse_seeds(seeds)
    lr_list = parse_lrs(lrs) if lrs else [train_cfg.lr]
    show = not (quiet or as_json) and out.is_terminal
    records = []
    for source in sources:
        cfgs = [train_cfg.model_copy(update={"seed": s, "lr": lr}) for s in seed_list for lr in lr_list]
        dirs = [Path(out_dir) / run_id(source.probe, model_cfg, c) for c in cfgs]
        done = {} if fresh else {d: rec for d in dirs if (rec := finished_record(d)) is not None}
        for d, rec in done.items():
            rec["run_dir"] = str(d)
            records.append(rec)
            if not as_json:
                out.print(f"[dim]reused the finished run in {d} (--fresh retrains it)[/]")
                _print_record(rec)
        todo = [(c, d) for c, d in zip(cfgs, dirs, strict=True) if d not in done]
        if not todo:
            continue
        cfgs, dirs = [c for c, _ in todo], [d for _, d in todo]
        if stacked:
            label = f"{source.probe.spec()} · {model_cfg.mixer} · {len(cfgs)} members"
            with _progress(label, train_cfg.steps, show) as bar, _tracked(tensorboard, dirs[0], bar) as hook:
                cell = train_cell(source, model_cfg, cfgs, out_dirs=dirs, progress=hook)
        else:
            cell = []
            for c, d in zip(cfgs, dirs, strict=True):
                lr_note = f" · lr {c.lr:g}" if len(lr_list) > 1 else ""
                with (
                    _progress(
                        f"{source.probe.spec()} · {model_cfg.mixer} · seed {c.seed}{lr_note}", c.steps, show
                    ) as bar,
                    _tracked(tensorboard, d, bar) as hook,
                ):
                    cell += train_cell(source, model_cfg, [c], out_dirs=[d], progress=hook)
        for rec, d in zip(cell, dirs, strict=True):
            rec["run_dir"] = str(d)
            records.append(rec)
            if not as_json:
                _print_record(rec)
    if as_json:
        echo_json(records)
    elif len(records) > 1:
        _print_seed_summary(records)


def _tracked(tensorboard: Path | None, run_dir: Path, then: Any) -> Any:
    """The progress hook ``then``, also writing to TensorBoard under ``tensorboard/<run id>``
    (a stacked cell: its first member's run id, the curves being the cell's mean)."""
    import contextlib

    if tensorboard is None:
        return contextlib.nullcontext(then)
    from archlab.tracking import tensorboard_hook

    return tensorboard_hook(tensorboard / run_dir.name, then)


def _check_out_dir(path: Any) -> None:
    """Refuse an --out that is a file or cannot be written, before any training (not after)."""
    import os
    import tempfile

    if path.exists() and not path.is_dir():
        raise ConfigError("--out", f"{path} is a file, not a folder", "a folder for the run directories")
    base = path  # the nearest folder that exists (--out itself is created only when a run starts)
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise ConfigError(
            "--out", f"{path}: {base} is a file, not a folder", "a folder for the run directories"
        )
    try:
        with tempfile.NamedTemporaryFile(dir=base, prefix=".archlab-write-check-"):
            pass
    except OSError as exc:
        raise ConfigError(
            "--out", f"cannot write to {base}: {exc.strerror or exc}", "a writable folder"
        ) from None
    if not os.access(base, os.W_OK | os.X_OK):
        raise ConfigError("--out", f"cannot write to {base}", "a writable folder")


def _progress(label: str, total: int, show: bool) -> Any:
    import contextlib

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not show:
        return contextlib.nullcontext(None)

    @contextlib.contextmanager
    def ctx() -> Any:
        bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"), console=out, transient=True,
        )  # fmt: skip
        with bar:
            task = bar.add_task(label, total=total, info="")

            def hook(step: int, _total: int, m: dict[str, float]) -> None:
                info = f"loss {m['loss']:.4f}"
                if "val_seq_acc" in m:
                    info += f" · val seq acc {m['val_seq_acc']:.3f}"
                bar.update(task, completed=step, info=info)

            yield hook

    return ctx()


def _print_record(rec: dict[str, Any]) -> None:
    colour = {"solved": "green", "completed": "yellow"}.get(rec["status"], "red")
    reason = f" ({rec['reason']})" if rec["reason"] else ""
    out.print(
        f"[bold]{rec['probe']}[/] · {rec['model']['mixer']} · seed {rec['seed']} · "
        f"lr {rec['train']['lr']:g}: "
        f"[{colour}]{rec['status']}[/]{reason} after {rec['steps_run']} steps, "
        f"{rec['tokens_seen']:,} tokens, {rec['wall_time_s']:.1f} s → {rec.get('run_dir', '')}"
    )
    if rec["range_eval"]:
        table = Table(show_edge=False, box=None, pad_edge=False)
        for col in ("length", "token acc", "seq acc", "scaled acc"):
            table.add_column(col, justify="right")
        for r in rec["range_eval"]:
            table.add_row(
                str(r["length"]), f"{r['token_acc']:.3f}", f"{r['seq_acc']:.3f}", f"{r['scaled_acc']:.3f}"
            )
        out.print(table)
    if rec.get("protocol"):
        for dev in rec.get("protocol_deviations", []):
            out.print(f"  deviates from {rec['protocol']}: {dev}", markup=False)
        for pub in rec.get("published", []):
            mark = "" if pub["verified"] else ", second-hand"
            out.print(
                f"  published ({rec['protocol']}): {pub['model']} {pub['value']} — {pub['metric']} "
                f"({pub['source']}{mark})",
                markup=False,
            )


def _print_seed_summary(records: list[dict[str, Any]]) -> None:
    import statistics

    groups: dict[str, list[dict[str, Any]]] = {}
    lrs = {r["train"]["lr"] for r in records}
    for r in records:
        groups.setdefault(r["probe"] + (f" · lr {r['train']['lr']:g}" if len(lrs) > 1 else ""), []).append(r)
    for probe_name, recs in groups.items():
        if len(recs) < 2:
            continue
        table = Table(
            title=f"{probe_name}: mean ± sd over {len(recs)} seeds "
            "(sequence accuracy; scaled token accuracy)",
            title_justify="left",
        )
        for col in ("length", "seq acc", "scaled acc"):
            table.add_column(col, justify="right")
        lengths = sorted({row["length"] for r in recs for row in r["range_eval"]})
        for length in lengths:
            seq = [row["seq_acc"] for r in recs for row in r["range_eval"] if row["length"] == length]
            sc = [row["scaled_acc"] for r in recs for row in r["range_eval"] if row["length"] == length]

            def cell(xs: list[float]) -> str:  # one run has no spread to show
                return f"{statistics.mean(xs):.3f}" + (
                    f" ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else ""
                )

            table.add_row(str(length), cell(seq), cell(sc))
        out.print(table)


# ---------------------------------------------------------------------------------------------
# archlab reproduce
# ---------------------------------------------------------------------------------------------


@app.command("reproduce")
@friendly
def reproduce_cmd(
    quick: Annotated[bool, typer.Option("--quick", help="Rows 1–3, one seed, smaller budgets.")] = False,
    seeds: Annotated[
        int | None, typer.Option("--seeds", help="Seeds per case (default 1 quick, 3 full).", min=1)
    ] = None,
    rows: Annotated[str | None, typer.Option("--rows", help="Only these row ids, e.g. 1,2,3-A5.")] = None,
    out_dir: Annotated[
        str, typer.Option("--out", help="Folder for the table and the runs.")
    ] = "reports/reproduce",
    as_json: Annotated[bool, typer.Option("--json", help="Print the table as a JSON list.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            "-j",
            min=1,
            help="Training runs at once, in separate processes (cores split between them).",
        ),
    ] = 1,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Retrain runs whose finished record is already in --out.")
    ] = False,
    lrs: Annotated[
        str | None,
        typer.Option(
            "--lrs",
            help="A learning-rate grid, e.g. 1e-3,3e-3,1e-2, run in place of each row's own lr: a "
            "case is classified by its best run over seeds × lrs.",
        ),
    ] = None,
    stacked: Annotated[
        bool,
        typer.Option(
            "--stacked/--one-by-one",
            help="Train each case's seeds × lrs as one stacked model (same records as separate runs; "
            "0.75–2x the speed on 2 CPU cores, see benchmarks/bench_train.py).",
        ),
    ] = False,
) -> None:
    """Rerun the published expressivity verdicts (THEORY.md) at CPU scale: measured vs expected.

    Each case trains one architecture on one probe (same budget within a row) and is scored by
    its mean scaled accuracy on test lengths beyond training (solves if >= 0.9). A "fails"
    expectation is marked inconclusive when no "solves" case of its row succeeded. Runs already
    finished in --out (same configuration and seed) are reused, so an interrupted matrix resumes.
    """
    from archlab.errors import UnknownNameError
    from archlab.reproduce import ROWS, run_matrix, summarise

    chosen = [r for r in ROWS if r.in_quick] if quick else list(ROWS)
    if rows:
        wanted = [x.strip() for x in rows.split(",") if x.strip()]
        known = {r.id for r in ROWS}
        for w in wanted:
            if w not in known:
                raise UnknownNameError("reproduction row", w, known)
        chosen = [r for r in ROWS if r.id in wanted]
    n_seeds = seeds if seeds is not None else (1 if quick else 3)
    lr_grid = parse_lrs(lrs) if lrs else None
    show = not (quiet or as_json) and out.is_terminal

    def factory(label: str, total: int) -> Any:
        return _progress(label, total, True)

    def on_case(row: Any, case: Any, seed: int, rec: dict[str, Any]) -> None:
        if not as_json:
            from archlab.reproduce import measured_value

            v = measured_value(rec, max(rec["train_lengths"]))
            val = "—" if v is None else f"{v:.3f}"
            err.print(
                f"row {row.id} · {case.label} · seed {seed}: {rec['status']}, "
                f"scaled acc beyond training {val} ({rec['wall_time_s']:.0f} s)"
            )

    results = run_matrix(
        chosen,
        list(range(n_seeds)),
        quick,
        out_dir,
        on_case=on_case,
        progress_factory=factory if show and workers == 1 else None,
        workers=workers,
        resume=not fresh,
        lrs=lr_grid,
        stacked=stacked,
    )
    json_path, csv_path = summarise(results, out_dir)
    if as_json:
        echo_json(results)
        return
    table = Table(
        title=f"reproduction matrix ({'quick' if quick else 'full'}, {n_seeds} seed(s)); metric: mean scaled "
        "token accuracy over test lengths beyond training; aggregation: best of the seeds, solves if >= 0.9",
        title_justify="left",
    )
    for col in (
        "row",
        "probe",
        "architecture",
        "rule",
        "expected",
        "measured: best (mean ± sd, n)",
        "agrees",
    ):
        table.add_column(col)
    for r in results:
        m = (
            "—"
            if r["measured_mean"] is None
            else f"{r['measured_best']:.3f} ({r['measured_mean']:.3f} ± {r['measured_sd']:.3f}, "
            f"n={r['n_seeds']})"
        )
        verdict = {"agree": "[green]yes[/]", "not-learned": "[yellow]no: not learned[/]"}.get(
            r["verdict"], "[bold red]NO: VIOLATION[/]"
        )
        if not r["conclusive"]:
            verdict += " (inconclusive: no success in this row)"
        table.add_row(
            r["row"], r["probe"], r["case"], r["rule"], r["expected"], f"{m} → {r['measured']}", verdict
        )
    out.print(table)
    n_agree = sum(r["agrees"] for r in results)
    n_nl = sum(r["verdict"] == "not-learned" for r in results)
    n_v = sum(r["verdict"] == "violation" for r in results)
    out.print(
        f"{n_agree}/{len(results)} cases agree with the literature; {n_nl} not learned within the budget "
        f"(expressible, training did not find it); {n_v} violations. Table: {csv_path} · {json_path}"
    )


# ---------------------------------------------------------------------------------------------
# archlab demo
# ---------------------------------------------------------------------------------------------


@app.command("report")
@friendly
def report_cmd(
    sources: Annotated[
        list[str],
        typer.Argument(
            metavar="SOURCE…",
            help="A folder of runs (result.json below it), or a study name; several: side by side.",
        ),
    ],
    out_dir: Annotated[str, typer.Option("--out", help="Where the plots, CSVs and summary.md go.")],
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            envvar="ARCHLAB_STORAGE",
            help="The study's storage URL or @FILE holding it (default: $ARCHLAB_STORAGE, else "
            "studies/NAME.journal).",
        ),
    ] = None,
    html: Annotated[bool, typer.Option("--html", help="Also summary.html, self-contained.")] = False,
    threshold: Annotated[
        float, typer.Option("--threshold", min=0.0, max=1.0, help="Solved = mean ≥ this.")
    ] = 0.9,
    metric: Annotated[str, typer.Option("--metric", help="seq_acc, token_acc or scaled_acc.")] = "seq_acc",
    json_out: Annotated[bool, typer.Option("--json", help="Print what was written as JSON.")] = False,
) -> None:
    """Plots (PNG + SVG), CSV tables and summary.md for a study or a folder of runs: what was run,
    a leaderboard and the best architectures, theory vs measurement per class, every violation
    and not-learned cell, provenance. Several sources: each one's report in OUT/N-NAME/, and
    OUT/summary.md (and comparison.csv) with their leaderboards side by side."""
    from archlab.analysis.report import write_comparison, write_report

    if metric not in ("seq_acc", "token_acc", "scaled_acc"):
        raise ConfigError("--metric", f"unknown metric {metric!r}", "seq_acc, token_acc, scaled_acc")
    if len(sources) > 1:
        with err.status("writing the reports …") as status:
            summary, reports = write_comparison(
                sources, out=out_dir, storage=storage, threshold=threshold, metric=metric, html=html,
                on_step=status.update,
            )  # fmt: skip
        if json_out:
            echo_json({"summary": str(summary), "reports": [str(r.summary) for r in reports]})
            return
        out.print(f"{len(reports)} reports compared: [bold]{summary}[/]")
        return
    source = sources[0]
    with err.status("writing the report …") as status:
        rep = write_report(
            source, out=out_dir, storage=storage, html=html, threshold=threshold, metric=metric,
            on_step=status.update,
        )  # fmt: skip
    if json_out:
        echo_json(
            {
                "out": str(rep.out),
                "summary": str(rep.summary),
                "plots": {k: str(v) for k, v in rep.plots.items()},
                "skipped": rep.skipped,
                "tables": {k: str(v) for k, v in rep.tables.items()},
                "counts": rep.counts,
                "headline": rep.headline,
            }
        )
        return
    for line in rep.headline[:10]:
        out.print(f"  {line}")
    out.print(f"{len(rep.plots)} plot(s), {len(rep.tables)} table(s); skipped: {len(rep.skipped)}")
    out.print(f"report: [bold]{rep.summary}[/]" + (f" and {rep.out / 'summary.html'}" if html else ""))


@app.command("init")
@friendly
def init(
    folder: Annotated[Path, typer.Argument(help="Where to copy them (created if missing).")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that are already there.")] = False,
) -> None:
    """Copy the shipped study specs (into DIR/search/) and probe suites (into DIR/probes/) for
    editing. Commands run in DIR then find them by name before the shipped ones (`archlab study run
    demo` reads ./search/demo.yaml). Files already there are kept unless --force."""
    import operator

    from archlab.atomic import atomic_write
    from archlab.shipped import editable_files

    plan = [(src, folder / rel) for src, rel in editable_files()]
    kept = [dst for _, dst in plan if dst.exists() and not force]
    for src, dst in plan:
        if dst not in kept:
            atomic_write(dst, operator.methodcaller("write", src.read_bytes()), mode="wb")  # f.write(bytes)
    wrote = len(plan) - len(kept)
    out.print(f"wrote {wrote} file(s) to {folder / 'search'} and {folder / 'probes'}")
    if kept:
        listed = ", ".join(str(k) for k in kept)
        out.print(f"kept {len(kept)} that were already there (--force overwrites): {listed}")


@app.command("demo")
@friendly
def demo(
    out_dir: Annotated[str, typer.Option("--out", help="Where the report goes.")] = "reports/demo",
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke run: 3 short trials, a tiny DNA set.")
    ] = False,
) -> None:
    """The lab in one command (what `make demo` runs; ≈5 minutes on 2 CPU cores): a tour of the
    probes, a theory-seeded search over four state-tracking problems (search/demo.yaml), its
    agreement with theory, one DNA grammar level with its baselines, and a report in --out."""
    import time as _time

    import optuna

    from archlab.analysis.report import write_report
    from archlab.dna.baselines import run_baselines
    from archlab.dna.grammar import make_dataset
    from archlab.search import load_spec, run_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # everything the demo needs, checked before any work: its spec and suite, a writable --out,
    # the JASPAR motifs of the DNA part (pyjaspar's bundled database)
    spec = load_spec("demo")  # ./search/demo.yaml, else the shipped one
    _check_out_dir(Path(out_dir))
    try:
        from archlab.dna.motifs import known_motifs

        known_motifs()
    except Exception as exc:  # a broken pyjaspar install: say so before the tour, not after
        raise ConfigError(
            "pyjaspar", f"the JASPAR database cannot be read ({type(exc).__name__}: {exc})"
        ) from None
    start = _time.perf_counter()
    _demo_tour()
    _demo_parity()
    if quick:
        spec = spec.model_copy(
            update={
                "train": {**spec.train, "steps": 30, "eval_every": 15},
                "budget": spec.budget.model_copy(update={"n_trials": 3}),
            }
        )
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    journal = folder / "demo.journal"
    journal.unlink(missing_ok=True)  # every number in the report is measured in this run
    out.rule(f"[bold]search: {spec.description}")
    out.print(
        f"{spec.budget.n_trials} trials, sampler {spec.sampler.name} (seed {spec.sampler.seed}), pruner "
        f"{spec.pruner.name}; theory enqueues the architectures it predicts can express all four first."
    )
    study = run_study(spec, f"journal:{journal}", quiet=False)
    out.rule("[bold]DNA: grammar level D2 (A then B at a fixed gap) and its baselines")
    n = 200 if quick else 4000
    ds = make_dataset("D2", 400, n_train=n, n_valid=n // 4, n_test=n // 2, seed=0)
    with err.status("D2 baselines …") as status:
        dna = run_baselines(ds, seeds=(0,), epochs=1 if quick else 10, on_step=status.update)
    out.print(
        f"D2 at 400 bp (test AUROC): GC {dna['gc']:.3f}, k-mer {dna['kmer']:.3f} (both built to stay "
        f"at chance), one-hot CNN {dna['cnn_mean']:.3f} (1 seed)"
    )
    from archlab.atomic import write_json_atomic

    write_json_atomic(folder / "dna" / "D2_baselines.json", dna)
    with err.status("writing the report …") as status:
        rep = write_report(
            spec.name, storage=f"journal:{journal}", out=folder, html=True, dna=[dna], on_step=status.update
        )
    out.rule("[bold]what this run found")
    lines = [
        *rep.headline,
        f"DNA D2: GC {dna['gc']:.3f}, k-mer {dna['kmer']:.3f}, CNN {dna['cnn_mean']:.3f} (AUROC)",
    ]
    lines.append(
        f"{len(study.trials)} trials, {len(rep.plots)} plots, "
        f"{(_time.perf_counter() - start) / 60:.1f} min in all"
    )
    for line in lines[:10]:
        out.print(f"  {line}")
    out.print(f"report: [bold]{rep.summary}[/] (and summary.html)")


def _demo_tour() -> None:
    """The probes and the group facts (a few seconds)."""
    from rich.progress import track

    showcase = [
        ("parity", {}, 10),
        ("S3", {}, 6),
        ("A4xZ5", {}, 5),
        ("flip_flop", {}, 12),
        ("dyck", {}, 12),
        ("reverse_string", {}, 5),
        ("copy", {"alphabet": 4}, 5),
        ("mqar", {"n_pairs": 3, "vocab": 16}, 12),
    ]
    out.rule("[bold]archlab demo: the formal-language probes")
    from archlab.probes import PROBES, make_probe, stream_rng

    out.print(f"{len(PROBES)} probes registered, and every finite group by name. A few examples:\n")

    for name, params, length in track(showcase, description="sampling probes", console=out, transient=True):
        probe = make_probe(name, **params)
        b = probe.sample(stream_rng(0, "train"), 1, length)
        inp, tgt = probe.format_row(b.tokens[0], b.targets[0], b.mask[0])
        out.print(f"[bold]{probe.spec()}[/]  ({probe.theory.level}: {probe.task})")
        for top, bottom in _aligned(list(zip(inp, tgt, strict=True)), 100):
            out.print(f"  input   {top}", markup=False)
            out.print(f"  target  {bottom}", markup=False)
    from archlab.probes.groups import group_facts

    table = Table(title="The state-tracking groups (facts from sympy)", title_justify="left")
    for col in ("group", "order", "abelian", "solvable", "derived length", "max reflections (perm rep)"):
        table.add_column(col)
    for g in ("Z2", "Z3", "Z60", "S3", "A4", "A4xZ5", "A5", "S5"):
        f = group_facts(g)
        table.add_row(
            g, str(f["order"]), str(f["abelian"]), str(f["solvable"]),
            "—" if f["derived_length"] is None else str(f["derived_length"]),
            str(f["max_reflections_perm_rep"]),
        )  # fmt: skip
    out.print(table)
    out.print(
        "Z60, A4xZ5 and A5 all have 60 elements and differ only in structure: theory predicts that "
        "no fixed-depth diagonal model tracks A5 (non-solvable) at all lengths."
    )


def _demo_parity() -> None:
    """Train two diagonal RNNs on parity (eigenvalues in [0,1] vs [−1,1]) and test them longer."""
    from archlab.config import ModelConfig, TrainConfig
    from archlab.probes import make_probe
    from archlab.train import train_run

    out.rule("[bold]parity: a diagonal RNN needs negative eigenvalues (THEORY.md R1, R2)")
    tcfg = TrainConfig(
        steps=300, batch=64, lr=1e-2, eval_every=50, train_lengths=list(range(1, 41)),
        test_lengths=[41, 64, 128], val_batch=64, eval_batch=128, device="auto",
    )  # fmt: skip
    table = Table(
        title="trained on lengths 1–40, tested longer (sequence accuracy, seed 0)", title_justify="left"
    )
    for col in ("model", "status", "41", "64", "128"):
        table.add_column(col)
    for eig in ("unit", "signed"):
        cfg = ModelConfig(mixer="diag_rnn", eig_range=eig, width=32, layers=1)
        with _progress(f"diag_rnn eig_range={eig}", tcfg.steps, out.is_terminal) as hook:
            rec = train_run(make_probe("parity"), cfg, tcfg, progress=hook)
        accs = [f"{r['seq_acc']:.2f}" for r in rec["range_eval"]]
        table.add_row(f"diag_rnn eig_range={eig}", rec["status"], *accs)
    out.print(table)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
