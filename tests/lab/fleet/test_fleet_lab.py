"""`patchpilot fleet` on real lab servers: batches, limits, group overrides, the failure
threshold, resume after the connector is killed, and malformed inventories.

Each test runs the real command (a subprocess, as a scheduler would) over its own fresh
servers and checks the servers themselves (boot ids, installed versions), not only the output.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from webhook_server import webhook_server

from patchpilot.lab.catalog import FINAL_VERSIONS, SLOW_SECONDS_FILE
from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server

pytestmark = pytest.mark.lab

PATCHPILOT = str(Path(sys.executable).with_name("patchpilot"))
REFUSED = {"ansible_host": "127.0.0.1", "ansible_port": 1}  # connection refused at once


@pytest.fixture
def servers(lab: Lab, request: pytest.FixtureRequest) -> Iterator[list[Server]]:
    """Fresh servers for one test (how many: the test's `servers` parameter, default 2)."""
    fresh = lab.add_servers(getattr(request, "param", 2))
    try:
        yield fresh
    finally:
        for server in fresh:
            lab.remove_server(server.name)


def _host(server: Server) -> dict[str, Any]:
    return {"ansible_host": server.address, "ansible_port": server.ssh_port}


def _write_inventory(path: Path, lab: Lab, groups: dict[str, dict[str, Any]]) -> Path:
    common = {"ansible_user": "root", "ansible_ssh_private_key_file": str(lab.key_path)}
    path.write_text(yaml.safe_dump({"all": {"vars": common, "children": groups}}, sort_keys=False))
    return path


def _argv(lab: Lab, inventory: Path, tmp_path: Path, *args: str) -> list[str]:
    known_hosts = str(lab.known_hosts_path)
    state = str(tmp_path / "state")
    return [PATCHPILOT, "fleet", str(inventory), "--known-hosts", known_hosts, "--state-dir", state,
            *args]  # fmt: skip


def _fleet(
    lab: Lab, inventory: Path, tmp_path: Path, *args: str
) -> tuple[int, str, dict[str, Any] | None]:
    """Run `patchpilot fleet`; return exit status, stdout and the fleet result (last line)."""
    argv = _argv(lab, inventory, tmp_path, *args)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=150)
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    return done.returncode, done.stdout + done.stderr, result


def _versions(lab: Lab, server: Server) -> dict[str, str]:
    out = lab.ssh(server.name, ["dpkg-query", "-W", "-f=${Package}=${Version}\\n", "lab-*"])
    return dict(line.split("=", 1) for line in out.stdout.split())


def _where(output: str, server: str, text: str) -> int:
    """Return where the line `server | text` starts (the name is padded to the longest one)."""
    found = re.search(rf"^{re.escape(server)} *\| {re.escape(text)}", output, re.MULTILINE)
    assert found is not None, f"{server} | {text}\n{output}"
    return found.start()


def _by_host(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["host"]: s for s in result["servers"]}


@pytest.mark.parametrize("servers", [4], indirect=True)
def test_batches_limit_and_group_overrides(lab: Lab, servers: list[Server], tmp_path: Path) -> None:
    web, db = servers[:2], servers[2:]
    before = {s.name: lab.boot_id(s.name) for s in servers}
    inventory = _write_inventory(
        tmp_path / "inv.yml",
        lab,
        {
            "web": {
                "vars": {"patchpilot_reboot": "never"},
                "hosts": {s.name: _host(s) for s in web},
            },
            "db": {"hosts": {s.name: _host(s) for s in db}},
            "broken": {"hosts": {"unreachable-1": REFUSED}},
        },
    )
    code, output, result = _fleet(
        lab, inventory, tmp_path, "--limit", "all:!broken", "--serial", "2", "--run-id", "batches"
    )
    assert result is not None, output
    hosts = _by_host(result)
    assert sorted(hosts) == sorted(s.name for s in servers)  # the limit left the broken host out
    assert f"batch 1: {web[0].name} {web[1].name}" in output
    assert f"batch 2: {db[0].name} {db[1].name}" in output
    last_web_end = max(_where(output, s.name, "run.end") for s in web)
    assert last_web_end < min(_where(output, s.name, "run.start batches.") for s in db)
    for server in web:  # the group's `patchpilot_reboot: never` held: updated, not rebooted
        assert hosts[server.name]["result"]["outcome"] == "success-reboot-pending"
        assert lab.boot_id(server.name) == before[server.name]
        assert _versions(lab, server)["lab-kernel"] == FINAL_VERSIONS["lab-kernel"]
    for server in db:
        assert hosts[server.name]["exit_code"] == 0
        assert lab.boot_id(server.name) != before[server.name]
        assert _versions(lab, server) == FINAL_VERSIONS
    round_one = {
        s.name: {
            (u["id"], u["version"]) for u in hosts[s.name]["result"]["updates"] if u["round"] == 1
        }
        for s in servers
    }
    assert len({frozenset(v) for v in round_one.values()}) == 1  # one frozen plan everywhere
    assert code == 10 and result["exit_code"] == 10  # success, reboots pending on web


