"""pytest fixtures for the lab (a pytest plugin, registered as an entry point).

`lab`: one running lab per test session (started in a temporary folder with no servers;
torn down at the end, even on failure; when the session has `vm` or `releases` tests, the VM
image or the other Debian releases' images are built in the background meanwhile).
`lab_server`: a fresh server for one test, removed after it; tests that change a server use
their own. Tests marked `lab` are skipped, not failed, when not running as root or when the
lab's tools are missing. `patchpilot_dist`: the sdist and wheel built once per session from
the checkout under test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from patchpilot.lab.base import ensure_base
from patchpilot.lab.lab import Lab
from patchpilot.lab.package import Dist, build_dist
from patchpilot.lab.releases import DEFAULT_RELEASE, RELEASES
from patchpilot.lab.server import Server
from patchpilot.lab.tools import CONTAINER_TOOLS, VM_TOOLS
from patchpilot.lab.vmimage import ensure_vm_image

__all__ = ["lab", "lab_server", "patchpilot_dist"]


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
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Return the session's running lab (no servers yet; ask `lab_server` or `add_server`)."""
    reason = _skip_reason()
    if reason is not None:
        pytest.skip(reason)
    the_lab = Lab(Path(tmp_path_factory.mktemp("lab")))
    try:
        the_lab.up(0, owner=os.getpid())
        if _wants(request.session, "vm") and _skip_reason(VM_TOOLS) is None:
            _prebuild("lab-vm-image", lambda: ensure_vm_image(the_lab.cache))
        if _wants(request.session, "releases"):
            _prebuild("lab-release-images", lambda: _build_releases(the_lab.cache))
        yield the_lab
    finally:
        the_lab.down()


def _wants(session: pytest.Session, marker: str) -> bool:
    return any(item.get_closest_marker(marker) for item in session.items)


def _build_releases(cache: Path) -> None:
    """Build the other Debian releases' images, one after the other (2-3 min each)."""
    for release in RELEASES:
        if release != DEFAULT_RELEASE:
            ensure_base(cache, release=release)


def _prebuild(name: str, build: Callable[[], object]) -> None:
    """Build an image in the background while other tests run (its users wait on its lock)."""

    def run() -> None:
        with contextlib.suppress(Exception):  # its first user builds it again, reporting why
            build()

    threading.Thread(target=run, name=name, daemon=True).start()


@pytest.fixture
def lab_server(lab: Lab) -> Iterator[Server]:
    """Return a fresh server of the session's lab, removed after the test."""
    server = lab.add_server()
    try:
        yield server
    finally:
        lab.remove_server(server.name)


@pytest.fixture(scope="session")
def patchpilot_dist(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Dist:
    """Return patchpilot's sdist and wheel, built once per session from the tested checkout."""
    checkout = request.config.rootpath
    if not (checkout / "pyproject.toml").is_file():
        pytest.skip(f"{checkout} is not a patchpilot checkout")
    return build_dist(checkout, tmp_path_factory.mktemp("dist"))
