"""The result document and the state store."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from patchpilot.connector.exitcodes import Outcome
from patchpilot.connector.phase import RoundPhase
from patchpilot.connector.plan import UpdateResult
from patchpilot.connector.run_result import RebootRecord, RoundSummary, RunResult, write_result
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RoundRow, RunRow, Store, open_store

RESULT = RunResult(
    run_id="r1",
    target="web1",
    mode="install",
    status="success",
    outcome=Outcome.SUCCESS,
    exit_code=0,
    exit_code_scheme="native",
    started="t0",
    finished="t1",
    rounds=(RoundSummary(1, "success", "t0", "t1", "systemd-run", "u", 2, 0, True),),
    reboots=(RebootRecord(1, "a", "b", "t0", "t1", 12.5),),
    updates=({"id": "lab-a", "status": "installed"},),
    counts={"installed": 1},
)


def test_result_round_trips_and_prints_on_one_line(tmp_path: Path) -> None:
    body = RESULT.to_dict()
    assert body["schema_version"] == 1 and body["reboots"]["count"] == 1
    assert RunResult.from_dict(json.loads(RESULT.to_json_line())) == RESULT
    assert "\n" not in RESULT.to_json_line()
    write_result(body, tmp_path / "out" / "result.json")
    assert json.loads((tmp_path / "out" / "result.json").read_text()) == body
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["result.json"]


def test_result_document_is_the_dataclasses_as_plain_json() -> None:
    """to_dict copies fields shallowly before its JSON round trip: the document is still
    the deep, list-only copy dataclasses.asdict gave (nothing shared with the result)."""
    result = replace(
        RESULT,
        updates=({"id": "lab-a", "cves": ("CVE-1",), "advisory": {"n": [1]}},),
        hooks=({"event": "hook.done", "exit": 0},),
        warnings=("w",),
        phase="stream",
    )
    body = asdict(result)
    body["outcome"] = "success"
    body["reboots"] = {"count": 1, "boot_ids": ["b"], "items": [asdict(result.reboots[0])]}
    for empty in ("interruptions", "changes", "services"):  # left out when empty
        del body[empty]
    assert result.to_dict() == {"schema_version": 1, **json.loads(json.dumps(body))}
    document = result.to_dict()
    document["updates"][0]["advisory"]["n"].append(2)
    assert result.updates[0]["advisory"] == {"n": [1]}


def test_secret_is_masked() -> None:
    secret = Secret.generate()
    assert len(secret.reveal()) == 64
    assert secret.reveal() not in f"{secret} {secret!r}"


def test_store_file_modes(tmp_path: Path) -> None:
    open_store(tmp_path / "state").close()
    assert stat.S_IMODE((tmp_path / "state" / "state.sqlite").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700


def test_store_runs_rounds_and_journal(open_store: Callable[[], Store]) -> None:
    store = open_store()
    store.create_run(
        RunRow("r1", "web1", "install", "{}", Secret("s" * 64), "running", None, "t0", None, None)
    )
    assert store.run("r1").secret.reveal() == "s" * 64  # type: ignore[union-attr]
    store.save_round(RoundRow("r1", 1, "launched", "at", "r1-r1#4", boot_id_before="b1"))
    store.save_round(RoundRow("r1", 1, "done", "at", "r1-r1#4", boot_id_before="b1"))
    assert [r.phase for r in store.rounds("r1")] == ["done"]
    assert store.add_record("r1", 1, {"seq": 1, "event": "run.started"})
    assert not store.add_record("r1", 1, {"seq": 1, "event": "run.started"})
    assert store.add_record("r1", 1, {"seq": 2, "event": "x"})
    assert store.last_seq("r1", 1) == 2 and store.last_seq("r1", 2) == 0
    store.set_plan("r1", {"a": "1"})
    assert store.run("r1").frozen_plan == {"a": "1"}  # type: ignore[union-attr]
    store.finish_run("r1", RESULT.to_dict())
    assert store.result("r1") == RESULT.to_dict()
    store.save_results("r1", ())
    store.create_run(
        RunRow("f1.b-2", "b", "install", "{}", Secret("s" * 64), "running", None, "t1", None, None)
    )
    store.create_run(
        RunRow("f1.b.1", "b", "install", "{}", Secret("s" * 64), "running", None, "t2", None, None)
    )
    assert store.run_ids_under("f1.") == ["f1.b-2", "f1.b.1"]  # byte order on every backend
    store.save_fleet("f1", "t2", {"servers": 1})
    store.save_fleet("f1", "t3", {"servers": 2})
    assert store.fleet("f1") == {"servers": 2} and store.fleet("f2") is None
    store.close()
    again = open_store()
    assert [r["seq"] for r in again.records("r1")] == [1, 2]
    assert [r.run_id for r in again.runs()] == ["f1.b.1", "f1.b-2", "r1"]  # newest first
    assert again.run("r1").status == "success"  # type: ignore[union-attr]


def test_store_keeps_every_field_of_runs_and_rounds(open_store: Callable[[], Store]) -> None:
    store = open_store()
    run = RunRow(
        "r1",
        "web1",
        "install",
        '{"a": 1}',
        Secret("s" * 64),
        "running",
        3,
        "t0",
        "t9",
        '{"p": "1"}',
    )
    store.create_run(run)
    assert store.run("r1") == replace(run, secret=store.run("r1").secret)  # type: ignore[union-attr]
    assert store.run("r1").secret.reveal() == "s" * 64  # type: ignore[union-attr]
    rows = [
        RoundRow("r1", 1, RoundPhase.REBOOTING, "at", "t#1", "b0", None, "t1", None, "t2", None),
        RoundRow("r1", 2, RoundPhase.NEW),
    ]
    for row in rows:
        store.save_round(row)
    done = RoundRow("r1", 1, RoundPhase.DONE, "at", "t#1", "b0", "b1", "t1", "t5", "t2", "t3")
    store.save_round(done)  # an upsert: every column but the key is replaced
    assert store.rounds("r1") == [done, rows[1]]
    assert all(isinstance(r.phase, RoundPhase) for r in store.rounds("r1"))
    store.close()


async def test_sqlite_flush_puts_every_commit_on_disk_and_waiters_share_one_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from patchpilot.connector.store import sqlite as sqlite_module

    synced: list[Path] = []
    monkeypatch.setattr(sqlite_module, "_fsync", synced.append)
    store = sqlite_module.SQLiteStore.in_folder(tmp_path)
    assert store._db.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL: see flush
    await store.flush()
    assert synced == []  # nothing written yet
    for round_no in range(1, 6):
        store.save_round(RoundRow("r1", round_no, RoundPhase.NEW))
    await asyncio.gather(*(store.flush() for _ in range(50)))
    assert synced == [tmp_path / "state.sqlite-wal"]  # 50 waiters, one fsync
    store.save_round(RoundRow("r1", 6, RoundPhase.NEW))
    await store.flush()
    assert len(synced) == 2


HOSTILE = "lab\ud800-\x00nul-\u202e\x1b[31m"  # a lone surrogate, NUL, a bidi override, ESC


def test_target_text_never_makes_a_store_raise(open_store: Callable[[], Store]) -> None:
    """save_results raised on a lone surrogate (SQLite's UTF-8 encoder) and PostgreSQL refuses
    NUL in text (issue 21, finding 3); the update's own text stays in the stored record."""
    store = open_store()
    store.create_run(
        RunRow("r1", "web1", "install", "{}", Secret("s" * 64), "running", None, "t0", None, None)
    )
    result = UpdateResult(HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE, 1)
    store.save_results("r1", (result,))
    assert store.add_record("r1", 1, {"seq": 1, "event": HOSTILE, "level": HOSTILE,
                                      "ts": HOSTILE, "fields": {HOSTILE: HOSTILE}})  # fmt: skip
    assert store.records("r1")[0]["fields"] == {HOSTILE: HOSTILE}
    store.finish_run("r1", {**RESULT.to_dict(), "errors": [HOSTILE]})
    assert store.result("r1")["errors"] == [HOSTILE]  # type: ignore[index]
    store.save_fleet("f1", "t1", {"servers": [HOSTILE]})
    assert store.fleet("f1") == {"servers": [HOSTILE]}
