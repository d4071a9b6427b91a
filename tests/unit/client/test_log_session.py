"""The log session over a socketpair: auth, resume, live records, ack, and every refusal."""

import socket
import struct
import threading
import time
from typing import Iterator, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchpilot.client.endpoints.unix import SocketStream
from patchpilot.client.journal import Journal
from patchpilot.client.peer import LogPeer, PeerError
from patchpilot.client.session import Session, SessionConfig
from patchpilot.protocol import PROTOCOL_VERSION, RELEASE, encode_frame

SECRET = "5e" * 32


class Served:
    def __init__(self, journal: Journal, **options: object) -> None:
        self.acks: List[int] = []
        config = SessionConfig(journal, SECRET, "run-1", 2, on_ack=self.acks.append, **options)  # type: ignore[arg-type]
        ours, theirs = socket.socketpair()
        self.peer = LogPeer(SocketStream(theirs))
        self.raw = theirs
        self.thread = threading.Thread(target=Session(SocketStream(ours), config).serve)
        self.thread.start()
        _OPEN.append(self)

    def ended(self) -> bool:
        self.thread.join(5.0)
        return not self.thread.is_alive()


_OPEN: List[Served] = []


@pytest.fixture(autouse=True)
def _close_peers() -> Iterator[None]:
    yield
    while _OPEN:
        served = _OPEN.pop()
        served.peer.close()
        served.ended()


@pytest.fixture
def journal() -> Iterator[Journal]:
    journal = Journal(None)
    for event in ("run.started", "scan.done", "plan.selected"):
        journal.append(event)
    yield journal
    journal.finish()


def test_reads_history_then_live_then_acks(journal: Journal) -> None:
    served = Served(journal)
    hello = served.peer.handshake(SECRET)
    assert (hello["run"], hello["round"], hello["live"]) == ("run-1", 2, True)
    served.peer.read(1)
    threading.Timer(0.2, lambda: journal.append("round.result", status="nothing")).start()
    records = served.peer.collect(5.0)
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    served.peer.ack(4)
    journal.append("reboot.requested", command="systemctl reboot")
    journal.finish()
    after = served.peer.collect(5.0, until_final=False)
    assert [r["event"] for r in after] == ["reboot.requested"]
    assert served.ended() and served.acks == [4]


def test_resumes_from_a_seq(journal: Journal) -> None:
    served = Served(journal)
    served.peer.handshake(SECRET)
    served.peer.read(3)
    journal.finish()
    assert [r["seq"] for r in served.peer.collect(5.0, until_final=False)] == [3]


def test_pings_while_idle(journal: Journal) -> None:
    served = Served(journal, ping_interval=0.1)
    served.peer.handshake(SECRET)
    served.peer.read(4)
    message = served.peer.receive(5.0)
    assert message == {"t": "ping"}


def test_wrong_proof_is_refused(journal: Journal) -> None:
    served = Served(journal)
    with pytest.raises(PeerError, match="'code': 'auth'"):
        served.peer.handshake("00" * 32)
    assert served.ended()
    assert served.peer.receive(1.0) is None


def test_an_impostor_client_is_detected() -> None:
    ours, theirs = socket.socketpair()
    ours.sendall(
        encode_frame({"t": "hello", "v": 1, "run": "run-1", "round": 2, "nonce": "c" * 32})
    )
    ours.sendall(encode_frame({"t": "welcome", "proof": "0" * 64}))
    peer = LogPeer(SocketStream(theirs))
    with pytest.raises(PeerError, match="impostor"):
        peer.handshake(SECRET)
    peer.close()
    ours.close()


def _frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def _error_after(served: Served, payload: bytes) -> dict:
    hello = served.peer.receive(5.0)
    assert hello is not None and hello["t"] == "hello"
    served.raw.sendall(payload)
    message = served.peer.receive(5.0)
    assert message is not None
    assert served.ended()
    return message


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", "frame"),  # garbage: a huge length prefix
        (struct.pack(">I", 2 * 1024 * 1024), "frame"),  # oversized frame
        (struct.pack(">I", 5) + b"nope!", "frame"),  # not JSON
        (encode_frame({"t": "read", "from": 1}), "protocol"),  # no auth first
        (encode_frame({"t": "auth", "v": 9, "nonce": "a" * 32, "proof": "x"}), "version"),
        (encode_frame({"t": "auth", "v": 1, "nonce": 5, "proof": "x"}), "protocol"),
        (encode_frame({"t": "auth", "v": 1, "nonce": "a" * 32, "proof": "\u00e9" * 64}), "auth"),
        (_frame(b'{"t":"auth","v":1,"nonce":"' + b"a" * 32 + b'","proof":"\\ud800"}'), "auth"),
        (_frame(b'{"t": "auth", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"), "frame"),
    ],
)
def test_garbage_is_refused(journal: Journal, payload: bytes, code: str) -> None:
    message = _error_after(Served(journal), payload)
    assert message["t"] == "error" and message["code"] == code


