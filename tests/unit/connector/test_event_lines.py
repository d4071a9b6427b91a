"""One event line for every sink (job output, terminal, the Airflow task log), inert: target
text never forges a line (a `Marking task as SUCCESS` after a newline) nor reaches a log
viewer as an escape sequence (issue 21, finding 7)."""

from __future__ import annotations

import pytest

from patchpilot.connector import Event, JournalRecord, PhaseStarted, WarningRaised, event_line

FORGED = "ok\nINFO - Marking task as SUCCESS. dag_id=patch\r\x1b[2K\x1b]8;;http://x\x07\u2028\u202e"


@pytest.mark.parametrize(
    "event",
    [
        JournalRecord(target="web1", round=1, record={
            "seq": FORGED, "ts": FORGED, "level": FORGED, "event": FORGED,
            "fields": {"message": FORGED, FORGED: "\ud800"}}),
        JournalRecord(target="web1", round=1, record={"seq": 3, "event": "x", "fields": [FORGED]}),
        WarningRaised(target="web1", round=1, message=FORGED),
        PhaseStarted(target="web1", round=1, phase="reboot", detail=FORGED),
    ],
)  # fmt: skip
def test_target_text_stays_on_one_inert_line(event: Event) -> None:
    line = event_line(event)
    assert line.isprintable(), repr(line)  # no NL, CR, ESC, bidi, U+2028
