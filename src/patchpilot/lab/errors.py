"""The lab's one error class: everything the lab refuses or fails to do.

`LabError` is a `ConfigurationError` (exit 64) because every lab failure a user can meet is
about this machine's setup: not root, a missing tool, a busy subnet, a lab already running.
"""

from __future__ import annotations

from patchpilot.errors import ConfigurationError

__all__ = ["LabError"]


class LabError(ConfigurationError):
    """The lab could not be built, started, controlled or stopped."""
