"""A scripted fake of the Windows Update Agent's COM objects, driven by a scenario.

Standard library only, Python 3.6+. It follows the documented interfaces closely enough that
`ComObjectAdapter` walks it exactly as it walks the real objects: `IUpdateSession`
(CreateUpdateSearcher/Downloader/Installer), `IUpdateSearcher.Search` with the WUA criteria
grammar (`or` only at the top level), `ISearchResult`, `IUpdateCollection` (Count, Item, Add),
`IUpdate` (Identity, KBArticleIDs, Categories, BrowseOnly, EulaAccepted, AcceptEula,
InstallationBehavior), `IDownloadResult`/`IInstallationResult` with `GetUpdateResult`,
`ISystemInformation.RebootRequired`, OperationResultCode values and HRESULTs raised as
exceptions carrying `.hresult`.

A scenario (JSON) lists updates and how each behaves; `FakeWindows` keeps the machine's
state (installed, pending restart, boots) so that two rounds with a restart between them can
be played, e.g. a servicing-stack update that must be installed and the machine restarted
before the cumulative update is offered.
"""

import json
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from patchpilot.client.backends.hresult import parse_hresult
from patchpilot.client.backends.wua_com import ComObjectAdapter

__all__ = ["FakeComError", "FakeWindows", "fake_adapter", "load_scenario"]

E_ACCESSDENIED = 0x80070005
ERROR_SHUTDOWN_IN_PROGRESS = 0x8007045B
WU_E_ALL_UPDATES_FAILED = 0x80240022
WU_E_EULAS_DECLINED = 0x80240023
WU_E_NO_UPDATE = 0x80240024
WU_E_INVALID_CRITERIA = 0x80240032
WU_E_DM_NOTDOWNLOADED = 0x80246007
ORC_SUCCEEDED, ORC_WITH_ERRORS, ORC_FAILED = 2, 3, 4
_REBOOT_BEHAVIOR = {"never": 0, "always": 1, "can-request": 2}


class FakeComError(Exception):
    """What a failing COM call raises; `hresult` as pywintypes.com_error carries it."""

    def __init__(self, hresult: int, text: str = "") -> None:
        super().__init__(text or "HRESULT 0x%08X" % hresult)
        self.hresult = hresult


class _Obj:
    """A bag of COM properties."""

    def __init__(self, **props: Any) -> None:
        self.__dict__.update(props)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


class FakeCollection:
    """IUpdateCollection / IStringCollection / ICategoryCollection."""

    def __init__(self, items: Sequence[Any] = ()) -> None:
        self._items = list(items)

    @property
    def Count(self) -> int:
        return len(self._items)

    def Item(self, index: int) -> Any:
        return self._items[index]

    def Add(self, item: Any) -> int:
        self._items.append(item)
        return len(self._items) - 1


class FakeUpdate:
    """IUpdate over one scenario entry; reads live state from the machine."""

    def __init__(self, machine: "FakeWindows", spec: Dict[str, Any]) -> None:
        self._machine = machine
        self.spec = spec
        uid = str(spec["id"])
        self.Identity = _Obj(UpdateID=uid, RevisionNumber=int(spec.get("revision", 1)))
        self.Title = str(spec.get("title", uid))
        self.KBArticleIDs = FakeCollection([str(kb) for kb in spec.get("kb", [])])
        self.Categories = FakeCollection(
            [_Obj(CategoryID=c[0], Name=c[1]) for c in spec.get("categories", [])]
        )
        self.BrowseOnly = bool(spec.get("browse_only", False))
        self.MaxDownloadSize = int(spec.get("size", 0))
        self.InstallationBehavior = _Obj(
            RebootBehavior=_REBOOT_BEHAVIOR[spec.get("reboot_behavior", "never")]
        )
        self.Type = 2 if spec.get("type", "Software") == "Driver" else 1
        self.MsrcSeverity = str(spec.get("severity", ""))
        self.CveIDs = FakeCollection([str(c) for c in spec.get("cves", [])])
        self.LastDeploymentChangeTime = str(spec.get("released", ""))  # as pywin32 prints it

    @property
    def uid(self) -> str:
        return str(self.Identity.UpdateID)

    @property
    def EulaAccepted(self) -> bool:
        return self.uid in self._machine.eulas_accepted or not self.spec.get("eula", False)

    @property
    def IsDownloaded(self) -> bool:
        return self.uid in self._machine.downloaded

    @property
    def IsInstalled(self) -> bool:
        return self.uid in self._machine.installed

    @property
    def IsHidden(self) -> bool:
        return bool(self.spec.get("hidden", False))

    def AcceptEula(self) -> None:
        self._machine.check_local("AcceptEula")
        self._machine.eulas_accepted.add(self.uid)


