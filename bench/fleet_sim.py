"""Benchmark: 1,000 and 10,000 simulated targets through the real connector, rollout and store.

Each simulated target is a transport double inside the connector's own event loop (the fakes
of the unit tests, tests/unit/connector/connector_fakes.py, with latencies): connecting
takes --connect-ms, every command --command-ms, the client's round --work-s before its
journal answers, and a reboot keeps the target unreachable for --reboot-s (each drawn
within ±--jitter of that mean). Everything else is the product: `run_fleet_job`
(inventory, options, the plan, the rollout), `run_target` (prepare, lock, rounds, the
journal protocol with its HMAC handshake, reboot proof, the stability window) and the
SQLite store, on disk. Two rounds and one reboot per server, as the lab's catalog.

Reported per size: wall time; peak RSS over the process's base divided by servers in flight
(an upper bound of the connector's memory per server: the doubles live in the same process);
CPU seconds per server-round (also including the doubles); event-loop lag (a 50 ms ticker's
lateness: p50, p99, max); the CPU time of full garbage collections (count, total, max);
store writes (rows changed) per second and the store's size; and,
between sizes, each per-server figure's growth (1.0 = linear). Run (no root needed):

    .venv/bin/python bench/fleet_sim.py [--sizes 1000,10000] [--json out.json]
        [--loop asyncio|uvloop] [--gc-freeze] [--young-per-server N]

--loop uvloop, --gc-freeze and --young-per-server are the variants issue 23 measured
(docs/benchmarks.md); uvloop is not a dependency of the product, only of the dev set that
scripts/install.sh puts in the .venv. --young-per-server 0 leaves the interpreter's young
generation as it is (the product sizes it to the servers in flight:
connector/fleet/collector.py).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "unit" / "connector"))

from connector_fakes import FakeClient, FakeTarget, final, record

from patchpilot.connector.events import Event
from patchpilot.connector.fleet import collector
from patchpilot.connector.fleet.job import FleetJob, run_fleet_job
from patchpilot.connector.fleet.rollout import FleetOptions
from patchpilot.connector.options import RunOptions
from patchpilot.connector.run.runner import run_target
from patchpilot.connector.run_result import RunResult
from patchpilot.connector.store import Store, open_store
from patchpilot.connector.target_spec import TargetSpec
from patchpilot.errors import ConnectError
from patchpilot.transports.base import Stream
from patchpilot.transports.fake import FakeTransport

PAGE = os.sysconf("SC_PAGE_SIZE")
PLAN = {"lab-a": "2", "lab-kernel": "6"}


@dataclass(frozen=True)
class Latency:
    """Mean seconds; each wait is drawn uniformly within ±jitter of its mean (real servers
    do not answer in lockstep: without it, 10,000 servers act in the same loop turn)."""

    connect: float
    command: float
    work: float
    reboot: float
    jitter: float = 0.5

    def draw(self, mean: float) -> float:
        return mean * random.uniform(1 - self.jitter, 1 + self.jitter)  # noqa: S311


def install_rounds() -> dict[int, list[dict[str, Any]]]:
    """Round 1: two updates, a reboot; round 2: the one that appears after it."""
    results = [
        {"id": "lab-a", "status": "installed", "version": "2"},
        {"id": "lab-kernel", "status": "installed", "version": "6"},
    ]
    return {
        1: [
            record(1, "run.started"),
            record(2, "plan.selected", selected=list(PLAN), plan=PLAN),
            record(3, "update.result", id="lab-a", status="installed", version="2"),
            record(4, "update.result", id="lab-kernel", status="installed", version="6"),
            final(5, will_reboot=True, results=results),
        ],
        2: [
            record(1, "run.started"),
            final(2, results=[{"id": "lab-stage2-x", "status": "installed", "version": "1"}]),
        ],
        3: [record(1, "run.started"), final(2, status="nothing", results=[])],
    }


def scan_rounds() -> dict[int, list[dict[str, Any]]]:
    """The plan host's check-only round."""
    return {
        1: [
            record(1, "run.started"),
            record(2, "plan.selected", selected=list(PLAN), plan=PLAN),
            final(3, status="available", results=[]),
        ]
    }


