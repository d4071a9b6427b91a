"""`attach`: give the connector a round's log endpoint over stdin/stdout.

When the round's client is alive, bytes are relayed both ways between stdin/stdout and its
Unix socket (the protocol runs end to end, the proofs too). When nothing listens there (the
client exited, the server rebooted), attach serves the on-disk journal itself with the same
protocol, using the secret from the round's job.json; its hello says `"live": false`.

`listen_once` serves that same on-disk journal on the round's own endpoint instead of stdio,
to one connection: on Windows the connector's session only relays the named pipe (it runs no
client, see docs/windows.md), so a SYSTEM task runs `attach --listen` when no client is live.
"""

import sys
import threading
from typing import Optional

from patchpilot.client.endpoints import connect_endpoint, open_endpoint
from patchpilot.client.endpoints.base import Stream
from patchpilot.client.endpoints.stdio import stdio_stream
from patchpilot.client.jobspec import parse_job_spec
from patchpilot.client.journal import Journal
from patchpilot.client.paths import RoundPaths, round_paths
from patchpilot.client.session import Session, SessionConfig

__all__ = ["attach", "listen_once", "relay", "serve_from_disk"]

_CHUNK = 65536


def _pump(source: Stream, sink: Stream, done: threading.Event) -> None:
    try:
        while not done.is_set():
            try:
                data = source.recv(_CHUNK, 1.0)
            except TimeoutError:
                continue
            if not data:
                break
            sink.send(data, 60.0)
    except (OSError, TimeoutError):
        pass
    finally:
        done.set()


def relay(local: Stream, remote: Stream) -> None:
    """Copy bytes both ways until either side ends."""
    done = threading.Event()
    upstream = threading.Thread(target=_pump, args=(local, remote, done), daemon=True)
    upstream.start()
    _pump(remote, local, done)
    remote.close()
    local.close()


def _disk_session(paths: RoundPaths) -> SessionConfig:
    """Return the session over the round's journal file (the journal is already finished)."""
    with open(paths.job, encoding="utf-8") as handle:
        spec = parse_job_spec(handle.read())
    journal = Journal.snapshot(paths.journal)
    return SessionConfig(journal, spec.secret, spec.run_id, spec.round, live=False)


def serve_from_disk(paths: RoundPaths, stdio: Stream) -> None:
    """Serve the round's journal file with the protocol on stdio."""
    Session(stdio, _disk_session(paths)).serve()


def listen_once(run_id: str, round_no: int, wait: float) -> bool:
    """Serve the on-disk journal on the round's endpoint to the first connection.

    Return False when nobody connected within wait seconds. A live client's endpoint is left
    alone (True at once): the connector reaches that client instead.
    """
    paths = round_paths(run_id, round_no)
    live = _live(paths, run_id, round_no)
    if live is not None:
        live.close()
        return True
    config = _disk_session(paths)  # refuse a round without a job spec before listening
    endpoint = open_endpoint(paths, run_id, round_no, config.secret)
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        endpoint.close()

    timer = threading.Timer(wait, expire)
    timer.start()
    try:
        stream = endpoint.accept()
    except OSError:
        if not expired.is_set():  # closing a pipe under a pending accept may raise instead
            raise
        stream = None
    finally:
        timer.cancel()
    try:
        if stream is None:
            return False
        Session(stream, config).serve()
        return True
    finally:
        endpoint.close()


def _live(paths: RoundPaths, run_id: str, round_no: int) -> Optional[Stream]:
    try:
        with open(paths.job, encoding="utf-8") as handle:
            secret = parse_job_spec(handle.read()).secret
    except (OSError, ValueError):
        return None  # no job: no live client either (serving from disk says why)
    try:
        return connect_endpoint(paths, run_id, round_no, secret)
    except OSError:
        return None


def attach(run_id: str, round_no: int) -> None:
    """Relay to the live endpoint, or serve the journal from disk when there is none."""
    paths = round_paths(run_id, round_no)
    stdio = stdio_stream(sys.stdin.fileno(), sys.stdout.fileno())
    remote = _live(paths, run_id, round_no)
    if remote is not None:
        relay(stdio, remote)
    else:
        serve_from_disk(paths, stdio)
