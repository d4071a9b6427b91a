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
    for room in ("targets/linux.py", "targets/windows", "fleet", "inventory"):
        assert SRC.joinpath("connector", room).exists(), room


def test_the_command_line_starts_without_windows_remoting() -> None:
    """pypsrp and requests load for WinRM runs only: at start-up they cost every run ~70 ms
    and ~10 MiB (issue 14; docs/benchmarks.md)."""
    probe = (
        "import sys, patchpilot.cli.main; print(sorted({'pypsrp', 'requests'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
