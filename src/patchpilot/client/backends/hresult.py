"""HRESULTs and WUA result codes in words, for journal records and reports.

Standard library only, Python 3.9+. The table holds the codes operators meet when patching
Windows servers (from the WUA success and error code reference and the Win32 error list);
anything else is shown as its hex value with the facility it belongs to.
"""

from typing import Dict, Optional, Tuple

__all__ = [
    "RESULT_CODE_NAMES",
    "describe_hresult",
    "format_hresult",
    "parse_hresult",
    "result_code_name",
]

# OperationResultCode (orc*) values of IDownloadResult / IInstallationResult / ISearchResult.
RESULT_CODE_NAMES: Dict[int, str] = {
    0: "NotStarted",
    1: "InProgress",
    2: "Succeeded",
    3: "SucceededWithErrors",
    4: "Failed",
    5: "Aborted",
}

_HRESULTS: Dict[int, Tuple[str, str]] = {
    0x00000000: ("S_OK", "success"),
    0x00240005: ("WU_S_REBOOT_REQUIRED", "success; the system must restart to finish"),
    0x00240006: ("WU_S_ALREADY_INSTALLED", "the update is already installed"),
    0x80070005: (
        "E_ACCESSDENIED",
        "access denied (a remote logon token cannot download or install: run locally as SYSTEM)",
    ),
    0x8007045B: ("ERROR_SHUTDOWN_IN_PROGRESS", "a system shutdown is already in progress"),
    0x80070643: ("ERROR_INSTALL_FAILURE", "fatal error during installation"),
    0x80070BC9: (
        "ERROR_FAIL_REBOOT_REQUIRED",
        "a previous installation needs a restart before this one can run",
    ),
    0x80072EE2: ("ERROR_INTERNET_TIMEOUT", "the connection to the update server timed out"),
    0x80072EE7: ("ERROR_INTERNET_NAME_NOT_RESOLVED", "the update server name was not resolved"),
    0x80072EFD: ("ERROR_INTERNET_CANNOT_CONNECT", "could not connect to the update server"),
    0x80240016: (
        "WU_E_INSTALL_NOT_ALLOWED",
        "installation is not allowed now (another install or a pending restart)",
    ),
    0x80240017: ("WU_E_NOT_APPLICABLE", "the update does not apply to this computer"),
    0x80240020: ("WU_E_NO_INTERACTIVE_USER", "the operation needs an interactive user"),
    0x80240022: ("WU_E_ALL_UPDATES_FAILED", "the operation failed for every update"),
    0x80240023: ("WU_E_EULAS_DECLINED", "the license terms of the updates were not accepted"),
    0x80240024: ("WU_E_NO_UPDATE", "there are no updates to act on"),
    0x8024002C: ("WU_E_SOURCE_ABSENT", "the installation source of the update is absent"),
    0x80240044: (
        "WU_E_PER_MACHINE_UPDATE_ACCESS_DENIED",
        "only administrators may install per-machine updates",
    ),
    0x8024001E: ("WU_E_SERVICE_STOP", "the Windows Update service stopped during the operation"),
    0x8024402C: (
        "WU_E_PT_WINHTTP_NAME_NOT_RESOLVED",
        "the proxy or update server name could not be resolved",
    ),
    0x8024401C: ("WU_E_PT_HTTP_STATUS_REQUEST_TIMEOUT", "the update server timed out (HTTP 408)"),
    0x80244022: ("WU_E_PT_HTTP_STATUS_SERVICE_UNAVAIL", "the update server is unavailable (503)"),
    0x80246007: ("WU_E_DM_NOTDOWNLOADED", "the update has not been downloaded"),
    0x80246008: (
        "WU_E_DM_FAILTOCONNECTTOBITS",
        "the Background Intelligent Transfer Service failed",
    ),
}

_FACILITIES: Dict[int, str] = {7: "Win32", 36: "Windows Update"}


def format_hresult(value: int) -> str:
    """Return the HRESULT as 0x-prefixed, 8 upper-case hex digits (negative ints wrap)."""
    return "0x%08X" % (value & 0xFFFFFFFF)


def parse_hresult(text: object) -> Optional[int]:
    """Return an HRESULT from an int or a "0x..." / decimal string; None if absent."""
    if text is None or text == "":
        return None
    if isinstance(text, bool):
        raise ValueError("an HRESULT is not a boolean")
    if isinstance(text, int):
        return text & 0xFFFFFFFF
    if isinstance(text, str):
        return int(text, 0) & 0xFFFFFFFF
    raise ValueError("not an HRESULT: %r" % (text,))


def describe_hresult(value: int) -> str:
    """Return "0x80070005 E_ACCESSDENIED: access denied ..." or the facility for unknown codes."""
    code = value & 0xFFFFFFFF
    known = _HRESULTS.get(code)
    if known is not None:
        return "%s %s: %s" % (format_hresult(code), known[0], known[1])
    facility = _FACILITIES.get((code >> 16) & 0x1FFF, "facility %d" % ((code >> 16) & 0x1FFF))
    kind = "error" if code & 0x80000000 else "success"
    return "%s: %s code of %s" % (format_hresult(code), kind, facility)


def result_code_name(value: int) -> str:
    """Return the OperationResultCode name (Succeeded, Failed, ...) or "Unknown(n)"."""
    return RESULT_CODE_NAMES.get(value, "Unknown(%d)" % value)
