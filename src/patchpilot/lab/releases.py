"""The Debian releases a lab server can run: bullseye (11), bookworm (12, the default), trixie (13).

Each release is a base image of its own, debootstrapped from Debian's archive with the same
recipe (`base.py`), so a server of that release has Debian's own Python, apt and dpkg:
bullseye's Python 3.9 and apt 2.2, bookworm's 3.11 and 2.6, trixie's 3.13 and apt 3.0 (its
new solver and output). What differs per release is only what the recipe must say
differently: sshd options that release's OpenSSH knows, and how its systemd boots in a
container on this machine's cgroup v1.
"""

from __future__ import annotations

from dataclasses import dataclass

from patchpilot.lab.errors import LabError

__all__ = ["DEFAULT_RELEASE", "RELEASES", "DebianRelease", "debian_release"]


@dataclass(frozen=True)
class DebianRelease:
    """A Debian release as the lab builds it, and what it ships (for docs and tests)."""

    codename: str
    version_id: str  # /etc/os-release VERSION_ID
    python: str
    apt: str
    # OpenSSH before 8.7 (bullseye's 8.4) does not know KbdInteractiveAuthentication and
    # refuses to start with it; its own sshd_config already says ChallengeResponseAuthentication no.
    has_kbd_interactive: bool = True
    # systemd 256 and later refuse to boot on cgroup v1 (this machine's, and so nspawn's)
    # unless told on PID 1's command line (a container's kernel command line).
    init_args: tuple[str, ...] = ()
    config: tuple[tuple[str, str], ...] = ()  # more lab files (path, content) for this release


RELEASES: dict[str, DebianRelease] = {
    "bullseye": DebianRelease("bullseye", "11", "3.9", "2.2", has_kbd_interactive=False),
    "bookworm": DebianRelease("bookworm", "12", "3.11", "2.6"),
    "trixie": DebianRelease(
        "trixie",
        "13",
        "3.13",
        "3.0",
        init_args=("SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1",),
        # systemd 257's user manager (user@0, started by a login) took 80-90 s to stop on
        # cgroup v1, waiting out its own units' 90 s stop timeout: a reboot with a login
        # open (a connector's, or one killed mid-round) took that long; now 5 s at most.
        config=(
            ("etc/systemd/user.conf.d/lab.conf", "[Manager]\nDefaultTimeoutStopSec=5s\n"),
            ("etc/systemd/system/user@.service.d/lab.conf", "[Service]\nTimeoutStopSec=5s\n"),
        ),
    ),
}
DEFAULT_RELEASE = "bookworm"


def debian_release(codename: str) -> DebianRelease:
    """Return the release called codename; LabError naming the known ones."""
    try:
        return RELEASES[codename]
    except KeyError:
        known = ", ".join(RELEASES)
        raise LabError(f"unknown Debian release {codename!r} (one of {known})") from None
