#!/usr/bin/env bash
# Usage: scripts/lock.sh [--upgrade | --upgrade-package NAME ...]
# Resolve pyproject.toml's ranges (the dev, postgres and docs extras) into the exact, hashed set
# that scripts/install.sh installs: requirements/dev.lock. Run it after adding or changing a
# dependency; versions already in the lock are kept unless asked to upgrade. The lock holds
# every platform's markers (--universal) for the oldest Python the project supports.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=.venv/bin/uv
[ -x "$uv" ] || { echo "lock.sh: no $uv: run scripts/install.sh first" >&2; exit 1; }
exec "$uv" pip compile pyproject.toml --quiet --universal --python-version 3.11 \
  --generate-hashes --extra dev --extra postgres --extra docs \
  --output-file requirements/dev.lock --custom-compile-command scripts/lock.sh "$@"
