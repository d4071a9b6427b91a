"""The connector's SQLite state store: runs, rounds, update results, journal records, secrets.

One file (`state.sqlite`, mode 0600, in a 0700 state dir) holds every run, so a killed
connector resumes where it stopped and `status`/`result` read it. Every write commits at once:
the store is the connector's memory across crashes. Use from one thread (asyncio is fine).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

from patchpilot.connector.phase import RoundPhase
from patchpilot.connector.plan import UpdateResult
from patchpilot.connector.secret import Secret
from patchpilot.errors import StateError

__all__ = ["RoundRow", "RunRow", "Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, target TEXT NOT NULL, mode TEXT NOT NULL, options TEXT NOT NULL,
    secret TEXT NOT NULL, status TEXT NOT NULL, exit_code INTEGER, started TEXT NOT NULL,
    finished TEXT, plan TEXT, result TEXT);
CREATE TABLE IF NOT EXISTS rounds (
    run_id TEXT NOT NULL, round INTEGER NOT NULL, phase TEXT NOT NULL, launcher TEXT,
    task_id TEXT, boot_id_before TEXT, boot_id_after TEXT, started TEXT, finished TEXT,
    reboot_requested_at TEXT, back_at TEXT, PRIMARY KEY (run_id, round));
CREATE TABLE IF NOT EXISTS journal (
    run_id TEXT NOT NULL, round INTEGER NOT NULL, seq INTEGER NOT NULL, ts TEXT, level TEXT,
    event TEXT, record TEXT NOT NULL, PRIMARY KEY (run_id, round, seq));
CREATE TABLE IF NOT EXISTS updates (
    run_id TEXT NOT NULL, round INTEGER NOT NULL, update_id TEXT NOT NULL, status TEXT,
    version TEXT, message TEXT, code TEXT, PRIMARY KEY (run_id, round, update_id));
CREATE TABLE IF NOT EXISTS fleets (run_id TEXT PRIMARY KEY, finished TEXT, document TEXT NOT NULL);
"""


def default_state_dir() -> Path:
    """Return /var/lib/patchpilot-connector for root, else ~/.local/state/patchpilot."""
    if os.geteuid() == 0:
        return Path("/var/lib/patchpilot-connector")
    return Path.home() / ".local" / "state" / "patchpilot"


@dataclass(frozen=True)
class RunRow:
    run_id: str
    target: str
    mode: str
    options: str  # RunOptions as JSON
    secret: Secret
    status: str  # "running" until finished, then the outcome
    exit_code: int | None
    started: str
    finished: str | None
    plan: str | None  # frozen plan as JSON

    @property
    def frozen_plan(self) -> dict[str, str] | None:
        return json.loads(self.plan) if self.plan else None


@dataclass(frozen=True)
class RoundRow:
    """A round's progress (phase: see RoundPhase)."""

    run_id: str
    round: int
    phase: RoundPhase
    launcher: str | None = None
    task_id: str | None = None
    boot_id_before: str | None = None
    boot_id_after: str | None = None
    started: str | None = None
    finished: str | None = None
    reboot_requested_at: str | None = None
    back_at: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "phase", RoundPhase(self.phase))  # as stored: its value


