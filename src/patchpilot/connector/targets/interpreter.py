"""Which Python runs the client on a Linux target, found before anything changes there.

As Ansible's `interpreter_python: auto`, but safe: only absolute paths from a fixed list are
tried (never the target's PATH, which root's environment does not decide), in order, and the
first CPython >= 3.6 wins: `/usr/bin/python3` (Debian, Ubuntu, Fedora, RHEL 9+), then
`/usr/libexec/platform-python` (RHEL/Rocky/Alma 8, whose only Python may be that 3.6), then
`/usr/bin/python3.N` newest first, then `/usr/local/bin/python3`. A path asked for (`--python`,
the inventory's `patchpilot_python` or `ansible_python_interpreter`) is the only one tried.
One command probes them all; each candidate runs with `-I -S`, as the client will.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from patchpilot.errors import NoInterpreterError
from patchpilot.transports.base import Transport

__all__ = ["CANDIDATES", "Interpreter", "find_interpreter", "parse_probe"]

CANDIDATES = (
    "/usr/bin/python3",
    "/usr/libexec/platform-python",
    *(f"/usr/bin/python3.{minor}" for minor in range(13, 5, -1)),
    "/usr/local/bin/python3",
)
FLOOR = (3, 6)
# Prints "VERSION" and exits 0 on CPython >= 3.6; still prints on older ones (Python 2 too).
_CHECK = "import sys; print('%d.%d.%d' % sys.version_info[:3]); sys.exit(sys.version_info < (3, 6))"
# argv: sh -c PROBE sh CHECK PATH...; one line per path tried: "PATH VERSION|missing|unusable".
PROBE = (
    'check=$1; shift; for p in "$@"; do '
    'if [ ! -x "$p" ] || [ -d "$p" ]; then echo "$p missing"; continue; fi; '
    'v=$("$p" -I -S -c "$check" 2>/dev/null); s=$?; '
    'echo "$p ${v:-unusable}"; if [ "$s" = 0 ]; then exit 0; fi; '
    "done; exit 1"
)
_TIMEOUT = 60.0


@dataclass(frozen=True)
class Interpreter:
    """The Python chosen for the client, and what each path before it was."""

    path: str
    version: str
    tried: tuple[tuple[str, str], ...] = ()  # (path, version | "missing" | "unusable")


def parse_probe(stdout: str, candidates: Sequence[str]) -> list[tuple[str, str]]:
    """Return (path, what was found) for each candidate the probe reached, in order.

    Only lines naming a candidate count: a target cannot add paths of its own.
    """
    tried: list[tuple[str, str]] = []
    for line in stdout.splitlines():
        path, _, found = line.strip().rpartition(" ")
        if path in candidates and path not in dict(tried):
            tried.append((path, found[:40] or "unusable"))
    return tried


def _is_usable(found: str) -> bool:
    try:
        major, minor = (int(part) for part in found.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= FLOOR


async def find_interpreter(transport: Transport, candidates: Sequence[str]) -> Interpreter:
    """Return the first candidate that is CPython >= 3.6 on the target.

    Raise NoInterpreterError (exit 79) naming every path tried and what each was.
    """
    done = await transport.run(["sh", "-c", PROBE, "sh", _CHECK, *candidates], timeout=_TIMEOUT)
    tried = parse_probe(done.stdout, candidates)
    if done.exit_status == 0 and tried and _is_usable(tried[-1][1]):
        path, version = tried[-1]
        return Interpreter(path, version, tuple(tried[:-1]))
    said = dict(tried)
    listed = ", ".join(f"{path} ({said.get(path, 'not reached')})" for path in candidates)
    raise NoInterpreterError(
        f"no Python 3.6 or newer to run the client on the target; tried {listed}. Install "
        "python3, or name the interpreter with --python PATH (inventory: patchpilot_python)"
    )
