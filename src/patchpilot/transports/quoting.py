"""The one place where values meet a shell: quoting and the few shell snippets we need.

Commands are argument lists everywhere else. Where a remote shell is unavoidable (SSH runs a
command string; `at` reads a script on stdin; an atomic file write needs a redirect), the
string is built here, from `shlex.quote`d parts only.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Sequence

__all__ = [
    "at_job_script",
    "at_status_script",
    "atomic_write_script",
    "join",
    "quote",
    "sudo_wrap",
]


def quote(value: str) -> str:
    """Return value quoted for a POSIX shell."""
    return shlex.quote(value)


def join(argv: Sequence[str]) -> str:
    """Return argv as one POSIX shell command line that runs exactly argv."""
    if not argv:
        raise ValueError("empty command")
    return shlex.join(argv)


def sudo_wrap(argv: Sequence[str]) -> list[str]:
    """Return argv run through non-interactive sudo (for a non-root SSH user)."""
    return ["sudo", "-n", "--", *argv]


def atomic_write_script(path: str, mode: int) -> list[str]:
    """Return argv that writes stdin to path atomically (temp file + rename) with mode.

    The parent directory is created 0700 when missing, so a secret never sits in a readable
    place, even for an instant.
    """
    parent = posixpath.dirname(path) or "/"
    tmp = f'{quote(path + ".tmp.")}"$$"'
    script = (
        f"umask 077 && mkdir -p {quote(parent)} && cat > {tmp} && "
        f"chmod {mode:o} {tmp} && mv -f {tmp} {quote(path)}"
    )
    return ["sh", "-c", script]


def at_job_script(argv: Sequence[str], files: str) -> str:
    """Return the script `at` runs: argv, with its pid, boot id and exit status kept in files.*.

    `at` keeps no exit status, so the script records it (atomically) for `at_status_script`.
    The job inherits the umask of whoever queued it; the files (the log holds the client's
    stderr) are made root-only regardless.
    """
    f = quote(files)
    return (
        f'umask 077; mkdir -p "$(dirname {f})"; echo $$ > {f}.pid; '
        f"cat /proc/sys/kernel/random/boot_id > {f}.boot; "
        f"{join(argv)} > {f}.log 2>&1 < /dev/null; "
        f"echo $? > {f}.exit.tmp && mv -f {f}.exit.tmp {f}.exit\n"
    )


def at_status_script(job: str, files: str) -> list[str]:
    """Return argv printing one word about an at job: exited N, running, gone, queued, unknown."""
    f = quote(files)
    script = (
        f"if [ -f {f}.exit ]; then echo exited $(cat {f}.exit); "
        f"elif [ -f {f}.pid ]; then "
        f'if [ "$(cat {f}.boot)" = "$(cat /proc/sys/kernel/random/boot_id)" ] '
        f'&& kill -0 "$(cat {f}.pid)" 2>/dev/null; then echo running; else echo gone; fi; '
        f"elif atq | cut -f1 | grep -qx {quote(job)}; then echo queued; else echo unknown; fi"
    )
    return ["sh", "-c", script]
