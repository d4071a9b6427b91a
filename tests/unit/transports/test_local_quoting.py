"""The local transport, the fake transport and the one quoting module."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchpilot.errors import OutputLimitError, TransportError, TransportTimeout
from patchpilot.transports import quoting
from patchpilot.transports.fake import FakeTransport, pipe_pair
from patchpilot.transports.local import LocalSettings, LocalTransport


@settings(deadline=None, max_examples=40)  # one subprocess per example
@given(
    st.lists(
        st.text(
            alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
            max_size=20,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_join_runs_exactly_argv(args: list[str]) -> None:
    argv = ["printf", "%s\\0", *args]
    out = subprocess.run(["sh", "-c", quoting.join(argv)], capture_output=True, check=True)
    assert out.stdout.decode().split("\0")[:-1] == args


async def test_local_run_check_and_timeout() -> None:
    transport = LocalTransport()
    async with transport:
        result = await transport.run(["sh", "-c", "cat; echo err >&2; exit 3"], input=b"in")
        assert (result.exit_status, result.stdout, result.stderr) == (3, "in", "err\n")
        with pytest.raises(TransportError, match="status 3"):
            await transport.run(["sh", "-c", "exit 3"], check=True)
        with pytest.raises(TransportTimeout):
            await transport.run(["sleep", "5"], timeout=0.1)


async def test_put_is_atomic_with_mode(tmp_path: Path) -> None:
    path = tmp_path / "new dir" / "job's.json"
    await LocalTransport().put(b"secret", str(path), mode=0o600)
    assert path.read_bytes() == b"secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["job's.json"]


async def test_local_stream() -> None:
    stream = await LocalTransport().open_stream(["cat"])
    await stream.write(b"ping")
    assert await stream.read() == b"ping"
    await stream.close()


async def test_fake_transport_and_pipes() -> None:
    transport = FakeTransport(lambda argv, stdin: (0, "ok"))
    assert (await transport.run(["x"])).stdout == "ok" and transport.commands == [("x",)]
    a, b = pipe_pair()
    await a.write(b"1")
    assert await b.read() == b"1"
    await a.close()
    assert await b.read() == b""


@pytest.mark.parametrize("stream", ["", ">&2"])
async def test_local_output_past_the_bound_is_refused(stream: str) -> None:
    transport = LocalTransport(LocalSettings(max_output=1024 * 1024))
    with pytest.raises(OutputLimitError, match="more than 1,048,576 bytes"):
        await transport.run(["sh", "-c", f"head -c 3000000 /dev/zero {stream}"], timeout=30)
    assert len((await transport.run(["head", "-c", "1000000", "/dev/zero"])).stdout) == 1000000
