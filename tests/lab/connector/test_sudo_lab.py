"""A non-root SSH user on real lab servers: everything runs through `sudo -n`, or is refused.

The lab's servers have `patcher` (NOPASSWD sudo) and `visitor` (no sudo rights), both logging
in with the lab key; sudo logs every command, allowed or refused, to a file that survives the
reboot.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from connector_lab import assert_whole_journal, run

from patchpilot.errors import AuthenticationError
from patchpilot.lab import FINAL_VERSIONS, PLAIN_USER, SUDO_LOG, SUDO_USER, Lab, Server
from patchpilot.transports.ssh import SSHSettings, SSHTransport

pytestmark = pytest.mark.lab

_LOGGED = re.compile(r" : (?P<user>\S+) : (?:(?P<refusal>[^;=]+) ; )?.*COMMAND=(?P<command>.*)$")


@pytest.fixture(scope="module")
def untouched_server(lab: Lab) -> Iterator[Server]:
    """A server for the tests that change nothing on it (refusals, commands in /tmp)."""
    server = lab.add_server()
    yield server
    lab.remove_server(server.name)


def _sudo_log(lab: Lab, server: Server) -> list[tuple[str, str | None, str]]:
    """Return (user, refusal or None, command) for every sudo the server logged."""
    text = lab.ssh(server.name, ["sh", "-c", f"cat {SUDO_LOG} 2>/dev/null || true"]).stdout
    found = (_LOGGED.search(line) for line in text.splitlines())
    return [(m["user"], m["refusal"], m["command"]) for m in found if m]


def _state(lab: Lab, server: Server) -> str:
    """Return what a run would change: boot id, packages, patchpilot's files, units, at jobs."""
    script = (
        "cat /proc/sys/kernel/random/boot_id; dpkg-query -W 'lab-*'; "
        "ls -AR /var/lib/patchpilot 2>&1; systemctl list-units --all --no-legend 'patchpilot-*'; "
        "atq; ls /var/run/reboot-required 2>&1"
    )
    return lab.ssh(server.name, ["sh", "-c", script], check=False).stdout


def _transport(lab: Lab, server: Server, user: str) -> SSHTransport:
    config = str(lab.ssh_config_path)
    return SSHTransport(SSHSettings(server.name, user=user, config_file=config, use_sudo=True))


async def test_the_transport_runs_puts_and_streams_as_root_through_sudo(
    lab: Lab, untouched_server: Server
) -> None:
    async with _transport(lab, untouched_server, SUDO_USER) as ssh:
        assert (await ssh.run(["id", "-un"], check=True)).stdout == "root\n"
        await ssh.put(b"secret", "/tmp/sudo-put/file", mode=0o600)
        shown = await ssh.run(["stat", "-c", "%U %a", "/tmp/sudo-put/file"], check=True)
        assert shown.stdout == "root 600\n"
        stream = await ssh.open_stream(["sh", "-c", "id -un; cat"])
        await stream.write(b"piped\n")
        seen = b""
        while seen.count(b"\n") < 2:  # both lines may come in one read, or in two
            seen += await asyncio.wait_for(stream.read(), 30)
        assert seen == b"root\npiped\n"
        await stream.close()
    assert lab.ssh(untouched_server.name, ["cat", "/tmp/sudo-put/file"]).stdout == "secret"
    assert (SUDO_USER, None, "/usr/bin/id -un") in _sudo_log(lab, untouched_server)


async def test_the_transport_names_a_sudo_refusal_before_running_anything(
    lab: Lab, untouched_server: Server
) -> None:
    transport = _transport(lab, untouched_server, PLAIN_USER)
    with pytest.raises(AuthenticationError, match="sudo refused") as caught:
        await transport.connect()
    assert f"as {PLAIN_USER} says: sudo: a password is required" in str(caught.value)
    with pytest.raises(AuthenticationError, match="sudo refused"):
        await transport.run(["touch", "/tmp/visited"])  # a retry is refused the same way
    await transport.close()
    tried = [command for user, _, command in _sudo_log(lab, untouched_server) if user == PLAIN_USER]
    assert set(tried) == {"/usr/bin/true"}  # the check, nothing else


