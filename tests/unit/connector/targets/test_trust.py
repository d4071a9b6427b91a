"""Settings that weaken a Windows target's authentication are warned about, from any source
(security review, item 10)."""

from __future__ import annotations

from typing import Any

import pytest

from patchpilot.connector.fleet.job import host_options
from patchpilot.connector.inventory import load_inventory
from patchpilot.connector.options import RunOptions
from patchpilot.connector.targets import TARGETS


def weakening_warnings(options: RunOptions) -> list[str]:
    return TARGETS[options.os].warnings_for(options)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"winrm_cert_validation": False}, ["certificate validation is off"]),
        ({"winrm_auth": "credssp"}, ["CredSSP hands the password"]),
        ({"winrm_auth": "basic", "winrm_tls": False}, ["without TLS", "basic authentication"]),
        ({}, []),
    ],
)
def test_each_weakening_option_is_named(extra: dict[str, Any], words: list[str]) -> None:
    found = weakening_warnings(RunOptions(os="windows", transport="psrp", **extra))
    assert len(found) == len(words)
    assert all(w in f for w, f in zip(words, found, strict=True))
    assert weakening_warnings(RunOptions(**extra)) == []  # Linux: no WinRM


def test_an_inventory_line_is_warned_about(tmp_path: Any) -> None:
    path = tmp_path / "inv.yml"
    path.write_text(
        "all:\n  hosts:\n    w1:\n      patchpilot_os: windows\n"
        "      patchpilot_winrm_cert_validation: false\n      patchpilot_winrm_auth: credssp\n"
    )
    options = host_options(RunOptions(), load_inventory(path).host("w1"))
    assert len(weakening_warnings(options)) == 2
