"""Fixtures for unit and lab tests alike: a real PostgreSQL server, and the state store on
each backend (SQLite and PostgreSQL), so the store's tests prove both."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from patchpilot.connector import store as state_store
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import Store
from patchpilot.lab.postgres import PG_PASSWORD, PostgresServer, postgres_missing

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL on 127.0.0.1 for the whole session (stopped and removed at its end)."""
    reason = postgres_missing()
    if reason is not None:
        pytest.skip(reason)
    with PostgresServer() as server:
        yield server


StoreOpener = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreOpener]:
    """Return a function opening this test's store (the same one each call) on each backend."""
    opened: list[Store] = []
    if request.param == "sqlite":
        url = None
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database(f"store_{next(_databases)}")

    def opener() -> Store:
        store = state_store.open_store(tmp_path / "state", url=url, password=Secret(PG_PASSWORD))
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()
