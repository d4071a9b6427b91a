"""The wire format between the client and the connector (standard library only, Python 3.9+).

See docs/protocol.md. `framing` turns JSON objects into length-prefixed frames and back;
`auth` computes the challenge-response proofs over the per-run secret; `windows` holds the
Windows names both sides spell alike (classifications, KB entries, pipe names).
"""

import re

from patchpilot.protocol.auth import client_proof, connector_proof, new_nonce, proofs_match
from patchpilot.protocol.framing import MAX_FRAME, FrameDecoder, FrameError, encode_frame
from patchpilot.protocol.versions import JOB_SPEC_VERSION, PROTOCOL_VERSION, RELEASE

# A run id as both sides accept it: safe in file names, unit and task names, pipe names.
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

__all__ = [
    "JOB_SPEC_VERSION",
    "MAX_FRAME",
    "PROTOCOL_VERSION",
    "RELEASE",
    "RUN_ID_RE",
    "FrameDecoder",
    "FrameError",
    "client_proof",
    "connector_proof",
    "encode_frame",
    "new_nonce",
    "proofs_match",
]
