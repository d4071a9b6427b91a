"""PowerShell quoting by construction: hostile values stay inside literals, byte for byte."""

from __future__ import annotations

import base64
import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patchpilot.transports.powershell import (
    DATA_ROOT,
    encoded_command,
    last_json,
    literal,
    powershell_argv,
    prepare_root_argv,
    quote_ps,
    render,
    split_literals,
    write_file_argv,
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


def script_of(argv: list[str]) -> str:
    return base64.b64decode(argv[-1]).decode("utf-16-le")


def test_the_data_root_is_checked_whole_before_its_acl_is_set() -> None:
    skeleton, literals = split_literals(script_of(prepare_root_argv()))
    assert literals[1] == DATA_ROOT
    assert {"S-1-5-32-544", "S-1-5-18"} <= set(literals)  # Administrators, SYSTEM
    assert "ReparsePoint" in skeleton and "GetOwner(" in skeleton  # links and owners
    assert "Get-ChildItem -LiteralPath $item.FullName -Force" in skeleton  # every descendant
    # a new folder gets its ACL as it is created; no window where users may write in it
    assert "[IO.Directory]::CreateDirectory($root, $guard)" in skeleton
    # an existing one not exactly ours is walked before the ACL is set, and again after
    assert "GetSecurityDescriptorSddlForm('')" in skeleton
    assert skeleton.index("if (-not $refused)") < skeleton.index("Set-Acl")
    assert skeleton.index("Set-Acl") < skeleton.rindex("$refused = Find-Untrusted $top")
    assert skeleton.rstrip().endswith("@{ refused = $refused } | ConvertTo-Json -Compress")


def test_a_write_fails_before_writing_when_the_data_root_is_refused() -> None:
    path = DATA_ROOT + "\\runs\\r1\\round-1\\job.json"
    skeleton, literals = split_literals(script_of(write_file_argv(path)))
    assert path in literals
    refusal = skeleton.index("if ($refused) { throw")
    assert refusal < skeleton.index("New-Item -ItemType Directory -Force")
    assert refusal < skeleton.index("WriteAllBytes")
