"""Parse Ansible inventory files (YAML and INI) into a raw tree of groups, hosts and variables.

Pure functions over the file's text: no I/O, no resolution. Every group, host and variable keeps
the line it was defined on, so any later error (a bad port, a cycle of groups) can name the
file and the line. The model and the variable resolution live in `model.py`.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

import yaml

from patchpilot.connector.inventory.yaml_loader import BoundedLoader
from patchpilot.errors import ConfigurationError

__all__ = ["RawInventory", "Var", "parse_into", "parse_text"]

_YAML_SUFFIXES = (".yml", ".yaml", ".json")
MAX_RANGE_HOSTS = 100_000  # names one host pattern may expand to (a typo must not eat memory)
_GROUP_KEYS = frozenset({"hosts", "vars", "children"})
_RANGE = re.compile(r"^(.*?)\[([0-9A-Za-z]+):([0-9A-Za-z]+)(?::(\d+))?\](.*)$")
_HOST_PORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])+):(\d+)$")
_INI_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")


@dataclass(frozen=True)
class Var:
    """One variable definition and the line it stands on."""

    value: object
    line: int
    source: str = ""  # the file it came from, when several sources merge (else the inventory's)


@dataclass
class RawGroup:
    """A group as written: direct hosts, child groups and its own variables."""

    name: str
    line: int
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Var] = field(default_factory=dict)


@dataclass
class RawHost:
    """A host as written: its own variables, merged over every place it is listed."""

    name: str
    line: int
    vars: dict[str, Var] = field(default_factory=dict)


class RawInventory:
    """Groups and hosts in the order the file first names them; `all` and `ungrouped` always."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.groups: dict[str, RawGroup] = {}
        self.hosts: dict[str, RawHost] = {}
        self._listed: set[tuple[str, str]] = set()  # (group, host): a look-up, not a scan
        self.add_group("all", 0)
        self.add_group("ungrouped", 0)

    def error(self, message: str, line: int) -> ConfigurationError:
        """Build the error for this file at line (1-based; 0 when the whole file is at fault)."""
        where = f"{self.path}:{line}" if line else self.path
        return ConfigurationError(f"{where}: malformed inventory: {message}")

    def add_group(self, name: str, line: int) -> RawGroup:
        """Return the group name, creating it at line the first time."""
        if not name or any(c.isspace() for c in name) or ":" in name:
            raise self.error(f"invalid group name {name!r}", line)
        if name not in self.groups:
            self.groups[name] = RawGroup(name, line)
        return self.groups[name]

    def add_host(self, group: str, pattern: str, line: int) -> list[RawHost]:
        """Add the hosts that pattern expands to (ranges, `host:port`) to group."""
        name_part, port = _split_port(pattern)
        try:
            names = expand_host_ranges(name_part)
        except ValueError as exc:
            raise self.error(str(exc), line) from exc
        added = []
        for name in names:
            host = self.hosts.setdefault(name, RawHost(name, line))
            if port is not None:
                host.vars["ansible_port"] = Var(port, line)
            if (group, name) not in self._listed:
                self._listed.add((group, name))
                self.groups[group].hosts.append(name)
            added.append(host)
        return added

    def add_child(self, parent: str, child: str, line: int) -> None:
        """Make child a child group of parent, refusing a loop."""
        self.add_group(child, line)
        if child == parent or parent in self.descendants(child):
            raise self.error(f"group {child!r} as a child of {parent!r} makes a loop", line)
        if child not in self.groups[parent].children:
            self.groups[parent].children.append(child)

    def descendants(self, name: str) -> list[str]:
        """Return the groups below name, breadth first, each once."""
        found: list[str] = []
        queue = list(self.groups[name].children)
        while queue:
            child = queue.pop(0)
            if child not in found:
                found.append(child)
                queue.extend(self.groups[child].children)
        return found

    def stamp_sources(self) -> None:
        """Mark every variable read so far without a source as coming from self.path."""
        for level in [g.vars for g in self.groups.values()] + [h.vars for h in self.hosts.values()]:
            for key, var in level.items():
                if not var.source:
                    level[key] = Var(var.value, var.line, self.path)

    def reconcile(self) -> None:
        """Hang parentless groups under `all` and groupless hosts under `ungrouped`, as Ansible."""
        has_parent = {c for g in self.groups.values() for c in g.children}
        for name in self.groups:
            if name != "all" and name not in has_parent:
                self.groups["all"].children.append(name)
        grouped = {h for g in self.groups.values() if g.name != "all" for h in g.hosts}
        ungrouped = self.groups["ungrouped"].hosts
        listed = set(ungrouped)
        ungrouped.extend(h for h in self.hosts if h not in grouped and h not in listed)


