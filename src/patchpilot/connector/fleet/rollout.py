"""The fleet engine: one asyncio process rolls a run out over many servers, in batches.

It knows nothing of rounds or transports: it orders the hosts, cuts them into `--serial`
batches, starts at most `--concurrency` servers at once through a `RunOne` coroutine (in
production, `job.py` wraps the connector's `run_target`, the one round loop), and
stops starting servers once the failures of a batch exceed `--max-fail-percent` — servers
already in flight always finish. It returns a `FleetResult`: every server's outcome, totals
and the fleet's exit code.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from patchpilot.connector.inventory import HostEntry
from patchpilot.connector.maintenance_window import is_closed
from patchpilot.connector.run_status import RunStatus
from patchpilot.errors import Cancelled, ConfigurationError, PatchpilotError

__all__ = [
    "EXIT_FLEET_FAILED",
    "FleetEvent",
    "FleetOptions",
    "FleetResult",
    "Order",
    "RunOne",
    "ServerOutcome",
    "exceeds_fail_threshold",
    "order_hosts",
    "parse_serial",
    "plan_batches",
    "run_fleet",
]

log = logging.getLogger(__name__)

EXIT_FLEET_FAILED = 86
"""Native exit code when servers ended with different codes or the rollout stopped early (the
WSUS table has -1 for it)."""
EXIT_WINDOW_CLOSED = 84
PAUSE_POLL = 1.0  # seconds between looks at the pause file
"""Native exit code when the maintenance window left servers not started (WSUS: -1)."""


# Where a fleet's server can end: the fleet document's totals count each.
_ENDS = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.NOT_STARTED)


class Order(enum.Enum):
    """In which order servers are started (Ansible's play `order`)."""

    INVENTORY = "inventory"
    SORTED = "sorted"
    SHUFFLE = "shuffle"


@dataclass(frozen=True)
class ServerOutcome:
    """What one server's run came to: its exit code and its result as `patchpilot run` writes it.

    is_failure says whether the server counts against `--max-fail-percent` (a run that ended
    with updates installed but a reboot deferred by policy is not a failure).
    """

    host: str
    exit_code: int
    is_failure: bool
    result: Mapping[str, object] = field(default_factory=dict, hash=False)

    @property
    def status(self) -> RunStatus:
        return RunStatus.FAILED if self.is_failure else RunStatus.SUCCEEDED


RunOne = Callable[[HostEntry], Awaitable[ServerOutcome]]
"""Run one server to the end (all its rounds); raise PatchpilotError when it cannot."""


@dataclass(frozen=True)
class FleetOptions:
    """The rollout rules; serial holds batch sizes (`3`, `"30%"`), the last one repeating."""

    concurrency: int = 50
    serial: tuple[int | str, ...] = ()
    max_fail_percent: float | None = None
    order: Order = Order.INVENTORY
    seed: int | None = None
    failure_code: int = EXIT_FLEET_FAILED
    deadline: datetime | None = None  # the maintenance window (connector/maintenance_window.py)
    cutoff: float = 0.0
    window_code: int = EXIT_WINDOW_CLOSED
    max_fail: int | None = None  # failures in all batches of the run that stop new servers
    pause_file: Path | None = None  # while it exists, no new server starts (fleet/pause.py)
    pause_timeout: float = 4 * 3600.0  # a pause this long ends the rollout (exit 86)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigurationError("--concurrency must be at least 1")
        if self.max_fail is not None and self.max_fail < 1:
            raise ConfigurationError("--max-fail must be at least 1")
        if not 0 < self.pause_timeout <= 7 * 86400:
            raise ConfigurationError("--pause-timeout must be from 1 s to 7 days")
        if self.max_fail_percent is not None and not 0 <= self.max_fail_percent <= 100:
            raise ConfigurationError("--max-fail-percent must be between 0 and 100")


@dataclass(frozen=True)
class FleetEvent:
    """A step of the rollout: `batch` (hosts starting), `start`, `end`, `stop` (threshold),
    `window` (the maintenance window ended: no new server starts), `group` (a plan group
    and its servers, once the groups are known: families.py), `pause` and `resume` (the
    pause file appeared, went away), `pause-timeout` (paused too long: no new server)."""

    kind: str
    host: str | None = None
    batch: int = 0
    detail: str = ""


@dataclass(frozen=True)
class FleetResult:
    """Every selected server's outcome, in start order, and whether the rollout stopped early."""

    outcomes: tuple[ServerOutcome | None, ...]
    hosts: tuple[str, ...]
    stopped_early: bool
    failure_code: int = EXIT_FLEET_FAILED
    is_window_closed: bool = False  # the window ended the rollout: servers were not started
    window_code: int = EXIT_WINDOW_CLOSED

    def status(self, index: int) -> RunStatus:
        outcome = self.outcomes[index]
        return RunStatus.NOT_STARTED if outcome is None else outcome.status

    @property
    def totals(self) -> dict[str, int]:
        counts = {s.value: 0 for s in _ENDS}
        for index in range(len(self.hosts)):
            counts[self.status(index).value] += 1
        return {"servers": len(self.hosts), **counts}

    @property
    def exit_code(self) -> int:
        """Summarise the servers' codes in one.

        No failure: the highest server code (0 success, 10 a reboot pending, ...). Failures:
        their code when every server ended with it, else failure_code; failure_code too when
        the rollout stopped early; window_code when the window left servers not started
        (and no started server failed).
        """
        done = [o for o in self.outcomes if o is not None]
        if self.is_window_closed and not any(o.is_failure for o in done):
            return self.window_code
        if self.stopped_early or len(done) < len(self.outcomes):
            return self.failure_code
        if not any(o.is_failure for o in done):
            return max((o.exit_code for o in done), default=0)
        codes = {o.exit_code for o in done}
        return codes.pop() if len(codes) == 1 else self.failure_code

    def to_dict(self) -> dict[str, object]:
        """Return the fleet result JSON document."""
        servers = []
        for index, host in enumerate(self.hosts):
            outcome = self.outcomes[index]
            servers.append(
                {
                    "host": host,
                    "status": self.status(index).value,
                    "exit_code": None if outcome is None else outcome.exit_code,
                    "result": None if outcome is None else dict(outcome.result),
                }
            )
        return {
            "exit_code": self.exit_code,
            "stopped_early": self.stopped_early,
            "window_closed": self.is_window_closed,
            "totals": self.totals,
            "servers": servers,
        }


def parse_serial(text: str) -> tuple[int | str, ...]:
    """Parse `--serial`: `N`, `N%`, or a comma list of them (`1,5,25%`); ConfigurationError."""
    sizes: list[int | str] = []
    for item in (part.strip() for part in text.split(",")):
        number = item[:-1] if item.endswith("%") else item
        if not number.isdigit() or int(number) == 0 or (item.endswith("%") and int(number) > 100):
            raise ConfigurationError(f"--serial: {item!r} is not N or N% (N > 0)")
        sizes.append(item if item.endswith("%") else int(item))
    return tuple(sizes)


def order_hosts(
    hosts: Sequence[HostEntry], order: Order, seed: int | None = None
) -> list[HostEntry]:
    """Return hosts in rollout order: as selected, by name, or shuffled (seeded for tests)."""
    if order is Order.SORTED:
        return sorted(hosts, key=lambda h: h.name)
    if order is Order.SHUFFLE:
        shuffled = list(hosts)
        random.Random(seed).shuffle(shuffled)  # noqa: S311 - rollout order, not a secret
        return shuffled
    return list(hosts)


def plan_batches(count: int, serial: Sequence[int | str]) -> list[int]:
    """Return batch sizes covering count hosts, as Ansible's `serial` cuts them.

    A percentage is of the whole selection, rounded down but at least 1; the last size repeats.
    """
    if not serial:
        return [count] if count else []
    sizes: list[int] = []
    remaining = count
    index = 0
    while remaining > 0:
        spec = serial[min(index, len(serial) - 1)]
        size = _batch_size(spec, count)
        sizes.append(min(size, remaining))
        remaining -= sizes[-1]
        index += 1
    return sizes


def _batch_size(spec: int | str, count: int) -> int:
    if isinstance(spec, str):
        return max(1, math.floor(count * int(spec.rstrip("%")) / 100))
    return spec


def exceeds_fail_threshold(failed: int, batch_size: int, max_fail_percent: float | None) -> bool:
    """Say whether a batch's failures stop the rollout.

    With a threshold: more than max_fail_percent of the batch failed (Ansible's rule). Without
    one: every server of the batch failed.
    """
    if failed == 0 or batch_size == 0:
        return False
    if max_fail_percent is None:
        return failed >= batch_size
    return failed * 100 / batch_size > max_fail_percent


async def run_fleet(
    hosts: Sequence[HostEntry],
    run_one: RunOne,
    options: FleetOptions,
    *,
    on_event: Callable[[FleetEvent], None] = lambda event: None,
) -> FleetResult:
    """Roll run_one out over hosts batch by batch; return every server's outcome."""
    ordered = order_hosts(hosts, options.order, options.seed)
    rollout = _Rollout(run_one, options, on_event)
    start = 0
    for number, size in enumerate(plan_batches(len(ordered), options.serial), start=1):
        batch = ordered[start : start + size]
        start += size
        if rollout.stopped:
            break
        await rollout.run_batch(number, batch)
    outcomes = tuple(rollout.outcomes.get(h.name) for h in ordered)
    return FleetResult(
        outcomes=outcomes,
        hosts=tuple(h.name for h in ordered),
        stopped_early=rollout.stopped and None in outcomes,
        failure_code=options.failure_code,
        is_window_closed=rollout.is_window_closed and None in outcomes,
        window_code=options.window_code,
    )


class _Rollout:
    """The state of one rollout: outcomes so far and whether new servers may still start."""

    def __init__(
        self, run_one: RunOne, options: FleetOptions, on_event: Callable[[FleetEvent], None]
    ) -> None:
        self.run_one = run_one
        self.options = options
        self.on_event = on_event
        self.outcomes: dict[str, ServerOutcome] = {}
        self.stopped = False
        self.is_window_closed = False
        self.batch_failed = 0
        self.total_failed = 0  # in every batch so far (--max-fail)
        self.paused_since: float | None = None
        self.slots = asyncio.Semaphore(options.concurrency)

    async def run_batch(self, number: int, batch: Sequence[HostEntry]) -> None:
        """Run one batch; a server waiting for a slot when the threshold trips never starts."""
        self.on_event(FleetEvent("batch", batch=number, detail=" ".join(h.name for h in batch)))
        self.batch_failed = 0
        async with asyncio.TaskGroup() as group:
            for host in batch:
                group.create_task(self._run_server(number, host, len(batch)))

    async def _run_server(self, number: int, host: HostEntry, size: int) -> None:
        async with self.slots:
            if self.stopped or self._window_closed() or not await self._unpaused():
                return
            self.on_event(FleetEvent("start", host=host.name, batch=number))
            outcome = await self._outcome(host)
            self.outcomes[host.name] = outcome
            self.on_event(FleetEvent("end", host.name, number, outcome.status.value))
            self.batch_failed += outcome.is_failure
            self.total_failed += outcome.is_failure
            if not self.stopped:
                self._check_failures(number, size)

    def _check_failures(self, number: int, size: int) -> None:
        """Stop new servers once a batch's share (--max-fail-percent) or the run's count in
        every batch so far (--max-fail) of failures is reached."""
        budget = self.options.max_fail
        if exceeds_fail_threshold(self.batch_failed, size, self.options.max_fail_percent):
            detail = f"{self.batch_failed}/{size} failed"
        elif budget is not None and self.total_failed >= budget:
            detail = f"{self.total_failed} failed in all batches (--max-fail {budget})"
        else:
            return
        self.stopped = True
        self.on_event(FleetEvent("stop", batch=number, detail=detail))

    async def _unpaused(self) -> bool:
        """Wait while the pause file exists (`patchpilot pause`); say whether the server may
        start. The pause is announced once; the window closing, the rollout stopping or a
        pause longer than --pause-timeout end the wait with False."""
        path = self.options.pause_file
        while path is not None and path.exists():
            if self.paused_since is None:
                self.paused_since = time.monotonic()
                self.on_event(FleetEvent("pause", detail=str(path)))
            if self.stopped or self._window_closed():
                return False
            if time.monotonic() - self.paused_since > self.options.pause_timeout:
                self.stopped = True
                detail = f"paused longer than --pause-timeout {self.options.pause_timeout:g} s"
                self.on_event(FleetEvent("pause-timeout", detail=detail))
                return False
            await asyncio.sleep(PAUSE_POLL)
        if self.paused_since is not None:
            self.paused_since = None
            self.on_event(FleetEvent("resume"))
        return not self.stopped

    def _window_closed(self) -> bool:
        """Say (and announce once) that the maintenance window lets no new server start."""
        if self.is_window_closed:
            return True
        if not is_closed(self.options.deadline, self.options.cutoff):
            return False
        self.is_window_closed = self.stopped = True
        self.on_event(FleetEvent("window", detail="the maintenance window ended"))
        return True

    async def _outcome(self, host: HostEntry) -> ServerOutcome:
        """Run one server; an error becomes that server's failure, never the fleet's crash."""
        try:
            return await self.run_one(host)
        except Cancelled:
            raise
        except PatchpilotError as exc:
            error = {"error": str(exc), "error_type": type(exc).__name__}
            return ServerOutcome(host.name, exc.exit_code, True, error)
        except Exception as exc:
            log.exception("internal error while running %s", host.name)
            error = {"error": f"internal error: {exc!r}", "error_type": "InternalError"}
            return ServerOutcome(host.name, PatchpilotError.exit_code, True, error)
