"""`--help` that fits 80 columns: options grouped by purpose, full names, wrapped text, examples.

Each option names its group with typer's `rich_help_panel`: a run option's comes from its
RunOptions field, the commands' own options' from PANELS. The help is rendered by
click's plain formatter, section per group, because rich's option table cuts long option
names (`--max-fail-perce…`) at 80 columns while click's wraps the text and never the names.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, get_args

# typer vendors its own click (typer._click)
from typer._click import Command, Context, HelpFormatter, Parameter
from typer.core import TyperCommand
from typer.models import OptionInfo

__all__ = [
    "FLEET_EXAMPLES", "PANELS", "RUN_EXAMPLES", "GroupedCommand", "sections", "with_panels",
]  # fmt: skip

# The run options' groups come from RunOptions (connector/options.py); these are the groups
# of the options that only the commands have, and the order the help lists the groups in.
SELECTION, ROLLOUT, CONNECTION, OUTPUT = "Selection", "Rollout", "Connection", "Job and output"
_ORDER = (
    SELECTION, ROLLOUT, "Reboot", "Hooks, health and maintenance window", "Client and launch",
    CONNECTION, "Timeouts", OUTPUT, "Windows",
)  # fmt: skip

PANELS: dict[str, str] = {
    "limit": SELECTION,
    "plan_from": SELECTION,
    "list_hosts": SELECTION,
    "inventory_command": CONNECTION,
    "more_inventory": CONNECTION,
    **dict.fromkeys(
        ("concurrency", "serial", "max_fail_percent", "max_fail", "pause_timeout", "order", "seed"),
        ROLLOUT,
    ),
    "inventory": CONNECTION,
    **dict.fromkeys(
        (
            "state_dir",
            "state_url",
            "result_file",
            "log_format",
            "report",
            "metrics_file",
            "json_output",
            "verbose",
        ),
        OUTPUT,
    ),
}

RUN_EXAMPLES = """\b
Examples:
  patchpilot run web1 -F ~/.ssh/config --result-file /var/tmp/web1.json
  patchpilot check root@10.0.0.5:22
  patchpilot run web1 -i site.yml --include-file nightly.txt --reboot never
  patchpilot run web1 --run-id nightly-web1   # the same id resumes the run

\b
At a terminal: milestones, a live table and a recap (-v: every journal
record; --json: the result JSON too). Otherwise (a scheduler, a pipe): the
job output, with the result JSON as its last line.
Shell completion: patchpilot --install-completion (bash, zsh, fish).
"""

FLEET_EXAMPLES = """\b
Examples:
  patchpilot fleet site.yml --check-only
  patchpilot fleet site.yml --serial 1,25% --max-fail-percent 10
  patchpilot fleet site.yml --limit 'web:!canary' --concurrency 20
  patchpilot fleet site.yml --run-id nightly-1125   # resume every server

\b
At a terminal: milestones, a live table and a recap (-v: every journal
record; --json: the fleet result JSON too). Otherwise (a scheduler, a pipe):
the job output, with the fleet result JSON as its last line.
Shell completion: patchpilot --install-completion (bash, zsh, fish).
"""


def with_panels(command: Callable[..., Any]) -> Callable[..., Any]:
    """Set each option's rich_help_panel from PANELS (unless it names one); return command."""
    for param in inspect.signature(command, eval_str=True).parameters.values():
        for info in get_args(param.annotation)[1:]:
            if isinstance(info, OptionInfo) and info.rich_help_panel is None:
                info.rich_help_panel = PANELS.get(param.name)
    return command


class GroupedCommand(TyperCommand):
    """A command whose help lists its options in sections, one per rich_help_panel."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rich_markup_mode = None  # click's formatter: wraps, never cuts an option name

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        for name, records in sections(self, ctx):
            with formatter.section(name):
                formatter.write_dl(records)


def sections(command: Command, ctx: Context) -> list[tuple[str, list[tuple[str, str]]]]:
    """Return command's (option, help) records, section per group, in the order of --help
    (the docs site's CLI reference lists them the same way, cli/reference.py)."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is not None:
            grouped.setdefault(_section(param), []).append(record)
    known = ["Arguments", *_ORDER]
    return [(name, grouped[name]) for name in [*known, *(s for s in grouped if s not in known)]
            if grouped.get(name)]  # fmt: skip


def _section(param: Parameter) -> str:
    if param.param_type_name == "argument":
        return "Arguments"
    if param.name == "help":
        return OUTPUT
    return getattr(param, "rich_help_panel", None) or "Other"
