"""Target families register here, and the run options are checked against what registered.

A family (Linux, Windows, or one a third party installs) declares beside its code, as class
attributes of its `TargetOS` (targets/base.py), what the run options need of it: its `--os`
name, its own options (a pydantic sub-model that users spell flat), the launchers, transports
and client backends it has, and its own option rules. `@register_family` on that class is its
registration. A family that an installed distribution brings is found through the
`patchpilot.families` entry point group (as pyinfra finds its connectors), loaded the first
time anyone asks which families there are. Nothing here, nor in options.py, names a family.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

from patchpilot.errors import ConfigurationError

__all__ = [
    "DECLARED_OPTIONS",
    "ENTRY_POINTS",
    "TargetFamily",
    "declared_values",
    "default_family",
    "own_option_models",
    "register_family",
    "target_families",
]

ENTRY_POINTS = "patchpilot.families"


class TargetFamily:
    """What a target family declares for the run options; read before any run starts."""

    name: ClassVar[str] = "base"  # its --os value
    is_default: ClassVar[bool] = False  # the --os of a run that names none (one family)
    own_options: ClassVar[type[BaseModel] | None] = None  # RunOptions.<name>, spelled flat
    launchers: ClassVar[tuple[str, ...]] = ()  # the --launcher values it has
    transports: ClassVar[tuple[str, ...]] = ()  # the --transport values it is reached by
    backends: ClassVar[tuple[str, ...]] = ()  # the client's --backend values it has
    knows_release_dates: ClassVar[bool] = False  # its updates carry a release date (--min-age)

    @classmethod
    def normalize_entry(cls, entry: str) -> str:
        """Return an include/exclude entry as this OS's client and update source spell it."""
        return entry

    @classmethod
    def check_options(cls, options: Any) -> None:
        """Raise ValueError for run options this family refuses (options is a RunOptions).

        It is asked when the run targets this family or uses one of its backends.
        """


_Family = TypeVar("_Family", bound=type[TargetFamily])
_REGISTERED: dict[str, type[TargetFamily]] = {}  # kept in name order
_loaded = False  # the entry points are loaded once


def register_family(family: _Family) -> _Family:
    """Register a target family (a class decorator); the same class again changes nothing.

    Raise ConfigurationError when another class has its name, or declares one of its own
    options (users spell them all flat, side by side).
    """
    known = _REGISTERED.get(family.name)
    if known is family:
        return family
    if known is not None:
        raise ConfigurationError(
            f"two target families are called {family.name!r}: "
            f"{known.__module__}.{known.__qualname__} and {family.__module__}.{family.__qualname__}"
        )
    if family.is_default and any(f.is_default for f in _REGISTERED.values()):
        raise ConfigurationError(f"target family {family.name!r} is a second default --os")
    mine = set(family.own_options.model_fields) if family.own_options else set()
    for other in _REGISTERED.values():
        theirs = set(other.own_options.model_fields) if other.own_options else set()
        if mine & theirs:
            raise ConfigurationError(
                f"target families {other.name!r} and {family.name!r} both declare "
                f"{', '.join(sorted(mine & theirs))}"
            )
    _REGISTERED[family.name] = family
    ordered = sorted(_REGISTERED.items())
    _REGISTERED.clear()
    _REGISTERED.update(ordered)
    return family


def _load_entry_points() -> None:
    """Register the families that installed distributions declare, once, by name."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for point in sorted(entry_points(group=ENTRY_POINTS), key=lambda p: p.name):
        try:
            family = point.load()
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(
                f"target family {point.name} ({point.value}) cannot be loaded: {exc}"
            ) from exc
        if not (isinstance(family, type) and issubclass(family, TargetFamily)):
            raise ConfigurationError(f"entry point {point.value} is not a target family")
        register_family(family)


def target_families() -> Mapping[str, type[TargetFamily]]:
    """Return every registered family by name, in name order (so --help and error messages
    read the same whichever family's module was imported first)."""
    _load_entry_points()
    return MappingProxyType(_REGISTERED)


def default_family() -> str:
    """Return the --os of a run that names none: the family registered as the default."""
    found = [name for name, family in target_families().items() if family.is_default]
    if not found:
        raise ConfigurationError("no target family is registered as the default --os")
    return found[0]


# The run options whose values the registered families declare, and where each family says them.
DECLARED_OPTIONS: Mapping[str, Callable[[type[TargetFamily]], tuple[str, ...]]] = MappingProxyType(
    {
        "os": lambda family: (family.name,),
        "transport": lambda family: family.transports,
        "launcher": lambda family: family.launchers,
        "backend": lambda family: family.backends,
    }
)


def declared_values(option: str, default: object = None) -> tuple[str, ...]:
    """Return the values a run option of DECLARED_OPTIONS takes: its default (`auto`) if it
    is a string, then what each registered family declares, in the families' name order."""
    values = [default] if isinstance(default, str) else []
    for family in target_families().values():
        values += [v for v in DECLARED_OPTIONS[option](family) if v not in values]
    return tuple(values)


def own_option_models() -> dict[str, type[BaseModel]]:
    """Return each registered family's own options (its sub-model) by the family's name."""
    return {
        name: family.own_options
        for name, family in target_families().items()
        if family.own_options is not None
    }
