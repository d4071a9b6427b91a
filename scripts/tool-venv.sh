#!/usr/bin/env bash
# Usage: scripts/tool-venv.sh NAME REQUIREMENTS [PYTHON]
# Make (once, cached under $PATCHPILOT_CACHE, keyed by the interpreter and the requirements'
# text) a virtualenv holding a tool the tests run beside patchpilot, pinned in REQUIREMENTS
# (Airflow, Ansible; pytest for the client's interpreter matrix, on PYTHON, default python3). patchpilot itself is never installed there: several checkouts share the
# venv, so a test puts its own tree on PYTHONPATH. Prints the venv's path. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1
requirements=$2
python=${3:-/usr/bin/python3}
key=$( { "$python" --version; cat "$requirements"; } | sha256sum | cut -c1-12)
cache=${PATCHPILOT_CACHE:-/var/cache/patchpilot}
venv="$cache/$name-$key"
mkdir -p "$cache"
exec 9>"$venv.lock"
flock 9
ignored_location="^( *Url|WARNING: Location) 'file://[^']*' is ignored: it is neither a file nor a directory\.\$"
pip_quiet() {
  { "$@" 2>&1 1>&3 3>&- | { grep -Ev -- "$ignored_location" || true; } >&2; } 3>&1
}
if [ ! -e "$venv.complete" ]; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  # 3.6's venv brings pip 18, which does not read Requires-Python from our indexes: 21.3.1
  # is the last pip for 3.6.
  pip=pip
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 7))' || pip=pip==21.3.1
  pip_quiet "$venv/bin/pip" install -q --disable-pip-version-check --upgrade "$pip" >/dev/null
  pip_quiet "$venv/bin/pip" install -q -r "$requirements"
  touch "$venv.complete"
fi
# An installed patchpilot (an earlier version of the Airflow script made one editable) would
# shadow the tree on PYTHONPATH: remove it.
if [ -n "$(ls -d "$venv"/lib/python3*/site-packages/patchpilot-*.dist-info 2>/dev/null)" ]; then
  pip_quiet "$venv/bin/pip" uninstall -q -y patchpilot >/dev/null
fi
echo "$venv"
