"""The /proc reading of client/replaced.py: replaced mappings, units from cgroups, a whole scan."""

import os
from pathlib import Path

from patchpilot.client.replaced import StaleProcess, deleted_paths, own_unit, scan, unit_of

MAPS = """\
5582cb1da000-5582cb1e0000 r--p 00000000 00:2a 1627722   /usr/lib/systemd/systemd
7f00aa000000-7f00aa100000 r-xp 0 00:2a 1700001 /usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)
7f00aa100000-7f00aa200000 r--p 0 00:2a 1700001 /usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)
7f00ab000000-7f00ab100000 r--p 00000000 00:2a 1700002   /usr/lib/locale/locale-archive (deleted)
7f00ac000000-7f00ac100000 r-xp 00000000 00:2a 1700003   /tmp/jit-1234 (deleted)
7f00ad000000-7f00ad100000 r-xp 00000000 00:01 1700004   /memfd:jit (deleted)
7f00ae000000-7f00ae100000 r-xp 00000000 00:2a 1700005   /usr/lib/lab/liblabsvc.so.1 (deleted)
7f00af000000-7f00af100000 r-xp 00000000 00:2a 1700005   /usr/lib/lab/liblabsvc.so.1 (deleted)
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0         [stack]
"""

V1 = """\
9:name=systemd:/system.slice/ssh.service
8:pids:/
0::/system.slice/ssh.service
"""
V2 = "0::/system.slice/lab-svcd.service\n"
USER = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.service\n"


def test_only_replaced_executable_mappings_of_real_files_count() -> None:
    assert deleted_paths(MAPS) == [
        "/usr/lib/x86_64-linux-gnu/libssl.so.3",
        "/usr/lib/lab/liblabsvc.so.1",
    ]
    assert deleted_paths("") == []
    assert deleted_paths("garbage line\n") == []


def test_unit_of_cgroup_v1_v2_pid1_and_user_managers() -> None:
    assert unit_of(V1) == "ssh.service"
    assert unit_of(V2) == "lab-svcd.service"
    assert unit_of("0::/init.scope\n") == "init.scope"
    assert unit_of("0::/user.slice/user-0.slice/session-4.scope\n") == "session-4.scope"
    assert unit_of(USER) == "user@1000.service"
    assert unit_of("0::/\n") == "" and unit_of("") == ""


def _process(proc: Path, pid: int, exe: str, maps: str, cgroup: str) -> None:
    folder = proc / str(pid)
    folder.mkdir()
    os.symlink(exe, str(folder / "exe"))
    (folder / "maps").write_text(maps)
    (folder / "cgroup").write_text(cgroup)


def test_scan_reads_exe_maps_and_cgroup(tmp_path: Path) -> None:
    _process(tmp_path, 1, "/usr/lib/systemd/systemd", MAPS, "0::/init.scope\n")
    _process(tmp_path, 40, "/usr/sbin/sshd (deleted)", "", V1)
    _process(tmp_path, 41, "/usr/bin/python3.11", "", V2)  # nothing replaced
    _process(tmp_path, 42, "/usr/bin/python3.11", MAPS, V2)
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "cgroup").write_text("0::/system.slice/patchpilot-r1-r1.service\n")
    (tmp_path / "2").mkdir()  # a kernel thread: no exe link
    assert scan(str(tmp_path), skip=(42,)) == [
        StaleProcess(1, "init.scope", "/usr/lib/x86_64-linux-gnu/libssl.so.3"),
        StaleProcess(40, "ssh.service", "/usr/sbin/sshd"),
    ]
    assert len(scan(str(tmp_path))) == 3
    assert own_unit(str(tmp_path)) == "patchpilot-r1-r1.service"
    assert scan(str(tmp_path / "missing")) == []
