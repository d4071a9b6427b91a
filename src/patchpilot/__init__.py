"""patchpilot: apply operating-system updates to remote servers as one step of a workflow."""

from patchpilot.protocol.versions import RELEASE as __version__

__all__ = ["__version__"]
