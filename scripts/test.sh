#!/usr/bin/env bash
# Install everything, then run the whole test suite (lint, types, the docs site's strict build,
# unit and lab tests). -rs lists every skip with its reason (e.g. a CPython pyenv does not hold).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
.venv/bin/ruff check src tests bench
.venv/bin/mypy
site=$(mktemp -d)
./scripts/docs.sh "$site"   # the docs site, --strict
rm -rf "$site"
exec .venv/bin/pytest -p no:cacheprovider -q -rs "$@"
