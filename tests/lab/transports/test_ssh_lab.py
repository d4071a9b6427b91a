"""Host keys and forwarding against a real OpenSSH server: no configuration may weaken them.

asyncssh takes `UserKnownHostsFile none` as "trust every key"; OpenSSH refuses the host. The
lab server's sshd offers its own key, which the files used here do not list: patchpilot must
refuse, as ssh(1) does, whatever form the config takes (`Match user`, `Match final`), before
any command runs on the server. And `ForwardAgent yes` never hands the server the agent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchpilot.errors import HostKeyError
from patchpilot.lab import SUDO_USER, Lab, Server
from patchpilot.transports.ssh import SSHSettings, SSHTransport

pytestmark = pytest.mark.lab

PATCHPILOT = str(Path(sys.executable).parent / "patchpilot")


@pytest.fixture(scope="module")
def untouched_server(lab: Lab) -> Iterator[Server]:
    server = lab.add_server()
    yield server
    lab.remove_server(server.name)


def _config(lab: Lab, server: Server, folder: Path, known_hosts: str) -> Path:
    """Write an ssh_config for server with the lab's key and the given UserKnownHostsFile."""
    path = folder / "ssh_config"
    path.write_text(
        f"Host {server.name}\n    HostName {server.address}\n    Port {server.ssh_port}\n"
        f"    User root\n    IdentityFile {lab.key_path}\n    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {known_hosts}\n    BatchMode yes\n"
    )
    return path


def _patchpilot_files(lab: Lab, server: Server) -> str:
    return lab.ssh(server.name, ["sh", "-c", "ls -A /var/lib/patchpilot 2>&1 || true"]).stdout


def test_openssh_itself_refuses_a_host_with_known_hosts_none(
    lab: Lab, untouched_server: Server, tmp_path: Path
) -> None:
    config = _config(lab, untouched_server, tmp_path, "none")
    done = subprocess.run(
        [
            "ssh",
            "-F",
            str(config),
            "-o",
            "StrictHostKeyChecking=yes",
            untouched_server.name,
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 255 and "Host key verification failed" in done.stderr


async def test_the_transport_refuses_known_hosts_none_naming_the_setting(
    lab: Lab, untouched_server: Server, tmp_path: Path
) -> None:
    config = _config(lab, untouched_server, tmp_path, "none")
    transport = SSHTransport(SSHSettings(untouched_server.name, config_file=str(config)))
    with pytest.raises(HostKeyError, match="UserKnownHostsFile none") as caught:
        await transport.connect()
    assert str(config) in str(caught.value)


async def test_a_known_hosts_file_without_the_key_is_refused(
    lab: Lab, untouched_server: Server, tmp_path: Path
) -> None:
    (tmp_path / "known_hosts").write_text("")
    config = _config(lab, untouched_server, tmp_path, str(tmp_path / "known_hosts"))
    transport = SSHTransport(SSHSettings(untouched_server.name, config_file=str(config)))
    with pytest.raises(HostKeyError, match="an unknown host key: the server offers SHA256:"):
        await transport.connect()


def test_patchpilot_run_exits_69_and_touches_nothing(
    lab: Lab, untouched_server: Server, tmp_path: Path
) -> None:
    before = _patchpilot_files(lab, untouched_server)
    config = _config(lab, untouched_server, tmp_path, "none")
    done = subprocess.run(
        [
            PATCHPILOT,
            "run",
            untouched_server.name,
            "-F",
            str(config),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 69, done.stderr
    assert "UserKnownHostsFile none" in done.stdout + done.stderr
    assert _patchpilot_files(lab, untouched_server) == before


@pytest.mark.parametrize(
    ("tail", "user"),
    [
        (f"Match user {SUDO_USER}\n    UserKnownHostsFile none\n", SUDO_USER),
        ("Match final\n    UserKnownHostsFile none\n", "root"),
        ("Match final user root\n    UserKnownHostsFile none\n", "root"),
    ],
)
async def test_no_match_form_turns_host_key_checking_off(
    lab: Lab,
    untouched_server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tail: str,
    user: str,
) -> None:
    """These forms hid `UserKnownHostsFile none` from the old pre-check: any key was taken."""
    monkeypatch.setenv("HOME", str(tmp_path))  # ~/.ssh/known_hosts: none, the key is unknown
    before = _patchpilot_files(lab, untouched_server)
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host {untouched_server.name}\n    HostName {untouched_server.address}\n"
        f"    Port {untouched_server.ssh_port}\n    IdentityFile {lab.key_path}\n{tail}"
    )
    settings = SSHSettings(untouched_server.name, user=user, config_file=str(config))
    transport = SSHTransport(settings)
    with pytest.raises(HostKeyError):
        await transport.connect()
        await transport.run(["mkdir", "-p", "/var/lib/patchpilot/accepted"])
    await transport.close()
    assert _patchpilot_files(lab, untouched_server) == before


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a real ssh-agent offering the lab's key, as the connector's SSH_AUTH_SOCK."""
    sock = str(tmp_path / "agent.sock")
    process = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        monkeypatch.setenv("SSH_AUTH_SOCK", sock)
        yield sock
    finally:
        process.terminate()
        process.wait(10)


_AGENT_PROBE = 'echo "agent=${SSH_AUTH_SOCK:-none}"; ssh-add -l; echo "status=$?"'


async def test_an_agent_offered_is_never_forwarded(
    lab: Lab, untouched_server: Server, tmp_path: Path, agent: str
) -> None:
    """A hostile target listed the connector's agent keys: `ForwardAgent yes` is ignored.

    The agent holds the lab key (used to log in). ssh(1) with the same config does forward
    it (the server allows forwarding: the test can fail); patchpilot's session has none.
    """
    subprocess.run(["ssh-add", str(lab.key_path)], check=True, capture_output=True, timeout=30)
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host *\n    ForwardAgent yes\n"
        + _config(lab, untouched_server, tmp_path, str(lab.known_hosts_path)).read_text()
    )
    by_ssh = subprocess.run(
        ["ssh", "-F", str(config), untouched_server.name, _AGENT_PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "agent=/tmp/ssh-" in by_ssh.stdout and "status=0" in by_ssh.stdout, by_ssh.stdout

    settings = SSHSettings(untouched_server.name, config_file=str(config))
    async with SSHTransport(settings) as ssh:
        listing = await ssh.run(["sh", "-c", "ls -d /tmp/ssh-*/agent.* 2>/dev/null; true"])
        seen = (await ssh.run(["sh", "-c", _AGENT_PROBE])).stdout + listing.stdout
    assert "agent=none" in seen and "status=2" in seen, seen  # ssh-add: no agent to ask
    assert "/agent." not in seen, seen
