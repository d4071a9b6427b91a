"""Windows names both sides must spell alike: WSUS classifications, KB entries, pipe names.

The connector validates and normalises what the client will read (a job spec's
classifications and KB lists) and opens the pipe the client serves, so both import these
from here rather than from each other. Standard library only, Python 3.9+.
"""

import hashlib
import hmac
import re
from typing import Dict, Optional, Tuple

from patchpilot.protocol import RUN_ID_RE

__all__ = ["CLASSIFICATIONS", "SERVICES", "normalize_kb", "pipe_name"]

# WSUS classification GUIDs (a classification is a category: "CategoryIDs contains").
# IUpdateSearcher.ServerSelection and ServiceID for each update service a job may name.
MICROSOFT_UPDATE_SERVICE_ID = "7971f918-a847-4430-9279-4a52d1efe18d"
SERVICES: Dict[str, Tuple[int, Optional[str]]] = {
    "default": (0, None),  # the configured WSUS server, else Windows Update
    "managed": (1, None),  # the WSUS server only
    "windows-update": (2, None),
    "microsoft-update": (3, MICROSOFT_UPDATE_SERVICE_ID),
}

CLASSIFICATIONS: Dict[str, str] = {
    "Critical Updates": "E6CF1350-C01B-414D-A61F-263D14D133B4",
    "Security Updates": "0FA1201D-4330-4FA8-8AE9-B877473B6441",
    "Definition Updates": "E0789628-CE08-4437-BE74-2495B842F43B",
    "Update Rollups": "28BC880E-0592-4CBF-8F95-C79B17911D5F",
    "Updates": "CD5FFD1E-E932-4E3A-BF74-18BF0B1BBD83",
    "Service Packs": "68C5B0A3-D1A6-4553-AE49-01D3A7827828",
    "Feature Packs": "B54E7D24-7ADD-428F-8B75-90A396FA584F",
    "Tools": "B4832BD8-E735-4761-8DAF-37F882276DAB",
    "Drivers": "EBFC1FC5-71A4-4F7B-9ACA-3B9A503104A0",
}

_KB = re.compile(r"^(?:KB)?(\d{4,8}|[\d*?]*[*?][\d*?]*)$", re.IGNORECASE)  # number or glob


def normalize_kb(text: str) -> str:
    """Return "KB5031356" for "5031356", "kb5031356" or "KB5031356", and "KB50*" for the glob
    "50*" or "kb50*" (WSUS-style lists hold either); raise ValueError for anything else."""
    match = _KB.match(text.strip())
    if match is None:
        raise ValueError("not a KB number: %r" % text)
    return "KB" + match.group(1)


def pipe_name(run_id: str, round_no: int, secret: str) -> str:
    """Return the pipe's name for a run and round; raise ValueError for a malformed run id.

    The name ends with a tag derived from the run's secret, the run id and the round: a local
    user cannot know it, so cannot create the pipe first (squat it) to make the round's
    endpoint fail; and seeing one round's pipe tells nothing of the next round's name.
    """
    if not RUN_ID_RE.match(run_id) or not 1 <= round_no <= 99:
        raise ValueError("bad run id or round: %r, %r" % (run_id, round_no))
    message = ("patchpilot-pipe|%s|%d" % (run_id, round_no)).encode("utf-8")
    tag = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()[:16]
    return "\\\\.\\pipe\\patchpilot-%s-%d-%s" % (run_id, round_no, tag)
