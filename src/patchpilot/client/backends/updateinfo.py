"""Reading the updateinfo.xml a package tool downloaded, from its metadata cache.

zypper (`/var/cache/zypp/raw/<alias>/`), dnf4 (`/var/cache/dnf/<repo>-<hash>/`) and dnf5
(`/var/cache/libdnf5/<repo>-<hash>/`) keep each repository's `repodata/` as downloaded:
`repomd.xml` names the updateinfo file. Read with the standard library (gzip, bz2, xz; a
zstd-compressed file, which Python 3.9 cannot read, is skipped). This is where zypper's
advisory details come from, and dnf's `reboot_suggested` flags, which dnf's CLI does not print.
"""

import glob
import gzip
import os
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Tuple

from patchpilot.client.backends.rpmparse import AdvisoryInfo
from patchpilot.client.backends.zypperparse import parse_updateinfo_xml

__all__ = ["read_updateinfo"]


def read_updateinfo(cache_root: str) -> Dict[Tuple[str, str], AdvisoryInfo]:
    """Return (name, evr) -> advisory from the updateinfo of every repository under cache_root
    (one folder per repository, each with its repodata/)."""
    found: Dict[Tuple[str, str], AdvisoryInfo] = {}
    for repomd in sorted(glob.glob(os.path.join(cache_root, "*", "repodata", "repomd.xml"))):
        for href in _updateinfo_hrefs(repomd):
            path = os.path.join(os.path.dirname(os.path.dirname(repomd)), href)
            text = _read(path)
            if text is not None:
                found.update(parse_updateinfo_xml(text))
    return found


def _updateinfo_hrefs(repomd: str) -> List[str]:
    try:
        with open(repomd, "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        return []
    try:
        root = ET.fromstring(text)  # noqa: S314 - no DTD (checked above); stdlib only
    except ET.ParseError:
        return []
    hrefs = []
    for data in root:
        if data.tag.endswith("data") and data.get("type") == "updateinfo":
            for location in data:
                if location.tag.endswith("location") and location.get("href"):
                    hrefs.append(str(location.get("href")))
    return hrefs


def _read(path: str) -> Optional[str]:
    """Return a metadata file's text, decompressed; None when unreadable or zstd.

    bz2 and lzma are imported here: a python3 built without them can still read gzip.
    """
    try:
        data = _bytes(path)
        if path.endswith(".gz"):
            data = gzip.decompress(data)
        elif path.endswith(".bz2"):
            import bz2

            data = bz2.decompress(data)
        elif path.endswith(".xz"):
            import lzma

            try:
                data = lzma.decompress(data)
            except lzma.LZMAError:
                return None
        elif not path.endswith(".xml"):
            return None
    except (OSError, EOFError, ValueError, ImportError):
        return None
    return data.decode("utf-8", "replace")


def _bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()
