"""Windows targets: `WindowsOS` (family.py) and the options only Windows has (options.py).

layout.py says where things live and deploys the client, calls.py runs the client as SYSTEM
tasks and relays its log, probe.py proves reboots by LastBootUpTime.
"""

from patchpilot.connector.targets.windows.family import WindowsOS
from patchpilot.connector.targets.windows.options import WindowsOptions

__all__ = ["WindowsOS", "WindowsOptions"]
