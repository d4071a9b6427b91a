"""What Airflow's providers manager reads (the `apache_airflow_provider` entry point).

Kept free of Airflow imports: Airflow loads it while discovering providers.
"""

from __future__ import annotations

from typing import Any

__all__ = ["get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Return patchpilot's provider description."""
    return {
        "package-name": "patchpilot",
        "name": "patchpilot",
        "description": "Patch servers (apt, dnf, Windows Update) from Airflow: a deferrable "
        "operator whose waits (installs, reboots) run on the triggerer.",
        "integrations": [
            {
                "integration-name": "patchpilot",
                "python-modules": ["patchpilot.airflow.operator", "patchpilot.airflow.fleet"],
            }
        ],
        "operators": [
            {
                "integration-name": "patchpilot",
                "python-modules": ["patchpilot.airflow.operator"],
            }
        ],
        "triggers": [
            {
                "integration-name": "patchpilot",
                "python-modules": ["patchpilot.airflow.trigger"],
            }
        ],
    }
