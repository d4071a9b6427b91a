"""A large package for --download-limit's lab test and benchmark: `lab-big` 1.0 (tiny) is
installed on a server, 2.0 (SIZE bytes of incompressible text) waits in the lab's repository.

Both versions are published once per lab (apt: the `bookworm` suite; RPM: the `lab`
repository), so any server of either family can be given the old one and upgrade to the new.
The content is seeded random bytes in base64: the package tools' compression saves a quarter
at most, so the file a server downloads is close to SIZE.
"""

from __future__ import annotations

import base64
import random
from datetime import datetime
from pathlib import Path
from typing import Any

from patchpilot.lab.debs import PackageSpec, deb_filename
from patchpilot.lab.lab import Lab
from patchpilot.lab.rpmcatalog import RPM_CATALOG
from patchpilot.lab.rpmrepo import RpmRepository
from patchpilot.lab.rpms import RpmSpec, rpm_filename
from patchpilot.lab.server import Server

__all__ = ["BIG", "BIG_SIZE", "install_seconds", "put_big_package"]

BIG = "lab-big"
BIG_SIZE = 8 << 20  # text bytes; the package file is ~6.3 MiB (base64 of random bytes)
_PATH = "/usr/share/lab/lab-big.data"
_FETCH = "import sys, urllib.request as u; u.urlretrieve(sys.argv[1], sys.argv[2])"


def _data(size: int) -> str:
    raw = random.Random(size).randbytes(size * 3 // 4)  # noqa: S311 - filler, not a secret
    return base64.encodebytes(raw).decode()


def put_big_package(lab: Lab, server: Server, size: int = BIG_SIZE) -> int:
    """Install lab-big 1.0 on server and publish 2.0 (about size bytes); return the size of
    the file the server will download for 2.0."""
    if server.flavor == "apt":
        return _put_deb(lab, server, size)
    return _put_rpm(lab, server, size)


def _put_deb(lab: Lab, server: Server, size: int) -> int:
    old, new = PackageSpec(BIG, "1.0"), PackageSpec(BIG, "2.0", files=((_PATH, _data(size)),))
    pool = lab.layout.repo / "pool" / old.suite
    for spec in (old, new):
        if not (pool / deb_filename(spec)).exists():
            lab.repo.publish(spec)
    script = (
        f"apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {BIG}=1.0"
    )
    lab.ssh(server.name, ["sh", "-c", script])
    return (pool / deb_filename(new)).stat().st_size


def _put_rpm(lab: Lab, server: Server, size: int) -> int:
    old, new = RpmSpec(BIG, "1.0"), RpmSpec(BIG, "2.0", files=((_PATH, _data(size)),))
    repo = RpmRepository(lab.layout.repo)
    folder = repo.root / old.repo
    for spec in (old, new):
        if not (folder / rpm_filename(spec)).exists():
            repo.publish(spec, RPM_CATALOG)
    url = f"{lab.repo.url}rpm/{old.repo}/{rpm_filename(old)}"
    lab.ssh(server.name, ["python3", "-c", _FETCH, url, "/tmp/lab-big.rpm"])
    lab.ssh(server.name, ["rpm", "-i", "/tmp/lab-big.rpm"])
    return Path(folder / rpm_filename(new)).stat().st_size


def install_seconds(records: list[dict[str, Any]]) -> float:
    """Return the seconds from round 1's plan to lab-big's result in a run's journal (its
    download and install: what the cap slows), from the records' timestamps."""
    first = [r for r in records if r.get("round") == 1]
    start = next(r["ts"] for r in first if r["event"] == "plan.selected")
    end = next(r["ts"] for r in first if r["event"] == "update.result" and r["fields"]["id"] == BIG)
    return (_when(end) - _when(start)).total_seconds()


def _when(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))
