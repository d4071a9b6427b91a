#!/usr/bin/env bash
# Make (once, cached) the virtualenv that the real-Airflow tests run Airflow from: Airflow and
# patchpilot's dependencies, pinned in tests/airflow/requirements.txt. patchpilot itself is not
# installed there: several checkouts share this venv, so each test gives Airflow its own tree
# on PYTHONPATH (tests/lab/airflow/airflow_lab.py). Prints the venv's path. Idempotent; run by
# scripts/install.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=tests/airflow/requirements.txt
key=$( { /usr/bin/python3 --version; cat "$requirements"; } | sha256sum | cut -c1-12)
cache=${PATCHPILOT_CACHE:-/var/cache/patchpilot}
venv="$cache/airflow-venv-3.3.2-$key"
mkdir -p "$cache"
exec 9>"$venv.lock"
flock 9
ignored_location="^WARNING: Location 'file://[^']*' is ignored: it is neither a file nor a directory\.\$"
pip_quiet() {
  { "$@" 2>&1 1>&3 3>&- | { grep -v -- "$ignored_location" || true; } >&2; } 3>&1
}
if [ ! -e "$venv.complete" ]; then
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  pip_quiet "$venv/bin/pip" install -q --upgrade pip >/dev/null
  pip_quiet "$venv/bin/pip" install -q -r "$requirements"
  touch "$venv.complete"
fi
# An editable patchpilot from an earlier version of this script would shadow the tree on
# PYTHONPATH: remove it.
if [ -n "$(ls -d "$venv"/lib/python3*/site-packages/patchpilot-*.dist-info 2>/dev/null)" ]; then
  pip_quiet "$venv/bin/pip" uninstall -q -y patchpilot >/dev/null
fi
echo "$venv"
