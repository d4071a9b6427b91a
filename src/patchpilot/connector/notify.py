"""Notifications at the end of a run or fleet: a summary POSTed to webhooks (--notify URL).

Three formats, chosen by the URL's host or a prefix (`slack:`, `teams:`, `json:`): Slack
incoming webhooks (`text` and one mrkdwn section), Microsoft Teams Workflows (a message with
one Adaptive Card: the "Post to a channel when a webhook request is received" flow; Teams'
Office 365 connectors are retired), and generic JSON (the summary itself). `--notify-on`
picks when: always, on failure, or on change (updates applied or failed, or a reboot).

A webhook URL is a secret (it alone authorizes the post): it never appears in a message,
an event, a log line or a result; a failing notification is named by its position and format
(`--notify #2 (slack)`). A notification never changes the exit code and never waits past
`--notify-timeout` seconds in all: each URL gets up to three attempts, retried after a
connection error, a timeout, 429 or 5xx, with a growing pause (0.5 s, then 1 s), all within
that deadline. HTTP runs in a worker thread (urllib), so a slow endpoint holds no event loop.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "NOTIFY_ON",
    "Summary",
    "check_notify_url",
    "fleet_summary",
    "format_of",
    "notify",
    "payload",
    "run_summary",
    "should_notify",
]

Format = Literal["json", "slack", "teams"]
NOTIFY_ON = ("always", "failure", "change")
_PREFIXES: tuple[Format, ...] = ("json", "slack", "teams")
_TEAMS_HOSTS = (".logic.azure.com", ".powerautomate.com", ".powerplatform.com")
_ATTEMPTS = 3
_PAUSES = (0.5, 1.0)  # before the second and the third attempt
_USER_AGENT = "patchpilot-notify/1"
_SUCCESS_OUTCOMES = ("success", "success-reboot-pending", "updates-available")


@dataclass(frozen=True)
class Summary:
    """What a notification says: a run (one server) or a fleet, as the result documents say."""

    kind: Literal["run", "fleet"]
    run_id: str
    exit_code: int
    outcome: str  # the run's outcome; a fleet's: "success" or "failed"
    servers: tuple[Mapping[str, Any], ...]  # host, outcome, exit_code, is_failure
    counts: Mapping[str, int]  # installed, failed, held, ... summed over the servers
    reboots: int
    report: str | None = None  # where the report file was written

    @property
    def is_failure(self) -> bool:
        return any(bool(s.get("is_failure")) for s in self.servers)

    @property
    def is_change(self) -> bool:
        applied = sum(int(self.counts.get(k, 0)) for k in ("installed", "downloaded", "failed"))
        return bool(applied or self.reboots)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": "patchpilot",
            "kind": self.kind,
            "run_id": self.run_id,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "is_failure": self.is_failure,
            "servers": [dict(s) for s in self.servers],
            "counts": dict(self.counts),
            "reboots": self.reboots,
            "report": self.report,
        }

    @property
    def headline(self) -> str:
        what = f"fleet {self.run_id}" if self.kind == "fleet" else f"run {self.run_id}"
        failed = sum(1 for s in self.servers if s.get("is_failure"))
        return (
            f"patchpilot {what}: {self.outcome} (exit {self.exit_code}), "
            f"{len(self.servers)} server(s), {failed} failed"
        )


def run_summary(document: Mapping[str, Any], *, report: str | None = None) -> Summary:
    """Return the summary of one run's result document."""
    server = _server(str(document.get("target", "?")), document)
    return Summary(
        "run",
        str(document.get("run_id", "")),
        int(document.get("exit_code", 70)),
        str(server["outcome"]),
        (server,),
        {k: int(v) for k, v in (document.get("counts") or {}).items() if k != "rounds"},
        _reboots(document),
        report,
    )


def fleet_summary(document: Mapping[str, Any], *, report: str | None = None) -> Summary:
    """Return the summary of a fleet's result document (`run_id` beside its fields)."""
    servers = []
    counts: dict[str, int] = {}
    reboots = 0
    for entry in document.get("servers") or ():
        result = entry.get("result") or {}
        server = _server(str(entry.get("host", "?")), result)
        if entry.get("status") == "not-started":
            server = {**server, "outcome": "not-started", "is_failure": False}
        servers.append(server)
        for key, value in (result.get("counts") or {}).items():
            if key != "rounds":
                counts[key] = counts.get(key, 0) + int(value)
        reboots += _reboots(result)
    failed = any(s["is_failure"] for s in servers) or bool(document.get("stopped_early"))
    return Summary(
        "fleet",
        str(document.get("run_id", "")),
        int(document.get("exit_code", 70)),
        "failed" if failed else "success",
        tuple(servers),
        counts,
        reboots,
        report,
    )


