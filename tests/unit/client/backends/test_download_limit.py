"""--download-limit on the client: each package tool's own setting (issue 24, item 3)."""

import json

import pytest

from patchpilot.client.backends.apt import AptBackend, dl_limits
from patchpilot.client.backends.dnf import DnfBackend
from patchpilot.client.backends.zypper import ZypperBackend
from patchpilot.client.jobspec import JobSpecError, parse_job_spec

SPEC = {"spec_version": 1, "run_id": "r1", "round": 1, "action": "install", "reboot": "never"}


def test_apt_gets_dl_limit_for_http_and_https_in_kib() -> None:
    backend = AptBackend()
    assert "Acquire::http::Dl-Limit" not in " ".join(backend._apt_options())
    backend.limit_downloads(512 << 10)
    options = backend._apt_options()
    assert "Acquire::http::Dl-Limit=512" in options and "Acquire::https::Dl-Limit=512" in options
    assert dl_limits(1500) == [("Acquire::http::Dl-Limit", "1"), ("Acquire::https::Dl-Limit", "1")]


def test_dnf_gets_throttle_in_bytes() -> None:
    backend = DnfBackend()
    assert backend.throttle() == []
    backend.limit_downloads(2 << 20)
    assert backend.throttle() == ["--setopt=throttle=2097152"]


def test_zypper_does_not_claim_to_cap() -> None:
    assert not ZypperBackend.caps_downloads
    assert AptBackend.caps_downloads and DnfBackend.caps_downloads


def test_the_job_spec_carries_bytes_per_second() -> None:
    doc = {**SPEC, "secret": "0" * 64, "download_limit": 1 << 20}
    assert parse_job_spec(json.dumps(doc)).download_limit == 1 << 20
    for bad in (1000, "1M", True, 11 << 30):
        with pytest.raises(JobSpecError, match="download_limit"):
            parse_job_spec(json.dumps({**doc, "download_limit": bad}))
