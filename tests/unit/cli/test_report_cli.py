"""`patchpilot report` over a real state store: a fleet run, a single run, a fleet whose
connector died before it stored the fleet document, and the output options."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from report_samples import BAD_ROUNDS, DOCUMENT, WEB_RECORDS, WEB_ROUNDS

from patchpilot.cli.main import main
from patchpilot.cli.outputs import warn
from patchpilot.connector.job import JobFiles, write_outputs
from patchpilot.connector.reports import gather, render
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RunRow, open_store


def _store(tmp_path: Path, *, with_fleet: bool = True) -> Path:
    """Store the sample fleet as `patchpilot fleet` leaves it."""
    state = tmp_path / "state"
    store = open_store(state)
    for entry in DOCUMENT["servers"]:
        result = entry["result"]
        if result is None:
            continue
        store.create_run(
            RunRow(result["run_id"], entry["host"], "install", "{}", Secret("s" * 64),
                   "running", None, result["started"], None, None)
        )  # fmt: skip
        store.finish_run(result["run_id"], result)
    for row in (*WEB_ROUNDS, *BAD_ROUNDS):
        store.save_round(row)
    for record in WEB_RECORDS:
        store.add_record("f1.web-1", int(record["round"]), record)
    if with_fleet:
        store.save_fleet("f1", "2026-11-30T02:02:00Z", DOCUMENT)
    store.close()
    return state


def _report(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as done:
        main(["report", *args])
    out, err = capsys.readouterr()
    assert done.value.code == 0, err
    return out


def test_fleet_report_from_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = _store(tmp_path)
    report = gather(open_store(state), "f1")
    assert [s.host for s in report.servers] == [s["host"] for s in DOCUMENT["servers"]]
    assert len(report.servers[0].rounds) == 2 and report.servers[0].updates[1].is_security
    assert json.loads(_report(capsys, "f1", "--state-dir", str(state), "--format", "json")) == (
        DOCUMENT
    )
    rows = list(csv.DictReader(io.StringIO(_report(capsys, "f1", "--state-dir", str(state),
                                                   "--format", "csv"))))  # fmt: skip
    assert len(rows) == 1 + sum(len(s["result"]["updates"]) for s in DOCUMENT["servers"][:2])
    _report(capsys, "f1", "--state-dir", str(state), "--out", str(tmp_path / "r.html"))
    assert (tmp_path / "r.html").read_text().count('<g class="tl-row"') == 3


def test_single_run_and_rebuilt_fleet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = _store(tmp_path, with_fleet=False)
    single = gather(open_store(state), "f1.web-1")
    assert single.kind == "run" and [s.host for s in single.servers] == ["web-1"]
    rebuilt = gather(open_store(state), "f1")  # no fleet document: from the servers' runs
    assert rebuilt.kind == "fleet" and len(rebuilt.servers) == 2  # db-3 never had a run
    assert {s.status for s in rebuilt.servers} == {"succeeded", "failed"}
    junit = _report(capsys, "f1.web-1", "--state-dir", str(state), "--format", "junit")
    assert 'tests="1"' in junit and 'failures="0"' in junit


def test_unknown_run_and_bad_report_extension(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _store(tmp_path)
    with pytest.raises(SystemExit) as done:
        main(["report", "nope", "--state-dir", str(state)])
    assert done.value.code == 64 and "no run or fleet run 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        main(["fleet", str(tmp_path / "inv.yml"), "--report", str(tmp_path / "r.pdf")])
    assert done.value.code == 64 and "the extension picks the format" in capsys.readouterr().err


def _outputs(
    state: Path,
    run_id: str,
    *,
    report: Path | None,
    metrics_file: Path | None,
    fleet_document: dict[str, Any] | None = None,
) -> None:
    """Write a job's outputs as `run` and `fleet` do at their end; warnings go to stderr."""
    store = open_store(state)
    try:
        files = JobFiles(report=report, metrics_file=metrics_file)
        for warning in write_outputs(store, run_id, files, fleet_document=fleet_document):
            warn(warning)
    finally:
        store.close()


def test_write_outputs_stores_the_fleet_and_writes_files(tmp_path: Path) -> None:
    state = _store(tmp_path, with_fleet=False)
    prom = tmp_path / "prom" / "patchpilot.prom"
    _outputs(
        state, "f1", report=tmp_path / "out" / "f1.xml", metrics_file=prom, fleet_document=DOCUMENT
    )
    assert open_store(state).fleet("f1") == DOCUMENT
    assert (tmp_path / "out" / "f1.xml").read_text().startswith("<?xml")
    assert (
        'patchpilot_last_run_success{server="web-1",run_id="f1"} 1'
        in (tmp_path / "prom" / "patchpilot.prom").read_text()
    )


@pytest.mark.parametrize("suffix", ["json", "html", "xml", "csv"])
def test_a_report_is_as_private_as_the_result_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    """`--report x.json` wrote the result document 0644 where the result file is 0600.

    The metrics file stays readable by others: node_exporter's collector reads it.
    """
    state = _store(tmp_path)
    prom = tmp_path / "patchpilot.prom"
    _outputs(state, "f1", report=tmp_path / f"f1.{suffix}", metrics_file=prom)
    _report(capsys, "f1", "--state-dir", str(state), "--out", str(tmp_path / f"out.{suffix}"))
    for written in (tmp_path / f"f1.{suffix}", tmp_path / f"out.{suffix}"):
        assert written.stat().st_mode & 0o777 == 0o600, written
    assert prom.stat().st_mode & 0o777 == 0o644


def test_an_unwritable_report_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _store(tmp_path)
    (tmp_path / "file").write_text("")
    _outputs(state, "f1", report=tmp_path / "file" / "r.csv", metrics_file=None)
    assert "patchpilot: warning: cannot write" in capsys.readouterr().err


def test_a_run_still_going_is_reported_as_running(tmp_path: Path) -> None:
    state = _store(tmp_path, with_fleet=False)
    store = open_store(state)
    store.create_run(
        RunRow("f1.db-3", "db-3", "install", "{}", Secret("s" * 64), "running", None,
               "2026-11-30T02:00:09Z", None, None)
    )  # fmt: skip
    report = gather(store, "f1")
    assert [s.status for s in report.servers] == ["failed", "running", "succeeded"]  # by run id
    assert report.servers[1].started == "2026-11-30T02:00:09Z"
    junit = render(report, "junit")
    assert 'skipped="1"' in junit and "still running" in junit
    assert "Still running" in render(report, "html")
