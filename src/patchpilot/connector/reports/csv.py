"""CSV for spreadsheets: one row per server and update (a server without updates: one row).

Every text cell is quoted, so a locale whose separator is `;` (or a decimal comma) never
splits one. A text cell that a spreadsheet could run as a formula gets a leading apostrophe
(OWASP's CSV-injection advice): one that starts with `=`, `+`, `-`, `@`, tab, CR or LF, or
their full-width forms (which East Asian input methods type and some spreadsheets take as
the ASCII ones), also after leading spaces or quotes. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import re

from patchpilot.connector.reports.model import Report, ServerReport, UpdateRow

__all__ = ["COLUMNS", "render_csv"]

COLUMNS = (
    "run_id", "host", "server_status", "outcome", "exit_code", "rounds", "reboots",
    "duration_seconds", "reboot_pending", "error", "update", "update_status", "version",
    "installed_version", "round", "security", "origin", "message",
)  # fmt: skip
# a formula start, after whatever a spreadsheet may drop first (spaces of any kind, quotes)
_FORMULA = re.compile("[\\s\"']*[=+\\-@\uff1d\uff0b\uff0d\uff20]|[\t\r\n]")


def _safe(value: object) -> object:
    """Return a text cell a spreadsheet shows as text (numbers as they are)."""
    if not isinstance(value, str):
        return value
    return "'" + value if _FORMULA.match(value) else value


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
    """Return the report as CSV text (header row first, RFC 4180 quoting of every text cell,
    CRLF lines)."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(COLUMNS)
    for server in report.servers:
        for update in server.updates or (None,):
            writer.writerow(_row(report, server, update))
    return out.getvalue()
