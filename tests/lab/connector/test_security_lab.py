"""The security review's findings (issue 11) against real lab servers.

Each test plants what a user or a misconfiguration could leave on a server, runs the real
connector, and checks that it did not get to run as root.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from connector_lab import run

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
