"""The activity journal: numbered records kept in memory and appended to a 0600 jsonl file.

A record is `{"seq", "ts", "level", "event", "fields"}`; `seq` starts at 1 and has no gaps. The
file is bounded: past `max_bytes` minus a reserve, debug/info records that are not essential are
dropped (once, a `journal.truncated` warning says so), so the final result always fits. Readers
(log sessions) wait on the journal's condition for new records; appending never blocks on them.
"""

import json
import os
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from patchpilot.protocol.parts import PART_SUFFIX, split_fields

__all__ = [
    "ESSENTIAL_EVENTS",
    "FINAL_EVENT",
    "LEVELS",
    "Journal",
    "format_ts",
    "parse_journal",
]

Record = Dict[str, Any]

LEVELS = ("debug", "info", "warning", "error")
FINAL_EVENT = "round.result"
_ESSENTIAL = (
    "run.started",
    "job.refused",
    "scan.done",
    "plan.selected",
    "update.result",
    FINAL_EVENT,
    "reboot.requested",
    "log.not_collected",
    "journal.truncated",
)
ESSENTIAL_EVENTS = frozenset(_ESSENTIAL + tuple(e + PART_SUFFIX for e in _ESSENTIAL))
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
_RESERVE = 256 * 1024


def format_ts(epoch: float) -> str:
    """Return the UTC timestamp of a record, milliseconds and a Z."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    return "%s.%03dZ" % (whole, int(epoch * 1000) % 1000)


def parse_journal(data: bytes) -> Tuple[List[Record], int]:
    """Return the records of a journal file and the length of the good prefix, in bytes.

    Parsing stops at a torn, unreadable or out-of-sequence line: a client killed mid-write
    leaves a partial last line, and everything before it is kept.
    """
    records: List[Record] = []
    good = 0
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            record = json.loads(line.decode("utf-8"))
        except ValueError:
            break
        if not isinstance(record, dict) or record.get("seq") != len(records) + 1:
            break
        records.append(record)
        good += len(line)
    return records, good


class Journal:
    """Numbered records in memory and on disk; `wait_after` lets readers follow it live."""

    def __init__(self, path: Optional[str], max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._path = path
        self._max = max_bytes
        self._records: List[Record] = []
        self._size = 0
        self._truncated = False
        self._finished = False
        self._cond = threading.Condition()
        if path is not None and os.path.exists(path):
            self._reload(path)

    @classmethod
    def snapshot(cls, path: str) -> "Journal":
        """Return a finished, in-memory copy of the journal file at path (empty if none)."""
        journal = cls(None)
        try:
            with open(path, "rb") as handle:
                journal._records, journal._size = parse_journal(handle.read())
        except FileNotFoundError:
            pass
        journal.finish()
        return journal

    def _reload(self, path: str) -> None:
        with open(path, "rb") as handle:
            data = handle.read()
        self._records, good = parse_journal(data)
        if good != len(data):  # drop a torn tail so the next line starts clean
            with open(path, "r+b") as handle:
                handle.truncate(good)
        self._size = good

    @property
    def last_seq(self) -> int:
        with self._cond:
            return len(self._records)

    @property
    def is_finished(self) -> bool:
        with self._cond:
            return self._finished

    def records(self) -> List[Record]:
        with self._cond:
            return list(self._records)

    def final_seq(self) -> Optional[int]:
        """Return the seq of the last round.result record, if any."""
        with self._cond:
            for record in reversed(self._records):
                if record.get("event") == FINAL_EVENT:
                    return int(record["seq"])
        return None

    def append(self, event: str, level: str = "info", **fields: Any) -> Optional[Record]:
        """Record an event; return it, or None when the size bound dropped it."""
        return self.record(event, level, fields)

    def record(self, event: str, level: str, fields: Dict[str, Any]) -> Optional[Record]:
        """Record an event with its fields as a dict (see append).

        Fields too large for one frame are written as parts first (client/parts.py), all
        under one lock so no other record comes between; the last record is returned.
        """
        if level not in LEVELS:
            raise ValueError("unknown level %r" % level)
        sets = split_fields(fields)
        with self._cond:
            if not self._fits(event, level):
                return None
            for part in sets[:-1]:
                self._store(self._make(event + PART_SUFFIX, level, part))
            record = self._make(event, level, sets[-1])
            self._store(record)
            self._cond.notify_all()
            return record

    def _fits(self, event: str, level: str) -> bool:
        essential = event in ESSENTIAL_EVENTS or level in ("warning", "error")
        if essential or self._size < self._max - _RESERVE:
            return self._size < self._max or event == FINAL_EVENT
        if not self._truncated:
            self._truncated = True
            self._store(self._make("journal.truncated", "warning", {"max_bytes": self._max}))
        return False

    def _make(self, event: str, level: str, fields: Dict[str, Any]) -> Record:
        return {
            "seq": len(self._records) + 1,
            "ts": format_ts(time.time()),
            "level": level,
            "event": event,
            "fields": fields,
        }

    def _store(self, record: Record) -> None:
        line = _line(record)
        if self._path is not None:
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        self._records.append(record)
        self._size += len(line)

    def finish(self) -> None:
        """Say no more records will come: live readers send what is left and say bye."""
        with self._cond:
            self._finished = True
            self._cond.notify_all()

    def wait_after(self, seq: int, timeout: float) -> List[Record]:
        """Return the records from seq on, waiting up to timeout seconds for one to arrive."""
        with self._cond:
            if len(self._records) < seq and not self._finished:
                self._cond.wait(timeout)
            return self._records[max(seq, 1) - 1 :]


def _line(record: Record) -> bytes:
    return (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")
