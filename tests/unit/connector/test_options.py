"""Run options: modes, list entries as the family spells them, download rates."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from patchpilot.connector.options import RunOptions
from patchpilot.connector.targets.linux import LinuxOS


def test_modes_and_validation() -> None:
    assert RunOptions().action == "install" and RunOptions(check_only=True).mode == "check-only"
    with pytest.raises(ValidationError):
        RunOptions(check_only=True, download_only=True)
    with pytest.raises(ValidationError):
        RunOptions(run_id="../etc")
    with pytest.raises(ValidationError):
        RunOptions(max_rounds=0)


def test_windows_lists_hold_kb_numbers_or_globs_normalised() -> None:
    options = RunOptions(os="windows", include=["5031356", "kb50*"], exclude=["KB890830"])
    assert options.include == ("KB5031356", "KB50*") and options.exclude == ("KB890830",)
    with pytest.raises(ValidationError, match="not a KB number: 'openssl'"):
        RunOptions(os="windows", exclude=["openssl"])
    assert RunOptions(include=["openssl*"]).include == ("openssl*",)  # Linux: package names


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("512k", 512 << 10),
        ("2M", 2 << 20),
        ("1.5MiB/s", 3 << 19),
        ("300000", 300000),
        ("1g", 1 << 30),
    ],
)
def test_download_limit_rates(text: str, rate: int) -> None:
    """Issue 24 (3): --download-limit RATE reaches a Linux client's job spec in bytes/s."""
    options = RunOptions(download_limit=text)
    assert options.download_limit_bytes == rate
    assert LinuxOS().job_spec_extra(options) == {"download_limit": rate}
    assert "download_limit" not in LinuxOS().job_spec_extra(RunOptions())


@pytest.mark.parametrize("text", ["fast", "2X", "10", "20G", "-1M", ""])
def test_download_limit_refuses_what_is_not_a_rate(text: str) -> None:
    with pytest.raises(ValidationError, match=r"download limit|not a rate"):
        RunOptions(download_limit=text)


def test_download_limit_is_refused_on_windows_where_bits_decides() -> None:
    with pytest.raises(ValidationError, match="BITS"):
        RunOptions(download_limit="1M", os="windows")
