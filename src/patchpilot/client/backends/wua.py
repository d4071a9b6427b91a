"""The Windows Update Agent backend: search, select, accept EULAs, download, install.

Standard library only, Python 3.9+. All COM work goes through one `WuaAdapter`
(`wua_com.py`); this module is plain Python: it builds the search criteria from the
selection, picks the update service, filters by classification and KB numbers, maps WUA's
result codes and HRESULTs to per-update results in words, and decides whether a restart is
needed from the installation results and from the system.

An update's id is "KB<number>" when it has a KB article (the first one), else its UpdateID;
its candidate version is the UpdateID, so a frozen plan pins exactly what was chosen.
"""

import datetime
import fnmatch
from typing import Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from patchpilot.client.backends.base import Backend, Emit, RebootState, Update, UpdateResult
from patchpilot.client.backends.hresult import describe_hresult, format_hresult, result_code_name
from patchpilot.client.backends.wua_com import Outcome, WuaAdapter, WuaError, WuaUpdate
from patchpilot.protocol.windows import CLASSIFICATIONS, SERVICES, normalize_kb

__all__ = [
    "CLASSIFICATIONS",
    "SERVICES",
    "WuaBackend",
    "WuaBackendError",
    "WuaOptions",
    "build_criteria",
    "make_wua_backend",
    "normalize_kb",
]

SECURITY_GUID = CLASSIFICATIONS["Security Updates"]
_SUCCEEDED = (2, 3)  # Succeeded, SucceededWithErrors


class WuaBackendError(RuntimeError):
    """The round cannot go on (the search failed); the message names the HRESULT."""

    def __init__(self, message: str, hresult: int) -> None:
        super().__init__(message)
        self.hresult = hresult


class WuaOptions(NamedTuple):
    """What to search for and where; built (and checked) from the job's selection."""

    service: str = "default"
    classifications: Tuple[str, ...] = ()  # names from CLASSIFICATIONS; empty means all
    include_kbs: Tuple[str, ...] = ()  # "KB5031356"; empty means every KB
    exclude_kbs: Tuple[str, ...] = ()
    include_drivers: bool = False
    include_optional: bool = False  # browse-only updates
    min_age_days: Optional[int] = None  # only updates released at least this many days ago

    @classmethod
    def from_selection(cls, selection: Mapping[str, object]) -> "WuaOptions":
        """Read a job spec's selection: include/exclude KBs, classification, "windows" keys."""
        windows = selection.get("windows") or {}
        if not isinstance(windows, Mapping):
            raise ValueError("selection.windows must be an object")
        classification = selection.get("classification", "all")
        if classification == "all":
            names: Tuple[str, ...] = ()
        elif classification == "security":  # as the round's selection reads "security"
            names = ("Security Updates",)
        elif isinstance(classification, list):
            names = tuple(str(c) for c in classification)
        else:
            raise ValueError("classification must be 'all', 'security' or a list of names")
        service = str(windows.get("service", "default"))
        if service not in SERVICES:
            known = ", ".join(SERVICES)
            raise ValueError("unknown update service %r (one of %s)" % (service, known))
        unknown = [c for c in names if c not in CLASSIFICATIONS]
        if unknown:
            raise ValueError("unknown classification(s): %s" % ", ".join(unknown))
        return cls(
            service=service,
            classifications=names,
            include_kbs=_kb_list(selection.get("include") or []),
            exclude_kbs=_kb_list(selection.get("exclude") or []),
            include_drivers=bool(windows.get("drivers", False)),
            include_optional=bool(windows.get("optional", False)),
            min_age_days=_min_age(windows.get("min_age")),
        )


def _kb_list(values: object) -> Tuple[str, ...]:
    if not isinstance(values, list):
        raise ValueError("include/exclude must be lists of KB numbers")
    return tuple(normalize_kb(str(v)) for v in values)


