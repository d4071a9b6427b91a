"""JUnit XML: valid against the Jenkins JUnit schema, one case per server, failures, skips."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import xmlschema
from report_samples import HOSTILE_HOST, check_only_report, fleet_report

from patchpilot.connector.reports.junit import render_junit

SCHEMA = xmlschema.XMLSchema(Path(__file__).with_name("jenkins-junit.xsd"))


def test_fleet_validates_against_the_jenkins_schema() -> None:
    text = render_junit(fleet_report())
    SCHEMA.validate(text)
    root = ET.fromstring(text)
    (suite,) = root.findall("testsuite")
    assert suite.attrib["tests"] == "3" and suite.attrib["failures"] == "1"
    assert suite.attrib["skipped"] == "1" and suite.attrib["time"] == "100.000"
    cases = {c.attrib["name"]: c for c in suite.findall("testcase")}
    assert list(cases) == ["web-1", HOSTILE_HOST, "db-3"]  # markup kept as text
    assert cases["web-1"].find("failure") is None
    failure = cases[HOSTILE_HOST].find("failure")
    assert failure is not None
    assert failure.attrib["message"].startswith("partial-failure (exit code 30): round 1:")
    assert "\x07" not in text and "lab-fail 2.0 failed" in (failure.text or "")
    skipped = cases["db-3"].find("skipped")
    assert skipped is not None and "not started" in (skipped.text or "")


def test_check_only_validates() -> None:
    SCHEMA.validate(render_junit(check_only_report()))


def test_the_schema_rejects_what_jenkins_would() -> None:
    bad = '<testsuites><testsuite name="x"><testcase name="a"/></testsuite></testsuites>'
    assert not SCHEMA.is_valid(bad)  # tests= is required on a suite
