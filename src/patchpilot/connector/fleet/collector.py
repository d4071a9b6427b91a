"""Python's garbage collector sized to a fleet's servers in flight, for the fleet's duration.

A server's steps keep their objects (tasks, futures, timers, frames) across each await, and
with thousands of servers in flight the interpreter's young generation (700 objects in
CPython 3.11, 2,000 in 3.13) fills many times between two steps of one server: nearly
everything a step makes survives two young collections and is promoted to the oldest
generation, whose full collections then come every time a quarter of the heap was promoted,
and walk all of it. Those collections find next to nothing (the connector makes few
reference cycles), yet at 10,000 simulated servers they took a third of the process's CPU
(32 full collections, 33 s, up to 2.4 s each: docs/benchmarks.md). A young generation
proportional to the servers in flight lets a step's objects die young, as they do with a
few servers; collections still run, so cycles are still freed, and the young garbage they
wait for is bounded by that size.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["YOUNG_PER_SERVER", "young_generation_for"]

# Objects of young generation per server in flight: at 10,000 simulated servers, 1 per
# server left 3 full collections, 4 none (bench/fleet_sim.py).
YOUNG_PER_SERVER = 4


@contextmanager
def young_generation_for(servers: int) -> Iterator[None]:
    """Raise the young generation's threshold to YOUNG_PER_SERVER times servers while the block
    runs (never below the interpreter's own), then restore the thresholds it found."""
    before = gc.get_threshold()
    wanted = YOUNG_PER_SERVER * servers
    if wanted > before[0]:
        gc.set_threshold(wanted, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
