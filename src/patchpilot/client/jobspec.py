"""The job spec (JSON, `spec_version` 1): parsed and validated by pure functions.

Anything unknown or ill-typed is refused with a JobSpecError whose message says which field and
why; the client then exits 2 (docs/protocol.md). Unknown keys are refused too, so a typo in a
field name never silently falls back to a default.
"""

import json
import re
from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple

from patchpilot.protocol import JOB_SPEC_VERSION, RELEASE, RUN_ID_RE
from patchpilot.protocol.windows import CLASSIFICATIONS as WUA_CLASSIFICATIONS
from patchpilot.protocol.windows import SERVICES as WUA_SERVICES

__all__ = ["JobSpec", "JobSpecError", "Recovery", "Restart", "Selection", "parse_job_spec"]

ACTIONS = ("scan", "download", "install")
REBOOTS = ("never", "if-required", "always", "services")
CLASSIFICATIONS = ("all", "security")
BACKENDS = ("auto", "apt-python", "apt-cli", "dnf", "dnf5", "zypper", "wua")
_SECRET_RE = re.compile(r"^[0-9a-f]{64}$")
_UNIT_RE = re.compile(r"^[A-Za-z0-9:_.@*?\[\]!\\-]{1,256}$")  # a unit name, or a glob of them
_TOP_KEYS = {
    "spec_version",
    "run_id",
    "round",
    "action",
    "selection",
    "reboot",
    "ack_timeout",
    "lock_timeout",
    "secret",
    "backend",
    "windows",
    "recovery",
    "download_limit",
    "restart",
}
_WINDOWS_KEYS = {"service", "drivers", "optional", "classifications", "min_age"}
_SELECTION_KEYS = {
    "include",
    "exclude",
    "classification",
    "plan",
    "severities",
    "advisories",
    "cves",
    "min_age",
    "min_age_undated",
}
UNDATED = ("include", "exclude")
SEVERITIES = ("critical", "important", "moderate", "low")


class JobSpecError(ValueError):
    """The job spec is refused; the message names the field."""


class Selection(NamedTuple):
    include: Tuple[str, ...] = ()
    exclude: Tuple[str, ...] = ()
    classification: str = "all"
    plan: Optional[Mapping[str, str]] = None  # id -> highest version allowed
    # By updateinfo (dnf, zypper): an update must match each list that is not empty.
    severities: Tuple[str, ...] = ()  # lowercase, from SEVERITIES
    advisories: Tuple[str, ...] = ()
    cves: Tuple[str, ...] = ()
    # By release date (dnf, zypper: the advisory's issued date): days, and what an update no
    # advisory dates does ("include" or "exclude").
    min_age: Optional[int] = None
    min_age_undated: str = "exclude"

    @property
    def by_advisory(self) -> bool:
        """Say whether the selection needs advisory metadata (which apt does not have)."""
        return bool(self.severities or self.advisories or self.cves)


class Recovery(NamedTuple):
    """This round runs again a round that was interrupted (target reset, client killed):
    which round, and the updates it had planned, id -> version."""

    round: int
    planned: Mapping[str, str]


class Restart(NamedTuple):
    """How `reboot: services` restarts what runs replaced files (client/restart.py)."""

    no_restart: Tuple[str, ...] = ()  # unit names or globs never restarted, beside the built-in
    install_tool: bool = False  # install needrestart (apt) when the server lacks it


class JobSpec(NamedTuple):
    run_id: str
    round: int
    action: str
    selection: Selection
    reboot: str
    ack_timeout: float
    lock_timeout: float
    secret: str
    backend: str = "auto"
    windows: Optional[Mapping[str, object]] = None  # WUA search options (see _windows)
    recovery: Optional[Recovery] = None
    download_limit: Optional[int] = None  # bytes per second the package tool may download
    restart: Restart = Restart()

    def __repr__(self) -> str:  # never show the secret
        return "JobSpec(run_id=%r, round=%d, action=%r)" % (self.run_id, self.round, self.action)


def parse_job_spec(text: str) -> JobSpec:
    """Return the job spec in text, or raise JobSpecError saying what is wrong."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise JobSpecError("not JSON: %s" % exc) from exc
    except RecursionError as exc:
        raise JobSpecError("not JSON: nested too deeply") from exc
    if not isinstance(doc, dict):
        raise JobSpecError("not a JSON object")
    version = doc.get("spec_version")
    if version != JOB_SPEC_VERSION or isinstance(version, bool):
        raise JobSpecError(
            "spec_version %r is not supported (this client, patchpilot %s, reads %d): run a "
            "connector and client of releases that share a job spec version"
            % (version, RELEASE, JOB_SPEC_VERSION)
        )
    _refuse_unknown(doc, _TOP_KEYS, "")
    run_id = _string(doc, "run_id")
    if not RUN_ID_RE.fullmatch(run_id):
        raise JobSpecError("run_id %r does not match %s" % (run_id, RUN_ID_RE.pattern))
    secret = _string(doc, "secret")
    if not _SECRET_RE.fullmatch(secret):
        raise JobSpecError("secret must be 64 lowercase hex characters")
    return JobSpec(
        run_id=run_id,
        round=_integer(doc, "round", 1, 99),
        action=_choice(doc, "action", ACTIONS),
        selection=_selection(doc.get("selection", {})),
        reboot=_choice(doc, "reboot", REBOOTS),
        ack_timeout=_seconds(doc, "ack_timeout", 300),
        lock_timeout=_seconds(doc, "lock_timeout", 600),
        secret=secret,
        backend=_choice(doc, "backend", BACKENDS, "auto"),
        windows=_windows(doc.get("windows")),
        recovery=_recovery(doc.get("recovery")),
        download_limit=_rate(doc.get("download_limit")),
        restart=_restart(doc.get("restart")),
    )


def _restart(raw: Any) -> Restart:
    """Check restart: {"no_restart": [unit or glob], "install_tool": bool}."""
    if raw is None:
        return Restart()
    if not isinstance(raw, dict):
        raise JobSpecError("restart must be null or an object")
    _refuse_unknown(raw, {"no_restart", "install_tool"}, "restart.")
    names = raw.get("no_restart", [])
    if not isinstance(names, list) or not all(
        isinstance(n, str) and _UNIT_RE.fullmatch(n) for n in names
    ):
        raise JobSpecError("restart.no_restart must list systemd unit names or globs")
    if not isinstance(raw.get("install_tool", False), bool):
        raise JobSpecError("restart.install_tool must be true or false")
    return Restart(tuple(names), bool(raw.get("install_tool", False)))


def _rate(value: Any) -> Optional[int]:
    """Check download_limit: null, or bytes per second from 1 KiB/s to 10 GiB/s."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1024 <= value <= 10 << 30:
        raise JobSpecError("download_limit must be null or bytes per second, 1024 to 10 GiB")
    return value