@dataclass
class SimTarget(FakeTarget):
    """A FakeTarget with latencies and a reboot that takes the target away for a while."""

    latency: Latency = field(default_factory=lambda: Latency(0, 0, 0, 0))
    down_until: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.transport = SimTransport(self)

    def _reboot_on_ack(self, round_no: int) -> Callable[[int], None]:
        change = super()._reboot_on_ack(round_no)

        def on_ack(seq: int) -> None:
            before = self.boot_id
            change(seq)
            if self.boot_id != before:
                self.down_until = time.monotonic() + self.latency.draw(self.latency.reboot)

        return on_ack

    def is_down(self) -> bool:
        return time.monotonic() < self.down_until

    async def answer(self, argv: tuple[str, ...], stdin: bytes | None) -> Any:
        await asyncio.sleep(self.latency.draw(self.latency.command))
        if self.is_down():
            return 255, ""
        return self.handle(argv, stdin)

    async def stream(self, argv: tuple[str, ...]) -> Stream:
        latency = self.latency
        await asyncio.sleep(latency.draw(latency.work if "attach" in argv else latency.command))
        return self.open_stream(argv)


class SimTransport(FakeTransport):
    """The double's transport: connect costs latency and fails while the target is down."""

    def __init__(self, target: SimTarget) -> None:
        super().__init__(target.answer, stream_handler=target.stream)
        self.target = target

    async def connect(self) -> None:
        await asyncio.sleep(self.target.latency.draw(self.target.latency.connect))
        if self.target.is_down():
            raise ConnectError("connection refused (simulated reboot)")
        self.is_connected = True

    async def run(self, argv: Any, **kwargs: Any) -> Any:
        self.commands.clear()  # the double keeps no history: its memory is not the connector's
        return await super().run(argv, **kwargs)


class SimRunner:
    """Stands for run_target: the same call, reaching each run's simulated target."""

    def __init__(self, latency: Latency, work: Path) -> None:
        self.latency = latency
        self.client = FakeClient.make(work)

    async def __call__(
        self,
        target: TargetSpec,
        options: RunOptions,
        *,
        store: Store,
        on_event: Callable[[Event], None],
        plan_later: Callable[[], Awaitable[dict[str, str] | None]] | None = None,
    ) -> RunResult:
        run_id = str(options.run_id)
        rounds = scan_rounds() if options.check_only else install_rounds()
        sim = SimTarget(run_id, rounds, scan=[{"id": "lab-stage2-x", "candidate_version": "1"}])
        sim.latency = self.latency
        return await run_target(
            target,
            options,
            store=store,
            on_event=on_event,
            transport=sim.transport,
            client=self.client,
            plan_later=plan_later,
        )


async def simulated_probe(latency: Latency) -> str:
    """The family probe (one SSH command on a real server): every double is Debian 12."""
    await asyncio.sleep(latency.draw(latency.connect + latency.command))
    return "deb/debian-12"


class LagMeter:
    """How late a 50 ms ticker wakes up: the event loop's lag."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.at: list[float] = []
        self.peak_rss = 0
        self.started = time.monotonic()

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(0.05)
            self.lags.append(time.monotonic() - started - 0.05)
            self.at.append(started - self.started)
            self.peak_rss = max(self.peak_rss, rss())

    def percentile(self, p: float) -> float:
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


class FullCollections:
    """The CPU time of Python's full (generation 2) garbage collections: unlike the lag, it
    does not grow when other processes take the cores."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._began = time.thread_time()
        else:
            self.pauses.append(time.thread_time() - self._began)

    def figures(self) -> dict[str, float]:
        return {
            "count": len(self.pauses),
            "total_ms": round(1000 * sum(self.pauses), 1),
            "max_ms": round(1000 * max(self.pauses, default=0.0), 1),
        }


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def write_inventory(path: Path, size: int) -> None:
    hosts = "".join(f"    sim-{i:05d}:\n" for i in range(1, size + 1))
    path.write_text(f"all:\n  hosts:\n{hosts}")


