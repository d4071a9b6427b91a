"""patchpilot inside a real Airflow 3: scheduler + LocalExecutor, triggerer, dag-processor and
api-server as real processes, PostgreSQL as Airflow's metadata database and as patchpilot's
shared store, lab servers as the targets.

The triggerer is killed (SIGKILL, a crash) while a server reboots and started again: the
trigger runs again, resumes the run from the store, and every package is still installed
exactly once (dpkg's own log says so). A mapped fleet stops starting servers after a batch
fails beyond `max_fail_percent`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow_lab import Airflow, provider_venv
from webhook_server import Webhooks, webhook_server

from patchpilot.connector.secret import Secret
from patchpilot.connector.store import Store, open_store
from patchpilot.lab.catalog import BASE_INSTALLED, FINAL_VERSIONS
from patchpilot.lab.lab import Lab
from patchpilot.lab.package import Dist
from patchpilot.lab.postgres import PG_PASSWORD, PostgresServer
from patchpilot.lab.server import Server

pytestmark = [pytest.mark.lab, pytest.mark.timeout(900)]

STATE_KEY = "5e" * 32
THREE = "pp_three"
FLEET = "pp_fleet"


@pytest.fixture(scope="module")
def airflow(
    lab: Lab,
    postgres: PostgresServer,
    patchpilot_dist: Dist,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Airflow]:
    """A running Airflow whose connections reach the lab (key and known_hosts from the lab),
    patchpilot installed into it from the wheel (airflow_lab.provider_venv)."""
    home = tmp_path_factory.mktemp("airflow")
    venv = provider_venv(patchpilot_dist.wheel, tmp_path_factory.mktemp("airflow-env"))
    postgres.psql('CREATE DATABASE "patchpilot"')
    ssh = {
        "conn_type": "ssh",
        "login": "root",
        "extra": {"key_file": str(lab.key_path), "known_hosts_file": str(lab.known_hosts_path)},
    }
    store = {"conn_type": "postgres", "host": "127.0.0.1", "port": postgres.port,
             "login": "postgres", "password": PG_PASSWORD, "schema": "patchpilot"}  # fmt: skip
    deployment = Airflow(
        venv,
        home,
        postgres,
        {
            "AIRFLOW_CONN_PP_SSH": json.dumps(ssh),
            "AIRFLOW_CONN_PP_STORE": json.dumps(store),
            "PATCHPILOT_STATE_KEY": STATE_KEY,
        },
    )
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture
def three(lab: Lab) -> Iterator[list[Server]]:
    servers = lab.add_servers(3)
    try:
        yield servers
    finally:
        for server in servers:
            lab.remove_server(server.name)


@pytest.fixture
def hooks() -> Iterator[Webhooks]:
    """A loopback webhook receiver: --notify's summaries (issue 24, item 2)."""
    with webhook_server() as receiver:
        yield receiver


def _patchpilot_store(postgres: PostgresServer, folder: Path) -> Store:
    url = postgres.url("patchpilot")
    return open_store(folder, url=url, password=Secret(PG_PASSWORD))


