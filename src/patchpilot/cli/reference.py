"""The command line as Markdown: the docs site's CLI reference, generated at each build.

docs/cli.md holds a marker that the site's build hook (docs/hooks/generated.py) replaces
with `markdown()`: every command of the Typer app with its help, usage, arguments and options
in the groups and order of `--help` (cli/help.py), each with the help text of its one
definition (a run option's from its RunOptions field). Nothing here is written twice: a new
option appears in the reference with the next build.
"""

from __future__ import annotations

from collections.abc import Iterator

import typer
from typer._click import Command, Context  # typer 0.29 vendors its own click
from typer.core import TyperGroup
from typer.main import get_command

from patchpilot.cli.help import sections

__all__ = ["markdown"]


def _cell(text: str) -> str:
    """Return text fit for one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")


def _help_markdown(text: str) -> str:
    """Turn click help text into Markdown: `\\b` blocks (kept as written) become text blocks."""
    out: list[str] = []
    for paragraph in text.strip().split("\n\n"):
        if paragraph.startswith("\b\n"):
            out.append("```text\n" + paragraph[2:].rstrip() + "\n```")
        else:
            out.append(" ".join(paragraph.split()))
    return "\n\n".join(out)


def _command(path: list[str], command: Command, parent: Context | None) -> Iterator[str]:
    ctx = Context(command, info_name=path[-1], parent=parent)
    title = " ".join(path)
    yield f"{'#' * min(len(path) + 1, 4)} `{title}`"
    if command.help:
        yield _help_markdown(command.help)
    yield f"Usage: `{title} {' '.join(command.collect_usage_pieces(ctx))}`"
    for name, records in sections(command, ctx):
        rows = [f"| `{option}` | {_cell(text)} |" for option, text in records]
        yield "\n".join([f"| {name} | |", "|---|---|", *rows])
    if command.epilog:
        yield _help_markdown(command.epilog)
    if isinstance(command, TyperGroup):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _command([*path, name], sub, ctx)


def markdown(app: typer.Typer, prog: str = "patchpilot") -> str:
    """Return the reference of every command of app as Markdown (headings from level 2)."""
    return "\n\n".join(_command([prog], get_command(app), None)) + "\n"
