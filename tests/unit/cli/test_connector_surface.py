"""The command line uses the connector's public surface only (`patchpilot.connector`), as the
Airflow provider does: what both faces need lives below them, pinned."""

from __future__ import annotations

import ast
from pathlib import Path

import patchpilot.connector as connector

CLI = Path(__file__).resolve().parents[3] / "src" / "patchpilot" / "cli"


def _connector_imports(path: Path) -> list[tuple[str, set[str]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "patchpilot.connector"
        ):
            found.append((node.module or "", {a.name for a in node.names}))
        elif isinstance(node, ast.Import):
            found += [(a.name, set()) for a in node.names if a.name.startswith("patchpilot.conn")]
    return found


def test_the_cli_imports_only_public_connector_names() -> None:
    files = sorted(CLI.glob("*.py"))
    assert len(files) > 15
    for path in files:
        for module, names in _connector_imports(path):
            assert module == "patchpilot.connector", f"{path.name}: {module}"
            assert names <= set(connector.__all__), f"{path.name}: {names - set(connector.__all__)}"


def test_the_check_sees_an_internal_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from patchpilot.connector.run.runner import run_target\n")
    assert _connector_imports(bad) == [("patchpilot.connector.run.runner", {"run_target"})]
