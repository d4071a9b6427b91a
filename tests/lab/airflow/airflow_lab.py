"""A real Airflow 3 deployment for tests: the metadata database in the test PostgreSQL, and
api-server, scheduler (LocalExecutor), dag-processor and triggerer as real processes, from an
Airflow environment with patchpilot installed as an operator would (`provider_venv`). The unit
tests that only parse DAGs use the cached venv of scripts/airflow-venv.sh and the checkout on
PYTHONPATH (`patchpilot_path`). Everything listens on 127.0.0.1 only; every process runs in
its own session and is stopped (its whole group) at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from patchpilot.lab.package import clean_env, pip_install, site_packages
from patchpilot.lab.postgres import PG_PASSWORD, PostgresServer
from patchpilot.lab.vm import free_port
from patchpilot.protocol import RELEASE

ROOT = Path(__file__).resolve().parents[3]
REQUIREMENTS = ROOT / "tests" / "airflow" / "requirements.txt"
_SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")


def airflow_venv() -> Path:
    """Return the cached Airflow venv (made on first use; without patchpilot: see below)."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "airflow-venv.sh")], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/airflow-venv.sh failed: {done.stderr[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def patchpilot_path(folder: Path) -> str:
    """Return the PYTHONPATH that gives the Airflow venv this checkout's patchpilot.

    The venv is shared by every checkout on the machine, so patchpilot is not installed in
    it: the tree under test goes on PYTHONPATH, with a minimal dist-info (in folder) that
    carries the provider's entry point, which Airflow finds through importlib.metadata.
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dist = folder / f"patchpilot-{RELEASE}.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: patchpilot\nVersion: {RELEASE}\n")
    points = project["entry-points"]["apache_airflow_provider"]
    (dist / "entry_points.txt").write_text(
        "[apache_airflow_provider]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
    )
    return f"{ROOT / 'src'}{os.pathsep}{folder}"


def provider_venv(wheel: Path, folder: Path) -> Path:
    """Return an Airflow environment in folder with the patchpilot wheel installed into it.

    Airflow alone first (`apache-airflow[postgres]` at the version, and with the set,
    pinned in tests/airflow/requirements.txt); then, as an operator adds a provider to an
    Airflow image: `pip install 'patchpilot[airflow]'` constrained to that environment's own
    `pip freeze`, resolved by pip (no --no-deps, nothing on PYTHONPATH). Every package
    Airflow brought stays at its version; what patchpilot adds is resolved from its ranges.
    """
    (airflow,) = [
        line.strip() for line in REQUIREMENTS.read_text().splitlines()
        if line.startswith("apache-airflow==")
    ]  # fmt: skip
    venv, uv = folder / "airflow-venv", Path(sys.executable).parent / "uv"
    python = str(venv / "bin" / "python")
    for argv in (
        [str(uv), "venv", "--quiet", "--seed", "--python", "/usr/bin/python3", str(venv)],
        [str(uv), "pip", "install", "--quiet", "--python", python,
         airflow.replace("==", "[postgres]=="), "--constraint", str(REQUIREMENTS)],
    ):  # fmt: skip
        subprocess.run(argv, env=clean_env(), capture_output=True, check=True, timeout=900)
    frozen = subprocess.run(
        [python, "-m", "pip", "freeze"], env=clean_env(), capture_output=True, text=True,
        check=True, timeout=120,
    ).stdout  # fmt: skip
    assert "patchpilot" not in frozen and "asyncssh" not in frozen  # Airflow's own set only
    constraints = folder / "airflow-constraints.txt"
    constraints.write_text(frozen)
    pip_install(venv, "--constraint", str(constraints), f"{wheel}[airflow]")
    after = subprocess.run(
        [python, "-m", "pip", "freeze"], env=clean_env(), capture_output=True, text=True,
        check=True, timeout=120,
    ).stdout  # fmt: skip
    assert set(frozen.splitlines()) <= set(after.splitlines())  # nothing of Airflow's moved
    assert (site_packages(venv) / "patchpilot" / "airflow" / "operator.py").is_file()
    return venv


class Airflow:
    """One Airflow deployment in home, its DAGs in home/dags, its metadata in PostgreSQL."""

    def __init__(
        self, venv: Path, home: Path, postgres: PostgresServer, env: Mapping[str, str]
    ) -> None:
        self.venv = venv
        self.home = home
        self.dags = home / "dags"
        self.dags.mkdir(parents=True, exist_ok=True)
        self.postgres = postgres
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        from cryptography.fernet import Fernet

        port = free_port()
        db = postgres.url("airflow").replace("postgresql://postgres@", "")
        self.env = {
            **clean_env(),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
                f"postgresql+psycopg2://postgres:{PG_PASSWORD}@{db}"
            ),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "6",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "3",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            **env,
        }

    def cli(self, *args: str, timeout: float = 180) -> str:
        """Run the airflow command; return its stdout (RuntimeError when it fails)."""
        done = subprocess.run(
            [str(self.venv / "bin" / "airflow"), *args],
            env=self.env, cwd=self.home, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)}: {done.stderr[-3000:]}")
        return done.stdout

    def start(self) -> None:
        """Create the metadata database and start every service."""
        self.postgres.psql('CREATE DATABASE "airflow"')
        self.cli("db", "migrate", timeout=600)
        for name in _SERVICES:
            self.start_service(name)

    def start_service(self, name: str) -> None:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - the process keeps it
        self.processes[name] = subprocess.Popen(
            [str(self.venv / "bin" / "airflow"), name],
            env=self.env, cwd=self.home, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()

    def kill_service(self, name: str) -> None:
        """SIGKILL a service's whole process group (no clean shutdown: a crash)."""
        process = self.processes.pop(name)
        _signal_group(process, signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self) -> None:
        """Stop every service (SIGTERM, then SIGKILL after 20 s), and their groups."""
        processes = list(self.processes.values())
        self.processes.clear()
        for process in processes:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for process in processes:  # the group may outlive its leader
            _signal_group(process, signal.SIGKILL)
            process.wait()

    def sql(self, query: str) -> list[list[str]]:
        """Run SQL on the metadata database; return rows of `|`-separated fields."""
        out = self.postgres.psql(query, "airflow")
        return [line.split("|") for line in out.splitlines() if line]

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sql(f"SELECT dag_id FROM dag WHERE dag_id = '{dag_id}'"):
                return
            time.sleep(1)
        errors = self.sql("SELECT filename, stacktrace FROM import_error")
        raise AssertionError(f"DAG {dag_id} not parsed in {timeout:g} s; import errors: {errors}")

    def trigger(self, dag_id: str, run_id: str) -> None:
        self.cli("dags", "trigger", dag_id, "--run-id", run_id)

    def dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self.sql(
            f"SELECT state FROM dag_run WHERE dag_id = '{dag_id}' AND run_id = '{run_id}'"
        )
        return rows[0][0] if rows else None

    def wait_for_dag_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.dag_run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            time.sleep(2)
        raise AssertionError(
            f"{dag_id} {run_id} still {self.dag_run_state(dag_id, run_id)} after {timeout:g} s:"
            f" {self.task_states(dag_id, run_id)}"
        )

    def task_states(self, dag_id: str, run_id: str) -> dict[tuple[str, int], str]:
        rows = self.sql(
            "SELECT task_id, map_index, state FROM task_instance "
            f"WHERE dag_id = '{dag_id}' AND run_id = '{run_id}'"
        )
        return {(r[0], int(r[1])): r[2] for r in rows}

    def xcoms(self, dag_id: str, run_id: str, key: str) -> dict[tuple[str, int], Any]:
        rows = self.sql(
            "SELECT task_id, map_index, value FROM xcom "
            f"WHERE dag_id = '{dag_id}' AND run_id = '{run_id}' AND key = '{key}'"
        )
        return {(r[0], int(r[1])): _json(r[2]) for r in rows}

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
        return "\n".join(p.read_text() for p in sorted(folder.glob(f"task_id={task_id}/**/*.log")))


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _json(text: str) -> Any:
    value = json.loads(text)
    return json.loads(value) if isinstance(value, str) else value
