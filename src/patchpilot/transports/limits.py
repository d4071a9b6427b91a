"""Bounds on what a target may send back: one hostile or broken server must not exhaust the
connector's memory and so stop a whole fleet.

Every remote command's stdout and stderr are read in chunks and refused past `MAX_OUTPUT`
bytes each (the largest legitimate answer, a `scan --json` of thousands of updates, is about
1 MB). The refusal is an OutputLimitError (exit 72): that server's run fails, saying which
command sent too much; the others go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from patchpilot.errors import OutputLimitError

__all__ = ["CHUNK", "MAX_OUTPUT", "all_or_none", "check_size", "read_capped"]

MAX_OUTPUT = 16 * 1024 * 1024  # bytes of stdout, and of stderr, one command may return
CHUNK = 65536


def check_size(size: int, limit: int, argv: Sequence[str], what: str) -> None:
    """Raise OutputLimitError when size bytes of a command's what (stdout...) pass limit."""
    if size > limit:
        command = " ".join(argv[:3]) + (" ..." if len(argv) > 3 else "")
        raise OutputLimitError(
            f"`{command}` sent more than {limit:,} bytes of {what}: refused "
            "(a broken or hostile target?)"
        )


async def read_capped(
    read: Callable[[int], Awaitable[bytes]], limit: int, argv: Sequence[str], what: str
) -> bytes:
    """Return everything read() gives until b"", or raise OutputLimitError past limit bytes."""
    chunks: list[bytes] = []
    size = 0
    while data := await read(CHUNK):
        size += len(data)
        check_size(size, limit, argv, what)
        chunks.append(data)
    return b"".join(chunks)


async def all_or_none(*steps: Awaitable[Any]) -> list[Any]:
    """Run steps together and return their results; when one fails, cancel the others first.

    (asyncio.gather leaves the others running, still reading a stream the caller closes.)
    """
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
