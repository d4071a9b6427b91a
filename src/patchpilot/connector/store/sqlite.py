"""The default state store: one SQLite file (`state.sqlite`, 0600) in the connector host's
0700 state folder. The run secret rests in clear there: the file is as private as the
connector's own key files, and nothing else ever reads it.

Durability: a commit survives the connector's own crash (kill -9) at once (WAL,
`synchronous=NORMAL`). Before something the target cannot undo, the connector also awaits
`flush()`, so what it stored survives the machine's crash too: before a round is launched,
and before a round's final record is acknowledged (the client may reboot on it). `flush`
runs fsync on the WAL in a worker thread, and callers waiting at the same time share one
fsync. An fsync per write, on the event loop, made 200 simulated servers take 20.6 s instead
of 8.4 s, with the loop's lag at 0.7 s (p99), and grew with the fleet (bench/fleet_sim.py).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from patchpilot.connector.store.base import SCHEMA, Store, default_state_dir
from patchpilot.errors import StateError

__all__ = ["SQLiteStore", "open_state_dir"]


def open_state_dir(state_dir: str | Path | None) -> Path:
    """Return the state folder (default_state_dir() when None), created 0700; StateError."""
    directory = Path(state_dir) if state_dir else default_state_dir()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(f"cannot use state dir {directory}: {exc.strerror}") from exc
    return directory


class SQLiteStore(Store):
    """The store in one SQLite file; open with open_store(state_dir)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.folder = path.parent
        self.location = str(path)
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StateError(f"state store {path}: {exc}") from exc
        self._commits = self._flushed = 0
        self._flushing: asyncio.Future[None] | None = None

    @classmethod
    def in_folder(cls, state_dir: str | Path | None) -> SQLiteStore:
        """Open (creating 0700/0600) the store in state_dir; raise StateError if unusable."""
        directory = open_state_dir(state_dir)
        path = directory / "state.sqlite"
        try:
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            os.chmod(path, 0o600)
        except OSError as exc:
            raise StateError(f"cannot use state dir {directory}: {exc.strerror}") from exc
        return cls(path)

    def close(self) -> None:
        self._db.close()

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, tuple(args)).fetchall()
        except sqlite3.Error as exc:
            raise StateError(f"state store {self.path}: {exc}") from exc

    def _iter_rows(self, sql: str, args: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        try:
            cursor = self._db.execute(sql, tuple(args))
            while batch := cursor.fetchmany(256):
                yield from batch
        except sqlite3.Error as exc:
            raise StateError(f"state store {self.path}: {exc}") from exc

    def _change(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        try:
            with self._db:
                changed = self._db.executemany(sql, [tuple(r) for r in rows]).rowcount
        except sqlite3.Error as exc:
            raise StateError(f"state store {self.path}: {exc}") from exc
        self._commits += 1
        return changed

    async def flush(self) -> None:
        """Return once every commit so far is on the disk (see the module docstring)."""
        wanted = self._commits
        while self._flushed < wanted:
            if self._flushing is None or self._flushing.done():
                self._flushing = asyncio.ensure_future(self._fsync())
            await asyncio.shield(self._flushing)

    async def _fsync(self) -> None:
        upto = self._commits
        try:
            await asyncio.to_thread(_fsync, Path(f"{self.path}-wal"))
        except OSError as exc:
            raise StateError(f"state store {self.path}: cannot flush: {exc.strerror}") from exc
        self._flushed = max(self._flushed, upto)


def _fsync(path: Path) -> None:
    """Flush a file to the disk (no-op when it is not there: nothing written yet)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
