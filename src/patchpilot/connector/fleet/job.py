"""A fleet job: select hosts, check their options, freeze the plan, roll out `run_target`.

`run_fleet_job` is the one entry point (the CLI and integrations call it); what it will do
is all checked by `prepare_fleet` before any server is touched. For each selected host: its
run options (the command line's, overridden by the host's `patchpilot_*` inventory
variables), its run id (derived from the fleet run id, so re-running the same fleet run id
resumes every server: `run_target` returns a finished run's stored result and re-attaches
to an unfinished one), and the frozen plan that a check-only run on the fleet's plan host
found first.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from patchpilot.connector.events import Event
from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.flat_options import flat_fields
from patchpilot.connector.fleet.collector import young_generation_for
from patchpilot.connector.fleet.families import (
    FamilyPlan,
    Probe,
    family_plans,
    follow,
    group_lines,
    plan_sources,
    probe_family,
    probe_groups,
    probe_patiently,
)
from patchpilot.connector.fleet.rollout import (
    FleetEvent,
    FleetOptions,
    FleetResult,
    RunOne,
    ServerOutcome,
    run_fleet,
)
from patchpilot.connector.inventory import HostEntry, Inventory, load_inventories
from patchpilot.connector.inventory.suggest import did_you_mean, pattern_terms
from patchpilot.connector.option_spelling import error_option, option_meta
from patchpilot.connector.options import RUN_ID_RE, RunOptions
from patchpilot.connector.plan_check import check_plan
from patchpilot.connector.run.runner import run_target
from patchpilot.connector.run_result import RunResult
from patchpilot.connector.store import Store
from patchpilot.connector.target_spec import TargetSpec
from patchpilot.errors import ConfigurationError, PatchpilotError

__all__ = [
    "FleetJob",
    "PreparedFleet",
    "all_host_options",
    "check_fleet_run_id",
    "freeze_plan",
    "host_options",
    "list_groups",
    "new_fleet_run_id",
    "outcome_of",
    "per_host_options",
    "prepare_fleet",
    "run_fleet_job",
    "run_one_with",
    "select_hosts",
    "server_run_id",
    "target_of",
]

_PREFIX = "patchpilot_"
_TARGET_VARS = frozenset({"patchpilot_transport"})
_SUCCESSES = frozenset({Outcome.SUCCESS, Outcome.REBOOT_PENDING, Outcome.UPDATES_AVAILABLE})
_MAX_FLEET_ID = 40


class RunTarget(Protocol):
    """The connector's `run_target`: all rounds of one run on one target."""

    def __call__(
        self,
        target: TargetSpec,
        options: RunOptions,
        *,
        store: Store,
        on_event: Callable[[Event], None],
        plan_later: Callable[[], Awaitable[dict[str, str] | None]] | None = None,
    ) -> Awaitable[RunResult]: ...


