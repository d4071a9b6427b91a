"""Benchmark --download-limit: the rate a large package is fetched at, with and without a cap.

Run as root: `.venv/bin/python bench/download_limit.py [--flavors apt,dnf]
[--caps 512k,2M]`. For each flavor, one fresh lab server per measurement gets lab-big 1.0
and upgrades to 2.0 (lab/bigpackage.py, about 6 MiB) through a real `patchpilot run`; the
rate is the package file's size over the seconds from the round's plan to lab-big's result
in the run's journal (download plus install). Prints one JSON object; docs/benchmarks.md
("Download limit") quotes it.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from patchpilot.connector import RunOptions
from patchpilot.lab import Lab
from patchpilot.lab.bigpackage import BIG, install_seconds, put_big_package

PATCHPILOT = str(Path(sys.executable).with_name("patchpilot"))


def _records(state: Path, run_id: str) -> list[dict[str, Any]]:
    with sqlite3.connect(state / "state.sqlite") as db:
        rows = db.execute(
            "SELECT round, record FROM journal WHERE run_id = ? ORDER BY round, seq", (run_id,)
        ).fetchall()
    return [{"round": r, **json.loads(body)} for r, body in rows]


def measure(lab: Lab, flavor: str, cap: str | None, folder: Path) -> dict[str, Any]:
    """Upgrade lab-big on a fresh server of flavor (capped or not); return size, seconds, rate."""
    server = lab.add_server(flavor=flavor)
    try:
        size = put_big_package(lab, server)
        state = folder / f"{flavor}-{cap or 'none'}"
        limit = ["--download-limit", cap] if cap else []
        argv = [
            PATCHPILOT, "run", server.name, "-F", str(lab.ssh_config_path), "--state-dir",
            str(state), "--run-id", "bench", "--include", BIG, "--reboot", "never",
            "--stability-window", "1", "--log-format", "json", *limit,
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{flavor} {cap}: exit {done.returncode}: {done.stderr[-2000:]}")
        seconds = install_seconds(_records(state, "bench"))
    finally:
        lab.remove_server(server.name)
    capped = RunOptions(download_limit=cap).download_limit_bytes if cap else None
    return {
        "flavor": flavor,
        "cap_bytes_per_s": capped,
        "package_bytes": size,
        "seconds": round(seconds, 2),
        "rate_bytes_per_s": round(size / seconds),
        "rate_over_cap": round(size / seconds / capped, 3) if capped else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flavors", default="apt,dnf")
    parser.add_argument("--caps", default="512k,2M")
    args = parser.parse_args()
    caps: list[str | None] = [None, *args.caps.split(",")]
    with tempfile.TemporaryDirectory(prefix="pp-dl-bench-") as tmp:
        folder = Path(tmp)
        lab = Lab(folder / "lab")
        lab.up(0)
        try:
            rows = [
                measure(lab, flavor, cap, folder)
                for flavor in args.flavors.split(",")
                for cap in caps
            ]
        finally:
            lab.down()
    print(json.dumps({"download_limit": rows}, indent=1))


if __name__ == "__main__":
    main()
