"""Where a lab keeps its files: one folder per lab, the same names for every lab.

Both sides use it: the `Lab` facade (any process) and the lab's supervisor daemon.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["LabLayout"]


@dataclass(frozen=True)
class LabLayout:
    """Paths inside one lab folder."""

    directory: Path

    @property
    def config(self) -> Path:
        """The supervisor's start parameters (subnet index, base image, repository port)."""
        return self.directory / "lab.json"

    @property
    def state(self) -> Path:
        """What the supervisor last reported about its servers."""
        return self.directory / "state.json"

    @property
    def control(self) -> Path:
        return self.directory / "control.sock"

    @property
    def pid(self) -> Path:
        return self.directory / "supervisor.pid"

    @property
    def log(self) -> Path:
        return self.directory / "supervisor.log"

    @property
    def servers(self) -> Path:
        return self.directory / "servers"

    @property
    def netns(self) -> Path:
        """Namespace pins (a tmpfs private to the supervisor's mount namespace)."""
        return self.directory / "netns"

    @property
    def repo(self) -> Path:
        return self.directory / "repo"

    @property
    def key(self) -> Path:
        return self.directory / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.directory / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.directory / "ssh_config"

    @property
    def inventory(self) -> Path:
        return self.directory / "inventory.yml"
