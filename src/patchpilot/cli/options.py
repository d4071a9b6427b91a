"""The run options on the command line, derived from `RunOptions` (their one definition).

Every field of RunOptions (and of its per-OS sub-models, spelled flat) becomes an option of
`run`, `check` and `fleet`: its name, type, default, help text and help group come from the
field. List options take repeated or comma-separated values, and those marked `list_file`
also a `--NAME-file` (an Include/Exclude List file).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from patchpilot.connector import (
    RunOptions,
    error_option,
    flat_fields,
    list_options,
    option_meta,
    read_list_file,
)
from patchpilot.errors import ConfigurationError

__all__ = ["build_options", "flag_of", "with_run_options"]

_KW = inspect.Parameter.KEYWORD_ONLY
_LIST_FILE_HELP = {
    "include": "Include List file: one name a line, # comments.",
    "exclude": "Exclude List file.",
}


def flag_of(name: str) -> str:
    """Return the long flag of the option called name (`--winrm-port`)."""
    flags = option_meta(flat_fields()[name]).get("flags") or []
    return next((f for f in flags if f.startswith("--")), "--" + name.replace("_", "-"))


def cli_options() -> list[inspect.Parameter]:
    """Return the command-line parameters of every run option a user may set."""
    params: list[inspect.Parameter] = []
    several = list_options()
    for name, info in flat_fields().items():
        meta = option_meta(info)
        if meta.get("cli", True) is False:
            continue
        option = typer.Option(
            *meta.get("flags", ()),
            help=info.description,
            hidden=bool(meta.get("hidden", False)),
            rich_help_panel=meta.get("group"),
        )
        if name in several:
            params.append(
                inspect.Parameter(
                    name, _KW, default=None, annotation=Annotated[list[str] | None, option]
                )
            )
            if name in _LIST_FILE_HELP and meta.get("list_file"):
                helper = typer.Option(help=_LIST_FILE_HELP[name], rich_help_panel=meta.get("group"))
                params.append(
                    inspect.Parameter(
                        f"{name}_file", _KW, default=None, annotation=Annotated[Path | None, helper]
                    )
                )
            continue
        default = info.get_default(call_default_factory=True)
        params.append(
            inspect.Parameter(
                name, _KW, default=default, annotation=Annotated[info.annotation, option]
            )
        )
    return params + _hook_options()


# `--hook WHEN=COMMAND` and `--local-hook WHEN=COMMAND`: another spelling of the hook_<point>
# and local_hook_<point> options, one per point, as operators write them.
_HOOK_FORMS = {
    "hook": "On the target, as root: WHEN=COMMAND, WHEN one of {points} (repeat).",
    "local_hook": "On this host: WHEN=COMMAND, WHEN one of {points} (repeat).",
}


def _hook_points(prefix: str) -> list[str]:
    return [
        name.removeprefix(f"{prefix}_").replace("_", "-")
        for name in flat_fields()
        if name.startswith(f"{prefix}_") and name != f"{prefix}_timeout"
    ]


def _hook_options() -> list[inspect.Parameter]:
    params = []
    for prefix, text in _HOOK_FORMS.items():
        group = option_meta(flat_fields()[f"{prefix}_pre"]).get("group")
        option = typer.Option(
            help=text.format(points=", ".join(_hook_points(prefix))), rich_help_panel=group
        )
        annotation = Annotated[list[str] | None, option]
        params.append(inspect.Parameter(prefix, _KW, default=None, annotation=annotation))
    return params


def _hooks_by_point(prefix: str, entries: list[str] | None) -> dict[str, str]:
    """Return `{hook_pre: COMMAND, ...}` for `--hook pre=COMMAND` entries; the command text is
    kept exactly as given (everything after the first `=`)."""
    flag, points = "--" + prefix.replace("_", "-"), _hook_points(prefix)
    found: dict[str, str] = {}
    for entry in entries or ():
        when, sep, command = entry.partition("=")
        if not sep or when.strip() not in points or not command.strip():
            raise ConfigurationError(
                f"{flag} {entry[:60]!r}: expected WHEN=COMMAND, WHEN one of {', '.join(points)}"
            )
        name = f"{prefix}_{when.strip().replace('-', '_')}"
        if name in found:
            raise ConfigurationError(f"{flag}: {when.strip()} is given twice")
        found[name] = command
    return found


def _entries(values: list[str] | None, path: Path | None) -> tuple[str, ...]:
    inline = tuple(v.strip() for value in values or () for v in value.split(",") if v.strip())
    return inline + (read_list_file(str(path)) if path else ())


def build_options(values: Mapping[str, Any]) -> RunOptions:
    """Return RunOptions from the CLI's values; ConfigurationError names a bad option."""
    values = dict(values)
    several = list_options()
    for name in flat_fields():
        if name in several and (name in values or f"{name}_file" in values):
            values[name] = _entries(values.get(name), values.pop(f"{name}_file", None))
    for prefix in _HOOK_FORMS:
        for name, command in _hooks_by_point(prefix, values.pop(prefix, None)).items():
            if values.get(name):
                raise ConfigurationError(
                    f"{flag_of(name)} and --{prefix.replace('_', '-')} both set the {name} hook"
                )
            values[name] = command
    try:
        return RunOptions.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        option = error_option(error["loc"])
        where = flag_of(option) if option in flat_fields() else "options"
        raise ConfigurationError(f"{where}: {error['msg']}") from None


def with_run_options(
    func: Callable[..., Any], forced: Mapping[str, Any] | None = None
) -> Callable[..., Any]:
    """Return command `func(options: RunOptions, ...)` with every run option but the forced
    ones, whose values are fixed (`check` is `run` with check_only forced on)."""
    fixed = dict(forced or {})
    own = [
        p for p in inspect.signature(func, eval_str=True).parameters.values() if p.name != "options"
    ]
    added = [p for p in cli_options() if p.name not in fixed]
    names = {p.name for p in added}

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in list(kwargs) if name in names}
        return func(build_options({**values, **fixed}), **kwargs)

    params = [p.replace(kind=_KW) for p in own] + added
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command
