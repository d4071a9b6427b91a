"""The thread-based stdin/stdout stream `attach` uses on Windows, over real pipes."""

import os

import pytest

from patchpilot.client.endpoints.stdio import ThreadedFdStream


def test_exchange_partial_reads_timeout_and_end() -> None:
    in_read, in_write = os.pipe()
    out_read, out_write = os.pipe()
    stream = ThreadedFdStream(in_read, out_write)
    os.write(in_write, b"hello world")
    assert stream.recv(5, timeout=2) == b"hello"
    assert stream.recv(100, timeout=2) == b" world"
    with pytest.raises(TimeoutError):
        stream.recv(100, timeout=0.05)
    stream.send(b"frame", timeout=2)
    assert os.read(out_read, 100) == b"frame"
    os.close(in_write)
    assert stream.recv(100, timeout=2) == b""
    assert stream.recv(100, timeout=2) == b""
    stream.close()
    os.close(out_read)
    with pytest.raises(TimeoutError):
        stream.send(b"x" * 10, timeout=0.5)  # nobody reads any more
    for fd in (in_read, out_write):
        os.close(fd)
