"""Interpreter discovery on a Linux target: a real shell tries real interpreters in order, the
first CPython >= 3.6 wins, and a target without one is refused (exit 79) before any change."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from patchpilot.connector.fleet.job import host_options, target_of
from patchpilot.connector.inventory import load_inventory
from patchpilot.connector.options import RunOptions
from patchpilot.connector.target_spec import TargetSpec
from patchpilot.connector.targets.interpreter import (
    CANDIDATES,
    PROBE,
    Interpreter,
    find_interpreter,
    parse_probe,
)
from patchpilot.connector.targets.linux import LinuxOS, asked_python
from patchpilot.errors import ConfigurationError, NoInterpreterError
from patchpilot.transports.fake import FakeTransport
from patchpilot.transports.local import LocalSettings, LocalTransport

PY36 = sorted(Path.home().glob(".pyenv/versions/3.6.*/bin/python3.6"))
CURRENT = ".".join(map(str, sys.version_info[:3]))


def _fake_python(folder: Path, name: str, version: str, status: int) -> str:
    """Write an executable that answers the probe as an interpreter of version would."""
    path = folder / name
    path.write_text(f"#!/bin/sh\necho {version}\nexit {status}\n")
    path.chmod(0o755)
    return str(path)


async def _find(*candidates: str) -> Interpreter:
    async with LocalTransport(LocalSettings()) as transport:
        return await find_interpreter(transport, candidates)


async def test_the_first_usable_interpreter_wins_and_what_came_before_is_said(
    tmp_path: Path,
) -> None:
    old = _fake_python(tmp_path, "python2", "2.7.18", 1)
    missing = str(tmp_path / "python3-absent")
    found = await _find(missing, old, sys.executable, _fake_python(tmp_path, "later", "3.12.0", 0))
    assert (found.path, found.version) == (sys.executable, CURRENT)
    assert found.tried == ((missing, "missing"), (old, "2.7.18"))


@pytest.mark.skipif(not PY36, reason="no CPython 3.6 in pyenv")
async def test_a_real_36_with_isolation_is_enough() -> None:
    found = await _find(str(PY36[-1]))
    assert found.version.startswith("3.6.")


async def test_no_interpreter_names_every_path_tried(tmp_path: Path) -> None:
    old = _fake_python(tmp_path, "python3.5", "3.5.10", 1)
    broken = _fake_python(tmp_path, "broken", "", 127)
    with pytest.raises(NoInterpreterError) as info:
        await _find("/nonexistent/python3", old, broken, str(tmp_path))
    text = str(info.value)
    assert info.value.exit_code == 79 and info.value.is_target_free
    for said in ("/nonexistent/python3 (missing)", f"{old} (3.5.10)", f"{broken} (unusable)",
                 f"{tmp_path} (missing)", "--python"):  # fmt: skip
        assert said in text, text


def test_a_target_cannot_add_paths_of_its_own() -> None:
    stdout = "/usr/bin/python3 missing\n/tmp/evil 3.12.0\n/usr/libexec/platform-python 3.6.8\n"
    assert parse_probe(stdout, CANDIDATES) == [
        ("/usr/bin/python3", "missing"),
        ("/usr/libexec/platform-python", "3.6.8"),
    ]


def test_candidates_are_absolute_and_newest_first() -> None:
    assert CANDIDATES[:3] == ("/usr/bin/python3", "/usr/libexec/platform-python",
                              "/usr/bin/python3.13")  # fmt: skip
    assert CANDIDATES.index("/usr/bin/python3.7") < CANDIDATES.index("/usr/bin/python3.6")
    assert all(c.startswith("/") for c in CANDIDATES)


@pytest.mark.parametrize(
    ("python", "variables", "asked"),
    [
        (None, {}, None),
        ("/opt/py/bin/python3", {}, "/opt/py/bin/python3"),
        (None, {"ansible_python_interpreter": "/usr/libexec/platform-python"},
         "/usr/libexec/platform-python"),
        (None, {"ansible_python_interpreter": "auto_silent"}, None),
        ("/opt/a", {"ansible_python_interpreter": "/opt/b"}, "/opt/a"),
    ],
)  # fmt: skip
def test_the_interpreter_asked_for(
    python: str | None, variables: dict[str, object], asked: str | None
) -> None:
    target = TargetSpec("web1", "web1", vars=variables)
    assert asked_python(RunOptions(python=python), target) == asked
    assert LinuxOS.for_run(RunOptions(python=python), target).candidates == (
        (asked,) if asked else CANDIDATES
    )


@pytest.mark.parametrize("python", ["python3", "bin/python3"])
def test_a_relative_path_is_refused(python: str) -> None:
    with pytest.raises(ConfigurationError, match="absolute"):
        asked_python(RunOptions(python=python), TargetSpec("web1", "web1"))
    variables = {"ansible_python_interpreter": python}
    with pytest.raises(ConfigurationError, match="absolute"):
        asked_python(RunOptions(), TargetSpec("web1", "web1", vars=variables))


async def test_nothing_is_written_when_no_python_is_found() -> None:
    transport = FakeTransport(lambda argv, stdin: (1, "/usr/bin/python3 missing\n"))
    with pytest.raises(NoInterpreterError):
        await LinuxOS().deploy(transport, None, None, None)  # type: ignore[arg-type]
    assert [argv[:3] for argv in transport.commands] == [("sh", "-c", PROBE)]
    assert transport.files == {}


async def test_the_client_runs_on_what_was_found() -> None:
    answer = "/usr/bin/python3 missing\n/usr/libexec/platform-python 3.6.8\n"
    system = LinuxOS()
    transport = FakeTransport(lambda argv, stdin: (0, answer) if argv[0] == "sh" else (1, ""))
    system.interpreter = await find_interpreter(transport, system.candidates)
    assert system.client_argv("/c.pyz", "version") == [
        "/usr/libexec/platform-python", "-I", "-S", "/c.pyz", "version"]  # fmt: skip


def test_inventory_variables_name_the_interpreter(tmp_path: Path) -> None:
    """patchpilot_python (a per-host run option) and ansible_python_interpreter, per host."""
    path = tmp_path / "hosts.ini"
    path.write_text(
        "[rhel8]\nr1 patchpilot_python=/usr/libexec/platform-python\n"
        "r2 ansible_python_interpreter=/opt/py/bin/python3\n"
        "r3 ansible_python_interpreter=auto_silent\n"
    )
    inventory = load_inventory(path)
    chosen = {}
    for name in ("r1", "r2", "r3"):
        host = inventory.host(name)
        system = LinuxOS.for_run(host_options(RunOptions(), host), target_of(host))
        chosen[name] = system.candidates
    assert chosen == {
        "r1": ("/usr/libexec/platform-python",),
        "r2": ("/opt/py/bin/python3",),
        "r3": CANDIDATES,
    }
