"""The operator checks a fleet's frozen plan it takes from the plan task's XCom, as the CLI's
fleet does (issue 21, finding 8): whoever can write that XCom row (or root on the plan host)
must not hand every server a malformed plan. Run by real Airflow (scripts/airflow-venv.sh)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "lab" / "airflow"))
from airflow_lab import airflow_venv, patchpilot_path  # noqa: E402

_OPTIONS = """
import json, sys
from patchpilot.airflow.operator import PatchpilotOperator

class TaskInstance:
    def xcom_pull(self, task_ids, key):
        assert (task_ids, key) == ("fleet.plan", "plan")
        return json.loads(sys.argv[1])

operator = PatchpilotOperator(task_id="web1", target="web1", plan_task_id="fleet.plan")
try:
    print(json.dumps({"plan": operator._options({"ti": TaskInstance()})["plan"]}))
except Exception as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
"""


def _options_with(pushed: Any, folder: Path) -> dict[str, Any]:
    if os.geteuid() != 0:
        pytest.skip("the Airflow venv lives in /var/cache/patchpilot (root)")
    done = subprocess.run(
        [str(airflow_venv() / "bin" / "python"), "-c", _OPTIONS, json.dumps(pushed)],
        capture_output=True, text=True, check=False, cwd=folder, timeout=120,
        env={**os.environ, "AIRFLOW_HOME": str(folder / "airflow"),
             "PYTHONPATH": patchpilot_path(folder / "python")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


@pytest.mark.parametrize(
    "pushed", [{"openssl\n": "3.0"}, {"openssl": "3.0; rm -rf /"}, ["openssl", "3.0"], None]
)
def test_a_malformed_plan_from_xcom_fails_the_task(pushed: Any, tmp_path: Path) -> None:
    answer = _options_with(pushed, tmp_path)
    assert "the plan from task fleet.plan" in answer.get("error", ""), answer


def test_a_good_plan_from_xcom_bounds_the_run(tmp_path: Path) -> None:
    plan = {"openssl": "3.0.11-1~deb12u2", "libc6": "2.36-9+deb12u4"}
    assert _options_with(plan, tmp_path) == {"plan": plan}
