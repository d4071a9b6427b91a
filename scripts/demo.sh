#!/usr/bin/env bash
# Install everything, start a small lab and patch one of its servers with patchpilot.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
echo "demo: not wired yet"
