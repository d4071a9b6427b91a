"""The one place where values meet PowerShell: literals, scripts and the command line.

Values never become PowerShell code. A script is a constant template in the code with
`{{name}}` holes; `render` fills each hole with a PowerShell *literal* of the value: a
single-quoted string with every quote character doubled (PowerShell also takes the Unicode
quotes U+2018..U+201B as single quotes), an integer, `$true`/`$false` or an `@(...)` array of
those. The script then travels as `-EncodedCommand` (base64 of UTF-16LE), whose characters
are all inert in cmd.exe, POSIX shells and PowerShell alike, so the same argument list works
through WinRM, through Windows' OpenSSH server whatever its default shell, and locally.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from patchpilot.errors import ConfigurationError

__all__ = [
    "DATA_ROOT",
    "MAX_COMMAND_LINE",
    "PsValue",
    "encoded_command",
    "last_json",
    "native_call",
    "powershell_argv",
    "prepare_root_argv",
    "quote_ps",
    "render",
    "split_literals",
    "windows_argv",
    "write_file_argv",
]

# cmd.exe's limit (8191) binds where OpenSSH's default shell is cmd; stay under it.
MAX_COMMAND_LINE = 8000
_QUOTES = "'\u2018\u2019\u201a\u201b"
_HOLE = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}")
POWERSHELL = ("powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass")

PsValue = str | int | bool | Sequence[str] | None

# Arguments that mean the same to cmd.exe, PowerShell and a POSIX shell: passed bare.
_INERT = re.compile(r"^[A-Za-z0-9_.:\\/=+-]+$")
DATA_ROOT = "C:\\ProgramData\\patchpilot"

# Makes DATA_ROOT SYSTEM+Administrators only, or says why it will not. ProgramData lets any
# user create folders, so a user could pre-create DATA_ROOT (or a link, or a sub-folder before
# the ACL was tightened) and later read secrets or swap a job spec. A new DATA_ROOT is
# created with its ACL in one step. One that already carries exactly that owner and ACL is
# taken as is: nobody but administrators could add anything to it since. Any other is
# accepted only when nothing in it is a link and everything is owned by Administrators,
# SYSTEM or the connecting admin, checked before the ACL is set and again after (for what
# slipped in meanwhile).
SECURE_ROOT = """$ErrorActionPreference = 'Stop'
$root = {{root}}
$trusted = @('S-1-5-32-544', 'S-1-5-18',
  [Security.Principal.WindowsIdentity]::GetCurrent().User.Value)
function Find-Untrusted($item) {
  if ($item.Attributes -band [IO.FileAttributes]::ReparsePoint) {
    return $item.FullName + ' is a link'
  }
  $sid = [Security.Principal.SecurityIdentifier]
  $owner = (Get-Acl -LiteralPath $item.FullName).GetOwner($sid).Value
  if ($trusted -notcontains $owner) { return $item.FullName + ' is owned by ' + $owner }
  if ($item.PSIsContainer) {
    foreach ($child in Get-ChildItem -LiteralPath $item.FullName -Force) {
      $found = Find-Untrusted $child
      if ($found) { return $found }
    }
  }
  return $null
}
$wanted = 'O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)'
$guard = New-Object System.Security.AccessControl.DirectorySecurity
$guard.SetSecurityDescriptorSddlForm($wanted)
[void][IO.Directory]::CreateDirectory($root, $guard)
$top = Get-Item -LiteralPath $root -Force
$refused = $null
if ($top.Attributes -band [IO.FileAttributes]::ReparsePoint) {
  $refused = $root + ' is a link'
} elseif ((Get-Acl -LiteralPath $root).GetSecurityDescriptorSddlForm('Owner, Access') -ne $wanted) {
  $refused = Find-Untrusted $top
  if (-not $refused) {
    Set-Acl -LiteralPath $root -AclObject $guard
    $refused = Find-Untrusted $top
  }
}
"""

PREPARE_ROOT = SECURE_ROOT + "@{ refused = $refused } | ConvertTo-Json -Compress\n"

WRITE_FILE = (
    SECURE_ROOT
    + """if ($refused) { throw ('refusing to write under ' + $root + ': ' + $refused) }
