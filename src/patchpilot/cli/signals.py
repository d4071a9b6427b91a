"""SIGTERM/SIGINT for a command's async work: stop the waiting, never the client on the target.

A scheduler stops a job with SIGTERM (OpCon's kill, systemd's stop); an operator presses
ctrl-C. Either cancels the work; the caller turns the cancellation into its stored result.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["until_signal"]

_T = TypeVar("_T")
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def until_signal(work: Coroutine[Any, Any, _T]) -> _T:
    """Await work; SIGTERM/SIGINT cancel it, and CancelledError reaches the caller."""
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(work)
    for sig in _SIGNALS:
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    finally:
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)
