"""Choose the store backend from what the command line or an integration gave: a state folder
(SQLite, the default) or a `postgresql://` URL (the shared store; needs the `postgres` extra).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from patchpilot.connector.secret import Secret
from patchpilot.connector.store.base import Store
from patchpilot.connector.store.sqlite import SQLiteStore, open_state_dir
from patchpilot.errors import ConfigurationError

__all__ = ["STATE_URL_ENV", "has_password", "open_store"]

STATE_URL_ENV = "PATCHPILOT_STATE_URL"
_SCHEMES = ("postgresql://", "postgres://")


def has_password(url: str) -> bool:
    """Tell whether a store URL carries a password (user:password@ or ?password=)."""
    parts = urlsplit(url)
    return parts.password is not None or "password" in parse_qs(parts.query)


def open_store(
    state_dir: str | Path | None = None,
    *,
    url: str | None = None,
    password: Secret | None = None,
) -> Store:
    """Open the store: PostgreSQL at url when given, else SQLite in state_dir.

    state_dir stays this host's folder either way (log, pid files, the state key). Raise
    StateError when unusable, ConfigurationError for a URL patchpilot cannot use.
    """
    if not url:
        return SQLiteStore.in_folder(state_dir)
    if not url.startswith(_SCHEMES):
        raise ConfigurationError("--state-url: only postgresql:// URLs are supported")
    try:
        from patchpilot.connector.store.postgres import PostgresStore
    except ImportError as exc:
        raise ConfigurationError(
            f"--state-url needs the postgres extra (pip install 'patchpilot[postgres]'): {exc}"
        ) from None
    return PostgresStore(url, open_state_dir(state_dir), password=password)
