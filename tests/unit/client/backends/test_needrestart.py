"""needrestart's batch output (`needrestart -b`), parsed."""

from patchpilot.client.backends.needrestart import NeedrestartReport, parse_batch

BATCH = """\
NEEDRESTART-VER: 3.6
NEEDRESTART-KCUR: 6.1.0-13-amd64
NEEDRESTART-KEXP: 6.1.0-18-amd64
NEEDRESTART-KSTA: 3
NEEDRESTART-UCSTA: 1
NEEDRESTART-SVC: ssh.service
NEEDRESTART-SVC: lab-svcd.service
NEEDRESTART-SVC: systemd-manager
NEEDRESTART-SVC: ssh.service
NEEDRESTART-SESS: alice @ session #3
"""


def test_services_sessions_kernel_and_pid1() -> None:
    report = parse_batch(BATCH)
    assert report.services == ["lab-svcd.service", "ssh.service"]
    assert report.sessions == ["alice @ session #3"]
    assert report.reasons == [
        "needrestart: the running kernel 6.1.0-13-amd64 is not the newest installed 6.1.0-18-amd64",
        "needrestart: systemd (PID 1) runs replaced libraries",
    ]


def test_nothing_pending_and_unknown_kernel_need_no_reboot() -> None:
    quiet = "NEEDRESTART-VER: 3.6\nNEEDRESTART-KSTA: 0\nNEEDRESTART-UCSTA: 0\n"
    assert parse_batch(quiet) == NeedrestartReport([], [], [])
    assert parse_batch("NEEDRESTART-KSTA: 1\nnoise\n").reasons == []


def test_microcode_update_pending_needs_a_reboot() -> None:
    assert parse_batch("NEEDRESTART-UCSTA: 2\n").reasons == [
        "needrestart: a CPU microcode update is pending"
    ]
