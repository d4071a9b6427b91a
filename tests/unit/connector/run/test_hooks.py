"""Local hooks on the connector's host: what they are told, and only that."""

from __future__ import annotations

import asyncio

import pytest

from patchpilot.connector.run.hooks import HookEnv, run_local_hook

SECRETS = {
    "PGPASSWORD": "pg-secret",
    "PATCHPILOT_STATE_KEY": "ab" * 32,
    "PATCHPILOT_WINRM_PASSWORD": "winrm-secret",
    "PATCHPILOT_SMB_PASSWORD": "smb-secret",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
}


def test_a_local_hook_gets_a_minimal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local hooks inherited PGPASSWORD, the state key and the WinRM/SMB passwords."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    env = HookEnv("r1", "web1", "pre", 1, applied=("openssl",))
    done = asyncio.run(run_local_hook("env", env, 10))
    seen = dict(line.split("=", 1) for line in done.output.splitlines() if "=" in line)
    assert done.exit == 0, done.output
    assert not set(SECRETS) & set(seen), seen
    assert not any(value in done.output for value in SECRETS.values())
    assert seen["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert seen["PATCHPILOT_RUN_ID"] == "r1" and seen["PATCHPILOT_UPDATES_APPLIED"] == "openssl"
    assert set(seen) <= {*env.variables(), "PATH", "HOME", "LANG", "LC_ALL", "TZ", "PWD",
                         "SHLVL", "_", "USER", "LOGNAME", "TMPDIR"}  # fmt: skip


def test_a_target_reported_id_with_nul_or_a_surrogate_still_runs_the_hook() -> None:
    """A NUL (ValueError) or a lone surrogate (UnicodeEncodeError) made the hook raise."""
    env = HookEnv("r1", "web1", "post", 1, applied=("a\0b", "bad\ud800id", "ok"))
    done = asyncio.run(run_local_hook('printf "%s" "$PATCHPILOT_UPDATES_APPLIED"', env, 10))
    assert done.exit == 0, done.output
    assert done.output == "a\\x00b bad\\ud800id ok"
    for value in env.variables().values():
        assert "\0" not in value
        value.encode("utf-8")  # what a target hook's spec and its client receive, too
