"""SMB deployment against a real Samba server started on loopback (needs root and smbd)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from patchpilot.connector.targets.windows import WindowsOS
from patchpilot.errors import AuthenticationError, ConfigurationError, TransportError
from patchpilot.lab.samba import SAMBA_PASSWORD, SambaServer, samba_missing
from patchpilot.launchers.schtasks import SchtasksLauncher
from patchpilot.transports.fake import FakeTransport
from patchpilot.transports.powershell import prepare_root_argv
from patchpilot.transports.smb import SMBSettings, SMBShare, admin_share_path, split_unc

needs_samba = pytest.mark.skipif(samba_missing() is not None, reason=str(samba_missing()))


def share_for(port: int, password: str = SAMBA_PASSWORD) -> SMBShare:
    return SMBShare(SMBSettings(username="root", password=password, port=port, timeout=10))


@needs_samba
async def test_verify_client_on_unc_share(samba: SambaServer) -> None:
    root, port = samba.folder, samba.port
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
async def test_copy_client_to_admin_share_atomically(samba: SambaServer) -> None:
    root, port = samba.folder, samba.port
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
async def test_read_only_share_refuses_writes(samba: SambaServer) -> None:
    port = samba.port
    share = share_for(port)
    try:
        with pytest.raises(TransportError, match="ACCESS_DENIED"):
            await share.copy(b"evil", "\\\\127.0.0.1\\patch\\patchpilot-client.pyz")
    finally:
        await share.close()


@needs_samba
async def test_missing_file_and_bad_password(samba: SambaServer) -> None:
    port = samba.port
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
    samba: SambaServer, tmp_path: Path
) -> None:
    root, port = samba.folder, samba.port

    @dataclass(frozen=True)
    class Built:
        path: Path
        sha256: str

    client = b"the client this connector built"
    built = Built(tmp_path / "c.pyz", hashlib.sha256(client).hexdigest())
    unc = "\\\\127.0.0.1\\patch\\deployed.pyz"
    system = WindowsOS(
        smb=SMBSettings(username="root", password=SAMBA_PASSWORD, port=port, timeout=10)
    )
    transport = FakeTransport(lambda argv, _: (0, '{"refused":null}'))
    (root / "share" / "deployed.pyz").write_bytes(client + b" tampered")
    with pytest.raises(ConfigurationError, match="refusing to launch"):
        await system.deploy(transport, built, unc, SchtasksLauncher())
    secure = tuple(prepare_root_argv())
    assert set(transport.commands) == {secure}  # refused before anything ran on the target
