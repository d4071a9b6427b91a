"""The connector's state store: runs, rounds, update results, journal records, secrets.

The store holds every run, so a killed connector resumes where it stopped and `status`/
`result` read it. Every write commits at once: the store is the connector's memory across
crashes. `Store` holds the queries (one SQL text for every backend); a backend only runs them
(`sqlite.py`, the default, one file per connector host; `postgres.py`, shared by many hosts)
and decides how the run secret rests (`_seal`/`_unseal`). A run's options (local hooks among
them: commands this host runs) rest signed with the run's secret (HMAC-SHA256 over the run id
and the options), so a writer of a shared database cannot change what a resumed run does:
without the state key the secret does not open, and without the secret no signature fits.
Use a store from one thread (asyncio is fine).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.phase import RoundPhase
from patchpilot.connector.plan import UpdateResult
from patchpilot.connector.run_status import RunStatus
from patchpilot.connector.secret import Secret
from patchpilot.errors import StateError

__all__ = ["SCHEMA", "RoundRow", "RunRow", "Store", "default_state_dir"]

SCHEMA = """
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
_RUN_COLUMNS = "run_id, target, mode, options, secret, status, exit_code, started, finished, plan"


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
    status: str  # RunStatus.RUNNING until finished, then the outcome's value
    exit_code: int | None
    started: str
    finished: str | None
    plan: str | None  # frozen plan as JSON

    @property
    def frozen_plan(self) -> dict[str, str] | None:
        return json.loads(self.plan) if self.plan else None

    @property
    def run_status(self) -> RunStatus:
        """Where the run stands, its outcome folded in once it ended."""
        if self.status == RunStatus.RUNNING:
            return RunStatus.RUNNING
        return RunStatus.of(self.status)

    @property
    def is_resumable(self) -> bool:
        """Tell whether the same run id resumes this run: it is unfinished, or cancelled."""
        return self.status in (RunStatus.RUNNING, Outcome.CANCELLED.value)


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