def new_fleet_run_id() -> str:
    """Return a fresh fleet run id: `fleet-<UTC time>-<4 hex>`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"fleet-{stamp}-{secrets.token_hex(2)}"


def check_fleet_run_id(fleet_run_id: str) -> str:
    """Return the fleet run id if servers' run ids can derive from it; ConfigurationError."""
    if not RUN_ID_RE.fullmatch(fleet_run_id) or len(fleet_run_id) > _MAX_FLEET_ID:
        raise ConfigurationError(
            f"--run-id {fleet_run_id!r}: a fleet run id is 1-{_MAX_FLEET_ID} letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    return fleet_run_id


def server_run_id(fleet_run_id: str, host: str) -> str:
    """Return the run id of host within the fleet run: `<fleet>.<host>`, made safe and short.

    A host name that had to be changed (or cut) gets a hash of the real name, so two hosts never
    share a run id.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", host)
    run_id = f"{fleet_run_id}.{safe}"
    if safe == host and len(run_id) <= 64:
        return run_id
    digest = hashlib.sha256(host.encode()).hexdigest()[:8]
    room = 64 - len(fleet_run_id) - len(digest) - 2
    return f"{fleet_run_id}.{safe[:room]}-{digest}"


def host_options(base: RunOptions, host: HostEntry) -> RunOptions:
    """Return base overridden by host's `patchpilot_<option>` variables.

    Raises ConfigurationError naming the inventory line of an unknown or invalid variable.
    """
    return _validated(base, host, _host_updates(host))


def _host_updates(host: HostEntry) -> dict[str, Any]:
    """Return the options host's `patchpilot_<option>` variables set; ConfigurationError."""
    settable = per_host_options()
    updates: dict[str, Any] = {}
    for var, value in host.vars.items():
        if not var.startswith(_PREFIX) or var in _TARGET_VARS:
            continue
        name = var.removeprefix(_PREFIX)
        if name not in settable:
            raise ConfigurationError(f"{host.where(var)}: {var} is not a per-host run option")
        updates[name] = _as_field_value(settable[name], value)
    return updates


def _validated(base: RunOptions, host: HostEntry, updates: dict[str, Any]) -> RunOptions:
    try:
        return RunOptions.model_validate({**base.model_dump(), **updates})
    except ValidationError as exc:
        error = exc.errors()[0]
        option = error_option(error["loc"])
        var = f"{_PREFIX}{option}" if option else ""
        where = host.where(var) if var else host.name
        raise ConfigurationError(f"{where}: {var or 'options'}: {error['msg']}") from None


def per_host_options() -> dict[str, FieldInfo]:
    """Return the options an inventory may set per host or group (`patchpilot_<name>`)."""
    return {
        name: info
        for name, info in flat_fields().items()
        if option_meta(info).get("per_host", True)
    }


def _as_field_value(info: FieldInfo, value: object) -> object:
    """Read `a,b` as a list for the list options (INI has no lists)."""
    if info.annotation == tuple[str, ...] and isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def target_of(host: HostEntry) -> TargetSpec:
    """Return the connector's target for an inventory host."""
    transport = str(host.vars.get("patchpilot_transport", "ssh"))
    return TargetSpec(
        host.name, host.address, host.port, host.user, host.key_file, transport, host.vars
    )


def outcome_of(host: str, result: Mapping[str, Any]) -> ServerOutcome:
    """Return the fleet's view of a server's result document."""
    try:
        is_failure = Outcome(result.get("outcome")) not in _SUCCESSES
    except ValueError:
        is_failure = True
    return ServerOutcome(host, int(result.get("exit_code", 70)), is_failure, result)


async def freeze_plan(
    run_target: RunTarget,
    host: HostEntry,
    options: RunOptions,
    *,
    fleet_run_id: str,
    store: Store,
    on_event: Callable[[Event], None],
) -> dict[str, str] | None:
    """Scan host (a check-only run, `<fleet>-plan`) and return the plan every server installs.

    None when the fleet only checks. Raises PatchpilotError, with the scan's exit code, when
    the scan fails: without a plan, no server is touched.
    """
    if options.check_only:
        return None
    scan = options.model_copy(
        update={"run_id": f"{fleet_run_id}-plan", "check_only": True, "download_only": False}
    )
    result = await run_target(target_of(host), scan, store=store, on_event=on_event)
    row = store.run(f"{fleet_run_id}-plan")
    if outcome_of(host.name, result.to_dict()).is_failure or row is None:
        error = PatchpilotError(
            f"cannot freeze the fleet's plan: the scan of {host.name} failed "
            f"({result.outcome.value}: {'; '.join(result.errors) or 'no detail'})"
        )
        error.exit_code = result.exit_code
        raise error
    return check_plan(row.frozen_plan or {}, host.name)


def run_one_with(
    run_target: RunTarget,
    *,
    options: Mapping[str, RunOptions],
    plan: Mapping[str, str] | None,
    fleet_run_id: str,
    store: Store,
    on_event: Callable[[Event], None],
    families: Mapping[str, FamilyPlan] | None = None,
    families_later: asyncio.Future[dict[str, FamilyPlan]] | None = None,
) -> RunOne:
    """Return the fleet's RunOne: each host with its own options, run id and the fleet plan.

    With families_later (the plans, still being frozen), each server connects and deploys
    meanwhile and waits for its plan before its lock; plans that cannot be frozen cancel
    the server's run: nothing was done on it. A check-only server waits for no plan: its
    group (read meanwhile) only labels its result.
    """

    async def all_plans() -> Mapping[str, FamilyPlan]:
        assert families_later is not None
        try:
            return await asyncio.shield(families_later)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise asyncio.CancelledError("the fleet's plan could not be frozen") from exc

    async def run_one(host: HostEntry) -> ServerOutcome:
        family = (families or {}).get(host.name)  # issue 12: the plan of the host's family
        is_known = families_later is None or families_later.done()
        if families_later is not None and is_known:
            family = (await all_plans())[host.name]
        host_plan = family.plan if family is not None else plan
        update = {"run_id": server_run_id(fleet_run_id, host.name), "plan": host_plan}
        host_run = options[host.name].model_copy(update=update)
        target = target_of(host)
        if is_known or families_later is None:
            result = await run_target(target, host_run, store=store, on_event=on_event)
        elif host_run.check_only:
            result = await run_target(target, host_run, store=store, on_event=on_event)
            family = (await all_plans())[host.name]
        else:

            async def plan_later() -> dict[str, str] | None:
                chosen = (await all_plans())[host.name].plan
                return dict(chosen) if chosen is not None else None

            result = await run_target(
                target, host_run, store=store, on_event=on_event, plan_later=plan_later
            )
            family = families_later.result()[host.name] if families_later.done() else None
        document = result.to_dict()
        if family is not None and family.group:
            document = {**document, "plan_group": family.group}
        if family is not None and family.plan_from:
            document = {**document, "plan_from": family.plan_from}
        return outcome_of(host.name, document)

    return run_one


def all_host_options(base: RunOptions, hosts: Sequence[HostEntry]) -> dict[str, RunOptions]:
    """Return host name -> its options, every host checked before any server is touched.

    Hosts whose `patchpilot_<option>` variables are the same share one RunOptions (frozen):
    validated once, kept once. A fleet of 10,000 servers held a validated copy each, 8 KiB
    of its 45 KiB per server in flight (docs/benchmarks.md). The first host (in order) whose
    values are invalid is the one the error names, as when each was validated.
    """
    shared: dict[str, RunOptions] = {}
    options: dict[str, RunOptions] = {}
    for host in hosts:
        updates = _host_updates(host)
        key = repr(sorted(updates.items()))
        if key not in shared:
            shared[key] = _validated(base, host, updates)
        options[host.name] = shared[key]
    return options


@dataclass(frozen=True)
class FleetJob:
    """One fleet run: which inventory and hosts, how to roll out, and every server's options."""

    inventory: Path | tuple[Path, ...]  # several merge, later ones winning (as `-i` in Ansible)
    limit: str | None
    rollout: FleetOptions
    plan_from: str | None
    run_id: str
    options: RunOptions
    inventory_commands: tuple[str, ...] = ()  # commands printing inventory JSON

    @property
    def sources(self) -> tuple[Path, ...]:
        return self.inventory if isinstance(self.inventory, tuple) else (self.inventory,)


def select_hosts(inventory: Inventory, limit: str | None) -> list[HostEntry]:
    """Return the hosts --limit selects, in the order `ansible LIMIT --list-hosts` gives them
    (a union keeps the order in which the pattern names its parts)."""
    hosts = inventory.select(limit or "all")
    if not hosts and limit is not None:
        known = [*(h.name for h in inventory.hosts), *inventory.groups]
        unknown = [t for t in pattern_terms(limit) if t not in known]
        hint = did_you_mean(unknown[0], known) if unknown else ""
        raise ConfigurationError(f"--limit {limit!r} matches no host of {inventory.path}{hint}")
    return hosts


@dataclass(frozen=True)
class PreparedFleet:
    """What a fleet job will do, all checked before any server is touched."""

    hosts: list[HostEntry]
    options: dict[str, RunOptions]
    plan_host: HostEntry
    plan_options: RunOptions
    plan_hosts: list[HostEntry]  # `--plan-from A,B`: one per package family (issue 12)


def prepare_fleet(job: FleetJob) -> PreparedFleet:
    """Read the inventory, select the hosts, check every host's options; ConfigurationError."""
    inventory = load_inventories(job.sources, job.inventory_commands)
    hosts = select_hosts(inventory, job.limit)
    if not hosts:
        raise ConfigurationError(f"{inventory.path}: the inventory has no host")
    names = [n.strip() for n in (job.plan_from or "").split(",") if n.strip()]
    plan_hosts = [inventory.host(name) for name in names] or [hosts[0]]
    plan_options = host_options(job.options, plan_hosts[0])
    options = all_host_options(job.options, list(dict.fromkeys([*plan_hosts, *hosts])))
    return PreparedFleet(hosts, options, plan_hosts[0], plan_options, plan_hosts)


async def list_groups(prepared: PreparedFleet, *, prober: Probe | None = None) -> list[str]:
    """Return the plan groups `--list-hosts` shows: each server's family and release, read
    from the server (one short read-only command each), and where its plan would be frozen.
    """

    async def probe(host: HostEntry) -> str:
        return await probe_family(target_of(host), prepared.options[host.name])

    hosts, plan_hosts = prepared.hosts, prepared.plan_hosts
    groups = await probe_groups(list(dict.fromkeys([*plan_hosts, *hosts])), prober or probe)
    sources = plan_sources(hosts, plan_hosts, groups)
    plans = {group: FamilyPlan(group, source.name, None) for group, source in sources.items()}
    return group_lines(follow(hosts, plan_hosts, groups, plans))


async def run_fleet_job(
    job: FleetJob,
    *,
    store: Store,
    on_server: Callable[[Event], None],
    on_fleet: Callable[[FleetEvent], None],
    prepared: PreparedFleet | None = None,
    runner: RunTarget | None = None,
    prober: Probe | None = None,
) -> FleetResult:
    """Freeze a plan per package family on its plan host, then roll every host out through
    run_target (fleet/families.py).

    prepared is the job's `prepare_fleet` when the caller already has it (to show the hosts
    before anything runs); runner stands for `run_target` and prober for the family probe
    (bench/fleet_sim.py passes ones that reach simulated targets). The servers connect and
    deploy while the plans are frozen (each waits for its plan before its lock).
    Cancellation propagates; every server's state is stored, so the same job run id
    resumes them. While it runs, the garbage collector's young generation is sized to the
    servers in flight (collector.py).
    """
    prepared = prepared or prepare_fleet(job)
    runner = runner or run_target  # looked up now: tests replace the module's
    options = prepared.options

    async def probe(host: HostEntry) -> str:
        """Read host's group; patiently when its server run is unfinished (it may be rebooting)."""
        row = store.run(server_run_id(job.run_id, host.name))
        is_mid_run = row is not None and row.is_resumable
        patience = options[host.name].reboot_timeout if is_mid_run else 0.0

        async def once(entry: HostEntry) -> str:
            return await probe_family(target_of(entry), options[entry.name])

        return await probe_patiently(once, host, patience)

    async def freeze(host: HostEntry, run_id: str) -> Mapping[str, str] | None:
        return await freeze_plan(
            runner, host, options[host.name], fleet_run_id=run_id, store=store,
            on_event=on_server,
        )  # fmt: skip

    families = asyncio.ensure_future(
        family_plans(
            prepared.hosts,
            prepared.plan_hosts,
            fleet_run_id=job.run_id,
            is_check_only=prepared.plan_options.check_only,
            probe=prober or probe,
            freeze=freeze,
            at_once=job.rollout.concurrency,
        )
    )
    run_one = run_one_with(
        runner,
        options=options,
        plan=None,
        fleet_run_id=job.run_id,
        store=store,
        on_event=on_server,
        families_later=families,
    )
    rollout = asyncio.ensure_future(
        run_fleet(prepared.hosts, run_one, job.rollout, on_event=on_fleet)
    )
    with young_generation_for(min(job.rollout.concurrency, len(prepared.hosts))):
        try:
            plans = await families  # meanwhile the servers connect and deploy; no lock yet
        except BaseException:
            rollout.cancel()
            await asyncio.gather(rollout, return_exceptions=True)
            raise
        for line in group_lines(plans):
            on_fleet(FleetEvent("group", detail=line))
        return await rollout
