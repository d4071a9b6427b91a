#!/usr/bin/env bash
# The venv the real-Airflow tests run Airflow from (tests/lab/airflow/airflow_lab.py): Airflow
# and patchpilot's dependencies, pinned in tests/airflow/requirements.txt. Prints its path.
exec "$(dirname "$0")/tool-venv.sh" airflow-venv-3.3.2 tests/airflow/requirements.txt
