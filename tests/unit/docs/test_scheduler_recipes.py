"""The scheduler recipes (examples/schedulers/, shown in docs/schedulers.md) are true: each
parses as its scheduler reads it (YAML, JSON, unit files), each patchpilot command line in it
is one the real command line accepts, each exit code it names exists, and the JUnit file a CI
recipe publishes is the one its command writes. The Rundeck script runs for real against a
stand-in `patchpilot` that exits with each code."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from docs_pages import native_codes
from typer.main import get_command

from patchpilot.cli.main import app

RECIPES = Path(__file__).resolve().parents[3] / "examples" / "schedulers"
# Each scheduler's own tokens, replaced by a value as the scheduler would before running.
TOKENS = {
    "[[SERVER]]": "web1", "[[$SCHEDULE DATE]]": "2026-12-05", "%%ODATE": "261205",
    "$RD_OPTION_SERVER": "web1", "$RD_JOB_EXECID": "42", "$BUILD_TAG": "jenkins-patch-7",
    "$CI_PIPELINE_ID": "99", "$(date +\\%F)": "2026-12-05", "$(date +%%F)": "2026-12-05",
    "$1": "web1",
}  # fmt: skip


def _accepts(command_line: str) -> list[str]:
    """Parse a recipe's patchpilot command line with the real CLI; return its arguments."""
    for token, value in TOKENS.items():
        command_line = command_line.replace(token, value)
    argv = shlex.split(command_line.replace("\\\n", " "))
    start = next(i for i, word in enumerate(argv) if word.endswith("patchpilot"))
    command, *args = argv[start + 1 :]
    click_command = get_command(app).commands[command]  # type: ignore[attr-defined]
    click_command.make_context(command, list(args))  # raises on an unknown option or value
    return args


def _codes(words: list[str]) -> set[int]:
    return {int(w) for w in words}


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_opcon_unix_job() -> None:
    job = yaml.safe_load((RECIPES / "opcon-unix-job.yaml").read_text())
    assert job["job_type"] == "UNIX" and f"[[{job['multi_instance_property']}]]" in job["job_name"]
    args = _accepts(job["command_line"])
    assert args[0] == "web1"  # the Multi-Instance property is the server
    criteria = [*job["finished_ok_when"], *job["events"]]
    assert all(re.fullmatch(r"EQ \d+", c) for c in criteria)
    assert _codes([c.split()[1] for c in criteria]) <= native_codes()


def test_controlm_job_definition() -> None:
    folder = json.loads((RECIPES / "controlm-job.json").read_text())["PatchPilot"]
    assert folder["Type"] == "Folder"
    jobs = [v for v in folder.values() if isinstance(v, dict) and v.get("Type") == "Job:Command"]
    assert jobs
    for job in jobs:
        _accepts(job["Command"])
        ifs = [v for v in job.values() if isinstance(v, dict)
               and v.get("Type") == "If:CompletionStatus"]  # fmt: skip
        assert _codes([i["CompletionStatus"] for i in ifs]) <= native_codes()
        actions = [a["Type"] for i in ifs for a in i.values() if isinstance(a, dict)]
        assert set(actions) <= {"Action:SetToOK", "Action:SetToNotOK", "Action:Rerun", "Mail"}


def _rundeck_script() -> str:
    (job,) = yaml.safe_load((RECIPES / "rundeck-job.yaml").read_text())
    assert {"name", "sequence", "options"} <= job.keys()
    (step,) = job["sequence"]["commands"]
    return str(step["script"])


def test_rundeck_job_command_and_codes() -> None:
    script = _rundeck_script()
    _accepts(_command_in(script))
    handled = re.findall(r"^\s+(\d+)\)", script, re.MULTILINE)
    assert _codes(handled) <= native_codes()


@pytest.mark.parametrize(("code", "status", "says"), [
    (0, 0, ""), (10, 0, "a reboot is pending"), (74, 74, "holds the server's lock"),
    (84, 84, "window ended"), (31, 31, "patchpilot exited 31"),
])  # fmt: skip
def test_rundeck_script_maps_each_exit_code(
    tmp_path: Path, code: int, status: int, says: str
) -> None:
    stand_in = tmp_path / "bin" / "patchpilot"
    stand_in.parent.mkdir()
    stand_in.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/argv\nexit {code}\n')
    stand_in.chmod(0o755)
    script = tmp_path / "step.sh"
    script.write_text(_rundeck_script())
    env = {**os.environ, "PATH": f"{stand_in.parent}:{os.environ['PATH']}",
           "RD_OPTION_SERVER": "web1", "RD_JOB_EXECID": "42"}  # fmt: skip
    done = subprocess.run(["/bin/sh", str(script)], env=env, capture_output=True, text=True,
                          timeout=30, check=False)  # fmt: skip
    assert done.returncode == status and says in done.stdout
    assert (tmp_path / "argv").read_text().split()[:2] == ["run", "web1"]


def _command_in(script: str) -> str:
    """Return the patchpilot command of a shell script, its continued lines joined."""
    lines = script.splitlines()
    first = next(i for i, line in enumerate(lines) if "patchpilot " in line)
    last = next(i for i in range(first, len(lines)) if not lines[i].endswith("\\"))
    return " ".join(line.rstrip("\\") for line in lines[first : last + 1])


def _quoted_block(text: str, start: str) -> str:
    return text.split(start, 1)[1].split("'''", 1)[0]


def test_jenkinsfile_publishes_the_report_its_command_writes() -> None:
    text = (RECIPES / "Jenkinsfile").read_text()
    args = _accepts(_quoted_block(text, "script: '''"))
    report = _option(args, "--report")
    assert report.endswith(".xml")  # --report's JUnit format
    assert f"junit testResults: '{report}'" in text
    assert "always {" in text.split("post {", 1)[1]  # published whatever the exit code
    assert _codes(re.findall(r"code == (\d+)", text)) <= native_codes()


def test_gitlab_ci_reports_junit_and_allows_a_pending_reboot() -> None:
    job = yaml.safe_load((RECIPES / "gitlab-ci.yml").read_text())["patch"]
    (command,) = job["script"]
    args = _accepts(command)
    assert job["artifacts"]["reports"]["junit"] == _option(args, "--report")
    assert job["artifacts"]["when"] == "always"
    assert set(job["allow_failure"]["exit_codes"]) <= native_codes()


def test_cron_line() -> None:
    lines = [ln for ln in (RECIPES / "patchpilot.cron").read_text().splitlines()
             if ln and not ln.startswith("#") and "=" not in ln.split()[0]]  # fmt: skip
    (line,) = lines
    fields = line.split(None, 6)
    assert len(fields[:5]) == 5 and fields[5] == "patchpilot"  # cron.d: time, user, command
    command = fields[6].split(">>")[0]
    assert "%" not in command.replace("\\%", "")  # cron turns a bare % into a newline
    _accepts(command)


def _unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((RECIPES / name).read_text())
    return unit


def test_systemd_service_and_timer() -> None:
    service = _unit("patchpilot-patch@.service")["Service"]
    exec_start: Any = service["ExecStart"]
    inner = shlex.split(exec_start)
    assert inner[:2] == ["/bin/sh", "-c"] and inner[-2:] == ["sh", "%i"]  # %i as $1, quoted
    _accepts(inner[2])
    assert _codes(service["SuccessExitStatus"].split()) <= native_codes()
    timer = _unit("patchpilot-patch@.timer")
    assert timer["Timer"]["OnCalendar"] and timer["Install"]["WantedBy"] == "timers.target"
