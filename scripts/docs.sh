#!/usr/bin/env bash
# Usage: scripts/docs.sh [SITE_DIR]   (default: site/)
# Build the documentation site (mkdocs.yml; docs/) with --strict: a broken link, a missing
# page or anchor, an unknown generated part or a failing API reference fails the build.
# CI runs it from scripts/test.sh. `.venv/bin/mkdocs serve` shows the site while writing.
set -euo pipefail
cd "$(dirname "$0")/.."
export NO_MKDOCS_2_WARNING=1   # Material's notice about its successor, printed on every build
exec .venv/bin/mkdocs build --strict --site-dir "${1:-site}"
