"""The options only a Windows target has: how WinRM and the share are reached, what WUA searches.

They sit on `RunOptions.windows` but are spelled flat everywhere a user writes them
(`--winrm-port`, `patchpilot_winrm_port`), as the Windows target declares them here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from patchpilot.protocol.windows import CLASSIFICATIONS

__all__ = ["WindowsOptions"]

_WINDOWS: dict[str, JsonValue] = {"group": "Windows"}


class WindowsOptions(BaseModel):
    """WinRM, share and Windows Update Agent settings of a run (`--os windows`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    winrm_port: int | None = Field(
        default=None,
        gt=0,
        lt=65536,
        description="WinRM port (5986; 5985 without TLS).",
        json_schema_extra=_WINDOWS,
    )
    smb_port: int = Field(
        default=445,
        gt=0,
        lt=65536,
        description="SMB port of the UNC --client-path's server.",
        json_schema_extra=_WINDOWS,
    )
    winrm_auth: Literal["negotiate", "kerberos", "ntlm", "credssp", "certificate", "basic"] = Field(
        default="negotiate",
        description="WinRM authentication (password: $PATCHPILOT_WINRM_PASSWORD).",
        json_schema_extra=_WINDOWS,
    )
    winrm_tls: bool = Field(
        default=True, description="WinRM over HTTPS.", json_schema_extra=_WINDOWS
    )
    winrm_cert_validation: bool = Field(
        default=True,
        description="Check the WinRM server's certificate.",
        json_schema_extra=_WINDOWS,
    )
    windows_service: Literal["default", "managed", "windows-update", "microsoft-update"] = Field(
        default="default",
        description="Windows: where updates come from (default: the configured WSUS server).",
        json_schema_extra=_WINDOWS,
    )
    windows_drivers: bool = Field(
        default=False, description="Windows: include driver updates.", json_schema_extra=_WINDOWS
    )
    windows_optional: bool = Field(
        default=False,
        description="Windows: include optional (browse-only) updates.",
        json_schema_extra=_WINDOWS,
    )
    windows_classifications: tuple[str, ...] = Field(
        default=(),
        description="Windows: classification names, e.g. 'Security Updates' (repeat).",
        json_schema_extra=_WINDOWS,
    )

    @field_validator("windows_classifications")
    @classmethod
    def _known_classifications(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in names if c not in CLASSIFICATIONS]
        if unknown:
            known = ", ".join(CLASSIFICATIONS)
            raise ValueError(f"unknown Windows classification {unknown[0]!r} (one of {known})")
        return names

    def search(self) -> dict[str, object]:
        """Return the job spec's `windows` object (WUA search options)."""
        return {
            "service": self.windows_service,
            "drivers": self.windows_drivers,
            "optional": self.windows_optional,
            "classifications": list(self.windows_classifications),
        }
