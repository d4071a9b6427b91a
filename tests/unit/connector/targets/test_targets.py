"""The per-OS steps of a run: paths, client command, file reads, probes, Windows transports."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from patchpilot.connector.options import RunOptions
from patchpilot.connector.target_spec import TargetSpec
from patchpilot.connector.targets import TARGETS, LinuxOS, TargetOS, WindowsOS
from patchpilot.connector.targets.linux import LinuxBootProbe
from patchpilot.connector.targets.windows.family import make_windows_transport
from patchpilot.connector.targets.windows.probe import WindowsBootProbe
from patchpilot.errors import ConfigurationError, LaunchError
from patchpilot.launchers.schtasks import SchtasksLauncher
from patchpilot.transports.base import CommandResult
from patchpilot.transports.fake import FakeTransport
from patchpilot.transports.psrp import PSRPSettings, PSRPTransport
from patchpilot.transports.ssh import SSHSettings
from patchpilot.transports.winssh import WindowsSSHTransport


def test_linux() -> None:
    linux = TARGETS["linux"]()
    assert linux.round_file("r1", 2, "job.json") == "/var/lib/patchpilot/runs/r1/round-2/job.json"
    # an absolute interpreter, isolated from PYTHON* variables, user and site packages
    assert linux.client_argv("/c.pyz", "version") == [
        "/usr/bin/python3", "-I", "-S", "/c.pyz", "version"
    ]  # fmt: skip
    assert isinstance(linux.probe(), LinuxBootProbe) and linux.launcher == "auto"


def test_windows() -> None:
    windows = WindowsOS(python="\\\\files\\pp\\python\\python.exe")
    assert windows.round_file("r1", 2, "state.json") == (
        "C:\\ProgramData\\patchpilot\\runs\\r1\\round-2\\state.json"
    )
    assert windows.client_argv("\\\\files\\pp\\c.pyz", "attach", "--run", "r1") == [
        "\\\\files\\pp\\python\\python.exe",
        "-I",
        "-S",
        "\\\\files\\pp\\c.pyz",
        "attach",
        "--run",
        "r1",
    ]
    assert isinstance(windows.probe(), WindowsBootProbe) and windows.launcher == "schtasks"


async def test_read_text_per_os() -> None:
    def handler(argv: tuple[str, ...], _: bytes | None) -> CommandResult:
        if argv[0] == "cat":
            return CommandResult(argv, 0, '{"phase":"done"}', "", 0.1)
        script = base64.b64decode(argv[-1]).decode("utf-16-le")
        assert "ReadAllText" in script
        return CommandResult(argv, 0, '{"text":"{\\"phase\\":\\"done\\"}"}', "", 0.1)

    transport = FakeTransport(handler)
    assert await LinuxOS().read_text(transport, "/x/state.json") == '{"phase":"done"}'
    assert await WindowsOS().read_text(transport, "C:\\x\\state.json") == '{"phase":"done"}'
    missing = FakeTransport(lambda argv, _: (1, ""))
    assert await LinuxOS().read_text(missing, "/x") is None


async def test_windows_shared_client_needs_smb(tmp_path: Path) -> None:
    class Artifact:
        path = tmp_path / "c.pyz"
        sha256 = "ab" * 32

    secured = FakeTransport(lambda a, i: (0, '{"refused":null}'))
    with pytest.raises(ConfigurationError, match="verified over SMB"):
        await WindowsOS().deploy(secured, Artifact(), "\\\\f\\s\\c.pyz", SchtasksLauncher())


async def test_windows_deploy_refuses_a_tampered_data_folder(tmp_path: Path) -> None:
    class Artifact:
        path = tmp_path / "c.pyz"
        sha256 = "ab" * 32

    why = "C:\\ProgramData\\patchpilot\\runs is owned by S-1-5-21-1-2-3-1001"
    tampered = FakeTransport(lambda a, i: (0, json.dumps({"refused": why})))
    with pytest.raises(LaunchError, match=r"owned by S-1-5-21-1-2-3-1001.*remove the folder"):
        await WindowsOS().deploy(tampered, Artifact(), None, SchtasksLauncher())
    assert tampered.files == {}  # nothing was pushed
    silent = FakeTransport(lambda a, i: (1, ""))
    with pytest.raises(LaunchError, match="cannot secure"):
        await WindowsOS().deploy(silent, Artifact(), None, SchtasksLauncher())


def test_windows_transports() -> None:
    psrp = make_windows_transport("psrp", psrp=PSRPSettings("srv1"))
    assert isinstance(psrp, PSRPTransport)
    ssh = make_windows_transport("ssh", ssh=SSHSettings("srv1"))
    assert isinstance(ssh, WindowsSSHTransport)
    with pytest.raises(ConfigurationError):
        make_windows_transport("local")


def test_windows_options_are_checked() -> None:
    with pytest.raises(ValueError, match="schtasks is not a scheduler of --os linux"):
        RunOptions(launcher="schtasks")
    with pytest.raises(ValueError, match="psrp is not a transport of --os linux"):
        RunOptions(transport="psrp")
    with pytest.raises(ValueError, match="at is not a scheduler of --os windows"):
        RunOptions(os="windows", launcher="at")


def target_os(options: RunOptions, user: str | None) -> TargetOS:
    return TARGETS[options.os].for_run(options, TargetSpec("srv1", "srv1", user=user))


def test_python_defaults_beside_a_unc_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATCHPILOT_WINRM_PASSWORD", "w-pass")
    shared = RunOptions(os="windows", client_path="\\\\files\\pp\\patchpilot-client.pyz")
    system = target_os(shared, "EXAMPLE\\patch")
    assert isinstance(system, WindowsOS)
    assert system.python == "\\\\files\\pp\\python\\python.exe"
    assert system.smb is not None and system.smb.username == "EXAMPLE\\patch"
    assert system.smb.password == "w-pass"
    assert isinstance(target_os(RunOptions(), None), LinuxOS)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"os": "windows"}, "--python"),  # python.exe from PATH: refused
        ({"os": "windows", "python": "python.exe"}, "absolute"),
    ],
)
def test_the_interpreter_is_an_absolute_path(options: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        target_os(RunOptions(**options), None)  # type: ignore[arg-type]
    windows = target_os(RunOptions(os="windows", python="C:\\Py\\python.exe"), None)
    assert windows.client_argv("c.pyz")[:3] == ["C:\\Py\\python.exe", "-I", "-S"]


def test_windows_search_options() -> None:
    options = RunOptions(
        os="windows",
        windows_service="microsoft-update",
        windows_classifications=("Security Updates", "Drivers"),
    )
    assert options.windows.search()["classifications"] == ["Security Updates", "Drivers"]
    with pytest.raises(ValueError, match="unknown Windows classification 'Security'"):
        RunOptions(os="windows", windows_classifications=("Security",))
