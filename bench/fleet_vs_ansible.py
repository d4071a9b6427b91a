"""Benchmark: `patchpilot fleet` against an Ansible playbook and the bare-command floor.

For each size (10, 50, 100 by default), on fresh lab servers each time (same base image, same
repository, same update set — the reboot-required `lab-kernel` and the servicing package
whose `lab-stage2-x` only appears after the reboot): (a) `ansible-playbook` with the playbook
a competent engineer would write (`apt` dist-upgrade, `reboot` when /var/run/reboot-required
exists, repeated until a round needs no reboot, forks = server count, pipelining on), and (b)
`patchpilot fleet` with the same concurrency, and (c) the floor (bench/floor.py: the same
work as bare parallel ssh commands). Every figure is also given as a ratio to the floor's and
to Ansible's. Each side's wall time, CPU seconds and peak
memory (sum of PSS over its whole process tree) are measured, and every server's end state
(lab-* versions, no pending reboot) is checked against the catalog — not assumed.

Ansible runs from its own virtual environment, made on first use with the project's own
interpreter (/usr/bin/python3, Debian 12's 3.11, as scripts/install.sh makes .venv) and
ansible-core 2.19.14, the newest release that runs on it; nothing else needs installing and no
other interpreter (pyenv's shims, which may not be activated) is tried. Run as root:

    .venv/bin/python bench/fleet_vs_ansible.py [--sizes 10,50,100] [--json out.json]
        [--sides floor,ansible,patchpilot]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from critical_path import critical_path
from fleet_measure import (
    Measured,
    bench_lab,
    emit,
    end_state,
    expected_state,
    measure,
    write_inventory,
)
from floor import floor_side

from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

ANSIBLE_VERSION = "2.19.14"  # the newest ansible-core whose controller runs on Python 3.11
ANSIBLE_VENV = Path(f"/var/tmp/patchpilot-ansible-{ANSIBLE_VERSION}")
PYTHON = "/usr/bin/python3"  # the project's interpreter (scripts/install.sh), not a pyenv shim
REPO = Path(__file__).resolve().parent.parent

PLAYBOOK = """\
- name: Apply every update, rebooting when needed, until a round needs no reboot
  hosts: bench
  gather_facts: false
  tasks:
    - name: Rounds
      ansible.builtin.include_tasks: round.yml
      loop: "{{ range(1, 6) | list }}"
      loop_control:
        loop_var: round_no
"""

REBOOT_TIMEOUT = 180  # both sides: a server that hangs costs 3 min, not 10

ROUND = f"""\
- name: "Round {{{{ round_no }}}}"
  when: not (patch_done | default(false))
  block:
    - name: Upgrade every package
      ansible.builtin.apt:
        update_cache: true
        upgrade: dist
    - name: Is a reboot required?
      ansible.builtin.stat:
        path: /var/run/reboot-required
      register: reboot_flag
    - name: Reboot
      ansible.builtin.reboot:
        reboot_timeout: {REBOOT_TIMEOUT}
      when: reboot_flag.stat.exists
    - name: Done once a round needed no reboot (nothing new can appear then)
      ansible.builtin.set_fact:
        patch_done: "{{{{ not reboot_flag.stat.exists }}}}"
