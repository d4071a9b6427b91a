"""The RPM servers' catalog: the apt catalog's twin, with advisories (updateinfo).

Old versions are installed on the RPM images; newer ones are in the lab's RPM repositories
(`lab`, and `lab-stage2`, which `lab-servicing` 2.0's %post enables). Applying everything to a
fresh server takes two rounds: round 1 upgrades the ordinary packages, `lab-kernel` and
`lab-servicing` (both listed as reboot-requiring for `dnf needs-restarting -r`; on zypper
servers, `installhint(reboot-needed)` makes libzypp flag the reboot); after the reboot,
round 2 finds `lab-stage2-x` 2.0. `lab-epoch` 1:0.9 replaces 1.0 (an epoch beats a version).
`lab-release` provides what a distribution's release package would (`/bin/sh` for
scriptlets, `system-release(releasever)` for dnf). The opt-in packages (`lab-fail`, whose
%post fails, `lab-slow`, and the daemon `lab-svcd` on `lab-svc-lib`'s library: catalog.py) are
not on the images; `Lab.install_opt_in` puts them there.
"""

from __future__ import annotations

from dataclasses import dataclass

from patchpilot.lab.catalog import SVC_FILES, SVC_LIBRARY, SVC_START
from patchpilot.lab.rpms import RpmSpec

__all__ = [
    "ADVISORIES",
    "REBOOT_PACKAGES",
    "RECENT_ISSUED",
    "RPM_BASE_INSTALLED",
    "RPM_CATALOG",
    "RPM_FINAL_VERSIONS",
    "RPM_OPT_IN_INITIAL",
    "RPM_REPOS",
    "STAGE2_REPO_FILES",
    "Advisory",
]

RPM_REPOS = ("lab", "lab-stage2")
REBOOT_PACKAGES = ("lab-kernel", "lab-servicing")
STAGE2_REPO_FILES = {
    "/etc/yum.repos.d/lab-stage2.repo": "[lab-stage2]\nname=lab-stage2\n"
    "baseurl={url}rpm/lab-stage2/\nenabled=1\ngpgcheck=0\nmetadata_expire=0\n",
    "/etc/zypp/repos.d/lab-stage2.repo": "[lab-stage2]\nname=lab-stage2\nenabled=1\n"
    "autorefresh=1\nbaseurl={url}rpm/lab-stage2/\ntype=rpm-md\ngpgcheck=0\n",
}
_SLOW_SECONDS_FILE = "/etc/lab-slow.seconds"


def _enable_stage2() -> str:
    """Return the %post lines that add the stage2 repository for whichever tool is there."""
    lines = ['url="$(cat /etc/lab-repo-url)"']
    for path, content in STAGE2_REPO_FILES.items():
        body = content.replace("{url}", "${url}")
        folder = path.rsplit("/", 1)[0]
        lines.append(f'if [ -d {folder} ]; then printf "{body}" > {path}; fi'.replace("\n", "\\n"))
    return "\n".join(lines) + "\n"


def _spec(
    name: str,
    version: str,
    *,
    epoch: int | None = None,
    repo: str = "lab",
    requires: tuple[str, ...] = (),
    provides: tuple[str, ...] = (),
    post: str | None = None,
    extra: tuple[tuple[str, str], ...] = (),
) -> RpmSpec:
    files = ((f"/usr/share/lab/{name}.version", f"{version}\n"), *extra)
    return RpmSpec(
        name,
        version,
        epoch=epoch,
        repo=repo,
        requires=requires,
        provides=provides,
        files=files,
        post=post,
    )


_RELEASE = ("/bin/sh", "/usr/bin/sh", "system-release", "system-release(releasever) = 12")

RPM_BASE_INSTALLED: tuple[RpmSpec, ...] = (
    _spec("lab-release", "12", provides=_RELEASE),
    _spec("lab-base-a", "1.0"),
    _spec("lab-base-b", "1.0", requires=("lab-base-a >= 1.0",)),
    _spec("lab-base-c", "1.0"),
    _spec("lab-kernel", "1.0"),
    _spec("lab-servicing", "1.0"),
    _spec("lab-security", "1.0"),
    _spec("lab-stage2-x", "1.0"),
    _spec("lab-epoch", "1.0"),
)

