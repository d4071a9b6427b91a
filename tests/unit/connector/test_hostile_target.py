"""A hostile target fuzzed through every sink (issue 21, "the class").

A target's root controls everything its client journals. Hypothesis makes the records (wrong
types in every field, lone surrogates, NUL and control characters, bidi and line-separator
characters, huge strings, nesting deeper than any parser allows, 200,000 parts, unknown
events, duplicate and out-of-order sequence numbers, final records that contradict earlier
ones); a client endpoint on a real Unix socket serves them over the real authenticated
protocol (hostile_endpoint.py) to `patchpilot run`, in process, with its real round loop and
store (SQLite or PostgreSQL), and every sink is checked:

- the exit code is a documented one, never 70; the result file and the last stdout line are
  always written and agree;
- job output (text and JSON lines), the terminal view (milestones and -v lines, the recap),
  connector.log and the Airflow task-log lines hold no control, bidi or separator character
  from the target; JSON lines are ASCII JSON;
- the HTML, JUnit, CSV and JSON reports and the metrics file are written and valid for their
  format (html.parser, ElementTree, csv, json, prometheus_client's parser), no markup from
  the target survives in the HTML, no cell of the CSV starts a formula;
- each run ends within its time bound, and the process's peak memory stays bounded.

CI runs a fixed budget (PATCHPILOT_FUZZ_EXAMPLES, default 12); bench/hostile_campaign.py runs
the long campaign (docs/security.md records it).
"""

from __future__ import annotations

import csv
import html.parser
import io
import itertools
import json
import logging
import os
import re
import resource
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from connector_fakes import FakeClient
from hostile_endpoint import HostileTarget, PartFlood, Raw
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from patchpilot.cli import run as run_cmd
from patchpilot.cli.main import main
from patchpilot.cli.terminal import RecapRow, TerminalView, recap
from patchpilot.connector import Event, RunOptions, TargetSpec, event_line
from patchpilot.connector.exitcodes import NATIVE, Outcome
from patchpilot.connector.run.runner import run_target
from patchpilot.connector.store import Store
from patchpilot.lab.postgres import PG_PASSWORD, PostgresServer, postgres_missing

EXAMPLES = int(os.environ.get("PATCHPILOT_FUZZ_EXAMPLES", "12"))
DOCUMENTED = set(NATIVE.values()) - {NATIVE[Outcome.INTERNAL]}
RUN_SECONDS = 60.0  # one hostile run, end to end, on a loaded machine
MAX_RSS_MB = 1500

# what the target must never get past a sink: C0/C1 controls but the newline, DEL, bidi
# controls, line and paragraph separators, lone surrogates
_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                     "\u2066-\u2069\u2028\u2029\ud800-\udfff]")  # fmt: skip
MARKUP = '<b id="hostile">'
SPECIALS = [
    "\ud800", "\udfff", "a\ud800b", "\x00", "NUL\x00end", "\x1b[2J\x1b[31mred", "\x1b]8;;http://x\x07",
    "\r", "line\nMarking task as SUCCESS", "\u2028", "\u2029", "\u202eevil", "\u2066", "\x85",
    "\x7f", MARKUP, "<script>alert(1)</script>", "=HYPERLINK(\"http://x\")", "+1", "-1", "@SUM",
    "\uff1d1", "\t=1", "", " ", "x" * 5000, "\u0000\u0001\u0002",
]  # fmt: skip
EVENTS = ["run.started", "scan.done", "plan.selected", "update.result", "round.result",
          "reboot.requested", "apt.output", "progress", "scan.done.part", "round.result.part",
          "plan.selected.part", "log.not_collected", "dpkg.repair"]  # fmt: skip


def _text() -> st.SearchStrategy[str]:
    every_char = st.text(st.characters(exclude_categories=()), max_size=40)
    return st.one_of(every_char, st.sampled_from(SPECIALS))