def parse_text(path: str, text: str) -> RawInventory:
    """Parse an inventory's text, YAML or INI by file suffix (by content when the suffix says
    neither), raising ConfigurationError with file and line on anything malformed."""
    inventory = RawInventory(path)
    parse_into(inventory, text)
    inventory.reconcile()
    return inventory


def parse_into(inventory: RawInventory, text: str) -> None:
    """Add a YAML or INI inventory's text to inventory (named by inventory.path), unreconciled."""
    if _looks_like_yaml(inventory.path, text):
        _YamlReader(inventory, text).read()
    else:
        _IniReader(inventory).read(text)


def _looks_like_yaml(path: str, text: str) -> bool:
    if path.lower().endswith(_YAML_SUFFIXES):
        return True
    if path.lower().endswith((".ini", ".cfg")):
        return False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", ";")):
            return stripped in ("---", "{") or bool(re.match(r"^[^\s\[=]+:\s*(#.*)?$", line))
    return False


def _split_port(pattern: str) -> tuple[str, int | None]:
    match = _HOST_PORT.match(pattern)
    if match is None:
        return pattern, None
    return match.group(1), int(match.group(2))


def expand_host_ranges(pattern: str, limit: int = MAX_RANGE_HOSTS) -> list[str]:
    """Expand Ansible host ranges: `web[01:03]`, `db-[a:c]`, `n[0:10:5]`, several per name.

    Numeric bounds keep the width of a zero-padded first bound (`01` gives `01`, `02`, ...).
    Raises ValueError on a range that yields nothing, mixes letters and digits, or would
    expand to more than limit names (checked before the names are made).
    """
    names = _expand(pattern, limit)
    if names is None:
        raise ValueError(f"{pattern!r} expands to more than {limit} host names")
    return names


