"""pytest fixtures for the lab (a pytest plugin, registered as an entry point).

`lab`: one running lab per test session (started in a temporary folder with no servers;
torn down at the end, even on failure). `lab_server`: a fresh server for one test, removed
after it; tests that change a server use their own. Tests marked `lab` are skipped, not
failed, when not running as root or when the lab's tools are missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server
from patchpilot.lab.tools import CONTAINER_TOOLS, VM_TOOLS

__all__ = ["lab", "lab_server"]


def _skip_reason(tools: tuple[str, ...] = CONTAINER_TOOLS) -> str | None:
    if os.geteuid() != 0:
        return "the lab needs root"
    missing = [tool for tool in tools if shutil.which(tool) is None]
    return f"the lab needs {', '.join(missing)}" if missing else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked `lab` (and `vm`) when this machine cannot run a lab (or a VM)."""
    lab_reason = _skip_reason()
    vm_reason = lab_reason or _skip_reason(VM_TOOLS)
    for item in items:
        if item.get_closest_marker("vm") and vm_reason:
            item.add_marker(pytest.mark.skip(reason=vm_reason))
        elif item.get_closest_marker("lab") and lab_reason:
            item.add_marker(pytest.mark.skip(reason=lab_reason))


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Return the session's running lab (no servers yet; ask `lab_server` or `add_server`)."""
    reason = _skip_reason()
    if reason is not None:
        pytest.skip(reason)
    the_lab = Lab(Path(tmp_path_factory.mktemp("lab")))
    try:
        the_lab.up(0)
        yield the_lab
    finally:
        the_lab.down()


@pytest.fixture
def lab_server(lab: Lab) -> Iterator[Server]:
    """Return a fresh server of the session's lab, removed after the test."""
    server = lab.add_server()
    try:
        yield server
    finally:
        lab.remove_server(server.name)
