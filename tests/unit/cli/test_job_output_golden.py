"""What a scheduler sees is pinned byte for byte: golden files of `run` and `fleet` output.

The whole command runs (options, renderer, summary, result line) with the scripted round loop
in place of the real one, stdout not a terminal, as under OpCon or in a pipe. The golden files
were captured before the terminal view existed; `PATCHPILOT_UPDATE_GOLDEN=1` rewrites them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from cli_scripted import scripted_run_target

from patchpilot.cli import run as run_cmd
from patchpilot.cli.main import main
from patchpilot.connector.events import Event, JournalRecord
from patchpilot.connector.fleet import job as fleet_job
from patchpilot.connector.options import RunOptions
from patchpilot.connector.target_spec import TargetSpec

GOLDEN = Path(__file__).with_name("golden")
INVENTORY = "[web]\nweb1\nweb2\n[db]\ndb1\n"
_FLEET_TS = re.compile(r'^(\{"ts":)"[^"]*"(,"kind":"fleet\.)', re.MULTILINE)


def _progress(target: str) -> list[Event]:
    """Progress records 4 s apart: the job output keeps one per 10 s per server."""
    return [
        JournalRecord(target=target, ts=f"2026-11-25T02:01:{s:02d}.000Z", round=2,
                      record={"seq": 100 + s, "ts": f"2026-11-25T02:01:{s:02d}.000Z",
                              "level": "info", "event": "progress",
                              "fields": {"packages_done": s, "packages_total": 40}})
        for s in range(0, 40, 4)
    ]  # fmt: skip


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("PATCHPILOT_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def _main(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    return int(caught.value.code or 0)


def _argv(command: str, tmp_path: Path) -> list[str]:
    if command == "run":
        return ["run", "web1"]
    inventory = tmp_path / "inv.ini"
    inventory.write_text(INVENTORY)
    return ["fleet", str(inventory), "--check-only", "--concurrency", "1"]


async def _debian_12(target: TargetSpec, options: RunOptions) -> str:
    """The fleet's group probe, as a Debian 12 server answers it."""
    return "deb/debian-12"


@pytest.mark.parametrize("command", ["run", "fleet"])
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_job_output_is_unchanged(
    command: str,
    log_format: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The golden files were captured before the terminal view and progress existed."""
    module = run_cmd if command == "run" else fleet_job
    monkeypatch.setattr(module, "run_target", scripted_run_target())
    monkeypatch.setattr(fleet_job, "probe_family", _debian_12)
    monkeypatch.delenv("COLUMNS", raising=False)
    argv = [*_argv(command, tmp_path), "--run-id", "r1" if command == "run" else "f1",
            "--state-dir", str(tmp_path / "s"), "--log-format", log_format]  # fmt: skip
    assert _main(argv) == 30
    out = _FLEET_TS.sub(r'\1"TS"\2', capsys.readouterr().out)
    _check(f"{command}.{log_format}.out", out)


def test_job_output_keeps_one_progress_line_per_10_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ten progress records 4 s apart: the job output shows those at 0, 12, 24 and 36 s."""
    monkeypatch.setattr(run_cmd, "run_target", scripted_run_target(_progress))
    assert _main(["run", "web1", "--run-id", "r1", "--state-dir", str(tmp_path / "s")]) == 30
    out = capsys.readouterr().out
    assert out.count(" progress ") == 4
    expected = (GOLDEN / "run.text.out").read_text().splitlines()
    progress = [line for line in out.splitlines() if " progress " in line]
    assert [line for line in out.splitlines() if line not in progress] == expected
    assert progress[1] == (
        "2026-11-25T02:01:12.000Z info    web1 r2 progress packages_done=12 packages_total=40"
    )