_REBOOT_HINT = ("installhint(reboot-needed)",)

RPM_UPDATES: tuple[RpmSpec, ...] = (
    _spec("lab-base-a", "2.0"),
    _spec("lab-base-b", "2.0", requires=("lab-base-a >= 2.0",)),
    _spec("lab-base-c", "1.1"),
    _spec("lab-kernel", "2.0", provides=_REBOOT_HINT),
    _spec("lab-servicing", "2.0", provides=_REBOOT_HINT, post=_enable_stage2()),
    _spec("lab-security", "1.1"),
    _spec("lab-epoch", "0.9", epoch=1),
    _spec("lab-stage2-x", "2.0", repo="lab-stage2"),
)

RPM_OPT_IN_INITIAL: dict[str, RpmSpec] = {
    "lab-fail": _spec("lab-fail", "1.0"),
    "lab-slow": _spec("lab-slow", "1.0"),
    "lab-svc-lib": _spec("lab-svc-lib", "1.0", extra=((SVC_LIBRARY, "lab library 1.0\n"),)),
    "lab-svcd": _spec(
        "lab-svcd", "1.0", requires=("lab-svc-lib",), post=SVC_START, extra=SVC_FILES
    ),
}

RPM_OPT_IN: tuple[RpmSpec, ...] = (
    *RPM_OPT_IN_INITIAL.values(),
    _spec("lab-fail", "2.0", post='echo "lab-fail: simulated scriptlet failure" >&2\nexit 1\n'),
    _spec("lab-slow", "2.0", post=f'sleep "$(cat {_SLOW_SECONDS_FILE} 2>/dev/null || echo 5)"\n'),
    _spec("lab-svc-lib", "2.0", extra=((SVC_LIBRARY, "lab library 2.0\n"),)),
)

RPM_CATALOG: tuple[RpmSpec, ...] = (*RPM_BASE_INSTALLED, *RPM_UPDATES, *RPM_OPT_IN)

RPM_FINAL_VERSIONS: dict[str, str] = {spec.name: spec.evr for spec in RPM_UPDATES}
"""Every base package's epoch:version-release once all updates are applied (two rounds)."""


@dataclass(frozen=True)
class Advisory:
    """One updateinfo entry: what a distribution's errata says about some updates."""

    id: str
    kind: str  # security | bugfix | enhancement
    severity: str  # Critical | Important | Moderate | Low
    title: str
    packages: tuple[str, ...]  # package names; their version is the repo's update
    cves: tuple[str, ...] = ()
    reboot_suggested: bool = False
    repo: str = "lab"
    # updateinfo's <issued date>: "YYYY-MM-DD HH:MM:SS" (Fedora, RHEL) or seconds since the
    # epoch (SUSE); --min-age counts from it.
    issued: str = "2026-01-15 00:00:00"


RECENT_ISSUED = 1795132800  # 2026-11-20 00:00:00 UTC: LAB-2026:0001; the others: 2026-01-15
ADVISORIES: tuple[Advisory, ...] = (
    Advisory(
        "LAB-2026:0001",
        "security",
        "Important",
        "lab-security fix",
        ("lab-security",),
        ("CVE-2026-1001",),
        issued=str(RECENT_ISSUED),  # 2026-11-20 00:00:00 UTC, as SUSE writes it
    ),
    Advisory(
        "LAB-2026:0002",
        "security",
        "Critical",
        "lab-kernel fix",
        ("lab-kernel",),
        ("CVE-2026-1002", "CVE-2026-1003"),
        reboot_suggested=True,
    ),
    Advisory(
        "LAB-2026:0003",
        "bugfix",
        "Moderate",
        "lab-base fixes",
        ("lab-base-a", "lab-base-b"),
    ),
    Advisory("LAB-2026:0004", "enhancement", "Low", "lab-base-c update", ("lab-base-c",)),
    Advisory(
        "LAB-2026:0005",
        "bugfix",
        "Moderate",
        "stage 2 update",
        ("lab-stage2-x",),
        repo="lab-stage2",
    ),
)
