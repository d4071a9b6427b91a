"""The client on real lab servers: scan, install, failures, reboot, locks, repair, the journal.

Each test drives a server over plain `ssh -F <lab ssh_config>`: it pushes the zipapp, writes a
job spec, starts the client detached with `systemd-run` (as the connector does) and talks to
its endpoint through `attach` over SSH with the reference peer (`patchpilot.client.peer`).
"""

from __future__ import annotations

import json
import secrets
import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patchpilot.client.endpoints.stdio import FdStream
from patchpilot.client.peer import LogPeer, PeerError
from patchpilot.client_build import build_client
from patchpilot.lab.lab import Lab
from patchpilot.lab.releases import DEFAULT_RELEASE, RELEASES
from patchpilot.lab.server import Server
from patchpilot.protocol import RELEASE

pytestmark = pytest.mark.lab

PYZ = "/root/patchpilot-client.pyz"
RUNS = "/var/lib/patchpilot/runs"


class Target:
    """One lab server as the client's tests see it."""

    def __init__(self, lab: Lab, server: Server, pyz: Path) -> None:
        self.lab = lab
        self.name = server.name
        self._ssh = ["ssh", "-F", str(lab.ssh_config_path), "-o", "BatchMode=yes", self.name]
        self.sh(f"cat > {PYZ}", data=pyz.read_bytes())
        self.secret = secrets.token_hex(32)
        self._peers: list[subprocess.Popen[bytes]] = []

    def sh(self, script: str, data: bytes = b"", check: bool = True, timeout: float = 120) -> str:
        done = subprocess.run(
            [*self._ssh, script], input=data, capture_output=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{script!r} on {self.name}: {done.returncode} {done.stderr!r}")
        return done.stdout.decode()

    def client(self, args: str, backend: str = "apt-cli", check: bool = True) -> str:
        return self.sh(f"PATCHPILOT_BACKEND={backend} python3 -I -S {PYZ} {args}", check=check)

    def write_job(self, run: str, number: int, backend: str = "apt-cli", **spec: Any) -> str:
        """Write a round's job spec (0600); return its path."""
        folder = f"{RUNS}/{run}/round-{number}"
        doc = {
            "spec_version": 1,
            "run_id": run,
            "round": number,
            "action": "install",
            "reboot": "never",
            "ack_timeout": 60,
            "lock_timeout": 60,
            "secret": self.secret,
            "backend": backend,
            **spec,
        }
        self.sh(
            f"mkdir -p {folder} && umask 077 && cat > {folder}/job.json",
            data=json.dumps(doc).encode(),
        )
        return f"{folder}/job.json"

    def start_round(self, run: str, number: int, backend: str = "apt-cli", **spec: Any) -> None:
        """Write the job spec and start the client detached, as the connector would."""
        job = self.write_job(run, number, backend, **spec)
        folder = job.rsplit("/", 1)[0]
        self.sh(
            f"systemd-run --unit pp-{run}-{number} -p Type=exec --remain-after-exit "
            f"python3 -I -S {PYZ} run --job {job}"
        )
        self.sh(
            f"for i in $(seq 100); do test -S {folder}/endpoint.sock && exit 0; "
            "sleep 0.1; done; exit 1"
        )

    def attach(self, run: str, number: int, secret: str | None = None) -> LogPeer:
        proc = subprocess.Popen(
            [*self._ssh, f"python3 -I -S {PYZ} attach --run {run} --round {number}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._peers.append(proc)
        assert proc.stdin is not None and proc.stdout is not None
        peer = LogPeer(FdStream(proc.stdout.fileno(), proc.stdin.fileno()))
        peer.handshake(secret or self.secret, timeout=30)
        return peer

    def follow(self, run: str, number: int, ack: bool = True) -> list[dict[str, Any]]:
        """Read the round from its first record to its result, and acknowledge it."""
        peer = self.attach(run, number)
        peer.read(1)
        records = peer.collect(180)
        assert records and records[-1]["event"] == "round.result", records[-3:]
        if ack:
            peer.ack(records[-1]["seq"])
        return records + peer.collect(30, until_final=False)

    def exit_status(self, unit: str, timeout: float = 30) -> int:
        """Wait for the client's unit to exit; return its exit status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            show = self.sh(
                f"systemctl show {unit} -p ExecMainExitTimestampMonotonic -p ExecMainStatus"
            )
            fields = dict(line.split("=", 1) for line in show.split())
            if fields["ExecMainExitTimestampMonotonic"] != "0":
                return int(fields["ExecMainStatus"])
            time.sleep(0.2)
        raise AssertionError(f"{unit} still runs after {timeout} s")

    def state(self, run: str, number: int) -> dict[str, Any]:
        return dict(json.loads(self.sh(f"cat {RUNS}/{run}/round-{number}/state.json")))

    def versions(self, *names: str) -> dict[str, str]:
        out = self.sh(
            "dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n' " + " ".join(names)
        )
        return {line.split()[0]: " ".join(line.split()[1:]) for line in out.splitlines()}

    def close(self) -> None:
        for proc in self._peers:
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
            proc.kill()
            proc.wait(10)


def events(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r["fields"] for r in records if r["event"] == name]


def collect_until(peer: LogPeer, event: str, timeout: float = 120) -> list[dict[str, Any]]:
    """Return the records up to and including the first one of event."""
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not records or records[-1]["event"] != event:
        message = peer.receive(max(deadline - time.monotonic(), 0.1))
        assert message is not None and message["t"] in ("rec", "ping"), message
        if message["t"] == "rec":
            records.append(message["r"])
    return records


def result_of(records: list[dict[str, Any]]) -> dict[str, Any]:
    return events(records, "round.result")[-1]


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_client(tmp_path_factory.mktemp("client")).path


@pytest.fixture
def target(request: pytest.FixtureRequest, lab: Lab, pyz: Path) -> Iterator[Target]:
    """A fresh server of the Debian release the test asks for (indirect; default bookworm)."""
    server = lab.add_server(release=getattr(request, "param", DEFAULT_RELEASE))
    try:
        target = Target(lab, server, pyz)
        yield target
        target.close()
    finally:
        lab.remove_server(server.name)


# apt's output on each Debian release (apt 2.2, 2.6, 3.0): both backends list the same updates.
@pytest.mark.releases
@pytest.mark.parametrize("target", list(RELEASES), indirect=True)
def test_scan_both_backends_without_site_packages(target: Target) -> None:
    assert target.client("version").strip() == RELEASE
    listed = {}
    for backend in ("apt-cli", "apt-python"):
        updates = json.loads(target.client("scan --json", backend=backend))
        listed[backend] = {
            u["id"]: (u["installed_version"], u["candidate_version"], u["is_security"])
            for u in updates
        }
    assert listed["apt-cli"] == listed["apt-python"]
    assert listed["apt-cli"]["lab-base-a"] == ("1.0", "2.0", False)
    assert listed["apt-cli"]["lab-security"] == ("1.0", "1.1", True)
    assert "lab-stage2-x" not in listed["apt-cli"]  # its suite is not enabled yet

    # "auto" finds Debian's python-apt even under -I -S (no site-packages).
    target.start_round(
        "r-dl", 1, backend="auto", action="download", selection={"include": ["lab-base-a"]}
    )
    records = target.follow("r-dl", 1)
    assert events(records, "run.started")[0]["backend"] == "apt-python"
    result = result_of(records)
    assert result["status"] == "success" and result["results"][0]["status"] == "downloaded"
    assert target.sh("ls /var/cache/apt/archives/").count("lab-base-a_2.0") == 1
    assert target.versions("lab-base-a")["lab-base-a"] == "1.0 ii"


@pytest.mark.releases
@pytest.mark.parametrize("target", list(RELEASES), indirect=True)
def test_install_fail_alone_conffile_reboot_and_stage2(target: Target) -> None:
    for package in ("lab-fail", "lab-conffile"):
        target.lab.install_opt_in(target.name, package)
    target.sh("apt-mark hold lab-base-c")
    target.start_round("r-inst", 1)
    records = target.follow("r-inst", 1)
    result = result_of(records)
    statuses = {r["id"]: r["status"] for r in result["results"]}
    assert statuses.pop("lab-fail") == "failed"
    assert statuses.pop("lab-base-c") == "held"
    assert set(statuses.values()) == {"installed"}, statuses
    failure = next(r for r in result["results"] if r["id"] == "lab-fail")
    assert "post-installation script" in failure["message"]
    assert result["status"] == "partial" and result["reboot_required"] is True
    assert any("lab-kernel" in reason for reason in result["reboot_reasons"])
    assert target.sh("cat /etc/lab-conffile.conf").endswith("# changed locally\n")
    assert target.versions("lab-conffile")["lab-conffile"] == "2.0 ii"
    assert target.state("r-inst", 1)["phase"] == "done"

    # Round 2: the stage2 suite that lab-servicing enabled shows up; the reboot follows the ack.
    boot = target.sh("cat /proc/sys/kernel/random/boot_id").strip()
    target.start_round("r-inst", 2, reboot="if-required", selection={"exclude": ["lab-fail"]})
    records = target.follow("r-inst", 2)
    assert "lab-stage2-x" in [r["id"] for r in result_of(records)["results"]]
    assert events(records, "dpkg.repair"), "lab-fail was left unconfigured: repair is tried"
    assert records[-1]["event"] == "reboot.requested"
    assert records[-1]["fields"]["command"] == "systemctl reboot"
    new_boot = _wait_for_new_boot(target, boot)
    assert new_boot != boot

    # The journal survives the reboot: attach serves it from disk.
    peer = target.attach("r-inst", 2)
    assert peer.hello["live"] is False
    peer.read(1)
    again = peer.collect(30, until_final=False)
    assert [r["seq"] for r in again] == [r["seq"] for r in records]
    assert target.state("r-inst", 2)["phase"] == "rebooting"


def _wait_for_new_boot(target: Target, old: str, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        boot = target.lab.boot_id(target.name)
        if boot is not None and boot != old:
            try:
                target.sh("true", timeout=10)
                return boot
            except (AssertionError, subprocess.TimeoutExpired):
                pass
        time.sleep(1)
    raise AssertionError(f"no new boot id within {timeout} s")


def test_python_apt_waits_for_the_lock_repairs_dpkg_and_fails_alone(target: Target) -> None:
    target.lab.install_opt_in(target.name, "lab-fail")
    target.sh(
        "cd /tmp && apt-get update -qq && apt-get download -q lab-base-c=1.1 "
        "&& dpkg --unpack lab-base-c_1.1*.deb"
    )
    holder = (  # holds dpkg's frontend lock until /run/pp-hold is removed
        "import fcntl, os, time; f = open('/var/lib/dpkg/lock-frontend', 'w'); "
        "fcntl.lockf(f, fcntl.LOCK_EX); open('/run/pp-held', 'w').close()\n"
        "while os.path.exists('/run/pp-hold'): time.sleep(0.1)"
    )
    target.sh(
        f"touch /run/pp-hold && systemd-run --unit pp-holder python3 -c {shlex.quote(holder)}"
    )
    target.sh("for i in $(seq 100); do test -e /run/pp-held && exit 0; sleep 0.1; done; exit 1")
    target.start_round("r-lock", 1, lock_timeout=1)
    failed = result_of(target.follow("r-lock", 1))
    assert failed["status"] == "error" and "still held" in failed["message"]
    assert failed["exit_status"] == 4
    assert target.exit_status("pp-r-lock-1") == 4
    target.start_round(
        "r-py",
        1,
        backend="apt-python",
        selection={"include": ["lab-base-*", "lab-security", "lab-fail"]},
    )
    peer = target.attach("r-py", 1)
    peer.read(1)
    records = collect_until(peer, "lock.waiting")
    target.sh("rm /run/pp-hold")
    records += peer.collect(180)
    peer.ack(records[-1]["seq"])
    waiting = events(records, "lock.waiting")
    assert waiting and waiting[0]["lock"] == "/var/lib/dpkg/lock-frontend"
    assert "python3" in waiting[0]["command"] and waiting[0]["pid"] > 0
    repair = events(records, "dpkg.repair")
    assert repair and repair[0]["exit_status"] == 0
    assert events(records, "run.started")[0]["backend"] == "apt-python"
    result = result_of(records)
    assert result["status"] == "partial", result
    statuses = {r["id"]: r["status"] for r in result["results"]}
    assert statuses == {
        "lab-base-a": "installed",
        "lab-base-b": "installed",
        "lab-security": "installed",
        "lab-fail": "failed",
    }
    failure = next(r for r in result["results"] if r["id"] == "lab-fail")
    assert failure["message"] and failure["code"] == "dpkg-error", failure
    assert "post-installation script" in failure["message"]
    assert target.versions("lab-base-c")["lab-base-c"] == "1.1 ii"


def test_wrong_secret_kill_and_resume(target: Target) -> None:
    target.lab.install_opt_in(target.name, "lab-slow")
    target.sh("echo 30 > /etc/lab-slow.seconds")
    target.start_round("r-kill", 1, selection={"include": ["lab-slow"]})
    with pytest.raises(PeerError, match="auth"):
        target.attach("r-kill", 1, secret="00" * 32)
    peer = target.attach("r-kill", 1)
    peer.read(1)
    first = collect_until(peer, "plan.selected")
    second = target.write_job("r-two", 1)
    refused = target.sh(f"python3 -I -S {PYZ} run --job {second}; echo exit=$?", check=False)
    assert refused.strip().endswith("exit=3")
    target.sh("systemctl kill -s KILL --kill-whom=main pp-r-kill-1")
    resumed = target.attach("r-kill", 1)
    assert resumed.hello["live"] is False
    resumed.read(2)
    rest = resumed.collect(30, until_final=False)
    assert rest and rest[0]["seq"] == 2
    assert [r["seq"] for r in rest][: len(first) - 1] == [r["seq"] for r in first[1:]]
    assert target.state("r-kill", 1)["phase"] == "installing"
