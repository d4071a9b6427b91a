"""Benchmark: the connector's own cost while one `patchpilot fleet` run drives many servers.

For each size (10, 50, 100 by default) on fresh lab servers: peak memory (PSS of the
connector's process tree) and CPU seconds of one fleet run with --concurrency = size, the
rounds it ran (from the fleet result), and the cost on top of the fixed base from straight
lines through the sizes (least squares): peak memory per server (all servers are in flight
at once, so a server's rounds do not add up), CPU seconds per server-round. Aim: under 2 MiB
and 0.2 CPU-seconds per server per round. Run as root:

    .venv/bin/python bench/fleet_scale.py [--sizes 10,50,100] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from fleet_measure import bench_lab, emit, end_state, expected_state
from fleet_vs_ansible import patchpilot_side


def rounds_of(result_file: Path) -> int:
    """Return the rounds every server of a fleet result ran, summed."""
    fleet = json.loads(result_file.read_text())
    return sum(len((s.get("result") or {}).get("rounds") or ()) for s in fleet["servers"])


def slope(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Return (base, per unit) of the least-squares line through points."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    per = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0
    return mean_y - per * mean_x, per


def measure_size(size: int, work: Path) -> dict[str, float | int]:
    """Run one fleet over size fresh servers (a lab of their own); return its figures."""
    with bench_lab() as (lab, _):
        servers = lab.add_servers(size)
        measured, _ = patchpilot_side(lab, servers, work, f"scale-{size}")
        states = end_state(lab.ssh_config_path, [s.name for s in servers])
    rounds = rounds_of(work / f"scale-{size}.json")
    wrong = sum(1 for state in states.values() if state != expected_state())
    figures = {**measured.as_dict(), "rounds": rounds, "servers_not_in_final_state": wrong}
    print(f"[{size}] {json.dumps(figures)}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50,100")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures: dict[int, dict[str, float | int]] = {}
    with tempfile.TemporaryDirectory(prefix="fleet-scale-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            work = Path(tmp) / f"n{size}"
            work.mkdir()
            figures[size] = measure_size(size, work)
    report: dict[str, object] = {str(k): v for k, v in figures.items()}
    if len(figures) > 1:
        mem_base, mem_per = slope([(n, float(f["peak_pss_mib"])) for n, f in figures.items()])
        cpu_base, cpu_per = slope(
            [(float(f["rounds"]), float(f["cpu_s"])) for f in figures.values()]
        )
        report["fit"] = {
            "memory_base_mib": round(mem_base, 1),
            "memory_mib_per_server": round(mem_per, 3),
            "cpu_base_s": round(cpu_base, 2),
            "cpu_s_per_server_round": round(cpu_per, 4),
        }
    emit(report, args.json)


if __name__ == "__main__":
    main()
