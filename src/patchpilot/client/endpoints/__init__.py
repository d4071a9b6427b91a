"""The client's log endpoints: where a round serves its journal (see endpoints/base.py).

`open_endpoint` and `connect_endpoint` pick the kind by OS: a Unix socket in the round folder
on Linux (unix.py), a named pipe on Windows (pipe.py).
"""

import os

from patchpilot.client.endpoints.base import Endpoint, Stream
from patchpilot.client.paths import RoundPaths

__all__ = ["Endpoint", "Stream", "connect_endpoint", "open_endpoint"]


def open_endpoint(paths: RoundPaths, run_id: str, round_no: int, secret: str) -> Endpoint:
    """Listen for log connections to one round (secret: the run's, for the pipe's name)."""
    if os.name == "nt":
        from patchpilot.client.endpoints.pipe import PipeEndpoint, pipe_name

        return PipeEndpoint(pipe_name(run_id, round_no, secret))
    from patchpilot.client.endpoints.unix import UnixEndpoint

    return UnixEndpoint(paths.endpoint)


def connect_endpoint(paths: RoundPaths, run_id: str, round_no: int, secret: str) -> Stream:
    """Connect to a round's live endpoint; raise OSError when no client serves it."""
    if os.name == "nt":
        from patchpilot.client.endpoints.pipe import connect_pipe, pipe_name

        return connect_pipe(pipe_name(run_id, round_no, secret))
    from patchpilot.client.endpoints.unix import connect_unix

    return connect_unix(paths.endpoint)
