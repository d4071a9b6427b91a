"""The README's five-minute tutorial, run as written (only its folder moved to a temporary
one): every command succeeds, check-only says 20, the run patches, the reports exist, and
the same run line again answers with the same result instead of patching twice."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[3]


def _tutorial() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Five-minute tutorial\n", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match[1]


def _bash(script: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


def test_the_readme_tutorial_runs_as_written(tmp_path: Path) -> None:
    folder = tmp_path / "tutorial"
    script = _tutorial().replace("/tmp/tutorial", str(folder))
    assert "lab down" in script.splitlines()[-1]
    try:
        done = _bash(script, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "exit 20: updates are available" in done.stdout
        result = json.loads(
            next(line for line in done.stdout.splitlines() if '"run_id":"tutorial"' in line)
        )
        assert result["status"] == "success" and result["exit_code"] == 0
        assert (folder / "report.html").read_text().lower().startswith("<!doctype html>")
        cases = ET.parse(folder / "junit.xml").getroot().iter("testcase")
        assert [c.get("name") for c in cases] == ["lab-1"]
        # The run line again, on a lab up again: the known run id answers, nothing is patched.
        lines = script.splitlines()
        up = next(line for line in lines if "lab up" in line)
        run = "\n".join(lines[next(i for i, ln in enumerate(lines) if " run lab-1" in ln) :][:2])
        again = _bash("\n".join([lines[0], up, run.split("#")[0]]), timeout=300)
        assert again.returncode == 0, again.stderr[-3000:]
        answered = json.loads(again.stdout.strip().splitlines()[-1])
        assert (answered["run_id"], answered["started"]) == ("tutorial", result["started"])
    finally:
        subprocess.run([str(ROOT / ".venv" / "bin" / "patchpilot"), "lab", "down", "--dir",
                        str(folder)], capture_output=True, timeout=120, check=False)  # fmt: skip
