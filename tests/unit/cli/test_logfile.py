"""The connector's log file, shared by `run` and `fleet`."""

from __future__ import annotations

import logging
from pathlib import Path

from patchpilot.cli.logfile import setup_connector_log
from patchpilot.connector.store import open_store


def test_the_log_goes_to_connector_log_beside_the_store_once(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    logger = logging.getLogger("patchpilot")
    before = list(logger.handlers)
    try:
        setup_connector_log(store)
        setup_connector_log(store)  # run twice in one process: still one handler
        added = [h for h in logger.handlers if h not in before]
        assert len(added) == 1
        logging.getLogger("patchpilot.connector.x").warning("seen %s", "here")
        added[0].flush()
        assert (
            "WARNING patchpilot.connector.x seen here" in (tmp_path / "connector.log").read_text()
        )
    finally:
        for handler in [h for h in logger.handlers if h not in before]:
            logger.removeHandler(handler)
            handler.close()
        store.close()
