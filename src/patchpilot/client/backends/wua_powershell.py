"""The WUA adapter for a client without pywin32: a PowerShell child walks the COM objects.

Standard library only, Python 3.9+. The embeddable Python runtime that runs the client from a
share has no COM bindings, while every supported Windows Server has Windows PowerShell 5.1,
whose COM binder drives `Microsoft.Update.Session`. The child runs `WUA_SCRIPT` and serves
one JSON request per line on stdin with one JSON reply per line on stdout; it keeps the last
search's IUpdate objects, so download and install act on exactly what was found. Replies
carry the HRESULT of a failed call, which becomes a `WuaError` here.

What this module sends and parses is tested against a stand-in child that answers from the
WUA fake; the PowerShell text itself has not run against a real Windows Update Agent here.
"""

import base64
import json
import subprocess
import tempfile
from typing import IO, Any, Callable, Dict, List, Optional, Sequence

from patchpilot.client.backends.wua_com import (
    ItemOutcome,
    Outcome,
    WuaAdapter,
    WuaError,
    WuaUpdate,
    set_execution_state,
)
from patchpilot.client.platforms.windows import powershell

__all__ = ["WUA_SCRIPT", "PowerShellAdapter", "powershell_command"]

E_FAIL = 0x80004005

WUA_SCRIPT = r"""
$ErrorActionPreference = 'Stop'
$utf8 = New-Object System.Text.UTF8Encoding($false)
[Console]::OutputEncoding = $utf8
[Console]::InputEncoding = $utf8
$session = New-Object -ComObject Microsoft.Update.Session
$session.ClientApplicationID = 'patchpilot'
$found = @{}
function Send-Reply($reply) {
  [Console]::Out.WriteLine(($reply | ConvertTo-Json -Compress -Depth 6))
  [Console]::Out.Flush()
}
function Get-HResult($record) {
  $e = $record.Exception
  while ($e -and -not $e.HResult) { $e = $e.InnerException }
  if ($e) { return [int64]$e.HResult } else { return [int64]-2147467259 }
}
function ConvertTo-Facts($u) {
  @{
    update_id = [string]$u.Identity.UpdateID; title = [string]$u.Title
    kb_ids = @($u.KBArticleIDs | ForEach-Object { [string]$_ })
    categories = @($u.Categories | ForEach-Object { ,@([string]$_.CategoryID, [string]$_.Name) })
    browse_only = [bool]$u.BrowseOnly; eula_accepted = [bool]$u.EulaAccepted
    is_downloaded = [bool]$u.IsDownloaded; size = [int64]$u.MaxDownloadSize
    reboot_behavior = [int]$u.InstallationBehavior.RebootBehavior; update_type = [int]$u.Type
    msrc_severity = [string]$u.MsrcSeverity; cve_ids = @($u.CveIDs | ForEach-Object { [string]$_ })
    released = ([datetime]$u.LastDeploymentChangeTime).ToString('yyyy-MM-dd')
    is_hidden = [bool]$u.IsHidden
  }
}
function Invoke-Work($worker, $ids, $method) {
  $updates = New-Object -ComObject Microsoft.Update.UpdateColl
  foreach ($id in $ids) { [void]$updates.Add($found[$id]) }
  $worker.Updates = $updates
  $script:stage = $method
  if ($method -eq 'Download') { $result = $worker.Download() } else { $result = $worker.Install() }
  $items = @{}
  for ($i = 0; $i -lt $ids.Count; $i++) {
    $r = $result.GetUpdateResult($i)
    $items[$ids[$i]] = @{ result_code = [int]$r.ResultCode; hresult = [int64]$r.HResult
                          reboot_required = [bool]$r.RebootRequired }
  }
  @{ ok = $true; result_code = [int]$result.ResultCode; hresult = [int64]$result.HResult
     reboot_required = [bool]$result.RebootRequired; items = $items }
}
while ($true) {
  $line = [Console]::In.ReadLine()
  if ($null -eq $line) { break }
  $script:stage = 'Request'
  try {
    $req = $line | ConvertFrom-Json
    switch ($req.op) {
      'search' {
        $script:stage = 'Search'
        $searcher = $session.CreateUpdateSearcher()
        $searcher.ServerSelection = [int]$req.server_selection
        if ($req.service_id) { $searcher.ServiceID = [string]$req.service_id }
        $result = $searcher.Search([string]$req.criteria)
        $found = @{}; $list = @()
        foreach ($u in $result.Updates) {
          $found[[string]$u.Identity.UpdateID] = $u; $list += ,(ConvertTo-Facts $u)
        }
        Send-Reply @{ ok = $true; updates = $list }
      }
      'accept_eula' {
        $script:stage = 'AcceptEula'; $found[[string]$req.update_id].AcceptEula()
        Send-Reply @{ ok = $true }
      }
      'download' {
        $script:stage = 'CreateUpdateDownloader'; $downloader = $session.CreateUpdateDownloader()
        Send-Reply (Invoke-Work $downloader @($req.update_ids) 'Download')
      }
      'install' {
        $script:stage = 'CreateUpdateInstaller'; $installer = $session.CreateUpdateInstaller()
        $installer.ForceQuiet = $true
        Send-Reply (Invoke-Work $installer @($req.update_ids) 'Install')
      }
      'reboot_required' {
        $info = New-Object -ComObject Microsoft.Update.SystemInfo
        Send-Reply @{ ok = $true; value = [bool]$info.RebootRequired }
      }
      default { Send-Reply @{ ok = $false; hresult = -2147024809; message = 'unknown request' } }
    }
  } catch {
    Send-Reply @{ ok = $false; hresult = (Get-HResult $_); operation = $script:stage
                  message = [string]$_.Exception.Message }
  }
}
"""


