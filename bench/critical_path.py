"""Where a `patchpilot fleet` run's wall time went, on the server that finished last.

A fleet ends when its last server ends, so that server's run is the critical path. Its run
result (the fleet result file) has the timestamps to split it: the run's start, each round's
start and end, each reboot's request and return. The split, in seconds:

- `start-up`: the command's start to that server's run start (Python, inventory, options);
- `preparation and plan`: run start to round 1's launch (connect, deploy, the family probe
  and the plan host's check-only scan, the lock);
- `rounds`: launch to result of every round (the client's work and the launch overhead);
- `reboots`: reboot requested to new boot id and ready;
- `stability window`: a reboot's return to the next round's launch (the window, with the
  next round's scan inside it);
- `end`: the last round's end to the command's exit (release, result, exit).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

__all__ = ["critical_path"]


def _at(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def critical_path(fleet: Mapping[str, Any], started: float, ended: float) -> dict[str, object]:
    """Return the split of the last-finishing server's run (see the module docstring).

    started and ended are the command's start and exit, as time.time() values.
    """
    results = [s["result"] for s in fleet.get("servers", []) if s.get("result")]
    last = max(results, key=lambda r: _at(r["finished"]))
    rounds = sorted(last["rounds"], key=lambda r: r["round"])
    reboots = {r["round"]: r for r in last["reboots"]["items"]}
    split = {"start-up": _at(last["started"]) - started}
    split["preparation and plan"] = _at(rounds[0]["started"]) - _at(last["started"])
    split["rounds"] = split["reboots"] = split["stability window"] = 0.0
    for index, round_ in enumerate(rounds):
        reboot = reboots.get(round_["round"])
        if reboot is None:
            split["rounds"] += _at(round_["finished"]) - _at(round_["started"])
            continue
        split["rounds"] += _at(reboot["requested_at"]) - _at(round_["started"])
        split["reboots"] += _at(reboot["back_at"]) - _at(reboot["requested_at"])
        then = rounds[index + 1]["started"] if index + 1 < len(rounds) else last["finished"]
        split["stability window"] += _at(then) - _at(reboot["back_at"])
    split["end"] = ended - _at(rounds[-1]["finished"])
    return {"server": last["target"], **{k: round(v, 2) for k, v in split.items()}}
