"""Windows targets: `WindowsOS` (target.py) and the options only Windows has (options.py).

layout.py says where things live and deploys the client, calls.py runs the client as SYSTEM
tasks and relays its log, probe.py proves reboots by LastBootUpTime.
"""

from patchpilot.connector.targets.windows.options import WindowsOptions
from patchpilot.connector.targets.windows.target import WindowsOS

__all__ = ["WindowsOS", "WindowsOptions"]
