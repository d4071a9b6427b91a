"""Debian version ordering (deb-version(7)): epoch, upstream version, revision. Pure functions."""

from typing import List, Tuple

__all__ = ["compare_versions"]


def _split(version: str) -> Tuple[int, str, str]:
    epoch = 0
    if ":" in version:
        head, version = version.split(":", 1)
        epoch = int(head) if head.isdigit() else 0
    upstream, _, revision = version.rpartition("-")
    if not upstream:
        return epoch, revision, "0"
    return epoch, upstream, revision


def _order(char: str) -> int:
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_part(left: str, right: str) -> int:
    a: List[str] = list(left)
    b: List[str] = list(right)
    while a or b:
        while (a and not a[0].isdigit()) or (b and not b[0].isdigit()):
            ca = _order(a.pop(0)) if a and not a[0].isdigit() else 0
            cb = _order(b.pop(0)) if b and not b[0].isdigit() else 0
            if ca != cb:
                return -1 if ca < cb else 1
        da = _take_digits(a)
        db = _take_digits(b)
        if da != db:
            return -1 if da < db else 1
    return 0


def _take_digits(chars: List[str]) -> int:
    digits = ""
    while chars and chars[0].isdigit():
        digits += chars.pop(0)
    return int(digits) if digits else 0


def compare_versions(left: str, right: str) -> int:
    """Return -1, 0 or 1 as left sorts before, equal to or after right, in dpkg's order."""
    ea, ua, ra = _split(left)
    eb, ub, rb = _split(right)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_part(ua, ub) or _compare_part(ra, rb)
