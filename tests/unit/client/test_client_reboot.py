"""The client's reboot: a command only counts once the shutdown shows; else the next one."""

from typing import Dict, List, Optional, Sequence, Set, Tuple

from patchpilot.client.reboot import REBOOT_COMMANDS, issue_reboot


class FakeServer:
    """Answers reboot commands and `is-system-running` as a scripted systemd server would."""

    def __init__(self, exits: Dict[str, int], takes_effect: Set[str]) -> None:
        self.exits = exits
        self.takes_effect = takes_effect
        self.state = "running"
        self.ran: List[str] = []
        self.now = 0.0

    def run(self, argv: Sequence[str]) -> Tuple[int, str]:
        command = " ".join(argv)
        self.ran.append(command)
        if command in self.takes_effect:
            self.state = "stopping"
        status = self.exits.get(command, 0)
        return status, "no answer in 60 s" if status == -1 else ""

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def reboot(self) -> Tuple[Optional[str], List[str]]:
        return issue_reboot(
            commands=REBOOT_COMMANDS,
            run=self.run,
            state=lambda: self.state,
            wait=10,
            sleep=self.sleep,
            clock=lambda: self.now,
        )


def test_the_first_command_that_starts_the_shutdown_counts() -> None:
    server = FakeServer({}, {"systemctl reboot"})
    assert server.reboot() == ("systemctl reboot", [])
    assert server.ran == ["systemctl reboot"] and server.now == 0


def test_an_accepted_request_that_never_took_effect_tries_the_next_command() -> None:
    server = FakeServer({}, {"shutdown -r now"})
    issued, failures = server.reboot()
    assert issued == "shutdown -r now"
    assert failures == ["systemctl reboot: exit 0, but the system is still running after 10 s"]
    assert server.now >= 10


def test_a_command_that_timed_out_may_still_have_queued_the_shutdown() -> None:
    server = FakeServer({"systemctl reboot": -1}, {"systemctl reboot"})
    assert server.reboot() == ("systemctl reboot", [])


def test_nothing_took_effect_lists_every_failure() -> None:
    server = FakeServer({"systemctl reboot": 1, "reboot": -1}, set())
    issued, failures = server.reboot()
    assert issued is None
    assert failures == [
        "systemctl reboot: exit 1 ",
        "shutdown -r now: exit 0, but the system is still running after 10 s",
        "reboot: no answer in 60 s, but the system is still running after 10 s",
    ]


def test_without_systemd_the_exit_status_is_all_there_is() -> None:
    issued, failures = issue_reboot(
        commands=[("reboot",)], run=lambda argv: (0, ""), state=lambda: None, wait=10
    )
    assert (issued, failures) == ("reboot", [])
