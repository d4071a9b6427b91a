"""patchpilot.client.backends."""
