"""How the connector reaches a target: run a command, put a file, open a stream to the client.

`base.py` holds the Transport seam; `ssh.py`, `local.py`, `psrp.py` (WinRM) and `winssh.py`
(SSH to Windows) implement it, `fake.py` is the test double shipped with the seam. Each
target family (connector/targets/) builds the transport it needs.
"""

from __future__ import annotations

from patchpilot.transports.base import CommandResult, Stream, Transport

__all__ = ["CommandResult", "Stream", "Transport"]