def _expand(pattern: str, limit: int) -> list[str] | None:
    """Return pattern's names, or None when there would be more than limit."""
    match = _RANGE.match(pattern)
    if match is None:
        return [pattern]
    head, first, last, step, tail = match.groups()
    numbers, text = _range_numbers(first, last, int(step or 1))
    if not numbers:
        raise ValueError(f"bad host range in {pattern!r}")
    try:
        count = len(numbers)
    except OverflowError:  # more than sys.maxsize values
        return None
    if count > limit:
        return None
    names: list[str] = []
    for n in numbers:
        found = _expand(f"{head}{text(n)}{tail}", limit // count)  # each expands the same tail
        if found is None:
            return None
        names += found
    return names


def _range_numbers(first: str, last: str, step: int) -> tuple[range, Callable[[int], str]]:
    """Return a range's values as numbers and how to write one (empty when it is malformed)."""
    if step >= 1 and first.isdigit() and last.isdigit():
        width = len(first) if first.startswith("0") else 0
        return range(int(first), int(last) + 1, step), lambda n: str(n).zfill(width)
    if step >= 1 and len(first) == len(last) == 1 and first.isalpha() and last.isalpha():
        return range(ord(first), ord(last) + 1, step), chr
    return range(0), str


class _YamlReader:
    """Walk a YAML inventory's node tree (not its Python values) to keep every line."""

    def __init__(self, inventory: RawInventory, text: str) -> None:
        self.inventory = inventory
        self.loader = BoundedLoader(text)

    def read(self) -> None:
        try:
            root = self.loader.get_single_node()
            if root is None:
                raise self.inventory.error("the file is empty", 0)
            for key, body in self._mapping(root, "the top level"):
                self._group(key, body, parent=None)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 0
            raise self.inventory.error(f"bad YAML: {exc.problem or exc}", line) from exc
        except yaml.YAMLError as exc:
            raise self.inventory.error(f"bad YAML: {exc}", 0) from exc
        finally:
            self.loader.dispose()

    def _mapping(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node]]:
        """Return a mapping node's (key, value node) pairs; null counts as empty."""
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return []
        if not isinstance(node, yaml.MappingNode):
            raise self.inventory.error(f"{what} must be a mapping", _line(node))
        self.loader.flatten_mapping(node)
        pairs = []
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or not key.value:
                raise self.inventory.error(f"a key in {what} must be a plain name", _line(key))
            pairs.append((str(key.value), value))
        return pairs

    def _group(self, name: str, body: yaml.Node, *, parent: str | None) -> None:
        line = _line(body)
        self.inventory.add_group(name, line)
        if parent is not None:
            self.inventory.add_child(parent, name, line)
        for key, value in self._mapping(body, f"group {name!r}"):
            if key not in _GROUP_KEYS:
                raise self.inventory.error(
                    f"unknown key {key!r} in group {name!r} (expected hosts, vars or children)",
                    _line(value),
                )
            if key == "hosts":
                self._hosts(name, value)
            elif key == "vars":
                self.inventory.groups[name].vars.update(self._vars(value, f"vars of {name!r}"))
            else:
                for child, child_body in self._mapping(value, f"children of {name!r}"):
                    self._group(child, child_body, parent=name)

    def _hosts(self, group: str, node: yaml.Node) -> None:
        for pattern, body in self._mapping(node, f"hosts of {group!r}"):
            host_vars = self._vars(body, f"host {pattern!r}")
            for host in self.inventory.add_host(group, pattern, _line(body)):
                host.vars.update(host_vars)

    def _vars(self, node: yaml.Node, what: str) -> dict[str, Var]:
        return {
            key: Var(self.loader.construct_object(value, deep=True), _line(value))
            for key, value in self._mapping(node, what)
        }


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _IniReader:
    """Read Ansible's INI inventory: host lines, `[group]`, `[group:vars]`, `[group:children]`."""

    def __init__(self, inventory: RawInventory) -> None:
        self.inventory = inventory
        self.group = "ungrouped"
        self.state = "hosts"
        self.declared = {"all", "ungrouped"}  # by a [group] or [group:children] header
        self.pending: dict[str, tuple[int, str]] = {}  # group -> where it is used undeclared

    def read(self, text: str) -> None:
        """Read every line; a group used (as a child, or by [group:vars]) must be declared."""
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                self._section(line, number)
            elif self.state == "hosts":
                self._host_line(line, number)
            elif self.state == "children":
                self._child_line(line, number)
            else:
                key, var = _ini_variable(self.inventory, line, number)
                self.inventory.groups[self.group].vars[key] = var
        for number, message in self.pending.values():
            raise self.inventory.error(message, number)

    def _section(self, line: str, number: int) -> None:
        match = _INI_SECTION.match(line)
        if match is None:
            raise self.inventory.error(f"bad section header {line!r}", number)
        self.group, state = match.group(1), match.group(2) or "hosts"
        if state not in ("hosts", "vars", "children"):
            raise self.inventory.error(
                f"unknown section kind {state!r} (expected vars or children)", number
            )
        self.state = state
        self.inventory.add_group(self.group, number)
        if state != "vars":
            self.declared.add(self.group)
            self.pending.pop(self.group, None)
        elif self.group not in self.declared:
            message = f"[{self.group}:vars] for a group defined nowhere"
            self.pending.setdefault(self.group, (number, message))

    def _child_line(self, line: str, number: int) -> None:
        child = _one_word(self.inventory, line, number)
        self.inventory.add_child(self.group, child, number)
        if child not in self.declared:
            message = f"[{self.group}:children] names {child!r}, a group defined nowhere"
            self.pending.setdefault(child, (number, message))

    def _host_line(self, line: str, number: int) -> None:
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise self.inventory.error(f"bad host line: {exc}", number) from exc
        if not words:
            return
        pairs = [_ini_variable(self.inventory, w, number) for w in words[1:]]
        for host in self.inventory.add_host(self.group, words[0], number):
            host.vars.update(pairs)


def _one_word(inventory: RawInventory, line: str, number: int) -> str:
    words = line.split("#", 1)[0].split()
    if len(words) != 1:
        raise inventory.error(f"expected one group name, got {line!r}", number)
    return words[0]


def _ini_variable(inventory: RawInventory, text: str, number: int) -> tuple[str, Var]:
    """Parse `key=value`, the value read as a Python literal when it is one (as Ansible does)."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or any(c.isspace() for c in key):
        raise inventory.error(f"expected key=value, got {text!r}", number)
    return key, Var(_ini_value(value), number)


def _ini_value(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
