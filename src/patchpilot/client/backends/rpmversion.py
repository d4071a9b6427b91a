"""RPM version ordering (rpmvercmp and EVR comparison, as rpm 4.18 does it). Pure functions.

`rpmvercmp` compares one version or release string: runs of digits numerically, runs of
letters as strings, `~` before anything (even the end: 1.0~rc1 < 1.0), `^` after the end but
before anything else (1.0 < 1.0^git1 < 1.0.1). `compare_evr` splits epoch:version-release
(a missing epoch is 0; with equal versions, a side with a release, even "" or "~", sorts
after a side without one: rpm 4.18's `rpm.vercmp` says 1.0 < 1.0-~) and compares the
parts in turn. Tested against the real rpm's `rpm.vercmp` in tests/unit.
"""

from typing import Optional, Tuple

__all__ = ["compare_evr", "rpmvercmp", "split_evr"]


def _is_ascii(char: str) -> bool:
    return char < "\x80"  # str.isascii is 3.7+


def _is_alnum(char: str) -> bool:
    return _is_ascii(char) and char.isalnum()


def _segment(text: str, start: int, numeric: bool) -> int:
    """Return the end of the run of digits (numeric) or ASCII letters starting at start."""
    end = start
    while (
        end < len(text)
        and _is_ascii(text[end])
        and (text[end].isdigit() if numeric else text[end].isalpha())
    ):
        end += 1
    return end


def rpmvercmp(left: str, right: str) -> int:
    """Return -1, 0 or 1 as left sorts before, equal to or after right (rpm's rpmvercmp)."""
    if left == right:
        return 0
    one, two = 0, 0
    while one < len(left) or two < len(right):
        while one < len(left) and not _is_alnum(left[one]) and left[one] not in "~^":
            one += 1
        while two < len(right) and not _is_alnum(right[two]) and right[two] not in "~^":
            two += 1
        a = left[one] if one < len(left) else ""
        b = right[two] if two < len(right) else ""
        if a == "~" or b == "~":  # tilde sorts before everything, even the end
            if a != "~":
                return 1
            if b != "~":
                return -1
            one, two = one + 1, two + 1
            continue
        if a == "^" or b == "^":  # caret sorts after the end, before anything else
            if not a:
                return -1
            if not b:
                return 1
            if a != "^":
                return 1
            if b != "^":
                return -1
            one, two = one + 1, two + 1
            continue
        if not (a and b):
            break
        numeric = a.isdigit()
        end1, end2 = _segment(left, one, numeric), _segment(right, two, numeric)
        seg1, seg2 = left[one:end1], right[two:end2]
        if not seg2:  # the segments are of different kinds: numbers sort after letters
            return 1 if numeric else -1
        if numeric:
            seg1, seg2 = seg1.lstrip("0"), seg2.lstrip("0")
            if len(seg1) != len(seg2):
                return 1 if len(seg1) > len(seg2) else -1
        if seg1 != seg2:
            return 1 if seg1 > seg2 else -1
        one, two = end1, end2
    if one >= len(left) and two >= len(right):
        return 0
    return -1 if one >= len(left) else 1


def split_evr(evr: str) -> Tuple[Optional[str], str, Optional[str]]:
    """Split "[epoch:]version[-release]" as rpm does: (epoch or None, version, release or None)."""
    digits = 0
    while digits < len(evr) and _is_ascii(evr[digits]) and evr[digits].isdigit():
        digits += 1
    if digits < len(evr) and evr[digits] == ":":
        epoch: Optional[str] = evr[:digits] or "0"
        rest = evr[digits + 1 :]
    else:
        epoch, rest = None, evr
    version, dash, release = rest.rpartition("-")
    if not dash:
        return epoch, rest, None
    return epoch, version, release


def compare_evr(left: str, right: str) -> int:
    """Return -1, 0 or 1 comparing two epoch:version-release strings in rpm's order."""
    e1, v1, r1 = split_evr(left)
    e2, v2, r2 = split_evr(right)
    result = rpmvercmp(e1 or "0", e2 or "0") or rpmvercmp(v1, v2)
    if result or (r1 is None and r2 is None):
        return result
    if r1 is None or r2 is None:  # a release, even "" or "~", sorts after none
        return -1 if r1 is None else 1
    return rpmvercmp(r1, r2)
