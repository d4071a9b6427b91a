"""Progress of an apt-get download or install, read from apt's status pipe (APT::Status-Fd).

apt writes machine-readable lines to the file descriptor `-o APT::Status-Fd=N` names:
`dlstatus:ITEM:PERCENT:TEXT` while downloading (percent of the bytes) and
`pmstatus:PACKAGE:PERCENT:TEXT` while dpkg unpacks and configures. They become `progress`
journal records (packages and bytes done of total) at most one per `every` seconds, plus the
last one, so a long round reports how far it is without flooding the journal.
"""

import os
import selectors
import subprocess
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from patchpilot.client.backends.base import Emit

__all__ = ["ProgressReporter", "parse_status_line", "run_with_status"]

PROGRESS_EVENT = "progress"


def parse_status_line(line: str) -> Optional[Tuple[str, float]]:
    """Return (stage, percent) for a dlstatus/pmstatus line, None for any other line."""
    parts = line.strip().split(":", 3)
    if len(parts) < 3 or parts[0] not in ("dlstatus", "pmstatus"):
        return None
    try:
        percent = max(0.0, min(100.0, float(parts[2])))
    except ValueError:
        return None
    return ("download" if parts[0] == "dlstatus" else "install"), percent


class ProgressReporter:
    """Turn status lines into `progress` records, at most one per `every` seconds per stage."""

    def __init__(
        self,
        emit: Emit,
        packages: int,
        size: int,
        every: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self._packages = packages
        self._size = size
        self._every = every
        self._clock = clock
        self._last: Dict[str, float] = {}
        self._pending: Optional[Tuple[str, float]] = None

    def feed(self, line: str) -> None:
        """Take one status line; journal it when the last record of its stage is old enough."""
        parsed = parse_status_line(line)
        if parsed is None:
            return
        stage, percent = parsed
        now = self._clock()
        last = self._last.get(stage)
        if last is not None and now - last < self._every and percent < 100.0:
            self._pending = parsed
            return
        self._report(stage, percent, now)

    def finish(self) -> None:
        """Journal the last status held back by the rate limit, so the end is always seen."""
        if self._pending is not None:
            self._report(*self._pending, self._clock())

    def _report(self, stage: str, percent: float, now: float) -> None:
        self._last[stage], self._pending = now, None
        fields: Dict[str, object] = {
            "stage": stage,
            "percent": round(percent, 1),
            "packages_done": int(self._packages * percent / 100.0),
            "packages_total": self._packages,
        }
        if stage == "download" and self._size:
            fields.update(bytes_done=int(self._size * percent / 100.0), bytes_total=self._size)
        self._emit(PROGRESS_EVENT, "info", fields)


def run_with_status(
    argv: Sequence[str], env: Dict[str, str], on_line: Callable[[str], None]
) -> Tuple[str, int]:
    """Run apt-get argv with a status pipe; feed each status line to on_line as it comes.

    One thread reads both apt's output and the status pipe (so records are journaled from
    the round's own thread). Returns (stdout and stderr interleaved, exit status).
    """
    read_fd, write_fd = os.pipe()
    full: List[str] = [argv[0], "-o", "APT::Status-Fd=%d" % write_fd, *argv[1:]]
    try:
        proc = subprocess.Popen(
            full,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            pass_fds=(write_fd,),
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    assert proc.stdout is not None
    output: List[bytes] = []
    status = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout.fileno(), selectors.EVENT_READ, "out")
        selector.register(read_fd, selectors.EVENT_READ, "status")
        while selector.get_map():
            for key, _ in selector.select():
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fd)
                elif key.data == "out":
                    output.append(chunk)
                else:
                    *lines, status = (status + chunk).split(b"\n")
                    for line in lines:
                        on_line(line.decode("utf-8", "replace"))
    os.close(read_fd)
    proc.stdout.close()
    return b"".join(output).decode("utf-8", "replace"), proc.wait()
