"""The layout's rules, read from the source: which package may import which, and where the
OS is chosen (DESIGN.md's table; issue 10)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "patchpilot"


def _imports(path: Path) -> set[str]:
    """Return every module a file imports, lazily or not (absolute names)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _files(*parts: str) -> list[Path]:
    return sorted(SRC.joinpath(*parts).rglob("*.py"))


def _offenders(files: list[Path], forbidden: re.Pattern[str]) -> dict[str, list[str]]:
    found = {
        str(f.relative_to(SRC)): sorted(n for n in _imports(f) if forbidden.match(n)) for f in files
    }
    return {name: mods for name, mods in found.items() if mods}


def test_the_connector_never_imports_client_code() -> None:
    files = _files("connector") + _files("cli") + _files("transports") + _files("launchers")
    assert _offenders(files, re.compile(r"^patchpilot\.client(\.|$)")) == {}


def test_the_product_never_imports_the_lab() -> None:
    product = [f for f in SRC.rglob("*.py") if "lab" not in f.relative_to(SRC).parts]
    assert len(product) > 50
    assert _offenders(product, re.compile(r"^patchpilot\.lab(\.|$)")) == {}


def test_the_lab_command_is_found_through_its_entry_point() -> None:
    from importlib.metadata import entry_points

    (plugin,) = [e for e in entry_points(group="patchpilot.commands") if e.name == "lab"]
    assert plugin.value == "patchpilot.lab.cli:register"


def test_the_target_families_are_declared_as_entry_points() -> None:
    """pyproject.toml declares the built-in families where installed ones are found
    (test_toy_family.py loads one through that group)."""
    import tomllib

    project = tomllib.loads(SRC.parents[1].joinpath("pyproject.toml").read_text())["project"]
    assert project["entry-points"]["patchpilot.families"] == {
        "linux": "patchpilot.connector.targets.linux:LinuxOS",
        "windows": "patchpilot.connector.targets.windows.family:WindowsOS",
    }


@pytest.mark.parametrize("package", ["client", "protocol"])
def test_client_and_protocol_import_nothing_above_them(package: str) -> None:
    allowed = re.compile(r"^patchpilot\.(client|protocol)(\.|$)")
    found = _offenders(_files(package), re.compile(r"^patchpilot(\.|$)"))
    assert {f: [m for m in mods if not allowed.match(m)] for f, mods in found.items()} == {
        f: [] for f in found
    }


_OS_TEST = re.compile(r"""\bos\s*[!=]=\s*["'](windows|linux)["']|["'](windows|linux)["']\s*[!=]=""")


def test_no_os_branch_outside_targets() -> None:
    """The OS is chosen once (`TARGETS[options.os]`); nothing else asks which it is."""
    outside = [
        f for f in _files("connector") + _files("cli") if "targets" not in f.relative_to(SRC).parts
    ]
    hits = [
        f"{f.relative_to(SRC)}:{n}: {line.strip()}"
        for f in outside
        for n, line in enumerate(f.read_text().splitlines(), start=1)
        if _OS_TEST.search(line)
    ]
    assert hits == []


def test_the_connector_top_holds_no_per_os_or_fleet_files() -> None:
    top = {p.name for p in SRC.joinpath("connector").glob("*.py")}
    assert not {n for n in top if n.startswith(("windows_", "inventory", "fleet"))}
    assert "targetos.py" not in top and "deploy.py" not in top and "probes.py" not in top
    assert not {"runner.py", "rounds.py", "stream.py", "report.py", "result.py", "target.py"} & top
    for room in ("targets/linux.py", "targets/windows", "fleet", "inventory", "run", "store"):
        assert SRC.joinpath("connector", room).exists(), room


