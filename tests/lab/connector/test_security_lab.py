"""The security review's findings (issue 11) against real lab servers.

Each test plants what a user or a misconfiguration could leave on a server, runs the real
connector, and checks that it did not get to run as root.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from connector_lab import argv, records, run, wait_for_event

from patchpilot.lab.bulk import BULK_PREFIX, bulk_debs
from patchpilot.lab.catalog import SLOW_SECONDS_FILE
from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

pytestmark = pytest.mark.lab

MARKERS = "/root/issue11-markers"

# A python3 before /usr/bin on PATH, and a .pth file in the site-packages python3 reads:
# either would run as root with the client if the launch line let PATH or `site` decide.
_PLANT = f"""set -e
mkdir -p {MARKERS}
printf '#!/bin/sh\\ntouch {MARKERS}/path-python3\\nexec /usr/bin/python3 "$@"\\n' \\
  > /usr/local/bin/python3
chmod 755 /usr/local/bin/python3
site=$(/usr/bin/python3 -c 'import site; print(site.getsitepackages()[0])')
mkdir -p "$site"
echo 'import os; open("{MARKERS}/site-pth", "w").close()' > "$site/issue11.pth"
/usr/bin/python3 -c 'pass'  # the plant works: a plain python3 runs it
rm {MARKERS}/site-pth
"""


def test_the_client_runs_with_an_absolute_python_under_i_s(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    lab.ssh(lab_server.name, ["sh", "-c", _PLANT])
    done = run(lab, lab_server, tmp_path, "--check-only")
    assert done.exit_status == 20, done.stderr
    left = lab.ssh(lab_server.name, ["ls", "-A", MARKERS]).stdout.split()
    assert left == [], f"ran as root beside the client: {left}"


_SHARE = "/srv/share/patchpilot-client.pyz"
_EVIL = (
    "import zipfile; z = zipfile.ZipFile('" + _SHARE + "', 'w'); "
    "z.writestr('__main__.py', 'open(\"" + MARKERS + '/share-ran", "w").close()\'); z.close()'
)


def test_a_shared_client_swapped_mid_run_never_runs(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    """The share is checked once, then read again for each client call: swap it in between."""
    name = lab_server.name
    pushed = run(lab, lab_server, tmp_path, "--check-only")  # leaves this tree's client there
    assert pushed.exit_status == 20, pushed.stderr
    lab.ssh(name, ["sh", "-c", f"mkdir -p /srv/share {MARKERS} && "
                   f"cp \"$(ls -t /var/lib/patchpilot/client/*.pyz | head -n 1)\" {_SHARE} && "
                   "rm -f /var/lib/patchpilot/client/*.pyz"])  # fmt: skip
    lab.install_opt_in(lab_server, "lab-slow")
    lab.ssh(name, ["sh", "-c", f"echo 8 > {SLOW_SECONDS_FILE}"])
    state = tmp_path / "swap"
    args = argv(lab, lab_server, state, "--run-id", "swap", "--client-path", _SHARE,
                "--include", "lab-slow", "--reboot", "never")  # fmt: skip
    connector = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_event(state, "swap", "run.started", timeout=120)
        lab.ssh(name, ["/usr/bin/python3", "-c", _EVIL])  # the share now holds other code
        _, err = connector.communicate(timeout=240)
    finally:
        if connector.poll() is None:
            connector.kill()
            connector.wait()
    assert connector.returncode == 0, err
    left = lab.ssh(name, ["ls", "-A", MARKERS]).stdout.split()
    assert left == [], "the swapped share ran as root"


BULK = 3000


@pytest.fixture
def bulk_repo(lab: Lab, tmp_path: Path) -> Iterator[list[Path]]:
    """The opt-in bulk catalog in the lab repository, taken out again afterwards."""
    debs = bulk_debs(BULK, tmp_path / "bulk")
    lab.repo.publish_debs(debs, "bookworm")
    yield debs
    for deb in debs:
        (lab.repo.directory / "pool" / "bookworm" / deb.name).unlink(missing_ok=True)
    lab.repo.reindex()


@pytest.mark.timeout(3600)
@pytest.mark.skipif(
    os.environ.get("PATCHPILOT_LAB_BULK") != "1",
    reason="opt-in (PATCHPILOT_LAB_BULK=1): about 6 minutes, mostly dpkg on 3,000 packages",
)
def test_a_server_3000_updates_behind_is_patched_end_to_end(
    lab: Lab, lab_server: Server, tmp_path: Path, bulk_repo: list[Path]
) -> None:
    """Item 4: scan.done for 3,000 updates passes the 1 MiB frame; it is split and delivered."""
    name = lab_server.name
    old = f"seq -f '{BULK_PREFIX}%04g=1.0' 0 {BULK - 1}"
    lab.ssh(name, ["sh", "-c", f"apt-get update -qq && {old} | DEBIAN_FRONTEND=noninteractive "
                   "xargs apt-get install -y -qq --no-install-recommends "
                   "-o Dpkg::Options::=--force-unsafe-io > /dev/null"],
            timeout=900)  # fmt: skip
    state = tmp_path / "state"
    done = run(lab, lab_server, state, "--run-id", "bulk", "--include", f"{BULK_PREFIX}*",
               "--reboot", "never", timeout=1200)  # fmt: skip
    assert done.exit_status == 0, done.stderr[-2000:]
    assert len(done.installed) == BULK and set(done.installed.values()) == {"2.0"}
    events = [r["event"] for r in records(state, "bulk")]
    assert "scan.done.part" in events and "round.result.part" in events
    count = f"dpkg-query -W '{BULK_PREFIX}*' | grep -c '2.0$'"
    assert lab.ssh(name, ["sh", "-c", count]).stdout.strip() == str(BULK)