class FakeWindows:
    """The machine: updates, what is installed, a pending restart, the boot count."""

    def __init__(self, scenario: Dict[str, Any]) -> None:
        self.scenario = scenario
        self.installed: Set[str] = {u["id"] for u in scenario["updates"] if u.get("installed")}
        self.downloaded: Set[str] = set()
        self.eulas_accepted: Set[str] = set()
        self.awaiting_restart: Set[str] = set()
        self.reboot_pending = bool(scenario.get("reboot_pending", False))
        self.boots = 1
        self.searches: List[Tuple[str, int, Optional[str]]] = []
        self.search_failures = int(scenario.get("search_failures", 1 << 30))

    def dump_state(self) -> Dict[str, Any]:
        """Return the machine's changing state as JSON-ready data (to hand to a child)."""
        return {
            "installed": sorted(self.installed),
            "downloaded": sorted(self.downloaded),
            "eulas_accepted": sorted(self.eulas_accepted),
            "awaiting_restart": sorted(self.awaiting_restart),
            "reboot_pending": self.reboot_pending,
            "boots": self.boots,
            "search_failures": self.search_failures,
        }

    def load_state(self, state: Dict[str, Any]) -> None:
        """Take back a state from dump_state."""
        self.installed = set(state["installed"])
        self.downloaded = set(state["downloaded"])
        self.eulas_accepted = set(state["eulas_accepted"])
        self.awaiting_restart = set(state["awaiting_restart"])
        self.reboot_pending = bool(state["reboot_pending"])
        self.boots = int(state["boots"])
        self.search_failures = int(state["search_failures"])

    def restart(self) -> None:
        """Restart the machine: pending installs take effect; "comes_back" updates return."""
        for uid in self.awaiting_restart:
            if self._spec(uid).get("comes_back"):
                self.installed.discard(uid)
        self.awaiting_restart.clear()
        self.reboot_pending = False
        self.boots += 1

    def check_local(self, operation: str) -> None:
        """Refuse as WUA does under a remote logon token."""
        if self.scenario.get("remote_token"):
            raise FakeComError(E_ACCESSDENIED, "%s: access denied" % operation)

    def session(self) -> _Obj:
        """Return an IUpdateSession."""
        return _Obj(
            ClientApplicationID="",
            CreateUpdateSearcher=lambda: FakeSearcher(self),
            CreateUpdateDownloader=lambda: FakeWorker(self, "Download"),
            CreateUpdateInstaller=lambda: FakeWorker(self, "Install"),
        )

    def is_offered(self, spec: Dict[str, Any]) -> bool:
        """Offer an update once its prerequisites are installed and restarted into."""
        return all(
            req in self.installed and req not in self.awaiting_restart
            for req in spec.get("requires", [])
        )

    def _spec(self, uid: str) -> Dict[str, Any]:
        return next(u for u in self.scenario["updates"] if u["id"] == uid)


class FakeSearcher:
    """IUpdateSearcher."""

    def __init__(self, machine: FakeWindows) -> None:
        self._machine = machine
        self.ServerSelection = 0
        self.ServiceID: Optional[str] = None

    def Search(self, criteria: str) -> _Obj:
        machine = self._machine
        machine.searches.append((criteria, self.ServerSelection, self.ServiceID))
        failure = parse_hresult(machine.scenario.get("search_hresult"))
        if failure is not None and machine.search_failures > 0:
            machine.search_failures -= 1
            raise FakeComError(failure, "Search failed")
        groups = parse_criteria(criteria)
        updates = [
            FakeUpdate(machine, spec)
            for spec in machine.scenario["updates"]
            if machine.is_offered(spec)
        ]
        found = [u for u in updates if any(_matches(u, group) for group in groups)]
        return _Obj(ResultCode=ORC_SUCCEEDED, Updates=FakeCollection(found))


