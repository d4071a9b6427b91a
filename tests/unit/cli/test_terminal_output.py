"""What a person at a terminal reads: milestones, the recap, help at 80 columns, suggestions.

The view is driven with the scripted run (the real command, stdout a pseudo-terminal for
rich); the lab test (tests/lab/cli) does the same in a real tmux terminal on real servers.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

import pytest
from cli_scripted import events_for, result_for
from rich.console import Console

from patchpilot.cli.human import Human
from patchpilot.cli.main import main
from patchpilot.cli.milestones import Milestones
from patchpilot.cli.progress import ProgressThrottle
from patchpilot.cli.render import EventRenderer
from patchpilot.cli.terminal import RecapRow, TerminalView, recap
from patchpilot.connector.events import JournalRecord, RunStarted
from patchpilot.connector.fleet import FleetEvent
from patchpilot.connector.fleet.job import select_hosts
from patchpilot.connector.inventory import load_inventory
from patchpilot.connector.inventory.suggest import did_you_mean, pattern_terms
from patchpilot.errors import ConfigurationError

_ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


def test_milestones_of_a_run_with_a_reboot() -> None:
    milestones = Milestones()
    lines = [line for e in events_for("web1", "r1") for line in milestones.lines(e)]
    assert lines == [
        ("info", "started: install, run id r1"),
        ("info", "round 1 started: 2 update(s) to apply"),
        ("warning", "warning: update.result id=lab-tool status=failed "
                    "message=lab-tool: dependency problem\nsecond line"),
        ("info", "round 1 partial: 1 installed, 1 failed"),
        ("info", "reboot requested (kernel lab-kernel 2.0)"),
        ("warning", "warning: ssh: connection refused, retrying"),
        ("info", "back after 8 s, new boot id boot-b"),
        ("info", "ready"),
        ("info", "round 2 success: 1 installed, 0 failed"),
        ("error", "done in 26 s: partial (exit 30): 1 update failed"),
    ]  # fmt: skip


def test_milestones_of_a_check() -> None:
    milestones = Milestones()
    events = events_for("web1", "r1")
    start = events[0]
    assert isinstance(start, RunStarted)
    check = [replace(start, mode="check-only"), *events[1:10]]
    lines = [text for e in check for _, text in milestones.lines(e)]
    assert lines[:2] == ["started: check-only, run id r1", "round 1: 2 update(s) available"]
    assert not any(text.startswith("round 1 partial") for text in lines)


def _progress(second: int, done: int) -> JournalRecord:
    ts = f"2026-11-25T02:01:{second:02d}.000Z"
    fields = {"stage": "install", "packages_done": done, "packages_total": 40}
    record = {"ts": ts, "level": "info", "event": "progress", "fields": fields}
    return JournalRecord(target="web1", ts=ts, round=1, record=record)


def test_the_view_shows_milestones_progress_and_no_record_dump() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80)
    with TerminalView(console, ["web1"]) as view:
        view.on_fleet(FleetEvent("group", detail="deb/debian-11 (plan from web1): web1"))
        for event in events_for("web1", "r1")[:6]:
            view.on_server(event)
        view.on_server(_progress(1, 12))
        assert view.rows["web1"].progress == "install 12/40 pkgs"
        for event in events_for("web1", "r1")[6:]:
            view.on_server(event)
    text = _ANSI.sub("", out.getvalue())
    assert "fleet | group deb/debian-11 (plan from web1): web1" in text
    assert "web1  | round 1 started: 2 update(s) to apply" in text
    assert "web1  | done in 26 s: partial (exit 30)" in text
    assert "scan.done" not in text and "{" not in text


def test_recap_fits_80_columns() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=80)
    body = result_for("web1", "r1").to_dict()
    console.print(recap([RecapRow("web1", "partial", body), RecapRow("db1", "not-started", {})]))
    lines = out.getvalue().splitlines()
    assert lines[1] == "web1   : partial      installed=2   failed=1   reboots=1  26 s"
    assert lines[2].startswith("db1    : not-started  installed=0")
    assert max(len(line) for line in lines) <= 80


def test_recap_counts_interrupted_rounds() -> None:
    out = io.StringIO()
    body = {**result_for("web1", "r1").to_dict(), "interruptions": [{"round": 1}]}
    Console(file=out, force_terminal=False, width=80).print(recap([RecapRow("web1", "", body)]))
    assert out.getvalue().splitlines()[1].endswith("26 s  interrupted=1")


def test_job_output_keeps_one_progress_line_per_10_s_per_server() -> None:
    throttle = ProgressThrottle()
    kept = [s for s in range(0, 40, 4) if throttle.allows(_progress(s, s))]
    assert kept == [0, 12, 24, 36]
    assert throttle.allows(events_for("web1", "r1")[0])  # anything else always passes


def test_output_is_for_a_person_only_at_a_terminal_with_text() -> None:
    assert not Human().is_for_person("text")  # pytest's captured stdout is no terminal


@pytest.mark.parametrize("command", ["run", "check", "fleet"])
def test_help_fits_80_columns_with_full_option_names(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    for heading in (
        "Selection:",
        "Reboot:",
        "Connection:",
        "Job and output:",
        "Windows:",
        "Examples:",
    ):
        assert heading in text
    if command == "fleet":
        assert "--max-fail-percent" in text and "Rollout:" in text
    assert "--install-completion" in text


def test_unknown_names_get_suggestions(tmp_path: Path) -> None:
    assert did_you_mean("web1", ["web01", "web02", "db1"]) == "; did you mean 'web01', 'web02'?"
    assert did_you_mean("zzz", ["web01"]) == ""
    assert pattern_terms("web:&prod:!web03,db*,~x.*") == ["web", "prod", "web03"]
    path = tmp_path / "inv.ini"
    path.write_text("[web]\nweb01\nweb02\n[db]\ndb1\n")
    with pytest.raises(ConfigurationError, match="did you mean 'web01'"):
        load_inventory(path).host("web1")
    with pytest.raises(ConfigurationError, match=r"matches no host .*did you mean 'db', 'db1'"):
        select_hosts(load_inventory(path), "dbb:!web02")


def test_verbose_prints_every_record_as_the_job_output_does() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    with Human(verbose=True).view(["web1"], console=console) as view:
        for event in events_for("web1", "r1"):
            view.on_server(event)
    text = _ANSI.sub("", out.getvalue())
    expected = (Path(__file__).with_name("golden") / "run.text.out").read_text().splitlines()
    assert [line for line in text.splitlines() if line.startswith("2026-")] == expected[:23]


def test_recap_counts_held_and_too_young_updates() -> None:
    """Issue 25: locked packages (held) and updates left out by --min-age (skipped) show in
    the recap's line; a server with neither keeps the plain line."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=80)
    body = result_for("web1", "r1").to_dict()
    body = {**body, "counts": {**body["counts"], "held": 1, "skipped": 2}}
    console.print(recap([RecapRow("web1", "partial", body)]))
    line = out.getvalue().splitlines()[1]
    assert line == "web1   : partial  installed=2   failed=1   reboots=1  26 s  held=1 skipped=2"


