"""Which kernel a VM boots next: the newest in its /boot, as a boot loader would pick."""

from __future__ import annotations

from patchpilot.lab.vmimage import newest_version

LISTING = """/2/040755/0/0/./
/2/040755/0/0/../
/13/100644/0/0/config-6.1.0-9-cloud-amd64/123137/
/14/100644/0/0/vmlinuz-6.1.0-9-cloud-amd64/14149568/
/15/100644/0/0/vmlinuz-6.1.0-50-cloud-amd64/14149568/
/16/100644/0/0/initrd.img-6.1.0-50-cloud-amd64/15285211/
"""


def test_the_newest_kernel_wins_by_number_not_by_text() -> None:
    assert newest_version(LISTING) == "6.1.0-50-cloud-amd64"


def test_no_kernel_is_none() -> None:
    assert newest_version("/2/040755/0/0/./\n") is None
