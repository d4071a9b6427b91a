"""An Airflow DAG that patches servers with patchpilot: one web server on its own, then the
database tier as a fleet (a frozen plan, batches of two, stop after any failing batch).

Put it in Airflow's dags folder on a deployment where `pip install 'patchpilot[airflow]'`
is done on the workers and triggerers, and define the connections (docs/airflow.md):
  patch_ssh    SSH: login (root, or a user with sudo), extra
               {"key_file": "/etc/patchpilot/id_ed25519",
                "known_hosts_file": "/etc/patchpilot/known_hosts"}
  patch_store  Postgres: host, port, login, password, schema = the database
and give every worker and triggerer the same PATCHPILOT_STATE_KEY_FILE.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG

from patchpilot.airflow.fleet import patchpilot_fleet
from patchpilot.airflow.operator import PatchpilotOperator

with DAG(
    "nightly_patch",
    schedule="0 2 * * 6",  # Saturdays, 02:00
    catchup=False,
    params={"reboot": "if-required"},
    tags=["patchpilot"],
) as dag:
    web = PatchpilotOperator(
        task_id="patch_web01",
        target="web01",
        host="web01.example.net",
        ssh_conn_id="patch_ssh",
        state_conn_id="patch_store",
        reboot="{{ params.reboot }}",  # templated, like target, host, include and exclude
        exclude=["postgresql*"],
        reboot_timeout=900,
    )
    databases = patchpilot_fleet(
        group_id="databases",
        inventory=os.environ.get("PATCHPILOT_INVENTORY", "/etc/patchpilot/site.yml"),
        limit="db:!db-canary",
        serial="2",
        max_fail_percent=0,
        ssh_conn_id="patch_ssh",
        state_conn_id="patch_store",
        reboot="if-required",
    )
    web >> databases
