"""Interpreter discovery on real servers (issue 26): one whose only Python is CPython 3.6 at
/usr/libexec/platform-python is patched end to end by discovery alone; one without a usable
Python is refused with exit 79 and left exactly as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from connector_lab import assert_whole_journal, lab_packages, records, run

from patchpilot.lab.lab import Lab
from patchpilot.lab.platform_python import (
    PLATFORM_PYTHON,
    make_platform_python_only,
    pyenv_python,
    remove_python,
    server_pythons,
)
from patchpilot.lab.server import Server

pytestmark = pytest.mark.lab

# What a run could leave on a server: its folders, a lock, a scheduled task, a package change.
FOOTPRINT = (
    "ls -la /var/lib/patchpilot /run/patchpilot 2>&1; "
    "systemctl list-units --all --no-legend 'patchpilot*' 2>&1; atq 2>&1; "
    "md5sum /var/log/dpkg.log; dpkg-query -W -f '${Package} ${Version}\\n' 'lab-*'"
)


@pytest.mark.skipif(pyenv_python("3.6") is None, reason="pyenv has no CPython 3.6 to copy in")
def test_a_server_whose_only_python_is_36_is_patched_by_discovery(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    version = make_platform_python_only(lab, lab_server)
    assert version.startswith("3.6.")
    assert server_pythons(lab, lab_server) == [PLATFORM_PYTHON]  # no /usr/bin/python3
    before = lab_packages(lab, lab_server)

    done = run(lab, lab_server, tmp_path, "--run-id", "py36")

    assert done.exit_status == 0, done.stderr
    assert done.result["status"] == "success" and done.installed, done.result
    assert lab_packages(lab, lab_server) != before
    for package, installed in done.installed.items():
        assert f"{package} {installed} ii" in lab_packages(lab, lab_server)
    (chosen,) = [r["fields"] for r in records(tmp_path, "py36") if r["event"] == "client.python"]
    assert (chosen["path"], chosen["version"]) == (PLATFORM_PYTHON, version)
    assert {"path": "/usr/bin/python3", "found": "missing"} in chosen["tried"]
    assert "client.python" in done.stdout  # said in the job output too
    assert_whole_journal(tmp_path, "py36")


def test_a_server_without_python_is_refused_and_left_unchanged(
    lab: Lab, lab_server: Server, tmp_path: Path
) -> None:
    remove_python(lab, lab_server)
    assert server_pythons(lab, lab_server) == []
    before = lab.ssh(lab_server.name, ["sh", "-c", FOOTPRINT]).stdout

    done = run(lab, lab_server, tmp_path, "--run-id", "nopython")

    assert done.exit_status == 79, done.stdout + done.stderr
    said = done.stdout + done.stderr
    for path in ("/usr/bin/python3", PLATFORM_PYTHON, "/usr/bin/python3.6"):
        assert f"{path} (missing)" in said, said
    assert lab.ssh(lab_server.name, ["sh", "-c", FOOTPRINT]).stdout == before
    assert "No such file or directory" in before  # no /var/lib/patchpilot: never created
