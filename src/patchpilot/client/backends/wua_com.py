"""The one narrow adapter between the WUA backend and the Windows Update Agent's COM objects.

Standard library only, Python 3.9+, importable on Linux (Windows-only imports sit inside
functions). Everything above this module (criteria, filters, result mapping, reboot
decisions) is plain tested Python; everything here walks COM objects.

`WuaAdapter` is the contract: search, accept a EULA, download, install, ask the system
whether a restart is pending, keep the machine awake. `ComObjectAdapter` walks COM-shaped
objects (`IUpdateSession`, `IUpdateSearcher`, `IUpdateCollection`, `IUpdateDownloader`,
`IUpdateInstaller`, `ISystemInformation`): it drives `win32com` objects when pywin32 is
installed, and the scripted fake (`wua_fake.py`) in the tests. The embeddable Python runtime
that ships beside the client on a share has no pywin32, so `wua_powershell.py` runs the same
walk in a PowerShell child speaking JSON lines, behind the same interface. Why not ctypes
IDispatch calls: hand-written vtable code cannot be tested without Windows, while PowerShell's
COM binder is part of every supported Windows Server.
"""

import abc
import re
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

__all__ = [
    "ComObjectAdapter",
    "ItemOutcome",
    "Outcome",
    "WuaAdapter",
    "WuaError",
    "WuaUpdate",
    "set_execution_state",
]

# SetThreadExecutionState flags: keep the system (not the display) awake until cleared.
ES_CONTINUOUS = 0x80000000
ES_SYSTEM_REQUIRED = 0x00000001

# InstallationBehavior.RebootBehavior: the update never needs a restart.
REBOOT_NEVER = 0


class WuaError(Exception):
    """A WUA call failed; carries the HRESULT and the operation that raised it."""

    def __init__(self, operation: str, hresult: int, message: str = "") -> None:
        super().__init__("%s failed: 0x%08X %s" % (operation, hresult & 0xFFFFFFFF, message))
        self.operation = operation
        self.hresult = hresult & 0xFFFFFFFF


class WuaUpdate(NamedTuple):
    """The facts of one IUpdate the backend needs, copied out of COM."""

    update_id: str
    title: str
    kb_ids: Tuple[str, ...] = ()  # KBArticleIDs, digits only ("5031356")
    categories: Tuple[Tuple[str, str], ...] = ()  # (CategoryID upper-case, Name)
    browse_only: bool = False
    eula_accepted: bool = True
    is_downloaded: bool = False
    size: int = 0  # MaxDownloadSize, bytes
    reboot_behavior: int = REBOOT_NEVER  # 0 never, 1 always requires, 2 can request
    update_type: int = 1  # 1 software, 2 driver
    msrc_severity: str = ""  # MsrcSeverity: Critical, Important, Moderate, Low, or ""
    cve_ids: Tuple[str, ...] = ()  # CveIDs
    is_hidden: bool = False  # hidden by an administrator: reported held, never installed
    released: str = ""  # LastDeploymentChangeTime as YYYY-MM-DD ("" when WUA gives none)


class ItemOutcome(NamedTuple):
    """IUpdateDownloadResult / IUpdateInstallationResult of one update."""

    result_code: int
    hresult: int = 0
    reboot_required: bool = False


class Outcome(NamedTuple):
    """IDownloadResult / IInstallationResult: the whole call and each update by UpdateID."""

    result_code: int
    items: Dict[str, ItemOutcome]
    hresult: int = 0
    reboot_required: bool = False


class WuaAdapter(abc.ABC):
    """What the WUA backend may ask of the Windows Update Agent."""

    @abc.abstractmethod
    def search(
        self, criteria: str, *, server_selection: int, service_id: Optional[str]
    ) -> List[WuaUpdate]:
        """Run IUpdateSearcher.Search; raise WuaError with the HRESULT if it fails."""

    @abc.abstractmethod
    def accept_eula(self, update_id: str) -> None:
        """Call IUpdate.AcceptEula on an update of the last search."""

    @abc.abstractmethod
    def download(self, update_ids: Sequence[str]) -> Outcome: ...

    @abc.abstractmethod
    def install(self, update_ids: Sequence[str]) -> Outcome: ...

    @abc.abstractmethod
    def system_reboot_required(self) -> bool:
        """Return ISystemInformation.RebootRequired (a restart is pending machine-wide)."""

    @abc.abstractmethod
    def keep_awake(self, enabled: bool) -> None:
        """Keep the machine from sleeping while enabled (SetThreadExecutionState)."""


def set_execution_state(enabled: bool) -> None:
    """Ask Windows to stay awake (enabled) or allow sleep again; a no-op elsewhere."""
    import ctypes

    windll = getattr(ctypes, "windll", None)
    if windll is None:
        return
    flags = ES_CONTINUOUS | ES_SYSTEM_REQUIRED if enabled else ES_CONTINUOUS
    windll.kernel32.SetThreadExecutionState(flags)


def com_hresult(exc: BaseException) -> int:
    """Return the HRESULT a COM exception carries (pywintypes.com_error or the fake's)."""
    excepinfo = getattr(exc, "excepinfo", None)
    if excepinfo and len(excepinfo) > 5 and excepinfo[5]:
        return int(excepinfo[5]) & 0xFFFFFFFF
    return int(getattr(exc, "hresult", 0x80004005)) & 0xFFFFFFFF


