"""patchpilot's Airflow provider (`pip install 'patchpilot[airflow]'`).

`PatchpilotOperator` patches one server and defers every wait to `PatchpilotTrigger` on the
triggerer; `patchpilot_fleet` turns an inventory into batches of mapped tasks. It uses the
connector's public names only. Names load lazily: Airflow imports `provider.py` while it
discovers providers, before its own SDK is ready.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["FleetGate", "PatchpilotOperator", "PatchpilotTrigger", "patchpilot_fleet"]

_WHERE = {
    "PatchpilotOperator": "operator",
    "PatchpilotTrigger": "trigger",
    "patchpilot_fleet": "fleet",
    "FleetGate": "fleet",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"patchpilot.airflow.{_WHERE[name]}"), name)
