"""Golden cases for what dnf4, rpm and zypper print (captured from Debian 12's packages)."""

from patchpilot.client.backends.rpmparse import (
    parse_available,
    parse_installed,
    parse_needs_restarting,
    parse_scriptlet_errors,
    parse_updateinfo_info,
    parse_updateinfo_list,
    split_nevra,
)
from patchpilot.client.backends.zypperparse import (
    parse_list_updates,
    parse_messages,
    parse_updateinfo_xml,
)

REPOQUERY = (
    "lab-base-a\t0\t2.0\t1\tnoarch\tlab\t6133\tpatchpilot lab package lab-base-a\n\n"
    "lab-epoch\t1\t0.9\t1\tnoarch\tlab\t6151\tpatchpilot lab package lab-epoch\n\n"
)
LIST = (
    "LAB-2026:0003 bugfix         lab-base-a-2.0-1.noarch\n"
    "LAB-2026:0002 Critical/Sec.  lab-kernel-2.0-1.noarch\n"
)
INFO = """===============================================================================
  lab-base fixes
===============================================================================
  Update ID: LAB-2026:0003
       Type: bugfix
    Updated: 2026-01-15 00:00:00
Description: lab-base fixes
   Severity: Moderate

===============================================================================
  lab-kernel fix
===============================================================================
  Update ID: LAB-2026:0002
       Type: security
    Updated: 2026-01-15 00:00:00
       CVEs: CVE-2026-1002
           : CVE-2026-1003
Description: lab-kernel fix
   Severity: Critical
"""
DNF_SCRIPTLET = (
    "  Running scriptlet: lab-fail-2.0-1.noarch                                  2/8 \n"
    "lab-fail: simulated scriptlet failure\n"
    "warning: %post(lab-fail-2.0-1.noarch) scriptlet failed, exit status 1\n"
    "Error in POSTIN scriptlet in rpm package lab-fail\n"
)
ZYPPER_LU = """<?xml version='1.0'?>
<stream>
<message type="info">Loading repository data...</message>
<update-status version="0.6">
<update-list>
<update kind="package" name="lab-epoch" edition="1:0.9-1" arch="noarch" edition-old="1.0-1"><summary>patchpilot lab package lab-epoch</summary><description>x</description><license/><source url="file:/repo/rpm/lab/" alias="lab"/></update></update-list>
</update-status>
</stream>
"""  # noqa: E501
UPDATEINFO = """<?xml version="1.0" encoding="UTF-8"?>
<updates>
  <update from="lab@patchpilot.invalid" status="stable" type="security" version="1">
    <id>LAB-2026:0002</id>
    <severity>Critical</severity>
    <reboot_suggested>True</reboot_suggested>
    <references>
      <reference href="x" id="CVE-2026-1003" type="cve" title="CVE-2026-1003"/>
      <reference href="x" id="CVE-2026-1002" type="cve" title="CVE-2026-1002"/>
      <reference href="x" id="123" type="bugzilla" title="bz"/>
    </references>
    <pkglist><collection short="lab"><name>lab</name>
      <package name="lab-kernel" version="2.0" release="1" epoch="0" arch="noarch" src="x"/>
    </collection></pkglist>
  </update>
</updates>
"""


def test_repoquery_and_rpm_query() -> None:
    found = parse_available(REPOQUERY)
    assert [(a.name, a.evr, a.size, a.nevra) for a in found] == [
        ("lab-base-a", "2.0-1", 6133, "lab-base-a-2.0-1.noarch"),
        ("lab-epoch", "1:0.9-1", 6151, "lab-epoch-1:0.9-1.noarch"),
    ]
    rpm = (
        "lab-epoch\t1\t0.9\t1\tnoarch\nlab-a\t(none)\t2.0\t1\tnoarch\npackage x is not installed\n"
    )
    assert parse_installed(rpm) == {"lab-epoch": "1:0.9-1", "lab-a": "2.0-1"}


def test_updateinfo_list_and_info() -> None:
    assert parse_updateinfo_list(LIST) == {
        "lab-base-a-2.0-1.noarch": [("LAB-2026:0003", "bugfix")],
        "lab-kernel-2.0-1.noarch": [("LAB-2026:0002", "Critical/Sec.")],
    }
    info = parse_updateinfo_info(INFO)
    assert info["LAB-2026:0003"].severity == "Moderate"
    kernel = info["LAB-2026:0002"]
    assert (kernel.kind, kernel.severity, kernel.cves) == (
        "security",
        "Critical",
        ("CVE-2026-1002", "CVE-2026-1003"),
    )


def test_scriptlet_errors_and_needs_restarting() -> None:
    errors = parse_scriptlet_errors(DNF_SCRIPTLET)
    assert list(errors) == ["lab-fail"] and "%post" in errors["lab-fail"]
    text = "Core libraries or services have been updated since boot-up:\n  * lab-kernel\n"
    assert parse_needs_restarting(1, text) == ["lab-kernel"]
    assert parse_needs_restarting(0, "") == []
    assert parse_needs_restarting(2, "error") is None
    assert split_nevra("lab-epoch-1:0.9-1.noarch") == ("lab-epoch", "1:0.9-1", "noarch")


def test_zypper_xml() -> None:
    [(candidate, old)] = parse_list_updates(ZYPPER_LU)
    assert (candidate.name, candidate.evr, candidate.repo, old) == (
        "lab-epoch",
        "1:0.9-1",
        "lab",
        "1.0-1",
    )
    assert parse_messages(ZYPPER_LU) == [("info", "Loading repository data...")]
    info = parse_updateinfo_xml(UPDATEINFO)[("lab-kernel", "2.0-1")]
    assert (info.id, info.kind, info.severity, info.reboot_suggested) == (
        "LAB-2026:0002",
        "security",
        "Critical",
        True,
    )
    assert info.cves == ("CVE-2026-1002", "CVE-2026-1003")


def test_xml_with_a_doctype_is_refused() -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><updates>&a;</updates>'
    assert parse_updateinfo_xml(bomb) == {}
    assert parse_list_updates("not xml at all") == []