def test_a_connector_of_another_protocol_version_is_refused_with_both_releases(
    journal: Journal,
) -> None:
    served = Served(journal)
    hello = served.peer.receive(5.0)
    assert hello is not None and (hello["v"], hello["rel"]) == (PROTOCOL_VERSION, RELEASE)
    auth = {"t": "auth", "v": 2, "rel": "9.0.0", "nonce": "a" * 32, "proof": "x"}
    served.raw.sendall(encode_frame(auth))
    message = served.peer.receive(5.0)
    assert message == {
        "t": "error",
        "code": "version",
        "msg": f"incompatible versions: this client (patchpilot {RELEASE}) speaks protocol 1, "
        "the connector (patchpilot 9.0.0) protocol 2; run a connector and client of releases "
        "that share a protocol version",
    }
    assert served.ended()


def test_silence_is_refused(journal: Journal) -> None:
    served = Served(journal, auth_timeout=0.3)
    started = time.monotonic()
    assert served.peer.receive(5.0)["t"] == "hello"  # type: ignore[index]
    message = served.peer.receive(5.0)
    assert message is not None and message["code"] == "timeout"
    assert time.monotonic() - started < 3.0
    assert served.ended()


def test_unknown_message_after_auth_is_refused(journal: Journal) -> None:
    served = Served(journal)
    served.peer.handshake(SECRET)
    served.peer.send({"t": "shell", "cmd": "id"})
    message = served.peer.receive(5.0)
    assert message is not None and message["code"] == "protocol"
    assert served.ended()


def test_a_second_read_is_refused(journal: Journal) -> None:
    served = Served(journal)
    served.peer.handshake(SECRET)
    served.peer.read(1)
    served.peer.read(2)
    message = served.peer.receive(5.0)
    while message is not None and message["t"] == "rec":
        message = served.peer.receive(5.0)
    assert message is not None and message["t"] == "error" and message["code"] == "protocol"
    assert served.ended()


def test_a_slow_reader_never_blocks_the_journal(journal: Journal) -> None:
    served = Served(journal)
    served.peer.handshake(SECRET)
    served.peer.read(1)
    started = time.monotonic()
    for index in range(3000):  # far more than a socket buffer; nobody reads
        journal.append("apt.output", line="x" * 200, index=index)
    assert time.monotonic() - started < 2.0


def test_disk_mode_waits_briefly_for_the_ack_then_says_bye() -> None:
    journal = Journal(None)
    journal.append("run.started")
    journal.append("round.result", status="success")
    journal.finish()
    served = Served(journal, live=False)
    assert served.peer.handshake(SECRET)["live"] is False
    served.peer.read(1)
    assert len(served.peer.collect(5.0)) == 2
    served.peer.ack(2)
    bye = served.peer.receive(5.0)
    assert bye == {"t": "bye", "complete": True, "last_seq": 2}
    assert served.ended()


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_instead_of_auth_end_the_session(payload: bytes) -> None:
    journal = Journal(None)
    ours, theirs = socket.socketpair()
    config = SessionConfig(journal, SECRET, "run-1", 2, auth_timeout=0.3)
    thread = threading.Thread(target=Session(SocketStream(ours), config).serve)
    thread.start()
    theirs.sendall(payload)
    thread.join(5.0)
    assert not thread.is_alive()
    theirs.close()


def test_silence_after_auth_is_refused(journal: Journal) -> None:
    served = Served(journal, auth_timeout=0.3)
    served.peer.handshake(SECRET)
    message = served.peer.receive(5.0)
    assert message is not None and message["code"] == "timeout"
    assert served.ended()
