"""CLI: `patchpilot client ...`: build the target-side client zipapp."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from patchpilot.client_build import build_client

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)


@app.command()
def build(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the zipapp into.")] = Path(
        "dist"
    ),
) -> None:
    """Build patchpilot-client.pyz reproducibly; print its path and SHA-256."""
    built = build_client(out)
    typer.echo(f"{built.path}\nsha256 {built.sha256}")