def _server(host: str, result: Mapping[str, Any]) -> dict[str, Any]:
    outcome = str(result.get("outcome") or "failed")
    code = result.get("exit_code")
    return {
        "host": host,
        "outcome": outcome,
        "exit_code": code if isinstance(code, int) else None,
        "is_failure": outcome not in _SUCCESS_OUTCOMES,
    }


def _reboots(result: Mapping[str, Any]) -> int:
    reboots = result.get("reboots") or {}
    return int(reboots.get("count", 0)) if isinstance(reboots, Mapping) else 0


def check_notify_url(value: str) -> str:
    """Return value stripped if it is a webhook this module can post to; else raise
    ValueError with a message that never repeats the URL (it is a secret)."""
    value = value.strip()
    url = _bare(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "a --notify value must be an http(s) URL, optionally prefixed slack:, teams: or "
            "json: (the value is not repeated here: a webhook URL is a secret)"
        )
    return value


def format_of(value: str) -> Format:
    """Return the payload format for a --notify value: its prefix, else its host's service."""
    head, _, rest = value.partition(":")
    if head in _PREFIXES and rest.startswith(("http://", "https://")):
        return head
    host = (urlsplit(value).hostname or "").lower()
    if host == "hooks.slack.com":
        return "slack"
    if host.endswith(_TEAMS_HOSTS):
        return "teams"
    return "json"


def should_notify(on: str, summary: Summary) -> bool:
    """Say whether --notify-on lets this summary go out."""
    if on == "failure":
        return summary.is_failure
    if on == "change":
        return summary.is_change or summary.is_failure
    return True


def payload(form: Format, summary: Summary) -> dict[str, Any]:
    """Return the JSON body the service behind a URL of this format expects."""
    if form == "slack":
        lines = [f"*{summary.headline}*", *_server_lines(summary)]
        return {
            "text": summary.headline,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}],
        }
    if form == "teams":
        facts = [{"title": str(s.get("host")), "value": _server_value(s)} for s in summary.servers]
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": summary.headline, "weight": "Bolder", "wrap": True},
                {"type": "FactSet", "facts": facts[:50]},
            ],
        }
        attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        return {"type": "message", "attachments": [attachment]}
    return summary.to_dict()


async def notify(urls: Sequence[str], summary: Summary, *, on: str, timeout: float) -> list[str]:
    """POST the summary to every URL (concurrently) unless --notify-on holds it back; return
    a warning per URL that failed, naming it by position, never by its text."""
    if not urls or not should_notify(on, summary):
        return []
    deadline = time.monotonic() + timeout
    sends = [_send(i, url, summary, deadline) for i, url in enumerate(urls, 1)]
    return [w for w in await asyncio.gather(*sends) if w]


async def _send(index: int, value: str, summary: Summary, deadline: float) -> str:
    form = format_of(value)
    body = json.dumps(payload(form, summary)).encode()
    name = f"--notify #{index} ({form})"
    why = "no attempt"
    for attempt in range(_ATTEMPTS):
        left = deadline - time.monotonic()
        if left <= 0.05:
            break
        why, is_retried = await asyncio.to_thread(_post, _bare(value), body, left)
        if not why:
            return ""
        if not is_retried or attempt == _ATTEMPTS - 1:
            break
        await asyncio.sleep(min(_PAUSES[attempt], max(0.0, deadline - time.monotonic())))
    return f"{name} failed: {why}"


def _post(url: str, body: bytes, timeout: float) -> tuple[str, bool]:
    """POST body; return ("", False) on a 2xx answer, else (why, whether to retry)."""
    request = urllib.request.Request(  # noqa: S310 - checked to be http(s) by check_notify_url
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": _USER_AGENT},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            answer.read(65536)
            return "", False
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}", exc.code == 429 or exc.code >= 500
    except (urllib.error.URLError, OSError) as exc:  # refused, unreachable, timed out
        reason = getattr(exc, "reason", exc)
        return f"no answer ({type(reason).__name__})", True


def _bare(value: str) -> str:
    """Return the URL without its format prefix."""
    head, _, rest = value.partition(":")
    return rest if head in _PREFIXES and rest.startswith(("http://", "https://")) else value


def _server_value(server: Mapping[str, Any]) -> str:
    return f"{server.get('outcome')} (exit {server.get('exit_code')})"


def _server_lines(summary: Summary) -> list[str]:
    lines = [f"• {s.get('host')}: {_server_value(s)}" for s in summary.servers[:50]]
    if len(summary.servers) > 50:
        lines.append(f"… and {len(summary.servers) - 50} more")
    counts = ", ".join(f"{k}={v}" for k, v in summary.counts.items() if v)
    if counts:
        lines.append(counts)
    if summary.report:
        lines.append(f"report: {summary.report}")
    return lines
