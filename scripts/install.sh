#!/usr/bin/env bash
# Install what patchpilot, its lab and its tests need on Debian 12, into .venv (idempotent):
# Python packages from the lock, requirements/dev.lock (docs/development.md).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (sudo)" >&2; exit 1; }
packages=(python3 python3-venv debootstrap systemd-container openssh-client iproute2
          dpkg-dev qemu-system-x86 qemu-utils samba smbclient procps kmod postgresql
          tmux      # tmux: the terminal tests (a real 80-column terminal)
          chromium  # chromium: the HTML report's browser test (headless)
          rpm createrepo-c   # rpm: rpmbuild and rpm.vercmp for the lab's RPM servers
          faketime)          # faketime: the clock-skew lab test runs the connector off by minutes
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
# The lab's VM image picks its kernels from apt's lists: fetch them when they are missing.
lists_ok=1
[ -n "$(apt-cache madison linux-image-cloud-amd64 2>/dev/null)" ] || lists_ok=0
if [ ${#missing[@]} -gt 0 ] || [ "$lists_ok" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# smbd and PostgreSQL must not run as system services here: the tests start their own on
# loopback.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl disable --now smbd nmbd >/dev/null 2>&1 || true
  systemctl disable --now postgresql >/dev/null 2>&1 || true
fi
if [ ! -x .venv/bin/python ]; then /usr/bin/python3 -m venv .venv; fi
# pip warns once per project about each configured local index folder that lacks it
# ("WARNING: Location 'file:///opt/...' is ignored: it is neither a file nor a directory.");
# drop exactly those lines from its stderr, keep every other line and pip's exit status.
ignored_location="^WARNING: Location 'file://[^']*' is ignored: it is neither a file nor a directory\.\$"
pip_quiet() {
  { "$@" 2>&1 1>&3 3>&- | { grep -v -- "$ignored_location" || true; } >&2; } 3>&1
}
pip_quiet .venv/bin/pip install -q --upgrade pip >/dev/null
# The exact, hashed set (the lock; scripts/lock.sh makes it from pyproject.toml's ranges), then
# patchpilot itself over it, editable and without resolving again.
pip_quiet .venv/bin/pip install -q --require-hashes -r requirements/dev.lock
pip_quiet .venv/bin/pip install -q --no-deps -e .
# Airflow (the provider's real tests) lives in its own cached venv.
./scripts/airflow-venv.sh >/dev/null
./scripts/ansible-venv.sh >/dev/null
# The client's interpreter matrix (tests/unit/test_interpreters.py): a pytest venv for each
# CPython that pyenv holds (none is installed here when pyenv holds none).
for python in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.*/bin/python3; do
  if [ -x "$python" ]; then ./scripts/tool-venv.sh client-tests tests/interpreters/requirements.txt "$python" >/dev/null; fi
done
