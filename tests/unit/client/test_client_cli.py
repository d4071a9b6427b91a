"""The client's command line: refusals, exit statuses, the run lock, attach from disk,
--output answers and attach --listen."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from patchpilot.client.endpoints.stdio import FdStream
from patchpilot.client.endpoints.unix import SocketStream, UnixEndpoint, connect_unix
from patchpilot.client.journal import Journal
from patchpilot.client.lock import ClientLock
from patchpilot.client.peer import LogPeer

SECRET = "3c" * 32
CLIENT = (sys.executable, "-m", "patchpilot.client")


def client(root: Path, *args: str) -> "subprocess.CompletedProcess[str]":
    env = {**os.environ, "PATCHPILOT_ROOT": str(root)}
    return subprocess.run(
        [sys.executable, "-m", "patchpilot.client", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
        check=False,
    )


def round_folder(root: Path, run: str = "r1", number: int = 1) -> Path:
    folder = root / "var/lib/patchpilot/runs" / run / f"round-{number}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_job(folder: Path, doc: dict, mode: int = 0o600) -> Path:
    job = folder / "job.json"
    job.write_text(json.dumps(doc))
    job.chmod(mode)
    return job


GOOD = {
    "spec_version": 1,
    "run_id": "r1",
    "round": 1,
    "action": "scan",
    "reboot": "never",
    "secret": SECRET,
}


@pytest.mark.parametrize(
    ("doc", "mode", "words"),
    [
        ({**GOOD, "spec_version": 7}, 0o600, "spec_version 7 is not supported"),
        ({**GOOD, "action": "upgrade"}, 0o600, "action must be one of"),
        (GOOD, 0o644, "readable by others"),
        ({**GOOD, "windows": {"classifications": [[1]]}}, 0o600, "windows.classifications"),
    ],
)
def test_a_refused_spec_exits_2_and_is_journaled(
    tmp_path: Path, doc: dict, mode: int, words: str
) -> None:
    job = write_job(round_folder(tmp_path), doc, mode)
    done = client(tmp_path, "run", "--job", str(job))
    assert done.returncode == 2
    assert words in done.stderr and SECRET not in done.stderr
    record = Journal.snapshot(str(job.parent / "journal.jsonl")).records()[-1]
    assert record["event"] == "job.refused" and words in record["fields"]["reason"]


def test_usage_errors_exit_64(tmp_path: Path) -> None:
    assert client(tmp_path, "attach", "--run", "../x", "--round", "1").returncode == 64
    assert client(tmp_path, "frobnicate").returncode == 64


def test_run_lock_claims_and_releases(tmp_path: Path) -> None:
    assert client(tmp_path, "lock", "--run", "r1").returncode == 0
    assert client(tmp_path, "lock", "--run", "r1").returncode == 0  # idempotent
    held = client(tmp_path, "lock", "--run", "r2")
    assert held.returncode == 3 and json.loads(held.stdout)["run"] == "r1"
    lock = tmp_path / "var/lib/patchpilot/target.lock"
    assert oct(lock.stat().st_mode & 0o777) == "0o600"
    assert client(tmp_path, "unlock", "--run", "r2").returncode == 0 and lock.exists()
    assert client(tmp_path, "unlock", "--run", "r1").returncode == 0 and not lock.exists()


def test_run_refuses_a_target_held_by_another_run(tmp_path: Path) -> None:
    client(tmp_path, "lock", "--run", "other")
    job = write_job(round_folder(tmp_path), GOOD)
    done = client(tmp_path, "run", "--job", str(job))
    assert done.returncode == 3 and "other" in done.stderr


def finished_round(root: Path) -> Path:
    """Return a round folder whose job spec and finished journal (2 records) are on disk."""
    folder = round_folder(root)
    write_job(folder, GOOD)
    journal = Journal(str(folder / "journal.jsonl"))
    journal.append("run.started")
    journal.append("round.result", status="nothing")
    return folder


def test_attach_serves_the_journal_from_disk(tmp_path: Path) -> None:
    finished_round(tmp_path)
    env = {**os.environ, "PATCHPILOT_ROOT": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "patchpilot.client", "attach", "--run", "r1", "--round", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    peer = LogPeer(FdStream(proc.stdout.fileno(), proc.stdin.fileno()))
    assert peer.handshake(SECRET)["live"] is False
    peer.read(2)
    assert [r["seq"] for r in peer.collect(10.0)] == [2]
    peer.ack(2)
    assert peer.receive(10.0) == {"t": "bye", "complete": True, "last_seq": 2}
    assert proc.wait(10) == 0
    proc.stdin.close()
    proc.stdout.close()


def test_a_second_client_is_refused_while_one_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATCHPILOT_ROOT", str(tmp_path))
    running = ClientLock()
    assert running.acquire("r0", 1)
    job = write_job(round_folder(tmp_path), GOOD)
    done = client(tmp_path, "run", "--job", str(job))
    running.release()
    assert done.returncode == 3 and '"run": "r0"' in done.stderr
    assert not (job.parent / "journal.jsonl").exists()


def test_attach_to_a_round_that_does_not_exist(tmp_path: Path) -> None:
    done = client(tmp_path, "attach", "--run", "nope", "--round", "3")
    assert done.returncode == 4 and "nothing to attach to" in done.stderr


def test_output_captures_the_answer_and_exit_status(tmp_path: Path) -> None:
    out = tmp_path / "calls" / "lock.json"
    assert client(tmp_path, "lock", "--run", "r1", "--output", str(out)).returncode == 0
    assert json.loads(out.read_text()) == {"exit": 0, "stdout": "", "stderr": ""}
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert oct(out.parent.stat().st_mode & 0o777) == "0o700"
    held = client(tmp_path, "lock", "--run", "r2", "--output", str(out))
    answer = json.loads(out.read_text())
    assert held.returncode == answer["exit"] == 3 and held.stdout == ""
    assert json.loads(answer["stdout"])["run"] == "r1"


def test_output_carries_a_crash_as_exit_70(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATCHPILOT_BACKEND", "wua")  # no powershell.exe here: it crashes
    out = tmp_path / "scan.json"
    done = client(tmp_path, "scan", "--json", "--output", str(out))
    answer = json.loads(out.read_text())
    assert done.returncode == answer["exit"] == 70 and "Traceback" in answer["stderr"]


def attach_listen(root: Path, wait: str) -> "subprocess.Popen[bytes]":
    return subprocess.Popen(
        [*CLIENT, "attach", "--run", "r1", "--round", "1", "--listen", wait],
        env={**os.environ, "PATCHPILOT_ROOT": str(root)},
        stderr=subprocess.PIPE,
    )


def connected(path: Path) -> SocketStream:
    """Return a connection to the endpoint at path, once something listens there."""
    deadline = time.monotonic() + 20
    while True:
        try:
            return connect_unix(str(path))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_listen_serves_the_journal_on_the_endpoint_once(tmp_path: Path) -> None:
    folder = finished_round(tmp_path)
    proc = attach_listen(tmp_path, "30")
    stream = connected(folder / "endpoint.sock")
    peer = LogPeer(stream)
    assert peer.handshake(SECRET)["live"] is False
    peer.read(1)
    assert [r["seq"] for r in peer.collect(10.0)] == [1, 2]
    peer.ack(2)
    assert peer.receive(10.0) == {"t": "bye", "complete": True, "last_seq": 2}
    stream.close()
    proc.communicate(timeout=10)
    assert proc.returncode == 0 and not (folder / "endpoint.sock").exists()


def test_listen_gives_up_when_nobody_connects(tmp_path: Path) -> None:
    write_job(round_folder(tmp_path), GOOD)
    proc = attach_listen(tmp_path, "0.5")
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 4 and b"nobody connected in 0.5 s" in err
    assert not (round_folder(tmp_path) / "endpoint.sock").exists()


def test_listen_leaves_a_live_endpoint_alone(tmp_path: Path) -> None:
    folder = round_folder(tmp_path)
    write_job(folder, GOOD)
    live = UnixEndpoint(str(folder / "endpoint.sock"))
    try:
        proc = attach_listen(tmp_path, "5")
        proc.communicate(timeout=20)
        assert proc.returncode == 0 and (folder / "endpoint.sock").exists()
    finally:
        live.close()


STATUSES = (
    "lab-a\t2.0\tii \n"  # configured at its new version
    "lab-slow\t2.0\tiF \n"  # half-configured: dpkg was killed in its postinst
)


def _dpkg(monkeypatch: pytest.MonkeyPatch, holders: list) -> list:
    """dpkg-query answers STATUSES; dpkg's lock is held by each of holders in turn."""
    from patchpilot.client.backends import dpkg

    asked = []

    def run(argv, timeout=None):  # type: ignore[no-untyped-def]
        asked.append(list(argv))
        return dpkg.Command(tuple(argv), 0, STATUSES)

    monkeypatch.setattr(dpkg, "run_command", run)
    monkeypatch.setattr(dpkg, "_held_lock", lambda files, pids: holders.pop(0) if holders else None)
    monkeypatch.setattr(dpkg.time, "sleep", lambda seconds: None)
    return asked


