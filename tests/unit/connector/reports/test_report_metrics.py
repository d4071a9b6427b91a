"""Prometheus textfile metrics and the atomic write."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from report_samples import HOSTILE_HOST, check_only_report, fleet_report

from patchpilot.connector.reports import render_metrics, write_text_atomic

_SAMPLE = re.compile(r'^([a-z_]+)\{((?:[a-z_]+="(?:[^"\\]|\\.)*",?)+)\} (-?[0-9.e+]+)$')


def _samples(text: str) -> dict[tuple[str, str], float]:
    found = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, line
        found[(match[1], match[2])] = float(match[3])
    return found


def test_metrics_per_server() -> None:
    text = render_metrics(fleet_report())
    samples = _samples(text)
    web = 'server="web-1",run_id="f1"'
    assert samples[("patchpilot_last_run_success", web)] == 1
    assert (
        samples[("patchpilot_last_run_timestamp_seconds", web)]
        == datetime(2026, 11, 30, 2, 1, 40, tzinfo=UTC).timestamp()
    )
    assert samples[("patchpilot_updates_installed", web)] == 3
    assert samples[("patchpilot_updates_pending", web)] == 1  # held
    bad = 'server="<script>alert(\\"host\\")</script>",run_id="f1"'
    assert HOSTILE_HOST.replace('"', '\\"') in bad
    assert samples[("patchpilot_last_run_exit_code", bad)] == 30
    assert ("patchpilot_updates_installed", 'server="db-3",run_id="f1"') not in samples
    assert "# TYPE patchpilot_reboot_pending gauge" in text


def test_check_only_pending_updates_and_reboot() -> None:
    samples = _samples(render_metrics(check_only_report()))
    assert samples[("patchpilot_updates_pending", 'server="a",run_id="c1"')] == 2
    assert samples[("patchpilot_reboot_pending", 'server="a",run_id="c1"')] == 1
    assert samples[("patchpilot_reboot_pending", 'server="b",run_id="c1"')] == 0


def test_atomic_write_leaves_only_the_file(tmp_path: Path) -> None:
    target = tmp_path / "textfile" / "patchpilot.prom"
    write_text_atomic("a 1\n", target)
    write_text_atomic("a 2\n", target)
    assert target.read_text() == "a 2\n" and [p.name for p in target.parent.iterdir()] == [
        "patchpilot.prom"
    ]