def build_criteria(options: WuaOptions) -> str:
    """Return the IUpdateSearcher criteria: one and-group per type and classification.

    WUA allows `or` only at the top level, so every group repeats the common terms.
    """
    common = "IsInstalled=0"  # hidden ones too: they are reported held, never installed
    if not options.include_optional:
        common += " and BrowseOnly=0"
    names = list(options.classifications)
    if options.include_drivers and names and "Drivers" not in names:
        names.append("Drivers")
    if not names:
        types = ["Software", "Driver"] if options.include_drivers else ["Software"]
        return " or ".join("(%s and Type='%s')" % (common, t) for t in types)
    groups = []
    for name in names:
        kind = "Driver" if name == "Drivers" else "Software"
        groups.append(
            "(%s and Type='%s' and CategoryIDs contains '%s')"
            % (common, kind, CLASSIFICATIONS[name])
        )
    return " or ".join(groups)


def update_id_of(update: WuaUpdate) -> str:
    """Return the id a job names an update by: its first KB, else its UpdateID."""
    return "KB" + update.kb_ids[0] if update.kb_ids else update.update_id


def unique_ids(updates: Sequence[WuaUpdate]) -> Dict[str, str]:
    """Return UpdateID -> id; a KB that several updates share gets "KB<n>_<UpdateID[:8]>".

    One KB can name one fix for several products; ids must stay unique in a round.
    """
    counts: Dict[str, int] = {}
    for update in updates:
        counts[update_id_of(update)] = counts.get(update_id_of(update), 0) + 1
    ids = {}
    for update in updates:
        name = update_id_of(update)
        ids[update.update_id] = (
            name if counts[name] == 1 else "%s_%s" % (name, update.update_id[:8])
        )
    return ids


def to_update(update: WuaUpdate, origin: str, update_id: Optional[str] = None) -> Update:
    """Return the OS-neutral Update for a WUA update."""
    guids = {guid for guid, _ in update.categories}
    return Update(
        id=update_id or update_id_of(update),
        title=update.title,
        installed_version=None,
        candidate_version=update.update_id,
        origin=origin,
        is_security=SECURITY_GUID in guids,
        size=update.size,
        categories=tuple(name for _, name in update.categories),
        reboot_hint=update.reboot_behavior != 0,
        # Selection by advisory on Windows: the KB is the advisory, MSRC gives severity/CVEs.
        advisory="KB" + update.kb_ids[0] if update.kb_ids else "",
        severity=update.msrc_severity,
        cves=update.cve_ids,
    )


def _min_age(value: object) -> Optional[int]:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("windows.min_age must be a number of days")
    return value


def is_too_new(released: str, min_age_days: Optional[int], today: datetime.date) -> bool:
    """Say whether an update released on `released` (YYYY-MM-DD) is younger than the minimum
    age; an unknown release date counts as too new (the operator asked for a delay)."""
    if min_age_days is None:
        return False
    try:
        day = datetime.datetime.strptime(released, "%Y-%m-%d").date()
    except ValueError:
        return True
    return (today - day).days < min_age_days


def skip_reason(
    update: WuaUpdate, options: WuaOptions, today: Optional[datetime.date] = None
) -> Optional[str]:
    """Return why the KB lists (or --min-age) leave this update out, or None to keep it."""
    today = today or datetime.date.today()
    if is_too_new(update.released, options.min_age_days, today):
        return "released %s, less than %d days ago (--min-age)" % (
            update.released or "on an unknown date",
            options.min_age_days or 0,
        )
    kbs = ["KB" + kb for kb in update.kb_ids]

    def listed(patterns: Tuple[str, ...]) -> bool:
        return any(fnmatch.fnmatchcase(kb, p) for kb in kbs for p in patterns)

    if listed(options.exclude_kbs):
        return "excluded by KB"
    if options.include_kbs and not listed(options.include_kbs):
        return "not in the KB include list"
    return None


