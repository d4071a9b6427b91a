"""A seeded, randomized fault campaign over a fleet of lab servers, with invariants checked
on the servers themselves (issue 22; Jepsen's approach: faults at random times, then check).

Each server (apt, dnf, zypper in turn) is patched by its own `patchpilot run`, as a scheduler
would start it. A scheduler seeded with --seed injects --faults faults at random moments of
the first --window seconds: on a server (lab/faults.py: forced reset, kill -9 of the client
or of the package manager, sshd stopped, link cut, full package cache, package lock held,
repository unreachable), on the connector (SIGKILL, then the same command again: the same run
id resumes; a clock jump: restarted under libfaketime, its clock hours off), on the store
(--postgres: the runs share a PostgreSQL store, restarted under them). When every run has
ended (or its deadline passed), every fault is healed and each server is checked:

- exit 0: every package at its final version and no reboot pending; else a documented exit
  code (connector/exitcodes.py) and a result whose installed list equals the package
  manager's log (dpkg.log, dnf.rpm.log, zypp/history) since the campaign started;
- no package brought to a version twice (the same log);
- no package lock held, no client process, no `patchpilot-*` unit or at job left;
- the run ended within its deadline (--deadline seconds after its first start);
- the run's secret appears in no log (the connector's output and log, the server's journal,
  sudo log, the client's journals).

It prints a table: faults by kind (injected, reached a server or connector, on servers that
then held every invariant), and each violation with the seed that replays the schedule.

Usage (root; builds the lab's RPM images on first use):
  .venv/bin/python bench/faults.py --servers 6 --faults 40 --seed 1 [--seeds 3] [--postgres]
      [--max-cut 120] [--window 60] [--deadline 900] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patchpilot.connector.exitcodes import NATIVE
from patchpilot.lab.catalog import FINAL_VERSIONS, OPT_IN_FINAL_VERSIONS, SLOW_SECONDS_FILE
from patchpilot.lab.errors import LabError
from patchpilot.lab.faults import heal, inject, kinds_for
from patchpilot.lab.lab import Lab
from patchpilot.lab.postgres import PG_PASSWORD, PostgresServer
from patchpilot.lab.rpmcatalog import RPM_FINAL_VERSIONS, RPM_OPT_IN
from patchpilot.lab.server import Server

PATCHPILOT = str(Path(sys.executable).parent / "patchpilot")
CONNECTOR_FAULTS = ("connector-killed", "clock-jump")
DOCUMENTED = set(NATIVE.values())
_LOGS = {
    "apt": "/var/log/dpkg.log",
    "dnf": "/var/log/dnf.rpm.log",
    "zypper": "/var/log/zypp/history",
}


@dataclass
class Fault:
    """One scheduled fault: when (seconds after the start), where, what, how long."""

    at: float
    server: str
    kind: str
    seconds: float
    done: bool = False
    effect: str = ""


@dataclass
class Patch:
    """One server's `patchpilot run`, restarted after each connector fault."""

    server: Server
    argv: list[str]
    folder: Path
    started: float = 0.0
    ended: float | None = None
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    exit_code: int | None = None
    log_from: int = 0  # the package manager log's line count before the campaign
    rpm_from: list[str] = field(default_factory=list)  # rpm's database before the campaign
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, *, faketime: str | None = None) -> None:
        """Start (or start again) the connector, its output appended to the folder's files."""
        self.starts += 1
        prefix = [shutil.which("faketime") or "faketime", "-f", faketime] if faketime else []
        out = (self.folder / "stdout").open("ab")
        err = (self.folder / "stderr").open("ab")
        env = {**os.environ, "PGPASSWORD": PG_PASSWORD}
        # its own process group: faketime forks the connector as its child, and a SIGKILL of
        # faketime alone left that connector running beside its restart (seed 25: two
        # connectors on one run, the second refused with 64)
        self.process = subprocess.Popen(
            [*prefix, *self.argv], stdout=out, stderr=err, env=env, start_new_session=True
        )
        out.close()
        err.close()

    def kill_and_restart(self, faketime: str | None = None) -> str:
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                return "the run had ended"
            self.kill()
            self.start(faketime=faketime)
            return f"SIGKILLed, started again{' under faketime ' + faketime if faketime else ''}"

    def kill(self) -> None:
        """SIGKILL the connector and whatever runs it (faketime), then reap it."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def poll(self) -> bool:
        """Return True once the run has ended on its own (not killed by a fault)."""
        with self.lock:
            if self.process is None or self.exit_code is not None:
                return self.exit_code is not None
            code = self.process.poll()
            if code is not None:
                self.exit_code, self.ended = code, time.monotonic()
            return code is not None


# Failures that may leave work in flight on the server, by design (docs/exit-codes.md, "The
# server's lock"): the client may still run, wait for its ack or hold its unit until an
# operator looks. Leftovers are not counted after them; every other invariant is.
IN_FLIGHT = {69, 72, 73, 75, 78, 80}


def schedule(rng: random.Random, servers: list[Server], count: int, args: Any) -> list[Fault]:
    """Return count faults at seeded random times, kinds and durations (replayable)."""
    faults = []
    for _ in range(count):
        server = rng.choice(servers)
        kinds = [*kinds_for(server.flavor), *CONNECTOR_FAULTS]
        if args.postgres:
            kinds.append("store-restarted")
        kind = rng.choice(kinds)
        seconds = rng.uniform(5, args.max_cut) if kind == "link-cut" else rng.uniform(5, 30)
        faults.append(Fault(round(rng.uniform(0, args.window), 2), server.name, kind, seconds))
    return sorted(faults, key=lambda f: f.at)


def _fire(fault: Fault, lab: Lab, patches: dict[str, Patch], rng: random.Random,
          store: PostgresServer | None, tag: str) -> None:  # fmt: skip
    patch = patches[fault.server]
    if fault.kind == "connector-killed":
        fault.effect = patch.kill_and_restart()
    elif fault.kind == "clock-jump":
        fault.effect = patch.kill_and_restart(rng.choice(["+2h", "-30m", "+1d"]))
    elif fault.kind == "store-restarted" and store is not None:
        store.restart(down=min(fault.seconds, 10))
        fault.effect = f"PostgreSQL down {min(fault.seconds, 10):.0f} s"
    else:
        found = inject(lab, patch.server, fault.kind, flavor=patch.server.flavor,
                       seconds=fault.seconds, tag=tag)  # fmt: skip
        fault.effect = found.effect
        fault.done = found.is_done
        return
    fault.done = not fault.effect.startswith("the run had ended")


def _remote(lab: Lab, server: Server, argv: list[str], timeout: float = 60) -> str:
    """Run argv on the server; return its stdout ('' when it could not be reached)."""
    try:
        return str(lab.ssh(server.name, argv, check=False, timeout=timeout).stdout)
    except LabError:
        return ""


def _wait_ssh(lab: Lab, server: Server, timeout: float = 180) -> None:
    """Wait until the server answers SSH again (after a reset or sshd's own restart)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _remote(lab, server, ["echo", "up"], timeout=20).strip() == "up":
            return
        time.sleep(2)


def _pm_log(lab: Lab, server: Server) -> list[str]:
    return _remote(
        lab, server, ["sh", "-c", f"cat {_LOGS[server.flavor]} 2>/dev/null"]
    ).splitlines()


def upgraded(flavor: str, lines: list[str]) -> Counter[str]:
    """Return `name version` -> times the log shows the package brought to that version."""
    found: Counter[str] = Counter()
    for line in lines:
        if flavor == "apt" and " status installed lab-" in line:
            words = line.split()
            found[f"{words[4].split(':')[0]} {words[5]}"] += 1
        elif flavor == "dnf" and "Upgrade: lab-" in line:
            nevra = line.split(": ", 1)[1].split()[0]
            name, version, release = nevra.rsplit(".", 1)[0].rsplit("-", 2)
            found[f"{name} {version}-{release}"] += 1
        elif flavor == "zypper" and "|install|lab-" in line:
            parts = line.split("|")
            found[f"{parts[2]} {parts[3]}"] += 1
    return found


def _new(flavor: str, counts: Counter[str]) -> Counter[str]:
    """Keep the final versions only (dpkg also logs a package configured at its old one)."""
    final = _final_versions(flavor)
    return Counter({k: n for k, n in counts.items() if _is_final(final, k)})


def _is_final(final: dict[str, str], key: str) -> bool:
    name, version = key.split(" ", 1)
    return name in final and _strip(version) == _strip(final[name])


_RPM_QUERY = "%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE} %{INSTALLTIME}\\n"


def _rpm_headers(lab: Lab, server: Server) -> list[str]:
    """Return `name epoch:version-release installtime` of every lab package rpm holds."""
    lines = _remote(lab, server, ["rpm", "-qa", "--qf", _RPM_QUERY]).splitlines()
    return [line for line in lines if line.startswith("lab-")]


def rpm_installed(before: list[str], after: list[str]) -> set[str]:
    """Return `name version` of the packages rpm holds now and did not before (a header of its
    own: installed, or installed again, since): rpm's database is the truth where a cut
    transaction left no line in the tool's log. Not by INSTALLTIME: lab-slow 1.0, installed
    in the second the campaign's clock was read, counted as installed by the campaign (seed 7,
    dnf: `lab-slow 1.0-1` in the log, absent from a result that rightly had it failed)."""
    found = set()
    for line in set(after) - set(before):
        name, version, _ = line.split()
        found.add(f"{name} {_strip(version)}")
    return found


def _final_versions(flavor: str) -> dict[str, str]:
    """Return the versions a patched server ends at: the catalog's and lab-slow's."""
    if flavor == "apt":
        return {**FINAL_VERSIONS, "lab-slow": OPT_IN_FINAL_VERSIONS["lab-slow"]}
    slow = [s.evr for s in RPM_OPT_IN if s.name == "lab-slow" and s.version != "1.0"]
    return {**RPM_FINAL_VERSIONS, "lab-slow": slow[0]}


def _behind(lab: Lab, server: Server, seconds: int) -> None:
    """Add lab-slow 1.0 (its 2.0's install sleeps `seconds`): rounds long enough for faults."""
    lab.install_opt_in(server, "lab-slow" if server.flavor == "apt" else "rpm:lab-slow")
    lab.ssh(server.name, ["sh", "-c", f"echo {seconds} > {SLOW_SECONDS_FILE}"])


def check(lab: Lab, patch: Patch, deadline: float) -> list[str]:
    """Return the invariants the server and its run broke (empty: it survived)."""
    server, broken = patch.server, []
    if _remote(lab, server, ["echo", "up"]).strip() != "up":
        return ["the server does not answer SSH at the check"]
    result = _result(patch.folder)
    code = patch.exit_code
    since = _pm_log(lab, server)[patch.log_from :]
    counts = _new(server.flavor, upgraded(server.flavor, since))
    twice = sorted(k for k, n in counts.items() if n > 1)
    if twice:
        broken.append(f"brought to a version twice: {', '.join(twice[:5])}")
    installed = {
        f"{u['id']} {_strip(u['version'])}"
        for u in (result or {}).get("updates", ())
        if u.get("status") == "installed"
    }
    if server.flavor == "apt":
        logged = {_strip_key(k) for k in counts}
    else:
        logged = rpm_installed(patch.rpm_from, _rpm_headers(lab, server))
    if code is None:
        broken.append(f"did not end within its deadline ({deadline:.0f} s)")
    elif code == 0:
        warned = "; ".join((result or {}).get("warnings", ()))[:300]
        broken += [f"{b} (warnings: {warned or 'none'})" for b in _at_final(lab, server)]
    elif code not in DOCUMENTED:
        broken.append(f"exit {code} is not in the documented table")
    if code is not None and result is not None and installed != logged:
        broken.append(f"result installed {sorted(installed - logged)[:4]} but the log shows "
                      f"{sorted(logged - installed)[:4]} beyond it")  # fmt: skip
    if code is not None and result is None:
        broken.append("no result document")
    if code not in IN_FLIGHT:
        broken += _leftovers(lab, server)
    broken += _secret_leaks(lab, patch)
    return broken


def _strip(version: str) -> str:
    return version[2:] if version.startswith("0:") else version


def _strip_key(key: str) -> str:
    name, version = key.split(" ", 1)
    return f"{name} {_strip(version)}"


def _result(folder: Path) -> dict[str, Any] | None:
    path = folder / "result.json"
    try:
        return json.loads(path.read_text()) if path.exists() else None
    except ValueError:
        return None


def _at_final(lab: Lab, server: Server) -> list[str]:
    final = _final_versions(server.flavor)
    if server.flavor == "apt":
        query = ["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", *final]
    else:
        query = ["rpm", "-q", "--qf", "%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n", *final]
    lines = _remote(lab, server, query).splitlines()
    found = dict(line.split(" ", 1) for line in lines if " " in line)
    wrong = [
        f"{k} {_strip(found.get(k, '?'))}"
        for k in final
        if _strip(found.get(k, "?")) != _strip(final[k])
    ]
    broken = [f"exit 0 but not at the final version: {', '.join(wrong)}"] if wrong else []
    pending = _remote(lab, server, ["sh", "-c", "test -e /var/run/reboot-required && echo yes"])
    if server.flavor == "apt" and pending.strip() == "yes":
        broken.append("exit 0 with a reboot pending (/var/run/reboot-required)")
    return broken


_LEFTOVERS = (
    "for f in /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/rpm/.rpm.lock; do "
    '[ -e $f ] && python3 -c \'import fcntl,sys; fcntl.lockf(open(sys.argv[1],"a"), '
    "fcntl.LOCK_EX|fcntl.LOCK_NB)' $f 2>/dev/null || { [ -e $f ] && echo lock held: $f; }; done; "
    "pgrep -af '[p]yz run --job' | sed 's/^/client process: /'; "
    "systemctl list-units --all --no-legend --plain 'patchpilot-*' | sed 's/^/unit: /'; "
    "atq | sed 's/^/at job: /'; true"
)


def _leftovers(lab: Lab, server: Server) -> list[str]:
    found = _remote(lab, server, ["sh", "-c", _LEFTOVERS])
    return [" ".join(line.split())[:160] for line in found.splitlines() if line.strip()]


def _secret_leaks(lab: Lab, patch: Patch) -> list[str]:
    """Look for the run's secret (from its round-1 job file) in every log."""
    run_id = patch.argv[patch.argv.index("--run-id") + 1]
    job = _remote(lab, patch.server, ["cat", f"/var/lib/patchpilot/runs/{run_id}/round-1/job.json"])
    try:
        secret = json.loads(job)["secret"]
    except (ValueError, KeyError):
        return []  # never launched: no secret was made known to the server
    local = [patch.folder / "stdout", patch.folder / "stderr", *patch.folder.glob("state/*.log")]
    leaks = [str(p.name) for p in local if p.exists() and secret in p.read_text(errors="replace")]
    remote = (
        f"journalctl -o cat 2>/dev/null | grep -c {secret}; "
        f"grep -rlF {secret} /var/log /var/lib/patchpilot/runs --exclude=job.json 2>/dev/null"
    )
    lines = _remote(lab, patch.server, ["sh", "-c", remote]).split()
    if lines and lines[0].isdigit() and int(lines[0]) > 0:
        leaks.append("the server's journal")
    leaks += lines[1:]
    return [f"the run secret is in {', '.join(leaks)}"] if leaks else []


def campaign(
    lab: Lab, seed: int, args: Any, store: PostgresServer | None, out: Path
) -> dict[str, Any]:
    """Run one seeded campaign over fresh servers; return its faults and violations."""
    rng = random.Random(seed)  # noqa: S311 - a replayable schedule, not a secret
    servers = lab.add_servers(
        args.servers, flavor="mixed" if args.flavors == "mixed" else args.flavors
    )
    patches: dict[str, Patch] = {}
    for server in servers:
        folder = out / f"seed-{seed}" / server.name
        folder.mkdir(parents=True)
        argv = [PATCHPILOT, "run", server.name, "-F", str(lab.ssh_config_path),
                "--run-id", f"faults-{seed}-{server.name}", "--stability-window", "1",
                "--reboot-timeout", "180", "--result-file", str(folder / "result.json"),
                "--log-format", "json", "--backend", _backend(server.flavor),
                "--max-interruptions", str(args.max_interruptions)]  # fmt: skip
        argv += (
            ["--state-url", store.url("patchpilot")]
            if store
            else ["--state-dir", str(folder / "state")]
        )
        patch = Patch(server, argv, folder)
        _behind(lab, server, rng.randint(5, args.slow))
        patch.log_from = len(_pm_log(lab, server))
        patch.rpm_from = _rpm_headers(lab, server) if server.flavor != "apt" else []
        patches[server.name] = patch
    faults = schedule(rng, servers, args.faults, args)
    begun = time.monotonic()
    for patch in patches.values():
        patch.started = time.monotonic()
        patch.start()
    for number, fault in enumerate(faults):
        time.sleep(max(0.0, begun + fault.at - time.monotonic()))
        _fire(fault, lab, patches, rng, store, f"{seed}-{number}")
    while time.monotonic() < begun + args.deadline and not all(p.poll() for p in patches.values()):
        time.sleep(1)
    for patch in patches.values():
        if not patch.poll():
            patch.kill()  # past its deadline: a violation, and no leftover connector
    healed = max((begun + f.at + f.seconds for f in faults), default=0.0) + 5
    time.sleep(max(0.0, healed - time.monotonic()))  # every lasting fault has healed itself
    for patch in patches.values():
        heal(lab, patch.server, flavor=patch.server.flavor)
        _wait_ssh(lab, patch.server)
    violations = []
    for name, patch in patches.items():
        hit = sorted({f.kind for f in faults if f.server == name})
        for broken in check(lab, patch, args.deadline):
            violations.append(
                {
                    "seed": seed,
                    "server": name,
                    "flavor": patch.server.flavor,
                    "faults": hit,
                    "exit": patch.exit_code,
                    "violation": broken,
                }
            )
    for server in servers:
        lab.remove_server(server.name)
    return {
        "seed": seed,
        "faults": [vars(f) for f in faults],
        "violations": violations,
        "exits": {n: p.exit_code for n, p in patches.items()},
        "servers": {n: p.server.flavor for n, p in patches.items()},
    }


def _backend(flavor: str) -> str:
    return {"apt": "apt-python", "dnf": "dnf", "zypper": "zypper"}[flavor]


def table(runs: list[dict[str, Any]]) -> str:
    """Return the campaign's table: faults by kind, survived, and every violation."""
    broken = {(v["seed"], v["server"]) for r in runs for v in r["violations"]}
    injected: Counter[str] = Counter()
    reached: Counter[str] = Counter()
    survived: Counter[str] = Counter()
    for run in runs:
        for fault in run["faults"]:
            injected[fault["kind"]] += 1
            reached[fault["kind"]] += fault["done"]
            survived[fault["kind"]] += (run["seed"], fault["server"]) not in broken
    lines = [f"{'fault':<22} {'injected':>8} {'reached':>8} {'survived':>8}"]
    for kind in sorted(injected):
        lines.append(f"{kind:<22} {injected[kind]:>8} {reached[kind]:>8} {survived[kind]:>8}")
    total = sum(injected.values())
    lines.append(f"{'total':<22} {total:>8} {sum(reached.values()):>8} {sum(survived.values()):>8}")
    servers = sum(len(r["exits"]) for r in runs)
    exits = Counter(str(code) for r in runs for code in r["exits"].values())
    lines.append(f"servers: {servers}, survived: {servers - len(broken)}; exit codes: "
                 f"{', '.join(f'{k}: {n}' for k, n in sorted(exits.items()))}")  # fmt: skip
    in_flight = sum(1 for r in runs for code in r["exits"].values() if code in IN_FLIGHT)
    lines.append(f"runs ended with work possibly in flight (69, 72, 73, 75, 78, 80): {in_flight}")
    lines.append(f"violations: {sum(len(r['violations']) for r in runs)}")
    for run in runs:
        for v in run["violations"]:
            lines.append(f"  seed {v['seed']} {v['server']} ({v['flavor']}, exit {v['exit']}, "
                         f"faults {', '.join(v['faults'])}): {v['violation']}")  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--faults", type=int, default=20, help="faults per seed")
    parser.add_argument("--seed", type=int, default=1, help="the first seed")
    parser.add_argument("--seeds", type=int, default=1, help="campaigns, seeds seed..seed+N-1")
    parser.add_argument("--flavors", default="mixed", choices=["mixed", "apt", "dnf", "zypper"])
    parser.add_argument("--window", type=float, default=60, help="faults come in its first s")
    parser.add_argument("--max-cut", type=float, default=120, help="longest link cut, s")
    parser.add_argument("--slow", type=int, default=30, help="lab-slow's install lasts 5..N s")
    parser.add_argument("--deadline", type=float, default=900, help="each run's deadline, s")
    parser.add_argument("--postgres", action="store_true", help="share a PostgreSQL store")
    parser.add_argument("--max-interruptions", type=int, default=2, help="each run's limit")
    parser.add_argument("--lab-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write every fault and result")
    args = parser.parse_args()
    folder = args.lab_dir or Path(tempfile.mkdtemp(prefix="patchpilot-faults-"))
    lab = Lab(folder / "lab")
    store = PostgresServer() if args.postgres else None
    runs = []
    try:
        lab.up(0, owner=os.getpid())
        if store is not None:
            store.start()
            store.create_database("patchpilot")
        for seed in range(args.seed, args.seed + args.seeds):
            runs.append(campaign(lab, seed, args, store, folder))
            print(f"seed {seed}: {len(runs[-1]['violations'])} violations", flush=True)
    finally:
        lab.down()
        if store is not None:
            store.stop()
    print(table(runs))
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    return 1 if any(r["violations"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