@pytest.mark.parametrize("servers", [2], indirect=True)
def test_failures_over_the_threshold_stop_new_batches(
    lab: Lab, servers: list[Server], tmp_path: Path
) -> None:
    in_flight, never_started = servers
    before = lab.boot_id(never_started.name)
    inventory = _write_inventory(
        tmp_path / "inv.yml",
        lab,
        {
            "site": {
                "hosts": {
                    "unreachable-1": REFUSED,
                    in_flight.name: _host(in_flight),
                    never_started.name: _host(never_started),
                }
            },
        },
    )
    code, output, result = _fleet(
        lab,
        inventory,
        tmp_path,
        "--serial",
        "2",
        "--max-fail-percent",
        "40",
        "--plan-from",
        in_flight.name,
        "--run-id",
        "threshold",
    )
    assert result is not None, output
    hosts = _by_host(result)
    assert "failure threshold exceeded (1/2 failed)" in output
    assert hosts["unreachable-1"]["status"] == "failed"
    assert hosts[in_flight.name]["status"] == "succeeded"  # in flight: finished properly
    assert _versions(lab, in_flight) == FINAL_VERSIONS
    assert hosts[never_started.name]["status"] == "not-started"
    assert lab.boot_id(never_started.name) == before
    assert _versions(lab, never_started)["lab-base-a"] == "1.0"
    assert result["stopped_early"] and code == result["exit_code"] == 86


@pytest.mark.parametrize("servers", [2], indirect=True)
def test_same_run_id_resumes_every_server_after_a_kill(
    lab: Lab, servers: list[Server], tmp_path: Path
) -> None:
    inventory = _write_inventory(
        tmp_path / "inv.yml", lab, {"site": {"hosts": {s.name: _host(s) for s in servers}}}
    )
    argv = _argv(lab, inventory, tmp_path, "--run-id", "resume")
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as first:
        assert first.stdout is not None
        for line in first.stdout:  # kill the connector while a server reboots
            if "phase.await_reboot" in line:
                break
        os.kill(first.pid, signal.SIGKILL)
    code, output, result = _fleet(lab, inventory, tmp_path, "--run-id", "resume")
    assert result is not None, output
    assert code == 0 and result["totals"]["succeeded"] == 2
    for server in servers:
        assert _where(output, server.name, f"run.start resume.{server.name} (install, resumed)")
        body = _by_host(result)[server.name]["result"]
        assert body["reboots"]["count"] == 1 and len(body["rounds"]) == 2
        assert _versions(lab, server) == FINAL_VERSIONS


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        (
            "web:\n  hosts:\n    w1:\n      ansible_port: 99999\n",
            (),
            "inv.yml:4: malformed inventory: ansible_port must be a port number",
        ),
        ("web:\n  hosts:\n    - w1\n", (), "inv.yml:3: malformed inventory: hosts of 'web'"),
        (
            "web:\n  vars:\n    patchpilot_reboot: sometimes\n  hosts:\n    w1:\n",
            (),
            "inv.yml:3: patchpilot_reboot",
        ),
        ("web:\n  hosts:\n    w1:\n", ("--limit", "db"), "--limit 'db' matches no host"),
    ],
    ids=["bad-port", "hosts-as-list", "bad-option-value", "limit-matches-nothing"],
)
def test_a_malformed_inventory_touches_no_server(
    lab: Lab, tmp_path: Path, text: str, args: tuple[str, ...], message: str
) -> None:
    inventory = tmp_path / "inv.yml"
    inventory.write_text(text)
    code, output, result = _fleet(lab, inventory, tmp_path, *args)
    assert code == 64 and result is None
    assert message in output
    assert not (tmp_path / "state").exists()  # the state store was not even opened


