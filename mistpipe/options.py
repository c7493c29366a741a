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


def webhook_sender(command: Callable) -> Callable:
    """--url, --secret and --retries: the options of a command that posts signed webhooks to the ingest
    (`mistpipe replay`, `mistpipe simulate`)."""
    for option in (
        click.option(
            "--retries",
            type=click.IntRange(min=0),
            default=5,
            show_default=True,
            help="Retries of a 503 or connection error",
        ),
        click.option(
            "--secret",
            envvar="MISTPIPE_REPLAY_SECRET",
            default=None,
            help="Webhook secret to sign with [MISTPIPE_REPLAY_SECRET, else the first of "
            "MISTPIPE_WEBHOOK_SECRETS]",
        ),
        click.option(
            "--url",
            default=None,
            help="The ingest's webhook URL [default: http://127.0.0.1:<ingest port>/webhooks/mist]",
        ),
    ):
        command = option(command)
    return command
