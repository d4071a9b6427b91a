"""patchpilot.launchers."""