@pytest.mark.parametrize("servers", [3], indirect=True)
def test_deadline_starts_no_new_server_and_lets_the_running_one_finish(
    lab: Lab, servers: list[Server], tmp_path: Path
) -> None:
    """Issue 13: the window closes while the first server works; per-group hooks from the
    inventory (`patchpilot_local_hook_post`) run on the servers that did start."""
    first = servers[0]
    lab.install_opt_in(first, "lab-slow")
    lab.ssh(first.name, ["sh", "-c", f"echo 25 > {SLOW_SECONDS_FILE}"])
    posts = tmp_path / "posts"
    group_vars = {
        "patchpilot_reboot": "never",
        "patchpilot_local_hook_post": f'echo "$PATCHPILOT_TARGET" >> {posts}',
    }
    inventory = _write_inventory(
        tmp_path / "inv.yml",
        lab,
        {"site": {"vars": group_vars, "hosts": {s.name: _host(s) for s in servers}}},
    )
    before = {s.name: _versions(lab, s) for s in servers[1:]}
    code, output, result = _fleet(
        lab, inventory, tmp_path, "--concurrency", "1", "--deadline", "+15s", "--run-id", "win"
    )
    assert result is not None, output
    assert code == 84 and result["exit_code"] == 84 and result["window_closed"], output
    hosts = _by_host(result)
    assert hosts[first.name]["exit_code"] == 10  # finished its round after the deadline
    assert _versions(lab, first)["lab-slow"] == "2.0"
    for server in servers[1:]:
        assert hosts[server.name]["status"] == "not-started"
        assert _versions(lab, server) == before[server.name]
    assert posts.read_text().split() == [first.name]
    assert "the maintenance window ended" in output


