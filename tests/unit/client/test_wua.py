"""The WUA backend against the scripted fake: scenarios round by round, selection, results."""

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from patchpilot.client.backends.wua import (
    WuaBackend,
    WuaBackendError,
    WuaOptions,
    build_criteria,
    make_wua_backend,
    normalize_kb,
)
from patchpilot.client.backends.wua_fake import FakeWindows, fake_adapter, load_scenario

SCENARIOS = Path(__file__).parent / "wua_scenarios"
PLAYED = sorted(p.name for p in SCENARIOS.glob("*.json") if "rounds" in json.loads(p.read_text()))


class Journal:
    def __init__(self) -> None:
        self.events: List[Tuple[str, str, Dict[str, object]]] = []

    def __call__(self, event: str, level: str, fields: Dict[str, object]) -> None:
        self.events.append((event, level, fields))

    def names(self) -> List[str]:
        return [e[0] for e in self.events]


def backend_for(machine: FakeWindows, options: Optional[WuaOptions] = None, awake: Any = None):
    return WuaBackend(fake_adapter(machine, awake), options or WuaOptions())


def play_round(machine: FakeWindows, options: Optional[WuaOptions] = None):
    """One round: a new client process (new backend) scans and installs everything offered."""
    journal = Journal()
    backend = backend_for(machine, options)
    backend.prepare(journal)
    updates = backend.scan(journal)
    results = backend.install(updates, journal)
    return results, backend.reboot_state(), journal


@pytest.mark.parametrize("name", PLAYED)
def test_scenario_rounds(name: str) -> None:
    scenario = load_scenario(str(SCENARIOS / name))
    machine = FakeWindows(scenario)
    for number, round_ in enumerate(scenario["rounds"], 1):
        expect = round_["expect"]
        if "error" in expect:
            with pytest.raises(WuaBackendError) as info:
                play_round(machine)
            assert expect["error"] in str(info.value)
            continue
        results, reboot, journal = play_round(machine)
        got = {r.id: [r.status, r.code] for r in results}
        assert got == expect["results"], f"round {number}"
        assert reboot.required is expect["reboot_required"], f"round {number}"
        for event in expect.get("events", []):
            assert event in journal.names()
        if reboot.required:
            machine.restart()


def test_servicing_stack_offers_cumulative_only_after_restart() -> None:
    machine = FakeWindows(load_scenario(str(SCENARIOS / "servicing_stack_then_cumulative.json")))
    play_round(machine)
    again = backend_for(machine).scan(Journal())
    assert again == []  # installed, but not yet restarted into
    machine.restart()
    assert [u.id for u in backend_for(machine).scan(Journal())] == ["KB5031361"]


def test_failed_update_reports_hresult_in_words() -> None:
    machine = FakeWindows(load_scenario(str(SCENARIOS / "failing_update.json")))
    results, _, _ = play_round(machine)
    failed = next(r for r in results if r.status == "failed")
    assert failed.message == "0x80070643 ERROR_INSTALL_FAILURE: fatal error during installation"


def test_search_network_error_is_described() -> None:
    machine = FakeWindows(load_scenario(str(SCENARIOS / "search_network_error.json")))
    journal = Journal()
    with pytest.raises(WuaBackendError, match="timed out") as info:
        backend_for(machine).scan(journal)
    assert info.value.hresult == 0x80072EE2
    assert journal.events[-1][0:2] == ("wua.search.failed", "error")


def test_search_recovers_after_transient_failures() -> None:
    scenario = load_scenario(str(SCENARIOS / "search_network_error.json"))
    machine = FakeWindows({**scenario, "search_failures": 1})
    with pytest.raises(WuaBackendError):
        backend_for(machine).scan(Journal())
    assert [u.id for u in backend_for(machine).scan(Journal())] == ["KB5031361"]


def test_eula_accepted_before_install_and_declined_otherwise() -> None:
    machine = FakeWindows(load_scenario(str(SCENARIOS / "eula_update.json")))
    journal = Journal()
    backend = backend_for(machine)
    backend.install(backend.scan(journal), journal)
    accepted = [e for e in journal.events if e[0] == "wua.eula.accepted"]
    assert accepted[0][2]["id"] == "KB890830"
    assert "7c000000-0000-4000-8000-000000000001" in machine.eulas_accepted


def test_remote_token_is_access_denied_in_words() -> None:
    scenario = load_scenario(str(SCENARIOS / "reboot_required.json"))
    machine = FakeWindows({**scenario, "remote_token": True})
    results, reboot, journal = play_round(machine)
    assert {r.status for r in results} == {"failed"}
    assert all(r.code == "CreateUpdateDownloader 0x80070005" for r in results)
    assert "remote logon token" in results[0].message
    assert "wua.download.failed" in journal.names()
    assert reboot.required is False


def test_shutdown_in_progress_fails_every_update() -> None:
    scenario = load_scenario(str(SCENARIOS / "reboot_required.json"))
    machine = FakeWindows({**scenario, "shutdown_in_progress": True})
    results, _, _ = play_round(machine)
    assert {r.code for r in results} == {"Install 0x8007045B"}
    assert "shutdown is already in progress" in results[0].message


