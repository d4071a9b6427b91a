"""--notify at the end of a real `patchpilot run` on a lab server (issue 24, item 2).

The webhooks are a loopback HTTP server on the connector's host (tests/unit/connector/
webhook_server.py): one JSON receiver, one Slack-format receiver, one that always fails. The
URLs carry a token, as real webhook URLs do; it must not appear in anything the run prints or
writes beside its state store.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from connector_lab import run
from webhook_server import webhook_server

from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

pytestmark = pytest.mark.lab

TOKEN = "T0KEN-b7c1e0d2"


def test_a_run_notifies_each_webhook_once_and_never_shows_their_urls(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    with webhook_server() as hooks:
        urls = [
            f"{hooks.base}/json/{TOKEN}",
            f"slack:{hooks.base}/slack/{TOKEN}",
            f"{hooks.base}/down",
        ]
        notify = [part for url in urls for part in ("--notify", url)]
        done = run(
            lab, lab_server, tmp_path, "--run-id", "notified", "--include", "lab-base-a",
            "--reboot", "never", "--notify-on", "change", "--notify-timeout", "20",
            "--result-file", str(tmp_path / "result.json"), *notify,
        )  # fmt: skip
        received = list(hooks.received)
    assert done.exit_status == 0, done.stderr  # a failing webhook never changes the exit code
    by_path = {r.path: r.body for r in received}
    generic = by_path[f"/json/{TOKEN}"]
    assert (generic["kind"], generic["run_id"], generic["outcome"]) == (
        "run",
        "notified",
        "success",
    )
    assert generic["servers"] == [
        {"host": lab_server.name, "outcome": "success", "exit_code": 0, "is_failure": False}
    ]
    assert generic["counts"]["installed"] == 1
    assert by_path[f"/slack/{TOKEN}"]["text"].startswith("patchpilot run notified: success")
    assert sum(1 for r in received if r.path == "/down") == 3  # retried, then given up
    assert "--notify #3 (json) failed: HTTP 503" in done.stderr
    written = [done.stdout, done.stderr, (tmp_path / "result.json").read_text()]
    written += [p.read_text(errors="replace") for p in tmp_path.rglob("*.log")]
    assert all(TOKEN not in text and "/down" not in text for text in written)


def test_notify_on_failure_stays_quiet_after_a_check_that_succeeds(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    with webhook_server() as hooks:
        done = run(
            lab, lab_server, tmp_path, "--check-only", "--notify", f"{hooks.base}/ok",
            "--notify-on", "failure",
        )  # fmt: skip
        assert done.exit_status == 20, done.stderr
        assert hooks.received == []
