"""CSV for spreadsheets: one row per server and update (a server without updates: one row).

Cells from targets that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR
first) get a leading apostrophe (OWASP's CSV-injection advice).
"""

from __future__ import annotations

import csv
import io

from patchpilot.connector.reports.model import Report, ServerReport, UpdateRow

__all__ = ["COLUMNS", "render_csv"]

COLUMNS = (
    "run_id", "host", "server_status", "outcome", "exit_code", "rounds", "reboots",
    "duration_seconds", "reboot_pending", "error", "update", "update_status", "version",
    "installed_version", "round", "security", "origin", "message",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _row(report: Report, server: ServerReport, update: UpdateRow | None) -> list[object]:
    duration = server.duration
    cells: list[object] = [
        report.run_id, server.host, server.status, server.outcome,
        "" if server.exit_code is None else server.exit_code, len(server.rounds),
        len(server.reboots), "" if duration is None else duration,
        "yes" if server.is_reboot_pending else "no", server.error,
    ]  # fmt: skip
    if update is None:
        cells += [""] * 8
    else:
        cells += [
            update.id, update.status, update.version, update.installed_version,
            update.round or "", "yes" if update.is_security else "no", update.origin,
            update.message,
        ]  # fmt: skip
    return [_safe(c) for c in cells]


def render_csv(report: Report) -> str:
    """Return the report as CSV text (header row first, RFC 4180 quoting, CRLF lines)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for server in report.servers:
        for update in server.updates or (None,):
            writer.writerow(_row(report, server, update))
    return out.getvalue()
