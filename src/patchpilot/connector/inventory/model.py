"""An Ansible inventory, resolved: every host with its connection settings and variables.

`load_inventory(path)` reads a YAML or INI inventory (see `sources.py`), resolves
each host's variables as Ansible does — `all`'s vars first, then each group's from the
shallowest to the deepest (ties by name), then the host's own, which win — and checks the
connection variables (`ansible_host`, `ansible_port`, `ansible_user`,
`ansible_ssh_private_key_file`) so that a bad port is an error naming the file and the line
before any server is touched. `Inventory.select(pattern)` applies Ansible's host patterns.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from patchpilot.connector.inventory.patterns import select_names
from patchpilot.connector.inventory.scripts import read_sources
from patchpilot.connector.inventory.sources import RawInventory, Var
from patchpilot.connector.inventory.suggest import did_you_mean
from patchpilot.errors import ConfigurationError

__all__ = ["HostEntry", "Inventory", "load_inventories", "load_inventory"]

_CONNECTION_VARS = {
    "ansible_host": "address",
    "ansible_ssh_host": "address",
    "ansible_port": "port",
    "ansible_ssh_port": "port",
    "ansible_user": "user",
    "ansible_ssh_user": "user",
    "ansible_ssh_private_key_file": "key_file",
    "ansible_private_key_file": "key_file",
}


@dataclass(frozen=True)
class HostEntry:
    """One inventory host: where to reach it and its resolved variables.

    origins maps each variable to the `file:line` that gave it its value, for error messages.
    """

    name: str
    address: str
    port: int | None = None
    user: str | None = None
    key_file: str | None = None
    vars: Mapping[str, object] = field(default_factory=dict, hash=False)
    groups: tuple[str, ...] = ()
    origins: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    def where(self, var: str) -> str:
        """Return the `file:line` that defined var, or the host's name when unknown."""
        return self.origins.get(var, self.name)


class Inventory:
    """The resolved hosts of one inventory file, in the order the file first names them."""

    def __init__(self, raw: RawInventory) -> None:
        self.path = raw.path
        groups = {name: _group_hosts(raw, name) for name in raw.groups}
        self.groups: Mapping[str, tuple[str, ...]] = groups
        depths = _depths(raw)
        member_of: dict[str, list[str]] = {}
        for group, hosts in groups.items():
            for host in hosts:
                member_of.setdefault(host, []).append(group)
        self.hosts: tuple[HostEntry, ...] = tuple(
            _resolve(raw, name, depths, member_of.get(name, [])) for name in raw.hosts
        )
        self._by_name = {h.name: h for h in self.hosts}

    def host(self, name: str) -> HostEntry:
        """Return the host called name; raises ConfigurationError when there is none."""
        try:
            return self._by_name[name]
        except KeyError:
            hint = did_you_mean(name, self._by_name)
            message = f"{self.path}: no host {name!r} in the inventory{hint}"
            raise ConfigurationError(message) from None

    def select(self, pattern: str) -> list[HostEntry]:
        """Return the hosts an Ansible pattern selects (`web:&prod:!web03`, `db*`, `all`)."""
        names = select_names(pattern, self.groups, [h.name for h in self.hosts])
        return [self._by_name[n] for n in names]


def load_inventory(path: str | Path) -> Inventory:
    """Read and resolve the inventory at path (YAML, INI, JSON, or an executable script);
    raises ConfigurationError naming file and line."""
    return load_inventories([Path(path)], [])


def load_inventories(paths: Sequence[Path], commands: Sequence[str] = ()) -> Inventory:
    """Read, merge (later sources win) and resolve inventories; ConfigurationError."""
    return Inventory(read_sources(paths, commands))


def _group_hosts(raw: RawInventory, name: str) -> tuple[str, ...]:
    """Return the hosts of a group and of all its descendants, in Ansible's order.

    That is Group.get_hosts: the group's own hosts, then its children's, level by level, each
    level's groups in the order their parents list them (Ansible walks a level's parents as a
    set; their order only matters when two parents of one level have different children).
    """
    ordered, level = [name], [name]
    while level:
        level = [c for g in level for c in raw.groups[g].children if c not in ordered]
        level = list(dict.fromkeys(level))
        ordered += level
    found: dict[str, None] = {}
    for group in ordered:
        found.update((h, None) for h in raw.groups[group].hosts)
    return tuple(found)


def _depths(raw: RawInventory) -> dict[str, int]:
    """Return each group's depth below `all`: one more than its deepest parent."""
    depths = {"all": 0}
    frontier = ["all"]
    while frontier:
        parent = frontier.pop(0)
        for child in raw.groups[parent].children:
            if depths.get(child, -1) < depths[parent] + 1:
                depths[child] = depths[parent] + 1
                frontier.append(child)
    return depths


def _resolve(
    raw: RawInventory, name: str, depths: Mapping[str, int], member_of: Sequence[str]
) -> HostEntry:
    """Resolve host name, a member of the groups member_of (in the inventory's group order)."""
    levels = [raw.groups[g].vars for g in sorted(member_of, key=lambda g: (depths.get(g, 0), g))]
    levels.append(raw.hosts[name].vars)
    merged: dict[str, Var] = {}
    settings: dict[str, tuple[str, Var]] = {}
    for level in levels:
        merged.update(level)
        settings.update(
            (_CONNECTION_VARS[k], (k, v)) for k, v in level.items() if k in _CONNECTION_VARS
        )
    connection = _Connection(raw, settings)
    return HostEntry(
        name=name,
        address=connection.text("address") or name,
        port=connection.port(),
        user=connection.text("user"),
        key_file=_expanded(connection.text("key_file")),
        vars={k: v.value for k, v in merged.items()},
        groups=tuple(g for g in member_of if g != "all"),
        origins={k: _origin(v.source or raw.path, v.line) for k, v in merged.items()},
    )


def _origin(source: str, line: int) -> str:
    return f"{source}:{line}" if line else source


def _expanded(path: str | None) -> str | None:
    """Expand `~` in a key path, as Ansible does."""
    return os.path.expanduser(path) if path else path


class _Connection:
    """Check the `ansible_*` connection variables of one host.

    settings maps each setting (`address`, `port`, ...) to the variable that won it, whichever
    of its aliases (`ansible_host`, `ansible_ssh_host`) that was.
    """

    def __init__(self, raw: RawInventory, settings: Mapping[str, tuple[str, Var]]) -> None:
        self.raw = raw
        self.settings = settings

    def text(self, setting: str) -> str | None:
        found = self.settings.get(setting)
        if found is None or found[1].value is None:
            return None
        name, var = found
        if isinstance(var.value, (dict, list, bool)) or str(var.value) == "":
            raise self.raw.error(f"{name} must be a non-empty string", var.line)
        return str(var.value)

    def port(self) -> int | None:
        found = self.settings.get("port")
        if found is None or found[1].value is None:
            return None
        name, var = found
        value = var.value
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
            raise self.raw.error(
                f"{name} must be a port number 1-65535, not {var.value!r}", var.line
            )
        return value
