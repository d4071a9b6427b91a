#!/usr/bin/env bash
# Make (once, cached) the virtualenv that the real-Airflow tests run Airflow from, and install
# this checkout of patchpilot into it (editable, without dependencies: they are pinned in
# tests/airflow/requirements.txt). Prints the venv's path. Idempotent; run by scripts/install.sh.
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
# This checkout, editable: a few seconds; the DAGs import the tree under test.
if ! "$venv/bin/python" - "$PWD/src" <<'PY' >/dev/null 2>&1
import sys, patchpilot, importlib.metadata as md
assert patchpilot.__file__.startswith(sys.argv[1])
assert any(e.name == "provider_info" for e in md.entry_points(group="apache_airflow_provider"))
PY
then
  pip_quiet "$venv/bin/pip" install -q --no-deps -e . >/dev/null
fi
echo "$venv"
