"""A real fleet's reports, looked at as a person would: lab servers (one with a package whose
upgrade fails, one that never comes back from its reboot), `patchpilot fleet --report`, then
the HTML page in headless Chromium, the JUnit file against Jenkins' schema, the CSV against
the JSON, and the Prometheus textfile.

One fleet run (module-scoped) serves every check; its screenshot is kept as a test artefact
(`$PATCHPILOT_ARTIFACTS`, default build/test-artifacts/report.png), and with
PATCHPILOT_UPDATE_DOCS=1 it also replaces docs/report.png.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import xmlschema
import yaml
from browser import Page, open_page

from patchpilot.lab.lab import Lab

pytestmark = pytest.mark.lab

PATCHPILOT = str(Path(sys.executable).with_name("patchpilot"))
SCHEMA = Path(__file__).parents[2] / "unit" / "connector" / "reports" / "jenkins-junit.xsd"
DOCS_PNG = Path(__file__).parents[3] / "docs" / "report.png"
ARTEFACTS = Path(__file__).parents[3] / "build" / "test-artifacts"  # git ignores build/


@dataclass(frozen=True)
class Fleet:
    """What the fleet run left: its result, the files it wrote, and the servers' roles."""

    result: dict[str, Any]
    audit: dict[str, Any]  # the check-only fleet run before it
    output: str
    html: Path
    metrics: Path
    state: Path
    failing: str
    good: str
    hung: str


