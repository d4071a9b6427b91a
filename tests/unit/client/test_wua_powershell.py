"""The PowerShell WUA adapter's JSON-lines protocol, against a stand-in child over the fake."""

import json
import sys
from pathlib import Path
from typing import Dict, Optional

import pytest

from patchpilot.client.backends.wua import WuaBackend, WuaBackendError, WuaOptions
from patchpilot.client.backends.wua_com import WuaError
from patchpilot.client.backends.wua_fake import FakeWindows, load_scenario
from patchpilot.client.backends.wua_powershell import (
    WUA_SCRIPT,
    PowerShellAdapter,
    powershell_command,
)
from patchpilot.client.platforms import windows

HERE = Path(__file__).parent
SCENARIOS = HERE / "wua_scenarios"


class Machine:
    """A fake machine whose state a stand-in child reads and writes through a file."""

    def __init__(self, tmp: Path, scenario: str, **overrides: object) -> None:
        self.scenario = tmp / "scenario.json"
        self.scenario.write_text(
            json.dumps({**load_scenario(str(SCENARIOS / scenario)), **overrides})
        )
        self.state = tmp / "state.json"
        self.machine = FakeWindows(load_scenario(str(self.scenario)))
        self.state.write_text(json.dumps(self.machine.dump_state()))

    def adapter(self) -> PowerShellAdapter:
        argv = [sys.executable, str(HERE / "wua_ps_stub.py"), str(self.scenario), str(self.state)]
        return PowerShellAdapter(argv, execution_state=lambda enabled: None)

    def restart(self) -> None:
        self.machine.load_state(json.loads(self.state.read_text()))
        self.machine.restart()
        self.state.write_text(json.dumps(self.machine.dump_state()))


def journal(event: str, level: str, fields: Dict[str, object]) -> None:
    pass


def install_all(machine: Machine):
    adapter = machine.adapter()
    try:
        backend = WuaBackend(adapter, WuaOptions())
        results = backend.install(backend.scan(journal), journal)
        return results, backend.reboot_state()
    finally:
        adapter.close()


def test_two_rounds_through_the_child(tmp_path: Path) -> None:
    machine = Machine(tmp_path, "servicing_stack_then_cumulative.json")
    results, reboot = install_all(machine)
    assert [(r.id, r.status) for r in results] == [("KB5031364", "installed")]
    assert reboot.required
    machine.restart()
    results, reboot = install_all(machine)
    assert [(r.id, r.status, r.code) for r in results] == [("KB5031361", "installed", "Succeeded")]


def test_hresults_cross_the_pipe_unsigned(tmp_path: Path) -> None:
    results, _ = install_all(Machine(tmp_path, "failing_update.json"))
    failed = next(r for r in results if r.status == "failed")
    assert failed.code == "Failed 0x80070643"


def test_failing_creation_names_the_call(tmp_path: Path) -> None:
    results, _ = install_all(Machine(tmp_path, "reboot_required.json", remote_token=True))
    assert {r.code for r in results} == {"CreateUpdateDownloader 0x80070005"}


def test_search_error(tmp_path: Path) -> None:
    with pytest.raises(WuaBackendError, match="0x80072EE2"):
        install_all(Machine(tmp_path, "search_network_error.json"))


def test_eula_and_unicode_titles(tmp_path: Path) -> None:
    machine = Machine(tmp_path, "eula_update.json")
    scenario = json.loads(machine.scenario.read_text())
    scenario["updates"][0]["title"] = "Mise à jour cumulative \u2014 \u65e5\u672c"
    machine.scenario.write_text(json.dumps(scenario))
    adapter = machine.adapter()
    try:
        found = adapter.search("IsInstalled=0", server_selection=0, service_id=None)
        assert found[0].title == "Mise à jour cumulative \u2014 \u65e5\u672c"
        assert not found[0].eula_accepted
        adapter.accept_eula(found[0].update_id)
        assert adapter.search("IsInstalled=0", server_selection=0, service_id=None)[0].eula_accepted
    finally:
        adapter.close()


def test_child_that_dies_is_reported_with_its_stderr() -> None:
    adapter = PowerShellAdapter(
        [sys.executable, "-c", "import sys; sys.stderr.write('no COM here'); sys.exit(3)"]
    )
    with pytest.raises(WuaError, match="no COM here"):
        adapter.system_reboot_required()
    adapter.close()


def test_garbage_reply_is_an_error() -> None:
    adapter = PowerShellAdapter(
        [sys.executable, "-c", "import sys; sys.stdin.readline(); print('PS> oops')"]
    )
    with pytest.raises(WuaError, match="unreadable reply"):
        adapter.system_reboot_required()
    adapter.close()


def test_command_carries_the_script() -> None:
    import base64

    argv = powershell_command(WUA_SCRIPT)
    assert argv[:-1] == [
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "-NoProfile",
        "-NonInteractive",
        "-ExecutionPolicy",
        "Bypass",
        "-EncodedCommand",
    ]
    assert base64.b64decode(argv[-1]).decode("utf-16-le") == WUA_SCRIPT
    assert len(" ".join(argv)) < 32000  # CreateProcess's command-line limit


@pytest.mark.parametrize(
    ("system_root", "expected"),
    [
        ("D:\\WINNT", "D:\\WINNT\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"),
        (None, "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"),
        ("Windows", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"),
    ],
)
def test_powershell_is_started_by_its_full_path(
    monkeypatch: pytest.MonkeyPatch, system_root: Optional[str], expected: str
) -> None:
    """The client, as SYSTEM, started bare `powershell.exe`: whatever the search order found.

    Both its PowerShell children, the WUA helper and a target hook, name the system's own.
    """
    if system_root is None:
        monkeypatch.delenv("SYSTEMROOT", raising=False)
    else:
        monkeypatch.setenv("SYSTEMROOT", system_root)
    assert powershell_command("x")[0] == expected
    argv = windows.shell_argv("Get-Date")  # target hooks' shell on Windows
    assert argv[0] == expected and argv[-1] == "Get-Date"


def test_no_powershell_is_a_wua_error_not_a_crash() -> None:
    adapter = PowerShellAdapter(["/nonexistent/powershell.exe"])
    with pytest.raises(WuaError, match="helper is gone"):
        adapter.system_reboot_required()
    adapter.close()


def test_make_backend_wua_starts_nothing_until_asked() -> None:
    from patchpilot.client.backends import make_backend

    backend = make_backend("wua")
    assert isinstance(backend, WuaBackend) and backend.name == "wua"
