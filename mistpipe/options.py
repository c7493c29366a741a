"""CLI flags made from the settings: each `MISTPIPE_*` variable is also a flag of the commands using it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from mistpipe.settings import Settings, load


def _flag(name: str) -> click.Option:
    field = Settings.model_fields[name]
    annotation = field.annotation
    if annotation is bool:
        type_: Any = click.BOOL
    elif annotation in (int, float):
        type_ = annotation
    elif annotation is Path:
        type_ = click.Path(path_type=Path)
    else:  # str, and the comma-separated secrets list
        type_ = str
    env = f"MISTPIPE_{name.upper()}"
    return click.Option(
        [f"--{name.replace('_', '-')}", name], type=type_, default=None, help=f"{field.description} [{env}]"
    )


def with_settings(*fields: str) -> Callable:
    """Add the flags of the given settings fields to a command and pass it `settings: Settings`.

    A flag left out falls back to its env var, then to the default: `load` ignores None.
    """
    for name in fields:
        if name not in Settings.model_fields:
            raise ValueError(f"no setting {name!r}")

    def decorate(command: Callable) -> Callable:
        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            overrides = {f: kwargs.pop(f) for f in fields}
            try:
                settings = load(**overrides)
            except ValueError as exc:
                raise click.UsageError(str(exc)) from exc
            return command(*args, settings=settings, **kwargs)

        params = getattr(run, "__click_params__", [])
        params.extend(_flag(name) for name in reversed(fields))
        run.__click_params__ = params
        return run

    return decorate


ALL_SETTINGS = tuple(Settings.model_fields)
