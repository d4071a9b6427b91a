"""The log-endpoint seam: an endpoint accepts connections, each one a byte stream.

The session logic (session.py) only sees `Stream`: Unix sockets (unix.py), Windows named pipes
(pipe.py) and stdin/stdout (stdio.py, for `attach`) all fit under it. Streams must allow one
thread to `recv` while another `send`s; both take a timeout so no peer can block the client.
"""

import abc
from typing import Optional

__all__ = ["Endpoint", "Stream"]


class Stream(abc.ABC):
    """One connection: bytes in, bytes out."""

    @abc.abstractmethod
    def recv(self, max_bytes: int, timeout: Optional[float]) -> bytes:
        """Return up to max_bytes, b"" at end of stream; raise TimeoutError after timeout s."""

    @abc.abstractmethod
    def send(self, data: bytes, timeout: float) -> None:
        """Send all of data; raise TimeoutError when the peer has not taken it in timeout s."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the stream; a blocked recv or send in another thread returns or raises."""


class Endpoint(abc.ABC):
    """A listening endpoint that only root/SYSTEM may connect to."""

    address: str

    @abc.abstractmethod
    def accept(self) -> Optional[Stream]:
        """Wait for the next connection; return None once the endpoint is closed."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop accepting and remove the endpoint (socket file, pipe instance)."""
