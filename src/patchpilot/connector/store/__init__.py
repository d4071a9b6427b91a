"""The connector's state store: `Store` (base.py) and its backends, SQLite (the default) and
PostgreSQL (shared between connector hosts). `Store.open(state_dir, url=...)` picks one.
"""

from __future__ import annotations

from patchpilot.connector.store.base import RoundRow, RunRow, Store, default_state_dir

__all__ = ["RoundRow", "RunRow", "Store", "default_state_dir"]
