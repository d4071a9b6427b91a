"""How long each report format takes, and how big it is, for a large fleet (no lab needed).

Builds a synthetic fleet run of N servers (each: 2 rounds, one reboot, U updates, a few
journal warnings), renders every format five times and prints the median time and size.
`--html FILE` keeps the HTML page, e.g. to time it in a browser.

    .venv/bin/python bench/report_render.py --servers 500 --updates 10
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from patchpilot.connector.reports import FORMATS, Report, build_report, render, render_metrics
from patchpilot.connector.reports.model import ServerInput
from patchpilot.connector.store import RoundRow

_T = "2026-11-30T02:{:02d}:{:02d}Z"


def _server(index: int, updates: int) -> ServerInput:
    run_id = f"big.s{index:04d}"
    result: dict[str, Any] = {
        "run_id": run_id, "mode": "install", "outcome": "success", "exit_code": 0,
        "started": _T.format(0, 0), "finished": _T.format(1, 40),
        "updates": [{"id": f"pkg-{u}", "status": "installed", "version": "2.0", "round": 1}
                    for u in range(updates)],
        "reboots": {"count": 1, "items": [{"round": 1, "boot_id_before": "a",
                                           "boot_id_after": "b", "seconds": 30.0}]},
    }  # fmt: skip
    rounds = [
        RoundRow(run_id, 1, "done", "systemd-run", "u", "a", "b", _T.format(0, 2),
                 _T.format(1, 5), _T.format(0, 30), _T.format(1, 0)),
        RoundRow(run_id, 2, "done", "systemd-run", "u", "b", None, _T.format(1, 6),
                 _T.format(1, 38)),
    ]  # fmt: skip
    records = [{"ts": _T.format(0, 20), "level": "warning", "event": "apt.install", "round": 1,
                "fields": {"detail": "x" * 200}}] * 3  # fmt: skip
    entry = {"host": f"s{index:04d}", "status": "succeeded", "exit_code": 0, "result": result}
    return ServerInput(entry, rounds, records)


def build(servers: int, updates: int) -> Report:
    inputs = [_server(i, updates) for i in range(servers)]
    document = {"run_id": "big", "exit_code": 0, "servers": [s.entry for s in inputs]}
    return build_report("big", "fleet", document, inputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=500)
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--html", type=Path)
    args = parser.parse_args()
    report = build(args.servers, args.updates)
    renderers = {**{f: lambda r, f=f: render(r, f) for f in FORMATS}, "metrics": render_metrics}
    print(f"{args.servers} servers x {args.updates} updates")
    for name, renderer in renderers.items():
        times = []
        for _ in range(5):
            start = time.perf_counter()
            text = renderer(report)
            times.append(time.perf_counter() - start)
        print(f"{name:8} {statistics.median(times) * 1000:8.1f} ms {len(text) / 1024:8.0f} KiB")
    if args.html:
        args.html.write_text(render(report, "html"))


if __name__ == "__main__":
    main()
