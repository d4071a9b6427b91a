"""patchpilot.client.endpoints."""
