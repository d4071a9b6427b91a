"""The run options (validated with pydantic) and the include/exclude list files.

One `RunOptions` describes one run on one target; the CLI builds it from its options, the
fleet from its job. It is frozen: a resumed run reuses the options it started with.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from patchpilot.client.backends.wua import CLASSIFICATIONS as WUA_CLASSIFICATIONS
from patchpilot.client.backends.wua import normalize_kb
from patchpilot.errors import ConfigurationError

__all__ = ["RUN_ID_RE", "RunOptions", "parse_list", "read_list_file"]

RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KB_LISTS = ("include", "exclude")
_ENTRY_RE = re.compile(r"^[A-Za-z0-9.+_:*?\[\]!-]{1,200}$")


class RunOptions(BaseModel):
    """Everything that shapes a run besides the target; defaults match the CLI's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str | None = Field(default=None, pattern=RUN_ID_RE.pattern)
    check_only: bool = False
    download_only: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    security_only: bool = False
    reboot: Literal["never", "if-required", "always"] = "if-required"
    reboot_timeout: float = Field(default=600, gt=0)
    max_rounds: int = Field(default=5, ge=1, le=99)
    client_path: str | None = None
    launcher: Literal["auto", "systemd-run", "at", "schtasks"] = "auto"
    start_delay: float = Field(default=0, ge=0)
    exit_codes: Literal["native", "wsus"] = "native"
    timeout: float | None = Field(default=None, gt=0)
    ssh_config: str | None = None
    known_hosts: str | None = None
    identity_file: str | None = None
    launch_timeout: float = Field(default=120, gt=0)
    round_timeout: float = Field(default=4 * 3600, gt=0)
    readiness_timeout: float = Field(default=300, gt=0)
    stability_window: float = Field(default=5, ge=0)
    ack_timeout: int = Field(default=300, gt=0)
    lock_timeout: int = Field(default=600, gt=0)
    plan: dict[str, str] | None = None  # a frozen plan chosen elsewhere (the fleet's plan host)
    os: Literal["linux", "windows"] = "linux"
    transport: Literal["ssh", "psrp"] | None = None  # None: the target's (ssh)
    python: str | None = None  # Windows: the python.exe the task runs
    winrm_port: int | None = Field(default=None, gt=0, lt=65536)
    smb_port: int = Field(default=445, gt=0, lt=65536)  # reaching a UNC --client-path
    winrm_auth: Literal["negotiate", "kerberos", "ntlm", "credssp", "certificate", "basic"] = (
        "negotiate"
    )
    winrm_tls: bool = True
    winrm_cert_validation: bool = True
    windows_service: Literal["default", "managed", "windows-update", "microsoft-update"] = "default"
    windows_drivers: bool = False
    windows_optional: bool = False
    windows_classifications: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _windows_kbs(cls, data: Any) -> Any:
        """On Windows, list entries are KB numbers or globs: "5031356" and "kb50*" become
        "KB5031356" and "KB50*", so that the client's id lists and WUA's KB lists agree."""
        if not isinstance(data, dict) or data.get("os") != "windows":
            return data
        lists = {k: tuple(normalize_kb(str(v)) for v in data.get(k) or ()) for k in _KB_LISTS}
        return {**data, **lists}

    @model_validator(mode="after")
    def _one_mode(self) -> RunOptions:
        if self.check_only and self.download_only:
            raise ValueError("--check-only and --download-only exclude each other")
        windows_only = self.launcher == "schtasks" or self.transport == "psrp"
        if self.os == "linux" and windows_only:
            raise ValueError("schtasks and psrp are for --os windows")
        if self.os == "windows" and self.launcher in ("systemd-run", "at"):
            raise ValueError(f"--launcher {self.launcher} is not a Windows scheduler")
        unknown = [c for c in self.windows_classifications if c not in WUA_CLASSIFICATIONS]
        if unknown:
            names = ", ".join(WUA_CLASSIFICATIONS)
            raise ValueError(f"unknown Windows classification {unknown[0]!r} (one of {names})")
        return self

    def windows_search(self) -> dict[str, object]:
        """Return the job spec's `windows` object (WUA search options)."""
        return {
            "service": self.windows_service,
            "drivers": self.windows_drivers,
            "optional": self.windows_optional,
            "classifications": list(self.windows_classifications),
        }

    @property
    def action(self) -> Literal["scan", "download", "install"]:
        """The client's job action for this run."""
        if self.check_only:
            return "scan"
        return "download" if self.download_only else "install"

    @property
    def mode(self) -> str:
        """The run's mode as reports name it."""
        return {"scan": "check-only", "download": "download-only"}.get(self.action, "install")


def parse_list(text: str, *, source: str = "list") -> tuple[str, ...]:
    """Parse an Include/Exclude list: one name or glob a line, `#` comments, blanks ignored.

    Raise ConfigurationError naming source:line for an entry that is not a package name,
    KB number or glob.
    """
    entries: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        if not _ENTRY_RE.match(entry):
            raise ConfigurationError(
                f"{source}:{number}: {entry[:60]!r} is not an update name, KB number or glob"
            )
        entries.append(entry)
    return tuple(entries)


def read_list_file(path: str) -> tuple[str, ...]:
    """Read and parse a list file; raise ConfigurationError when unreadable or malformed."""
    try:
        data = Path(path).read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read list file {path}: {exc}") from exc
    if "\0" in text:
        raise ConfigurationError(f"{path}: binary data, not a list of updates")
    return parse_list(text, source=path)
