"""Per-family frozen plans for a fleet over a mixed estate (apt, dnf, zypper servers).

A frozen plan pins versions, and versions only mean something within one package family and
release: Debian 12's `2.0` is not RHEL 9's `2.0-1.el9`. Before a mixed fleet installs, each
server is asked what it is (one short SSH command: its package tool and /etc/os-release),
the servers are grouped by `family/ID-VERSION_ID` (`rpm/rhel-9`, `deb/debian-12`), and each
group's plan is frozen on its own plan host: the first `--plan-from` host in that group, else
its first selected server. Every server then follows its group's plan, and its result in the
fleet result says which (`plan_group`, `plan_from`). A check-only fleet freezes nothing but
still reads the groups, and `--list-hosts` shows them (`group_lines`). `job.py` supplies the
probe and the freezing (a check-only run), so this module knows nothing of how a run is done.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from patchpilot.connector.backoff import Backoff
from patchpilot.connector.inventory import HostEntry
from patchpilot.connector.options import RunOptions
from patchpilot.connector.target_spec import TargetSpec
from patchpilot.connector.targets import TARGETS
from patchpilot.connector.targets.linux import UNKNOWN_FAMILY

__all__ = [
    "PROBES_AT_ONCE",
    "FamilyPlan",
    "Probe",
    "family_plans",
    "follow",
    "group_lines",
    "plan_sources",
    "probe_family",
    "probe_groups",
    "probe_patiently",
]

UNKNOWN = UNKNOWN_FAMILY
# The fewest probes at once; a fleet asks as many at once as it runs servers (--concurrency):
# 20 at a time, 10,000 simulated servers waited 95 s for their groups, idle, then all started
# in one burst (docs/benchmarks.md).
PROBES_AT_ONCE = 20
_PATIENT = Backoff(first=1.0, factor=2.0, cap=10.0)

Probe = Callable[[HostEntry], Awaitable[str]]
Freeze = Callable[[HostEntry, str], Awaitable["Mapping[str, str] | None"]]  # host, run id


@dataclass(frozen=True)
class FamilyPlan:
    """The plan a group of servers follows, and where it was frozen."""

    group: str
    plan_from: str
    plan: Mapping[str, str] | None


async def probe_family(target: TargetSpec, options: RunOptions) -> str:
    """Return a target's group, as its OS family reads it (targets/: Linux asks the server)."""
    return await TARGETS[options.os].for_run(options, target).package_family(target, options)


async def probe_patiently(
    probe: Probe, host: HostEntry, patience: float, *, polls: Backoff = _PATIENT
) -> str:
    """Return host's group; a host that cannot be read is asked again for up to patience s.

    A resumed fleet's servers may be rebooting (the fleet was killed mid-round): a group read
    once they are back keeps a resumed fleet from freezing a second plan, on another server,
    for a group that already has one.
    """
    deadline, delays = time.monotonic() + patience, polls.delays()
    while True:
        group = await probe(host)
        delay = next(delays)
        if group != UNKNOWN or time.monotonic() + delay > deadline:
            return group
        await asyncio.sleep(delay)


async def probe_groups(
    hosts: Sequence[HostEntry], probe: Probe, *, at_once: int = PROBES_AT_ONCE
) -> dict[str, str]:
    """Return host name -> group, probing at most max(at_once, PROBES_AT_ONCE) hosts at once."""
    gate = asyncio.Semaphore(max(at_once, PROBES_AT_ONCE))

    async def one(host: HostEntry) -> str:
        async with gate:
            return await probe(host)

    found = await asyncio.gather(*(one(host) for host in hosts))
    return {host.name: group for host, group in zip(hosts, found, strict=True)}


async def family_plans(
    hosts: Sequence[HostEntry],
    plan_hosts: Sequence[HostEntry],
    *,
    fleet_run_id: str,
    is_check_only: bool,
    probe: Probe,
    freeze: Freeze,
    at_once: int = PROBES_AT_ONCE,
) -> dict[str, FamilyPlan]:
    """Return host name -> the plan it follows, one frozen per group (see module docstring).

    The first plan host's group keeps the fleet's plan run (`<fleet>-plan`); other groups
    freeze theirs in `<fleet>-<n>-plan`. Servers whose group cannot be read follow the first
    plan host's. A check-only fleet freezes no plan: each server gets only its group.
    at_once bounds the probes in flight (probe_groups).
    """
    if is_check_only:
        read = await probe_groups(hosts, probe, at_once=at_once)
        return {host.name: FamilyPlan(read[host.name], "", None) for host in hosts}
    groups = await probe_groups(list(dict.fromkeys([*plan_hosts, *hosts])), probe, at_once=at_once)
    plans: dict[str, FamilyPlan] = {}
    for number, (group, source) in enumerate(plan_sources(hosts, plan_hosts, groups).items()):
        run_id = fleet_run_id if number == 0 else f"{fleet_run_id}-{number}"
        plans[group] = FamilyPlan(group, source.name, await freeze(source, run_id))
    return follow(hosts, plan_hosts, groups, plans)


def plan_sources(
    hosts: Sequence[HostEntry], plan_hosts: Sequence[HostEntry], groups: Mapping[str, str]
) -> dict[str, HostEntry]:
    """Return group -> the host its plan is frozen on, the first plan host's group first.

    A group's source is its first plan host, else its first server; servers whose group is
    unknown get no plan of their own (they follow the first plan host's).
    """
    first = groups[plan_hosts[0].name]
    sources: dict[str, HostEntry] = {}
    for group in dict.fromkeys([first, *(groups[h.name] for h in hosts)]):
        if group == UNKNOWN and group != first:
            continue
        source = next((h for h in plan_hosts if groups[h.name] == group), None)
        sources[group] = source or next(h for h in hosts if groups[h.name] == group)
    return sources


def follow(
    hosts: Sequence[HostEntry],
    plan_hosts: Sequence[HostEntry],
    groups: Mapping[str, str],
    plans: Mapping[str, FamilyPlan],
) -> dict[str, FamilyPlan]:
    """Return host name -> its group's plan (the first plan host's when it has none)."""
    fallback = plans[groups[plan_hosts[0].name]]
    return {host.name: plans.get(groups[host.name], fallback) for host in hosts}


def group_lines(plans: Mapping[str, FamilyPlan]) -> list[str]:
    """Return one line per group: `deb/debian-11 (plan from lab-1): lab-1, lab-4`.

    plans maps each host to the plan it follows. The fleet shows these lines before its
    servers install and `--list-hosts` after the hosts, so an operator sees which servers
    share a plan; a check-only fleet's groups have no plan (`deb/debian-11: lab-1, lab-4`).
    """
    members: dict[tuple[str, str], list[str]] = {}
    for host, plan in plans.items():
        members.setdefault((plan.group, plan.plan_from), []).append(host)
    return [
        f"{group} (plan from {source}): {', '.join(names)}"
        if source
        else f"{group}: {', '.join(names)}"
        for (group, source), names in members.items()
    ]
