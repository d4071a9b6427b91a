#!/usr/bin/env bash
# Install everything, then run the whole test suite (lint, types, unit and lab tests).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
.venv/bin/ruff check src tests bench
.venv/bin/mypy
exec .venv/bin/pytest -p no:cacheprovider -q "$@"
