"""Helpers shared by the ``archlab`` command modules (:mod:`archlab.cli`, :mod:`archlab.cli_theory`,
:mod:`archlab.cli_study`): the consoles, the error wrapper, JSON output and ``--param``/``--set``
parsing. Kept apart so every command module can import them without an import cycle."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from archlab.atomic import json_default
from archlab.errors import ArchlabError, ConfigError

__all__ = [
    "echo_json",
    "err",
    "friendly",
    "load_models",
    "out",
    "parse_params",
    "parse_sets",
    "set_pairs",
]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def friendly(fn: F) -> F:
    """Turn archlab's input errors into one line on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ArchlabError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _click_errors() -> tuple[type[Exception], ...]:
    """Click's user-facing error classes: typer ≥ 0.2x vendors Click (its errors derive from
    ``typer.TyperException``); older typer uses the ``click`` package."""
    kinds: list[type[Exception]] = []
    if hasattr(typer, "TyperException"):
        kinds.append(typer.TyperException)
    try:
        import click

        kinds.append(click.ClickException)
    except ImportError:
        pass
    return tuple(kinds)


class OneLineErrors(TyperGroup):
    """The top-level command group: Click's usage errors (an unknown option, a missing argument,
    a bad value) as one line on stderr, like archlab's own errors, exit status 2, instead of a
    usage block and a boxed message."""

    def main(  # type: ignore[override]  # the parameters of Click's, without its overloads
        self, args: Any = None, prog_name: str | None = None, standalone_mode: bool = True, **kwargs: Any
    ) -> Any:
        if not standalone_mode:
            return super().main(args=args, prog_name=prog_name, standalone_mode=False, **kwargs)
        try:
            rv = super().main(args=args, prog_name=prog_name, standalone_mode=False, **kwargs)
        except _click_errors() as exc:
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            ctx = getattr(exc, "ctx", None)
            if message.strip():  # (empty: the command was given no arguments, its help is shown)
                if ctx is not None:  # a usage error: say where the help is
                    message += f" (see '{ctx.command_path} --help')"
                _one_line(message)
            sys.exit(getattr(exc, "exit_code", 1))
        except typer.Abort:
            _one_line("aborted")
            sys.exit(1)
        if rv == INTERRUPTED:  # typer's exit status for Ctrl-C (KeyboardInterrupt)
            _one_line("interrupted (Ctrl-C); finished runs and trials are kept, and a rerun resumes")
        sys.exit(rv if isinstance(rv, int) else 0)


#: the exit status typer gives a KeyboardInterrupt
INTERRUPTED = 130


def _one_line(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(' '.join(message.split()))}", markup=True)


def parse_params(items: list[str] | None) -> dict[str, str]:
    """``["m=5", "final_only=true"]`` → ``{"m": "5", "final_only": "true"}``."""
    params: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError("--param", f"{item!r} is not of the form key=value", "key=value")
        params[key.strip()] = value.strip()
    return params


def echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, default=json_default))


def set_pairs(items: list[str] | None, option: str = "--set") -> list[tuple[str, Any]]:
    """``--set`` items → ``(key, value)`` pairs, values read as YAML scalars (``3`` → int,
    ``true`` → bool, ``null`` → None, ``[1, 2]`` → list; unparsable text stays a string)."""
    import yaml

    pairs: list[tuple[str, Any]] = []
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(option, f"{item!r} is not of the form key=value", "key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        pairs.append((key, value))
    return pairs


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``["model.eig_range=signed", "layers=3"]`` → ``{"eig_range": "signed", "layers": 3}``
    (the ``model.`` prefix is optional)."""
    return {key.removeprefix("model."): value for key, value in set_pairs(items)}


def load_models(spec: str, option: str = "--models") -> list[tuple[str, Any]]:
    """A zoo YAML (``models:`` mapping label → ModelConfig fields, or a list with ``name``) or
    comma-separated mixer names (each with its defaults)."""

    from archlab.config import ModelConfig, load_yaml, validate
    from archlab.shipped import find, is_name
    from archlab.theory import config_label

    path = Path(spec)
    if spec.endswith((".yaml", ".yml")) or path.is_file() or is_name("specs", spec):
        try:
            path = find("specs", spec)  # a path, or a zoo by name (``zoo``, ``zoo_dna``)
        except ArchlabError:
            raise ConfigError(option, f"{spec} does not exist", "a zoo YAML file or mixer names") from None
        data = load_yaml(path) or {}
        entries = data.get("models", data) if isinstance(data, dict) else data
        items = entries.items() if isinstance(entries, dict) else [(e.pop("name", None), e) for e in entries]
        models: list[tuple[str, Any]] = []
        for label, fields in items:
            if not isinstance(fields, dict):
                raise ConfigError(
                    f"models.{label}", "must be a mapping of ModelConfig fields", "e.g. {mixer: lstm}"
                )
            cfg = validate(ModelConfig, fields, source=f"{spec}: models.{label}")
            models.append((str(label) if label else config_label(cfg), cfg))
        return models
    out_models = []
    for name in spec.split(","):
        if name.strip():
            cfg = validate(ModelConfig, {"mixer": name.strip()}, source=option)
            out_models.append((name.strip(), cfg))
    return out_models