"""


def ensure_ansible() -> Path:
    """Return ansible-playbook from its own venv, creating the venv when missing."""
    playbook = ANSIBLE_VENV / "bin" / "ansible-playbook"
    if _works(playbook):
        return playbook
    shutil.rmtree(ANSIBLE_VENV, ignore_errors=True)  # half-made or from another interpreter
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYENV")}
    subprocess.run([PYTHON, "-m", "venv", str(ANSIBLE_VENV)], check=True, env=env)
    pip = [str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", f"ansible-core=={ANSIBLE_VERSION}"]
    subprocess.run(pip, check=True, env=env)
    if not _works(playbook):
        sys.exit(f"ansible-core {ANSIBLE_VERSION} in {ANSIBLE_VENV} does not run")
    return playbook


def _works(playbook: Path) -> bool:
    """Return whether playbook exists and answers --version."""
    if not playbook.exists():
        return False
    done = subprocess.run([str(playbook), "--version"], capture_output=True, check=False)
    return done.returncode == 0


def ansible_side(lab: Lab, servers: list[Server], work: Path) -> Measured:
    """Run the playbook over servers with forks = len(servers)."""
    playbook = ensure_ansible()
    (work / "site.yml").write_text(PLAYBOOK)
    (work / "round.yml").write_text(ROUND)
    write_inventory(
        work / "ansible.yml", servers, key=lab.key_path, known_hosts=lab.known_hosts_path
    )
    env = {
        **os.environ,
        "ANSIBLE_HOME": str(work / "ansible-home"),
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
        "ANSIBLE_GATHERING": "explicit",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
    }
    argv = [
        str(playbook),
        "-i",
        str(work / "ansible.yml"),
        "-f",
        str(len(servers)),
        str(work / "site.yml"),
    ]
    return measure(argv, env=env, log=work / "ansible.log")


def patchpilot_side(
    lab: Lab, servers: list[Server], work: Path, run_id: str
) -> tuple[Measured, dict[str, object]]:
    """Run `patchpilot fleet` over servers with --concurrency len(servers); return what it
    cost and where its critical path went (critical_path.py)."""
    write_inventory(work / "fleet.yml", servers, key=lab.key_path, known_hosts=lab.known_hosts_path)
    argv = [
        str(REPO / ".venv" / "bin" / "patchpilot"),
        "fleet",
        str(work / "fleet.yml"),
        "--concurrency",
        str(len(servers)),
        "--known-hosts",
        str(lab.known_hosts_path),
        "--reboot-timeout",
        str(REBOOT_TIMEOUT),
        "--state-dir",
        str(work / "state"),
        "--run-id",
        run_id,
        "--result-file",
        str(work / f"{run_id}.json"),
    ]
    started = time.time()
    measured = measure(argv, env=dict(os.environ), log=work / f"{run_id}.log")
    result = json.loads((work / f"{run_id}.json").read_text())
    return measured, critical_path(result, started, time.time())


def check_end_state(lab: Lab, servers: list[Server]) -> int:
    """Return how many servers are not in the catalog's final state (0 is the goal)."""
    expected = expected_state()
    states = end_state(lab.ssh_config_path, [s.name for s in servers])
    wrong = {name: state for name, state in states.items() if state != expected}
    for name, state in sorted(wrong.items())[:5]:
        print(f"  {name}: {state}", file=sys.stderr)
    return len(wrong)


def one_side(size: int, work: Path, side: str) -> dict[str, object]:
    """Start a lab of size fresh servers, run one side over them, check them, stop the lab."""
    with bench_lab() as (lab, _):
        started = time.monotonic()
        servers = lab.add_servers(size)
        print(f"[{side} {size}] {size} fresh servers in {time.monotonic() - started:.0f} s")
        load_before = os.getloadavg()
        if side == "floor":
            measured = floor_side(lab, servers, work)
        elif side == "ansible":
            measured = ansible_side(lab, servers, work)
        else:
            measured, split = patchpilot_side(lab, servers, work, f"bench-{size}")
        wrong = check_end_state(lab, servers)
    figures: dict[str, object] = {
        **measured.as_dict(),
        **({"critical_path": split} if side == "patchpilot" else {}),
        "servers_not_in_final_state": wrong,
        "load_before": [round(x, 1) for x in load_before],
        "load_after": [round(x, 1) for x in os.getloadavg()],
    }
    print(f"[{side} {size}] {json.dumps(figures)}", flush=True)
    return figures


SIDES = ("floor", "ansible", "patchpilot")


def ratios(base: dict[str, object], other: dict[str, object]) -> dict[str, object]:
    """Return other / base for wall time, CPU seconds and peak PSS."""
    keys = ("wall_s", "cpu_s", "peak_pss_mib")
    return {
        key: round(float(other[key]) / float(base[key]), 3)  # type: ignore[arg-type]
        for key in keys
        if float(base[key])  # type: ignore[arg-type]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50,100")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--sides", default=",".join(SIDES), help="a subset of " + ",".join(SIDES))
    args = parser.parse_args()
    sides = [s for s in SIDES if s in args.sides.split(",")]
    report: dict[str, object] = {"ansible_core": ANSIBLE_VERSION, "load": os.getloadavg()}
    if "ansible" in sides:
        ensure_ansible()  # made before anything is timed
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            work = Path(tmp) / f"n{size}"
            work.mkdir()
            got: dict[str, dict[str, object]] = {s: one_side(size, work, s) for s in sides}
            for base in ("floor", "ansible"):
                for other in sides:
                    if base in got and other != base:
                        got[f"{other}_over_{base}"] = ratios(got[base], got[other])
            report[str(size)] = got
            emit(report, args.json)


if __name__ == "__main__":
    main()
