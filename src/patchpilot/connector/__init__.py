"""The connector: one target's round loop, reboot verification, a fleet, state store, reports.

It runs where the scheduler runs, reaches targets through `transports/`, starts the client
through `launchers/`, follows its journal (`stream.py`) and keeps every run in SQLite
(`store.py`). Import what you need from its modules; the package itself exports nothing.
"""

__all__: list[str] = []