def _collection_items(collection: Any) -> List[Any]:
    return [collection.Item(i) for i in range(collection.Count)]


def _to_update(com_update: Any) -> WuaUpdate:
    categories = tuple(
        (str(c.CategoryID).upper(), str(c.Name)) for c in _collection_items(com_update.Categories)
    )
    return WuaUpdate(
        update_id=str(com_update.Identity.UpdateID),
        title=str(com_update.Title),
        kb_ids=tuple(str(kb) for kb in _collection_items(com_update.KBArticleIDs)),
        categories=categories,
        browse_only=bool(com_update.BrowseOnly),
        eula_accepted=bool(com_update.EulaAccepted),
        is_downloaded=bool(com_update.IsDownloaded),
        size=int(com_update.MaxDownloadSize or 0),
        reboot_behavior=int(com_update.InstallationBehavior.RebootBehavior),
        update_type=int(com_update.Type),
        msrc_severity=str(getattr(com_update, "MsrcSeverity", "") or ""),
        cve_ids=tuple(str(c) for c in _collection_items(com_update.CveIDs))
        if getattr(com_update, "CveIDs", None) is not None
        else (),
        released=_day(getattr(com_update, "LastDeploymentChangeTime", None)),
        is_hidden=bool(getattr(com_update, "IsHidden", False)),
    )


def _day(value: Any) -> str:
    """Return a COM DATE (pywintypes datetime, or the fake's) as YYYY-MM-DD, "" if none."""
    text = str(value or "")
    return text[:10] if re.match(r"^\d{4}-\d{2}-\d{2}", text) else ""


class ComObjectAdapter(WuaAdapter):
    """Walk COM-shaped WUA objects: win32com's on Windows, the fake's in tests."""

    def __init__(
        self,
        session: Any,
        *,
        new_collection: Callable[[], Any],
        system_info: Any,
        execution_state: Callable[[bool], None] = set_execution_state,
    ) -> None:
        self._session = session
        self._new_collection = new_collection
        self._system_info = system_info
        self._execution_state = execution_state
        self._found: Dict[str, Any] = {}
        session.ClientApplicationID = "patchpilot"

    def search(
        self, criteria: str, *, server_selection: int, service_id: Optional[str]
    ) -> List[WuaUpdate]:
        searcher = self._session.CreateUpdateSearcher()
        searcher.ServerSelection = server_selection
        if service_id:
            searcher.ServiceID = service_id
        try:
            result = searcher.Search(criteria)
        except Exception as exc:  # COM raises its own exception types
            raise WuaError("Search", com_hresult(exc), str(exc)) from exc
        found = _collection_items(result.Updates)
        self._found = {str(u.Identity.UpdateID): u for u in found}
        return [_to_update(u) for u in found]

    def accept_eula(self, update_id: str) -> None:
        try:
            self._found[update_id].AcceptEula()
        except Exception as exc:
            raise WuaError("AcceptEula", com_hresult(exc), str(exc)) from exc

    def download(self, update_ids: Sequence[str]) -> Outcome:
        downloader = self._create("CreateUpdateDownloader")
        return self._run("Download", downloader, update_ids)

    def install(self, update_ids: Sequence[str]) -> Outcome:
        installer = self._create("CreateUpdateInstaller")
        installer.ForceQuiet = True
        return self._run("Install", installer, update_ids)

    def _create(self, factory: str) -> Any:
        """Create a downloader or installer: where a remote token gets E_ACCESSDENIED."""
        try:
            return getattr(self._session, factory)()
        except Exception as exc:
            raise WuaError(factory, com_hresult(exc), str(exc)) from exc

    def system_reboot_required(self) -> bool:
        return bool(self._system_info.RebootRequired)

    def keep_awake(self, enabled: bool) -> None:
        self._execution_state(enabled)

    def _run(self, operation: str, worker: Any, update_ids: Sequence[str]) -> Outcome:
        collection = self._new_collection()
        for update_id in update_ids:
            collection.Add(self._found[update_id])
        worker.Updates = collection
        try:
            result = getattr(worker, operation)()
        except Exception as exc:
            raise WuaError(operation, com_hresult(exc), str(exc)) from exc
        items = {}
        for index, update_id in enumerate(update_ids):
            item = result.GetUpdateResult(index)
            items[update_id] = ItemOutcome(
                result_code=int(item.ResultCode),
                hresult=int(item.HResult) & 0xFFFFFFFF,
                reboot_required=bool(getattr(item, "RebootRequired", False)),
            )
        return Outcome(
            result_code=int(result.ResultCode),
            hresult=int(result.HResult) & 0xFFFFFFFF,
            reboot_required=bool(getattr(result, "RebootRequired", False)),
            items=items,
        )


def win32com_adapter() -> Optional[ComObjectAdapter]:
    """Return an adapter over win32com's WUA objects, or None without pywin32."""
    try:
        from win32com.client import Dispatch
    except ImportError:
        return None
    return ComObjectAdapter(
        Dispatch("Microsoft.Update.Session"),
        new_collection=lambda: Dispatch("Microsoft.Update.UpdateColl"),
        system_info=Dispatch("Microsoft.Update.SystemInfo"),
    )