def _wait_for_reboot(postgres: PostgresServer, timeout: float = 300) -> str:
    """Return the run id of the first round seen rebooting in patchpilot's store."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = postgres.psql(
                "SELECT run_id FROM patchpilot.rounds WHERE phase = 'rebooting' LIMIT 1",
                "patchpilot",
            ).strip()
        except RuntimeError:  # the tables do not exist yet
            found = ""
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"no server rebooted within {timeout:g} s")


def _dpkg_configures(lab: Lab, server: Server) -> dict[str, int]:
    log = lab.ssh(server.name, ["cat", "/var/log/dpkg.log"]).stdout
    counts: dict[str, int] = {}
    for line in log.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[2] == "configure":
            name = parts[3].split(":")[0]
            counts[name] = counts.get(name, 0) + 1
    return counts


def test_a_dag_patches_three_servers_across_a_triggerer_crash(
    airflow: Airflow,
    lab: Lab,
    three: list[Server],
    postgres: PostgresServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    hooks: Webhooks,
) -> None:
    before = {s.name: _dpkg_configures(lab, s) for s in three}
    servers = [(s.name, s.address, s.ssh_port) for s in three]
    (airflow.dags / f"{THREE}.py").write_text(
        f'''
from airflow.sdk import DAG
from patchpilot.airflow.operator import PatchpilotOperator

with DAG("{THREE}", schedule=None, catchup=False):
    for name, address, port in {servers!r}:
        PatchpilotOperator(
            task_id=f"patch_{{name}}", target=name, host=address, port=port,
            ssh_conn_id="pp_ssh", state_conn_id="pp_store", state_dir={str(tmp_path / "state")!r},
            stability_window=1, reboot_timeout=300, notify=[{hooks.base + "/airflow"!r}],
        )
'''
    )
    airflow.wait_for_dag(THREE)
    airflow.trigger(THREE, "crash-1")
    rebooting = _wait_for_reboot(postgres)
    airflow.kill_service("triggerer")
    time.sleep(2)
    airflow.start_service("triggerer")
    state = airflow.wait_for_dag_run(THREE, "crash-1", timeout=600)
    tasks = airflow.task_states(THREE, "crash-1")
    assert state == "success", tasks
    results = airflow.xcoms(THREE, "crash-1", "result")
    returned = airflow.xcoms(THREE, "crash-1", "return_value")
    assert len(results) == 3 and returned == results
    for server in three:
        result = results[(f"patch_{server.name}", -1)]
        assert result["target"] == server.name and result["exit_code"] == 0
        assert result["outcome"] == "success" and result["reboots"]["count"] >= 1
        assert len(result["rounds"]) >= 2
        installed = {u["id"] for u in result["updates"] if u["status"] == "installed"}
        assert installed == set(FINAL_VERSIONS)
        # dpkg configured every updated package exactly once more than before the run.
        after = _dpkg_configures(lab, server)
        assert {p: after.get(p, 0) - before[server.name].get(p, 0) for p in FINAL_VERSIONS} == {
            p: 1 for p in FINAL_VERSIONS
        }
    notified = {b["servers"][0]["host"]: b for b in hooks.bodies("/airflow")}
    assert sorted(notified) == sorted(s.name for s in three), hooks.received
    assert {(b["kind"], b["outcome"], b["exit_code"]) for b in notified.values()} == {
        ("run", "success", 0)
    }
    monkeypatch.setenv("PATCHPILOT_STATE_KEY", STATE_KEY)  # read the store as Airflow does
    store = _patchpilot_store(postgres, tmp_path / "reader")
    killed = store.run(rebooting)
    assert killed is not None
    killed_log = airflow.task_log(THREE, "crash-1", f"patch_{killed.target}")
    # The task log holds the job output's lines (connector/event_lines.py): the restarted
    # trigger's run.start says it resumed.
    assert "run.start" in killed_log and "resumed=True" in killed_log, killed_log[-3000:]
    # The run secrets are nowhere in Airflow's database or logs, nor in clear in the store.
    secrets = [r.secret.reveal() for r in store.runs()]
    store.close()
    assert len(secrets) == 3
    dump = "".join(
        airflow.postgres.psql(f"SELECT row_to_json(t)::text FROM {table} t", "airflow")
        for table in ("xcom", "trigger", "task_instance", "connection", "log")
    )
    dump += postgres.psql("SELECT row_to_json(t)::text FROM patchpilot.runs t", "patchpilot")
    logs = "".join(p.read_text(errors="replace") for p in (airflow.home / "logs").rglob("*.log"))
    for secret in secrets:
        assert secret not in dump and secret not in logs


def test_a_mapped_fleet_stops_after_a_failing_batch(
    airflow: Airflow, lab: Lab, tmp_path: Path
) -> None:
    good = lab.add_servers(2)
    try:
        inventory = tmp_path / "site.yml"
        hosts: dict[str, Any] = {"broken": {"ansible_host": "127.0.0.1", "ansible_port": 1}}
        hosts |= {s.name: {"ansible_host": s.address, "ansible_port": s.ssh_port} for s in good}
        inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
        (airflow.dags / f"{FLEET}.py").write_text(
            f'''
from airflow.sdk import DAG
from patchpilot.airflow.fleet import patchpilot_fleet

with DAG("{FLEET}", schedule=None, catchup=False):
    patchpilot_fleet(
        inventory={str(inventory)!r}, serial="1", max_fail_percent=0, plan_from={good[0].name!r},
        ssh_conn_id="pp_ssh", state_conn_id="pp_store", state_dir={str(tmp_path / "state")!r},
        stability_window=1,
    )
'''
        )
        airflow.wait_for_dag(FLEET)
        airflow.trigger(FLEET, "fleet-1")
        assert airflow.wait_for_dag_run(FLEET, "fleet-1", timeout=400) == "failed"
        tasks = airflow.task_states(FLEET, "fleet-1")
        group = "patchpilot_fleet"
        assert tasks[(f"{group}.plan", -1)] == "success", tasks
        assert tasks[(f"{group}.batch_1", 0)] == "failed", tasks
        assert tasks[(f"{group}.gate_1", -1)] == "failed", tasks
        assert tasks.get((f"{group}.batch_2", -1)) == "upstream_failed" or all(
            state == "upstream_failed" for (task, _), state in tasks.items()
            if task in (f"{group}.batch_2", f"{group}.batch_3")
        ), tasks  # fmt: skip
        plan = airflow.xcoms(FLEET, "fleet-1", "plan")[(f"{group}.plan", -1)]
        assert set(plan) == set(FINAL_VERSIONS) - {"lab-stage2-x"}
        broken = airflow.xcoms(FLEET, "fleet-1", "result")[(f"{group}.batch_1", 0)]
        assert broken["exit_code"] == 69
        for server in good:  # never started: nothing installed
            versions = lab.ssh(server.name, ["dpkg-query", "-W", "-f=${Package}=${Version}\\n",
                                             "lab-*"]).stdout  # fmt: skip
            initial = {spec.name: spec.version for spec in BASE_INSTALLED}
            assert dict(line.split("=", 1) for line in versions.split()) == initial
    finally:
        for server in good:
            lab.remove_server(server.name)


def test_a_mapped_fleet_counts_failures_across_batches(
    airflow: Airflow, lab: Lab, tmp_path: Path
) -> None:
    """Issue 24 (4): `max_fail=2` counts the failures of every batch so far: one broken
    server in each of batches 1 and 2 (half of each: never over max_fail_percent=50) fails
    gate 2, so batch 3 never starts."""
    good = lab.add_servers(3)
    try:
        inventory = tmp_path / "site.yml"
        refused = {"ansible_host": "127.0.0.1", "ansible_port": 1}
        spec = {s.name: {"ansible_host": s.address, "ansible_port": s.ssh_port} for s in good}
        hosts: dict[str, Any] = {
            "broken-1": refused, good[0].name: spec[good[0].name],
            "broken-2": refused, good[1].name: spec[good[1].name],
            good[2].name: spec[good[2].name],
        }  # fmt: skip
        inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}, sort_keys=False))
        dag = f"{FLEET}_budget"
        (airflow.dags / f"{dag}.py").write_text(
            f'''
from airflow.sdk import DAG
from patchpilot.airflow.fleet import patchpilot_fleet

with DAG("{dag}", schedule=None, catchup=False):
    patchpilot_fleet(
        inventory={str(inventory)!r}, serial="2", max_fail_percent=50, max_fail=2,
        ssh_conn_id="pp_ssh", state_conn_id="pp_store", state_dir={str(tmp_path / "state")!r},
        check_only=True,
    )
'''
        )
        airflow.wait_for_dag(dag)
        airflow.trigger(dag, "budget-1")
        assert airflow.wait_for_dag_run(dag, "budget-1", timeout=400) == "failed"
        tasks = airflow.task_states(dag, "budget-1")
        group = "patchpilot_fleet"
        assert tasks[(f"{group}.gate_1", -1)] == "success", tasks  # 1 failed so far
        assert tasks[(f"{group}.gate_2", -1)] == "failed", tasks  # 2 failed in all
        assert all(
            state == "upstream_failed"
            for (task, _), state in tasks.items()
            if task == f"{group}.batch_3"
        ) and any(task == f"{group}.batch_3" for task, _ in tasks), tasks
        log = airflow.task_log(dag, "budget-1", f"{group}.gate_2")
        assert "2 servers failed in the batches so far (max_fail 2)" in log, log[-2000:]
    finally:
        for server in good:
            lab.remove_server(server.name)
