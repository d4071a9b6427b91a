"""CLI: `patchpilot client ...`: build the target-side client zipapp."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from patchpilot.client_build import build_client
from patchpilot.windows_share import lay_out_share

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)


@app.command()
def build(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the zipapp into.")] = Path(
        "dist"
    ),
    windows: Annotated[
        bool, typer.Option("--windows", help="Lay out a Windows share folder (docs/windows.md).")
    ] = False,
) -> None:
    """Build patchpilot-client.pyz reproducibly; print its path and SHA-256."""
    if windows:
        share = lay_out_share(out)
        typer.echo(f"{share.client}\nsha256 {share.sha256}")
        typer.echo(f"now add Python's embeddable package in {share.folder / 'python'}")
        return
    built = build_client(out)
    typer.echo(f"{built.path}\nsha256 {built.sha256}")
