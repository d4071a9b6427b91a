"""The SSH transport (asyncssh): the only module that imports asyncssh or sees its exceptions.

Host keys are verified against known_hosts by default; an unknown or changed key is refused
with its SHA-256 fingerprint, and so is a configuration naming no known_hosts at all
(`UserKnownHostsFile none`, which asyncssh would take as "trust every key"). An OpenSSH
client config file is honoured (Host aliases, HostName, Port, User, IdentityFile,
UserKnownHostsFile, CertificateFile...). Authentication is by key, agent or certificate;
passwords are never asked. A dropped connection is
re-opened on the next call, so callers retry by calling again. With `use_sudo` (a non-root
user) every command runs through `sudo -n`, checked once per connection: a refusal is named
as such before any command runs. `use_sudo=None` decides after login: sudo unless the user
the connection logged in as (from the target, or the config's `User`) is root.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import asyncssh

from patchpilot.errors import (
    AuthenticationError,
    ConnectError,
    HostKeyError,
    TransportError,
    TransportTimeout,
)
from patchpilot.transports import quoting
from patchpilot.transports.base import CommandResult, Stream, Transport
from patchpilot.transports.limits import MAX_OUTPUT, all_or_none, read_capped
from patchpilot.transports.local import check_result

__all__ = ["SSHSettings", "SSHTransport"]


@dataclass(frozen=True)
class SSHSettings:
    """Where and how to connect; None leaves the choice to the OpenSSH config and defaults."""

    host: str
    port: int | None = None
    user: str | None = None
    config_file: str | None = None
    known_hosts: str | None = None
    key_file: str | None = None
    connect_timeout: float = 15.0
    keepalive_interval: float = 5.0
    keepalive_count_max: int = 3
    use_sudo: bool | None = False  # None: sudo unless the login user is root
    max_output: int = MAX_OUTPUT  # bytes of stdout (and of stderr) a command may return


def _where(settings: SSHSettings) -> str:
    """Return `host[:port]` as the settings name the target, for messages."""
    return f"{settings.host}" + (f":{settings.port}" if settings.port else "")


def tried(settings: SSHSettings) -> str:
    """Return what a connection attempt used: address, port, user, key (and config file)."""
    config = "the ssh config's or " if settings.config_file else ""
    parts = [
        f"tried address {settings.host}",
        f"port {settings.port or config + '22'}",
        f"user {settings.user or config + 'the local user'}",
        f"key {settings.key_file or config + 'the agent and ~/.ssh defaults'}",
    ]
    if settings.config_file:
        parts.append(f"config {settings.config_file}")
    return ", ".join(parts)


@contextmanager
def _mapped(what: str, settings: SSHSettings) -> Iterator[None]:
    """Translate asyncssh's and the socket layer's exceptions into patchpilot's."""
    where = _where(settings)
    try:
        yield
    except asyncssh.PermissionDenied as exc:
        raise AuthenticationError(f"{where}: authentication refused ({exc.reason})") from exc
    except asyncssh.HostKeyNotVerifiable as exc:
        raise HostKeyError(f"{where}: host key not verifiable: {exc.reason}") from exc
    except (asyncssh.ConnectionLost, asyncssh.DisconnectError) as exc:
        raise ConnectError(f"{where}: connection lost during {what}: {exc.reason}") from exc
    except asyncssh.ChannelOpenError as exc:
        raise ConnectError(f"{where}: {what} refused: {exc.reason}") from exc
    except asyncssh.Error as exc:  # any other protocol-level failure
        raise TransportError(f"{where}: {what} failed: {exc}") from exc
    except TimeoutError as exc:
        raise TransportTimeout(f"{where}: {what} timed out") from exc
    except OSError as exc:
        raise ConnectError(f"{where}: cannot connect: {exc.strerror or exc}") from exc


class SSHStream(Stream):
    """A stream to a remote process's stdin/stdout over one SSH channel."""

    def __init__(self, process: asyncssh.SSHClientProcess[bytes], settings: SSHSettings) -> None:
        self._process = process
        self._settings = settings

    async def read(self, n: int = 65536) -> bytes:
        with _mapped("stream read", self._settings):
            return await self._process.stdout.read(n)

    async def write(self, data: bytes) -> None:
        with _mapped("stream write", self._settings):
            self._process.stdin.write(data)
            await self._process.stdin.drain()

    async def close(self) -> None:
        self._process.close()
        with suppress(TimeoutError, asyncssh.Error, OSError):
            await asyncio.wait_for(self._process.wait_closed(), 5)


