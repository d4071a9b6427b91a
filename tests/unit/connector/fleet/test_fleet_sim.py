"""bench/fleet_sim.py keeps working: a few simulated servers through the real fleet code."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[4] / "bench"


async def test_simulated_fleet_completes_with_its_figures(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import fleet_sim  # a script beside the tests, not a package
    finally:
        sys.path.remove(str(BENCH))
    latency = fleet_sim.Latency(connect=0.001, command=0.001, work=0.01, reboot=0.05)
    figures = await fleet_sim.simulate(5, latency, tmp_path, window=0.05)
    assert (figures["servers"], figures["failed"], figures["rounds"]) == (5, 0, 10)
    assert figures["store_rows_written"] > 0 and figures["loop_lag_ms"]["p99"] >= 0
