"""Golden cases: each folder of inventory_cases/ holds an inventory and what it must resolve to.

`expected.yml` names, for some hosts, the fields they must have (`hosts`), the line each
variable must come from (`origins`), what patterns select (`select`), or the error the file
must raise (`error`, matched as a substring of the message with the folder stripped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from patchpilot.connector.inventory import load_inventory
from patchpilot.errors import ConfigurationError

CASES = Path(__file__).parent / "inventory_cases"


def _case_dirs() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if p.is_dir())


def _inventory_file(case: Path) -> Path:
    (found,) = [p for p in case.iterdir() if p.name != "expected.yml"]
    return found


@pytest.mark.parametrize("case", _case_dirs(), ids=lambda p: p.name)
def test_inventory_case(case: Path) -> None:
    expected: dict[str, Any] = yaml.safe_load((case / "expected.yml").read_text())
    path = _inventory_file(case)
    if "error" in expected:
        with pytest.raises(ConfigurationError) as info:
            load_inventory(path)
        assert expected["error"] in str(info.value).replace(f"{case}/", "")
        return
    inventory = load_inventory(path)
    for name, fields in expected.get("hosts", {}).items():
        host = inventory.host(name)
        for field, value in fields.items():
            got = getattr(host, field)
            assert (list(got) if field == "groups" else got) == value, (name, field)
    for name, lines in expected.get("origins", {}).items():
        host = inventory.host(name)
        assert {v: host.where(v) for v in lines} == {v: f"{path}:{n}" for v, n in lines.items()}
    for pattern, names in expected.get("select", {}).items():
        assert [h.name for h in inventory.select(pattern)] == names, pattern


def test_unknown_host_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "inv.ini"
    path.write_text("[web]\nw1\n")
    with pytest.raises(ConfigurationError, match="no host 'w9'"):
        load_inventory(path).host("w9")


def test_unreadable_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the inventory"):
        load_inventory(tmp_path / "missing.yml")


def test_bad_regex_pattern_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "inv.ini"
    path.write_text("w1\n")
    with pytest.raises(ConfigurationError, match="invalid host pattern"):
        load_inventory(path).select("~w(")
