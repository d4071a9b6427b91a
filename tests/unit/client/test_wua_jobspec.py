"""The job spec's `windows` object: WUA search options checked before anything runs."""

import json
from typing import Any

import pytest

from patchpilot.client.backends import make_backend
from patchpilot.client.backends.wua import WuaBackend
from patchpilot.client.backends.wua_fake import FakeWindows, fake_adapter
from patchpilot.client.jobspec import JobSpecError, parse_job_spec


def spec(**extra: Any) -> str:
    doc = {"spec_version": 1, "run_id": "w1", "round": 1, "action": "scan", "reboot": "never",
           "secret": "ab" * 32, **extra}  # fmt: skip
    return json.dumps(doc)


def test_windows_options_are_read() -> None:
    windows = {"service": "microsoft-update", "drivers": True, "optional": False,
               "classifications": ["Security Updates", "Update Rollups"]}  # fmt: skip
    assert parse_job_spec(spec(windows=windows)).windows == windows
    assert parse_job_spec(spec()).windows is None


@pytest.mark.parametrize(
    ("windows", "words"),
    [
        ({"service": "wsus.example"}, "windows.service"),
        ({"drivers": "yes"}, "windows.drivers"),
        ({"classifications": ["Security"]}, "windows.classifications"),
        ({"classifications": "Security Updates"}, "windows.classifications"),
        ({"classifications": [["Security Updates"]]}, "windows.classifications"),
        ({"classifications": [{"a": 1}]}, "windows.classifications"),
        ({"service": ["default"]}, "windows.service"),
        ({"proxy": "x"}, "unknown field(s): windows.proxy"),
        ([], "windows must be an object"),
    ],
)
def test_bad_windows_options_refuse_the_job(windows: object, words: str) -> None:
    with pytest.raises(JobSpecError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_job_spec(spec(windows=windows))


def test_the_options_shape_the_search() -> None:
    backend = make_backend(
        "wua", windows={"service": "windows-update", "classifications": ["Update Rollups"]}
    )
    assert isinstance(backend, WuaBackend)
    machine = FakeWindows({"updates": []})
    backend._adapter = fake_adapter(machine)
    assert backend.scan(lambda *a: None) == []
    criteria, selection, _ = machine.searches[-1]
    assert "28BC880E-0592-4CBF-8F95-C79B17911D5F" in criteria and selection == 2
