"""The connector's state store: `Store` (base.py) and its backends, SQLite (the default) and
PostgreSQL (shared between connector hosts). `open_store(state_dir, url=...)` (select.py) picks one.
"""

from __future__ import annotations

from patchpilot.connector.store.base import RoundRow, RunRow, Store, default_state_dir
from patchpilot.connector.store.select import open_store

__all__ = ["RoundRow", "RunRow", "Store", "default_state_dir", "open_store"]
