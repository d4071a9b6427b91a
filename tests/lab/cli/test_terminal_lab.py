"""A person at a terminal: the real CLI in a real terminal (tmux), over real lab servers.

tmux gives the command a pseudo-terminal of 80 columns; `send-keys` types the command line
and `capture-pane` reads back what is on the screen (with the scrollback), which is what the
tests assert on: milestones and the recap, no JSON and no record dump, help not cut at 80
columns. The same command in a pipe still prints the job output with the JSON last.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

pytestmark = pytest.mark.lab

BIN = Path(sys.executable).parent
WIDTH, HEIGHT = 80, 40


class Terminal:
    """One tmux server (its own socket) with one 80-column window running bash."""

    def __init__(self, tmp_path: Path) -> None:
        self.socket = f"pp-{os.getpid()}-{tmp_path.name}"[:60]
        self.count = 0
        self.snapshots: list[str] = []  # the screen while the last command ran
        conf = tmp_path / "tmux.conf"
        conf.write_text("set -g history-limit 50000\n")
        env = f"PATH={BIN}:/usr/sbin:/usr/bin:/sbin:/bin"
        self._tmux("-f", str(conf), "new-session", "-d", "-s", "t", "-x", str(WIDTH),
                   "-y", str(HEIGHT), f"env -i HOME={tmp_path} TERM=xterm-256color {env} "
                   "bash --norc --noprofile")  # fmt: skip
        self._tmux("resize-window", "-t", "t", "-x", str(WIDTH), "-y", str(HEIGHT))

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, check=True, timeout=30)  # fmt: skip
        return done.stdout

    def run(self, command: str, timeout: float) -> tuple[int, str]:
        """Type command, wait for it to end; return its exit status and what it printed."""
        self.count += 1
        begin, done = f"BEGIN-{self.count}", f"DONE-{self.count}"
        self._tmux("send-keys", "-t", "t", f"echo {begin}; {command}; echo {done} rc=$?", "Enter")
        deadline = time.monotonic() + timeout
        self.snapshots = []
        while time.monotonic() < deadline:
            screen = self.capture()
            self.snapshots.append(screen)
            found = re.search(rf"^{begin}$(.*)^{done} rc=(\d+)$", screen, re.MULTILINE | re.DOTALL)
            if found:
                return int(found.group(2)), found.group(1)
            time.sleep(0.2)
        raise AssertionError(f"{command!r} did not end in {timeout} s:\n{self.capture()}")

    def capture(self, *, joined: bool = False) -> str:
        """Return the pane's text with its scrollback (joined: wrapped lines as one)."""
        return self._tmux("capture-pane", "-p", "-t", "t", "-S", "-", *(["-J"] if joined else []))

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(tmp_path)
    try:
        yield term
    finally:
        term.close()


@pytest.fixture
def servers(lab: Lab) -> Iterator[list[Server]]:
    fresh = lab.add_servers(2)
    try:
        yield fresh
    finally:
        for server in fresh:
            lab.remove_server(server.name)


def _inventory(path: Path, lab: Lab, servers: list[Server]) -> Path:
    hosts: dict[str, Any] = {
        s.name: {"ansible_host": s.address, "ansible_port": s.ssh_port} for s in servers
    }
    common = {"ansible_user": "root", "ansible_ssh_private_key_file": str(lab.key_path)}
    body = {"all": {"vars": common, "children": {"web": {"hosts": hosts}}}}
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def _fleet(lab: Lab, inventory: Path, tmp_path: Path, *args: str) -> str:
    argv = ["patchpilot", "fleet", str(inventory), "--known-hosts", str(lab.known_hosts_path),
            "--state-dir", str(tmp_path / "state"), *args]  # fmt: skip
    return shlex.join(argv)


