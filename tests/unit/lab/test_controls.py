"""The control channel's message format."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchpilot.lab.controls import decode, encode, send_request
from patchpilot.lab.errors import LabError


def test_messages_round_trip_as_one_line() -> None:
    line = encode({"op": "hang", "name": "lab-1", "seconds": None})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode(line) == {"op": "hang", "name": "lab-1", "seconds": None}


@pytest.mark.parametrize("line", [b"not json\n", b"[1, 2]\n"])
def test_malformed_messages_are_lab_errors(line: bytes) -> None:
    with pytest.raises(LabError, match="malformed"):
        decode(line)


def test_a_missing_supervisor_is_a_lab_error(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="does not answer"):
        send_request(tmp_path / "control.sock", {"op": "ping"}, timeout=1)
