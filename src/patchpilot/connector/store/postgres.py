"""The state store in PostgreSQL, shared by connector hosts (Airflow workers and triggerers,
OpCon agents): a run started on one host is resumed by another from the same rows.

Tables live in their own schema (`patchpilot`), so the store can share a database with
Airflow's metadata. The run secret is sealed (AES-256-GCM, `sealing.py`): the database never
holds it in clear. The password comes from libpq's usual places (PGPASSWORD, ~/.pgpass,
PGPASSFILE) or from the caller (an Airflow connection), never from a command line. One
connection per store, autocommitted; a dropped connection is reopened once per statement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import conninfo as pg_conninfo

from patchpilot.connector.secret import Secret
from patchpilot.connector.store.base import SCHEMA, Store
from patchpilot.connector.store.sealing import SecretSealer, load_key
from patchpilot.errors import ConfigurationError, StateError

__all__ = ["PostgresStore", "safe_location"]

_T = TypeVar("_T")

_SCHEMA_NAME = "patchpilot"
_SCHEMA_LOCK = 0x70617463  # pg_advisory_xact_lock key: one host creates the tables at a time


def safe_location(url: str) -> str:
    """Return url without its password (for messages); ConfigurationError if not a conninfo."""
    try:
        parts = pg_conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(f"--state-url: not a PostgreSQL URL: {exc}") from None
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


class PostgresStore(Store):
    """The store in a PostgreSQL database; open with open_store(url=..., state_dir=...)."""

    accepts_unsigned_options = False  # others write this database

    def __init__(self, url: str, folder: Path, *, password: Secret | None = None) -> None:
        self.folder = folder
        self.location = safe_location(url)
        self._url = url
        self._password = password
        self._sealer = SecretSealer(load_key(folder))
        self._conn = self._connect()

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        extra: dict[str, Any] = {"application_name": "patchpilot", "connect_timeout": 10}
        if self._password is not None:
            extra["password"] = self._password.reveal()
        try:
            conn = psycopg.connect(self._url, autocommit=True, **extra)
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_SCHEMA_NAME}")
                conn.execute(f"SET search_path TO {_SCHEMA_NAME}")
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement.encode())
            conn.execute(f"SET search_path TO {_SCHEMA_NAME}")
            return conn
        except psycopg.Error as exc:
            raise StateError(f"state store {self.location}: {_first_line(exc)}") from exc

    def close(self) -> None:
        self._conn.close()

    def _seal(self, run_id: str, secret: Secret) -> str:
        return self._sealer.seal(run_id, secret)

    def _unseal(self, run_id: str, stored: str) -> Secret:
        return self._sealer.open(run_id, stored)

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        def query() -> list[tuple[Any, ...]]:
            return self._conn.execute(sql.replace("?", "%s").encode(), tuple(args)).fetchall()

        return self._retried(query)

    def _iter_rows(self, sql: str, args: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Yield rows as the server sends them (libpq's single-row mode), not all at once."""
        try:
            with self._conn.cursor() as cursor:
                yield from cursor.stream(sql.replace("?", "%s").encode(), tuple(args))
        except psycopg.Error as exc:
            raise StateError(f"state store {self.location}: {_first_line(exc)}") from exc

    def _change(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        statement = sql.replace("?", "%s").encode()

        def change() -> int:
            changed = 0
            with self._conn.transaction():
                for row in rows:
                    changed += max(self._conn.execute(statement, tuple(row)).rowcount, 0)
            return changed

        return self._retried(change)

    def _retried(self, work: Callable[[], _T]) -> _T:
        """Run work; reopen a dropped connection once and run it again."""
        try:
            return work()
        except psycopg.OperationalError as exc:
            if not self._conn.closed and not self._conn.broken:
                raise StateError(f"state store {self.location}: {_first_line(exc)}") from exc
        except psycopg.Error as exc:
            raise StateError(f"state store {self.location}: {_first_line(exc)}") from exc
        self._conn = self._connect()
        try:
            return work()
        except psycopg.Error as exc:
            raise StateError(f"state store {self.location}: {_first_line(exc)}") from exc


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