def test_a_run_as_a_user_without_sudo_rights_is_refused_and_changes_nothing(
    lab: Lab, untouched_server: Server, tmp_path: Path
) -> None:
    before = _state(lab, untouched_server)
    done = run(lab, f"{PLAIN_USER}@{untouched_server.name}", tmp_path, timeout=60)
    assert done.exit_status == 69, done.stderr
    assert done.seconds < 30  # refused at once, not a hang
    assert "Traceback" not in done.stdout + done.stderr
    assert done.result["status"] == "unreachable" and done.result["rounds"] == []
    [error] = done.result["errors"]
    assert "sudo refused" in error and "sudo: a password is required" in error, error
    assert _state(lab, untouched_server) == before
    refused = {(r, c) for u, r, c in _sudo_log(lab, untouched_server) if u == PLAIN_USER}
    assert refused == {("a password is required", "/usr/bin/true")}


def test_full_cycle_as_a_sudo_user(lab: Lab, lab_server: Server, tmp_path: Path) -> None:
    before = lab.boot_id(lab_server.name)
    result_file = tmp_path / "result.json"
    target = f"{SUDO_USER}@{lab_server.name}"
    done = run(lab, target, tmp_path, "--run-id", "sudo", "--result-file", str(result_file))
    assert done.exit_status == 0, done.stderr
    assert json.loads(result_file.read_text()) == done.result
    assert done.installed == FINAL_VERSIONS  # every update, stage2 (after the reboot) included
    result = done.result
    assert result["reboots"]["count"] == 1 and result["reboots"]["boot_ids"][0] != before
    assert [r["launcher"] for r in result["rounds"]] == ["systemd-run", "systemd-run"]
    assert_whole_journal(tmp_path, "sudo")
    versions = lab.ssh(lab_server.name, ["dpkg-query", "-W", "-f", "${Package}=${Version}\\n"])
    assert {f"{k}={v}" for k, v in FINAL_VERSIONS.items()} <= set(versions.stdout.split())

    logged = _sudo_log(lab, lab_server)
    assert {user for user, _, _ in logged} == {SUDO_USER}
    assert all(refusal is None for _, refusal, _ in logged)
    commands = [command for _, _, command in logged]
    for needed in (
        " lock --run sudo",
        "/usr/bin/systemd-run --unit=patchpilot-sudo-r1.service",
        " attach --run sudo --round 1",
        "/usr/bin/systemd-run --unit=patchpilot-sudo-r2.service",
        " attach --run sudo --round 2",
        " unlock --run sudo",
    ):
        assert any(needed in command for command in commands), needed
    owner = lab.ssh(lab_server.name, ["stat", "-c", "%U %a", "/var/lib/patchpilot/client"])
    assert owner.stdout == "root 700\n"  # pushed as root, not as the SSH user


async def test_a_user_named_only_in_the_ssh_config_gets_sudo_too(
    lab: Lab, untouched_server: Server, tmp_path: Path
) -> None:
    blocks = lab.ssh_config_path.read_text().split("\n\n")
    block = next(b for b in blocks if b.startswith(f"Host {untouched_server.name}\n"))
    configs = {}
    for user in (SUDO_USER, PLAIN_USER):
        configs[user] = tmp_path / f"ssh_config.{user}"
        configs[user].write_text(block.replace("User root", f"User {user}"))

    def settings(user: str) -> SSHSettings:
        return SSHSettings(untouched_server.name, config_file=str(configs[user]), use_sudo=None)

    async with SSHTransport(settings(SUDO_USER)) as ssh:
        assert (await ssh.run(["id", "-un"], check=True)).stdout == "root\n"
    refused = SSHTransport(settings(PLAIN_USER))
    with pytest.raises(AuthenticationError, match="sudo refused"):
        await refused.connect()
    await refused.close()
