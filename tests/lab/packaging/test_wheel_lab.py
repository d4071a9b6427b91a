"""The wheel stands alone: built with `python -m build`, installed by pip into a fresh venv
outside the checkout, that installation alone patches a lab server, and the client it builds
and pushes is byte for byte the one the checkout builds."""

from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from patchpilot.client_build import build_client
from patchpilot.connector.targets.linux import pushed_path
from patchpilot.lab.catalog import FINAL_VERSIONS
from patchpilot.lab.lab import Lab
from patchpilot.lab.package import Dist, clean_env, fresh_venv, pip_install, site_packages
from patchpilot.lab.server import Server
from patchpilot.protocol import RELEASE

pytestmark = [pytest.mark.lab, pytest.mark.timeout(1200)]


def _installed(venv: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the installed `patchpilot` from the venv's folder, with a clean environment."""
    return subprocess.run(
        [str(venv / "bin" / "patchpilot"), *args], cwd=venv.parent, env=clean_env(),
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def test_the_dist_holds_the_package_and_its_data(patchpilot_dist: Dist) -> None:
    names = zipfile.ZipFile(patchpilot_dist.wheel).namelist()
    assert "patchpilot/connector/reports/templates/report.html.j2" in names
    assert "patchpilot/client/cli.py" in names and "patchpilot/protocol/versions.py" in names
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]
    metadata = zipfile.ZipFile(patchpilot_dist.wheel).read(
        f"patchpilot-{RELEASE}.dist-info/METADATA"
    )
    headers = metadata.decode().split("\n\n")[0].splitlines()
    assert f"Version: {RELEASE}" in headers
    requires = [h.split(";")[0] for h in headers if h.startswith("Requires-Dist: ")]
    assert "Requires-Dist: asyncssh>=2.18" in requires
    assert not [r for r in requires if "==" in r]  # ranges, never pins
    assert patchpilot_dist.sdist.name == f"patchpilot-{RELEASE}.tar.gz"


def test_the_installed_wheel_alone_patches_a_server(
    lab: Lab, lab_server: Server, patchpilot_dist: Dist, tmp_path: Path
) -> None:
    venv = fresh_venv(tmp_path / "venv")
    pip_install(venv, str(patchpilot_dist.wheel))
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import patchpilot; print(patchpilot.__file__)"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(site_packages(venv)), where

    version = _installed(venv, "--version")
    assert version.returncode == 0 and version.stdout.startswith(f"patchpilot {RELEASE} ")
    from_checkout = build_client(tmp_path / "checkout-client").sha256
    built = _installed(venv, "client", "build", "--out", str(tmp_path / "wheel-client"))
    assert built.returncode == 0, built.stderr
    assert built.stdout.split()[-1] == from_checkout  # "sha256 <hex>"

    done = _installed(
        venv, "run", lab_server.name, "-F", str(lab.ssh_config_path), "--state-dir",
        str(tmp_path / "state"), "--stability-window", "1", "--run-id", "from-wheel",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    installed = {u["id"]: u["version"] for u in result["updates"] if u["status"] == "installed"}
    assert result["status"] == "success" and installed == FINAL_VERSIONS
    on_target = lab.ssh(lab_server.name, ["sha256sum", pushed_path(from_checkout)]).stdout
    assert on_target.split()[0] == from_checkout
    pyz = (tmp_path / "wheel-client" / "patchpilot-client.pyz").read_bytes()
    assert hashlib.sha256(pyz).hexdigest() == from_checkout