class FakeWorker:
    """IUpdateDownloader (operation "Download") or IUpdateInstaller ("Install")."""

    def __init__(self, machine: FakeWindows, operation: str) -> None:
        machine.check_local(
            "CreateUpdate" + ("Downloader" if operation == "Download" else "Installer")
        )
        self._machine = machine
        self._operation = operation
        self.Updates = FakeCollection()
        self.ForceQuiet = False

    def Download(self) -> _Obj:
        return self._run(self._download_one)

    def Install(self) -> _Obj:
        if self._machine.scenario.get("shutdown_in_progress"):
            raise FakeComError(ERROR_SHUTDOWN_IN_PROGRESS, "shutdown in progress")
        return self._run(self._install_one)

    def _run(self, one: Any) -> _Obj:
        updates = [self.Updates.Item(i) for i in range(self.Updates.Count)]
        if not updates:
            raise FakeComError(WU_E_NO_UPDATE, "no updates in the collection")
        items = [one(u) for u in updates]
        codes = {item.ResultCode for item in items}
        if codes == {ORC_SUCCEEDED}:
            overall, hresult = ORC_SUCCEEDED, 0
        elif ORC_SUCCEEDED in codes:
            overall, hresult = ORC_WITH_ERRORS, 0
        else:
            overall, hresult = ORC_FAILED, WU_E_ALL_UPDATES_FAILED
        return _Obj(
            ResultCode=overall,
            HResult=hresult,
            RebootRequired=any(getattr(i, "RebootRequired", False) for i in items),
            GetUpdateResult=lambda index: items[index],
        )

    def _download_one(self, update: FakeUpdate) -> _Obj:
        failure = parse_hresult(update.spec.get("download_hresult"))
        if failure:
            return _Obj(ResultCode=ORC_FAILED, HResult=failure)
        self._machine.downloaded.add(update.uid)
        return _Obj(ResultCode=ORC_SUCCEEDED, HResult=0)

    def _install_one(self, update: FakeUpdate) -> _Obj:
        failure = parse_hresult(update.spec.get("install_hresult"))
        if not update.EulaAccepted:
            failure = WU_E_EULAS_DECLINED
        elif not update.IsDownloaded:
            failure = WU_E_DM_NOTDOWNLOADED
        if failure:
            return _Obj(ResultCode=ORC_FAILED, HResult=failure, RebootRequired=False)
        machine = self._machine
        machine.installed.add(update.uid)
        needs_restart = bool(update.spec.get("reboot_required", False))
        if needs_restart or update.spec.get("comes_back"):
            machine.awaiting_restart.add(update.uid)
        machine.reboot_pending = machine.reboot_pending or needs_restart
        return _Obj(ResultCode=ORC_SUCCEEDED, HResult=0, RebootRequired=needs_restart)


# --- the criteria language: criterion (and criterion)* (or ...)*, `or` at the top only ---

_TOKEN = re.compile(r"\s*(?:(\()|(\))|(!=|=)|'([^']*)'|(-?\d+)\b|([A-Za-z]+))")
_PROPERTIES: Dict[str, Callable[[FakeUpdate], Any]] = {
    "IsInstalled": lambda u: int(u.IsInstalled),
    "IsHidden": lambda u: int(u.IsHidden),
    "BrowseOnly": lambda u: int(u.BrowseOnly),
    "Type": lambda u: "Driver" if u.Type == 2 else "Software",
    "UpdateID": lambda u: u.uid,
    "RebootRequired": lambda u: int(u.uid in u._machine.awaiting_restart),
    "CategoryIDs": lambda u: [c.CategoryID.upper() for c in u.Categories._items],
}

