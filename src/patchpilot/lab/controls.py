"""The control channel between the `Lab` facade and its supervisor daemon.

One JSON object per line over the lab's Unix socket: a request `{"op": ..., ...}` and one
reply `{"ok": true, ...}` or `{"ok": false, "error": "..."}`. Operations: ping, status, add,
add_vm, remove, start, reboot, hang, cut, restore, shutdown. Replies that fail become `LabError`.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from patchpilot.lab.errors import LabError

__all__ = ["OPERATIONS", "decode", "encode", "send_request"]

OPERATIONS = (
    "ping",
    "status",
    "add",
    "add_vm",
    "remove",
    "start",
    "reboot",
    "hang",
    "cut",
    "restore",
    "shutdown",
)


def encode(message: dict[str, Any]) -> bytes:
    """Return one message as a JSON line."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """Parse one JSON line into a message; raise LabError when it is not an object."""
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise LabError(f"malformed lab control message: {line[:80]!r}") from exc
    if not isinstance(message, dict):
        raise LabError(f"malformed lab control message: {line[:80]!r}")
    return message


def send_request(path: Path, message: dict[str, Any], *, timeout: float = 60.0) -> dict[str, Any]:
    """Send one request to the supervisor at path and return its reply's fields."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(encode(message))
            reply = sock.makefile("rb").readline()
    except (OSError, TimeoutError) as exc:
        raise LabError(f"the lab at {path.parent} does not answer ({exc})") from exc
    if not reply:
        raise LabError(f"the lab at {path.parent} closed the control channel")
    fields = decode(reply)
    if not fields.get("ok"):
        raise LabError(str(fields.get("error", "the lab refused the request")))
    return fields
