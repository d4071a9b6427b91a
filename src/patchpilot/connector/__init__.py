"""patchpilot.connector."""