def test_fleet_at_a_terminal_shows_milestones_and_a_recap(
    lab: Lab, servers: list[Server], terminal: Terminal, tmp_path: Path
) -> None:
    inventory = _inventory(tmp_path / "inventory.yml", lab, servers)
    code, screen = terminal.run(_fleet(lab, inventory, tmp_path, "--run-id", "night"), 400)
    text = terminal.capture(joined=True).split("\nBEGIN-1\n", 1)[1].split("\nDONE-1 rc=")[0]
    capture_to = os.environ.get("PATCHPILOT_TERMINAL_CAPTURE")
    if capture_to:  # what docs/usage.md shows
        Path(capture_to).write_text(text)
    assert code == 0, text
    for server in servers:
        prefix = re.compile(rf"{re.escape(server.name)} +\| ")  # padded to the longest name
        mine = [line for line in text.splitlines() if prefix.match(line)]
        said = "\n".join(mine)
        assert "started: install, run id night." in said, text
        assert re.search(r"round 1 started: \d+ update\(s\) to apply", said), text
        assert re.search(r"round 1 success: \d+ installed, 0 failed", said), text
        assert "reboot requested (" in said, text
        assert re.search(r"back after \d+ s, new boot id [0-9a-f-]{32,36}", said), text
        assert "ready" in mine[mine.index(next(m for m in mine if "back after" in m)) + 1], text
        assert re.search(r"done in \d+ s: success \(exit 0\)", said), text
        assert re.search(rf"^{server.name} +: success +installed=\d+ +failed=0 +reboots=1 +\d+ s$",
                         text, re.MULTILINE), text  # fmt: skip
    assert "RECAP ****" in text and "details: patchpilot result night." in text
    assert "connector log: " in text
    assert "{" not in text and "scan.done" not in text and "run.start" not in text  # no dump
    assert max(len(line) for line in screen.splitlines()) <= WIDTH
    # while it ran, the live table was at the bottom, with the install's progress
    live = "\n".join(terminal.snapshots)
    assert re.search(r"^server +state +round +phase +progress +reboots", live, re.MULTILINE)
    assert re.search(r"^lab-\d+ +running +1 +\S+ +install \d+/\d+ pkgs", live, re.MULTILINE), live
    # the client reported progress on real apt: it is in the stored journal
    status = subprocess.run(
        [str(BIN / "patchpilot"), "status", f"night.{servers[0].name}",
         "--state-dir", str(tmp_path / "state")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert re.search(r" progress stage=install percent=\S+ packages_done=\d+", status.stdout)
    # the same command in a pipe keeps the job output: every record, the JSON last
    code, _ = terminal.run(_fleet(lab, inventory, tmp_path, "--run-id", "night")
                           + f" > {tmp_path / 'piped.txt'}", 120)  # fmt: skip
    piped = (tmp_path / "piped.txt").read_text().splitlines()
    assert code == 0 and piped[-1].startswith('{"run_id":"night"')
    # the server column is as wide as the longest name (lab-9 or lab-10): match any padding
    assert re.match(r"fleet +\| batch 1: ", piped[0]) and "fleet summary" in piped


@pytest.mark.parametrize("command", ["run", "fleet"])
def test_help_at_80_columns_is_whole(command: str, terminal: Terminal) -> None:
    code, screen = terminal.run(f"patchpilot {command} --help", 30)
    assert code == 0
    lines = screen.splitlines()
    assert "…" not in screen and max(len(line) for line in lines) <= WIDTH
    found = re.findall(r"^([A-Z][a-z ]+):$", screen, re.MULTILINE)  # the groups, in order
    assert found[:2] == ["Arguments", "Selection"] and found[-1] == "Windows"
    assert "  Examples:" in screen
    assert "--identity-file" in screen and "--winrm-cert-validation" in screen


def test_unknown_host_suggests_close_names(lab: Lab, terminal: Terminal, tmp_path: Path) -> None:
    inventory = tmp_path / "inv.ini"
    inventory.write_text("[web]\nweb01 ansible_host=127.0.0.1 ansible_port=1\nweb02\n")
    code, screen = terminal.run(f"patchpilot run web1 -i {inventory}", 30)
    assert code == 64
    assert "no host 'web1' in the inventory; did you mean 'web01', 'web02'?" in " ".join(
        screen.split()
    )
    code, screen = terminal.run(
        f"patchpilot run web01 -i {inventory} --identity-file {lab.key_path} "
        f"--state-dir {tmp_path / 'state'} --json", 60)  # fmt: skip
    joined = terminal.capture(joined=True)
    text = " ".join(joined.split())
    assert code == 69
    assert f"tried address 127.0.0.1, port 1, user the local user, key {lab.key_path}" in text
    assert "RECAP" in text and "unreachable" in text
    assert '"outcome":"unreachable"' in joined  # --json: the result JSON at a terminal too
