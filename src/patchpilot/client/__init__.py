"""The client: runs one update round on the target as root/SYSTEM, started by its scheduler.

Standard library only, CPython 3.6 to 3.13: it ships as one zipapp (`patchpilot client
build`) and must run on a bare server's python3 with `-I -S`. See docs/protocol.md for its
command line, job spec, journal and log endpoint; docs/interpreters.md for the floor.
"""

from patchpilot.protocol.versions import RELEASE as CLIENT_VERSION

__all__ = ["CLIENT_VERSION"]
