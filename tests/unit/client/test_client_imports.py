"""The client and the protocol import the standard library only and need no Python above 3.6
(vermin's static check; tests/unit/test_interpreters.py runs them on each CPython)."""

import ast
import subprocess
import sys
from pathlib import Path
from typing import List, Set

import pytest

import patchpilot.client
import patchpilot.protocol

PACKAGES = [Path(patchpilot.client.__file__).parent, Path(patchpilot.protocol.__file__).parent]
SOURCES = sorted(p for pkg in PACKAGES for p in pkg.rglob("*.py"))


def _is_optional(node: ast.Try) -> bool:
    """Say whether a try block guards optional imports (it catches ImportError)."""
    caught = [h.type for h in node.handlers if h.type is not None]
    names = {n.id for t in caught for n in ast.walk(t) if isinstance(n, ast.Name)}
    return bool(names & {"ImportError", "ModuleNotFoundError"})


def _required_nodes(tree: ast.AST) -> List[ast.AST]:
    nodes: List[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        nodes.append(node)
        if isinstance(node, ast.Try) and _is_optional(node):
            stack.extend(node.handlers + node.orelse + node.finalbody)
        else:
            stack.extend(ast.iter_child_nodes(node))
    return nodes


def _imports(tree: ast.AST) -> Set[str]:
    """Return the modules tree imports, except optional ones guarded by except ImportError."""
    names = set()
    for node in _required_nodes(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.host
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_standard_library_only(source: Path) -> None:
    tree = ast.parse(source.read_text())
    allowed = set(sys.stdlib_module_names) | {"patchpilot"}  # novermin: a host test
    foreign = {n for n in _imports(tree) if n.split(".")[0] not in allowed}
    assert not foreign, f"{source} imports {foreign}"
    inside = {n for n in _imports(tree) if n.startswith("patchpilot.")}
    outside = {n for n in inside if not n.startswith(("patchpilot.client", "patchpilot.protocol"))}
    assert not outside, f"{source} imports {outside}"


def _vermin(*paths: Path) -> "subprocess.CompletedProcess[str]":
    """Run vermin on paths: exit 0 when every construct and library name exists in 3.6."""
    argv = ["--target=3.6-", "--violations", "--eval-annotations", "--no-tips", "-q"]
    return subprocess.run(
        [str(Path(sys.executable).with_name("vermin")), *argv, *map(str, paths)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
        timeout=120,
        check=False,
    )


@pytest.mark.host
def test_the_floor_is_python_3_6() -> None:
    done = _vermin(*PACKAGES)
    assert done.returncode == 0, done.stdout


@pytest.mark.host
def test_the_unit_tests_need_no_python_above_3_6_either() -> None:
    """They run on every interpreter too (tests/unit/test_interpreters.py): this says which
    file and line first, where the 3.6 run would only fail to collect it."""
    tests = Path(__file__).resolve().parents[1]
    done = _vermin(tests / "client", tests / "protocol")
    assert done.returncode == 0, done.stdout


@pytest.mark.host
def test_the_floor_check_sees_a_newer_construct(tmp_path: Path) -> None:
    newer = tmp_path / "newer.py"
    newer.write_text("import dataclasses\nif (n := 1):\n    print(f'{n=}')\n")
    done = _vermin(newer)
    assert done.returncode != 0 and "3.8" in done.stdout, done.stdout


def test_a_lock_call_loads_no_round_machinery() -> None:
    """The client starts several times per round; `lock`, `unlock` and `version` must not
    pay for the round, the endpoints or a backend (issue 14: ~50 ms a call on the target)."""
    heavy = ["patchpilot.client.round", "patchpilot.client.attach", "patchpilot.client.backends"]
    probe = (
        "import sys; from patchpilot.client import cli; "
        f"print(sorted(set({heavy!r}) & set(sys.modules)))"
    )
    source = str(PACKAGES[0].parents[1])
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {source!r}); {probe}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"