Criterion = Tuple[str, str, object]


def _tokens(criteria: str) -> List[Tuple[str, object]]:
    out: List[Tuple[str, object]] = []
    pos = 0
    text = criteria.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise FakeComError(WU_E_INVALID_CRITERIA, "bad criteria at %d" % pos)
        lpar, rpar, op, string, number, word = match.groups()
        if lpar or rpar:
            out.append(("paren", lpar or rpar))
        elif op:
            out.append(("op", op))
        elif string is not None:
            out.append(("value", string))
        elif number is not None:
            out.append(("value", int(number)))
        else:
            out.append(("word", word))
        pos = match.end()
    return out


def parse_criteria(criteria: str) -> List[List[Criterion]]:
    """Return the or-groups of and-ed criteria; raise WU_E_INVALID_CRITERIA like WUA."""
    groups: List[List[Criterion]] = [[]]
    depth, i, want_term = 0, 0, True
    tokens = _tokens(criteria)
    while i < len(tokens):
        kind, value = tokens[i]
        word = str(value).lower()
        if kind == "paren" and (value == "(") == want_term:
            depth += 1 if value == "(" else -1
            i += 1
        elif kind == "word" and word in ("and", "or") and not want_term:
            if word == "or" and depth:
                raise FakeComError(WU_E_INVALID_CRITERIA, "'or' inside parentheses")
            if word == "or":
                groups.append([])
            i, want_term = i + 1, True
        elif want_term:
            groups[-1].append(_criterion(tokens[i : i + 3]))
            i, want_term = i + 3, False
        else:
            raise FakeComError(WU_E_INVALID_CRITERIA, "unexpected %r" % (value,))
    if depth or want_term:
        raise FakeComError(WU_E_INVALID_CRITERIA, "unbalanced or incomplete criteria")
    return groups


def _criterion(tokens: List[Tuple[str, object]]) -> Criterion:
    if len(tokens) < 3 or tokens[0][0] != "word" or tokens[2][0] != "value":
        raise FakeComError(WU_E_INVALID_CRITERIA, "malformed criterion")
    name, op = str(tokens[0][1]), tokens[1][1]
    if name not in _PROPERTIES or not (tokens[1][0] == "op" or op == "contains"):
        raise FakeComError(WU_E_INVALID_CRITERIA, "unknown property or operator: %s" % name)
    if (op == "contains") != (name == "CategoryIDs") or (op == "!=" and name != "Type"):
        raise FakeComError(WU_E_INVALID_CRITERIA, "operator %s not allowed on %s" % (op, name))
    return name, str(op), tokens[2][1]


def _matches(update: FakeUpdate, group: List[Criterion]) -> bool:
    for name, op, value in group:
        actual = _PROPERTIES[name](update)
        if op == "contains":
            ok = str(value).upper() in actual
        elif isinstance(value, str):
            ok = str(actual).lower() == value.lower()
        else:
            ok = actual == value
        if ok == (op == "!="):
            return False
    return True


def load_scenario(path: str) -> Dict[str, Any]:
    """Read a scenario file (JSON: {"updates": [...], ...})."""
    with open(path, encoding="utf-8") as handle:
        scenario = json.load(handle)
    if not isinstance(scenario, dict) or not isinstance(scenario.get("updates"), list):
        raise ValueError("%s: a scenario is an object with an 'updates' list" % path)
    return scenario


def fake_adapter(
    machine: FakeWindows, execution_state: Optional[Callable[[bool], None]] = None
) -> ComObjectAdapter:
    """Return the production COM adapter walking this fake machine's objects."""
    return ComObjectAdapter(
        machine.session(),
        new_collection=lambda: FakeCollection(),
        system_info=_SystemInformation(machine),
        execution_state=execution_state or (lambda enabled: None),
    )


class _SystemInformation:
    """ISystemInformation."""

    def __init__(self, machine: FakeWindows) -> None:
        self._machine = machine

    @property
    def RebootRequired(self) -> bool:
        return self._machine.reboot_pending
