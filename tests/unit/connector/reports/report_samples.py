"""A fleet run as the store holds it: one server patched with a reboot, one failed with hostile
text from the target (markup, a spreadsheet formula, a control character), one never started."""

from __future__ import annotations

from typing import Any

from patchpilot.connector.reports.model import Report, ServerInput, build_report
from patchpilot.connector.store import RoundRow

HOSTILE_HOST = '<script>alert("host")</script>'
HOSTILE_MESSAGE = "<img src=x onerror=alert(1)> dpkg said \x07no & quit"
FORMULA = '=HYPERLINK("http://evil")'


def _update(
    uid: str, status: str, version: str, round_no: int, message: str = ""
) -> dict[str, Any]:
    return {
        "id": uid,
        "status": status,
        "version": version,
        "round": round_no,
        "message": message,
        "code": "",
    }


def _result(run_id: str, host: str, outcome: str, code: int, **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "run_id": run_id,
        "target": host,
        "mode": "install",
        "status": outcome,
        "outcome": outcome,
        "exit_code": code,
        "exit_code_scheme": "native",
        "rounds": [],
        "reboots": {"count": 0, "boot_ids": [], "items": []},
        "updates": [],
        "counts": {},
        "warnings": [],
        "errors": [],
        "phase": None,
        **extra,
    }


WEB = _result(
    "f1.web-1",
    "web-1",
    "success",
    0,
    started="2026-11-30T02:00:00Z",
    finished="2026-11-30T02:01:40Z",
    updates=[
        _update("lab-base-a", "installed", "2.0", 1),
        _update("lab-kernel", "installed", "2.0", 1),
        _update("lab-stage2-x", "installed", "2.0", 2),
        _update("lab-held", "held", "3.0", 1),
    ],
    reboots={
        "count": 1,
        "boot_ids": ["b2"],
        "items": [
            {
                "round": 1,
                "boot_id_before": "b1",
                "boot_id_after": "b2",
                "requested_at": "2026-11-30T02:00:30Z",
                "back_at": "2026-11-30T02:01:00Z",
                "seconds": 30.0,
            }
        ],
    },
    warnings=["lab-held is held back on the target"],
)
BAD = _result(
    "f1.bad",
    HOSTILE_HOST,
    "partial-failure",
    30,
    started="2026-11-30T02:00:05Z",
    finished="2026-11-30T02:00:50Z",
    updates=[
        _update("lab-base-a", "installed", "2.0", 1),
        _update("lab-fail", "failed", "2.0", 1, HOSTILE_MESSAGE),
        _update("lab-formula", "failed", "1.1", 1, FORMULA),
    ],
    errors=[f"round 1: {HOSTILE_MESSAGE}"],
)

DOCUMENT: dict[str, Any] = {
    "run_id": "f1",
    "exit_code": 86,
    "stopped_early": True,
    "totals": {"servers": 3, "succeeded": 1, "failed": 1, "not-started": 1},
    "servers": [
        {"host": "web-1", "status": "succeeded", "exit_code": 0, "result": WEB},
        {"host": HOSTILE_HOST, "status": "failed", "exit_code": 30, "result": BAD},
        {"host": "db-3", "status": "not-started", "exit_code": None, "result": None},
    ],
}

WEB_ROUNDS = [
    RoundRow(
        "f1.web-1",
        1,
        "done",
        "systemd-run",
        "u1",
        "b1",
        "b2",
        "2026-11-30T02:00:02Z",
        "2026-11-30T02:01:05Z",
        "2026-11-30T02:00:30Z",
        "2026-11-30T02:01:00Z",
    ),
    RoundRow(
        "f1.web-1",
        2,
        "done",
        "systemd-run",
        "u2",
        "b2",
        None,
        "2026-11-30T02:01:06Z",
        "2026-11-30T02:01:38Z",
    ),
]
BAD_ROUNDS = [
    RoundRow(
        "f1.bad", 1, "done", "at", "7", "c1", None, "2026-11-30T02:00:08Z", "2026-11-30T02:00:48Z"
    ),
]
WEB_RECORDS = [
    {
        "seq": 3,
        "round": 1,
        "ts": "2026-11-30T02:00:10Z",
        "level": "info",
        "event": "scan.done",
        "fields": {
            "updates": [
                {
                    "id": "lab-base-a",
                    "title": "base A",
                    "installed_version": "1.0",
                    "candidate_version": "2.0",
                    "origin": "bookworm",
                    "is_security": False,
                },
                {
                    "id": "lab-kernel",
                    "title": "kernel",
                    "installed_version": "1.0",
                    "candidate_version": "2.0",
                    "origin": "bookworm-security",
                    "is_security": True,
                },
            ]
        },
    },
]
BAD_RECORDS = [
    {
        "seq": 9,
        "round": 1,
        "ts": "2026-11-30T02:00:40Z",
        "level": "warning",
        "event": "update.result",
        "fields": {"id": "lab-fail", "message": HOSTILE_MESSAGE},
    },
]


def fleet_report(document: dict[str, Any] | None = None) -> Report:
    return build_report(
        "f1",
        "fleet",
        document or DOCUMENT,
        [
            ServerInput(DOCUMENT["servers"][0], WEB_ROUNDS, WEB_RECORDS),
            ServerInput(DOCUMENT["servers"][1], BAD_ROUNDS, BAD_RECORDS),
            ServerInput(DOCUMENT["servers"][2]),
        ],
    )


def check_only_report() -> Report:
    """Two servers scanned: one misses a security update and needs a reboot, one is current."""
    available = [
        _update("lab-security", "available", "1.1", 0),
        _update("lab-base-c", "available", "1.1", 0),
    ]
    first = _result(
        "c1.a",
        "a",
        "updates-available",
        20,
        mode="check-only",
        updates=available,
        started="2026-11-30T03:00:00Z",
        finished="2026-11-30T03:00:09Z",
    )
    second = _result(
        "c1.b",
        "b",
        "success",
        0,
        mode="check-only",
        started="2026-11-30T03:00:00Z",
        finished="2026-11-30T03:00:07Z",
    )
    records = [
        {
            "seq": 5,
            "round": 1,
            "level": "info",
            "event": "round.result",
            "fields": {
                "reboot_required": True,
                "will_reboot": False,
                "updates": [
                    {
                        "id": "lab-security",
                        "candidate_version": "1.1",
                        "is_security": True,
                        "origin": "bookworm-security",
                    }
                ],
            },
        }
    ]
    document = {
        "run_id": "c1",
        "exit_code": 20,
        "stopped_early": False,
        "servers": [
            {"host": "a", "status": "succeeded", "exit_code": 20, "result": first},
            {"host": "b", "status": "succeeded", "exit_code": 0, "result": second},
        ],
    }
    return build_report(
        "c1",
        "fleet",
        document,
        [ServerInput(document["servers"][0], [], records), ServerInput(document["servers"][1])],
    )
