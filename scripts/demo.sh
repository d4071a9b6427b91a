#!/usr/bin/env bash
# Install everything, start a small lab and patch one of its servers with patchpilot: round 1
# installs the updates and reboots the server (boot id verified), round 2 installs what the
# servicing-stack update unlocked. The lab is removed at the end (KEEP_LAB=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
pp=.venv/bin/patchpilot
lab=${PATCHPILOT_DEMO_DIR:-/var/lib/patchpilot/demo-lab}
state="$lab/connector-state"
"$pp" lab down --dir "$lab" >/dev/null 2>&1 || true
# The lab's servers are new each time: an earlier demo's runs (the same --run-id) would
# otherwise be answered from the store instead of patching them.
rm -rf "$state"
[ "${KEEP_LAB:-0}" = 1 ] || trap '"$pp" lab down --dir "$lab" >/dev/null 2>&1 || true' EXIT
"$pp" lab up 2 --dir "$lab"

echo; echo "== patchpilot run lab-2 --check-only   (what would be applied; exit 20 = updates available)"
"$pp" run lab-2 -F "$lab/ssh_config" --state-dir "$state" --check-only || echo "exit status $?"

echo; echo "== patchpilot run lab-1   (round 1, verified reboot, round 2)"
"$pp" run lab-1 -F "$lab/ssh_config" --state-dir "$state" --run-id demo-lab-1 \
    --result-file "$lab/demo-lab-1.json"

echo; echo "== patchpilot status   (the connector's state store)"
"$pp" status --state-dir "$state"
echo; echo "result file: $lab/demo-lab-1.json"
