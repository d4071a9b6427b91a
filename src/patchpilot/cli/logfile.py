"""The connector's log file: `connector.log` in the state store's folder, for `run` and `fleet`.

The core logs through the `patchpilot` logger and never prints; the commands send that log
(and any traceback of a bug) to this file, beside the store it describes.
"""

from __future__ import annotations

import logging

from patchpilot.connector import PrintableFormatter, Store

__all__ = ["setup_connector_log"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def setup_connector_log(store: Store) -> None:
    """Send the `patchpilot` logger to connector.log in the store's folder (once per file)."""
    path = (store.folder / "connector.log").resolve()
    logger = logging.getLogger("patchpilot")
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler) and handler.baseFilename == str(path):
            return
    handler = logging.FileHandler(path)
    handler.setFormatter(PrintableFormatter(_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
