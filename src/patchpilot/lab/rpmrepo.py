"""The lab's RPM repositories: built RPMs, `createrepo_c` metadata and an updateinfo.xml.

Layout, beside the apt archive in the lab's repository folder: `rpm/<repo>/*.rpm` and
`rpm/<repo>/repodata/` (repomd.xml, primary, filelists, other, and updateinfo added with
`modifyrepo_c`), the metadata dnf, zypper and RHEL's own tools read. Publishing rebuilds a
repository's metadata under the same file lock as the apt archive.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

from patchpilot.lab.rpmcatalog import ADVISORIES, RPM_REPOS, Advisory
from patchpilot.lab.rpms import RpmSpec, build_rpm, rpm_filename
from patchpilot.lab.tools import locked, run

__all__ = ["RpmRepository", "repo_files", "updateinfo_xml"]


def updateinfo_xml(advisories: Sequence[Advisory], specs: Sequence[RpmSpec]) -> str:
    """Return updateinfo.xml for advisories, each naming the newest spec of its packages."""
    newest = {spec.name: spec for spec in specs}  # later specs are newer
    updates = [_update_xml(advisory, newest) for advisory in advisories]
    return '<?xml version="1.0" encoding="UTF-8"?>\n<updates>\n' + "".join(updates) + "</updates>\n"


def _update_xml(advisory: Advisory, newest: dict[str, RpmSpec]) -> str:
    refs = "".join(
        f'      <reference href="https://www.cve.org/CVERecord?id={cve}" id="{cve}" '
        f'type="cve" title="{cve}"/>\n'
        for cve in advisory.cves
    )
    reboot = (
        "          <reboot_suggested>True</reboot_suggested>\n" if advisory.reboot_suggested else ""
    )
    packages = ""
    for name in advisory.packages:
        spec = newest[name]
        packages += (
            f"        <package name={quoteattr(spec.name)} version={quoteattr(spec.version)} "
            f'release={quoteattr(spec.release)} epoch="{spec.epoch or 0}" arch="noarch" '
            f'src="{spec.name}-{spec.version}-{spec.release}.src.rpm">\n'
            f"          <filename>{rpm_filename(spec)}</filename>\n{reboot}        </package>\n"
        )
    return (
        f'  <update from="lab@patchpilot.invalid" status="stable" type="{advisory.kind}" '
        'version="1">\n'
        f"    <id>{advisory.id}</id>\n    <title>{advisory.title}</title>\n"
        f"    <severity>{advisory.severity}</severity>\n"
        f'    <issued date="{advisory.issued}"/>\n    <updated date="{advisory.issued}"/>\n'
        f"    <description>{advisory.title}</description>\n"
        + ("    <reboot_suggested>True</reboot_suggested>\n" if advisory.reboot_suggested else "")
        + f"    <references>\n{refs}    </references>\n"
        f'    <pkglist>\n      <collection short="{advisory.repo}">\n'
        f"        <name>{advisory.repo}</name>\n{packages}      </collection>\n    </pkglist>\n"
        "  </update>\n"
    )


def repo_files(url: str, flavor: str) -> dict[str, str]:
    """Return the repository definitions (path relative to / -> content) a server uses."""
    base = f"{url}rpm/lab/"
    if flavor == "dnf":
        return {
            "etc/yum.repos.d/lab.repo": f"[lab]\nname=lab\nbaseurl={base}\nenabled=1\n"
            "gpgcheck=0\nmetadata_expire=0\n"
        }
    if flavor == "zypper":
        return {
            "etc/zypp/repos.d/lab.repo": f"[lab]\nname=lab\nenabled=1\nautorefresh=1\n"
            f"baseurl={base}\ntype=rpm-md\ngpgcheck=0\n"
        }
    return {}


class RpmRepository:
    """The lab's RPM repositories under directory/rpm (see module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.root = directory / "rpm"

    def is_published(self) -> bool:
        return all((self.root / repo / "repodata" / "repomd.xml").exists() for repo in RPM_REPOS)

    def publish_all(self, specs: Sequence[RpmSpec]) -> None:
        """Build every spec into its repository and regenerate each repository's metadata."""
        with locked(self.directory / ".lock"):
            for spec in specs:
                self._check_repo(spec.repo)
                build_rpm(spec, self.root / spec.repo)
            for repo in RPM_REPOS:
                self._index(repo, specs)

    def publish(self, spec: RpmSpec, known: Sequence[RpmSpec] = ()) -> Path:
        """Build one more spec (a new version while servers run) and reindex its repository."""
        self._check_repo(spec.repo)
        with locked(self.directory / ".lock"):
            path = build_rpm(spec, self.root / spec.repo)
            self._index(spec.repo, [*known, spec])
        return path

    def _check_repo(self, repo: str) -> None:
        if repo not in RPM_REPOS:
            raise ValueError(f"unknown RPM repository {repo!r}; the lab has {', '.join(RPM_REPOS)}")

    def _index(self, repo: str, specs: Sequence[RpmSpec]) -> None:
        folder = self.root / repo
        folder.mkdir(parents=True, exist_ok=True)
        run(["createrepo_c", "--quiet", "--update", "--no-database", folder], timeout=120)
        advisories = [a for a in ADVISORIES if a.repo == repo]
        if not advisories:
            return
        with tempfile.TemporaryDirectory(prefix="lab-updateinfo-") as tmp:
            xml = Path(tmp) / "updateinfo.xml"
            xml.write_text(updateinfo_xml(advisories, [s for s in specs if s.repo == repo]))
            argv = ["modifyrepo_c", "--mdtype=updateinfo"]
            run([*argv, xml, folder / "repodata"], timeout=60)
