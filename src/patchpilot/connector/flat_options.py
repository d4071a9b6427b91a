"""The run options as users spell them: every option flat (families' own options among the
shared ones), typed and in --help's order; the CLI, inventories and the Airflow operator
read them here."""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from patchpilot.connector.option_spelling import in_help_order, own_options
from patchpilot.connector.options import RunOptions
from patchpilot.connector.target_family import DECLARED_OPTIONS, declared_values

__all__ = ["flat_fields", "list_options", "sub_options"]


def sub_options() -> dict[str, type[BaseModel]]:
    """Return each registered family's own options (a sub-model) by the family's name, which
    is also their attribute on RunOptions; users spell their fields flat.

    Raise ConfigurationError when a family's name or own option is a shared option's name.
    """
    return own_options(RunOptions.model_fields)


def flat_fields() -> dict[str, FieldInfo]:
    """Return every option a user can set, by the flat name they spell it with (families' own
    options among them), in --help's order; an option whose values the families declare is
    typed as the Literal of those values."""
    shared = {name: _as_declared(name, info) for name, info in RunOptions.model_fields.items()}
    own = {k: v for model in sub_options().values() for k, v in model.model_fields.items()}
    return in_help_order(shared, own)


def list_options() -> frozenset[str]:
    """Return the flat names of the options that take several values (a tuple of strings)."""
    return frozenset(n for n, info in flat_fields().items() if info.annotation == tuple[str, ...])


def _as_declared(name: str, info: FieldInfo) -> FieldInfo:
    if name not in DECLARED_OPTIONS:
        return info
    literal: Any = Literal
    declared = literal[declared_values(name, info.default)]
    typed = copy.copy(info)
    typed.annotation = declared | None if info.default is None else declared
    return typed
