"""dnf versionlock and zypper locks: which packages an administrator locked (reported held)."""

from pathlib import Path

from patchpilot.client.backends.base import Update
from patchpilot.client.backends.rpmlocks import (
    dnf_has_locks,
    dnf_lock_list,
    has_entries,
    is_locked,
    parse_zypp_locks,
)
from patchpilot.client.backends.rpmparse import parse_check_update_names

CONF = "[main]\nenabled = 1\nlocklist = /etc/dnf/plugins/versionlock.list\n"
CHECK_UPDATE = """
lab-base-a.noarch                            2.0-1                           lab
lab-epoch.noarch                             1:0.9-1                         lab
Obsoleting Packages
lab-new.noarch                               1.0-1                           lab
    lab-old.noarch                           0.9-1                           @System
"""
ZYPP_LOCKS = """# zypper locks
type: package
match_type: glob
case_sensitive: on
solvable_name: lab-base-c

solvable_name: kernel-*

type: pattern
solvable_name: lab-base-a

match_type: exact
solvable_name: lab-[x]
"""


def test_versionlock_conf_says_where_the_list_is_and_whether_it_counts() -> None:
    assert dnf_lock_list(CONF) == "/etc/dnf/plugins/versionlock.list"
    assert dnf_lock_list("[main]\nenabled = 1\n") == "/etc/dnf/plugins/versionlock.list"
    assert dnf_lock_list(CONF.replace("= 1", "= 0")) is None
    assert dnf_lock_list(None) is None  # the plugin is not installed
    assert dnf_lock_list("not ini") is None


def test_a_lock_list_counts_only_with_entries(tmp_path: Path) -> None:
    assert not has_entries("# Added lock on Mon\n\n")
    assert has_entries("# Added lock on Mon\nlab-base-c-0:1.0-1.*\n")
    listed = tmp_path / "versionlock.list"
    conf = tmp_path / "versionlock.conf"
    conf.write_text(CONF.replace("/etc/dnf/plugins/versionlock.list", str(listed)))
    assert not dnf_has_locks(str(conf))  # no list file yet
    listed.write_text("lab-base-c-0:1.0-1.*\n")
    assert dnf_has_locks(str(conf))
    assert not dnf_has_locks(str(tmp_path / "missing.conf"))


def test_check_update_lists_upgrades_without_the_obsoletes() -> None:
    assert parse_check_update_names(CHECK_UPDATE) == {"lab-base-a", "lab-epoch"}


def test_zypper_package_locks_by_glob_and_exact_name() -> None:
    patterns = parse_zypp_locks(ZYPP_LOCKS)
    assert is_locked("lab-base-c", patterns) and is_locked("kernel-default", patterns)
    assert not is_locked("lab-base-a", patterns)  # a pattern lock, not a package one
    assert is_locked("lab-[x]", patterns) and not is_locked("lab-x", patterns)


def test_a_locked_update_is_marked_held() -> None:
    update = Update("lab-base-c", "", "1.0-1", "1.1-1", categories=("package",))
    assert update.held_if({"lab-base-c"}).categories == ("package", "held")
    assert update.held_if(set()) is update
