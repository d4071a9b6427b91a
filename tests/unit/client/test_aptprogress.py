"""apt's status pipe becomes `progress` records: parsed, rate-limited, the last one kept."""

import os
import stat
import sys
from pathlib import Path
from typing import Dict, List

from patchpilot.client.backends.aptprogress import (
    ProgressReporter,
    parse_status_line,
    run_with_status,
)


def test_status_lines_are_parsed() -> None:
    assert parse_status_line("dlstatus:3:42.5:Retrieving file 3 of 7") == ("download", 42.5)
    assert parse_status_line("pmstatus:lab-kernel:80:Installing lab-kernel") == ("install", 80.0)
    assert parse_status_line("pmerror:x.deb:50:boom") is None
    assert parse_status_line("dlstatus:1:nan-ish:x") is None
    assert parse_status_line("Get:1 http://x lab-a 1.0") is None


def test_reporter_keeps_one_record_per_interval_and_the_last() -> None:
    records: List[Dict[str, object]] = []
    now = [0.0]
    reporter = ProgressReporter(
        lambda event, level, fields: records.append(fields), 40, 8_000_000, clock=lambda: now[0]
    )
    for step in range(100):  # 100 lines over 10 s: one record per 2 s
        now[0] = step * 0.1
        reporter.feed(f"dlstatus:{step}:{step}:Retrieving")
    reporter.finish()
    assert len(records) == 6  # at 0, 2, 4, 6, 8 s and the held-back last one (99 %)
    expected = {"stage": "download", "percent": 20.0, "packages_done": 8, "packages_total": 40}
    assert records[1] == {**expected, "bytes_done": 1_600_000, "bytes_total": 8_000_000}
    assert records[-1]["percent"] == 99.0
    reporter.feed("pmstatus:lab-a:100:Installed lab-a")  # a new stage starts at once
    assert records[-1]["stage"] == "install" and records[-1]["packages_done"] == 40


def test_run_with_status_reads_the_pipe_apart_from_the_output(tmp_path: Path) -> None:
    fake = tmp_path / "apt-get"  # writes to the fd that -o APT::Status-Fd=N names, like apt
    fake.write_text(
        f"#!{sys.executable}\nimport os, sys\nfd = int(sys.argv[2].split('=')[1])\n"
        "print('Reading package lists...', flush=True)\n"
        "os.write(fd, b'pmstatus:lab-a:50:Unpacking\\npmstatus:lab-a:1')\n"
        "os.write(fd, b'00:Installed\\n')\n"
        "print('E: done', file=sys.stderr)\nsys.exit(3)\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    lines: List[str] = []
    output, code = run_with_status([str(fake), "install"], dict(os.environ), lines.append)
    assert code == 3
    assert output == "Reading package lists...\nE: done\n"
    assert lines == ["pmstatus:lab-a:50:Unpacking", "pmstatus:lab-a:100:Installed"]
