"""Target families, chosen once per run: `TARGETS[options.os]`.

Each family (base.py's `TargetOS`) knows its transport, launcher, client layout, boot probe
and what it adds to the job spec; nothing outside this package asks which OS a target runs.
"""

from patchpilot.connector.targets.base import TargetOS
from patchpilot.connector.targets.linux import LinuxOS
from patchpilot.connector.targets.windows import WindowsOptions, WindowsOS

TARGETS: dict[str, type[TargetOS]] = {"linux": LinuxOS, "windows": WindowsOS}

__all__ = ["TARGETS", "LinuxOS", "TargetOS", "WindowsOS", "WindowsOptions"]