def powershell_command(script: str) -> List[str]:
    """Return the argv running script in Windows PowerShell (no profile, no prompts)."""
    encoded = base64.b64encode(script.encode("utf-16-le")).decode("ascii")
    return [powershell(), "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
            "-EncodedCommand", encoded]  # fmt: skip


class PowerShellAdapter(WuaAdapter):
    """Drive WUA through one long-lived PowerShell child speaking JSON lines."""

    def __init__(
        self,
        argv: Optional[Sequence[str]] = None,
        *,
        execution_state: Callable[[bool], None] = set_execution_state,
    ) -> None:
        self._argv = list(argv or powershell_command(WUA_SCRIPT))
        self._execution_state = execution_state
        self._errors: Optional[IO[bytes]] = None
        self._child: Optional["subprocess.Popen[bytes]"] = None

    def search(
        self, criteria: str, *, server_selection: int, service_id: Optional[str]
    ) -> List[WuaUpdate]:
        reply = self._ask(
            "Search",
            {"op": "search", "criteria": criteria, "server_selection": server_selection,
             "service_id": service_id},
        )  # fmt: skip
        return [_update(doc) for doc in reply.get("updates") or []]

    def accept_eula(self, update_id: str) -> None:
        self._ask("AcceptEula", {"op": "accept_eula", "update_id": update_id})

    def download(self, update_ids: Sequence[str]) -> Outcome:
        return _outcome(self._ask("Download", {"op": "download", "update_ids": list(update_ids)}))

    def install(self, update_ids: Sequence[str]) -> Outcome:
        return _outcome(self._ask("Install", {"op": "install", "update_ids": list(update_ids)}))

    def system_reboot_required(self) -> bool:
        return bool(self._ask("RebootRequired", {"op": "reboot_required"}).get("value"))

    def keep_awake(self, enabled: bool) -> None:
        self._execution_state(enabled)

    def close(self) -> None:
        """End the child (closing its stdin ends its loop) and wait for it."""
        child, self._child = self._child, None
        if child is not None:
            if child.stdin:
                child.stdin.close()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            if child.stdout:
                child.stdout.close()
        if self._errors is not None:
            self._errors.close()
            self._errors = None

    def _started(self) -> "subprocess.Popen[bytes]":
        """Return the child, starting it on first use."""
        if self._child is None:
            if self._errors is None:
                self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
            self._child = subprocess.Popen(
                self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors
            )
        return self._child

    def _ask(self, operation: str, request: Dict[str, Any]) -> Dict[str, Any]:
        try:
            child = self._started()
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(json.dumps(request).encode("utf-8") + b"\n")
            child.stdin.flush()
            line = child.stdout.readline()
        except OSError as exc:
            raise WuaError(operation, E_FAIL, "the PowerShell helper is gone: %s" % exc) from exc
        if not line:
            raise WuaError(operation, E_FAIL, "the PowerShell helper exited: " + self._stderr())
        try:
            reply = json.loads(line.decode("utf-8-sig"))
        except ValueError as exc:
            raise WuaError(operation, E_FAIL, "unreadable reply %r" % line[:200]) from exc
        if not isinstance(reply, dict):
            raise WuaError(operation, E_FAIL, "unreadable reply %r" % line[:200])
        if not reply.get("ok"):
            hresult = int(reply.get("hresult") or E_FAIL)
            where = str(reply.get("operation") or operation)
            raise WuaError(where, hresult, str(reply.get("message", "")))
        return reply

    def _stderr(self) -> str:
        if self._errors is None:
            return "no message"
        self._errors.seek(0)
        return self._errors.read()[-500:].decode("utf-8", "replace").strip() or "no message"


def _update(doc: Dict[str, Any]) -> WuaUpdate:
    return WuaUpdate(
        update_id=str(doc["update_id"]),
        title=str(doc.get("title", "")),
        kb_ids=tuple(str(kb) for kb in doc.get("kb_ids") or []),
        categories=tuple((str(c[0]).upper(), str(c[1])) for c in doc.get("categories") or []),
        browse_only=bool(doc.get("browse_only")),
        eula_accepted=bool(doc.get("eula_accepted", True)),
        is_downloaded=bool(doc.get("is_downloaded")),
        size=int(doc.get("size") or 0),
        reboot_behavior=int(doc.get("reboot_behavior") or 0),
        update_type=int(doc.get("update_type") or 1),
        msrc_severity=str(doc.get("msrc_severity") or ""),
        cve_ids=tuple(str(c) for c in doc.get("cve_ids") or []),
        released=str(doc.get("released") or "")[:10],
        is_hidden=bool(doc.get("is_hidden")),
    )


def _outcome(doc: Dict[str, Any]) -> Outcome:
    items = {
        str(uid): ItemOutcome(
            result_code=int(item["result_code"]),
            hresult=int(item.get("hresult") or 0) & 0xFFFFFFFF,
            reboot_required=bool(item.get("reboot_required")),
        )
        for uid, item in (doc.get("items") or {}).items()
    }
    return Outcome(
        result_code=int(doc["result_code"]),
        hresult=int(doc.get("hresult") or 0) & 0xFFFFFFFF,
        reboot_required=bool(doc.get("reboot_required")),
        items=items,
    )
