"""Shared by the fleet benchmarks: measure a command's process tree, give a lab's servers.

`measure(argv)` runs argv under a small wrapper (this file with `--wrap`) that makes itself a
child subreaper, so every process argv starts — Ansible's forks, ssh control masters that
outlive their parent — stays in its tree and is reaped by it; the wrapper reports the CPU
seconds of the whole tree (user + system, from getrusage of its reaped children). Meanwhile
the parent samples the tree's memory every 0.2 s: the sum of each process's PSS (shared pages
counted once across forks, fair to a forking tool) and of its RSS; the peaks are reported.
`end_state(lab, names)` reads every server's lab-* package versions and pending reboot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from patchpilot.lab.catalog import FINAL_VERSIONS
from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

__all__ = [
    "Measured",
    "bench_lab",
    "emit",
    "end_state",
    "expected_state",
    "measure",
    "write_inventory",
]

_PR_SET_CHILD_SUBREAPER = 36
_SAMPLE_SECONDS = 0.2


@dataclass(frozen=True)
class Measured:
    """What one command cost: wall seconds, CPU seconds of its tree, peak memory (MiB)."""

    wall: float
    cpu: float
    peak_pss_mib: float
    peak_rss_mib: float
    exit_status: int
    processes: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "wall_s": round(self.wall, 2),
            "cpu_s": round(self.cpu, 2),
            "peak_pss_mib": round(self.peak_pss_mib, 1),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "exit_status": self.exit_status,
            "peak_processes": self.processes,
        }


def measure(
    argv: Sequence[str], *, env: dict[str, str] | None = None, log: Path | None = None
) -> Measured:
    """Run argv to its end; return its wall time, tree CPU seconds and peak tree memory."""
    read_fd, write_fd = os.pipe()
    wrapper = [sys.executable, str(Path(__file__).resolve()), "--wrap", str(write_fd), "--"]
    out = log.open("wb") if log is not None else subprocess.DEVNULL
    started = time.monotonic()
    process = subprocess.Popen(
        [*wrapper, *argv], env=env, stdout=out, stderr=subprocess.STDOUT, pass_fds=(write_fd,)
    )
    os.close(write_fd)
    sampler = _Sampler(process.pid)
    sampler.start()
    with os.fdopen(read_fd) as report:
        usage = json.loads(report.read() or "{}")
    process.wait()
    wall = time.monotonic() - started
    sampler.stop()
    return Measured(
        wall=wall,
        cpu=float(usage.get("cpu", 0.0)),
        peak_pss_mib=sampler.peak_pss / 1024,
        peak_rss_mib=sampler.peak_rss / 1024,
        exit_status=int(usage.get("status", process.returncode)),
        processes=sampler.peak_count,
    )


class _Sampler(threading.Thread):
    """Sample the memory of every descendant of root (not root itself, the tiny wrapper)."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak_pss = 0
        self.peak_rss = 0
        self.peak_count = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(_SAMPLE_SECONDS):
            pids = _descendants(self.root)
            pss = rss = 0
            for pid in pids:
                got = _memory_kib(pid)
                pss, rss = pss + got[0], rss + got[1]
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_count = max(self.peak_count, len(pids))

    def stop(self) -> None:
        self._done.set()
        self.join()


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    queue = list(children.get(root, []))
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found


def _memory_kib(pid: int) -> tuple[int, int]:
    """Return (PSS, RSS) of pid in KiB; (0, 0) once it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("Pss:", "Rss:"):
            values[parts[0]] = int(parts[1])
    return values.get("Pss:", 0), values.get("Rss:", 0)


def _wrap(report_fd: int, argv: list[str]) -> None:
    """Run argv as a subreaper; reap every process of the tree; report its CPU to report_fd."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    child = subprocess.Popen(argv)
    status = child.wait()
    _end_leftovers(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            if time.monotonic() > deadline:
                _end_leftovers(signal.SIGKILL)
            time.sleep(0.05)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    with os.fdopen(report_fd, "w") as report:
        json.dump({"cpu": usage.ru_utime + usage.ru_stime, "status": status}, report)


def _end_leftovers(signum: int) -> None:
    """Signal what argv left behind (ssh ControlPersist masters and the like)."""
    for pid in _descendants(os.getpid()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def write_inventory(path: Path, servers: Sequence[Server], *, key: Path, known_hosts: Path) -> None:
    """Write an Ansible YAML inventory (group `bench`) of the given lab servers."""
    hosts = {
        s.name: {
            "ansible_host": s.address,
            "ansible_port": s.ssh_port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(key),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts}",
        }
        for s in servers
    }
    path.write_text(yaml.safe_dump({"bench": {"hosts": hosts}}, sort_keys=False))


def expected_state() -> dict[str, str]:
    """Return the lab-* versions every server has once everything is applied."""
    return dict(FINAL_VERSIONS)


async def _server_state(ssh_config: Path, name: str, slots: asyncio.Semaphore) -> dict[str, str]:
    script = (
        "dpkg-query -W -f='${Package}=${Version}\\n' 'lab-*'; "
        "test -e /var/run/reboot-required && echo reboot-required=yes || true"
    )
    async with slots:
        process = await asyncio.create_subprocess_exec(
            "ssh",
            "-F",
            str(ssh_config),
            "-o",
            "BatchMode=yes",
            name,
            script,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await process.communicate()
    pairs = (line.split("=", 1) for line in out.decode().splitlines() if "=" in line)
    return dict(pairs)


async def _states(ssh_config: Path, names: Sequence[str]) -> dict[str, dict[str, str]]:
    slots = asyncio.Semaphore(20)
    found = await asyncio.gather(*(_server_state(ssh_config, n, slots) for n in names))
    return dict(zip(names, found, strict=True))


def end_state(ssh_config: Path, names: Sequence[str]) -> dict[str, dict[str, str]]:
    """Return each server's installed lab-* versions (and `reboot-required` when pending)."""
    return asyncio.run(_states(ssh_config, names))


@contextlib.contextmanager
def bench_lab() -> Iterator[tuple[Lab, Path]]:
    """Start a lab with no servers in a temporary folder; yield it and a work folder.

    A lab numbers its servers once (253 at most over its life): start one per measured run.
    """
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        lab = Lab(Path(tmp) / "lab")
        lab.up(0)
        try:
            yield lab, Path(tmp)
        finally:
            lab.down()


def emit(report: dict[str, object], path: Path | None) -> None:
    """Print the report as JSON, and write it to path when given."""
    text = json.dumps(report, indent=2)
    print(text)
    if path is not None:
        path.write_text(text + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wrap", type=int, required=True)
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    _wrap(args.wrap, args.argv[1:] if args.argv[:1] == ["--"] else args.argv)


if __name__ == "__main__":
    main()
