#!/usr/bin/env bash
# Make (once, cached) the virtualenv holding the pinned ansible-core that the inventory tests
# compare against (`ansible --list-hosts`, `ansible-inventory --list`). Prints the venv's path.
# Idempotent; run by scripts/install.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=tests/ansible/requirements.txt
key=$( { /usr/bin/python3 --version; cat "$requirements"; } | sha256sum | cut -c1-12)
cache=${PATCHPILOT_CACHE:-/var/cache/patchpilot}
venv="$cache/ansible-venv-$key"
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
echo "$venv"
