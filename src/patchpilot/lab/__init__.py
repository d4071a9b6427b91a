"""patchpilot.lab."""
