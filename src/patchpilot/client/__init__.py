"""patchpilot.client."""
