"""The `run` command line: option mapping, usage errors, rendering within the output budget."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from patchpilot.cli.main import main
from patchpilot.cli.options import build_options
from patchpilot.cli.render import EventRenderer
from patchpilot.cli.run import cancel_run, status_lines
from patchpilot.connector import format_line
from patchpilot.connector.events import JournalRecord, RunFinished, RunStarted, WarningRaised
from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.run_result import RunResult
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RunRow, open_store
from patchpilot.errors import ConfigurationError

DEFAULTS = {
    "check_only": False,
    "include": None,
    "include_file": None,
    "exclude": None,
    "exclude_file": None,
    "security_only": False,
    "download_only": False,
    "reboot": "if-required",
    "reboot_timeout": 600,
    "max_rounds": 5,
    "client_path": None,
    "launcher": "auto",
    "start_delay": 0,
    "run_id": None,
    "exit_codes": "native",
    "timeout": None,
    "ssh_config": None,
    "known_hosts": None,
    "identity_file": None,
    "readiness_timeout": 300,
    "stability_window": 5,
}


def test_options_merge_inline_and_file_lists(tmp_path: Path) -> None:
    (tmp_path / "inc").write_text("openssl*\n# c\n")
    options = build_options(
        {**DEFAULTS, "include": ["lab-a,lab-b", "lab-c"], "include_file": tmp_path / "inc"}
    )
    assert options.include == ("lab-a", "lab-b", "lab-c", "openssl*")
    with pytest.raises(ConfigurationError, match="--max-rounds"):
        build_options({**DEFAULTS, "max_rounds": 0})


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["run"], 64),
        (["run", "x", "--reboot", "sometimes"], 64),
        (["run", "x", "--bogus"], 64),
        (["run", "bad host!"], 64),
        (["run", "bad host!", "--exit-codes", "wsus"], 255),
        (["result", "nope", "--state-dir"], 64),
        (["check", "x", "--download-only"], 64),  # check-only is forced on: they exclude
        (["check", "x", "--check-only"], 64),  # no such option: it is what check is
    ],
)
def test_usage_errors_exit_with_the_usage_code(argv: list[str], code: int) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == code


def test_format_line() -> None:
    line = format_line(
        "2026-11-25T02:00:03.120Z",
        "info",
        "web1",
        2,
        "update.result",
        {
            "id": "lab-a",
            "status": "installed",
            "message": "",
            "updates": [{"id": "a"}, {"id": "b"}],
        },
    )
    assert line == (
        "2026-11-25T02:00:03.120Z info    web1 r2 update.result id=lab-a "
        "status=installed updates=2[a,b]"
    )


def _result() -> RunResult:
    return RunResult(
        run_id="r1",
        target="web1",
        mode="install",
        status="success",
        outcome=Outcome.SUCCESS,
        exit_code=0,
        exit_code_scheme="native",
        started="t0",
        finished="t1",
    )


def test_output_stays_within_budget_keeping_start_end_and_warnings() -> None:
    out = io.StringIO()
    render = EventRenderer(out, budget=8 * 1024)
    render(RunStarted(target="web1", run_id="r1", mode="install", is_resumed=False, summary={}))
    for seq in range(1, 3000):
        render(
            JournalRecord(
                target="web1",
                round=1,
                record={
                    "seq": seq,
                    "ts": "t",
                    "level": "info",
                    "event": "apt.progress",
                    "fields": {"line": "x" * 80},
                },
            )
        )
    render(WarningRaised(target="web1", round=1, message="late warning"))
    render(RunFinished(target="web1", result=_result()))
    text = out.getvalue()
    assert len(text) < 12 * 1024
    assert "run.start" in text and "late warning" in text and "run.end" in text
    assert "line(s) left out" in text


def test_json_lines() -> None:
    out = io.StringIO()
    EventRenderer(out, log_format="json")(RunFinished(target="web1", result=_result()))
    assert json.loads(out.getvalue())["summary"]["status"] == "success"


def test_status_and_cancel_of_a_dead_connector(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.create_run(
        RunRow("r1", "web1", "install", "{}", Secret("s" * 64), "running", None, "t0", None, None)
    )
    assert "r1  web1  install  running" in status_lines(store, None)[0]
    assert "recorded as cancelled" in cancel_run(store, "r1", tmp_path / "none.pid")
    assert store.result("r1")["status"] == "cancelled"  # type: ignore[index]
    assert "already finished" in cancel_run(store, "r1", tmp_path / "none.pid")


def test_cancel_signals_a_live_connector(tmp_path: Path) -> None:
    import subprocess

    store = open_store(tmp_path)
    store.create_run(
        RunRow("r2", "web1", "install", "{}", Secret("s" * 64), "running", None, "t0", None, None)
    )
    connector = subprocess.Popen(["sleep", "30"])
    start = Path(f"/proc/{connector.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    (tmp_path / "r2.pid").write_text(f"{connector.pid} {start}")
    assert "sent SIGTERM" in cancel_run(store, "r2", tmp_path / "r2.pid")
    assert connector.wait(timeout=5) == -15


def test_cancel_never_signals_a_recycled_pid(tmp_path: Path) -> None:
    """A SIGKILLed connector leaves its pid file; the pid may now be someone else's."""
    import subprocess

    store = open_store(tmp_path)
    store.create_run(
        RunRow("r3", "web1", "install", "{}", Secret("s" * 64), "running", None, "t0", None, None)
    )
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "r3.pid").write_text(f"{stranger.pid} 1")  # another process's start time
        assert "recorded as cancelled" in cancel_run(store, "r3", tmp_path / "r3.pid")
        assert stranger.poll() is None  # not signalled
        (tmp_path / "r3.pid").write_text(str(stranger.pid))  # an old file: no start time
        store.reopen_run("r3")
        assert "recorded as cancelled" in cancel_run(store, "r3", tmp_path / "r3.pid")
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_the_result_file_is_private(tmp_path: Path) -> None:
    from patchpilot.connector.run_result import write_result

    write_result({"a": 1}, tmp_path / "r.json")
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o600
