"""The dnf5 backend against a scripted fake of dnf5's CLI (dnf5 is not packaged in Debian 12)."""

import json
import sys
from pathlib import Path
from typing import Any, Dict

import fake_dnf5  # beside this file (pytest puts its folder on sys.path)
import pytest

from patchpilot.client.backends.dnf5 import Dnf5Backend, parse_advisory_json, parse_check_upgrade
from patchpilot.client.jobspec import Selection
from patchpilot.client.selection import select_updates

STATE: Dict[str, Any] = {
    "installed": {
        "lab-a": "1.0-1",
        "lab-kernel": "1.0-1",
        "lab-epoch": "1.0-1",
        "lab-fail": "1.0-1",
    },
    "available": {
        "lab-a": "2.0-1",
        "lab-kernel": "2.0-1",
        "lab-epoch": "1:0.9-1",
        "lab-fail": "2.0-1",
    },
    "advisories": [
        {
            "id": "FEDORA-2026-1",
            "type": "security",
            "severity": "Critical",
            "packages": ["lab-kernel"],
            "cves": ["CVE-2026-1", "CVE-2026-2"],
        },
        {
            "id": "FEDORA-2026-2",
            "type": "bugfix",
            "severity": "Moderate",
            "packages": ["lab-a"],
            "cves": [],
        },
    ],
    "reboot_packages": ["lab-kernel"],
    "failing": ["lab-fail"],
}


def _noop(event: str, level: str, fields: Dict[str, object]) -> None:
    return None


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put wrappers named dnf5 and rpm on PATH, with a fresh state file; return the state."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_dnf5.put_on_path(str(bin_dir), sys.executable)
    state = tmp_path / "state.json"
    state.write_text(json.dumps(STATE))
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_DNF5_STATE", str(state))
    return state


def _backend() -> Dnf5Backend:
    backend = Dnf5Backend(lock_timeout=1)
    return backend


def test_scan_lists_candidates_with_advisories(fake: Path) -> None:
    updates = {u.id: u for u in _backend().scan(_noop)}
    assert sorted(updates) == ["lab-a", "lab-epoch", "lab-fail", "lab-kernel"]
    kernel = updates["lab-kernel"]
    assert (kernel.installed_version, kernel.candidate_version) == ("1.0-1", "2.0-1")
    assert (kernel.advisory, kernel.severity, kernel.cves) == (
        "FEDORA-2026-1",
        "Critical",
        ("CVE-2026-1", "CVE-2026-2"),
    )
    assert kernel.is_security and not updates["lab-a"].is_security
    assert updates["lab-epoch"].candidate_version == "1:0.9-1"
    calls = json.loads(fake.read_text())["calls"]
    assert ["dnf5", "-C", "-y", "-q", "check-upgrade"] in calls
    assert [
        "dnf5",
        "-C",
        "-y",
        "-q",
        "advisory",
        "list",
        "--json",
        "--updates",
        "--with-cve",
    ] in calls


def test_selection_by_severity_and_cve(fake: Path) -> None:
    updates = _backend().scan(_noop)
    by_severity = select_updates(updates, Selection(severities=("critical",)), lambda a, b: False)
    assert [u.id for u in by_severity.selected] == ["lab-kernel"]
    by_cve = select_updates(updates, Selection(cves=("CVE-2026-2",)), lambda a, b: False)
    assert [u.id for u in by_cve.selected] == ["lab-kernel"]
    by_advisory = select_updates(
        updates, Selection(advisories=("FEDORA-2026-2",)), lambda a, b: False
    )
    assert [u.id for u in by_advisory.selected] == ["lab-a"]


def test_install_pins_nevras_and_fails_the_scriptlet_alone(fake: Path) -> None:
    backend = _backend()
    updates = backend.scan(_noop)
    results = {r.id: r for r in backend.install(updates, _noop)}
    assert results["lab-a"].status == "installed"
    assert results["lab-epoch"].status == "installed"
    assert results["lab-epoch"].version == "1:0.9-1"
    assert results["lab-fail"].status == "failed"
    assert results["lab-fail"].code == "scriptlet-failed"
    calls = json.loads(fake.read_text())["calls"]
    upgrade = next(c for c in calls if c[:4] == ["dnf5", "-y", "upgrade", "lab-a-2.0-1"])
    assert "lab-epoch-1:0.9-1" in upgrade


def test_reboot_from_needs_restarting(fake: Path) -> None:
    backend = _backend()
    assert not backend.reboot_state().required
    backend.install([u for u in backend.scan(_noop) if u.id == "lab-kernel"], _noop)
    state = backend.reboot_state()
    assert state.required
    assert any("lab-kernel" in reason for reason in state.reasons)


def test_parsers_golden() -> None:
    text = (
        "lab-a.noarch   2.0-1   fedora\nlab-epoch.noarch 1:0.9-1 updates\n"
        "Last metadata expiration\n"
    )
    assert [(a.name, a.evr, a.repo) for a in parse_check_upgrade(text)] == [
        ("lab-a", "2.0-1", "fedora"),
        ("lab-epoch", "1:0.9-1", "updates"),
    ]
    basic = (
        '[{"name":"F-1","type":"security","severity":"Important",'
        '"nevra":"x-0:1.0-1.noarch","buildtime":1}]'
    )
    info = parse_advisory_json(basic)["x-1.0-1.noarch"]
    assert (info.id, info.kind, info.severity, info.cves) == ("F-1", "security", "Important", ())
    assert parse_advisory_json("not json") == {}
