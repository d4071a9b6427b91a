"""The Airflow provider uses the connector's public surface only (`patchpilot.connector`)."""

from __future__ import annotations

import ast
from pathlib import Path

import patchpilot.connector as connector

PROVIDER = Path(__file__).resolve().parents[3] / "src" / "patchpilot" / "airflow"


def test_the_provider_imports_only_public_connector_names() -> None:
    for path in sorted(PROVIDER.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "patchpilot.connector"
            ):
                assert node.module == "patchpilot.connector", f"{path.name}: {node.module}"
                assert {a.name for a in node.names} <= set(connector.__all__), path.name