class SSHTransport(Transport):
    """One SSH connection to one target, re-opened on demand after a drop."""

    name = "ssh"

    def __init__(self, settings: SSHSettings) -> None:
        self.settings = settings
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sudo = bool(settings.use_sudo)

    def _options(self) -> dict[str, Any]:
        s = self.settings
        options: dict[str, Any] = {
            "connect_timeout": s.connect_timeout,
            "keepalive_interval": s.keepalive_interval,
            "keepalive_count_max": s.keepalive_count_max,
            "password_auth": False,
            "kbdint_auth": False,
        }
        for key, value in (
            ("port", s.port),
            ("username", s.user),
            ("known_hosts", s.known_hosts),
            ("client_keys", [s.key_file] if s.key_file else None),
            ("config", [s.config_file] if s.config_file else None),
        ):
            if value is not None:
                options[key] = value
        return options

    async def connect(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            return
        self._refuse_unchecked_host_keys()
        try:
            with _mapped("connect", self.settings):
                conn = await asyncssh.connect(self.settings.host, **self._options())
        except HostKeyError as exc:
            raise await self._host_key_refusal(exc) from exc.__cause__
        except TransportError as exc:  # unreachable: say what was tried, to fix the right thing
            exc.args = (f"{exc} ({tried(self.settings)})",)
            raise
        self._sudo = self.settings.use_sudo is True or (
            self.settings.use_sudo is None and conn.get_extra_info("username") != "root"
        )
        if self._sudo:
            await self._check_sudo(conn)
        self._conn = conn

    async def _check_sudo(self, conn: asyncssh.SSHClientConnection) -> None:
        """Make sure sudo runs commands as root without a password, before anything else runs.

        Raise AuthenticationError (and close conn) when sudo refuses: a user without sudo
        rights, one that needs a password, a missing sudo. Every later command would fail.
        ConnectError when the check ended without an exit status (the server going down).
        """
        probe = quoting.join(quoting.sudo_wrap(["true"]))
        try:
            with _mapped("sudo check", self.settings):
                done = await asyncio.wait_for(
                    conn.run(probe, encoding=None, check=False), self.settings.connect_timeout
                )
        except BaseException:  # a timeout, a lost connection, a cancelled run
            conn.close()
            raise
        if _exit_status(done) == 0:
            return
        conn.close()
        if (ended := _exit_signal(done)) is not None:  # no answer from sudo: e.g. a shutdown
            raise ConnectError(f"{_where(self.settings)}: sudo check cut short: {ended}")
        user = self.settings.user or conn.get_extra_info("username") or "this user"
        said = _text(done.stderr).strip().splitlines()[-1:] or [f"exit status {_exit_status(done)}"]
        raise AuthenticationError(
            f"{_where(self.settings)}: sudo refused: `{probe}` as {user} says: {said[0]}; "
            f"a non-root user needs sudo without a password (NOPASSWD) to run as root"
        )

    async def _host_key_refusal(self, exc: HostKeyError) -> HostKeyError:
        """Return a refusal naming the key the server offers, so an operator can check it."""
        fingerprint = None
        options = {k: v for k, v in self._options().items() if k in ("port", "config")}
        try:
            key = await asyncio.wait_for(
                asyncssh.get_server_host_key(self.settings.host, **options), 10
            )
            fingerprint = key.get_fingerprint("sha256") if key else None
        except (asyncssh.Error, OSError, TimeoutError):
            pass
        host, port, files = self._checked_name()
        name = host if port == 22 else f"[{host}]:{port}"
        what = "a CHANGED host key" if _lists_key(files, host, port) else "an unknown host key"
        return HostKeyError(
            f"{exc}; refusing to connect: {what}: the server offers "
            f"{fingerprint or 'an unreadable key'}, which {' '.join(files)} does not trust "
            f"for {name}",
            fingerprint=fingerprint,
        )

    def _refuse_unchecked_host_keys(self) -> None:
        """Refuse settings under which asyncssh would not check the host key at all.

        asyncssh reads `UserKnownHostsFile none` (from the given ssh_config, or ~/.ssh/config
        by default) as "trust any key", where OpenSSH refuses every host. patchpilot promises
        an unknown key is refused, so no known-hosts source is a refusal (HostKeyError).
        """
        s, where = self.settings, _where(self.settings)
        if s.known_hosts is not None:
            if s.known_hosts.strip().lower() == "none":
                raise HostKeyError(
                    f"{where}: known_hosts 'none' (UserKnownHostsFile none) would check no host "
                    "key; refusing to connect: name a known_hosts file"
                )
            return
        resolved = self._resolved()
        if resolved is not None and resolved.known_hosts is None:
            config = s.config_file or "~/.ssh/config"
            raise HostKeyError(
                f"{where}: {config} sets `UserKnownHostsFile none` for this host, so no host key "
                "would be checked; refusing to connect: name a known_hosts file there "
                "(UserKnownHostsFile FILE) or with --known-hosts"
            )

    def _resolved(self) -> asyncssh.SSHClientConnectionOptions | None:
        """Return what asyncssh derives from the settings and ssh_config; None if unreadable."""
        options = {k: v for k, v in self._options().items() if k in ("port", "config")}
        options.setdefault("config", ())  # () reads ~/.ssh/config, as asyncssh.connect does
        try:
            return asyncssh.SSHClientConnectionOptions(host=self.settings.host, **options)
        except (asyncssh.Error, OSError, ValueError):
            return None

    def _checked_name(self) -> tuple[str, int, list[str]]:
        """Return the host and port asyncssh looks up in known_hosts, and the files it reads.

        As OpenSSH does, the lookup uses the ssh_config's HostKeyAlias, else its HostName (not
        the alias given as target), and the port the settings or the config give.
        """
        s = self.settings
        resolved = self._resolved()
        if resolved is not None:
            host = resolved.host_key_alias or resolved.host
            port, configured = resolved.port, resolved.known_hosts
        else:
            host, port, configured = s.host, s.port or 22, None
        if s.known_hosts:
            files = [s.known_hosts]
        elif isinstance(configured, list | tuple) and configured:
            files = [str(f) for f in configured]
        else:
            files = ["~/.ssh/known_hosts"]
        return host, port, files

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            with suppress(TimeoutError, asyncssh.Error, OSError):
                await asyncio.wait_for(self._conn.wait_closed(), 5)
            self._conn = None

    async def _connection(self) -> asyncssh.SSHClientConnection:
        await self.connect()
        assert self._conn is not None
        return self._conn

    def _command(self, argv: Sequence[str]) -> str:
        return quoting.join(quoting.sudo_wrap(argv) if self._sudo else argv)

    async def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float = 60.0,
        check: bool = False,
    ) -> CommandResult:
        started = time.monotonic()
        conn = await self._connection()
        try:
            with _mapped(f"running {argv[0]}", self.settings):
                process = await conn.create_process(self._command(argv), encoding=None)
                try:
                    out, err, completed = await asyncio.wait_for(
                        self._bounded(process, argv, input), timeout
                    )
                finally:
                    process.close()  # a no-op once it exited; else stops an overflow or timeout
        except TransportError:
            self._forget_if_closed()
            raise
        result = CommandResult(
            tuple(argv),
            _exit_status(completed),
            _text(out),
            _text(err),
            time.monotonic() - started,
            _exit_signal(completed),
        )
        return check_result(result) if check else result

    async def _bounded(
        self, process: asyncssh.SSHClientProcess[bytes], argv: Sequence[str], input: bytes | None
    ) -> tuple[bytes, bytes, asyncssh.SSHCompletedProcess]:
        """Feed input, read stdout and stderr up to the bound each, and wait for the exit."""
        if input:
            process.stdin.write(input)
        process.stdin.write_eof()
        limit = self.settings.max_output
        out, err = await all_or_none(
            read_capped(process.stdout.read, limit, argv, "output"),
            read_capped(process.stderr.read, limit, argv, "error output"),
        )
        return out, err, await process.wait(check=False)

    def _forget_if_closed(self) -> None:
        if self._conn is not None and self._conn.is_closed():
            self._conn = None

    async def put(self, data: bytes, path: str, *, mode: int = 0o600) -> None:
        await self.run(quoting.atomic_write_script(path, mode), input=data, check=True)

    async def open_stream(self, argv: Sequence[str]) -> Stream:
        conn = await self._connection()
        try:
            with _mapped(f"starting {argv[0]}", self.settings):
                process = await conn.create_process(self._command(argv), encoding=None)
        except TransportError:
            self._forget_if_closed()
            raise
        return SSHStream(process, self.settings)


def _lists_key(files: Sequence[str], host: str, port: int) -> bool:
    """Tell whether known_hosts files list some key for host (then the key changed)."""
    for file in files:
        try:
            listed = asyncssh.read_known_hosts(os.path.expanduser(file))
            if listed.match(host, "", port if port != 22 else None)[0]:
                return True
        except (asyncssh.Error, OSError, ValueError):
            continue
    return False


def _exit_status(completed: asyncssh.SSHCompletedProcess) -> int:
    if completed.exit_status is not None and completed.exit_status >= 0:
        return completed.exit_status
    return 255  # killed by a signal or the channel closed without a status (as ssh(1) does)


def _exit_signal(completed: asyncssh.SSHCompletedProcess) -> str | None:
    """Return the signal that ended the command, or why there is no exit status at all."""
    if completed.exit_status is not None and completed.exit_status >= 0:
        return None
    if completed.exit_signal:
        name, core_dumped, message = completed.exit_signal[:3]
        core = ", core dumped" if core_dumped else ""
        return f"killed by SIG{name}{core}" + (f": {message}" if message else "")
    return "no exit status: the channel closed without one"


def _text(data: object) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return str(data or "")