def test_job_output_and_recap_show_the_change_record() -> None:
    """Issue 24 (5): from -> to for each update, dependencies installed or upgraded beside
    them and packages removed, in the job output's summary; counts in the recap."""
    changes = {
        "upgraded": [
            {"id": "lab-a", "from": "1.0", "to": "2.0", "round": 1},
            {"id": "libdep", "from": "0.1", "to": "0.2", "round": 1},
        ],
        "installed": [{"id": "lab-new", "version": "1.0", "round": 1}],
        "removed": [{"id": "lab-old", "version": "0.9", "round": 1}],
    }
    update = {"id": "lab-a", "status": "installed", "version": "2.0", "from_version": "1.0"}
    result = replace(result_for("web1", "r1"), updates=(update,), changes=changes)
    assert EventRenderer(io.StringIO()).summary(result) == [
        "lab-a: installed 1.0 -> 2.0",
        "libdep: upgraded as a dependency 0.1 -> 0.2",
        "lab-new: installed as a dependency 1.0",
        "lab-old: removed (was 0.9)",
    ]
    out = io.StringIO()
    Console(file=out, force_terminal=False, width=100).print(
        recap([RecapRow("web1", "success", result.to_dict())])
    )
    assert out.getvalue().splitlines()[1].endswith("  deps=1 removed=1")


def test_recap_counts_services_restarted_and_failed() -> None:
    """Issue 24 (1): --reboot services' restarts in the recap."""
    services = {
        "restarted": [{"unit": "a.service", "round": 1, "old_pid": 1, "new_pid": 2}],
        "failed": [{"unit": "b.service", "round": 1, "message": "x"}],
        "kept": [],
        "reboot": [{"round": 1, "why": "no reboot needed"}],
    }
    result = replace(result_for("web1", "r1"), services=services)
    out = io.StringIO()
    Console(file=out, force_terminal=False, width=120).print(
        recap([RecapRow("web1", "unhealthy", result.to_dict())])
    )
    assert out.getvalue().splitlines()[1].endswith("  restarted=1 restart-failed=1")
