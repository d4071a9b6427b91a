"""Settings that weaken what patchpilot can promise, said out loud at the start of each run.

They stay allowed (a lab, a first migration), but a line in an inventory must not switch
them on silently: each becomes a warning in the job output and the result.
"""

from __future__ import annotations

from patchpilot.connector.targets.windows.options import WindowsOptions

__all__ = ["weakening_warnings"]


def weakening_warnings(options: WindowsOptions) -> list[str]:
    """Return a warning for each option that weakens the target's authentication."""
    found: list[str] = []
    if not options.winrm_cert_validation:
        found.append(
            "WinRM certificate validation is off (winrm_cert_validation false): the server is "
            "not authenticated, and whoever answers in its place gets the WinRM credentials"
        )
    if not options.winrm_tls:
        found.append(
            "WinRM without TLS (winrm_tls false): only the authentication protocol protects "
            "the session; basic authentication would send the password in the clear"
        )
    if options.winrm_auth == "credssp":
        found.append(
            "WinRM CredSSP hands the password itself to the server: anyone with admin rights "
            "there can reuse it elsewhere; patchpilot never needs delegation"
        )
    if options.winrm_auth == "basic":
        found.append("WinRM basic authentication sends the password to the server as is")
    return found
