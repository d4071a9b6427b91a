"""How the SSH transport reads an OpenSSH client config, and what it never takes from one.

asyncssh reads the config itself inside `connect()`. The transport reads it the same way
beforehand (`resolve`: with the user, for `Match user`, and again after `Match final`) only to
choose what it then hands `connect()` explicitly, so that no config can weaken a connection:
known_hosts is always given (`trusted_hosts`: never None, which asyncssh takes as "trust any
key"), ProxyJump hosts are listed here (`jump_hosts`) and opened by the transport under the
same rules, and nothing of the connector's is forwarded (`NEVER_FORWARDED`). A private key
file others could read is refused (`refuse_open_key`), as ssh(1) does. asyncssh's exceptions
stay with ssh.py, which maps them; this module raises patchpilot's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import asyncssh

from patchpilot.errors import ConfigurationError, HostKeyError

__all__ = ["NEVER_FORWARDED", "Hop", "jump_hosts", "refuse_open_key", "resolve", "trusted_hosts"]

NEVER_FORWARDED: dict[str, Any] = {
    # Nothing of the connector's reaches a target, whatever an ssh_config says: no agent
    # (ForwardAgent: a hostile target would log into every other target with it), no X11
    # display, no Kerberos credentials, no local environment variable (SendEnv: PGPASSWORD).
    "agent_forwarding": False,
    "x11_forwarding": False,
    "gss_delegate_creds": False,
    "send_env": None,
    "password_auth": False,
    "kbdint_auth": False,
}


def resolve(host: str, **options: Any) -> asyncssh.SSHClientConnectionOptions | None:
    """Return asyncssh's reading of the ssh_config for host, as its connect() ends with it.

    options are those of connect (config, port, username; () for "not given"): the user
    decides `Match user`, and a config with `Match final` is read again as connect does
    (asyncssh >= 2.19). None when the config cannot be read (connect then says why).
    """
    try:
        resolved = asyncssh.SSHClientConnectionOptions(host=host, **options)
        has_final = getattr(resolved.config, "has_match_final", None)
        if has_final is not None and has_final():
            resolved.update(host=host, reload=True, final=True)
    except (asyncssh.Error, OSError, ValueError):
        return None
    return resolved


def trusted_hosts(
    resolved: asyncssh.SSHClientConnectionOptions | None,
    given: str | None,
    *,
    where: str,
    config: str,
) -> str | list[str] | bytes:
    """Return the known_hosts to hand asyncssh: never None, so a host key is always checked.

    The given file; else the config's files (missing ones skipped, as OpenSSH does), else
    ~/.ssh/known_hosts; when none of them exists, b"" (no key trusted). HostKeyError when the
    given file or the config (named `config` in the message) says `none`.
    """
    if given is not None:
        if given.strip().lower() == "none":
            raise HostKeyError(
                f"{where}: known_hosts 'none' (UserKnownHostsFile none) would check no host "
                "key; refusing to connect: name a known_hosts file"
            )
        return given
    configured = resolved.known_hosts if resolved is not None else ()
    if configured is None:
        raise HostKeyError(
            f"{where}: {config} sets `UserKnownHostsFile none` for this host, so no host key "
            "would be checked; refusing to connect: name a known_hosts file there "
            "(UserKnownHostsFile FILE) or with --known-hosts"
        )
    listed = configured if isinstance(configured, list | tuple) and configured else []
    files = [os.path.expanduser(str(f)) for f in listed or ["~/.ssh/known_hosts"]]
    readable = [f for f in files if os.path.isfile(f) and os.access(f, os.R_OK)]
    return readable or b""


@dataclass(frozen=True)
class Hop:
    """One ProxyJump host: `[user@]host[:port]`; None leaves it to the config."""

    host: str
    port: int | None = None
    user: str | None = None


def jump_hosts(resolved: asyncssh.SSHClientConnectionOptions | None) -> list[Hop]:
    """Return the config's ProxyJump hosts in the order they are opened (none: [])."""
    spec = resolved.tunnel if resolved is not None else None
    if not isinstance(spec, str) or spec.strip().lower() in ("", "none"):
        return []
    hops = []
    for item in spec.split(","):
        user, _, address = item.strip().rpartition("@")
        host, colon, port = address.rpartition(":")
        if not (colon and port.isdigit() and "]" not in port):
            host, port = address, ""
        hops.append(Hop(host.strip("[]"), int(port) if port else None, user or None))
    return hops


def refuse_open_key(path: str) -> None:
    """Refuse a private key file others may read or write, as ssh(1) does (ConfigurationError).

    A missing or unreadable file is left to asyncssh, which names it.
    """
    try:
        mode = os.stat(os.path.expanduser(path)).st_mode & 0o777
    except OSError:
        return
    if mode & 0o077:
        raise ConfigurationError(
            f"{path}: not private (mode {mode:04o}): others could use this private key; "
            "chmod 600 it"
        )
