"""Inventories as users have them: `ansible-inventory --list` JSON, inventory scripts, commands.

All three speak Ansible's script protocol: a JSON object of groups (`{"hosts": [...], "vars":
{...}, "children": [...]}`, or a bare list of hosts) plus `_meta.hostvars`. An executable
file with a `#!` line is run as a script (`--list`, and `--host NAME` per host when it gives
no `_meta`), as Ansible's script plugin does; `--inventory-command 'CMD'` runs CMD under
`/bin/sh -c` on the connector's host. Several sources merge into one inventory in the order
given, later variables winning, as several `-i` do in Ansible.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from patchpilot.connector.inventory.sources import RawInventory, Var, parse_into
from patchpilot.connector.inventory.yaml_loader import MAX_DEPTH
from patchpilot.errors import ConfigurationError

__all__ = ["SCRIPT_TIMEOUT", "is_script", "is_script_json", "read_script_json", "read_sources"]

SCRIPT_TIMEOUT = 300.0  # seconds an inventory script or command may take
_GROUP_KEYS = frozenset({"hosts", "vars", "children"})


def is_script(path: Path) -> bool:
    """Say whether path is an inventory script: executable and starting with `#!`."""
    try:
        with path.open("rb") as handle:
            return handle.read(2) == b"#!" and os.access(path, os.X_OK)
    except OSError:
        return False


def is_script_json(doc: object) -> bool:
    """Say whether a parsed document is the script protocol's JSON (not a YAML inventory)."""
    if not isinstance(doc, dict):
        return False
    if "_meta" in doc:
        return True
    return any(
        isinstance(body, list) or (isinstance(body, dict) and isinstance(body.get("hosts"), list))
        for body in doc.values()
    )


def read_script_json(inventory: RawInventory, doc: object) -> list[str]:
    """Add the groups, hosts and variables of a script-protocol document to inventory.

    Return the hosts that still need `--host` (when the document has no `_meta`). Raise
    ConfigurationError naming the source for anything malformed.
    """
    if not isinstance(doc, dict):
        raise inventory.error("the inventory JSON must be an object of groups", 0)
    for name, body in doc.items():
        if name != "_meta":
            _group(inventory, name, body)
    meta = doc.get("_meta")
    if meta is None:
        return list(inventory.hosts)
    hostvars = meta.get("hostvars", {}) if isinstance(meta, dict) else None
    if not isinstance(hostvars, dict):
        raise inventory.error("_meta.hostvars must be an object", 0)
    for host, variables in hostvars.items():
        add_host_vars(inventory, str(host), variables)
    return []


def add_host_vars(inventory: RawInventory, host: str, variables: object) -> None:
    """Set a host's own variables (a host named only here lands in `ungrouped`)."""
    if not isinstance(variables, dict):
        raise inventory.error(f"the variables of host {host!r} must be an object", 0)
    if host not in inventory.hosts:
        inventory.add_host("ungrouped", host, 0)
    inventory.hosts[host].vars.update({str(k): Var(v, 0) for k, v in variables.items()})


def _group(inventory: RawInventory, name: str, body: object) -> None:
    inventory.add_group(name, 0)
    if isinstance(body, list):
        body = {"hosts": body}
    if not isinstance(body, dict) or set(body) - _GROUP_KEYS:
        raise inventory.error(
            f"group {name!r} must be a list of hosts or an object of hosts, vars, children", 0
        )
    hosts, variables = body.get("hosts") or [], body.get("vars") or {}
    children = body.get("children") or []
    if not isinstance(hosts, list) or not isinstance(children, list):
        raise inventory.error(f"hosts and children of group {name!r} must be lists", 0)
    if not isinstance(variables, dict):
        raise inventory.error(f"vars of group {name!r} must be an object", 0)
    for host in hosts:
        inventory.add_host(name, str(host), 0)
    inventory.groups[name].vars.update({str(k): Var(v, 0) for k, v in variables.items()})
    for child in children:
        inventory.add_child(name, str(child), 0)


def _output(argv: Sequence[str], what: str) -> str:
    """Run an inventory script or command; return its stdout, ConfigurationError if it fails."""
    try:
        done = subprocess.run(  # the operator's own inventory program
            list(argv),
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigurationError(f"{what}: cannot run it: {exc}") from exc
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no error output"]
        raise ConfigurationError(f"{what}: exited {done.returncode}: {tail[0][:300]}")
    return done.stdout


_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _check_depth(inventory: RawInventory, text: str) -> None:
    """Refuse JSON nested deeper than a YAML inventory may be (MAX_DEPTH), naming the line.

    json.loads recurses: a few thousand `[` crash it with a RecursionError, and what it
    does load, the inventory reader walks recursively too.
    """
    depth = 0
    for token in _BRACKETS.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, token.start()) + 1
                raise inventory.error(f"JSON nested more than {MAX_DEPTH} deep", line)
        elif bracket in "]}":
            depth -= 1


def _json(inventory: RawInventory, text: str) -> object:
    _check_depth(inventory, text)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise inventory.error(f"not JSON: {exc}", 0) from None


def _read_script(inventory: RawInventory, path: Path) -> None:
    missing = read_script_json(
        inventory, _json(inventory, _output([str(path), "--list"], str(path)))
    )
    for host in missing:
        text = _output([str(path), "--host", host], f"{path} --host {host}")
        add_host_vars(inventory, host, _json(inventory, text) if text.strip() else {})


def _read_file(inventory: RawInventory, path: Path) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot read the inventory: {exc}") from exc
    if text.lstrip().startswith("{"):
        _check_depth(inventory, text)
        try:
            doc: Any = json.loads(text)
        except ValueError:
            doc = None
        if is_script_json(doc):
            read_script_json(inventory, doc)
            return
    parse_into(inventory, text)


def read_sources(paths: Sequence[Path], commands: Sequence[str]) -> RawInventory:
    """Read every inventory source into one raw inventory (files and scripts, then commands).

    Raise ConfigurationError naming the source that failed.
    """
    if not paths and not commands:
        raise ConfigurationError("no inventory: give one (or --inventory-command)")
    names = [str(p) for p in paths] + [f"--inventory-command {c!r}" for c in commands]
    inventory = RawInventory(names[0])
    for path in paths:
        inventory.path = str(path)
        if is_script(path):
            _read_script(inventory, path)
        else:
            _read_file(inventory, path)
        inventory.stamp_sources()
    for command, name in zip(commands, names[len(paths) :], strict=True):
        inventory.path = name
        read_script_json(inventory, _json(inventory, _output(["/bin/sh", "-c", command], name)))
        inventory.stamp_sources()
    inventory.path = ", ".join(names)
    inventory.reconcile()
    return inventory
