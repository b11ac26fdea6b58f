"""Helpers shared by the ``archlab`` command modules (:mod:`archlab.cli`, :mod:`archlab.cli_theory`,
:mod:`archlab.cli_study`): the consoles, the error wrapper, JSON output and ``--param``/``--set``
parsing. Kept apart so every command module can import them without an import cycle."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from archlab.atomic import json_default
from archlab.errors import ArchlabError, ConfigError

__all__ = ["echo_json", "err", "friendly", "out", "parse_params", "parse_sets", "set_pairs"]

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
            err.print(f"[bold red]error:[/] {exc}", markup=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


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


def set_pairs(items: list[str] | None) -> list[tuple[str, Any]]:
    """``--set`` items → ``(key, value)`` pairs, values read as YAML scalars (``3`` → int,
    ``true`` → bool, ``null`` → None, ``[1, 2]`` → list; unparsable text stays a string)."""
    import yaml

    pairs: list[tuple[str, Any]] = []
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError("--set", f"{item!r} is not of the form key=value", "key=value")
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
