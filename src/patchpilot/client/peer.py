"""The connector's side of the log protocol in its simplest blocking form, over any Stream.

The reference the connector's asyncio implementation can be checked against; the client's
tests and lab tests use it to authenticate, read, resume and acknowledge.
"""

import time
from typing import Any, Dict, List, Optional

from patchpilot.client.endpoints.base import Stream
from patchpilot.client.journal import FINAL_EVENT
from patchpilot.protocol import (
    PROTOCOL_VERSION,
    FrameDecoder,
    client_proof,
    connector_proof,
    encode_frame,
    new_nonce,
    proofs_match,
)

__all__ = ["LogPeer", "PeerError"]

Message = Dict[str, Any]


class PeerError(Exception):
    """The client refused us, proved nothing, or broke the protocol."""


class LogPeer:
    """Talk to a client's endpoint: handshake, read from a seq, collect records, ack."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream
        self._decoder = FrameDecoder()
        self._pending: List[Message] = []
        self.hello: Message = {}

    def send(self, message: Message) -> None:
        self._stream.send(encode_frame(message), 10.0)

    def receive(self, timeout: float) -> Optional[Message]:
        """Return the next message, None when the client closed; raise TimeoutError."""
        deadline = time.monotonic() + timeout
        while not self._pending:
            data = self._stream.recv(65536, max(deadline - time.monotonic(), 0.01))
            if not data:
                return None
            self._pending.extend(self._decoder.feed(data))
        return self._pending.pop(0)

    def handshake(self, secret: str, timeout: float = 10.0) -> Message:
        """Authenticate with secret and check the client's proof; return its hello."""
        hello = self.receive(timeout)
        if hello is None or hello.get("t") != "hello":
            raise PeerError("expected hello, got %r" % hello)
        nonce = new_nonce()
        args = (secret, hello["run"], hello["round"], hello["nonce"], nonce)
        self.send(
            {"t": "auth", "v": PROTOCOL_VERSION, "nonce": nonce, "proof": connector_proof(*args)}
        )
        answer = self.receive(timeout)
        if answer is None or answer.get("t") != "welcome":
            raise PeerError("refused: %r" % answer)
        if not proofs_match(client_proof(*args), answer.get("proof")):
            raise PeerError("the client's proof is wrong: an impostor endpoint")
        self.hello = hello
        return hello

    def read(self, from_seq: int) -> None:
        self.send({"t": "read", "from": from_seq})

    def ack(self, seq: int) -> None:
        self.send({"t": "ack", "seq": seq})

    def collect(self, timeout: float, until_final: bool = True) -> List[Message]:
        """Return records until the final one (or bye/close when until_final is False)."""
        records: List[Message] = []
        deadline = time.monotonic() + timeout
        while True:
            message = self.receive(max(deadline - time.monotonic(), 0.01))
            if message is None or message["t"] == "bye":
                return records
            if message["t"] == "error":
                raise PeerError("client error: %r" % message)
            if message["t"] == "rec":
                records.append(message["r"])
                if until_final and message["r"]["event"] == FINAL_EVENT:
                    return records

    def close(self) -> None:
        self._stream.close()
