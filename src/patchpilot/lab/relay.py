"""Relay stdin/stdout to one TCP address: how a qemu VM reaches the lab repository.

qemu's user-mode network (`restrict=on`, so the VM reaches nothing else) runs this for each
connection the VM opens to its `guestfwd` address: `python -m patchpilot.lab.relay HOST PORT`.
"""

from __future__ import annotations

import os
import socket
import sys
import threading

__all__ = ["main", "relay"]

CHUNK = 65536


def relay(host: str, port: int) -> None:
    """Copy stdin to a connection to host:port and its replies to stdout until both close."""
    with socket.create_connection((host, port), timeout=30) as conn:
        conn.settimeout(None)
        upstream = threading.Thread(target=_stdin_to_socket, args=(conn,), daemon=True)
        upstream.start()
        while data := conn.recv(CHUNK):
            os.write(1, data)


def _stdin_to_socket(conn: socket.socket) -> None:
    while data := os.read(0, CHUNK):
        conn.sendall(data)
    conn.shutdown(socket.SHUT_WR)


def main() -> None:
    """Relay to the HOST PORT given as arguments."""
    if len(sys.argv) != 3:
        sys.exit("usage: python -m patchpilot.lab.relay HOST PORT")
    relay(sys.argv[1], int(sys.argv[2]))


if __name__ == "__main__":
    main()
