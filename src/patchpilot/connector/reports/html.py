"""The HTML report: one self-contained page (inline CSS, a little inline JS, an SVG timeline).

It opens offline (a mail attachment, a scheduler's output folder): no font, script or image
is fetched, and the page's Content-Security-Policy forbids it anyway. Jinja2 autoescapes
every value, so host names, messages and journal text from targets stay text.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import jinja2
import markupsafe

from patchpilot.connector.reports.model import Report, ServerReport, parse_time
from patchpilot.connector.reports.timeline import layout
from patchpilot.connector.run_status import RunStatus

__all__ = ["render_html"]

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _finalize(value: object) -> object:
    """Drop control characters a target printed: HTML has no place for them."""
    if isinstance(value, markupsafe.Markup) or not isinstance(value, str):
        return value  # the template's own markup (the clock filter), already safe
    return _CONTROL.sub("", value)


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("patchpilot.connector.reports", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    finalize=_finalize,
)


def _clock(text: str) -> markupsafe.Markup:
    """Show a timestamp as its time of day (UTC), the full value in a <time> element."""
    moment = parse_time(text)
    if moment is None:
        return markupsafe.escape(text)
    return markupsafe.Markup('<time datetime="{0}" title="{0}">{1}</time>').format(
        text, moment.strftime("%H:%M:%S")
    )


_ENV.filters["clock"] = _clock


@dataclass(frozen=True)
class Column:
    label: str
    numeric: bool = False


@dataclass(frozen=True)
class Cell:
    value: str  # what the table sorts by
    text: str
    numeric: bool = False
    badge: str = ""
    is_error: bool = False


def _num(value: float | int | None, text: str | None = None) -> Cell:
    if value is None:
        return Cell("", "—", numeric=True)
    return Cell(str(value), text if text is not None else str(value), numeric=True)


def _columns(report: Report) -> list[Column]:
    counts = (
        [Column("Available", True), Column("Security", True), Column("Reboot pending")]
        if report.is_compliance
        else [Column("Installed", True), Column("Failed", True)]
    )
    return [
        Column("Server"),
        Column("Status"),
        Column("Outcome"),
        Column("Exit code", True),
        Column("Rounds", True),
        Column("Reboots", True),
        Column("Duration (s)", True),
        *counts,
        Column("Error"),
    ]


def _cells(report: Report, server: ServerReport) -> list[Cell]:
    duration = server.duration
    if report.is_compliance:
        available = server.count("available")
        security = sum(1 for u in server.updates if u.is_security and u.status == "available")
        pending = "yes" if server.is_reboot_pending else "no"
        counts = [_num(available), _num(security), Cell(pending, pending)]
    else:
        counts = [_num(server.count("installed")), _num(server.count("failed"))]
    return [
        Cell(server.host, server.host),
        Cell(server.status, server.status, badge=server.status),
        Cell(server.outcome, server.outcome or "—"),
        _num(server.exit_code),
        _num(len(server.rounds)),
        _num(len(server.reboots)),
        _num(duration, None if duration is None else f"{duration:.1f}"),
        *counts,
        Cell(server.error, server.error, is_error=bool(server.error)),
    ]


def _cards(report: Report) -> list[dict[str, Any]]:
    status = report.by_status
    wall = report.wall_seconds
    cards = [
        {"label": "Servers", "value": len(report.servers), "tone": ""},
        {"label": "Succeeded", "value": status[RunStatus.SUCCEEDED], "tone": "ok"},
        {
            "label": "Failed",
            "value": status[RunStatus.FAILED],
            "tone": "bad" if status[RunStatus.FAILED] else "",
        },
        {"label": "Not started", "value": status[RunStatus.NOT_STARTED], "tone": "idle"},
    ]
    if status.get(RunStatus.RUNNING):
        cards.append({"label": "Still running", "value": status[RunStatus.RUNNING], "tone": "idle"})
    if report.is_compliance:
        missing = [u for s in report.servers for u in s.updates if u.status == "available"]
        cards += [
            {"label": "Updates missing", "value": len(missing), "tone": ""},
            {"label": "Security", "value": sum(u.is_security for u in missing), "tone": ""},
            {
                "label": "Reboot pending",
                "value": sum(s.is_reboot_pending for s in report.servers),
                "tone": "",
            },
        ]
    else:
        failed = report.count("failed")
        cards += [
            {"label": "Installed", "value": report.count("installed"), "tone": ""},
            {"label": "Updates failed", "value": failed, "tone": "bad" if failed else ""},
            {"label": "Held", "value": report.count("held"), "tone": ""},
            {"label": "Reboots", "value": report.reboots, "tone": ""},
        ]
    cards.append({"label": "Wall time", "value": _duration(wall), "tone": ""})
    return cards


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def _compliance(report: Report) -> list[dict[str, Any]]:
    """Return each missing update with the servers missing it, security first."""
    hosts: dict[tuple[str, str], list[str]] = defaultdict(list)
    facts: dict[tuple[str, str], Any] = {}
    for server in report.servers:
        for update in server.updates:
            if update.status == "available":
                hosts[(update.id, update.version)].append(server.host)
                facts[(update.id, update.version)] = update
    items = [
        {
            "id": key[0],
            "version": key[1],
            "is_security": facts[key].is_security,
            "severity": facts[key].severity,
            "hosts": names,
        }
        for key, names in hosts.items()
    ]
    return sorted(items, key=lambda i: (not i["is_security"], -len(i["hosts"]), i["id"]))


def _reboot_seconds(server: ServerReport, round_no: int) -> str:
    for reboot in server.reboots:
        if reboot.get("round") == round_no:
            return f"{float(reboot.get('seconds') or 0):.1f}"
    return "—"


def _version() -> str:
    try:
        return version("patchpilot")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "?"


def render_html(report: Report, *, generated: str | None = None) -> str:
    """Return the report as one self-contained HTML page."""
    kind = "fleet run" if report.kind == "fleet" else "run"
    title = f"{'compliance of ' if report.is_compliance else ''}{kind} {report.run_id}"
    rows = [
        {"index": index, "status": server.status, "cells": _cells(report, server)}
        for index, server in enumerate(report.servers, start=1)
    ]
    template = _ENV.get_template("report.html.j2")
    return template.render(
        report=report,
        title=title,
        cards=_cards(report),
        columns=_columns(report),
        rows=rows,
        timeline=layout(report),
        compliance=_compliance(report) if report.is_compliance else [],
        reboot_pending=[s.host for s in report.servers if s.is_reboot_pending],
        reboot_seconds=_reboot_seconds,
        version=_version(),
        generated=generated or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
