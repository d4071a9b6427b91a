"""The example DAG and a fleet's task group, parsed by real Airflow (the cached venv of
scripts/airflow-venv.sh): the tasks, their order, the mapped batches and each host's options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "lab" / "airflow"))
from airflow_lab import airflow_venv, patchpilot_path  # noqa: E402

_SHAPE = """
import json, runpy, sys
namespace = runpy.run_path(sys.argv[1])
dag = namespace["dag"]
tasks = {}
for task_id, task in dag.task_dict.items():
    mapped = getattr(task, "expand_input", None)
    kwargs = getattr(mapped, "value", None) if mapped is not None else None
    tasks[task_id] = {
        "type": type(task).__name__,
        "upstream": sorted(task.upstream_task_ids),
        "mapped": kwargs if isinstance(kwargs, list) else None,
        "options": getattr(task, "run_options", None) if mapped is None else None,
        "trigger_rule": getattr(task.trigger_rule, "value", task.trigger_rule),
    }
print(json.dumps(tasks, default=str))
"""


def _shape(dag_file: Path, inventory: Path) -> dict[str, Any]:
    if os.geteuid() != 0:
        pytest.skip("the Airflow venv lives in /var/cache/patchpilot (root)")
    venv = airflow_venv()
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", _SHAPE, str(dag_file)],
        capture_output=True, text=True, check=False, cwd=inventory.parent,
        env={**os.environ, "PATCHPILOT_INVENTORY": str(inventory),
             "AIRFLOW_HOME": str(inventory.parent / "airflow"),
             "PYTHONPATH": patchpilot_path(inventory.parent / "python")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_example_dag_and_its_fleet(tmp_path: Path) -> None:
    inventory = tmp_path / "site.yml"
    db = {f"db{n}": {"ansible_host": f"10.0.0.{20 + n}"} for n in range(1, 6)}
    db["db2"]["patchpilot_max_rounds"] = 3
    inventory.write_text(yaml.safe_dump({"all": {"children": {
        "db": {"hosts": db}, "db-canary": {"hosts": {"db5": {}}}}}}))  # fmt: skip
    tasks = _shape(ROOT / "examples" / "airflow_nightly_patch.py", inventory)
    assert sorted(tasks) == [
        "databases.batch_1", "databases.batch_2", "databases.gate_1", "databases.plan",
        "patch_web01",
    ]  # fmt: skip
    assert tasks["patch_web01"]["options"] == {
        "reboot": "{{ params.reboot }}", "reboot_timeout": 900
    }  # fmt: skip
    assert tasks["databases.plan"]["upstream"] == ["patch_web01"]
    assert tasks["databases.batch_1"]["upstream"] == ["databases.plan"]
    assert tasks["databases.gate_1"]["upstream"] == ["databases.batch_1"]
    assert tasks["databases.gate_1"]["trigger_rule"] == "all_done"
    assert tasks["databases.batch_2"]["upstream"] == ["databases.gate_1"]
    first, second = tasks["databases.batch_1"]["mapped"], tasks["databases.batch_2"]["mapped"]
    assert [m["target"] for m in first] == ["db1", "db2"]  # serial 2, the canary left out
    assert [m["target"] for m in second] == ["db3", "db4"]
    assert first[0]["host"] == "10.0.0.21"
    assert first[0]["options"] == {} and first[1]["options"] == {"max_rounds": 3}
