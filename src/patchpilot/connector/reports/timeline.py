"""The timeline's geometry: each server a row of bars (rounds, reboot gaps) over its run's span.

Pure arithmetic on the report's timestamps; the HTML template draws the bars as inline SVG.
A reboot that never came back is drawn from its request to the run's end; after a reboot, the
readiness and stability checks are a bar of their own. The thin line under the bars is the
run's whole span (what is not a bar there is the connector connecting, deploying, launching);
a dashed line before it is the server waiting for its batch or a free slot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from patchpilot.connector.reports.model import Report, ServerReport, parse_time

__all__ = ["layout"]

LABEL_WIDTH = 170
PLOT_WIDTH = 720
ROW_HEIGHT = 26
TOP = 24


@dataclass(frozen=True)
class Bar:
    kind: str  # round, reboot, hung (never came back), check (readiness and stability)
    x: float
    width: float
    label: str


@dataclass(frozen=True)
class TimelineRow:
    host: str
    status: str
    y: float
    span_x: float
    span_width: float
    bars: tuple[Bar, ...]
    queued_width: float = 0.0  # from the fleet's first start to this server's


@dataclass(frozen=True)
class Timeline:
    left: int  # x of the time axis' origin
    width: int
    height: int
    rows: tuple[TimelineRow, ...]
    ticks: tuple[tuple[float, str], ...]  # x, label (seconds since the first start)


def layout(report: Report) -> Timeline:
    """Place every server's rounds and reboots on a common time axis."""
    start = parse_time(report.started)
    end = parse_time(report.finished)
    total = (end - start).total_seconds() if start and end else 0.0
    scale = PLOT_WIDTH / total if total > 0 else 0.0

    def x_of(moment: datetime | None) -> float:
        if start is None or moment is None:
            return LABEL_WIDTH
        return round(LABEL_WIDTH + (moment - start).total_seconds() * scale, 1)

    rows = tuple(
        _row(server, TOP + index * ROW_HEIGHT, x_of) for index, server in enumerate(report.servers)
    )
    unit, per = ("min", 60) if total > 600 else ("s", 1)
    digits = 1 if total / per < 20 else 0
    ticks = tuple(
        (round(LABEL_WIDTH + PLOT_WIDTH * i / 4, 1), f"{total * i / 4 / per:.{digits}f} {unit}")
        for i in range(5)
    )
    height = TOP + len(rows) * ROW_HEIGHT + 8
    return Timeline(
        LABEL_WIDTH, LABEL_WIDTH + PLOT_WIDTH + 20, height, rows, ticks if total > 0 else ()
    )


def _row(server: ServerReport, y: float, x_of: Callable[[datetime | None], float]) -> TimelineRow:
    run_end = parse_time(server.finished)
    bars: list[Bar] = []
    for row in server.rounds:
        work_end = row.reboot_requested_at or row.finished or server.finished
        first, last = x_of(parse_time(row.started or "")), x_of(parse_time(work_end))
        if row.started:
            bars.append(Bar("round", first, max(last - first, 2.0), f"round {row.round}"))
        if row.reboot_requested_at:
            back = parse_time(row.back_at or "")
            kind = "reboot" if back else "hung"
            gap_start = x_of(parse_time(row.reboot_requested_at))
            gap_end = x_of(back or run_end)
            label = f"reboot after round {row.round}" + ("" if back else ": never came back")
            bars.append(Bar(kind, gap_start, max(gap_end - gap_start, 2.0), label))
            checked = x_of(parse_time(row.finished or ""))
            if back and row.finished and checked > gap_end:
                label = f"round {row.round}: ready and stable after the reboot"
                bars.append(Bar("check", gap_end, checked - gap_end, label))
    span_x = x_of(parse_time(server.started))
    span_end = x_of(run_end)
    return TimelineRow(
        server.host,
        server.status,
        y,
        span_x,
        max(span_end - span_x, 0.0),
        tuple(bars),
        max(span_x - LABEL_WIDTH, 0.0),
    )
