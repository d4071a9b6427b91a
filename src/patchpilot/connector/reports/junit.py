"""JUnit XML: a fleet run as one test suite, each server a test case (Jenkins, GitLab, Azure).

A failed server is a `<failure>` with its outcome, exit code and error; a server the rollout
never started is `<skipped>`. ElementTree escapes markup; characters XML 1.0 cannot hold at
all (control characters a target may print) are dropped first.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from patchpilot.connector.reports.model import Report, ServerReport
from patchpilot.connector.run_status import RunStatus

__all__ = ["render_junit"]

_SKIPPED = {
    RunStatus.NOT_STARTED: "not started: the rollout stopped early",
    RunStatus.RUNNING: "still running when the report was made",
}
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: object) -> str:
    return _NOT_XML.sub("", str(value))


def _seconds(value: float | None) -> str:
    return f"{value or 0.0:.3f}"


def _case(suite: ET.Element, report: Report, server: ServerReport) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        name=_text(server.host),
        classname=_text(f"patchpilot.{report.kind}.{report.run_id}"),
        time=_seconds(server.duration),
    )
    if server.status in _SKIPPED:
        # Jenkins' schema gives <skipped> no attributes: the reason is its text.
        ET.SubElement(case, "skipped").text = _SKIPPED[server.status]
    elif server.status is RunStatus.FAILED:
        message = f"{server.outcome or 'failed'} (exit code {server.exit_code})"
        if server.error:
            message += f": {server.error}"
        failure = ET.SubElement(
            case, "failure", message=_text(message), type=_text(server.outcome or "failed")
        )
        failure.text = _text("\n".join([*server.errors, *_update_lines(server, failed=True)]))
    lines = _update_lines(server, failed=False) + [f"warning: {w}" for w in server.warnings]
    if lines:
        ET.SubElement(case, "system-out").text = _text("\n".join(lines))


def _update_lines(server: ServerReport, *, failed: bool) -> list[str]:
    chosen = [u for u in server.updates if (u.status == "failed") == failed]
    return [
        f"{u.id} {u.version} {u.status}" + (f": {u.message}" if u.message else "") for u in chosen
    ]


def render_junit(report: Report) -> str:
    """Return the report as JUnit XML (one <testsuite> in <testsuites>)."""
    status = report.by_status
    attributes = {
        "tests": str(len(report.servers)),
        "failures": str(status[RunStatus.FAILED]),
        "errors": "0",
        "skipped": str(status[RunStatus.NOT_STARTED] + status.get(RunStatus.RUNNING, 0)),
        "time": _seconds(report.wall_seconds),
    }
    name = _text(f"patchpilot {report.kind} {report.run_id} ({report.mode or 'unknown'})")
    totals = {k: v for k, v in attributes.items() if k != "skipped"}
    root = ET.Element("testsuites", {"name": name, **totals})
    suite = ET.SubElement(root, "testsuite", {"name": name, **attributes})
    if report.started:
        suite.set("timestamp", report.started.replace("Z", "").split("+")[0][:19])
    properties = ET.SubElement(suite, "properties")
    for key, value in (
        ("run_id", report.run_id),
        ("mode", report.mode),
        ("exit_code", report.exit_code),
        ("stopped_early", report.stopped_early),
    ):
        ET.SubElement(properties, "property", name=key, value=_text(value))
    for server in report.servers:
        _case(suite, report, server)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