$path = {{path}}
New-Item -ItemType Directory -Force -Path (Split-Path -Parent $path) | Out-Null
$tmp = $path + '.tmp-' + [guid]::NewGuid().ToString('N')
$bytes = [Convert]::FromBase64String([Console]::In.ReadToEnd().Trim())
[IO.File]::WriteAllBytes($tmp, $bytes)
Move-Item -LiteralPath $tmp -Destination $path -Force
@{ written = $bytes.Length } | ConvertTo-Json -Compress
"""
)


def quote_ps(value: str) -> str:
    """Return value as a single-quoted PowerShell string literal.

    Raise ValueError for NUL, which no Windows string can carry.
    """
    if "\x00" in value:
        raise ValueError("a PowerShell string cannot hold NUL")
    return "'" + "".join(c + c if c in _QUOTES else c for c in value) + "'"


def literal(value: PsValue) -> str:
    """Return the PowerShell literal for a str, int, bool, None or a sequence of str."""
    if value is None:
        return "$null"
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote_ps(value)
    return "@(" + ",".join(quote_ps(str(v)) for v in value) + ")"


def render(template: str, values: Mapping[str, PsValue]) -> str:
    """Fill the `{{name}}` holes of a constant template with literals of values.

    Raise KeyError for a hole without a value and ValueError for a value without a hole,
    so a template and its caller cannot drift apart silently.
    """
    used = set(_HOLE.findall(template))
    unused = set(values) - used
    if unused:
        raise ValueError(f"values without a hole: {', '.join(sorted(unused))}")
    script = _HOLE.sub(lambda m: literal(values[m.group(1)]), template)
    shape = _HOLE.sub(lambda m: literal(_blank(values[m.group(1)])), template)
    if split_literals(script)[0] != split_literals(shape)[0]:
        raise ValueError("a value changed the shape of the script")  # a guard on quote_ps
    return script


def _blank(value: PsValue) -> PsValue:
    """Return value with its strings emptied: the shape the script must keep."""
    if isinstance(value, str):
        return ""
    if isinstance(value, (bool, int)) or value is None:
        return value
    return [""] * len(value)


def split_literals(script: str) -> tuple[str, list[str]]:
    """Return the script with every single-quoted literal emptied, and the literals' values.

    Two scripts with the same skeleton have the same code; only literal text differs.
    """
    skeleton: list[str] = []
    literals: list[str] = []
    i = 0
    while i < len(script):
        if script[i] not in _QUOTES:
            skeleton.append(script[i])
            i += 1
            continue
        i += 1
        text: list[str] = []
        while i < len(script):
            if script[i] in _QUOTES:
                if i + 1 < len(script) and script[i + 1] in _QUOTES:
                    text.append(script[i])
                    i += 2
                    continue
                break
            text.append(script[i])
            i += 1
        if i >= len(script):
            raise ValueError("unterminated string literal")
        i += 1
        skeleton.append("''")
        literals.append("".join(text))
    return "".join(skeleton), literals


def encoded_command(script: str) -> str:
    """Return script as PowerShell's -EncodedCommand argument (base64 of UTF-16LE)."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def powershell_argv(script: str) -> list[str]:
    """Return the argument list running script in Windows PowerShell, no profile, no prompts.

    Raise ValueError when the command line would exceed MAX_COMMAND_LINE characters.
    """
    argv = [*POWERSHELL, "-EncodedCommand", encoded_command(script)]
    if sum(len(a) + 1 for a in argv) > MAX_COMMAND_LINE:
        raise ValueError("the PowerShell script is too long for one command line")
    return argv


def last_json(stdout: str) -> Any:
    """Return the JSON value on the last non-empty line of stdout (scripts end with one).

    Raise ValueError when there is none or it is not JSON.
    """
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise ValueError("the PowerShell script printed nothing")
    try:
        return json.loads(lines[-1])
    except ValueError as exc:
        raise ValueError(f"the PowerShell script's last line is not JSON: {lines[-1]!r}") from exc


def native_call(argv: Sequence[str]) -> str:
    """Return a script that runs argv as a native command and exits with its status.

    Windows PowerShell 5.1 re-quotes native arguments without escaping embedded double
    quotes, drops empty ones and mangles a trailing backslash inside quotes: such
    arguments are refused (ConfigurationError) rather than passed wrong.
    """
    for arg in argv:
        spaced = any(c.isspace() for c in arg)
        if not arg or '"' in arg or "\x00" in arg or (spaced and arg.endswith("\\")):
            raise ConfigurationError(f"a Windows command cannot carry this argument: {arg!r}")
    return "& " + " ".join(quote_ps(a) for a in argv) + "\nexit $LASTEXITCODE\n"


def windows_argv(argv: Sequence[str]) -> list[str]:
    """Return argv as inert tokens: unchanged when already inert, else through PowerShell."""
    if argv and all(_INERT.fullmatch(a) for a in argv):
        return list(argv)
    return powershell_argv(native_call(argv))


def prepare_root_argv() -> list[str]:
    """Return argv that secures DATA_ROOT (see SECURE_ROOT); it prints {"refused": why|null}."""
    return powershell_argv(render(PREPARE_ROOT, {"root": DATA_ROOT}))


def write_file_argv(path: str) -> list[str]:
    """Return argv that writes base64 from stdin to path under DATA_ROOT, atomically.

    DATA_ROOT is secured first (SECURE_ROOT); the write fails when it was refused. Raise
    ConfigurationError for a path outside DATA_ROOT.
    """
    if not path.lower().startswith(DATA_ROOT.lower() + "\\") or ".." in path:
        raise ConfigurationError(f"refusing to write outside {DATA_ROOT}: {path!r}")
    return powershell_argv(render(WRITE_FILE, {"root": DATA_ROOT, "path": path}))
