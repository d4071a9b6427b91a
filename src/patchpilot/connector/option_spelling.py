"""How users spell the run options: each field's help group and CLI flags, and each target
family's own options spelled flat beside the shared ones, in --help's order.

RunOptions (options.py) nests a family's own options under the family's name
(`options.windows`); users, inventories, the Airflow operator and stores written before the
nesting spell them flat (`--winrm-port`). This module is what both spellings share; the
flat list of every option (`flat_fields`) is flat_options.py's, above the model.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from patchpilot.connector.target_family import own_option_models
from patchpilot.errors import ConfigurationError

__all__ = [
    "CHANGE",
    "CLIENT",
    "CONNECTION",
    "JOB",
    "OWN_OPTIONS_BEFORE",
    "REBOOT",
    "SELECTION",
    "TIMEOUTS",
    "error_option",
    "field_meta",
    "in_help_order",
    "option_meta",
    "own_options",
    "take_own_values",
]

# Help groups, in the order `--help` shows them.
SELECTION = {"group": "Selection"}
REBOOT = {"group": "Reboot"}
CLIENT = {"group": "Client and launch"}
CONNECTION = {"group": "Connection"}
JOB = {"group": "Job and output"}
TIMEOUTS = {"group": "Timeouts"}
CHANGE = {"group": "Hooks, health and maintenance window"}

# Each family's own options stand before this option in --help (and in flat_fields).
OWN_OPTIONS_BEFORE = "backend"

_Value = TypeVar("_Value")


def field_meta(group: dict[str, str], **cli: object) -> dict[str, Any]:
    """Return a field's json_schema_extra: its help group and how the CLI spells it.

    flags: the option's names (default `--field-name`); hidden: left out of --help;
    list_file: a `--NAME-file` companion reads entries from a list file; per_host: False
    when an inventory variable may not set it.
    """
    return {**group, **cli}


def option_meta(info: FieldInfo) -> dict[str, Any]:
    """Return a field's json_schema_extra (group, flags, hidden, list_file, cli, per_host)."""
    extra = info.json_schema_extra
    return dict(extra) if isinstance(extra, dict) else {}


def own_options(shared: Collection[str]) -> dict[str, type[BaseModel]]:
    """Return each registered family's own options (a sub-model) by the family's name, which
    is also their attribute on RunOptions; shared: the shared options' names.

    Raise ConfigurationError when a family's name or own option is a shared option's name.
    """
    found = own_option_models()
    for name, model in found.items():
        clash = ({name} | set(model.model_fields)) & set(shared)
        if clash:
            raise ConfigurationError(
                f"target family {name!r} declares {', '.join(sorted(clash))}, a run option"
            )
    return found


def in_help_order(shared: Mapping[str, _Value], own: Mapping[str, _Value]) -> dict[str, _Value]:
    """Return the shared options' items with the families' own ones in their --help place."""
    items = list(shared.items())
    at = next((i for i, (k, _) in enumerate(items) if k == OWN_OPTIONS_BEFORE), len(items))
    return dict(items[:at] + list(own.items()) + items[at:])


def take_own_values(data: dict[str, Any], models: Mapping[str, type[BaseModel]]) -> dict[str, Any]:
    """Take each family's own options out of data: nested under its name, or spelled flat."""
    found: dict[str, Any] = {}
    for name, model in models.items():
        nested = data.pop(name, None)
        flat = {k: data.pop(k) for k in list(data) if k in model.model_fields}
        if isinstance(nested, BaseModel):
            nested = nested.model_dump()
        found[name] = {**(nested or {}), **flat} if flat or nested is None else nested
    return found


def error_option(loc: tuple[int | str, ...]) -> str | None:
    """Return the flat option name a validation error's location points at, if any."""
    names = [str(part) for part in loc if isinstance(part, str)]
    if not names:
        return None
    return names[1] if names[0] in own_option_models() and len(names) > 1 else names[0]