class Store(ABC):
    """The state store; open one with open_store(state_dir) or open_store(url=...) (select.py).

    `folder` is this host's state folder (0700) whatever the backend: the connector's log,
    the pid files of running connectors and the built client live there. `location` names the
    data for messages (never with a password).
    """

    folder: Path
    location: str
    # Whether a run's options stored unsigned (by patchpilot before issue 21) still load: only
    # where nobody else writes (this host's private SQLite file).
    accepts_unsigned_options = True

    # What a backend provides: run a query, run a change (committed at once), close.
    @abstractmethod
    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Return the rows of one query (`?` placeholders)."""

    def _iter_rows(self, sql: str, args: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Yield the rows of one query as the database hands them over (a backend that can
        streams them; this one fetches them all)."""
        yield from self._rows(sql, args)

    @abstractmethod
    def _change(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run one statement for each row in one committed transaction; return rows changed."""

    @abstractmethod
    def close(self) -> None: ...

    async def flush(self) -> None:
        """Return once every commit so far would survive the machine's crash. The connector
        awaits it before what the target cannot undo (a launch, a final record's ack); a
        backend whose commits are durable when they return (PostgreSQL) has nothing to do."""
        return None

    def _seal(self, run_id: str, secret: Secret) -> str:
        """Return the run secret as it rests in the store (a backend may encrypt it)."""
        return secret.reveal()

    def _unseal(self, run_id: str, stored: str) -> Secret:
        return Secret(stored)

    def create_run(self, row: RunRow) -> None:
        values = _shallow(row)
        values[3] = _signed(row.run_id, row.secret, row.options)
        values[4] = self._seal(row.run_id, row.secret)
        self._change(
            f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",  # noqa: S608
            [values],
        )

    def run(self, run_id: str) -> RunRow | None:
        found = self._rows(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?",  # noqa: S608
            (run_id,),
        )
        return self._run_row(found[0]) if found else None

    def runs(self, limit: int = 20) -> list[RunRow]:
        rows = self._rows(
            f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY started DESC LIMIT ?",  # noqa: S608
            (limit,),
        )
        return [self._run_row(r) for r in rows]

    def set_plan(self, run_id: str, plan: Mapping[str, str]) -> None:
        self._change("UPDATE runs SET plan = ? WHERE run_id = ?", [(json.dumps(plan), run_id)])

    def finish_run(self, run_id: str, result: Mapping[str, Any]) -> None:
        self._change(
            "UPDATE runs SET status = ?, exit_code = ?, finished = ?, result = ? WHERE run_id = ?",
            [
                (
                    result["status"],
                    result["exit_code"],
                    result["finished"],
                    json.dumps(result),
                    run_id,
                )
            ],
        )

    def reopen_run(self, run_id: str) -> None:
        """Mark a cancelled run as running again (it is being resumed)."""
        self._change(
            "UPDATE runs SET status = ?, exit_code = NULL, finished = NULL, "
            "result = NULL WHERE run_id = ?",
            [(RunStatus.RUNNING.value, run_id)],
        )

    def result(self, run_id: str) -> dict[str, Any] | None:
        found = self._rows("SELECT result FROM runs WHERE run_id = ?", (run_id,))
        return json.loads(found[0][0]) if found and found[0][0] else None

    def save_fleet(self, run_id: str, finished: str, document: Mapping[str, Any]) -> None:
        """Keep a fleet run's result document (its servers' runs are `<run_id>.<host>`)."""
        self._change(
            "INSERT INTO fleets VALUES (?,?,?) ON CONFLICT (run_id) DO UPDATE SET "
            "finished = excluded.finished, document = excluded.document",
            [(run_id, finished, json.dumps(document))],
        )

    def fleet(self, run_id: str) -> dict[str, Any] | None:
        found = self._rows("SELECT document FROM fleets WHERE run_id = ?", (run_id,))
        return json.loads(found[0][0]) if found else None

    def run_ids_under(self, prefix: str) -> list[str]:
        """Return the run ids starting with prefix (a fleet's servers: `<fleet>.`), sorted.

        Sorted here, not by the database: PostgreSQL's collation may order `-` and `.` unlike
        SQLite's byte order.
        """
        rows = self._rows(
            "SELECT run_id FROM runs WHERE substr(run_id, 1, ?) = ?", (len(prefix), prefix)
        )
        return sorted(str(r[0]) for r in rows)

    def save_round(self, row: RoundRow) -> None:
        values = [_column(v) if isinstance(v, str) else v for v in _shallow(row)]  # task ids,
        values[2] = row.phase.value  # boot ids: a target's output
        self._change(_SAVE_ROUND, [values])

    def rounds(self, run_id: str) -> list[RoundRow]:
        rows = self._rows(
            f"SELECT {', '.join(_ROUND_COLUMNS)} FROM rounds "  # noqa: S608
            "WHERE run_id = ? ORDER BY round",
            (run_id,),
        )
        return [RoundRow(*r) for r in rows]

    def add_record(self, run_id: str, round_no: int, record: Mapping[str, Any]) -> bool:
        """Store one journal record; return False if its seq was already stored."""
        values = (
            run_id,
            round_no,
            int(record["seq"]),
            _column(record.get("ts")),
            _column(record.get("level")),
            _column(record.get("event")),
            json.dumps(record),  # ASCII: lone surrogates and controls stay escaped
        )
        return (
            self._change(
                "INSERT INTO journal VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING", [values]
            )
            == 1
        )

    def last_seq(self, run_id: str, round_no: int) -> int:
        found = self._rows(
            "SELECT MAX(seq) FROM journal WHERE run_id = ? AND round = ?", (run_id, round_no)
        )
        return int(found[0][0] or 0)

    def journal_size(self, run_id: str, round_no: int) -> tuple[int, int]:
        """Return how many records of a round's journal are stored, and their bytes."""
        found = self._rows(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(record)), 0) FROM journal "
            "WHERE run_id = ? AND round = ?",
            (run_id, round_no),
        )
        return int(found[0][0]), int(found[0][1])

    def records(
        self, run_id: str, round_no: int | None = None, *, events: Collection[str] | None = None
    ) -> list[dict[str, Any]]:
        """Return a run's (or a round's) records in order; only those of events, if given."""
        return list(self.iter_records(run_id, round_no, events=events))

    def iter_records(
        self,
        run_id: str,
        round_no: int | None = None,
        *,
        events: Collection[str] | None = None,
        levels: Collection[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield records one at a time, fetched and parsed as they are taken; with events or
        levels, only the records of those events or at those levels (chosen by the database:
        a round may hold 64 MiB of records nobody asked for). Consume it before the store's
        next query."""
        query = "SELECT record FROM journal WHERE run_id = ?"
        args: list[Any] = [run_id]
        if round_no is not None:
            query += " AND round = ?"
            args.append(round_no)
        if events is not None or levels is not None:
            chosen = [(c, tuple(v)) for c, v in (("event", events), ("level", levels)) if v]
            if not chosen:
                return
            query += " AND (" + " OR ".join(
                f"{column} IN ({','.join('?' * len(values))})" for column, values in chosen
            ) + ")"  # fmt: skip
            args.extend(v for _, values in chosen for v in values)
        for row in self._iter_rows(query + " ORDER BY round, seq", tuple(args)):
            yield json.loads(row[0])

    def save_results(self, run_id: str, results: tuple[UpdateResult, ...]) -> None:
        if not results:
            return
        self._change(
            "INSERT INTO updates VALUES (?,?,?,?,?,?,?) ON CONFLICT (run_id, round, update_id) "
            "DO UPDATE SET status = excluded.status, version = excluded.version, "
            "message = excluded.message, code = excluded.code",
            [
                (run_id, r.round, *map(_column, (r.id, r.status, r.version, r.message, r.code)))
                for r in results
            ],
        )

    def _run_row(self, found: tuple[Any, ...]) -> RunRow:
        run_id, target, mode, options, sealed, status, exit_code, started, finished, plan = found
        secret = self._unseal(run_id, sealed)
        return RunRow(
            run_id,
            target,
            mode,
            _verified(run_id, secret, options, is_unsigned_ok=self.accepts_unsigned_options),
            secret,
            status,
            exit_code,
            started,
            finished,
            plan,
        )


_SIGNED = "hmac1"


def _signature(run_id: str, secret: Secret, options: str) -> str:
    message = b"patchpilot-run-options:" + run_id.encode() + b"\0" + options.encode()
    return hmac.new(secret.reveal().encode(), message, hashlib.sha256).hexdigest()


def _signed(run_id: str, secret: Secret, options: str) -> str:
    """Return options as they rest: `hmac1:<signature>:<options JSON>`."""
    return f"{_SIGNED}:{_signature(run_id, secret, options)}:{options}"


def _verified(run_id: str, secret: Secret, stored: str, *, is_unsigned_ok: bool) -> str:
    """Return the options JSON of a stored row; StateError when its signature does not fit."""
    scheme, signature, options = [*stored.split(":", 2), "", ""][:3]
    if scheme == _SIGNED and hmac.compare_digest(
        signature.encode(), _signature(run_id, secret, options).encode()
    ):
        return options
    if is_unsigned_ok and stored.lstrip().startswith("{"):
        return stored
    raise StateError(
        f"run {run_id}: its stored options are {'not signed' if scheme != _SIGNED else 'changed'}"
        " (the options column was written by something other than patchpilot): refusing to"
        " resume it; start a new run"
    )


_NAMES = {cls: tuple(f.name for f in fields(cls)) for cls in (RunRow, RoundRow)}
_ROUND_COLUMNS = _NAMES[RoundRow]
_SAVE_ROUND = (
    f"INSERT INTO rounds ({', '.join(_ROUND_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(_ROUND_COLUMNS))}) ON CONFLICT (run_id, round) DO UPDATE "
    f"SET {', '.join(f'{n} = excluded.{n}' for n in _ROUND_COLUMNS[2:])}"
)


def _shallow(row: RunRow | RoundRow) -> list[Any]:
    """Return a row's field values in order, as they are: every field is a plain value, so
    `dataclasses.astuple`'s deep copy (a third of a millisecond a write, 11 writes a server
    in bench/fleet_sim.py) buys nothing."""
    return [getattr(row, name) for name in _NAMES[type(row)]]


def _column(value: Any) -> str | None:
    """Return a target's value as text every backend takes: lone surrogates (SQLite's encoder
    raises) and NUL (PostgreSQL refuses it) become U+FFFD/`?`. The record itself is kept whole
    as ASCII JSON."""
    if value is None:
        return None
    return str(value).encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
