"""Host keys against a real OpenSSH server: no configuration may switch their checking off.

asyncssh takes `UserKnownHostsFile none` as "trust every key"; OpenSSH refuses the host. The
lab server's sshd offers its own key, which the files used here do not list: patchpilot must
refuse, as ssh(1) does, naming the setting, before any command runs on the server.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchpilot.errors import HostKeyError
from patchpilot.lab import Lab, Server
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
