"""One log connection: the protocol state machine of docs/protocol.md, over any Stream.

hello -> auth -> welcome, then the peer's `read` starts a writer that streams records from the
journal (history, then live), pings when idle and says bye once the journal is finished. The
reader handles ack/ping/bye. Records are pulled from the journal, never pushed into the
session, so the run never waits for a reader; a reader that does not take a batch within
SEND_TIMEOUT is disconnected and can re-attach from its last seq.
"""

import contextlib
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from patchpilot.client.endpoints.base import Endpoint, Stream
from patchpilot.client.journal import Journal
from patchpilot.protocol import (
    PROTOCOL_VERSION,
    RELEASE,
    FrameDecoder,
    FrameError,
    client_proof,
    connector_proof,
    encode_frame,
    new_nonce,
    proofs_match,
)

__all__ = ["AUTH_TIMEOUT", "LogServer", "ProtocolError", "Session", "SessionConfig"]

AUTH_TIMEOUT = 10.0
PING_INTERVAL = 5.0
SEND_TIMEOUT = 30.0
ACK_GRACE = 10.0
BATCH_BYTES = 256 * 1024
MAX_SESSIONS = 16

OnAck = Callable[[int], None]


class ProtocolError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SessionConfig:
    """What every session of one round shares."""

    def __init__(
        self,
        journal: Journal,
        secret: str,
        run_id: str,
        round_no: int,
        on_ack: Optional[OnAck] = None,
        live: bool = True,
        on_withhold: Optional[OnAck] = None,
        auth_timeout: float = AUTH_TIMEOUT,
        ping_interval: float = PING_INTERVAL,
    ) -> None:
        self.journal = journal
        self.secret = secret
        self.run_id = run_id
        self.round_no = round_no
        self.on_ack = on_ack
        self.on_withhold = on_withhold  # an ack with "reboot": false: do not reboot
        self.live = live
        self.auth_timeout = auth_timeout
        self.ping_interval = ping_interval

    def __repr__(self) -> str:
        return "SessionConfig(run_id=%r, round=%d)" % (self.run_id, self.round_no)


