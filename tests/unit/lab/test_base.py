"""The base image's mirror and cache key; the preflight checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from patchpilot.lab.base import DEFAULT_MIRROR, base_key, mirror_url
from patchpilot.lab.errors import LabError
from patchpilot.lab.tools import require_tools


def test_mirror_comes_from_the_first_deb_line(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list"
    sources.write_text("# comment\ndeb [arch=amd64] http://mirror.example/debian/ bookworm main\n")
    assert mirror_url(sources) == "http://mirror.example/debian"
    assert mirror_url(tmp_path / "missing") == DEFAULT_MIRROR


def test_cache_key_depends_on_the_mirror_only_through_the_recipe() -> None:
    assert base_key("http://a/debian") == base_key("http://a/debian")
    assert base_key("http://a/debian") != base_key("http://b/debian")


def test_missing_tool_names_its_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(LabError, match="apt-get install systemd-container"):
        require_tools(["systemd-nspawn"])
