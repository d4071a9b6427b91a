"""The journal follower: auth both ways, resume from the last seq, no loss, no duplicates."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from connector_fakes import SECRET, FakeEndpoint, final, record

from patchpilot.connector.run.stream import AttachTarget, JournalFollower, StreamTuning
from patchpilot.connector.secret import Secret
from patchpilot.connector.targets.linux import LinuxOS
from patchpilot.errors import ClientFailedError, ClientProtocolError, OutputLimitError
from patchpilot.launchers.systemd_run import SystemdRunLauncher
from patchpilot.protocol import RELEASE
from patchpilot.protocol.parts import MAX_PARTS
from patchpilot.transports.fake import FakeTransport

RECORDS = [
    record(1, "run.started"),
    record(2, "scan.done"),
    record(3, "update.result"),
    final(4, results=[]),
    record(5, "reboot.requested"),
]
FAST = StreamTuning(idle_timeout=1, first_backoff=0.001, max_backoff=0.01, after_ack_timeout=1)


def follower(
    endpoint: FakeEndpoint,
    seen: list[dict[str, Any]],
    *,
    last_seq: int = 0,
    secret: str = SECRET,
    final_seq: int | None = None,
    failure: str | None = None,
) -> JournalFollower:
    transport = FakeTransport(lambda argv, stdin: (0, ""), stream_handler=endpoint.stream_handler())

    async def check() -> str | None:
        return failure

    return JournalFollower(
        transport,
        AttachTarget("/c.pyz", "r1", 1, Secret(secret), SystemdRunLauncher(), LinuxOS()),
        last_seq=last_seq,
        on_record=seen.append,
        check_client=check,
        final_seq=final_seq,
        tuning=FAST,
    )


async def test_reads_everything_once_and_acks_the_final_record() -> None:
    endpoint, seen = FakeEndpoint("r1", 1, RECORDS), []
    final_record = await follower(endpoint, seen).follow()
    assert final_record["seq"] == 4 and endpoint.acks == [4]
    assert [r["seq"] for r in seen] == [1, 2, 3, 4, 5]


async def test_drop_mid_stream_reattaches_from_the_next_seq() -> None:
    endpoint, seen = FakeEndpoint("r1", 1, RECORDS, drop_after=2), []
    f = follower(endpoint, seen)
    await f.follow()
    assert endpoint.reads == [1, 3] and f.attaches == 2
    assert [r["seq"] for r in seen] == [1, 2, 3, 4, 5]


async def test_resume_from_stored_seq_skips_what_is_stored() -> None:
    endpoint, seen = FakeEndpoint("r1", 1, RECORDS), []
    await follower(endpoint, seen, last_seq=2).follow()
    assert endpoint.reads == [3] and [r["seq"] for r in seen] == [3, 4, 5]


async def test_stored_final_is_read_again_to_ack_it() -> None:
    endpoint, seen = FakeEndpoint("r1", 1, RECORDS), []
    await follower(endpoint, seen, last_seq=4, final_seq=4).follow()
    assert endpoint.reads == [4] and endpoint.acks == [4]
    assert [r["seq"] for r in seen] == [5]


async def test_impostor_endpoint_is_refused() -> None:
    endpoint = FakeEndpoint("r1", 1, RECORDS, is_impostor=True)
    with pytest.raises(ClientProtocolError, match="prove"):
        await follower(endpoint, []).follow()


async def test_a_non_ascii_proof_is_a_protocol_error_not_a_crash() -> None:
    endpoint = FakeEndpoint("r1", 1, RECORDS, welcome_proof="\u00e9" * 64)
    with pytest.raises(ClientProtocolError, match="prove"):
        await follower(endpoint, []).follow()


async def test_a_client_of_another_protocol_version_is_refused_with_both_releases() -> None:
    endpoint = FakeEndpoint("r1", 1, RECORDS, hello_extra={"v": 2, "rel": "9.0.0"})
    with pytest.raises(ClientProtocolError) as refused:
        await follower(endpoint, []).follow()
    assert str(refused.value).startswith(
        f"incompatible versions: the client on the target (patchpilot 9.0.0) speaks protocol 2, "
        f"this connector (patchpilot {RELEASE}) protocol 1;"
    )
    assert endpoint.reads == []  # refused before reading a record


async def test_wrong_secret_is_refused_by_the_client() -> None:
    with pytest.raises(ClientProtocolError, match="auth"):
        await follower(FakeEndpoint("r1", 1, RECORDS), [], secret="cd" * 32).follow()


async def test_client_that_died_without_a_result_is_reported() -> None:
    endpoint = FakeEndpoint("r1", 1, RECORDS[:2])
    with pytest.raises(ClientFailedError, match="refused"):
        await follower(endpoint, [], failure="the client refused the job spec").follow()


@pytest.mark.parametrize(
    ("bounds", "stored", "words"),
    [
        ({"max_round_records": 3}, (0, 0), "passed 3 records (at record 4)"),
        ({"max_round_records": 5}, (3, 300), "passed 5 records (at record 3)"),  # resumed
        ({"max_round_bytes": 10_000}, (0, 0), "passed 10,000 bytes (at record 2)"),
    ],
)
async def test_a_flooding_journal_fails_the_round(
    bounds: dict[str, int], stored: tuple[int, int], words: str
) -> None:
    flood = [record(seq, "apt.output", line="x" * 6000) for seq in range(1, 50)]
    endpoint, seen = FakeEndpoint("r1", 1, flood), []
    f = follower(endpoint, seen)
    f.tuning = replace(FAST, **bounds)
    f.records, f.bytes = stored
    with pytest.raises(OutputLimitError, match=words.replace("(", r"\(").replace(")", r"\)")):
        await f.follow()
    assert len(seen) < 5


async def test_a_record_in_too_many_parts_fails_the_round() -> None:
    """Joining stays bounded either way (protocol/parts.py); past MAX_PARTS the round is a
    protocol error at once, instead of storing 200,000 parts (issue 21, finding 4)."""
    flood = [record(seq, "scan.done.part", updates=[seq]) for seq in range(1, MAX_PARTS + 9)]
    endpoint, seen = FakeEndpoint("r1", 1, flood), []
    with pytest.raises(ClientProtocolError, match=f"more than {MAX_PARTS:,} parts"):
        await follower(endpoint, seen, failure="the client exited").follow()
    assert len(seen) == MAX_PARTS


async def test_parts_of_records_that_arrived_do_not_count_again() -> None:
    rounds = [record(seq, "scan.done.part" if seq % 10 else "scan.done", updates=[seq])
              for seq in range(1, 3 * MAX_PARTS)]  # fmt: skip
    endpoint, seen = FakeEndpoint("r1", 1, [*rounds, final(3 * MAX_PARTS, results=[])]), []
    final_record = await follower(endpoint, seen).follow()
    assert final_record["seq"] == 3 * MAX_PARTS
