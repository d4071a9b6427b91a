"""What TARGET on the command line means: a host, `user@host[:port]`, or an inventory name.

Parsing is pure; `resolve_target` prefers the inventory when one is given and names the host.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from patchpilot.errors import ConfigurationError

if TYPE_CHECKING:
    from patchpilot.connector.inventory import Inventory

__all__ = ["TargetSpec", "known_hosts_of", "parse_target", "resolve_target"]

LOCAL = "local"  # the target name that means "this machine, no SSH"

_HOST_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$")
_TARGET_RE = re.compile(
    r"^(?:(?P<user>[^@:\s/]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^@:\s/\[\]]+)"
    r"(?::(?P<port>\d{1,5}))?$"
)


@dataclass(frozen=True)
class TargetSpec:
    """One server to patch: its display name and where and how to reach it."""

    name: str
    host: str
    port: int | None = None
    user: str | None = None
    key_file: str | None = None
    transport: str = "ssh"
    vars: Mapping[str, object] = field(default_factory=dict, hash=False, compare=False)

    @property
    def known_hosts(self) -> str | None:
        """Return the known_hosts file the target's inventory SSH arguments name, if any."""
        return known_hosts_of(self.vars)

    @property
    def is_root(self) -> bool:
        """Tell whether commands run as root without sudo (no user means the config decides)."""
        return self.user in (None, "root")


def parse_target(text: str) -> TargetSpec:
    """Parse `host`, `user@host`, `user@host:port`, `user@[v6addr]:port`, or `local`."""
    match = _TARGET_RE.match(text.strip())
    if not match:
        raise ConfigurationError(f"target {text!r} is not host, user@host or user@host:port")
    host = match.group("host").strip("[]")
    port = int(match.group("port")) if match.group("port") else None
    if port is not None and not 0 < port < 65536:
        raise ConfigurationError(f"target {text!r}: port {port} is out of range")
    if not (_HOST_RE.fullmatch(host) or ":" in host):
        raise ConfigurationError(f"target {text!r}: {host!r} is not a valid host name")
    transport = "local" if text == LOCAL else "ssh"
    return TargetSpec(host, host, port, match.group("user"), transport=transport)


def resolve_target(text: str, inventory: Inventory | None) -> TargetSpec:
    """Return the inventory's host named text; with `@` or `:` (or no inventory) parse text."""
    if inventory is None or "@" in text or ":" in text:
        return parse_target(text)
    entry = inventory.host(text)  # raises ConfigurationError naming the inventory
    transport = str(entry.vars.get("patchpilot_transport", "ssh"))
    return TargetSpec(
        entry.name, entry.address, entry.port, entry.user, entry.key_file, transport, entry.vars
    )


_SSH_ARG_VARS = ("ansible_ssh_common_args", "ansible_ssh_extra_args")


def known_hosts_of(variables: Mapping[str, object]) -> str | None:
    """Return the UserKnownHostsFile an inventory's `-o` SSH arguments name, if any.

    Only this option is taken from Ansible's SSH arguments: host keys are always verified.
    """
    for var in _SSH_ARG_VARS:
        try:
            words = shlex.split(str(variables.get(var) or ""))
        except ValueError:
            continue
        options = [w[2:] if w.startswith("-o") and len(w) > 2 else w for w in words if w != "-o"]
        for option in options:
            key, _, value = option.partition("=")
            if key.strip().lower() == "userknownhostsfile" and value.strip():
                return value.strip().split()[0]
    return None
