"""The one place the client asks which OS it runs on, as asyncssh's agent.py picks
agent_unix or agent_win32: posix.py and windows.py define the same names, and every other
client module imports them from here (a test keeps `os.name`/`sys.platform` out of the rest).
"""

import sys

if sys.platform == "win32":
    from patchpilot.client.platforms import windows as _chosen
else:
    from patchpilot.client.platforms import posix as _chosen

DEFAULT_BACKEND = _chosen.DEFAULT_BACKEND
PIPES_SELECT = _chosen.PIPES_SELECT
REBOOT_COMMANDS = _chosen.REBOOT_COMMANDS
binary_fds = _chosen.binary_fds
connect_endpoint = _chosen.connect_endpoint
is_private = _chosen.is_private
kill_group = _chosen.kill_group
lock_now = _chosen.lock_now
new_group = _chosen.new_group
open_endpoint = _chosen.open_endpoint
runtime_dir = _chosen.runtime_dir
shell_argv = _chosen.shell_argv
state_dir = _chosen.state_dir
system_state_known = _chosen.system_state_known

__all__ = [
    "DEFAULT_BACKEND",
    "PIPES_SELECT",
    "REBOOT_COMMANDS",
    "binary_fds",
    "connect_endpoint",
    "is_private",
    "kill_group",
    "lock_now",
    "new_group",
    "open_endpoint",
    "runtime_dir",
    "shell_argv",
    "state_dir",
    "system_state_known",
]
