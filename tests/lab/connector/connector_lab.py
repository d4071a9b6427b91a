"""Helpers for the connector's lab tests: run `patchpilot run` for real and read what it left."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchpilot.connector.run.own_journal import HOOK_ROUND
from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

PATCHPILOT = str(Path(sys.executable).parent / "patchpilot")


@dataclass
class Run:
    """One finished `patchpilot run`: exit status, output and the result it printed last."""

    exit_status: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def result(self) -> dict[str, Any]:
        return json.loads(self.stdout.strip().splitlines()[-1])

    @property
    def installed(self) -> dict[str, str]:
        return {u["id"]: u["version"] for u in self.result["updates"] if u["status"] == "installed"}


def argv(lab: Lab, server: Server | str, state: Path, *args: str) -> list[str]:
    name = server if isinstance(server, str) else server.name
    return [
        PATCHPILOT,
        "run",
        name,
        "-F",
        str(lab.ssh_config_path),
        "--state-dir",
        str(state),
        "--stability-window",
        "1",
        *args,
    ]


def run(lab: Lab, server: Server | str, state: Path, *args: str, timeout: float = 240) -> Run:
    started = time.monotonic()
    done = subprocess.run(
        argv(lab, server, state, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def records(state: Path, run_id: str) -> list[dict[str, Any]]:
    """Return the stored journal of a run, in order (round, seq)."""
    with sqlite3.connect(state / "state.sqlite") as db:
        rows = db.execute(
            "SELECT round, record FROM journal WHERE run_id = ? ORDER BY round, seq", (run_id,)
        ).fetchall()
    return [{"round": r, **json.loads(body)} for r, body in rows]


def wait_for_event(state: Path, run_id: str, event: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (state / "state.sqlite").exists():
            try:
                if any(r["event"] == event for r in records(state, run_id)):
                    return
            except sqlite3.OperationalError:
                pass
        time.sleep(0.1)
    raise AssertionError(f"no {event} record within {timeout} s")


def assert_whole_journal(state: Path, run_id: str) -> None:
    """Every round's journal is stored once, without gaps, each client round up to its final
    record (round 0 holds the connector's own records: the interpreter chosen, hooks)."""
    by_round: dict[int, list[int]] = {}
    for record in records(state, run_id):
        by_round.setdefault(record["round"], []).append(record["seq"])
    for seqs in by_round.values():
        assert seqs == list(range(1, len(seqs) + 1))
    finals = [r for r in records(state, run_id) if r["event"] == "round.result"]
    assert len(finals) == len(set(by_round) - {HOOK_ROUND}) > 0


def dpkg_installs(lab: Lab, server: Server, package: str) -> int:
    """Count how many times dpkg configured package on the server."""
    log = lab.ssh(server.name, ["cat", "/var/log/dpkg.log"]).stdout
    return sum(1 for line in log.splitlines() if f" configure {package}:" in line)


def lab_packages(lab: Lab, server: Server) -> str:
    """Return `name version status` of every lab package on the server, one a line."""
    fmt = "${Package} ${Version} ${db:Status-Abbrev}\\n"
    return lab.ssh(server.name, ["dpkg-query", "-W", "-f", fmt, "lab-*"]).stdout
