"""Real lab servers: identity, SSH by key with strict host keys, services, reboots."""

from __future__ import annotations

import subprocess
import time

import pytest

from patchpilot.lab import PLAIN_USER, SUDO_USER, Lab, Server

pytestmark = pytest.mark.lab


def test_server_answers_ssh_with_its_own_identity(lab: Lab, lab_server: Server) -> None:
    out = lab.ssh(
        lab_server.name,
        ["sh", "-c", "hostname; systemctl is-active ssh atd; cut -d. -f1 /proc/uptime"],
    ).stdout.split()
    assert out[0] == lab_server.name
    assert out[1:3] == ["active", "active"]
    assert int(out[3]) < 60  # its own time namespace: a fresh uptime
    assert lab_server.name in lab.known_hosts_path.read_text()


def test_plain_openssh_uses_the_lab_files(lab: Lab, lab_server: Server) -> None:
    result = subprocess.run(
        ["ssh", "-F", str(lab.ssh_config_path), "-o", "BatchMode=yes", lab_server.name, "true"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_password_login_is_refused(lab: Lab, lab_server: Server) -> None:
    sshd = lab.ssh(lab_server.name, ["sshd", "-T"]).stdout
    assert "passwordauthentication no" in sshd
    assert "permitrootlogin without-password" in sshd


def test_reboot_ends_every_process_and_keeps_the_disk(lab: Lab, lab_server: Server) -> None:
    name = lab_server.name
    script = (
        "systemd-run --unit=lab-sleeper sleep 1000 && "
        "(setsid nohup sleep 999 >/dev/null 2>&1 &) && "
        "touch /tmp/scratch /root/kept"
    )
    lab.ssh(name, ["sh", "-c", script])
    before = lab.boot_id(name)
    after = lab.reboot(name)
    assert after is not None and after != before
    left = lab.ssh(name, ["sh", "-c", "pgrep -c sleep; ls /tmp/scratch /root/kept"], check=False)
    assert left.stdout.split()[0] == "0"
    assert "/root/kept" in left.stdout and "/tmp/scratch" not in left.stdout
    assert lab.ssh(name, ["cat", "/proc/sys/kernel/random/boot_id"]).stdout.strip() == after


def test_reboot_from_inside_comes_back_with_a_new_boot_id(lab: Lab, lab_server: Server) -> None:
    name = lab_server.name
    before = lab.boot_id(name)
    lab.ssh(name, ["systemctl", "reboot"], check=False)
    deadline = time.monotonic() + 30
    while lab.boot_id(name) in (None, before):
        assert time.monotonic() < deadline, f"{name} did not come back"
        time.sleep(0.1)
    state = lab.ssh(name, ["systemctl", "is-system-running", "--wait"], check=False).stdout
    assert state.strip() == "running"


def test_unprivileged_users_log_in_by_key_and_only_one_may_sudo(
    lab: Lab, lab_server: Server
) -> None:
    script = "id -un; stat -c %U:%a ~ ~/.ssh ~/.ssh/authorized_keys; sudo -n id -un 2>&1"
    for user, sudo in ((SUDO_USER, ["root"]), (PLAIN_USER, ["sudo:", "a", "password"])):
        out = lab.ssh(lab_server.name, ["sh", "-c", script], user=user, check=False).stdout
        words = out.split()
        assert words[0] == user
        assert [w.split(":")[0] for w in words[1:4]] == [user] * 3  # the user's own home
        assert words[2:4] == [f"{user}:700", f"{user}:600"]
        assert words[4:7] == sudo, out


def test_an_ssh_login_is_a_logind_session_that_a_reboot_ends(lab: Lab, lab_server: Server) -> None:
    name = lab_server.name
    cgroup = lab.ssh(name, ["cat", "/proc/self/cgroup"]).stdout
    assert "/user.slice/user-0.slice/session-" in cgroup  # libpam-systemd, not ssh.service
    command = ["ssh", "-F", str(lab.ssh_config_path), "-o", "BatchMode=yes", name, "sleep 600"]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as held:
        deadline = time.monotonic() + 15
        while not lab.ssh(name, ["pgrep", "-x", "sleep"], check=False).stdout:
            assert time.monotonic() < deadline, "the held session did not start"
            time.sleep(0.1)
        before = lab.boot_id(name)
        assert lab.reboot(name, timeout=60) != before
        assert held.wait(timeout=30) != 0  # the session ended with the server, no hang
