"""Servers shared by unit tests that need a real peer on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from patchpilot.lab.samba import SambaServer


@pytest.fixture(scope="session")
def samba(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaServer]:
    """A real smbd on 127.0.0.1 (shares `patch`, read-only, and `C$`), for the whole session."""
    with SambaServer(tmp_path_factory.mktemp("samba")) as server:
        yield server
