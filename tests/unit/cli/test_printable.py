"""Text from a target never reaches a terminal or log raw: every control character is escaped
(security review, item 5) in job output, `patchpilot status`, the fleet view, error lines and
connector.log."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from rich.console import Console

from patchpilot.cli.fleet_view import FleetView
from patchpilot.cli.logfile import setup_connector_log
from patchpilot.cli.main import main
from patchpilot.cli.render import EventRenderer
from patchpilot.cli.run import status_lines
from patchpilot.cli.terminal import RecapRow, TerminalView, recap
from patchpilot.connector import format_line, printable
from patchpilot.connector.events import JournalRecord, RunFinished, RunStarted, WarningRaised
from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.run_result import RunResult
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RunRow, Store, open_store
from patchpilot.errors import ClientFailedError

HOSTILE = "ok\x1b]0;owned\x07\x1b[2J\rfake line\u2028next\u202eevil\x00\x7f\x9b\ud800\tend\n"


def is_clean(text: str) -> bool:
    """True when text has no character a terminal or log reader would act on (lines aside)."""
    return all(c.isprintable() or c in " \n" for c in text)


def record(seq: int = 1) -> dict[str, object]:
    return {
        "seq": seq,
        "ts": "2026-11-25T02:00:00Z" + HOSTILE,
        "level": "info" + HOSTILE,
        "event": "apt.output" + HOSTILE,
        "fields": {"line": HOSTILE, "updates": [{"id": "lab-a" + HOSTILE}], HOSTILE: 1},
    }


def result() -> RunResult:
    return RunResult(
        run_id="r1",
        target="web1",
        mode="install",
        status="failed",
        outcome=Outcome.CLIENT_FAILED,
        exit_code=77,
        exit_code_scheme="native",
        started="t0",
        finished="t1",
        errors=("dpkg said: " + HOSTILE,),
        updates=({"id": "lab-a" + HOSTILE, "status": "failed", "version": "1" + HOSTILE},),
    )


def test_printable_escapes_every_control_character_and_is_idempotent() -> None:
    escaped = printable(HOSTILE)
    assert is_clean(escaped) and "\n" not in escaped
    assert "\\x1b]0;owned\\x07" in escaped and "\\r" in escaped and "\\u2028" in escaped
    assert "\\u202e" in escaped and "\\ud800" in escaped and "\\x9b" in escaped
    assert printable(escaped) == escaped
    assert printable("web1 lab-a 2.0-1 é ü 中") == "web1 lab-a 2.0-1 é ü 中"


def test_a_journal_line_is_clean() -> None:
    line = format_line("ts" + HOSTILE, "info", "web1", 1, "x" + HOSTILE, {"f": HOSTILE})
    assert is_clean(line) and "\n" not in line


def test_job_output_is_clean() -> None:
    out = io.StringIO()
    render = EventRenderer(out)
    render(RunStarted(target="web1", run_id="r1", mode="install", is_resumed=False, summary={}))
    render(JournalRecord(target="web1", round=1, record=record()))
    render(WarningRaised(target="web1", round=1, message=HOSTILE))
    render(RunFinished(target="web1", result=result()))
    lines = [*out.getvalue().splitlines(), *render.summary(result())]
    assert len(lines) == 5 and all(is_clean(line) for line in lines)


def test_status_is_clean(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.create_run(
        RunRow("r1", "web1", "install", "{}", Secret("s" * 64), "running", None, "t0", None, None)
    )
    store.add_record("r1", 1, record())
    lines = status_lines(store, "r1")
    store.close()
    assert len(lines) == 2 and all(is_clean(line) and "\n" not in line for line in lines)


def test_fleet_view_is_clean() -> None:
    out = io.StringIO()
    view = FleetView(Console(file=out, width=300), ["w1"])
    view.on_server(JournalRecord(target="w1", round=1, record=record()))
    view.on_server(WarningRaised(target="w1", round=1, message=HOSTILE))
    view.on_server(RunFinished(target="w1", result=result()))
    assert is_clean(out.getvalue())


@pytest.mark.parametrize("verbose", [False, True])
def test_the_terminal_view_is_clean(verbose: bool) -> None:
    out = io.StringIO()
    line = (
        (lambda event: format_line("t", "info", event.target, 1, "x" + HOSTILE, {}))
        if verbose
        else None
    )
    with TerminalView(Console(file=out, width=300), ["w1"], verbose_line=line) as view:
        view.on_server(JournalRecord(target="w1", round=1, record=record()))
        view.on_server(WarningRaised(target="w1", round=1, message=HOSTILE))
        view.on_server(RunFinished(target="w1", result=result()))
    Console(file=out, width=300).print(recap([RecapRow("w1" + HOSTILE, HOSTILE, {})]))
    assert is_clean(out.getvalue())


def test_an_error_line_is_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(store: Store, run_id: str | None) -> list[str]:
        raise ClientFailedError("the client said: " + HOSTILE)

    monkeypatch.setattr("patchpilot.cli.run.status_lines", refuse)
    with pytest.raises(SystemExit) as exited:
        main(["status", "r1", "--state-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert (
        exited.value.code == 77
        and "patchpilot: error: the client said: ok" in err
        and is_clean(err)
        and err.count("\n") == 1
    )


def test_connector_log_is_clean(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    setup_connector_log(store)
    logger = logging.getLogger("patchpilot.test")
    logger.warning("client said %s", HOSTILE)
    for handler in logging.getLogger("patchpilot").handlers:
        handler.flush()
    text = (tmp_path / "connector.log").read_text(errors="strict")
    store.close()
    lines = text.splitlines()
    assert len(lines) == 2 and lines[1].startswith("    ") and is_clean(text)
