"""Build the client zipapp, `patchpilot-client.pyz`, reproducibly (connector side).

The archive holds `patchpilot/client` and `patchpilot/protocol` (standard library only) and a
`__main__`. Entries are sorted and carry a fixed timestamp and fixed permissions, so the same
source gives the same bytes and the same SHA-256 on every machine; the connector checks that
hash on the target before it runs the client.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CLIENT_NAME", "BuiltClient", "build_client", "client_bytes"]

CLIENT_NAME = "patchpilot-client.pyz"
_PACKAGE_ROOT = Path(__file__).resolve().parent  # src/patchpilot
_PACKAGES = ("client", "protocol")
_SHEBANG = b"#!/usr/bin/env python3\n"
_EPOCH = (1980, 1, 1, 0, 0, 0)
_MAIN = (
    b'"""Run the patchpilot client."""\nimport sys\n\n'
    b"from patchpilot.client.cli import main\n\nsys.exit(main())\n"
)
_INIT = b'"""patchpilot, as shipped inside the client zipapp."""\n'


@dataclass(frozen=True)
class BuiltClient:
    path: Path
    sha256: str


def _sources() -> list[tuple[str, bytes]]:
    entries = [("__main__.py", _MAIN), ("patchpilot/__init__.py", _INIT)]
    for package in _PACKAGES:
        for source in sorted((_PACKAGE_ROOT / package).rglob("*.py")):
            name = "patchpilot/" + source.relative_to(_PACKAGE_ROOT).as_posix()
            entries.append((name, source.read_bytes()))
    return sorted(entries)


def client_bytes() -> bytes:
    """Return the zipapp's bytes: same sources, same bytes."""
    buffer = io.BytesIO()
    buffer.write(_SHEBANG)
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in _sources():
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # Unix, whatever the build machine
            archive.writestr(info, data, compresslevel=9)
    return buffer.getvalue()


def build_client(out_dir: Path) -> BuiltClient:
    """Write patchpilot-client.pyz into out_dir; return its path and SHA-256."""
    data = client_bytes()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / CLIENT_NAME
    path.write_bytes(data)
    path.chmod(0o755)
    return BuiltClient(path, hashlib.sha256(data).hexdigest())
