"""patchpilot's versions, each written once.

RELEASE is the product's version: pyproject.toml reads it (`dynamic = ["version"]`), so the
installed metadata, `patchpilot --version`, the client zipapp's `version` command and the
journal's `client_version` all say the same. It lives here, in the standard-library part
that ships inside the client, so the client knows it without package metadata.

PROTOCOL_VERSION and JOB_SPEC_VERSION are what client and connector must share: a connector
and a client of different releases work together while these match, and refuse each other
with a message naming both releases when they do not. Raise one only for a change the other
side cannot read (docs/protocol.md, "Versions").
"""

RELEASE = "0.2.0"
PROTOCOL_VERSION = 1
JOB_SPEC_VERSION = 1

__all__ = ["JOB_SPEC_VERSION", "PROTOCOL_VERSION", "RELEASE"]