def _fleet(*args: str, timeout: float) -> tuple[dict[str, Any], str]:
    """Run `patchpilot fleet`; return its result (the last stdout line) and its output."""
    done = subprocess.run([PATCHPILOT, "fleet", *args], capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stdout + done.stderr


@pytest.fixture(scope="module")
def fleet(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Three servers audited (check-only), then patched: the fleet run every test looks at."""
    tmp = tmp_path_factory.mktemp("report")
    failing, good, hung = servers = lab.add_servers(3)
    try:
        lab.install_opt_in(failing, "lab-fail")
        lab.ssh(good.name, ["touch", "/run/reboot-required"])  # a reboot the audit should see
        lab.hang(hung.name, None)  # its reboot never ends
        hosts = {s.name: {"ansible_host": s.address, "ansible_port": s.ssh_port} for s in servers}
        common = {"ansible_user": "root", "ansible_ssh_private_key_file": str(lab.key_path)}
        inventory = tmp / "inv.yml"
        inventory.write_text(
            yaml.safe_dump({"all": {"vars": common, "children": {"site": {"hosts": hosts}}}})
        )
        html, metrics, state = tmp / "nightly.html", tmp / "prom" / "patchpilot.prom", tmp / "st"
        args = [str(inventory), "--known-hosts", str(lab.known_hosts_path), "--state-dir",
                str(state)]  # fmt: skip
        audit, audited = _fleet(*args, "--check-only", "--run-id", "audit", timeout=120)
        result, output = _fleet(*args, "--run-id", "nightly", "--plan-from", failing.name,
                                "--reboot-timeout", "25", "--report", str(html),
                                "--metrics-file", str(metrics), timeout=300)  # fmt: skip
        yield Fleet(result, audit, audited + output, html, metrics, state,
                    failing.name, good.name, hung.name)  # fmt: skip
    finally:
        for server in servers:
            lab.remove_server(server.name)


def _report(fleet: Fleet, fmt: str) -> str:
    argv = [PATCHPILOT, "report", "nightly", "--state-dir", str(fleet.state), "--format", fmt]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def test_the_fleet_ended_as_staged(fleet: Fleet) -> None:
    servers = {s["host"]: s for s in fleet.result["servers"]}
    assert servers[fleet.good]["exit_code"] == 0, fleet.output
    # lab-fail failed, the rest installed
    assert servers[fleet.failing]["exit_code"] == 30, fleet.output
    assert servers[fleet.hung]["exit_code"] == 73, fleet.output  # never came back
    assert fleet.result["exit_code"] == 86


@pytest.fixture(scope="module")
def page(fleet: Fleet) -> Iterator[Page]:
    with open_page(fleet.html.as_uri()) as opened:
        yield opened


def _hosts(page: Page) -> list[str]:
    return list(page.evaluate("[...document.querySelectorAll('#servers tbody th')]"
                              ".map(e => e.textContent)"))  # fmt: skip


def test_page_loads_offline_without_errors(fleet: Fleet, page: Page) -> None:
    assert page.errors() == []
    assert page.requests() == [fleet.html.as_uri()]  # the page itself, nothing else
    rows = page.evaluate("[...document.querySelectorAll('svg g.tl-row')].map(g => g.dataset.host)")
    assert sorted(rows) == sorted([fleet.failing, fleet.good, fleet.hung])
    hung = f"svg g.tl-row[data-host='{fleet.hung}'] rect.bar-hung"
    assert page.evaluate(f"document.querySelectorAll({json.dumps(hung)}).length") == 1


def test_table_sorts_and_filters_when_used(fleet: Fleet, page: Page) -> None:
    page.click("#servers thead th:nth-child(4) button")  # exit code, ascending
    assert _hosts(page) == [fleet.good, fleet.failing, fleet.hung]
    page.click("#servers thead th:nth-child(4) button")  # descending
    assert _hosts(page) == [fleet.hung, fleet.failing, fleet.good]
    page.click("#filter")
    page.type("partial")
    visible = "[...document.querySelectorAll('#servers tbody tr')].filter(r => !r.hidden).length"
    assert page.evaluate(visible) == 1
    assert page.evaluate("document.getElementById('shown').textContent") == "1 of 3 shown"
    clear = "const f = document.getElementById('filter'); f.value = '';"
    page.evaluate(clear + " f.dispatchEvent(new Event('input'))")
    page.click("#servers thead th:nth-child(1) button")  # back to by name for the screenshot
    artefacts = Path(os.environ.get("PATCHPILOT_ARTIFACTS", ARTEFACTS))
    artefacts.mkdir(parents=True, exist_ok=True)
    page.screenshot(artefacts / "report.png")
    assert (artefacts / "report.png").read_bytes().startswith(b"\x89PNG")
    if os.environ.get("PATCHPILOT_UPDATE_DOCS") == "1":
        shutil.copyfile(artefacts / "report.png", DOCS_PNG)


def test_printed_page_shows_every_server(page: Page) -> None:
    """Printed, the filter is gone and the closed servers' detail shows (no click on paper)."""
    details = "[...document.querySelectorAll('details.server dl')].map(d => d.checkVisibility())"
    page.call("Emulation.setEmulatedMedia", media="print")
    try:
        assert page.evaluate(details) == [True, True, True]
        filter_box = "getComputedStyle(document.querySelector('.filter')).display"
        assert page.evaluate(filter_box) == "none"
    finally:
        page.call("Emulation.setEmulatedMedia", media="")
    assert page.evaluate(details).count(False) == 1  # on screen, the succeeded one is closed


def test_junit_validates_and_csv_matches_json(fleet: Fleet) -> None:
    junit = _report(fleet, "junit")
    xmlschema.XMLSchema(SCHEMA).validate(junit)
    assert 'tests="3" failures="2"' in junit
    document = json.loads(_report(fleet, "json"))
    assert document == fleet.result
    rows = list(csv.DictReader(io.StringIO(_report(fleet, "csv"))))
    updates = [u for s in document["servers"] for u in (s["result"] or {}).get("updates", ())]
    assert Counter(r["update_status"] for r in rows if r["update"]) == Counter(
        u["status"] for u in updates
    )
    failed = [r for r in rows if r["update_status"] == "failed"]
    assert [(r["host"], r["update"]) for r in failed] == [(fleet.failing, "lab-fail")]


def test_metrics_textfile(fleet: Fleet) -> None:
    text = fleet.metrics.read_text()
    assert f'patchpilot_last_run_success{{server="{fleet.good}",run_id="nightly"}} 1' in text
    assert f'patchpilot_last_run_exit_code{{server="{fleet.hung}",run_id="nightly"}} 73' in text
    assert [p.name for p in fleet.metrics.parent.iterdir()] == ["patchpilot.prom"]


def test_check_only_fleet_is_a_compliance_view(fleet: Fleet) -> None:
    """The audit before the patching: what each server missed, security first, reboots due."""
    assert fleet.audit["exit_code"] == 20, fleet.output  # updates available
    argv = [PATCHPILOT, "report", "audit", "--state-dir", str(fleet.state)]
    page = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout
    assert "compliance of fleet run audit" in page
    table = page[page.index('id="compliance"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r'<tr><td class="mono">([^<]+)</td>.*?<td>(yes|no)</td>.*?'
                      r'<td class="num">(\d+)</td><td>([^<]*)</td></tr>', table)  # fmt: skip
    missing = {update: (security, int(count), hosts) for update, security, count, hosts in rows}
    assert rows[0][0] == "lab-security" and missing["lab-security"][:2] == ("yes", 3)
    assert missing["lab-fail"] == ("no", 1, fleet.failing)
    assert missing["lab-kernel"][1] == 3
    assert f"1 server with a reboot pending: {fleet.good}" in table


def test_run_writes_its_report_too(lab: Lab, fleet: Fleet) -> None:
    """`patchpilot run --report` on the patched server: a JUnit file of one passing case."""
    junit = fleet.state.parent / "run.xml"
    server = next(s for s in fleet.result["servers"] if s["host"] == fleet.good)
    target = server["result"]["target"]
    argv = [PATCHPILOT, "run", target, "-i", str(fleet.state.parent / "inv.yml"),
            "--known-hosts", str(lab.known_hosts_path), "--state-dir", str(fleet.state),
            "--run-id", "again", "--report", str(junit)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    xmlschema.XMLSchema(SCHEMA).validate(junit.read_text())
    assert 'tests="1" failures="0"' in junit.read_text()
