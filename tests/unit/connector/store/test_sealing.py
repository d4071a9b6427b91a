"""The state key: where it comes from, and that its file is private."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchpilot.connector.store.sealing import load_key
from patchpilot.errors import StateError


@pytest.mark.parametrize("named", [True, False])
def test_a_state_key_file_others_can_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, named: bool
) -> None:
    """The key that opens every run's secret was read from a 0644 file without a word."""
    monkeypatch.delenv("PATCHPILOT_STATE_KEY", raising=False)
    key = tmp_path / ("my.key" if named else "state.key")
    key.write_text("cd" * 32 + "\n")
    if named:
        monkeypatch.setenv("PATCHPILOT_STATE_KEY_FILE", str(key))
    else:
        monkeypatch.delenv("PATCHPILOT_STATE_KEY_FILE", raising=False)
    for mode in (0o644, 0o640, 0o604):
        key.chmod(mode)
        with pytest.raises(StateError, match=rf"{key}: not private .* chmod 600"):
            load_key(tmp_path)
    key.chmod(0o600)
    assert load_key(tmp_path) == bytes.fromhex("cd" * 32)