class Session:
    """Serve one connection until it closes, errs or the journal is done."""

    def __init__(self, stream: Stream, config: SessionConfig) -> None:
        self._stream = stream
        self._config = config
        self._decoder = FrameDecoder()
        self._pending: List[Dict[str, Any]] = []
        self._read_from: Optional[int] = None
        self._acked = 0
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._closed = False

    def _is_closed(self) -> bool:
        with self._cond:
            return self._closed

    def serve(self) -> None:
        try:
            self._handshake()
            writer = threading.Thread(target=self._write_loop, daemon=True)
            writer.start()
            self._read_loop()
        except ProtocolError as exc:
            self._send_error(exc.code, str(exc))
        except (OSError, TimeoutError):
            pass
        finally:
            self._close()

    # --- reading -------------------------------------------------------------

    def _receive(self, deadline: Optional[float]) -> Optional[Dict[str, Any]]:
        """Return the next message, None at end of stream; raise ProtocolError on garbage."""
        while not self._pending:
            timeout = 1.0 if deadline is None else deadline - time.monotonic()
            if timeout <= 0:
                limit = self._config.auth_timeout
                raise ProtocolError("timeout", "no answer within %.0f s" % limit)
            try:
                data = self._stream.recv(65536, min(timeout, 1.0))
            except TimeoutError:
                if self._is_closed():
                    return None
                continue
            if not data:
                return None
            try:
                self._pending.extend(self._decoder.feed(data))
            except FrameError as exc:
                raise ProtocolError("frame", str(exc)) from exc
        return self._pending.pop(0)

    def _handshake(self) -> None:
        config = self._config
        nonce = new_nonce()
        self._send(
            {
                "t": "hello",
                "v": PROTOCOL_VERSION,
                "rel": RELEASE,
                "run": config.run_id,
                "round": config.round_no,
                "nonce": nonce,
                "live": config.live,
            }
        )
        message = self._receive(time.monotonic() + config.auth_timeout)
        if message is None:
            raise OSError("peer left before auth")
        if message.get("t") != "auth":
            raise ProtocolError("protocol", "expected auth, got %r" % message.get("t"))
        if message.get("v") != PROTOCOL_VERSION:
            raise ProtocolError(
                "version",
                "incompatible versions: this client (patchpilot %s) speaks protocol %d, the "
                "connector (patchpilot %s) protocol %r; run a connector and client of releases "
                "that share a protocol version"
                % (
                    RELEASE,
                    PROTOCOL_VERSION,
                    message.get("rel", "of an unknown release"),
                    message.get("v"),
                ),
            )
        peer_nonce = message.get("nonce")
        if not isinstance(peer_nonce, str) or not 16 <= len(peer_nonce) <= 128:
            raise ProtocolError("protocol", "auth needs a nonce of 16 to 128 characters")
        args = (config.secret, config.run_id, config.round_no, nonce, peer_nonce)
        if not proofs_match(connector_proof(*args), message.get("proof")):
            raise ProtocolError("auth", "wrong proof")
        self._send({"t": "welcome", "proof": client_proof(*args)})

    def _read_loop(self) -> None:
        while True:
            message = self._receive(None)
            if message is None or message["t"] == "bye":
                return
            self._handle(message)

    def _handle(self, message: Dict[str, Any]) -> None:
        kind = message["t"]
        if kind == "ping":
            return
        seq = message.get("from" if kind == "read" else "seq")
        if kind not in ("read", "ack") or not isinstance(seq, int) or isinstance(seq, bool):
            raise ProtocolError("protocol", "unexpected message %r" % kind)
        with self._cond:
            if kind == "read" and self._read_from is not None:
                raise ProtocolError("protocol", "read comes once per connection")
            if kind == "read":
                self._read_from = max(seq, 1)
            else:
                self._acked = max(self._acked, seq)
            self._cond.notify_all()
        if kind == "ack" and message.get("reboot") is False and self._config.on_withhold:
            self._config.on_withhold(seq)
        if kind == "ack" and self._config.on_ack is not None:
            self._config.on_ack(seq)

    # --- writing -------------------------------------------------------------

    def _write_loop(self) -> None:
        try:
            cursor = self._wait_for_read()
            while cursor is not None:
                cursor = self._write_step(cursor)
        except (OSError, TimeoutError):
            pass
        finally:
            self._close()

    def _wait_for_read(self) -> Optional[int]:
        """Return the seq the peer asked for; refuse a peer silent for auth_timeout s."""
        deadline = time.monotonic() + self._config.auth_timeout
        with self._cond:
            while self._read_from is None and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._send_error("timeout", "no read within %.0f s" % self._config.auth_timeout)
                    return None
                self._cond.wait(min(left, 1.0))
            return self._read_from

    def _write_step(self, cursor: int) -> Optional[int]:
        """Send what the journal has from cursor on; return the next cursor, None when done."""
        journal = self._config.journal
        records = journal.wait_after(cursor, self._config.ping_interval)
        if records:
            batch = bytearray()
            for record in records:
                batch += encode_frame({"t": "rec", "r": record})
                cursor = int(record["seq"]) + 1
                if len(batch) >= BATCH_BYTES:
                    break
            with self._send_lock:
                self._stream.send(bytes(batch), SEND_TIMEOUT)
            return cursor
        if journal.is_finished and cursor > journal.last_seq:
            self._finish(journal)
            return None
        self._send({"t": "ping"})
        return cursor

    def _finish(self, journal: Journal) -> None:
        final = journal.final_seq()
        if final is not None:
            with self._cond:
                deadline = time.monotonic() + ACK_GRACE
                while self._acked < final and not self._closed and time.monotonic() < deadline:
                    self._cond.wait(0.5)
        self._send({"t": "bye", "complete": final is not None, "last_seq": journal.last_seq})

    def _send(self, message: Dict[str, Any], timeout: float = SEND_TIMEOUT) -> None:
        with self._send_lock:
            self._stream.send(encode_frame(message), timeout)

    def _send_error(self, code: str, text: str) -> None:
        with contextlib.suppress(OSError, TimeoutError):
            self._send({"t": "error", "code": code, "msg": text}, 2.0)

    def _close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._stream.close()


class LogServer:
    """Accept connections on an endpoint and serve each in its own thread."""

    def __init__(self, endpoint: Endpoint, config: SessionConfig) -> None:
        self._endpoint = endpoint
        self._config = config
        self._active = threading.BoundedSemaphore(MAX_SESSIONS)
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._sessions: List[threading.Thread] = []

    def start(self) -> None:
        self._thread.start()

    def _accept_loop(self) -> None:
        while True:
            stream = self._endpoint.accept()
            if stream is None:
                return
            if not self._active.acquire(blocking=False):
                stream.close()
                continue
            session = threading.Thread(target=self._serve, args=(stream,), daemon=True)
            self._sessions = [t for t in self._sessions if t.is_alive()] + [session]
            session.start()

    def _serve(self, stream: Stream) -> None:
        try:
            Session(stream, self._config).serve()
        finally:
            self._active.release()

    def drain(self, timeout: float) -> None:
        """Wait up to timeout s for live sessions to end (after the journal is finished)."""
        deadline = time.monotonic() + timeout
        for session in list(self._sessions):
            session.join(max(deadline - time.monotonic(), 0))

    def stop(self, drain: float = 3.0) -> None:
        """Stop accepting; give live sessions up to drain seconds to send their last records."""
        self._endpoint.close()
        self._thread.join(5.0)
        self.drain(drain)