async def simulate(size: int, latency: Latency, work: Path, window: float) -> dict[str, Any]:
    """Run one fleet job over size simulated targets; return its figures."""
    write_inventory(work / "inventory.yml", size)
    store = open_store(work / "state")
    options = RunOptions(stability_window=window, reboot_timeout=600)
    job = FleetJob(
        work / "inventory.yml", None, FleetOptions(concurrency=size), None, "sim", options
    )
    meter, collections = LagMeter(), FullCollections()
    gc.callbacks.append(collections)
    base_rss = rss()
    ticker = asyncio.ensure_future(meter.run())
    cpu, wall = time.process_time(), time.monotonic()
    result = await run_fleet_job(
        job,
        store=store,
        on_server=lambda event: None,
        on_fleet=lambda event: None,
        runner=SimRunner(latency, work),
        prober=lambda host: simulated_probe(latency),
    )
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    ticker.cancel()
    gc.callbacks.remove(collections)
    changes = store._db.total_changes
    store.close()
    rounds = sum(len(o.result.get("rounds") or ()) for o in result.outcomes if o)
    failed = sum(1 for o in result.outcomes if o is None or o.is_failure)
    size_bytes = sum(f.stat().st_size for f in (work / "state").glob("state.sqlite*"))
    return {
        "servers": size,
        "failed": failed,
        "rounds": rounds,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_server_round": round(1000 * cpu / max(rounds, 1), 2),
        "rss_base_mib": round(base_rss / 2**20, 1),
        "rss_peak_mib": round(meter.peak_rss / 2**20, 1),
        "mib_per_server_in_flight": round((meter.peak_rss - base_rss) / 2**20 / size, 4),
        "loop_lag_ms": {
            "p50": round(1000 * meter.percentile(0.5), 1),
            "p99": round(1000 * meter.percentile(0.99), 1),
            "max": round(1000 * max(meter.lags, default=0.0), 1),
            "worst_at_s": [
                round(at, 1) for _, at in sorted(zip(meter.lags, meter.at, strict=True))[-5:]
            ],
        },
        "full_gc_cpu": collections.figures(),
        "store_rows_written": changes,
        "store_writes_per_s": round(changes / wall, 1),
        "store_mib": round(size_bytes / 2**20, 1),
        "store_kib_per_server": round(size_bytes / 1024 / size, 1),
        "max_rss_process_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def growth(small: dict[str, Any], large: dict[str, Any]) -> dict[str, float]:
    """Per-server figures of the larger size over the smaller's (1.0 = linear)."""
    keys = ("cpu_ms_per_server_round", "mib_per_server_in_flight", "store_kib_per_server")
    return {k: round(large[k] / small[k], 2) for k in keys if small[k]}


def run_loop(kind: str, work: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run the simulation on asyncio's own loop or on uvloop's (--loop)."""
    if kind == "uvloop":
        import uvloop  # only for this variant: in the dev set, not a dependency of the product

        return uvloop.run(work)
    return asyncio.run(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--connect-ms", type=float, default=150)
    parser.add_argument("--command-ms", type=float, default=40)
    parser.add_argument("--work-s", type=float, default=5)
    parser.add_argument("--reboot-s", type=float, default=20)
    parser.add_argument("--jitter", type=float, default=0.5, help="±fraction of each latency")
    parser.add_argument("--stability-window", type=float, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument(
        "--gc-freeze", action="store_true", help="gc.freeze() once started (before the job)"
    )
    parser.add_argument(
        "--young-per-server",
        type=int,
        default=collector.YOUNG_PER_SERVER,
        help="young-generation objects per server in flight (0: the interpreter's own)",
    )
    args = parser.parse_args()
    collector.YOUNG_PER_SERVER = args.young_per_server
    latency = Latency(
        args.connect_ms / 1000, args.command_ms / 1000, args.work_s, args.reboot_s, args.jitter
    )
    report: dict[str, Any] = {
        "load_before": os.getloadavg(),
        "latency": latency.__dict__,
        "loop": args.loop,
        "gc_freeze": args.gc_freeze,
        "young_per_server": args.young_per_server,
    }
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="fleet-sim-") as tmp:
        for size in sizes:
            work = Path(tmp) / f"n{size}"
            work.mkdir()
            if args.gc_freeze:
                gc.collect()
                gc.freeze()  # the start-up heap (modules, options) is never walked again
            figures = run_loop(args.loop, simulate(size, latency, work, args.stability_window))
            figures["load_after"] = os.getloadavg()
            report[str(size)] = figures
            print(json.dumps(figures), flush=True)
    if len(sizes) > 1:
        report["growth"] = growth(report[str(sizes[0])], report[str(sizes[-1])])
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
