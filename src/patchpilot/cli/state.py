"""The state store as the commands open it: `--state-dir` (SQLite, the default) or
`--state-url` (a shared PostgreSQL store), and the rule that keeps its password off the
command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from patchpilot.connector import STATE_URL_ENV, Store, has_password, open_store
from patchpilot.errors import ConfigurationError

__all__ = ["StateUrl", "open_cli_store"]

StateUrl = Annotated[
    str | None,
    typer.Option(
        envvar=STATE_URL_ENV,
        help="A shared PostgreSQL store (postgresql://user@host/db; the password from "
        "PGPASSWORD or ~/.pgpass) instead of the state dir's SQLite file.",
    ),
]


def open_cli_store(state_dir: Path | None, state_url: str | None) -> Store:
    """Open the command's store; refuse a password on the command line (it shows in `ps`)."""
    if state_url and state_url != os.environ.get(STATE_URL_ENV) and has_password(state_url):
        raise ConfigurationError(
            "--state-url: keep the password out of the command line (PGPASSWORD, ~/.pgpass "
            f"or ${STATE_URL_ENV})"
        )
    return open_store(state_dir, url=state_url)
