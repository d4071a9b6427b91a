"""Benchmark the lab: base build, server start, reboot cycle, and 100 servers at once.

Run as root: `.venv/bin/python bench/lab_bench.py [--servers 100] [--skip-base-build]
[--skip-vm]`.
Prints one JSON object with every figure (times in seconds, memory in MiB); the figures in
docs/benchmarks.md ("Lab") come from this script.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from patchpilot.lab import Lab
from patchpilot.lab.base import ensure_base
from patchpilot.lab.vmimage import ensure_vm_image

APT = "DEBIAN_FRONTEND=noninteractive apt-get -qq"


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def ssh(
    lab: Lab, name: str, command: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    argv = ["ssh", "-F", str(lab.ssh_config_path), "-o", "BatchMode=yes", name, command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def on_all(lab: Lab, names: list[str], command: str, workers: int = 25) -> list[str]:
    """Run command on every server in parallel; return the names where it failed."""
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda name: ssh(lab, name, command), names))
    return [name for name, result in zip(names, results, strict=True) if result.returncode != 0]


def boot_id(lab: Lab, name: str) -> str:
    return ssh(lab, name, "cat /proc/sys/kernel/random/boot_id", timeout=10).stdout.strip()


def reboot_cycle(lab: Lab, name: str) -> float:
    """Time from the reboot request to SSH answering with a new boot id."""
    old = boot_id(lab, name)
    started = time.monotonic()
    lab.reboot(name, wait=False)
    while True:
        new = boot_id(lab, name)
        if new and new != old:
            return time.monotonic() - started
        time.sleep(0.02)


def servers_pss_mib(lab: Lab) -> float:
    """Sum the proportional set size of every process of the lab's servers (nspawn and below)."""
    roots = [int(p.read_text()) for p in (lab.directory / "servers").glob("*/boot.pid")]
    total_kib = 0
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            for task in Path(f"/proc/{pid}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
        total_kib += sum(
            int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")
        )
    return total_kib / 1024


def bench_base() -> float:
    cache = Path(tempfile.mkdtemp(prefix="pp-bench-base-", dir="/var/tmp"))
    try:
        return timed(lambda: ensure_base(cache))
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def bench_small(lab: Lab) -> dict[str, float]:
    starts = [timed(lab.add_server) for _ in range(5)]
    name = lab.servers[0].name
    cycles = [reboot_cycle(lab, name) for _ in range(5)]
    for server in lab.servers:
        lab.remove_server(server.name)
    return {
        "server_start_s_median": statistics.median(starts),
        "server_start_s_max": max(starts),
        "reboot_cycle_s_median": statistics.median(cycles),
        "reboot_cycle_s_max": max(cycles),
    }


def bench_many(lab: Lab, count: int) -> dict[str, float]:
    before = available_mib()
    start_all = timed(lambda: lab.add_servers(count))
    time.sleep(10)  # let every server settle
    per_server = (before - available_mib()) / count
    pss = servers_pss_mib(lab) / count
    names = [server.name for server in lab.servers]
    ssh_failed: list[str] = []
    ssh_all = timed(lambda: ssh_failed.extend(on_all(lab, names, "true")))
    with ThreadPoolExecutor(count) as pool:
        reboot_all = timed(lambda: list(pool.map(lab.reboot, names)))
    after_failed = on_all(lab, names, "systemctl is-system-running --wait >/dev/null; true")
    install = (
        f"{APT} update && {APT} install -y lab-base-c && dpkg-query -W lab-base-c | grep -q 1.1"
    )
    install_failed: list[str] = []
    install_all = timed(lambda: install_failed.extend(on_all(lab, names, install)))
    return {
        "servers": count,
        "start_all_s": start_all,
        "mem_available_drop_mib_per_server": per_server,
        "pss_mib_per_server": pss,
        "ssh_all_s": ssh_all,
        "ssh_failed": len(ssh_failed),
        "reboot_all_s": reboot_all,
        "after_reboot_failed": len(after_failed),
        "install_all_s": install_all,
        "install_failed": len(install_failed),
    }


def bench_vm(lab: Lab) -> dict[str, float]:
    """Time a VM's first boot and a reboot cycle; measure the qemu process's memory."""
    figures = {"vm_image_build_or_reuse_s": timed(lambda: ensure_vm_image())}
    vm: list[str] = []
    figures["vm_boot_s"] = timed(lambda: vm.append(lab.add_vm().name))
    figures["vm_reboot_cycle_s"] = reboot_cycle(lab, vm[0])
    qemu = int((lab.directory / "servers" / vm[0] / "boot.pid").read_text())
    rollup = Path(f"/proc/{qemu}/smaps_rollup").read_text()
    pss = sum(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
    figures["vm_pss_mib"] = pss / 1024
    lab.remove_server(vm[0])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=100)
    parser.add_argument("--skip-base-build", action="store_true")
    parser.add_argument("--skip-vm", action="store_true")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    if not args.skip_base_build:
        figures["base_build_s"] = bench_base()
    lab = Lab(Path(tempfile.mkdtemp(prefix="pp-bench-lab-", dir="/var/tmp")))
    try:
        lab.up(0)
        figures.update(bench_small(lab))
        figures.update(bench_many(lab, args.servers))
        for server in lab.servers:
            lab.remove_server(server.name)
        if not args.skip_vm:
            figures.update(bench_vm(lab))
    finally:
        figures["down_s"] = timed(lab.down)
        shutil.rmtree(lab.directory, ignore_errors=True)
    print(json.dumps({key: round(value, 3) for key, value in figures.items()}, indent=1))


if __name__ == "__main__":
    main()