def _json(depth: int = 2) -> st.SearchStrategy[Any]:
    """Return any JSON value (and NaN, infinities, integers past 64 bits), nested to depth."""
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True), _text(),
    )  # fmt: skip
    if depth == 0:
        return scalars
    inner = _json(depth - 1)
    return st.one_of(
        scalars, st.lists(inner, max_size=3), st.dictionaries(_text(), inner, max_size=3)
    )


def _update() -> st.SearchStrategy[Any]:
    keys = ["id", "status", "version", "candidate_version", "installed_version", "title",
            "categories", "is_security", "round", "message", "code", "severity"]  # fmt: skip
    return st.one_of(_json(), st.dictionaries(st.sampled_from(keys), _json(), max_size=8))


def _services() -> st.SearchStrategy[Any]:
    """round.result's `services` (--reboot services), its lists' entries half well-formed."""
    entry = st.dictionaries(
        st.sampled_from(["unit", "message", "why", "old_pid", "new_pid"]), _json(), max_size=5
    )
    return st.dictionaries(
        st.sampled_from(["restarted", "failed", "kept", "reboot", "stale"]),
        st.one_of(_json(), st.lists(entry, max_size=4)),
        max_size=5,
    )


def _fields() -> st.SearchStrategy[Any]:
    keys = ["status", "action", "updates", "results", "plan", "selected", "skipped",
            "reboot_required", "will_reboot", "reboot_reasons", "exit_status", "message",
            "line", "id", "version", "parts", "stage", "packages_done", "services"]  # fmt: skip
    known = st.dictionaries(
        st.sampled_from(keys),
        st.one_of(_json(), st.lists(_update(), max_size=5),
                  st.dictionaries(_text(), _json(), max_size=5), _services()),
        max_size=8,
    )  # fmt: skip
    return st.one_of(known, _json())


@st.composite
def _record(draw: st.DrawFn, seq: int) -> Any:
    record = {
        "seq": draw(st.one_of(st.just(seq), st.just(seq), st.just(seq), _json())),
        "ts": draw(st.one_of(st.just("2026-12-07T03:00:00.000Z"), _json())),
        "level": draw(st.one_of(st.sampled_from(["info", "warning", "error"]), _json())),
        "event": draw(st.one_of(st.sampled_from(EVENTS), _text(), _json())),
        "fields": draw(_fields()),
    }
    dropped = draw(st.sets(st.sampled_from(list(record)), max_size=2))
    return draw(st.one_of(st.just({k: v for k, v in record.items() if k not in dropped}),
                          st.just(record), st.just(record), _json()))  # fmt: skip


def _final(seq: int) -> st.SearchStrategy[dict[str, Any]]:
    ids = st.sampled_from(["lab-a", "lab-b", "\ud800", MARKUP, "=1+1"])
    result = st.fixed_dictionaries(
        {"id": ids, "status": st.sampled_from(["installed", "failed", "held", "x"]),
         "version": _text()}
    )  # fmt: skip
    return st.fixed_dictionaries({
        "seq": st.just(seq), "ts": _text(), "level": st.just("info"),
        "event": st.just("round.result"),
        "fields": st.fixed_dictionaries({
            "status": st.sampled_from(["success", "partial", "error", "nothing", "\x1b[2J"]),
            "results": st.one_of(st.lists(result, max_size=4), _json()),
            "updates": st.one_of(st.lists(_update(), max_size=4), _json()),
            "will_reboot": _json(), "reboot_required": _json(), "plan": _json(),
        }),
    })  # fmt: skip


