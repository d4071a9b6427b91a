"""The SSH transport against an in-process asyncssh server on 127.0.0.1 (no network)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from patchpilot.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectError,
    HostKeyError,
    OutputLimitError,
)
from patchpilot.transports.ssh import SSHSettings, SSHTransport, _exit_signal, _exit_status


async def _shell(process: asyncssh.SSHServerProcess[bytes]) -> None:
    """Run the command with sh, pumping the channel to and from it by hand."""
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    if agent := process.channel.get_agent_path():  # as sshd: a forwarded agent is announced
        env["SSH_AUTH_SOCK"] = agent
    child = await asyncio.create_subprocess_shell(
        process.command or "true",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert child.stdin and child.stdout and child.stderr

    async def feed() -> None:
        assert child.stdin
        while data := await process.stdin.read(65536):
            child.stdin.write(data)
            await child.stdin.drain()
        child.stdin.close()

    async def drain(source: asyncio.StreamReader, sink: asyncssh.SSHWriter[bytes]) -> None:
        is_open = True  # till the client closes the channel (as sshd sees it): then stop
        while data := await source.read(65536):
            if is_open:
                try:
                    sink.write(data)
                    await sink.drain()
                except (BrokenPipeError, asyncssh.Error):
                    is_open = False
                    with contextlib.suppress(ProcessLookupError):
                        child.kill()

    feeder = asyncio.ensure_future(feed())
    await asyncio.gather(drain(child.stdout, process.stdout), drain(child.stderr, process.stderr))
    status = await child.wait()
    feeder.cancel()
    with contextlib.suppress(BrokenPipeError, asyncssh.Error):
        process.exit(status)


class _JumpHost(asyncssh.SSHServer):
    """An SSH server that also forwards TCP connections, as a ProxyJump host does."""

    def connection_requested(self, dest_host: str, dest_port: int, *_: object) -> bool:
        return True


@dataclass
class Server:
    port: int
    host_key: asyncssh.SSHKey
    client_key: Path
    known_hosts: Path
    tmp: Path

    def settings(self, **extra: object) -> SSHSettings:
        base: dict[str, object] = {
            "host": "127.0.0.1",
            "port": self.port,
            "user": "tester",
            "key_file": str(self.client_key),
            "known_hosts": str(self.known_hosts),
        }
        return SSHSettings(**{**base, **extra})  # type: ignore[arg-type]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    (tmp_path / "id").write_bytes(client_key.export_private_key())
    (tmp_path / "id").chmod(0o600)
    (tmp_path / "authorized").write_bytes(client_key.export_public_key())
    acceptor = await asyncssh.create_server(
        _JumpHost,
        "127.0.0.1",
        0,
        server_host_keys=[host_key],
        authorized_client_keys=str(tmp_path / "authorized"),
        process_factory=_shell,
        encoding=None,
    )
    port = acceptor.sockets[0].getsockname()[1]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_key.export_public_key().decode()}")
    yield Server(port, host_key, tmp_path / "id", known, tmp_path)
    acceptor.close()
    await acceptor.wait_closed()


async def test_run_put_and_stream(server: Server) -> None:
    async with SSHTransport(server.settings()) as ssh:
        result = await ssh.run(["sh", "-c", "cat; echo e >&2; exit 4"], input=b"x y")
        assert (result.exit_status, result.stdout, result.stderr) == (4, "x y", "e\n")
        target = server.tmp / "put dir" / "f"
        await ssh.put(b"data", str(target), mode=0o600)
        assert target.read_bytes() == b"data"
        stream = await ssh.open_stream(["cat"])
        await stream.write(b"hello")
        assert await stream.read() == b"hello"
        await stream.close()


@pytest.mark.parametrize("stream", ["", ">&2"])
async def test_output_past_the_bound_is_refused_and_the_link_survives(
    server: Server, stream: str
) -> None:
    """A target answering 150 MB grew the connector by 343 MB; now the read stops at the bound."""
    async with SSHTransport(server.settings(max_output=1024 * 1024)) as ssh:
        flood = ["sh", "-c", f"head -c 3000000 /dev/zero {stream}; echo done"]
        with pytest.raises(OutputLimitError, match="more than 1,048,576 bytes"):
            await ssh.run(flood, timeout=30)
        assert (await ssh.run(["echo", "still here"])).stdout == "still here\n"
        assert len((await ssh.run(["head", "-c", "1000000", "/dev/zero"])).stdout) == 1000000


async def test_unknown_host_key_is_refused_with_its_fingerprint(server: Server) -> None:
    server.known_hosts.write_text("")
    with pytest.raises(HostKeyError) as caught:
        await SSHTransport(server.settings()).connect()
    fingerprint = server.host_key.get_fingerprint("sha256")
    assert caught.value.fingerprint == fingerprint and fingerprint in str(caught.value)
    assert "unknown host key" in str(caught.value)


async def test_changed_host_key_is_refused(server: Server) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    server.known_hosts.write_text(f"[127.0.0.1]:{server.port} {other}")
    with pytest.raises(HostKeyError, match="CHANGED host key: the server offers SHA256:"):
        await SSHTransport(server.settings()).connect()


@pytest.mark.parametrize(
    ("alias_line", "listed_as", "expected"),
    [
        ("", "[127.0.0.1]:{port}", "a CHANGED host key"),
        ("  HostKeyAlias web1-key\n", "web1-key", "a CHANGED host key"),
        ("", None, "an unknown host key"),
        ("  HostKeyAlias web1-key\n", "[127.0.0.1]:{port}", "an unknown host key"),
    ],
)
async def test_host_key_of_an_ssh_config_alias_is_looked_up_as_ssh_checks_it(
    server: Server, alias_line: str, listed_as: str | None, expected: str
) -> None:
    """known_hosts lists the HostName (or HostKeyAlias) and port, never the alias itself."""
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    known = server.tmp / "config_known_hosts"
    known.write_text(f"{listed_as.format(port=server.port)} {other}" if listed_as else "")
    config = server.tmp / "ssh_config"
    config.write_text(
        f"Host web1\n  HostName 127.0.0.1\n  Port {server.port}\n{alias_line}"
        f"  User tester\n  IdentityFile {server.client_key}\n  UserKnownHostsFile {known}\n"
    )
    with pytest.raises(HostKeyError) as caught:
        await SSHTransport(SSHSettings(host="web1", config_file=str(config))).connect()
    assert f"{expected}: the server offers SHA256:" in str(caught.value)
    assert f"which {known} does not trust" in str(caught.value)


def _config_without_known_hosts(server: Server, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"Host web1\n  HostName 127.0.0.1\n  Port {server.port}\n  User tester\n"
        f"  IdentityFile {server.client_key}\n  UserKnownHostsFile none\n"
    )
    return path


async def test_known_hosts_none_in_the_ssh_config_is_refused(server: Server) -> None:
    """asyncssh skips host-key checking for `UserKnownHostsFile none`; OpenSSH would refuse."""
    config = _config_without_known_hosts(server, server.tmp / "ssh_config")
    with pytest.raises(HostKeyError, match="UserKnownHostsFile none") as caught:
        await SSHTransport(SSHSettings(host="web1", config_file=str(config))).connect()
    assert str(config) in str(caught.value)


async def test_known_hosts_none_in_the_default_ssh_config_is_refused(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = server.tmp / "home"
    _config_without_known_hosts(server, home / ".ssh" / "config")
    monkeypatch.setenv("HOME", str(home))
    with pytest.raises(HostKeyError, match="UserKnownHostsFile none"):
        await SSHTransport(SSHSettings(host="web1")).connect()


async def test_known_hosts_none_from_an_inventory_is_refused(server: Server) -> None:
    with pytest.raises(HostKeyError, match="known_hosts 'none'"):
        await SSHTransport(server.settings(known_hosts="none")).connect()


def _unlisted_config(server: Server, tail: str) -> Path:
    """Write an ssh_config for web1 (no known_hosts: ~/.ssh's, which lacks the key), then tail."""
    path = server.tmp / "ssh_config"
    path.write_text(
        f"Host web1\n  HostName 127.0.0.1\n  Port {server.port}\n"
        f"  IdentityFile {server.client_key}\n{tail}"
    )
    return path


@pytest.mark.parametrize(
    ("tail", "user"),
    [
        ("Match user tester\n  UserKnownHostsFile none\n", "tester"),
        ("Host web1\n  User tester\nMatch user tester\n  UserKnownHostsFile none\n", None),
        ("Match final\n  UserKnownHostsFile none\n", "tester"),
        ("Match final user tester\n  UserKnownHostsFile none\n", "tester"),
        ("Match host 127.0.0.1\n  UserKnownHostsFile none\n", "tester"),
        ("Match !user nobody\n  UserKnownHostsFile none\n", "tester"),
    ],
)
async def test_no_ssh_config_form_turns_host_key_checking_off(
    server: Server, monkeypatch: pytest.MonkeyPatch, tail: str, user: str | None
) -> None:
    """`Match user` and `Match final` hid `UserKnownHostsFile none` from the pre-check.

    asyncssh then got known_hosts=None and accepted a key nobody listed. Whatever the form,
    this server's key is unknown: the connection must be refused.
    """
    monkeypatch.setenv("HOME", str(server.tmp / "home"))
    config = _unlisted_config(server, tail)
    transport = SSHTransport(SSHSettings(host="web1", user=user, config_file=str(config)))
    with pytest.raises((HostKeyError, ConfigurationError)) as caught:
        await transport.connect()
        await transport.close()
    if isinstance(caught.value, ConfigurationError):  # asyncssh < 2.19 knows no `Match final`
        assert "Invalid match condition" in str(caught.value)


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a real ssh-agent holding one key, as the connector's SSH_AUTH_SOCK."""
    sock = str(tmp_path / "agent.sock")
    process = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        key = tmp_path / "agent_key"
        key.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
        key.chmod(0o600)
        env = {**os.environ, "SSH_AUTH_SOCK": sock}
        subprocess.run(["ssh-add", str(key)], env=env, check=True, capture_output=True, timeout=30)
        monkeypatch.setenv("SSH_AUTH_SOCK", sock)
        yield sock
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize("forward", ["yes", "SSH_AUTH_SOCK"])
async def test_the_agent_is_never_forwarded(server: Server, agent: str, forward: str) -> None:
    """`ForwardAgent yes` let a hostile target list the connector's keys and use them."""
    config = server.tmp / "ssh_config"
    config.write_text(
        f"Host *\n  ForwardAgent {'$' + forward if forward != 'yes' else forward}\n"
        f"Host web1\n  HostName 127.0.0.1\n  Port {server.port}\n  User tester\n"
        f"  IdentityFile {server.client_key}\n  UserKnownHostsFile {server.known_hosts}\n"
    )
    transport = SSHTransport(SSHSettings(host="web1", config_file=str(config)))
    try:
        await transport.connect()
    except ConfigurationError as exc:  # asyncssh < 2.19 reads no path after ForwardAgent
        assert "Invalid ForwardAgent" in str(exc)
        return
    async with transport as ssh:
        seen = await ssh.run(["sh", "-c", 'echo "${SSH_AUTH_SOCK:-none}"; ssh-add -l'])
    assert seen.stdout.splitlines()[0] == "none", seen.stdout
    assert seen.exit_status == 2, seen.stdout  # ssh-add: no agent to talk to


def _jump_config(server: Server, jump_known_hosts: Path | str) -> Path:
    """Write an ssh_config reaching web1 through the jump host `jump` (the same server)."""
    config = server.tmp / "ssh_config"
    config.write_text(
        f"Host jump\n  HostName 127.0.0.1\n  Port {server.port}\n  User tester\n"
        f"  IdentityFile {server.client_key}\n  UserKnownHostsFile {jump_known_hosts}\n"
        f"  ForwardAgent yes\n"
        f"Host web1\n  HostName 127.0.0.1\n  Port {server.port}\n  User tester\n"
        f"  IdentityFile {server.client_key}\n  UserKnownHostsFile {server.known_hosts}\n"
        f"  ProxyJump jump\n"
    )
    return config


async def test_a_proxyjump_host_is_checked_and_forwards_nothing(server: Server, agent: str) -> None:
    config = _jump_config(server, server.known_hosts)
    async with SSHTransport(SSHSettings(host="web1", config_file=str(config))) as ssh:
        seen = await ssh.run(["sh", "-c", 'echo "$SSH_CLIENT"; echo "${SSH_AUTH_SOCK:-none}"'])
    assert seen.stdout.splitlines()[1] == "none", seen.stdout
    with pytest.raises(HostKeyError, match="UserKnownHostsFile none"):
        await SSHTransport(
            SSHSettings(host="web1", config_file=str(_jump_config(server, "none")))
        ).connect()
    unlisted = server.tmp / "unlisted"
    unlisted.write_text("")
    with pytest.raises(HostKeyError, match="ProxyJump host jump: host key not verifiable"):
        await SSHTransport(
            SSHSettings(host="web1", config_file=str(_jump_config(server, unlisted)))
        ).connect()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
async def test_a_key_file_others_can_read_is_refused(server: Server, mode: int) -> None:
    """As ssh(1) refuses an unprotected private key; patchpilot used it."""
    server.client_key.chmod(mode)
    with pytest.raises(ConfigurationError, match=r"not private .* chmod 600"):
        await SSHTransport(server.settings()).connect()
    server.client_key.chmod(0o600)
    async with SSHTransport(server.settings()) as ssh:
        assert (await ssh.run(["true"])).exit_status == 0


async def test_refused_key_and_closed_port(server: Server) -> None:
    stranger = server.tmp / "stranger"
    stranger.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    stranger.chmod(0o600)
    with pytest.raises(AuthenticationError):
        await SSHTransport(server.settings(key_file=str(stranger))).connect()
    with pytest.raises(ConnectError):
        await SSHTransport(server.settings(port=1)).connect()


async def test_openssh_config_file_is_honoured(server: Server) -> None:
    config = server.tmp / "ssh_config"
    config.write_text(
        f"Host web1\n  HostName 127.0.0.1\n  Port {server.port}\n"
        f"  User tester\n  IdentityFile {server.client_key}\n"
        f"  UserKnownHostsFile {server.known_hosts}\n"
    )
    settings = SSHSettings(host="web1", config_file=str(config))
    async with SSHTransport(settings) as ssh:
        assert (await ssh.run(["echo", "via config"])).stdout == "via config\n"


@pytest.mark.parametrize(
    ("status", "signal", "expected"),
    [
        (0, None, (0, None)),
        (1, None, (1, None)),
        (-1, ("KILL", False, "", ""), (255, "killed by SIGKILL")),
        (None, ("SEGV", True, "boom", ""), (255, "killed by SIGSEGV, core dumped: boom")),
        (None, None, (255, "no exit status: the channel closed without one")),
    ],
)
def test_a_command_ended_by_a_signal_says_so(
    status: int | None, signal: tuple[str, bool, str, str] | None, expected: tuple[int, str | None]
) -> None:
    completed = asyncssh.SSHCompletedProcess(None, "cmd", None, status, signal, status, b"", b"")
    assert (_exit_status(completed), _exit_signal(completed)) == expected
