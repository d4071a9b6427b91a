"""SMB deployment against a real Samba server started on loopback (needs root and smbd)."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from patchpilot.connector.targetos import WindowsOS
from patchpilot.errors import AuthenticationError, ConfigurationError, TransportError
from patchpilot.transports.fake import FakeTransport
from patchpilot.transports.powershell import prepare_root_argv
from patchpilot.transports.smb import SMBSettings, SMBShare, admin_share_path, split_unc

PASSWORD = "pp-Samba-test-1"
CONF = """[global]
  smb ports = {port}
  bind interfaces only = yes
  interfaces = 127.0.0.1
  private dir = {d}/private
  lock directory = {d}/lock
  state directory = {d}/state
  cache directory = {d}/cache
  pid directory = {d}/pid
  ncalrpc dir = {d}/ncalrpc
  log file = {d}/smbd.log
  passdb backend = tdbsam:{d}/private/passdb.tdb
  server role = standalone server
  disable netbios = yes
  load printers = no
  printcap name = /dev/null
  disable spoolss = yes
[patch]
  path = {d}/share
  read only = yes
[C$]
  path = {d}/c
  read only = no
"""

needs_samba = pytest.mark.skipif(
    shutil.which("smbd") is None or os.geteuid() != 0,
    reason="needs root and smbd (scripts/install.sh installs samba)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"smbd exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("smbd did not listen in time")


@pytest.fixture(scope="module")
def samba(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    root = tmp_path_factory.mktemp("samba")
    for sub in ("private", "lock", "state", "cache", "pid", "ncalrpc", "share", "c"):
        (root / sub).mkdir()
    port = free_port()
    conf = root / "smb.conf"
    conf.write_text(CONF.format(port=port, d=root))
    subprocess.run(
        ["smbpasswd", "-c", str(conf), "-a", "-s", "root"],
        input=f"{PASSWORD}\n{PASSWORD}\n".encode(),
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        ["smbd", "--foreground", "--no-process-group", "-s", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # smbd signals its whole process group when it stops
    )
    try:
        wait_listening(port, proc)
        yield root, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def share_for(port: int, password: str = PASSWORD) -> SMBShare:
    return SMBShare(SMBSettings(username="root", password=password, port=port, timeout=10))


@needs_samba
async def test_verify_client_on_unc_share(samba: tuple[Path, int]) -> None:
    root, port = samba
    client = os.urandom(300_000)
    (root / "share" / "patchpilot-client.pyz").write_bytes(client)
    share = share_for(port)
    try:
        unc = "\\\\127.0.0.1\\patch\\patchpilot-client.pyz"
        assert await share.sha256(unc) == hashlib.sha256(client).hexdigest()
        await share.verify(unc, hashlib.sha256(client).hexdigest().upper())
        with pytest.raises(ConfigurationError, match="refusing to launch"):
            await share.verify(unc, hashlib.sha256(b"another build").hexdigest())
    finally:
        await share.close()


@needs_samba
async def test_copy_client_to_admin_share_atomically(samba: tuple[Path, int]) -> None:
    root, port = samba
    share = share_for(port)
    client = b"PK\x03\x04 a zipapp"
    target = admin_share_path("127.0.0.1", "C:\\ProgramData\\patchpilot\\client\\pp.pyz")
    try:
        await share.copy(client, target)
        await share.copy(client + b"v2", target)
        assert await share.read(target) == client + b"v2"
    finally:
        await share.close()
    folder = root / "c" / "ProgramData" / "patchpilot" / "client"
    assert sorted(p.name for p in folder.iterdir()) == ["pp.pyz"]  # no temporary left


@needs_samba
async def test_read_only_share_refuses_writes(samba: tuple[Path, int]) -> None:
    _, port = samba
    share = share_for(port)
    try:
        with pytest.raises(TransportError, match="ACCESS_DENIED"):
            await share.copy(b"evil", "\\\\127.0.0.1\\patch\\patchpilot-client.pyz")
    finally:
        await share.close()


@needs_samba
async def test_missing_file_and_bad_password(samba: tuple[Path, int]) -> None:
    _, port = samba
    share = share_for(port)
    try:
        with pytest.raises(TransportError, match="No such file"):
            await share.sha256("\\\\127.0.0.1\\patch\\missing.pyz")
    finally:
        await share.close()
    wrong = share_for(port, password="wrong")
    try:
        with pytest.raises(AuthenticationError):
            await wrong.sha256("\\\\127.0.0.1\\patch\\patchpilot-client.pyz")
    finally:
        await wrong.close()


def test_paths() -> None:
    assert split_unc("\\\\files\\patch$\\a\\b.pyz") == ("files", "patch$")
    assert split_unc("//files/patch/x") == ("files", "patch")
    assert admin_share_path("srv1", "c:\\ProgramData\\x") == "\\\\srv1\\C$\\ProgramData\\x"
    with pytest.raises(ConfigurationError):
        split_unc("C:\\local\\file")
    with pytest.raises(ConfigurationError):
        admin_share_path("srv1", "ProgramData\\x")


@needs_samba
async def test_windows_deploy_verifies_the_share_over_smb(
    samba: tuple[Path, int], tmp_path: Path
) -> None:
    root, port = samba

    @dataclass(frozen=True)
    class Built:
        path: Path
        sha256: str

    client = b"the client this connector built"
    built = Built(tmp_path / "c.pyz", hashlib.sha256(client).hexdigest())
    unc = "\\\\127.0.0.1\\patch\\deployed.pyz"
    system = WindowsOS(smb=SMBSettings(username="root", password=PASSWORD, port=port, timeout=10))
    transport = FakeTransport(lambda argv, _: (0, '{"refused":null}'))
    (root / "share" / "deployed.pyz").write_bytes(client)
    assert await system.deploy(transport, built, unc) == unc
    (root / "share" / "deployed.pyz").write_bytes(client + b" tampered")
    with pytest.raises(ConfigurationError, match="refusing to launch"):
        await system.deploy(transport, built, unc)
    secure = tuple(prepare_root_argv())
    assert set(transport.commands) == {secure}  # nothing else ran on the target
