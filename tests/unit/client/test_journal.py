"""The journal numbers records without gaps, survives a torn file and stays bounded."""

import json
import os
import stat
import threading
from pathlib import Path
from typing import List

from patchpilot.client.journal import Journal, format_ts, parse_journal


def test_records_are_numbered_and_written_0600(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(str(path))
    journal.append("run.started", run="r1")
    journal.append("lock.waiting", "warning", pid=42)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["seq"] for r in lines] == [1, 2]
    assert lines[1] == journal.records()[1]
    assert lines[1]["level"] == "warning" and lines[1]["fields"] == {"pid": 42}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_reload_continues_after_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    first = Journal(str(path))
    first.append("a")
    first.append("b")
    with open(path, "ab") as handle:
        handle.write(b'{"seq": 3, "ts": "x", "lev')  # killed mid-write
    second = Journal(str(path))
    assert second.last_seq == 2
    second.append("c")
    records, good = parse_journal(path.read_bytes())
    assert [r["event"] for r in records] == ["a", "b", "c"]
    assert good == path.stat().st_size


def test_parse_stops_at_a_gap() -> None:
    lines = b'{"seq":1,"event":"a"}\n{"seq":3,"event":"c"}\n'
    records, good = parse_journal(lines)
    assert [r["seq"] for r in records] == [1]
    assert good == len(b'{"seq":1,"event":"a"}\n')


def test_bound_drops_chatter_but_keeps_the_result(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path / "j.jsonl"), max_bytes=300 * 1024)
    for index in range(2000):
        journal.append("apt.progress", "debug", line="x" * 100, index=index)
    journal.append("round.result", status="success")
    events = [r["event"] for r in journal.records()]
    assert events.count("journal.truncated") == 1
    assert events[-1] == "round.result"
    assert [r["seq"] for r in journal.records()] == list(range(1, len(events) + 1))
    assert (tmp_path / "j.jsonl").stat().st_size < 300 * 1024


def test_waiters_wake_on_append_and_finish() -> None:
    journal = Journal(None)
    got: List[List[dict]] = []
    thread = threading.Thread(target=lambda: got.append(journal.wait_after(1, 5.0)))
    thread.start()
    journal.append("x")
    thread.join(5.0)
    assert got[0][0]["event"] == "x"
    journal.finish()
    assert journal.wait_after(2, 5.0) == []


def test_snapshot_is_finished_and_read_only(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    Journal(str(path)).append("round.result", status="nothing")
    snap = Journal.snapshot(str(path))
    assert snap.is_finished and snap.final_seq() == 1
    assert Journal.snapshot(str(tmp_path / "missing")).last_seq == 0


def test_timestamps_are_utc_with_milliseconds() -> None:
    assert format_ts(1764036003.12) == "2025-11-25T02:00:03.120Z"