class Store:
    """The state store; open with Store.open(state_dir)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StateError(f"state store {path}: {exc}") from exc

    @classmethod
    def open(cls, state_dir: str | Path | None = None) -> Store:
        """Open (creating 0700/0600) the store in state_dir; raise StateError if unusable."""
        directory = Path(state_dir) if state_dir else default_state_dir()
        path = directory / "state.sqlite"
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            os.chmod(path, 0o600)
        except OSError as exc:
            raise StateError(f"cannot use state dir {directory}: {exc.strerror}") from exc
        return cls(path)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._db:
                yield self._db
        except sqlite3.Error as exc:
            raise StateError(f"state store {self.path}: {exc}") from exc

    def create_run(self, row: RunRow) -> None:
        values = (*astuple(row)[:4], row.secret.reveal(), *astuple(row)[5:])
        with self._write() as db:
            db.execute(
                "INSERT INTO runs (run_id, target, mode, options, secret, status, "
                "exit_code, started, finished, plan) VALUES (?,?,?,?,?,?,?,?,?,?)",
                values,
            )

    def run(self, run_id: str) -> RunRow | None:
        found = self._db.execute(
            "SELECT run_id, target, mode, options, secret, status, exit_code, started, "
            "finished, plan FROM runs WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        return _run_row(found) if found else None

    def runs(self, limit: int = 20) -> list[RunRow]:
        rows = self._db.execute(
            "SELECT run_id, target, mode, options, secret, status, exit_code, started, "
            "finished, plan FROM runs ORDER BY started DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [_run_row(r) for r in rows]

    def set_plan(self, run_id: str, plan: Mapping[str, str]) -> None:
        with self._write() as db:
            db.execute("UPDATE runs SET plan = ? WHERE run_id = ?", (json.dumps(plan), run_id))

    def finish_run(self, run_id: str, result: Mapping[str, Any]) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE runs SET status = ?, exit_code = ?, finished = ?, result = ? "
                "WHERE run_id = ?",
                (
                    result["status"],
                    result["exit_code"],
                    result["finished"],
                    json.dumps(result),
                    run_id,
                ),
            )

    def reopen_run(self, run_id: str) -> None:
        """Mark a cancelled run as running again (it is being resumed)."""
        with self._write() as db:
            db.execute(
                "UPDATE runs SET status = 'running', exit_code = NULL, finished = NULL, "
                "result = NULL WHERE run_id = ?",
                (run_id,),
            )

    def result(self, run_id: str) -> dict[str, Any] | None:
        found = self._db.execute("SELECT result FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return json.loads(found[0]) if found and found[0] else None

    def save_fleet(self, run_id: str, finished: str, document: Mapping[str, Any]) -> None:
        """Keep a fleet run's result document (its servers' runs are `<run_id>.<host>`)."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO fleets VALUES (?,?,?)",
                (run_id, finished, json.dumps(document)),
            )

    def fleet(self, run_id: str) -> dict[str, Any] | None:
        found = self._db.execute(
            "SELECT document FROM fleets WHERE run_id = ?", (run_id,)
        ).fetchone()
        return json.loads(found[0]) if found else None

    def run_ids_under(self, prefix: str) -> list[str]:
        """Return the run ids starting with prefix (a fleet's servers: `<fleet>.`), sorted."""
        rows = self._db.execute(
            "SELECT run_id FROM runs WHERE substr(run_id, 1, ?) = ? ORDER BY run_id",
            (len(prefix), prefix),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def save_round(self, row: RoundRow) -> None:
        names = [f.name for f in fields(RoundRow)]
        with self._write() as db:
            db.execute(
                f"INSERT OR REPLACE INTO rounds ({', '.join(names)}) "  # noqa: S608
                f"VALUES ({', '.join('?' * len(names))})",
                astuple(row),
            )

    def rounds(self, run_id: str) -> list[RoundRow]:
        names = ", ".join(f.name for f in fields(RoundRow))
        rows = self._db.execute(
            f"SELECT {names} FROM rounds WHERE run_id = ? "  # noqa: S608
            "ORDER BY round",
            (run_id,),
        ).fetchall()
        return [RoundRow(*r) for r in rows]

    def add_record(self, run_id: str, round_no: int, record: Mapping[str, Any]) -> bool:
        """Store one journal record; return False if its seq was already stored."""
        with self._write() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO journal VALUES (?,?,?,?,?,?,?)",
                (
                    run_id,
                    round_no,
                    int(record["seq"]),
                    record.get("ts"),
                    record.get("level"),
                    record.get("event"),
                    json.dumps(record),
                ),
            )
        return cursor.rowcount == 1

    def last_seq(self, run_id: str, round_no: int) -> int:
        found = self._db.execute(
            "SELECT MAX(seq) FROM journal WHERE run_id = ? AND round = ?", (run_id, round_no)
        ).fetchone()
        return int(found[0] or 0)

    def records(self, run_id: str, round_no: int | None = None) -> list[dict[str, Any]]:
        query = "SELECT record FROM journal WHERE run_id = ?"
        args: tuple[Any, ...] = (run_id,)
        if round_no is not None:
            query, args = query + " AND round = ?", (run_id, round_no)
        rows = self._db.execute(query + " ORDER BY round, seq", args).fetchall()
        return [json.loads(r[0]) for r in rows]

    def save_results(self, run_id: str, results: tuple[UpdateResult, ...]) -> None:
        with self._write() as db:
            db.executemany(
                "INSERT OR REPLACE INTO updates VALUES (?,?,?,?,?,?,?)",
                [(run_id, r.round, r.id, r.status, r.version, r.message, r.code) for r in results],
            )


def _run_row(found: tuple[Any, ...]) -> RunRow:
    run_id, target, mode, options, secret, status, exit_code, started, finished, plan = found
    return RunRow(
        run_id, target, mode, options, Secret(secret), status, exit_code, started, finished, plan
    )
