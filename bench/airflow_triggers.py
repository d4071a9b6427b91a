"""How many servers waiting for a reboot one Airflow triggerer process holds, and the memory
each deferred task costs there.

The triggerer runs every trigger as a coroutine of one event loop. This bench does the same
with N real `PatchpilotTrigger`s in one process of the Airflow venv (scripts/airflow-venv.sh),
each resuming a run stored in a real PostgreSQL (the shared store) as "rebooting": the
connector then waits for its server exactly as in a reboot, retrying SSH with back-off (1 s
doubling to 10 s) against a loopback port that refuses, as a server does while it boots.
For each N, in a fresh process: resident memory after the triggers settled, CPU used per
second, and the event loop's worst lag (Airflow warns above 0.2 s: a trigger blocked it).

Usage (root, needs Debian's postgresql):
  PYTHONPATH=src $(scripts/airflow-venv.sh)/bin/python bench/airflow_triggers.py \
      [--counts 0,500,1000,2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from patchpilot.connector.options import RunOptions
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RoundRow, RunRow, Store, open_store
from patchpilot.lab.postgres import PG_PASSWORD, PostgresServer

KEY = "7a" * 32


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _seed(store: Store, count: int, known_hosts: str) -> list[str]:
    """Store count runs whose round 1 is rebooting; return their ids."""
    options = RunOptions(known_hosts=known_hosts, reboot_timeout=3600, stability_window=0)
    ids = []
    for n in range(count):
        run_id = f"bench-{n}"
        row = RunRow(run_id, f"srv{n}", "install", options.model_copy(
            update={"run_id": run_id}).model_dump_json(), Secret.generate(), "running", None,
            "2026-01-01T00:00:00Z", None, None)  # fmt: skip
        store.create_run(row)
        store.save_round(RoundRow(run_id, 1, "rebooting", "systemd-run", "t", "boot-before"))
        ids.append(run_id)
    return ids


async def _measure(
    count: int, url: str, state: Path, settle: float, window: float
) -> dict[str, object]:
    from patchpilot.airflow.trigger import PatchpilotTrigger

    known_hosts = state / "known_hosts"
    known_hosts.touch()
    seeder = open_store(state, url=url, password=Secret(PG_PASSWORD))
    ids = _seed(seeder, count, str(known_hosts))
    seeder.close()
    attempts = 0

    async def booting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts  # a server whose sshd is not up yet: the connection drops at once
        attempts += 1
        writer.close()

    server = await asyncio.start_server(booting, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    base_rss = _rss_mib()
    options = {"reboot_timeout": 3600, "stability_window": 0}
    tasks = []
    for n, run_id in enumerate(ids):
        trigger = PatchpilotTrigger(target=f"srv{n}", run_id=run_id, options=options,
                                    host="127.0.0.1", port=port, state_url=url,
                                    state_dir=str(state))  # fmt: skip
        tasks.append(asyncio.create_task(anext(aiter(trigger.run()))))
    await asyncio.sleep(settle)
    lag, cpu0, t0, attempts0 = 0.0, _cpu(), time.monotonic(), attempts
    while time.monotonic() - t0 < window:
        before = time.monotonic()
        await asyncio.sleep(0.05)
        lag = max(lag, time.monotonic() - before - 0.05)
    seconds = time.monotonic() - t0
    cpu = (_cpu() - cpu0) / seconds
    rate = (attempts - attempts0) / seconds
    done = sum(t.done() for t in tasks)
    rss = _rss_mib()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    server.close()
    return {
        "count": count,
        "rss_mib": round(rss, 1),
        "base_rss_mib": round(base_rss, 1),
        "cpu_fraction": round(cpu, 3),
        "max_loop_lag_s": round(lag, 3),
        "finished": done,
        "ssh_attempts_per_s": round(rate, 1),
    }


def _one(count: int, url: str, settle: float, window: float) -> None:
    import logging

    logging.disable(logging.CRITICAL)  # the triggerer would ship each line to a task log
    os.environ["PATCHPILOT_STATE_KEY"] = KEY
    with tempfile.TemporaryDirectory() as state:
        result = asyncio.run(_measure(count, url, Path(state), settle, window))
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="0,250,1000,2000")
    parser.add_argument("--settle", type=float, default=40.0)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--one", type=int)
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.one is not None:
        _one(args.one, args.url, args.settle, args.window)
        return
    rows = []
    with PostgresServer() as pg:
        for n, count in enumerate(int(c) for c in args.counts.split(",")):
            url = pg.create_database(f"bench{n}")
            done = subprocess.run(
                [sys.executable, __file__, "--one", str(count), "--url", url,
                 "--settle", str(args.settle), "--window", str(args.window)],
                capture_output=True, text=True, check=True,
                env={**os.environ, "PGPASSWORD": PG_PASSWORD},
            )  # fmt: skip
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    print("\n| waiting servers | RSS MiB | KiB per added deferred task | CPU (cores) | "
          "max loop lag s | SSH attempts/s |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|")
    previous = None
    for r in rows:
        per = ""
        if previous is not None and r["count"] > previous["count"]:
            added = r["count"] - previous["count"]
            per = f"{(r['rss_mib'] - previous['rss_mib']) * 1024 / added:.0f}"
        print(f"| {r['count']} | {r['rss_mib']} | {per} | {r['cpu_fraction']} | "
              f"{r['max_loop_lag_s']} | {r['ssh_attempts_per_s']} |")  # fmt: skip
        previous = r


if __name__ == "__main__":
    main()
