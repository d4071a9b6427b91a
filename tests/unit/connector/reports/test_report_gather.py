"""A report reads only the records it shows, selected in SQL, one row at a time (issue 21,
finding 5: a report loaded every record of every round; a 65 MiB round added ~570 MB RSS)."""

from __future__ import annotations

from collections.abc import Callable

from patchpilot.connector.reports import gather
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RoundRow, RunRow, Store

UNREADABLE = "not JSON: a report that parsed this record read what it never shows"


def test_a_report_reads_only_what_it_shows(open_store: Callable[[], Store]) -> None:
    store = open_store()
    store.create_run(
        RunRow("r1", "web1", "install", "{}", Secret("s" * 64), "running", None, "t0", None, None)
    )
    store.save_round(RoundRow("r1", 1, "done"))
    shown = [
        {"seq": 1, "event": "scan.done.part", "level": "info", "fields": {"updates": [
            {"id": "lab-a", "title": "Lab A", "is_security": True}]}},
        {"seq": 2, "event": "scan.done", "level": "info", "fields": {"updates": [], "parts": 2}},
        {"seq": 4, "event": "apt.warning", "level": "warning", "fields": {"message": "held"}},
        {"seq": 5, "event": "round.result", "level": "info", "fields": {"status": "success"}},
    ]  # fmt: skip
    for record in shown:
        store.add_record("r1", 1, record)
    for seq, (event, level) in enumerate([("apt.output", "info"), ("x.y", None)], start=10):
        store._change(
            "INSERT INTO journal VALUES (?,?,?,?,?,?,?)",
            [("r1", 1, seq, "t", level, event, UNREADABLE)],
        )
    updates = [{"id": "lab-a", "status": "installed", "round": 1}]
    store.finish_run("r1", {"run_id": "r1", "target": "web1", "status": "success",
                            "exit_code": 0, "finished": "t1", "updates": updates})  # fmt: skip
    (server,) = gather(store, "r1").servers
    assert server.updates[0].title == "Lab A" and server.updates[0].is_security
    assert [line.event for line in server.journal] == ["apt.warning"]