def item_result(update: Update, outcome: Outcome, success: str) -> UpdateResult:
    """Map one update's WUA result code and HRESULT to an UpdateResult."""
    item = outcome.items.get(update.candidate_version)
    if item is None:
        return UpdateResult(update.id, "failed", message="WUA returned no result", code=None)
    name = result_code_name(item.result_code)
    if item.result_code in _SUCCEEDED:
        message = "restart required" if item.reboot_required else ""
        if item.hresult:
            message = (message + "; " if message else "") + describe_hresult(item.hresult)
        return UpdateResult(update.id, success, update.candidate_version, message, name)
    hresult = item.hresult or outcome.hresult
    code = "%s %s" % (name, format_hresult(hresult)) if hresult else name
    message = describe_hresult(hresult) if hresult else "WUA reported %s" % name
    return UpdateResult(update.id, "failed", update.candidate_version, message, code)


def failed_all(updates: Iterable[Update], error: WuaError) -> List[UpdateResult]:
    """Return a failed result for each update after a whole WUA call raised."""
    code = "%s %s" % (error.operation, format_hresult(error.hresult))
    text = describe_hresult(error.hresult)
    return [UpdateResult(u.id, "failed", u.candidate_version, text, code) for u in updates]


class WuaBackend(Backend):
    """Backend over the Windows Update Agent, through one adapter."""

    name = "wua"
    hold_note = "hidden on the target (Windows Update)"
    has_advisories = True  # MsrcSeverity, CveIDs, KB numbers

    def __init__(self, adapter: WuaAdapter, options: WuaOptions) -> None:
        self._adapter = adapter
        self._options = options
        self._found: Dict[str, WuaUpdate] = {}
        self._reboot_reasons: List[str] = []

    def prepare(self, emit: Emit) -> None:
        if self._adapter.system_reboot_required():
            emit("wua.reboot_pending", "warning", {"message": "a restart is pending already"})

    def scan(self, emit: Emit) -> List[Update]:
        criteria = build_criteria(self._options)
        selection, service_id = SERVICES[self._options.service]
        emit("wua.search.started", "info", {"criteria": criteria, "service": self._options.service})
        try:
            found = self._adapter.search(
                criteria, server_selection=selection, service_id=service_id
            )
        except WuaError as exc:
            text = describe_hresult(exc.hresult)
            emit(
                "wua.search.failed",
                "error",
                {"hresult": format_hresult(exc.hresult), "message": text},
            )
            raise WuaBackendError("update search failed: %s" % text, exc.hresult) from exc
        kept, skipped = self._filter(found)
        emit(
            "wua.search.done", "info", {"found": len(found), "kept": len(kept), "skipped": skipped}
        )
        return kept

    def download(self, updates: List[Update], emit: Emit) -> List[UpdateResult]:
        updates, held = self._held(updates)
        self._adapter.keep_awake(True)
        try:
            ready, failed = self._fetch(updates, emit)
        finally:
            self._adapter.keep_awake(False)
        return (
            [UpdateResult(u.id, "downloaded", u.candidate_version) for u in ready] + failed + held
        )

    def install(self, updates: List[Update], emit: Emit) -> List[UpdateResult]:
        updates, held = self._held(updates)
        self._adapter.keep_awake(True)
        try:
            ready, failed = self._fetch(updates, emit)
            return self._install(ready, emit) + failed + held
        finally:
            self._adapter.keep_awake(False)

    def reboot_state(self) -> RebootState:
        reasons = list(self._reboot_reasons)
        if self._adapter.system_reboot_required():
            reasons.append("the system reports a pending restart (ISystemInformation)")
        return RebootState(required=bool(reasons), reasons=reasons)

    def _filter(self, found: Sequence[WuaUpdate]) -> Tuple[List[Update], List[Dict[str, str]]]:
        kept, skipped = [], []
        ids = unique_ids(found)
        for update in found:
            reason = skip_reason(update, self._options)
            if reason:
                skipped.append({"id": ids[update.update_id], "reason": reason})
                continue
            self._found[update.update_id] = update
            found_update = to_update(update, self._options.service, ids[update.update_id])
            if update.is_hidden:
                found_update = found_update._replace(categories=(*found_update.categories, "held"))
            kept.append(found_update)
        return kept, skipped

    def _held(self, updates: List[Update]) -> Tuple[List[Update], List[UpdateResult]]:
        """Split off the updates hidden on the target: they are held, never fetched."""
        hidden = [u for u in updates if self._found[u.candidate_version].is_hidden]
        held = [UpdateResult(u.id, "held", None, self.hold_note) for u in hidden]
        return [u for u in updates if u not in hidden], held

    def _fetch(self, updates: List[Update], emit: Emit) -> Tuple[List[Update], List[UpdateResult]]:
        """Accept EULAs, download what is not yet downloaded; return (ready, failed)."""
        failed: List[UpdateResult] = []
        for update in updates:
            wua = self._found[update.candidate_version]
            if not wua.eula_accepted:
                try:
                    self._adapter.accept_eula(wua.update_id)
                except WuaError as exc:
                    failed += failed_all([update], exc)
                    continue
                emit("wua.eula.accepted", "info", {"id": update.id, "title": update.title})
        failed_ids = {r.id for r in failed}
        pending = [u for u in updates if u.id not in failed_ids]
        todo = [u for u in pending if not self._found[u.candidate_version].is_downloaded]
        if not todo:
            return pending, failed
        size = sum(u.size for u in todo)
        emit("wua.download.started", "info", {"updates": [u.id for u in todo], "bytes": size})
        try:
            outcome = self._adapter.download([u.candidate_version for u in todo])
        except WuaError as exc:
            emit("wua.download.failed", "error", {"message": describe_hresult(exc.hresult)})
            return [u for u in pending if u not in todo], failed + failed_all(todo, exc)
        results = {u.id: item_result(u, outcome, "downloaded") for u in todo}
        emit("wua.download.done", "info", {"result": result_code_name(outcome.result_code)})
        bad = [r for r in results.values() if r.status == "failed"]
        bad_ids = {r.id for r in bad}
        return [u for u in pending if u.id not in bad_ids], failed + bad

    def _install(self, updates: List[Update], emit: Emit) -> List[UpdateResult]:
        if not updates:
            return []
        emit("wua.install.started", "info", {"updates": [u.id for u in updates]})
        try:
            outcome = self._adapter.install([u.candidate_version for u in updates])
        except WuaError as exc:
            emit("wua.install.failed", "error", {"message": describe_hresult(exc.hresult)})
            return failed_all(updates, exc)
        emit("wua.install.done", "info", {"result": result_code_name(outcome.result_code)})
        results = [item_result(u, outcome, "installed") for u in updates]
        for update in updates:
            item = outcome.items.get(update.candidate_version)
            if item is not None and item.reboot_required:
                self._reboot_reasons.append("%s requires a restart" % update.id)
        if outcome.reboot_required and not self._reboot_reasons:
            self._reboot_reasons.append("the installation requires a restart")
        return results


def make_wua_backend(
    classification: object = "all",
    windows: Optional[Mapping[str, object]] = None,
    adapter: Optional[WuaAdapter] = None,
) -> WuaBackend:
    """Return the WUA backend for a job: COM through pywin32 if installed, else PowerShell.

    classification and windows ({service, drivers, optional}) shape the search; the job's
    include/exclude lists and frozen plan stay with the round's selection, which matches
    them against the ids ("KB<number>", else the UpdateID). Raise ValueError for unknown
    values.
    """
    options = WuaOptions.from_selection({"classification": classification, "windows": windows})
    if adapter is None:
        from patchpilot.client.backends.wua_com import win32com_adapter
        from patchpilot.client.backends.wua_powershell import PowerShellAdapter

        adapter = win32com_adapter() or PowerShellAdapter()
    return WuaBackend(adapter, options)
