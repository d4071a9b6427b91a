"""The lock (requirements/dev.lock) is the resolution of pyproject.toml's ranges: a dependency
added to pyproject.toml without running scripts/lock.sh fails here, before install.sh would
install a set that lacks it."""

import re
import tomllib
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCKED_EXTRAS = ("dev", "postgres", "docs")  # scripts/lock.sh's --extra flags


def _pins() -> dict[str, list[tuple[str, Marker | None]]]:
    """Each locked name's versions, with the marker that selects each (the lock is universal)."""
    pins: dict[str, list[tuple[str, Marker | None]]] = {}
    text = (ROOT / "requirements/dev.lock").read_text()
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$", line)
        if match:
            marker = Marker(match[3]) if match[3] else None
            pins.setdefault(canonicalize_name(match[1]), []).append((match[2], marker))
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in LOCKED_EXTRAS:
        declared += project["optional-dependencies"][extra]
    return [Requirement(r) for r in declared]


def test_every_declared_dependency_is_locked_within_its_range() -> None:
    pins = _pins()
    here = {"python_full_version": "3.11.2", "python_version": "3.11", "sys_platform": "linux"}
    for requirement in _declared():
        versions = [
            version
            for version, marker in pins.get(canonicalize_name(requirement.name), [])
            if marker is None or marker.evaluate(here)
        ]
        assert versions, f"{requirement.name} is not in requirements/dev.lock: run scripts/lock.sh"
        for version in versions:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"requirements/dev.lock has {requirement.name}=={version}, outside "
                f"pyproject.toml's {requirement}: run scripts/lock.sh"
            )


def test_every_pin_carries_a_hash() -> None:
    """install.sh installs with --require-hashes: a pin without one would fail there."""
    blocks = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / "requirements/dev.lock").read_text())
    pinned = [b for b in blocks if "==" in b.split("\n", 1)[0]]
    assert len(pinned) > 20
    for block in pinned:
        assert "--hash=sha256:" in block, block.split("\n", 1)[0]


def test_no_exact_pin_in_pyproject() -> None:
    """Libraries declare ranges; the exact set lives in the lock."""
    exact = [str(r) for r in _declared() if any(s.operator in ("==", "===") for s in r.specifier)]
    assert not exact, f"pin these in the lock, not pyproject.toml: {exact}"
