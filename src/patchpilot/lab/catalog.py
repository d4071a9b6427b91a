"""The built-in package catalog every lab starts with, and the end state it leads to.

Old versions are installed on the base image; newer ones are in the lab repository. Applying
everything to a fresh server takes two rounds: round 1 upgrades the ordinary packages,
`lab-kernel` (marks reboot-required) and `lab-servicing` (marks reboot-required and enables
the `bookworm-stage2` suite); after the reboot, round 2 finds `lab-stage2-x` 2.0 there.
`lab-security` 1.1 comes from `bookworm-security`, labelled like Debian's security archive.
The opt-in packages (`lab-fail`, `lab-conffile`, `lab-slow`, `lab-svcd` with its
`lab-svc-lib`) are not on the base; put their old version on a server with
`Lab.install_opt_in`. `lab-svcd` is a daemon (`lab-svcd.service`, enabled and started by its
postinst) that maps `lab-svc-lib`'s library as code, as a program maps a shared library: once
`lab-svc-lib` 2.0 replaces the file, the daemon runs a deleted file until it restarts, and
nothing asks for a reboot (`--reboot services`, docs/reboots.md).
"""

from __future__ import annotations

from patchpilot.lab.debs import PackageSpec

__all__ = [
    "BASE_INSTALLED",
    "CATALOG",
    "CONFFILE_PATH",
    "FINAL_VERSIONS",
    "OPT_IN",
    "OPT_IN_FINAL_VERSIONS",
    "OPT_IN_INITIAL",
    "REPO_URL_FILE",
    "SLOW_SECONDS_FILE",
    "STAGE2_LIST",
    "SVC_LIBRARY",
    "SVC_UNIT",
]

REPO_URL_FILE = "/etc/lab-repo-url"
STAGE2_LIST = "/etc/apt/sources.list.d/lab-stage2.list"
CONFFILE_PATH = "/etc/lab-conffile.conf"
SLOW_SECONDS_FILE = "/etc/lab-slow.seconds"

_REBOOT_REQUIRED = """if [ "$1" = configure ]; then
  echo '*** System restart required ***' > /var/run/reboot-required
  echo {name} >> /var/run/reboot-required.pkgs
fi
"""
_ENABLE_STAGE2 = f"""if [ "$1" = configure ]; then
  echo "deb [trusted=yes] $(cat {REPO_URL_FILE}) bookworm-stage2 main" > {STAGE2_LIST}
fi
"""
SVC_LIBRARY = "/usr/lib/lab/liblabsvc.so.1"
SVC_UNIT = "lab-svcd.service"
SVC_DAEMON = f"""import mmap
import time

with open("{SVC_LIBRARY}", "rb") as handle:  # mapped as code, as ld.so maps a library
    code = mmap.mmap(
        handle.fileno(), 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_EXEC
    )
while True:
    time.sleep(3600)
"""
SVC_UNIT_FILE = f"""[Unit]
Description=patchpilot lab daemon on {SVC_LIBRARY}

[Service]
ExecStart=/usr/bin/python3 /usr/lib/lab/lab-svcd

[Install]
WantedBy=multi-user.target
"""
SVC_FILES = (
    ("/usr/lib/lab/lab-svcd", SVC_DAEMON),
    (f"/etc/systemd/system/{SVC_UNIT}", SVC_UNIT_FILE),
)
SVC_START = f"systemctl daemon-reload && systemctl enable --now {SVC_UNIT}\n"
_FAIL = 'echo "lab-fail: simulated maintainer-script failure" >&2\nexit 1\n'
_SLOW = f"""if [ "$1" = configure ]; then
  sleep "$(cat {SLOW_SECONDS_FILE} 2>/dev/null || echo 5)"
fi
"""


def _spec(
    name: str,
    version: str,
    *,
    suite: str = "bookworm",
    depends: tuple[str, ...] = (),
    postinst: str | None = None,
    conffile: str | None = None,
    extra: tuple[tuple[str, str], ...] = (),
) -> PackageSpec:
    files = [(f"/usr/share/lab/{name}.version", f"{version}\n"), *extra]
    conffiles: tuple[str, ...] = ()
    if conffile is not None:
        files.append((CONFFILE_PATH, conffile))
        conffiles = (CONFFILE_PATH,)
    return PackageSpec(
        name,
        version,
        suite,
        depends,
        description=f"patchpilot lab package {name}",
        files=tuple(files),
        conffiles=conffiles,
        postinst=postinst,
    )


BASE_INSTALLED: tuple[PackageSpec, ...] = (
    _spec("lab-base-a", "1.0"),
    _spec("lab-base-b", "1.0", depends=("lab-base-a (>= 1.0)",)),
    _spec("lab-base-c", "1.0"),
    _spec("lab-kernel", "1.0"),
    _spec("lab-servicing", "1.0"),
    _spec("lab-security", "1.0"),
    _spec("lab-stage2-x", "1.0"),
)

UPDATES: tuple[PackageSpec, ...] = (
    _spec("lab-base-a", "2.0"),
    _spec("lab-base-b", "2.0", depends=("lab-base-a (>= 2.0)",)),
    _spec("lab-base-c", "1.1"),
    _spec("lab-kernel", "2.0", postinst=_REBOOT_REQUIRED.format(name="lab-kernel")),
    _spec(
        "lab-servicing",
        "2.0",
        postinst=_ENABLE_STAGE2 + _REBOOT_REQUIRED.format(name="lab-servicing"),
    ),
    _spec("lab-security", "1.1", suite="bookworm-security"),
    _spec("lab-stage2-x", "2.0", suite="bookworm-stage2"),
)

OPT_IN_INITIAL: dict[str, PackageSpec] = {
    "lab-fail": _spec("lab-fail", "1.0"),
    "lab-conffile": _spec("lab-conffile", "1.0", conffile="setting = 1\n"),
    "lab-slow": _spec("lab-slow", "1.0"),
    "lab-svc-lib": _spec("lab-svc-lib", "1.0", extra=((SVC_LIBRARY, "lab library 1.0\n"),)),
    "lab-svcd": _spec(
        "lab-svcd",
        "1.0",
        depends=("lab-svc-lib",),
        postinst=f'if [ "$1" = configure ]; then\n  {SVC_START}fi\n',
        extra=SVC_FILES,
    ),
}

OPT_IN: tuple[PackageSpec, ...] = (
    *OPT_IN_INITIAL.values(),
    _spec("lab-fail", "2.0", postinst=_FAIL),
    _spec("lab-conffile", "2.0", conffile="setting = 2\n# new in 2.0\n"),
    _spec("lab-slow", "2.0", postinst=_SLOW),
    _spec("lab-svc-lib", "2.0", extra=((SVC_LIBRARY, "lab library 2.0\n"),)),
)

CATALOG: tuple[PackageSpec, ...] = (*BASE_INSTALLED, *UPDATES, *OPT_IN)

FINAL_VERSIONS: dict[str, str] = {spec.name: spec.version for spec in UPDATES}
"""Every base package's version once all updates are applied (two rounds and a reboot)."""

OPT_IN_FINAL_VERSIONS: dict[str, str] = {
    "lab-fail": "2.0",
    "lab-conffile": "2.0",
    "lab-slow": "2.0",
    "lab-svc-lib": "2.0",
    "lab-svcd": "1.0",
}
"""The newest version of each opt-in package (lab-fail's never configures successfully)."""