@st.composite
def journals(draw: st.DrawFn) -> list[Any]:
    """Return what the hostile endpoint sends: records, raw frames, floods, finals."""
    sent: list[Any] = []
    for seq in range(1, draw(st.integers(min_value=0, max_value=12)) + 1):
        sent.append(draw(_record(seq)))
    if draw(st.integers(0, 9)) == 0:
        sent.append(PartFlood(len(sent) + 1, draw(st.sampled_from([1100, 200_000]))))
    if draw(st.integers(0, 9)) == 0:
        depth = draw(st.sampled_from([2_000, 50_000]))
        nested = "[" * depth + "]" * depth
        sent.append(
            Raw(f'{{"t":"rec","r":{{"seq":{len(sent) + 1},"event":"x","fields":{nested}}}}}')
        )
    if draw(st.integers(0, 9)) == 0:
        huge = "\ud800\x1b" * draw(st.sampled_from([100_000, 200_000]))
        sent.append({"seq": len(sent) + 1, "event": "apt.output", "fields": {"line": huge}})
    if draw(st.booleans()):
        sent.append(draw(_final(len(sent) + 1)))
        for _ in range(draw(st.integers(0, 2))):  # out of order, duplicated, contradicting
            sent.append(draw(st.one_of(_final(draw(st.integers(-1, len(sent) + 2))),
                                       _record(len(sent) + 1))))  # fmt: skip
    return sent


@dataclass
class Harness:
    """What one example needs: where it runs, which store, the events it produced."""

    store_url: str | None
    target: HostileTarget | None = None
    events: list[Event] = field(default_factory=list)


@pytest.fixture(scope="module")
def store_urls(request: pytest.FixtureRequest) -> list[str | None]:
    """SQLite always; PostgreSQL when this machine has it (a database for the module)."""
    if postgres_missing() is not None:
        return [None]
    server: PostgresServer = request.getfixturevalue("postgres")
    return [None, server.create_database("hostile_fuzz")]


_runs = itertools.count(1)


def _harnessed(harness: Harness) -> Callable[..., Any]:
    """Return run_target reaching the hostile target, keeping a copy of every event."""

    async def run(target: TargetSpec, options: RunOptions, *, store: Store,
                  on_event: Callable[[Event], None]) -> Any:  # fmt: skip
        assert harness.target is not None

        def both(event: Event) -> None:
            harness.events.append(event)
            on_event(event)

        with tempfile.TemporaryDirectory(prefix="hostile-client-") as folder:
            try:
                return await run_target(target, options, store=store, on_event=both,
                                        transport=harness.target.transport,
                                        client=FakeClient.make(Path(folder)))  # fmt: skip
            finally:
                await harness.target.close()

    return run


