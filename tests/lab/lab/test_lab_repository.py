"""The lab repository: the catalog, two rounds with a reboot, publishing while servers run."""

from __future__ import annotations

import pytest

from patchpilot.lab import FINAL_VERSIONS, Lab, Server

pytestmark = pytest.mark.lab

APT = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-y", "-qq"]


def _versions(lab: Lab, name: str) -> dict[str, str]:
    out = lab.ssh(name, ["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", "lab-*"]).stdout
    return dict(line.split() for line in out.splitlines())


def test_applying_everything_takes_two_rounds_and_a_reboot(lab: Lab, lab_server: Server) -> None:
    name = lab_server.name
    lab.ssh(name, [*APT, "update"])
    lab.ssh(name, [*APT, "dist-upgrade"])
    marks = lab.ssh(name, ["cat", "/var/run/reboot-required.pkgs"]).stdout.split()
    assert sorted(marks) == ["lab-kernel", "lab-servicing"]
    assert _versions(lab, name)["lab-stage2-x"] == "1.0"
    lab.reboot(name)
    lab.ssh(name, [*APT, "update"])
    upgradable = lab.ssh(name, ["apt", "list", "--upgradable"]).stdout
    assert "lab-stage2-x/bookworm-stage2 2.0" in upgradable
    lab.ssh(name, [*APT, "dist-upgrade"])
    versions = _versions(lab, name)
    assert {package: versions[package] for package in FINAL_VERSIONS} == FINAL_VERSIONS


def test_security_suite_is_labelled_like_debian(lab: Lab, lab_server: Server) -> None:
    lab.ssh(lab_server.name, [*APT, "update"])
    policy = lab.ssh(lab_server.name, ["apt-cache", "policy"]).stdout
    assert "o=Debian,a=bookworm-security,n=bookworm-security,l=Debian-Security" in policy


def test_publishing_a_new_version_while_servers_run(lab: Lab, lab_server: Server) -> None:
    """A package of this test's own: the repository is the session's, and a newer version of
    a catalog package would change what every later test's servers upgrade to."""
    lab.repo.add_package("lab-published", "1.1")
    lab.ssh(lab_server.name, [*APT, "update"])
    lab.ssh(lab_server.name, [*APT, "install", "lab-published"])
    assert _versions(lab, lab_server.name)["lab-published"] == "1.1"


@pytest.mark.parametrize("package", ["lab-fail", "lab-conffile", "lab-slow"])
def test_opt_in_packages(lab: Lab, lab_server: Server, package: str) -> None:
    lab.install_opt_in(lab_server, package)
    assert _versions(lab, lab_server.name)[package] == "1.0"
