"""patchpilot: apply operating-system updates to remote servers as one step of a workflow."""

__version__ = "0.1.0"
__all__ = ["__version__"]
