"""patchpilot.transports."""
