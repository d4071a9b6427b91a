"""A round that runs an interrupted one again, and the heartbeat a long step journals."""

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from test_round import SECRET, ScriptedBackend, make_round, run_in_thread

from patchpilot.client.backends.base import Update
from patchpilot.client.heartbeat import Heartbeat
from patchpilot.client.jobspec import JobSpecError, Recovery, parse_job_spec
from patchpilot.client.journal import Journal
from patchpilot.client.paths import RoundPaths
from patchpilot.client.round import Round


class AfterCutBackend(ScriptedBackend):
    """lab-base-a reached its planned 2.0-1 before the cut; lab-old stayed at 1.0."""

    def __init__(self) -> None:
        super().__init__()
        self.installed: List[str] = []

    def scan(self, emit: object) -> List[Update]:  # type: ignore[override]
        return [Update("lab-fail", "F", "1.0-1", "2.0-1")]

    def install(self, updates, emit):  # type: ignore[no-untyped-def]
        self.installed += [u.id for u in updates]
        return super().install(updates, emit)

    def installed_versions(self, ids: List[str]) -> Dict[str, str]:
        known = {"lab-base-a": "2.0-1", "lab-old": "1.0-1"}
        return {i: known[i] for i in ids if i in known}


@pytest.fixture
def folder(tmp_path: Path) -> RoundPaths:
    folder = tmp_path / "runs" / "r1" / "round-2"
    folder.mkdir(parents=True)
    return RoundPaths(str(folder))


def run_to_final(round_: Round, folder: RoundPaths) -> Tuple[Dict[str, Any], List[int]]:
    """Run the round to its end; return its final record's fields and the exit status list."""
    thread, status = run_in_thread(round_)
    thread.join(10.0)
    records = Journal.snapshot(folder.journal).records()
    return next(r for r in records if r["event"] == "round.result")["fields"], status


def test_a_recovery_round_reports_what_the_cut_round_installed_without_installing_it(
    folder: RoundPaths,
) -> None:
    backend = AfterCutBackend()
    planned = {"lab-base-a": "2.0-1", "lab-old": "2.0-1", "lab-fail": "2.0-1"}
    round_ = make_round(folder, backend, [], round=2, ack_timeout=0,
                        selection={"plan": planned},
                        recovery={"round": 1, "planned": planned})  # fmt: skip
    final, status = run_to_final(round_, folder)
    results = {r["id"]: (r["status"], r["message"]) for r in final["results"]}
    assert results == {
        "lab-base-a": ("installed", "installed before round 1 was interrupted"),
        "lab-fail": ("failed", ""),
    }
    assert backend.installed == ["lab-fail"] and status == [0]


class EverythingBeforeBackend(AfterCutBackend):
    def scan(self, emit: object) -> List[Update]:  # type: ignore[override]
        return []


def test_a_recovery_round_that_only_found_earlier_installs_is_a_success_not_nothing(
    folder: RoundPaths,
) -> None:
    """Found by the fault campaign (seed 1): a client killed after its installs; the round
    run again found nothing left and said `nothing`, so the loop stopped after the reboot it
    needed and the update that reboot brings (lab-stage2-x) was never installed."""
    planned = {"lab-base-a": "2.0-1"}
    round_ = make_round(folder, EverythingBeforeBackend(), [], round=2, ack_timeout=0,
                        selection={"plan": planned},
                        recovery={"round": 1, "planned": planned})  # fmt: skip
    final, _ = run_to_final(round_, folder)
    assert final["status"] == "success"
    assert [r["id"] for r in final["results"]] == ["lab-base-a"]


class FullDiskBackend(AfterCutBackend):
    def scan(self, emit: object) -> List[Update]:  # type: ignore[override]
        raise RuntimeError("dnf repoquery --upgrades failed: [Errno 28] No space left on device")


def test_a_recovery_round_that_fails_still_reports_what_the_cut_round_installed(
    folder: RoundPaths,
) -> None:
    """Found by the fault campaign (seed 13): the round run again failed at its scan (the
    cache full) and its error result listed nothing, though the cut round had installed."""
    planned = {"lab-base-a": "2.0-1", "lab-old": "2.0-1"}
    round_ = make_round(folder, FullDiskBackend(), [], round=2, ack_timeout=0,
                        selection={"plan": planned},
                        recovery={"round": 1, "planned": planned})  # fmt: skip
    final, status = run_to_final(round_, folder)
    assert final["status"] == "error" and "No space left" in final["message"]
    assert [(r["id"], r["status"]) for r in final["results"]] == [("lab-base-a", "installed")]
    assert status == [4]


def test_a_round_without_recovery_reports_only_its_own_installs(folder: RoundPaths) -> None:
    backend = AfterCutBackend()
    final, _ = run_to_final(make_round(folder, backend, [], ack_timeout=0), folder)
    assert [r["id"] for r in final["results"]] == ["lab-fail"]


def test_the_heartbeat_journals_the_phase_and_its_seconds(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path / "journal"))
    phase = [("installing", time.monotonic() - 20)]
    beat = Heartbeat(journal, lambda: phase[0], interval=0.05)
    beat.start()
    time.sleep(0.3)
    phase[0] = ("waiting-ack", time.monotonic())
    time.sleep(0.2)
    beat.stop()
    count = len(journal.records())
    time.sleep(0.15)
    beats = [r["fields"] for r in journal.records() if r["event"] == "round.heartbeat"]
    assert len(journal.records()) == count  # stopped
    assert beats[0]["phase"] == "installing" and beats[-1]["phase"] == "waiting-ack"
    assert min(b["seconds"] for b in beats if b["phase"] == "installing") >= 20
    assert max(b["seconds"] for b in beats if b["phase"] == "waiting-ack") < 5


def _spec(**extra: object) -> str:
    doc = {"spec_version": 1, "run_id": "r1", "round": 2, "action": "install",
           "reboot": "never", "secret": SECRET, **extra}  # fmt: skip
    return json.dumps(doc)


def test_the_job_spec_names_the_round_it_recovers() -> None:
    spec = parse_job_spec(_spec(recovery={"round": 1, "planned": {"a": "2"}}))
    assert spec.recovery == Recovery(1, {"a": "2"})
    assert parse_job_spec(_spec()).recovery is None


@pytest.mark.parametrize(
    "recovery",
    [[], {"round": 0}, {"round": 1, "planned": {"a": ""}}, {"round": 1, "extra": 1}],
)
def test_a_malformed_recovery_is_refused(recovery: object) -> None:
    with pytest.raises(JobSpecError, match=r"recovery|round"):
        parse_job_spec(_spec(recovery=recovery))
