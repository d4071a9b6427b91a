"""The lab's network: one bridge per lab on a free 10.231.X.0/24, one namespace per server.

The bridge holds the subnet's first address (the repository listens there). Each server's
network namespace is pinned by a bind mount on a file in the lab folder (so it never shows
in `ip netns` and vanishes with the supervisor's mount namespace) and joined to the bridge by
a veth pair. Servers get only their connected route: no default route, no forwarding, so lab
traffic never leaves the bridge. Choosing the subnet is pure (`choose_index`), tested alone.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

from patchpilot.lab.errors import LabError
from patchpilot.lab.tools import locked, run

__all__ = [
    "LabNetwork",
    "attach_server",
    "choose_index",
    "create_bridge",
    "delete_bridge",
    "delete_netns",
    "delete_veth",
    "global_lock",
    "preferred_index",
    "set_link",
    "used_networks",
]

PREFIX = "10.231"
GLOBAL_LOCK = Path("/run/lock/patchpilot-lab.lock")


@dataclass(frozen=True)
class LabNetwork:
    """The addresses and interface names of one lab, all derived from its subnet index X."""

    index: int

    @property
    def bridge(self) -> str:
        return f"pplab{self.index}"

    @property
    def subnet(self) -> IPv4Network:
        return IPv4Network(f"{PREFIX}.{self.index}.0/24")

    @property
    def gateway(self) -> str:
        return f"{PREFIX}.{self.index}.1"

    def address(self, number: int) -> str:
        """Return server number's address (lab-1 is .2; at most 253 servers)."""
        if not 1 <= number <= 253:
            raise LabError(f"a lab holds servers 1 to 253, not {number}")
        return f"{PREFIX}.{self.index}.{number + 1}"

    def veth(self, number: int) -> str:
        return f"pp{self.index}v{number}"


def preferred_index(directory: Path) -> int:
    """Return the subnet index a lab folder tries first (stable for one folder)."""
    digest = hashlib.sha256(str(directory.resolve()).encode()).digest()
    return 1 + int.from_bytes(digest[:2], "big") % 254


def choose_index(used: Iterable[IPv4Network], preferred: int) -> int:
    """Return the first X from preferred (wrapping) whose 10.231.X.0/24 overlaps nothing used."""
    for offset in range(254):
        index = 1 + (preferred - 1 + offset) % 254
        candidate = IPv4Network(f"{PREFIX}.{index}.0/24")
        if not any(candidate.overlaps(net) for net in used if net.prefixlen > 0):
            return index
    raise LabError(f"no free subnet in {PREFIX}.0.0/16: every /24 collides with a route")


def used_networks() -> list[IPv4Network]:
    """Return every network this machine routes or has an address in (all tables)."""
    routes = json.loads(run(["ip", "-j", "route", "show", "table", "all"]).stdout or "[]")
    addrs = json.loads(run(["ip", "-j", "-4", "addr", "show"]).stdout or "[]")
    found: list[IPv4Network] = []
    for route in routes:
        dst = route.get("dst", "")
        if dst and dst != "default" and ":" not in dst:
            found.append(IPv4Network(dst, strict=False))
    for link in addrs:
        for info in link.get("addr_info", []):
            found.append(IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False))
    return found


def global_lock() -> AbstractContextManager[None]:
    """Hold the machine-wide lab lock (subnet choice, sysctls) while the block runs."""
    return locked(GLOBAL_LOCK)


def create_bridge(network: LabNetwork) -> None:
    """Create the lab's bridge with the gateway address, refusing a subnet in use."""
    if any(network.subnet.overlaps(net) for net in used_networks()):
        raise LabError(f"subnet {network.subnet} is busy (a route or address already uses it)")
    run(["ip", "link", "add", network.bridge, "type", "bridge"])
    run(["ip", "addr", "add", f"{network.gateway}/24", "dev", network.bridge])
    run(["ip", "link", "set", network.bridge, "up"])


def delete_bridge(network: LabNetwork) -> None:
    """Delete the lab's bridge and any veth of its servers still there (now, not later)."""
    net = Path("/sys/class/net")
    for link in net.glob(f"pp{network.index}v*"):
        if link.name.removeprefix(f"pp{network.index}v").isdigit():
            run(["ip", "link", "del", link.name], check=False)
    if (net / network.bridge).exists():
        run(["ip", "link", "del", network.bridge])


def delete_veth(network: LabNetwork, number: int) -> None:
    """Delete server number's veth pair at once (a dying namespace frees it only later)."""
    if Path("/sys/class/net", network.veth(number)).exists():
        run(["ip", "link", "del", network.veth(number)], check=False)


def attach_server(network: LabNetwork, number: int, netns: Path) -> None:
    """Create server number's namespace at netns and wire it to the bridge with its address."""
    netns.parent.mkdir(parents=True, exist_ok=True)
    netns.touch()
    run(["unshare", f"--net={netns}", "true"])
    veth = network.veth(number)
    run(
        [
            "nsenter",
            f"--net={netns}",
            "ip",
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            veth,
            "netns",
            str(os.getpid()),
        ]
    )
    run(["ip", "link", "set", veth, "master", network.bridge, "up"])
    commands = f"addr add {network.address(number)}/24 dev eth0\nlink set eth0 up\nlink set lo up\n"
    run(["nsenter", f"--net={netns}", "ip", "-batch", "-"], input_text=commands)


def delete_netns(netns: Path) -> None:
    """Unpin a server's namespace (its veth pair dies with it) and remove the pin file."""
    if netns.exists():
        run(["umount", netns], check=False)
        netns.unlink()


def set_link(network: LabNetwork, number: int, *, up: bool) -> None:
    """Cut (down) or restore (up) server number's link to the bridge."""
    run(["ip", "link", "set", network.veth(number), "up" if up else "down"])
