"""The command line (typer): `run`, `status`, `result`, `cancel`, `fleet`, `client`, `lab`.

The only layer that imports rich and the argument parser; it turns the connector's typed
events into job output and a PatchpilotError into its one-line message and exit code
(`main.py`). Nothing imports from it.
"""

__all__: list[str] = []
