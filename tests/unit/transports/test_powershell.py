"""PowerShell quoting by construction: hostile values stay inside literals, byte for byte."""

from __future__ import annotations

import base64
import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patchpilot.transports.powershell import (
    encoded_command,
    last_json,
    literal,
    powershell_argv,
    quote_ps,
    render,
    split_literals,
)

HOSTILE = [
    "it's",
    "''",
    "$(Remove-Item C:\\ -Recurse -Force)",
    "`$env:PATH`n",
    "; Start-Process calc.exe; '",
    "a\nb\r\nc",
    "x\u2019y\u2018z\u201a\u201b",
    "\u65e5\u672c\u8a9e \U0001f512",
    '"double" & | < > ^ %PATH% !x!',
    "@{a=1}; #comment <# block #>",
    "-EncodedCommand",
    "\\\\server\\share\\patchpilot.pyz",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_quote_round_trips_as_one_literal(value: str) -> None:
    skeleton, literals = split_literals(quote_ps(value))
    assert skeleton == "''"
    assert literals == [value]


@given(st.text(alphabet=st.characters(blacklist_characters="\x00")))
def test_quote_round_trips_any_text(value: str) -> None:
    assert split_literals(quote_ps(value)) == ("''", [value])


def test_quote_refuses_nul() -> None:
    with pytest.raises(ValueError, match="NUL"):
        quote_ps("a\x00b")


def test_render_keeps_every_value_inside_literals() -> None:
    template = "Do-It -Name {{name}} -List {{items}} -Count {{n}} -Force:{{force}} -X {{none}}"
    script = render(
        template, {"name": HOSTILE[2], "items": HOSTILE, "n": 3, "force": True, "none": None}
    )
    skeleton, literals = split_literals(script)
    blanks = ",".join(["''"] * len(HOSTILE))
    assert skeleton == f"Do-It -Name '' -List @({blanks}) -Count 3 -Force:$true -X $null"
    assert literals == [HOSTILE[2], *HOSTILE]


def test_render_refuses_missing_and_unused_values() -> None:
    with pytest.raises(KeyError):
        render("Get-Item {{path}}", {})
    with pytest.raises(ValueError, match="without a hole"):
        render("Get-Item {{path}}", {"path": "x", "extra": "y"})


def test_literals() -> None:
    assert literal(False) == "$false"
    assert literal(-5) == "-5"
    assert literal(["a'b"]) == "@('a''b')"


def test_encoded_command_is_utf16le_base64() -> None:
    script = "Write-Output " + quote_ps(HOSTILE[7])
    assert base64.b64decode(encoded_command(script)).decode("utf-16-le") == script


def test_argv_is_inert_in_every_shell() -> None:
    argv = powershell_argv(render("Write-Output {{v}}", {"v": HOSTILE[4]}))
    assert argv[:5] == [
        "powershell.exe",
        "-NoProfile",
        "-NonInteractive",
        "-ExecutionPolicy",
        "Bypass",
    ]
    assert argv[5] == "-EncodedCommand"
    # No character a POSIX shell, cmd.exe or PowerShell would interpret: shlex leaves it bare.
    assert shlex.join(argv) == " ".join(argv)
    assert set(argv[6]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def test_argv_refuses_too_long_scripts() -> None:
    with pytest.raises(ValueError, match="too long"):
        powershell_argv("x" * 3000)


def test_last_json() -> None:
    assert last_json('WARNING: noise\n{"ok":true}\n\n') == {"ok": True}
    with pytest.raises(ValueError, match="printed nothing"):
        last_json("  \n")
    with pytest.raises(ValueError, match="not JSON"):
        last_json("Access is denied.")