def _recovery(raw: Any) -> Optional[Recovery]:
    """Check the interrupted round this one runs again: {"round": N, "planned": {id: ver}}."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise JobSpecError("recovery must be null or an object")
    _refuse_unknown(raw, {"round", "planned"}, "recovery.")
    planned = raw.get("planned", {})
    if not isinstance(planned, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in planned.items()
    ):
        raise JobSpecError("recovery.planned must be an object of id -> version string")
    return Recovery(_integer(raw, "round", 1, 99), dict(planned))


def _windows(raw: Any) -> Optional[Mapping[str, object]]:
    """Check the WUA options: service, drivers, optional (booleans), classifications (names)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise JobSpecError("windows must be an object")
    _refuse_unknown(raw, _WINDOWS_KEYS, "windows.")
    service = raw.get("service", "default")
    if not isinstance(service, str) or service not in WUA_SERVICES:
        raise JobSpecError("windows.service must be one of %s" % ", ".join(WUA_SERVICES))
    for flag in ("drivers", "optional"):
        if not isinstance(raw.get(flag, False), bool):
            raise JobSpecError("windows.%s must be true or false" % flag)
    _days(raw, "min_age", "windows.")
    names = raw.get("classifications", [])
    if not isinstance(names, list) or any(
        not isinstance(n, str) or n not in WUA_CLASSIFICATIONS for n in names
    ):
        raise JobSpecError(
            "windows.classifications must list names from: %s" % ", ".join(WUA_CLASSIFICATIONS)
        )
    return dict(raw)


def _selection(raw: Any) -> Selection:
    if not isinstance(raw, dict):
        raise JobSpecError("selection must be an object")
    _refuse_unknown(raw, _SELECTION_KEYS, "selection.")
    plan = raw.get("plan")
    if plan is not None and not (
        isinstance(plan, dict) and all(isinstance(v, str) and v for v in plan.values())
    ):
        raise JobSpecError("selection.plan must be null or an object of id -> version string")
    return Selection(
        include=_patterns(raw, "include"),
        exclude=_patterns(raw, "exclude"),
        classification=_choice(raw, "classification", CLASSIFICATIONS, "all", "selection."),
        plan=dict(plan) if plan is not None else None,
        severities=_severities(raw),
        advisories=_patterns(raw, "advisories"),
        cves=_patterns(raw, "cves"),
        min_age=_days(raw, "min_age", "selection."),
        min_age_undated=_choice(raw, "min_age_undated", UNDATED, "exclude", "selection."),
    )


def _days(raw: Dict[str, Any], key: str, prefix: str) -> Optional[int]:
    value = raw.get(key)
    if value is not None and (
        not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 3650
    ):
        raise JobSpecError("%s%s must be null or a number of days from 0 to 3650" % (prefix, key))
    return value


def _severities(raw: Dict[str, Any]) -> Tuple[str, ...]:
    value = _patterns(raw, "severities")
    if any(v not in SEVERITIES for v in value):
        raise JobSpecError("selection.severities must list names from: %s" % ", ".join(SEVERITIES))
    return value


def _refuse_unknown(doc: Dict[str, Any], known: set, prefix: str) -> None:  # type: ignore[type-arg]
    unknown = sorted(set(doc) - known)
    if unknown:
        raise JobSpecError("unknown field(s): %s" % ", ".join(prefix + k for k in unknown))


def _string(doc: Dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise JobSpecError("%s must be a non-empty string" % key)
    return value


def _integer(doc: Dict[str, Any], key: str, low: int, high: int) -> int:
    value = doc.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise JobSpecError("%s must be an integer from %d to %d" % (key, low, high))
    return value


def _seconds(doc: Dict[str, Any], key: str, default: int) -> float:
    value = doc.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 86400:
        raise JobSpecError("%s must be a number of seconds from 0 to 86400" % key)
    return float(value)


def _choice(
    doc: Dict[str, Any],
    key: str,
    allowed: Tuple[str, ...],
    default: Optional[str] = None,
    prefix: str = "",
) -> str:
    value = doc.get(key, default)
    if value not in allowed:
        raise JobSpecError(
            "%s%s must be one of %s, not %r" % (prefix, key, ", ".join(allowed), value)
        )
    return str(value)


def _patterns(raw: Dict[str, Any], key: str) -> Tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise JobSpecError("selection.%s must be a list of non-empty strings" % key)
    return tuple(value)
