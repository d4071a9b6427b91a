"""--notify: payloads per service, retries, timeouts and secrecy, against a loopback server
(issue 24, item 2)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from webhook_server import webhook_server

from patchpilot.connector.notify import (
    Summary,
    check_notify_url,
    fleet_summary,
    format_of,
    notify,
    payload,
    run_summary,
    should_notify,
)

RUN = {
    "run_id": "web1-1125",
    "target": "web1",
    "outcome": "success",
    "exit_code": 0,
    "counts": {"installed": 3, "failed": 0, "held": 1, "rounds": 2},
    "reboots": {"count": 1},
}


def _summary(**changes: Any) -> Summary:
    return run_summary({**RUN, **changes}, report="/srv/reports/web1.html")


def test_the_format_comes_from_the_host_or_a_prefix() -> None:
    assert format_of("https://hooks.slack.com/services/T0/B0/x") == "slack"
    assert format_of("https://prod-12.westeurope.logic.azure.com/workflows/1") == "teams"
    assert format_of("https://x.environment.api.powerplatform.com/powerautomate/1") == "teams"
    assert format_of("https://hooks.example.com/patch") == "json"
    assert format_of("slack:https://chat.example.com/hook") == "slack"
    assert format_of("teams:http://127.0.0.1:8/x") == "teams"


def test_a_bad_url_is_refused_without_repeating_it() -> None:
    for bad in ("ftp://files.example.com/token-123", "token-123", "slack:token-123", "https://"):
        with pytest.raises(ValueError) as caught:
            check_notify_url(bad)
        assert "token-123" not in str(caught.value)
    assert check_notify_url(" https://hooks.example.com/a ") == "https://hooks.example.com/a"


def test_payloads_for_json_slack_and_teams() -> None:
    summary = _summary()
    generic = payload("json", summary)
    assert generic["source"] == "patchpilot" and generic["run_id"] == "web1-1125"
    assert generic["servers"] == [
        {"host": "web1", "outcome": "success", "exit_code": 0, "is_failure": False}
    ]
    assert generic["counts"] == {"installed": 3, "failed": 0, "held": 1}
    assert generic["report"] == "/srv/reports/web1.html" and generic["reboots"] == 1
    slack = payload("slack", summary)
    assert slack["text"] == "patchpilot run web1-1125: success (exit 0), 1 server(s), 0 failed"
    text = slack["blocks"][0]["text"]["text"]
    assert "• web1: success (exit 0)" in text and "report: /srv/reports/web1.html" in text
    teams = payload("teams", summary)
    (attachment,) = teams["attachments"]
    assert teams["type"] == "message"
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][1]["facts"] == [{"title": "web1", "value": "success (exit 0)"}]


def test_notify_on_failure_and_change() -> None:
    quiet = _summary(counts={"installed": 0}, reboots={"count": 0})
    assert should_notify("always", quiet)
    assert not should_notify("change", quiet) and not should_notify("failure", quiet)
    assert should_notify("change", _summary()) and not should_notify("failure", _summary())
    failed = _summary(outcome="unreachable", exit_code=69, counts={})
    assert should_notify("failure", failed) and should_notify("change", failed)


def test_a_fleet_summary_counts_its_servers() -> None:
    document = {
        "run_id": "nightly",
        "exit_code": 86,
        "stopped_early": True,
        "servers": [
            {"host": "a", "status": "succeeded", "result": RUN},
            {"host": "b", "status": "failed", "result": {**RUN, "outcome": "partial"}},
            {"host": "c", "status": "not-started", "result": None},
        ],
    }
    summary = fleet_summary(document)
    assert summary.kind == "fleet" and summary.outcome == "failed" and summary.is_failure
    assert [s["outcome"] for s in summary.servers] == ["success", "partial", "not-started"]
    assert summary.counts["installed"] == 6 and summary.reboots == 2


async def test_each_format_is_posted_as_json() -> None:
    with webhook_server() as hooks:
        kinds = ("json", "slack", "teams")
        urls = [f"{kind}:{hooks.base}/{kind}" for kind in kinds]  # any other path answers 204
        warnings = await notify(urls, _summary(), on="always", timeout=10)
        assert warnings == []
        (generic,), (slack,), (teams,) = (hooks.bodies(f"/{kind}") for kind in kinds)
    assert generic == payload("json", _summary())
    assert slack == payload("slack", _summary()) and teams == payload("teams", _summary())
    assert all(r.headers["Content-Type"] == "application/json" for r in hooks.received)


async def test_server_errors_are_retried_and_client_errors_are_not() -> None:
    with webhook_server() as hooks:
        warnings = await notify(
            [f"{hooks.base}/flaky", f"{hooks.base}/bad"], _summary(), on="always", timeout=10
        )
        counts = {p: len(hooks.bodies(p)) for p in ("/flaky", "/bad")}
    assert counts == {"/flaky": 3, "/bad": 1}  # 500, 500, then 204; a 400 is final
    assert warnings == ["--notify #2 (json) failed: HTTP 400"]


async def test_a_failing_service_gets_three_attempts_and_a_warning_without_its_url() -> None:
    with webhook_server() as hooks:
        url = f"{hooks.base}/down"
        warnings = await notify([url], _summary(), on="always", timeout=10)
        assert len(hooks.bodies("/down")) == 3
    assert warnings == ["--notify #1 (json) failed: HTTP 503"]
    assert "/down" not in warnings[0] and "127.0.0.1" not in warnings[0]


async def test_a_slow_service_is_given_up_at_the_timeout() -> None:
    with webhook_server() as hooks:
        started = time.monotonic()
        warnings = await notify(
            [f"{hooks.base}/slow", f"{hooks.base}/ok"], _summary(), on="always", timeout=1.0
        )
        took = time.monotonic() - started
        assert len(hooks.bodies("/ok")) == 1  # the other URL is not held up by the slow one
    assert took < 2.0, took
    assert warnings == ["--notify #1 (json) failed: no answer (TimeoutError)"]


async def test_nothing_is_sent_when_notify_on_holds_it_back() -> None:
    with webhook_server() as hooks:
        warnings = await notify([f"{hooks.base}/ok"], _summary(), on="failure", timeout=5)
        assert warnings == [] and hooks.received == []


async def test_an_unreachable_url_is_a_warning() -> None:
    with webhook_server() as hooks:
        closed = hooks.base
    warnings = await notify([f"{closed}/ok"], _summary(), on="always", timeout=3)
    assert len(warnings) == 1 and warnings[0].startswith("--notify #1 (json) failed: no answer")
