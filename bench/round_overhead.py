"""Measure the connector's overhead per round on lab servers: wall time minus the client's
own work and the reboot itself.

Each run patches a fresh lab server end to end (`patchpilot run ... --log-format json`) and
is split, from the connector's event timestamps and the client's journal timestamps, into:
  client work   run.started → round.result (the client's own records)
  reboot        await_reboot → ready (new boot id read, `systemctl is-system-running` ok)
  stability     the deliberate stability window (`--stability-window`, default 5 s)
  overhead      the rest of the round: launch (job spec, systemd-run, start watch), attach
                and authentication, ack, verify and cleanup, boot-id reads
and the fixed cost per run (connect, launcher choice, client push, lock; result).

Usage (root): .venv/bin/python bench/round_overhead.py [--runs 5] [--stability-window 1]
              [--flavors apt,dnf,zypper]   (one table per kind of lab server; docs/rpm.md)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from patchpilot.lab.lab import Lab

PATCHPILOT = str(Path(sys.executable).parent / "patchpilot")


def _t(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class RoundTimes:
    wall: float
    client: float
    reboot: float
    stability: float

    @property
    def overhead(self) -> float:
        return self.wall - self.client - self.reboot - self.stability


def _marks(events: list[dict[str, Any]]) -> dict[tuple[int, str], float]:
    """Return the first timestamp of each (round, mark) in the event stream."""
    marks: dict[tuple[int, str], float] = {}
    for event in events:
        round_no = int(event.get("round") or 0)
        if event["kind"] == "phase":
            key = (round_no, event["phase"])
        elif event["kind"] == "record":
            key, event = (round_no, event["record"]["event"]), event["record"]
        else:
            key = (0, event["kind"])
        marks.setdefault(key, _t(event["ts"]))
    return marks


def split_rounds(events: list[dict[str, Any]]) -> tuple[list[RoundTimes], float]:
    """Return each round's times and the run's fixed overhead (outside any round)."""
    m = _marks(events)
    rounds = sorted({r for r, name in m if r and name == "launch"})
    times = []
    for r in rounds:
        end = m.get((r + 1, "launch"), m[(0, "run.end")])
        rebooted = (r, "await_reboot") in m
        reboot = m[(r, "reboot.stability")] - m[(r, "await_reboot")] if rebooted else 0.0
        stability = m[(r, "verify")] - m[(r, "reboot.stability")] if rebooted else 0.0
        client = m[(r, "round.result")] - m[(r, "run.started")]
        times.append(RoundTimes(end - m[(r, "launch")], client, reboot, stability))
    fixed = (m[(rounds[0], "launch")] - m[(0, "run.start")]) if rounds else 0.0
    return times, fixed


def one_run(
    lab: Lab, state: Path, index: int, stability: float, flavor: str = "apt"
) -> tuple[list[RoundTimes], float, float]:
    server = lab.add_server(flavor=flavor)
    try:
        argv = [
            PATCHPILOT,
            "run",
            server.name,
            "-F",
            str(lab.ssh_config_path),
            "--state-dir",
            str(state),
            "--log-format",
            "json",
            "--stability-window",
            str(stability),
            "--run-id",
            f"bench-{flavor}-{index}",
        ]
        done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=600)
    finally:
        lab.remove_server(server.name)
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["status"] == "success", result
    events = [json.loads(line) for line in lines[:-1]]
    times, fixed = split_rounds(events)
    return times, fixed, _t(result["finished"]) - _t(result["started"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stability-window", type=float, default=1.0)
    parser.add_argument("--flavors", default="apt", help="apt,dnf,zypper: servers to measure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pp-bench-") as tmp:
        lab = Lab(Path(tmp) / "lab")
        lab.up(0)
        try:
            for flavor in args.flavors.split(","):
                runs = [
                    one_run(lab, Path(tmp) / "state", i, args.stability_window, flavor)
                    for i in range(args.runs)
                ]
                print(f"\n{flavor} servers:\n")
                report(runs, args.stability_window)
        finally:
            lab.down()


def report(runs: list[tuple[list[RoundTimes], float, float]], stability: float) -> None:
    rounds = [r for times, _, _ in runs for r in times]
    overheads = [r.overhead for r in rounds]
    rows = [
        ("runs (fresh server each; full cycle)", f"{len(runs)}"),
        ("rounds", f"{len(rounds)} ({len(rounds) / len(runs):.1f} per run)"),
        ("run wall time, median", f"{statistics.median(w for _, _, w in runs):.2f} s"),
        ("client work per round, median", f"{statistics.median(r.client for r in rounds):.2f} s"),
        (
            "reboot (to new boot id and ready), median of rebooted rounds",
            f"{statistics.median(r.reboot for r in rounds if r.reboot):.2f} s",
        ),
        (f"stability window (--stability-window {stability:g})", f"{stability:g} s per reboot"),
        ("**connector overhead per round, median**", f"**{statistics.median(overheads):.2f} s**"),
        ("connector overhead per round, max", f"{max(overheads):.2f} s"),
        (
            "fixed per run (connect, launcher, client push, lock), median",
            f"{statistics.median(f for _, f, _ in runs):.2f} s",
        ),
    ]
    print("| figure | measured |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
