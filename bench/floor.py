"""The bare-command floor: what patching N lab servers costs with nothing but parallel ssh.

Per server, all servers at once, each step one `ssh` command: `apt-get update` +
`dist-upgrade`; when /var/run/reboot-required exists, read the boot id, `systemctl reboot`,
poll (every 0.25 s, a new connection each time) until a new boot id answers, and go again;
stop after a round that needed no reboot. No journal, no lock, no readiness or stability
check, no plan: the least any tool must do, so a tool's wall time over this one is its own
cost. `floor_side(lab, servers, work)` measures it like the other sides (fleet_measure:
wall, CPU of the whole process tree, peak PSS); as a script it patches the named hosts of
an ssh config and prints how many rounds and reboots each needed:

    .venv/bin/python bench/floor.py --ssh-config LAB/ssh_config lab-1 lab-2 ...
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fleet_measure import Measured, measure

from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

__all__ = ["floor_side"]

MAX_ROUNDS = 5
REBOOT_TIMEOUT = 180.0
_UPGRADE = (
    "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && "
    "apt-get -y -qq -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "
    "dist-upgrade >/dev/null && cat /proc/sys/kernel/random/boot_id && "
    "if test -e /var/run/reboot-required; then echo reboot; else echo done; fi"
)


def _ssh(config: Path, host: str, script: str, timeout: float = 600.0) -> tuple[int, str]:
    """Run script on host; return (exit status, stdout); 255 when unreachable or too slow."""
    argv = ["ssh", "-F", str(config), "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]
    try:
        done = subprocess.run(
            [*argv, host, script],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return 255, ""
    return done.returncode, done.stdout


def _new_boot(config: Path, host: str, before: str) -> None:
    """Return once host answers with a boot id other than before."""
    deadline = time.monotonic() + REBOOT_TIMEOUT
    while time.monotonic() < deadline:
        status, out = _ssh(config, host, "cat /proc/sys/kernel/random/boot_id", 10)
        if status == 0 and out.strip() and out.strip() != before:
            return
        time.sleep(0.25)
    raise RuntimeError(f"{host}: no new boot id within {REBOOT_TIMEOUT:g} s")


def patch(config: Path, host: str) -> dict[str, object]:
    """Patch host with bare commands until a round needs no reboot."""
    reboots = 0
    for round_no in range(1, MAX_ROUNDS + 1):
        status, out = _ssh(config, host, _UPGRADE)
        lines = out.split()
        if status != 0 or len(lines) < 2:
            return {"host": host, "error": f"round {round_no}: exit {status}"}
        boot_id, verdict = lines[-2], lines[-1]
        if verdict != "reboot":
            return {"host": host, "rounds": round_no, "reboots": reboots}
        _ssh(config, host, "systemctl reboot", 30)  # the link drops: status ignored
        _new_boot(config, host, boot_id)
        reboots += 1
    return {"host": host, "rounds": MAX_ROUNDS, "reboots": reboots}


def patch_all(config: Path, hosts: Sequence[str]) -> list[dict[str, object]]:
    """Patch every host at once (a thread each: plain blocking ssh, as a shell loop would)."""
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        return list(pool.map(lambda host: patch(config, host), hosts))


def floor_side(lab: Lab, servers: Sequence[Server], work: Path) -> Measured:
    """Measure the floor over servers (this file as a script, under fleet_measure)."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--ssh-config"]
    argv += [str(lab.ssh_config_path), *(s.name for s in servers)]
    return measure(argv, log=work / "floor.log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ssh-config", type=Path, required=True)
    parser.add_argument("hosts", nargs="+")
    args = parser.parse_args()
    results = patch_all(args.ssh_config, args.hosts)
    print(json.dumps(results))
    sys.exit(1 if any("error" in r for r in results) else 0)


if __name__ == "__main__":
    main()
