"""The job spec parser accepts the documented shape and refuses everything else, saying why."""

import json
from typing import Any, Dict

import pytest

from patchpilot.client.jobspec import JobSpecError, parse_job_spec
from patchpilot.protocol import RELEASE as REL

SECRET = "ab" * 32


def spec(**changes: Any) -> str:
    doc: Dict[str, Any] = {
        "spec_version": 1,
        "run_id": "nightly-1",
        "round": 1,
        "action": "install",
        "selection": {
            "include": ["lab-*"],
            "exclude": ["lab-fail"],
            "classification": "all",
            "plan": None,
        },
        "reboot": "if-required",
        "ack_timeout": 30,
        "lock_timeout": 60,
        "secret": SECRET,
    }
    for key, value in changes.items():
        if value is ...:
            doc.pop(key)
        else:
            doc[key] = value
    return json.dumps(doc)


def test_accepts_the_documented_spec() -> None:
    job = parse_job_spec(spec())
    assert job.run_id == "nightly-1" and job.round == 1 and job.action == "install"
    assert job.selection.include == ("lab-*",) and job.selection.plan is None
    assert job.backend == "auto" and job.ack_timeout == 30.0
    assert SECRET not in repr(job)


def test_defaults_for_optional_fields() -> None:
    job = parse_job_spec(spec(selection=..., ack_timeout=..., lock_timeout=...))
    assert job.selection.include == () and job.selection.classification == "all"
    assert (job.ack_timeout, job.lock_timeout) == (300.0, 600.0)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("not json", "not JSON"),
        ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
        ("[1]", "not a JSON object"),
        (spec(spec_version=2), f"spec_version 2 is not supported (this client, patchpilot {REL},"),
        (spec(spec_version=True), "spec_version True"),
        (spec(spec_version=...), "spec_version None"),
        (spec(run_id="../etc"), "run_id"),
        (spec(run_id="nightly-1\n"), "run_id"),
        (spec(run_id=...), "run_id must be"),
        (spec(round=0), "round must be an integer from 1 to 99"),
        (spec(round="1"), "round must be"),
        (spec(action="upgrade"), "action must be one of scan, download, install"),
        (spec(reboot="sometimes"), "reboot must be one of"),
        (spec(ack_timeout=-1), "ack_timeout"),
        (spec(lock_timeout="10"), "lock_timeout"),
        (spec(secret="short"), "secret must be 64"),
        (spec(secret="a" * 64 + "\n"), "secret must be 64"),
        (spec(secret=...), "secret must be"),
        (spec(colour="blue"), "unknown field(s): colour"),
        (spec(selection={"includes": []}), "unknown field(s): selection.includes"),
        (spec(selection={"include": "lab-*"}), "selection.include must be a list"),
        (spec(selection={"classification": "critical"}), "selection.classification"),
        (spec(selection={"plan": {"a": 1}}), "selection.plan"),
        (spec(selection=[]), "selection must be an object"),
        (spec(backend="yum"), "backend must be one of"),
    ],
)
def test_refuses_with_a_clear_message(text: str, words: str) -> None:
    with pytest.raises(JobSpecError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_job_spec(text)


def test_the_refusal_never_shows_the_secret() -> None:
    with pytest.raises(JobSpecError) as caught:
        parse_job_spec(spec(secret="Z" * 64))
    assert "Z" * 8 not in str(caught.value)