def test_pending_restart_is_reported_by_the_system() -> None:
    scenario = load_scenario(str(SCENARIOS / "failing_update.json"))
    machine = FakeWindows({**scenario, "reboot_pending": True})
    journal = Journal()
    backend = backend_for(machine)
    backend.prepare(journal)
    assert journal.names() == ["wua.reboot_pending"]
    state = backend.reboot_state()
    assert state.required and "ISystemInformation" in state.reasons[0]


def test_update_that_comes_back_after_restart_is_offered_again() -> None:
    scenario = load_scenario(str(SCENARIOS / "failing_update.json"))
    scenario["updates"][0]["comes_back"] = True
    scenario["updates"][1].pop("install_hresult")
    machine = FakeWindows(scenario)
    results, _, _ = play_round(machine)
    assert {r.status for r in results} == {"installed"}
    machine.restart()
    assert [u.id for u in backend_for(machine).scan(Journal())] == ["KB5032000"]


def test_keeps_machine_awake_only_while_working() -> None:
    machine = FakeWindows(load_scenario(str(SCENARIOS / "reboot_required.json")))
    calls: List[bool] = []
    backend = backend_for(machine, awake=calls.append)
    backend.install(backend.scan(Journal()), Journal())
    assert calls == [True, False]


def test_download_only_leaves_updates_not_installed() -> None:
    machine = FakeWindows(load_scenario(str(SCENARIOS / "reboot_required.json")))
    backend = backend_for(machine)
    results = backend.download(backend.scan(Journal()), Journal())
    assert {r.status for r in results} == {"downloaded"}
    assert machine.installed == set()
    assert backend.reboot_state().required is False


def test_progress_events_in_order() -> None:
    machine = FakeWindows(load_scenario(str(SCENARIOS / "reboot_required.json")))
    _, _, journal = play_round(machine)
    assert journal.names() == [
        "wua.search.started",
        "wua.search.done",
        "wua.download.started",
        "wua.download.done",
        "wua.install.started",
        "wua.install.done",
    ]


def test_update_fields() -> None:
    machine = FakeWindows(load_scenario(str(SCENARIOS / "reboot_required.json")))
    update = backend_for(machine, WuaOptions(service="microsoft-update")).scan(Journal())[0]
    assert update.id == "KB5031589"
    assert update.candidate_version == "8d000000-0000-4000-8000-000000000001"
    assert update.is_security and update.reboot_hint
    assert update.categories == ("Security Updates",)
    assert update.origin == "microsoft-update"
    assert machine.searches[-1][1:] == (3, "7971f918-a847-4430-9279-4a52d1efe18d")


# --- selection: criteria, classifications, KB lists, optional and driver updates ---


def catalog_ids(options: WuaOptions) -> List[str]:
    machine = FakeWindows(load_scenario(str(SCENARIOS / "mixed_catalog.json")))
    return sorted(u.id for u in backend_for(machine, options).scan(Journal()))


def test_default_selection_skips_optional_drivers_installed_and_lists_hidden_ones() -> None:
    ids = ["KB5031001", "KB5031002", "KB5031003", "KB5031006", "KB5031008"]
    assert catalog_ids(WuaOptions()) == ids  # KB5031006 is hidden: listed, to report it held


def test_optional_and_drivers_on_request() -> None:
    ids = catalog_ids(WuaOptions(include_optional=True, include_drivers=True))
    assert "KB5031004" in ids
    assert "a0000000-0000-4000-8000-000000000005" in ids


def test_classification_names_become_category_ids() -> None:
    assert catalog_ids(WuaOptions(classifications=("Security Updates",))) == ["KB5031001"]
    options = WuaOptions(classifications=("Critical Updates", "Feature Packs"))
    assert catalog_ids(options) == ["KB5031002", "KB5031003"]


def test_driver_classification_searches_driver_type() -> None:
    ids = catalog_ids(WuaOptions(classifications=("Drivers",)))
    assert ids == ["a0000000-0000-4000-8000-000000000005"]


def test_kb_include_and_exclude_lists() -> None:
    assert catalog_ids(WuaOptions(include_kbs=("KB5031001", "KB5031009"))) == [
        "KB5031001",
        "KB5031008",
    ]
    assert catalog_ids(WuaOptions(exclude_kbs=("KB5031009", "KB5031003"))) == [
        "KB5031001",
        "KB5031002",
        "KB5031006",
    ]


def test_kb_lists_take_globs() -> None:
    assert catalog_ids(WuaOptions(include_kbs=("KB503100[18]",))) == ["KB5031001", "KB5031008"]
    assert catalog_ids(WuaOptions(include_kbs=(normalize_kb("503100*"),))) == [
        "KB5031001",
        "KB5031002",
        "KB5031003",
        "KB5031006",
        "KB5031008",
    ]
    assert catalog_ids(WuaOptions(exclude_kbs=(normalize_kb("kb5031?0?"),))) == []


