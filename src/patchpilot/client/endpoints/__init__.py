"""The client's log endpoints: where a round serves its journal (see endpoints/base.py).

`open_endpoint` and `connect_endpoint` come from the platform: a Unix socket in the round
folder on Linux (unix.py), a named pipe on Windows (pipe.py).
"""

from patchpilot.client.endpoints.base import Endpoint, Stream
from patchpilot.client.platforms import connect_endpoint, open_endpoint

__all__ = ["Endpoint", "Stream", "connect_endpoint", "open_endpoint"]