def test_installed_reads_dpkg_once_its_lock_is_free(
    monkeypatch: pytest.MonkeyPatch, capsys: "pytest.CaptureFixture[str]"
) -> None:
    from patchpilot.client.cli import main

    holder = {"lock": "/var/lib/dpkg/lock", "pid": 42}
    holders = [holder, holder]
    asked = _dpkg(monkeypatch, holders)
    assert main(["installed", "--backend", "apt-cli", "--", "lab-slow", "lab-a"]) == 0
    assert holders == [] and asked[0][-2:] == ["lab-a", "lab-slow"]
    answer = json.loads(capsys.readouterr().out)
    assert answer == {"versions": {"lab-a": "2.0"}, "lock_held": ""}  # only the configured


def test_installed_reads_anyway_and_says_so_when_the_lock_stays_held(
    monkeypatch: pytest.MonkeyPatch, capsys: "pytest.CaptureFixture[str]"
) -> None:
    from patchpilot.client.cli import main

    _dpkg(monkeypatch, [{"lock": "/var/lib/dpkg/lock", "pid": 42}] * 1000)
    argv = ["installed", "--backend", "apt-cli", "--lock-timeout", "0", "--", "lab-a"]
    assert main(argv) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["versions"] == {"lab-a": "2.0"} and "still held" in answer["lock_held"]