@settings(max_examples=EXAMPLES, deadline=None, print_blob=True, database=None,
          phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking: minutes a case
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(sent=journals(), log_format=st.sampled_from(["text", "json"]), data=st.data())
def test_a_hostile_target_never_gets_past_a_sink(
    sent: list[Any], log_format: str, data: st.DataObject, store_urls: list[str | None],
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    harness = Harness(data.draw(st.sampled_from(store_urls), label="store"))
    monkeypatch.setattr(run_cmd, "run_target", _harnessed(harness))
    monkeypatch.setenv("PGPASSWORD", PG_PASSWORD)
    run_id = f"fz{os.getpid()}-{next(_runs)}"
    with tempfile.TemporaryDirectory(prefix="hostile-") as name:
        folder = Path(name)
        harness.target = HostileTarget(run_id, {}, folder=folder, sent=sent)
        out = folder / "out"
        argv = ["run", "web1", "--run-id", run_id, "--state-dir", str(folder / "state"),
                "--reboot", "never", "--max-rounds", "2", "--stability-window", "0",
                "--reboot-timeout", "5",
                "--log-format", log_format, "--result-file", str(out / "result.json"),
                "--metrics-file", str(out / "patchpilot.prom")]  # fmt: skip
        if harness.store_url is not None:
            argv += ["--state-url", harness.store_url]
        code, took = _run_cli([*argv, "--report", str(out / "report.html")])
        _tally(code, took)
        stdout, _ = capsys.readouterr()
        try:
            _check_run(code, took, stdout, out, log_format)
            _check_reports(folder / "state", harness.store_url, run_id, out, monkeypatch)
            _check_views(harness.events, folder / "state" / "connector.log")
        finally:
            _close_log(folder / "state" / "connector.log")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 < MAX_RSS_MB


def _tally(code: int, took: float) -> None:
    """Note each case's exit code and seconds for bench/hostile_campaign.py, when it asks."""
    tally = os.environ.get("PATCHPILOT_FUZZ_TALLY")
    if tally:
        with open(tally, "a", encoding="utf-8") as handle:
            handle.write(f"{code} {took:.2f}\n")


def _run_cli(argv: list[str]) -> tuple[int, float]:
    started = time.monotonic()
    with pytest.raises(SystemExit) as done:
        main(argv)
    return int(done.value.code or 0), time.monotonic() - started


def _check_run(code: int, took: float, stdout: str, out: Path, log_format: str) -> None:
    assert code in DOCUMENTED, f"exit {code}"
    assert took < RUN_SECONDS, f"{took:.0f} s"
    document = json.loads((out / "result.json").read_text())
    lines = stdout.splitlines()
    assert json.loads(lines[-1]) == document and document["exit_code"] == code
    for line in lines:
        assert not _UNSAFE.search(line), repr(line)
        if log_format == "json":
            assert line.isascii() and isinstance(json.loads(line), dict), line


def _check_reports(
    state: Path, url: str | None, run_id: str, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every report format, made from the store by `patchpilot report`, parses; HTML and CSV
    carry nothing active from the target; the metrics parse with prometheus_client."""
    where = ["--state-dir", str(state), *(["--state-url", url] if url else [])]
    for fmt, name in (("junit", "r.xml"), ("csv", "r.csv"), ("json", "r.json")):
        code, _ = _run_cli(["report", run_id, *where, "--format", fmt, "--out", str(out / name)])
        assert code == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert MARKUP not in page and "<script>alert" not in page
    html.parser.HTMLParser().feed(page)
    ET.fromstring((out / "r.xml").read_bytes())
    json.loads((out / "r.json").read_text())
    for row in csv.reader(io.StringIO((out / "r.csv").read_text(encoding="utf-8"))):
        assert not any(re.match(r"[\s\"']*[=+\-@\uff1d\uff0b\uff0d\uff20]|[\t\r\n]", c)
                       and not re.fullmatch(r"-?\d+(\.\d+)?", c) for c in row), row  # fmt: skip
    families = list(text_string_to_metric_families((out / "patchpilot.prom").read_text()))
    assert any(f.name == "patchpilot_last_run_success" for f in families)


def _check_views(events: list[Event], log: Path) -> None:
    """The terminal view (milestones, then -v lines, then the recap), the Airflow task log and
    connector.log show the target's text inert."""
    for verbose in (None, event_line):
        screen = io.StringIO()
        console = Console(file=screen, force_terminal=False, width=100)
        with TerminalView(console, ["web1"], verbose_line=verbose) as view:
            for event in events:
                view.on_server(event)
        finished = [e for e in events if e.kind == "run.end"]
        body = finished[-1].result.to_dict() if finished else {}
        console.print(recap([RecapRow("web1", str(body.get("status", "")), body)]))
        assert not _UNSAFE.search(screen.getvalue()), screen.getvalue()[:2000]
    for event in events:  # the job output's, -v's and the Airflow task log's line
        assert event_line(event).isprintable(), repr(event_line(event))
    if log.exists():
        assert not _UNSAFE.search(log.read_text(encoding="utf-8"))


def _close_log(path: Path) -> None:
    """Drop the example's connector.log handler (one per state folder, else they pile up)."""
    logger = logging.getLogger("patchpilot")
    for handler in list(logger.handlers):
        if isinstance(handler, logging.FileHandler) and handler.baseFilename == str(path.resolve()):
            logger.removeHandler(handler)
            handler.close()