def test_the_command_line_starts_without_windows_remoting() -> None:
    """pypsrp and requests load for WinRM runs only: at start-up they cost every run ~70 ms
    and ~10 MiB (issue 14; docs/benchmarks.md)."""
    probe = (
        "import sys, patchpilot.cli.main; print(sorted({'pypsrp', 'requests'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _module_of(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


_MODULES = {_module_of(f): f for f in SRC.rglob("*.py")}


def _edges(path: Path) -> set[str]:
    """Return the product modules a file imports, type-only and lazy imports included: a
    `from package import name` points at the submodule `name` when there is one, else at the
    package."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in _MODULES else node.module
                for a in node.names
            )
    return {name for name in found if name in _MODULES} - {_module_of(path)}


_GRAPH = {name: _edges(path) for name, path in _MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected parts with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                part.append(top)
                if top == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check below can fail: a made-up loop through a type-only import is found."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle_anywhere_in_the_product() -> None:
    """Every import counts, `if TYPE_CHECKING:` and function-level ones too (issue 28)."""
    assert len(_GRAPH) > 100
    assert _cycles(_GRAPH) == []


# The floors, from DESIGN.md's table: a module imports its own room and rooms on lower floors
# only. Outside the connector a room is a top-level package; inside it, a folder, or the
# value types every floor shares (the connector's top-level modules).
_FLOORS = {
    "lab": 5, "cli": 5, "airflow": 5, "connector": 4, "launchers": 3, "transports": 2,
    "windows_share": 2, "client": 1, "client_build": 1, "protocol": 0, "errors": 0,
}  # fmt: skip
_CONNECTOR_FLOORS = {
    "__init__": 7, "job": 6, "fleet": 5, "run": 4, "reports": 3, "targets": 2, "store": 2,
    "inventory": 1,
}  # fmt: skip
_VALUES = 1


def _room(module: str) -> tuple[str, int, int]:
    """Return a module's room and its floor (the package's, then the connector's)."""
    parts = module.split(".")[1:] or ["errors"]
    if parts[0] != "connector":
        return parts[0], _FLOORS[parts[0]], 0
    inner = parts[1] if len(parts) > 1 else "__init__"
    return f"connector.{inner}", _FLOORS["connector"], _CONNECTOR_FLOORS.get(inner, _VALUES)


def _upward(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    found = set()
    for module, imported in graph.items():
        room, *floor = _room(module)
        for other in imported:
            other_room, *other_floor = _room(other)
            if other_room != room and other_floor > floor:
                found.add((module, other))
    return found


def test_the_floor_check_finds_an_import_that_points_up() -> None:
    graph = {"patchpilot.connector.store.base": {"patchpilot.connector.reports.model"}}
    assert _upward(graph) == {
        ("patchpilot.connector.store.base", "patchpilot.connector.reports.model")
    }


def test_no_import_points_up() -> None:
    """No module imports one on a higher floor, type-only and lazy imports included."""
    assert _upward(_GRAPH) == set()


def _below(module: str) -> set[str]:
    """Return every product module that module imports, directly or through others."""
    found: set[str] = set()
    todo = [module]
    while todo:
        for nxt in _GRAPH[todo.pop()] - found:
            found.add(nxt)
            todo.append(nxt)
    return found


# The run options and what they are made of: the model, its value parsers, how users spell it.
_OPTION_MODULES = ["options", "option_values", "option_spelling", "flat_options", "update_lists"]


@pytest.mark.parametrize("module", [*_OPTION_MODULES, "target_family"])
def test_the_options_and_the_family_registry_reach_no_family(module: str) -> None:
    """Families register into target_family.py; the options validate against it. Neither, nor
    anything they import, reaches connector/targets/ (type-only imports included), so a
    family is added without touching them (docs/architecture.md, "Adding a target family")."""
    assert "patchpilot.errors" in _below("patchpilot.connector.options")  # the walk goes deep
    reached = _below(f"patchpilot.connector.{module}")
    assert {m for m in reached if m.startswith("patchpilot.connector.targets")} == set()


@pytest.mark.parametrize("module", [*_OPTION_MODULES, "target_family"])
def test_options_name_no_family_nor_what_a_family_declares(module: str) -> None:
    """No string in the options' modules is a family's name, launcher, transport or backend:
    `--os`, `--transport`, `--launcher` and `--backend` take what the families declare."""
    from patchpilot.connector.target_family import target_families

    declared = {"linux", "windows"}
    for family in target_families().values():
        declared |= {family.name, *family.launchers, *family.transports, *family.backends}
    tree = ast.parse(SRC.joinpath("connector", f"{module}.py").read_text())
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert strings & (declared - {"auto"}) == set()


_TOOL_NAMES = {frozenset({"apt", "at"}), frozenset({"dnf", "dnf5"})}  # the tools' own names


def _one_letter_apart(a: str, b: str) -> bool:
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def test_no_two_module_names_differ_by_one_letter() -> None:
    """`report.py` beside `reports/` sent readers to the wrong room (issue 28)."""
    names = {
        p.stem
        for p in SRC.rglob("*")
        if (p.is_dir() or p.suffix == ".py") and not p.name.startswith("_")
    }
    close = {frozenset({a, b}) for a in names for b in names if a < b and _one_letter_apart(a, b)}
    assert close - _TOOL_NAMES == set()


def test_every_room_of_the_connector_has_a_floor() -> None:
    """A new folder says where it stands (here and in docs/architecture.md) before it is used."""
    rooms = {p.name for p in SRC.joinpath("connector").iterdir() if (p / "__init__.py").exists()}
    assert rooms - set(_CONNECTOR_FLOORS) == set()
