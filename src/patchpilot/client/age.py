"""How old an update is: --min-age on dnf and zypper, from the advisory's issued date.

Pure functions, Python 3.6+. An RPM repository's updateinfo.xml dates each advisory
(`<issued date="..."/>`: "YYYY-MM-DD HH:MM:SS" on Fedora/RHEL, seconds since the epoch on
SUSE); an update no advisory ships has no date at all, and the job's `min_age_undated`
decides whether it may go in. apt's metadata has no such date (the client refuses --min-age
there, as AWS Patch Manager documents for Debian and Ubuntu).
"""

import datetime
import re
from typing import Optional

__all__ = ["age_reason", "normalize_issued"]

_EPOCH = datetime.datetime(1970, 1, 1)  # naive UTC, as the dates are kept
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?")


def normalize_issued(value: str) -> str:
    """Return an updateinfo date as "YYYY-MM-DD HH:MM:SS" (UTC), or "" when unreadable."""
    value = value.strip()
    if value.isdigit():
        try:
            moment = _EPOCH + datetime.timedelta(seconds=int(value))
        except OverflowError:
            return ""
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    match = _DATE_RE.match(value)
    if match is None:
        return ""
    year, month, day, hour, minute, second = (int(p) if p else 0 for p in match.groups())
    try:
        moment = datetime.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return ""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def age_reason(
    issued: str, min_age: Optional[int], undated: str, today: datetime.date
) -> Optional[str]:
    """Return why an update issued on `issued` is too young for --min-age, or None to keep it.

    The message says when it becomes eligible; `undated` ("include" or "exclude") decides an
    update with no date.
    """
    if min_age is None:
        return None
    day = _day(issued)
    if day is None:
        if undated == "include":
            return None
        return "no advisory dates it, so its age is unknown (--min-age-undated exclude)"
    age = (today - day).days
    if age >= min_age:
        return None
    eligible = day + datetime.timedelta(days=min_age)
    return "issued %s, %d day(s) ago: younger than --min-age %d; eligible from %s" % (
        day.isoformat(),
        age,
        min_age,
        eligible.isoformat(),
    )


def _day(issued: str) -> Optional[datetime.date]:
    normalized = normalize_issued(issued) if issued else ""
    if not normalized:
        return None
    return datetime.date(int(normalized[0:4]), int(normalized[5:7]), int(normalized[8:10]))
