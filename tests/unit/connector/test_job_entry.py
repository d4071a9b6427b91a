"""The job entry point (`run_job`) that `patchpilot run`, `patchpilot fleet` and the Airflow
trigger share: what it writes and sends after the run, in which order, and what it never lets
cost the job its result (issue 28, item 6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from report_samples import DOCUMENT, WEB
from webhook_server import webhook_server

from patchpilot.connector import job as job_entry
from patchpilot.connector.fleet import FleetResult
from patchpilot.connector.job import JobEnd, JobFiles, run_job
from patchpilot.connector.options import RunOptions
from patchpilot.connector.run_result import RunResult
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RunRow, Store, open_store


def _stored(tmp_path: Path, *, notify: tuple[str, ...] = ()) -> Store:
    """Return a store holding WEB's finished run, started with --notify notify."""
    store = open_store(tmp_path / "state")
    options = RunOptions(notify=notify).model_dump_json()
    store.create_run(RunRow(WEB["run_id"], WEB["target"], "install", options, Secret("s" * 64),
                            "running", None, WEB["started"], None, None))  # fmt: skip
    store.finish_run(WEB["run_id"], WEB)
    return store


async def _web_run() -> JobEnd[RunResult]:
    return JobEnd.of_run(RunResult.from_dict(WEB))


async def test_the_result_file_then_the_outputs_then_on_end_then_the_webhooks(
    tmp_path: Path,
) -> None:
    store = _stored(tmp_path)
    files = JobFiles(tmp_path / "result.json", tmp_path / "r.html", tmp_path / "m.prom")
    seen: list[tuple[bool, bool, int]] = []
    with webhook_server() as hooks:
        options = RunOptions(notify=(f"{hooks.base}/ok",))

        def on_end(end: JobEnd[RunResult]) -> None:
            written = all(p is not None and p.exists() for p in vars(files).values())
            seen.append((written, end.result is not None, len(hooks.received)))

        end = await run_job(_web_run(), options, store, files=files, on_warning=pytest.fail,
                            on_end=on_end)  # fmt: skip
        bodies = hooks.bodies("/ok")
    assert seen == [(True, True, 0)]  # the files before on_end, the webhook after it
    assert json.loads((tmp_path / "result.json").read_text()) == end.document
    assert {k: end.document[k] for k in WEB} == WEB
    assert (tmp_path / "result.json").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "m.prom").stat().st_mode & 0o777 == 0o644
    assert [(b["kind"], b["run_id"], b["report"]) for b in bodies] == [
        ("run", "f1.web-1", str(tmp_path / "r.html"))
    ]
    assert end.exit_code == 0 and end.run_ids == ("f1.web-1",)


async def test_what_fails_after_the_run_is_a_warning_and_keeps_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(report: Any, fmt: str) -> str:
        raise TypeError("'int' object is not iterable")

    monkeypatch.setattr(job_entry, "render", broken)
    (tmp_path / "file").write_text("")
    files = JobFiles(tmp_path / "result.json", tmp_path / "r.html", tmp_path / "file" / "m.prom")
    warnings: list[str] = []
    with webhook_server() as hooks:
        options = RunOptions(notify=(f"{hooks.base}/bad",), notify_timeout=5)
        end = await run_job(_web_run(), options, _stored(tmp_path), files=files,
                            on_warning=warnings.append)  # fmt: skip
    assert end.exit_code == 0
    assert json.loads((tmp_path / "result.json").read_text()) == end.document
    assert warnings[0] == "the report r.html could not be made: 'int' object is not iterable"
    assert warnings[1].startswith(f"cannot write {tmp_path / 'file' / 'm.prom'}")
    assert warnings[2].startswith("--notify #1 (json) failed: HTTP 400")
    assert len(warnings) == 3


async def test_an_unwritable_result_file_ends_the_job_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    (tmp_path / "file").write_text("")
    ended: list[object] = []
    with webhook_server() as hooks:
        options = RunOptions(notify=(f"{hooks.base}/ok",))
        with pytest.raises(OSError, match="File exists"):
            await run_job(_web_run(), options, _stored(tmp_path), on_warning=pytest.fail,
                          files=JobFiles(tmp_path / "file" / "result.json"),
                          on_end=ended.append)  # fmt: skip
        assert hooks.received == [] and ended == []


async def test_the_webhooks_the_runs_were_stored_with_are_posted_once_each(
    tmp_path: Path,
) -> None:
    """An inventory's `patchpilot_notify` is stored with its server's run: the job posts to
    it too, and to a URL both name only once."""
    with webhook_server() as hooks:
        both, stored_only = f"{hooks.base}/ok", f"{hooks.base}/flaky"
        store = _stored(tmp_path, notify=(both, stored_only))
        await run_job(_web_run(), RunOptions(notify=(both,)), store, on_warning=pytest.fail)
        paths = sorted(r.path for r in hooks.received)
    assert paths == ["/flaky", "/flaky", "/flaky", "/ok"]  # /flaky: 500 twice, then 204


async def test_a_fleet_stores_its_document_and_says_it_is_a_fleet(tmp_path: Path) -> None:
    store = _stored(tmp_path)
    fleet = FleetResult(outcomes=(), hosts=(), stopped_early=False)

    async def work() -> JobEnd[FleetResult]:
        return JobEnd.of_fleet("f1", fleet)

    with webhook_server() as hooks:
        options = RunOptions(notify=(f"{hooks.base}/ok",))
        end = await run_job(work(), options, store, on_warning=pytest.fail,
                            files=JobFiles(report=tmp_path / "f1.csv"))  # fmt: skip
        bodies = hooks.bodies("/ok")
    assert end.document == {"run_id": "f1", **fleet.to_dict()} == store.fleet("f1")
    assert (tmp_path / "f1.csv").exists()
    assert [(b["kind"], b["run_id"]) for b in bodies] == [("fleet", "f1")]
    assert DOCUMENT["run_id"] == "f1"  # the sample fleet's id: its servers are f1.<host>
