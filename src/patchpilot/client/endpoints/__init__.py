"""The client's log endpoints: where a round serves its journal (see endpoints/base.py).

The platform decides the kind: a Unix socket in the round folder on Linux (unix.py), a named
pipe on Windows (pipe.py).
"""

from patchpilot.client import platforms
from patchpilot.client.endpoints.base import Endpoint, Stream
from patchpilot.client.paths import RoundPaths

__all__ = ["Endpoint", "Stream", "connect_endpoint", "open_endpoint"]


def open_endpoint(paths: RoundPaths, run_id: str, round_no: int, secret: str) -> Endpoint:
    """Listen for log connections to one round (secret: the run's, for the pipe's name)."""
    return platforms.open_endpoint(paths.endpoint, run_id, round_no, secret)


def connect_endpoint(paths: RoundPaths, run_id: str, round_no: int, secret: str) -> Stream:
    """Connect to a round's live endpoint; raise OSError when no client serves it."""
    return platforms.connect_endpoint(paths.endpoint, run_id, round_no, secret)
