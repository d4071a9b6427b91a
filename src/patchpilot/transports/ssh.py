"""The SSH transport (asyncssh): with ssh_config.py, the only module importing asyncssh.

Only this one maps asyncssh's exceptions to patchpilot's. Host keys are always verified:
asyncssh is always handed the known_hosts the connector resolved itself (so no ssh_config
form can leave it None, "trust every key"); an unknown or changed key is refused with its
SHA-256 fingerprint, and so is a configuration naming no known_hosts at all
(`UserKnownHostsFile none`). An OpenSSH client config file is honoured (Host aliases,
HostName, Port, User, IdentityFile, UserKnownHostsFile, CertificateFile, ProxyJump...),
except what would hand a target something of the connector's: the agent, X11, Kerberos
credentials and environment variables are never forwarded. Authentication is by key, agent
or certificate; passwords are never asked. A dropped connection is re-opened on the next
call, so callers retry by calling again. With `use_sudo` (a non-root user) every command
runs through `sudo -n`, checked once per connection: a refusal is named as such before any
command runs. `use_sudo=None` decides after login: sudo unless the user the connection
logged in as (from the target, or the config's `User`) is root.
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
    ConfigurationError,
    ConnectError,
    HostKeyError,
    TransportError,
    TransportTimeout,
)
from patchpilot.transports import quoting
from patchpilot.transports.base import CommandResult, Stream, Transport
from patchpilot.transports.limits import MAX_OUTPUT, all_or_none, read_capped
from patchpilot.transports.local import check_result
from patchpilot.transports.ssh_config import (
    NEVER_FORWARDED,
    Hop,
    jump_hosts,
    refuse_open_key,
    resolve,
    trusted_hosts,
)

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
    except asyncssh.ConfigParseError as exc:  # a line this asyncssh cannot read: nothing ran
        raise ConfigurationError(f"{where}: ssh_config: {exc}") from exc
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
            **NEVER_FORWARDED,
        }
        for key, value in (
            ("port", s.port),
            ("username", s.user),
            ("client_keys", [s.key_file] if s.key_file else None),
            ("config", [s.config_file] if s.config_file else None),
        ):
            if value is not None:
                options[key] = value
        return options

    async def connect(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            return
        s = self.settings
        if s.key_file:
            refuse_open_key(s.key_file)
        resolved = self._resolved()
        config = s.config_file or "~/.ssh/config"
        known_hosts = trusted_hosts(resolved, s.known_hosts, where=_where(s), config=config)
        jumps = await self._jumps(jump_hosts(resolved))
        try:
            conn = await self._open(known_hosts, jumps)
        except BaseException:
            if jumps is not None:
                jumps.close()
            raise
        conn.set_tunnel(jumps)  # closing the connection closes its jump hosts
        self._sudo = s.use_sudo is True or (
            s.use_sudo is None and conn.get_extra_info("username") != "root"
        )
        if self._sudo:
            await self._check_sudo(conn)
        self._conn = conn

    async def _open(
        self, known_hosts: str | list[str] | bytes, jumps: asyncssh.SSHClientConnection | None
    ) -> asyncssh.SSHClientConnection:
        """Connect to the target with the connector's known_hosts, through jumps if any."""
        try:
            with _mapped("connect", self.settings):
                return await asyncssh.connect(
                    self.settings.host,
                    **self._options(),
                    known_hosts=known_hosts,
                    tunnel=jumps,  # None: no ProxyJump of asyncssh's own making
                )
        except HostKeyError as exc:
            raise await self._host_key_refusal(exc) from exc.__cause__
        except TransportError as exc:  # unreachable: say what was tried, to fix the right thing
            exc.args = (f"{exc} ({tried(self.settings)})",)
            raise

    async def _jumps(self, hops: list[Hop]) -> asyncssh.SSHClientConnection | None:
        """Open the ProxyJump hosts in turn, each checked as the target is, forwarding nothing.

        asyncssh would open them itself from the config alone, `ForwardAgent yes` or
        `UserKnownHostsFile none` applying to them. A hop's own ProxyJump is not followed.
        """
        conn: asyncssh.SSHClientConnection | None = None
        try:
            for hop in hops:
                next_conn = await self._hop(hop, conn)
                next_conn.set_tunnel(conn)
                conn = next_conn
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return conn

    async def _hop(
        self, hop: Hop, tunnel: asyncssh.SSHClientConnection | None
    ) -> asyncssh.SSHClientConnection:
        """Connect to one jump host (through tunnel) with the connector's known_hosts."""
        s, where = self.settings, f"ProxyJump host {hop.host}"
        given = {"port": hop.port, "username": hop.user}
        options = {
            "config": [s.config_file] if s.config_file else (),
            **{k: v for k, v in given.items() if v is not None},
        }
        named = s.config_file or "~/.ssh/config"
        known_hosts = trusted_hosts(resolve(hop.host, **options), None, where=where, config=named)
        with _mapped(f"connect to {where}", s):
            try:
                return await asyncssh.connect(
                    hop.host,
                    **options,
                    **NEVER_FORWARDED,
                    known_hosts=known_hosts,
                    tunnel=tunnel,
                    connect_timeout=s.connect_timeout,
                )
            except asyncssh.HostKeyNotVerifiable as exc:
                raise HostKeyError(f"{where}: host key not verifiable: {exc.reason}") from exc

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

    def _resolved(self) -> asyncssh.SSHClientConnectionOptions | None:
        """Return what asyncssh derives from the settings and ssh_config; None if unreadable."""
        s = self.settings
        return resolve(
            s.host,
            config=[s.config_file] if s.config_file else (),
            port=s.port if s.port is not None else (),
            username=s.user if s.user is not None else (),
        )

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