@pytest.mark.parametrize("servers", [3], indirect=True)
def test_ansible_json_and_script_inventories_select_what_the_yaml_does(
    lab: Lab, servers: list[Server], tmp_path: Path
) -> None:
    """Issue 13: `ansible-inventory --list` of the YAML, as a file, as an executable script and
    as --inventory-command, patches the same servers (check-only) as the YAML itself."""
    venv = subprocess.run(
        [str(Path(__file__).parents[3] / "scripts" / "ansible-venv.sh")],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout.strip()
    web, db = servers[:2], servers[2:]
    inventory = _write_inventory(
        tmp_path / "inv.yml",
        lab,
        {
            "web": {"hosts": {s.name: _host(s) for s in web}},
            "db": {"hosts": {s.name: _host(s) for s in db}},
            "broken": {"hosts": {"unreachable-1": REFUSED}},
        },
    )
    env = {**os.environ, "ANSIBLE_HOME": str(tmp_path / "ansible-home")}
    listed = subprocess.run(
        [f"{venv}/bin/ansible-inventory", "-i", str(inventory), "--list"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    as_json = tmp_path / "inv.json"
    as_json.write_text(listed)
    script = tmp_path / "inventory-script"
    script.write_text(f"#!/bin/sh\n[ \"$1\" = --list ] && exec cat {as_json}\necho '{{}}'\n")
    script.chmod(0o755)
    selections = []
    sources = ([str(inventory)], [str(as_json)], [str(script)],
               ["--inventory-command", f"cat {as_json}"])  # fmt: skip
    for number, source in enumerate(sources):
        # a run id of its own each time: the servers keep each run's journal
        argv = [*source, "--check-only", "--limit", "db:web:!broken", "--run-id", f"s{number}"]
        listed_hosts = subprocess.run(
            [
                PATCHPILOT,
                "fleet",
                *argv,
                "--list-hosts",
                "--known-hosts",
                str(lab.known_hosts_path),
            ],
            capture_output=True,
            text=True,
        ).stdout
        selections.append(listed_hosts)
        state = tmp_path / f"state-{len(selections)}"
        command = [PATCHPILOT, "fleet", *argv, "--known-hosts", str(lab.known_hosts_path)]
        with subprocess.Popen(
            [*command, "--state-dir", str(state), "--log-format", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as job:
            try:
                out, _ = job.communicate(timeout=300)
            except subprocess.TimeoutExpired:
                job.kill()
                raise AssertionError(f"fleet hung: {job.communicate()[0][-6000:]}") from None
        result = json.loads(out.strip().splitlines()[-1])
        assert job.returncode == 20, out  # updates available on each
        assert [s["host"] for s in result["servers"]] == [db[0].name, web[0].name, web[1].name]
    names = [db[0].name, web[0].name, web[1].name]
    assert selections[0] == (
        f"  hosts (3):\n    {names[0]}\n    {names[1]}\n    {names[2]}\n"
        f"  plan groups (1):\n    deb/debian-12 (plan from {names[0]}): {', '.join(names)}\n"
    )
    assert len(set(selections)) == 1


@pytest.mark.parametrize("servers", [2], indirect=True)
def test_a_fleet_notifies_once_with_every_server(
    lab: Lab, servers: list[Server], tmp_path: Path
) -> None:
    """Issue 24 (2): one summary for the whole fleet, to the URL the inventory's group sets
    (`patchpilot_notify`) and the one on the command line, each once."""
    with webhook_server() as hooks:
        inventory = _write_inventory(
            tmp_path / "inv.yml",
            lab,
            {
                "web": {
                    "vars": {"patchpilot_notify": f"{hooks.base}/from-inventory"},
                    "hosts": {s.name: _host(s) for s in servers},
                }
            },
        )
        code, output, result = _fleet(
            lab, inventory, tmp_path, "--check-only", "--run-id", "told",
            "--notify", f"teams:{hooks.base}/from-cli",
        )  # fmt: skip
        received = {r.path: r.body for r in hooks.received}
        assert len(hooks.received) == 2, [r.path for r in hooks.received]
    assert code == 20 and result is not None, output
    generic = received["/from-inventory"]
    assert (generic["kind"], generic["run_id"], generic["exit_code"]) == ("fleet", "told", 20)
    assert sorted(s["host"] for s in generic["servers"]) == sorted(s.name for s in servers)
    assert {s["outcome"] for s in generic["servers"]} == {"updates-available"}
    card = received["/from-cli"]["attachments"][0]["content"]
    assert card["body"][0]["text"].startswith("patchpilot fleet told: success (exit 20)")


@pytest.mark.parametrize("servers", [3], indirect=True)
def test_max_fail_counts_failures_across_batches(
    lab: Lab, servers: list[Server], tmp_path: Path
) -> None:
    """Issue 24 (4): one unreachable server in each of the first two batches (half of each:
    never over --max-fail-percent 50) makes 2 failures in all: --max-fail 2 keeps batch 3
    from starting."""
    first, second, last = servers
    site = {
        "unreachable-1": REFUSED, first.name: _host(first),
        "unreachable-2": REFUSED, second.name: _host(second),
        last.name: _host(last),
    }  # fmt: skip
    inventory = _write_inventory(tmp_path / "inv.yml", lab, {"site": {"hosts": site}})
    code, output, result = _fleet(
        lab, inventory, tmp_path, "--check-only", "--serial", "2", "--max-fail-percent", "50",
        "--max-fail", "2", "--run-id", "budget",
    )  # fmt: skip
    assert result is not None, output
    hosts = _by_host(result)
    assert "failure threshold exceeded (2 failed in all batches (--max-fail 2))" in output
    assert [hosts[h]["status"] for h in ("unreachable-1", "unreachable-2")] == ["failed"] * 2
    assert hosts[first.name]["status"] == hosts[second.name]["status"] == "succeeded"
    assert hosts[last.name]["status"] == "not-started"
    assert result["stopped_early"] and code == result["exit_code"] == 86


@pytest.mark.parametrize("servers", [2], indirect=True)
def test_a_paused_fleet_waits_and_resume_lets_it_go_on(
    lab: Lab, servers: list[Server], tmp_path: Path
) -> None:
    """Issue 24 (4): `patchpilot pause` before the servers start keeps them waiting (the job
    output says so); `patchpilot resume` lets the rollout go on to the end."""
    inventory = _write_inventory(
        tmp_path / "inv.yml", lab, {"site": {"hosts": {s.name: _host(s) for s in servers}}}
    )
    state = ["--state-dir", str(tmp_path / "state")]
    paused = subprocess.run(
        [PATCHPILOT, "pause", "held-up", *state], capture_output=True, text=True, check=True
    )
    assert "fleet held-up paused" in paused.stdout
    argv = _argv(lab, inventory, tmp_path, "--check-only", "--run-id", "held-up")
    log = tmp_path / "fleet.out"
    with (
        log.open("w") as out,
        subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT) as fleet,
    ):
        deadline = time.monotonic() + 60
        while "paused (" not in log.read_text():
            assert time.monotonic() < deadline and fleet.poll() is None, log.read_text()
            time.sleep(0.2)
        time.sleep(3)  # paused: nothing starts meanwhile
        assert "run.start" not in log.read_text(), log.read_text()
        resumed = subprocess.run(
            [PATCHPILOT, "resume", "held-up", *state], capture_output=True, text=True, check=True
        )
        assert "fleet held-up resumed" in resumed.stdout
        assert fleet.wait(timeout=150) == 20, log.read_text()
    output = log.read_text()
    assert "resumed: servers start again" in output
    result = json.loads(output.strip().splitlines()[-1])
    assert {s["status"] for s in result["servers"]} == {"succeeded"}
