"""The client's exit statuses (docs/protocol.md): what the connector reads from the launcher."""

import enum

__all__ = ["ClientExit"]


class ClientExit(enum.IntEnum):
    OK = 0  # the round finished; the result is in the journal and state.json
    USAGE = 64  # bad command line (EX_USAGE)
    REFUSED = 2  # the job spec was refused
    HELD = 3  # another client or run holds the target
    FAILED = 4  # the round failed before a result (backend error, lock timeout)
    INTERNAL = 70  # a bug: traceback on stderr
