"""`--report` and `--metrics-file` never cost a run its result: the result file and the result
line come first, and a report that cannot be built is a warning (issue 21, finding 3: a
target's data crashed report building, and the fleet ended 70 with no result at all)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_scripted import scripted_run_target

from patchpilot.cli import run as run_cmd
from patchpilot.cli.main import main
from patchpilot.connector import job as job_entry
from patchpilot.connector.events import EventSink
from patchpilot.connector.fleet import job as fleet_job
from patchpilot.connector.options import RunOptions
from patchpilot.connector.reports import Report
from patchpilot.connector.run_result import RunResult
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RunRow, Store
from patchpilot.connector.target_spec import TargetSpec

INVENTORY = "web1 ansible_host=10.0.0.1\n"


async def stored_run_target(
    target: TargetSpec, options: RunOptions, *, store: Store, on_event: EventSink
) -> RunResult:
    """The scripted run, stored as run_target stores it (so its report finds it)."""
    result = await scripted_run_target()(target, options, store=store, on_event=on_event)
    store.create_run(RunRow(result.run_id, target.name, "install", "{}", Secret("s" * 64),
                            "running", None, result.started, None, None))  # fmt: skip
    store.finish_run(result.run_id, result.to_dict())
    return result


def _broken(report: Report, fmt: str) -> str:
    raise TypeError("'int' object is not iterable")  # what a target's `categories: 5` did


@pytest.mark.parametrize("command", ["run", "fleet"])
def test_a_report_that_cannot_be_built_is_a_warning(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    if command == "run":
        monkeypatch.setattr(run_cmd, "run_target", stored_run_target)
    else:
        monkeypatch.setattr(fleet_job, "run_target", scripted_run_target())
    monkeypatch.setattr(job_entry, "render", _broken)
    inventory = tmp_path / "inv.ini"
    inventory.write_text(INVENTORY)
    where = ["web1"] if command == "run" else [str(inventory), "--check-only"]
    result_file = tmp_path / "result.json"
    with pytest.raises(SystemExit) as done:
        main([command, *where, "--run-id", "r1", "--state-dir", str(tmp_path / "s"),
              "--log-format", "json", "--report", str(tmp_path / "r.html"), "--metrics-file",
              str(tmp_path / "m.prom"), "--result-file", str(result_file)])  # fmt: skip
    out, err = capsys.readouterr()
    assert done.value.code == 30, err  # the scripted server's partial run
    assert json.loads(result_file.read_text())["exit_code"] == 30
    assert json.loads(out.splitlines()[-1]) == json.loads(result_file.read_text())
    assert "patchpilot: warning: the report r.html could not be made" in err
    assert (tmp_path / "m.prom").read_text().startswith("# HELP")
