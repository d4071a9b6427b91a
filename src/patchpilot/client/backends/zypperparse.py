"""Parsing zypper's XML output (`--xmlout`) and repositories' updateinfo.xml. Pure functions.

zypper prints a `<stream>` of `<message>` and result elements; `list-updates` gives each
package candidate with its old edition and repository alias. Advisory details (severity, CVEs,
reboot_suggested, which packages) come from the repository's own updateinfo.xml, the file
dnf and zypper both read, parsed here with the standard library.
"""

import xml.etree.ElementTree as ET
from typing import Dict, List, Tuple

from patchpilot.client.age import normalize_issued
from patchpilot.client.backends.rpmparse import AdvisoryInfo, Available, evr_of

__all__ = ["parse_list_updates", "parse_messages", "parse_updateinfo_xml"]

_SEVERITIES = {
    "critical": "Critical",
    "important": "Important",
    "moderate": "Moderate",
    "low": "Low",
}


def _root(text: str) -> ET.Element:
    """Return the document's root, or an empty <stream> when zypper printed no XML.

    The input is the system's own zypper and its repositories' metadata (which it already
    trusts with packages); the standard library must do (no defusedxml on a bare server), so
    any document type declaration, where entity expansion attacks live, is refused.
    """
    start = text.find("<?xml")
    body = text[start:] if start >= 0 else text
    if "<!DOCTYPE" in body or "<!ENTITY" in body:
        return ET.Element("stream")
    try:
        return ET.fromstring(body)  # noqa: S314 - no DTD (checked above); stdlib only
    except ET.ParseError:
        return ET.Element("stream")


def parse_list_updates(text: str) -> List[Tuple[Available, str]]:
    """Parse `zypper --xmlout list-updates`: [(candidate, installed edition)] for packages."""
    found = []
    for update in _root(text).iter("update"):
        if update.get("kind", "package") != "package":
            continue
        source = update.find("source")
        summary = update.findtext("summary") or ""
        candidate = Available(
            update.get("name", ""),
            update.get("edition", ""),
            update.get("arch", "noarch"),
            source.get("alias", "") if source is not None else "",
            0,
            summary.strip(),
        )
        found.append((candidate, update.get("edition-old", "")))
    return found


def parse_messages(text: str) -> List[Tuple[str, str]]:
    """Return zypper's messages as (type, text): what it said, for the journal."""
    return [(m.get("type", ""), (m.text or "").strip()) for m in _root(text).iter("message")]


def parse_updateinfo_xml(text: str) -> Dict[Tuple[str, str], AdvisoryInfo]:
    """Parse updateinfo.xml: (package name, evr) -> the advisory that ships it."""
    found: Dict[Tuple[str, str], AdvisoryInfo] = {}
    for update in _root(text).iter("update"):
        ident = (update.findtext("id") or "").strip()
        if not ident:
            continue
        severity = (update.findtext("severity") or "").strip()
        cves = tuple(
            sorted(r.get("id", "") for r in update.iter("reference") if r.get("type") == "cve")
        )
        packages = list(update.iter("package"))
        reboot = update.find("reboot_suggested") is not None or any(
            p.find("reboot_suggested") is not None for p in packages
        )
        issued = update.find("issued")
        info = AdvisoryInfo(
            ident,
            update.get("type", "unknown"),
            _SEVERITIES.get(severity.lower(), ""),
            cves,
            reboot,
            normalize_issued(issued.get("date", "")) if issued is not None else "",
        )
        for package in packages:
            evr = evr_of(
                package.get("epoch", "0"), package.get("version", ""), package.get("release", "")
            )
            found[(package.get("name", ""), evr)] = info
    return found
