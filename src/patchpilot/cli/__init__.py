"""patchpilot.cli."""