def test_criteria_text() -> None:
    assert build_criteria(WuaOptions()) == ("(IsInstalled=0 and BrowseOnly=0 and Type='Software')")
    text = build_criteria(WuaOptions(classifications=("Security Updates",), include_drivers=True))
    assert text == (
        "(IsInstalled=0 and BrowseOnly=0 and Type='Software' and CategoryIDs "
        "contains '0FA1201D-4330-4FA8-8AE9-B877473B6441') or (IsInstalled=0 and "
        "BrowseOnly=0 and Type='Driver' and CategoryIDs contains "
        "'EBFC1FC5-71A4-4F7B-9ACA-3B9A503104A0')"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5031356", "KB5031356"),
        ("kb5031356", "KB5031356"),
        (" KB890830 ", "KB890830"),
        ("50*", "KB50*"),
        ("kb503135?", "KB503135?"),
    ],
)
def test_normalize_kb(text: str, expected: str) -> None:
    assert normalize_kb(text) == expected


@pytest.mark.parametrize("text", ["KB", "KB12", "5031356; rm", "KB50*; rm", "KBx*", "123456789"])
def test_normalize_kb_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a KB number"):
        normalize_kb(text)


def test_options_from_selection() -> None:
    options = WuaOptions.from_selection(
        {
            "include": ["5031356"],
            "exclude": ["kb890830"],
            "classification": "security",
            "windows": {"service": "windows-update", "drivers": True, "optional": True},
        }
    )
    assert options == WuaOptions(
        service="windows-update",
        classifications=("Security Updates",),
        include_kbs=("KB5031356",),
        exclude_kbs=("KB890830",),
        include_drivers=True,
        include_optional=True,
    )


@pytest.mark.parametrize(
    "selection",
    [
        {"classification": ["Security Update"]},
        {"windows": {"service": "wsus-somewhere"}},
        {"classification": 3},
        {"include": "KB5031356"},
    ],
)
def test_options_refuse_unknown_values(selection: Dict[str, object]) -> None:
    with pytest.raises(ValueError):
        WuaOptions.from_selection(selection)


def test_make_wua_backend_shapes_the_search() -> None:
    machine = FakeWindows(load_scenario(str(SCENARIOS / "mixed_catalog.json")))
    backend = make_wua_backend("security", {"service": "windows-update"}, fake_adapter(machine))
    assert [u.id for u in backend.scan(Journal())] == ["KB5031001"]
    assert machine.searches[-1][1] == 2


def test_a_kb_shared_by_several_updates_keeps_ids_unique() -> None:
    scenario = load_scenario(str(SCENARIOS / "mixed_catalog.json"))
    twin = dict(scenario["updates"][0], id="b1234567-0000-4000-8000-000000000009")
    machine = FakeWindows({**scenario, "updates": [*scenario["updates"], twin]})
    ids = sorted(u.id for u in backend_for(machine).scan(Journal()))
    assert ids[:2] == ["KB5031001_a0000000", "KB5031001_b1234567"]
    assert "KB5031002" in ids


def test_min_age_keeps_updates_released_too_recently_out() -> None:
    """Issue 13: `--min-age DAYS` reaches WUA as windows.min_age; release dates come from
    IUpdate.LastDeploymentChangeTime (unknown dates count as too new)."""
    import datetime

    scenario = load_scenario(str(SCENARIOS / "reboot_required.json"))
    today = datetime.date.today()
    old, new = scenario["updates"]
    old = {**old, "released": f"{today - datetime.timedelta(days=30)} 00:00:00+00:00"}
    new = {**new, "released": str(today - datetime.timedelta(days=2))}
    machine = FakeWindows({**scenario, "updates": [old, new]})
    journal = Journal()
    options = WuaOptions.from_selection({"windows": {"min_age": 7}})
    kept = backend_for(machine, options).scan(journal)
    assert [u.id for u in kept] == ["KB5031589"]
    skipped = next(f for e, _, f in journal.events if e == "wua.search.done")["skipped"]
    assert skipped == [
        {
            "id": "KB2267602",
            "reason": f"released {new['released']}, less than 7 days ago (--min-age)",
        }
    ]
    assert len(backend_for(machine, WuaOptions()).scan(journal)) == 2
    with pytest.raises(ValueError, match="min_age"):
        WuaOptions.from_selection({"windows": {"min_age": "7"}})


def test_hidden_update_is_reported_held_and_never_installed() -> None:
    """Issue 13: an update an administrator hid is `held`, as apt-mark hold is on Linux."""
    machine = FakeWindows(load_scenario(str(SCENARIOS / "mixed_catalog.json")))
    results, _, _ = play_round(machine)
    by_id = {r.id: r for r in results}
    assert by_id["KB5031006"].status == "held" and "hidden" in by_id["KB5031006"].message
    assert "a0000000-0000-4000-8000-000000000006" not in machine.installed
    assert by_id["KB5031001"].status == "installed"
