"""The Airflow integration's pure parts: verdicts, run ids, options, connections to targets."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from patchpilot.airflow.provider import get_provider_info
from patchpilot.airflow.settings import (
    ConnectionFields,
    Verdict,
    default_run_id,
    run_options,
    store_address,
    target_files,
    verdict_of,
)
from patchpilot.connector import list_options
from patchpilot.connector.options import RUN_ID_RE, RunOptions
from patchpilot.connector.secret import Secret
from patchpilot.errors import ConfigurationError


@pytest.mark.parametrize(
    ("code", "verdict"),
    [(0, Verdict.SUCCESS), (10, Verdict.SUCCESS), (20, Verdict.SUCCESS), (74, Verdict.SKIP),
     (30, Verdict.FAILURE), (69, Verdict.FAILURE), (80, Verdict.FAILURE)],
)  # fmt: skip
def test_exit_codes_map_to_task_states_as_the_readme_table_says(
    code: int, verdict: Verdict
) -> None:
    assert verdict_of(code) is verdict


def test_a_job_can_demand_no_pending_reboot() -> None:
    assert verdict_of(10, success={0}) is Verdict.FAILURE


def test_run_ids_are_stable_per_try_and_valid() -> None:
    first = default_run_id("nightly patch", "web.patch", "scheduled__2026-11-30", 3, 1)
    assert first == default_run_id("nightly patch", "web.patch", "scheduled__2026-11-30", 3, 1)
    assert first != default_run_id("nightly patch", "web.patch", "scheduled__2026-11-30", 3, 2)
    assert first != default_run_id("nightly patch", "web.patch", "scheduled__2026-11-30", 4, 1)
    assert RUN_ID_RE.fullmatch(first) and first.startswith("nightly-patch.web.patch-")
    assert RUN_ID_RE.fullmatch(default_run_id("d" * 200, "t" * 200, "r", -1, 1))


def test_options_are_the_run_options() -> None:
    options = run_options({"reboot": "never", "include": "lab-a,lab-b", "max_rounds": 2})
    assert options == RunOptions(reboot="never", include=("lab-a", "lab-b"), max_rounds=2)
    with pytest.raises(ConfigurationError, match="not a patchpilot run option: rebooot"):
        run_options({"rebooot": "never"})
    with pytest.raises(ConfigurationError, match="reboot"):
        run_options({"reboot": "sometimes"})
    services = run_options({"reboot": "services", "no_restart": "haproxy.service,myapp*"})
    assert services.no_restart == ("haproxy.service", "myapp*")
    assert run_options({"reboot": "services", "no_restart": ["a.service"]}).restart_spec() == {
        "restart": {"no_restart": ["a.service"], "install_tool": False}
    }


# Two valid entries of every run option that takes several (a family's own among them).
_ENTRIES = {
    "include": ("lab-a", "openssl*"),
    "exclude": ("KB1*", "lab-b"),
    "no_restart": ("haproxy.service", "myapp*"),
    "severity": ("low", "critical"),
    "advisory": ("RHSA-2026:1", "FEDORA-*"),
    "cve": ("CVE-2026-1", "CVE-2026-2"),
    "require_service": ("nginx", "sshd"),
    "notify": ("json:http://127.0.0.1:9/a", "json:http://127.0.0.1:9/b"),
    "windows_classifications": ("Security Updates", "Drivers"),
}


@pytest.mark.parametrize("name", sorted(_ENTRIES))
def test_every_list_option_takes_a_comma_separated_string(name: str) -> None:
    """A DAG may write any list option as "a,b" (Airflow templates render strings): the
    options that take several values come from the run options, families' own included."""
    assert list_options() == set(_ENTRIES)  # a new list option gets entries here
    entries = _ENTRIES[name]
    as_text = run_options({name: ",".join(entries)})
    assert as_text == run_options({name: list(entries)})
    assert as_text.model_dump(exclude_defaults=True) != {}


def test_the_store_comes_from_a_postgres_connection_with_its_password_apart() -> None:
    conn = ConnectionFields(
        "pp_store", host="db1", port=5433, login="pp", password=Secret("pw"), schema="patch"
    )
    address = store_address(None, conn)
    assert address.url == "postgresql://pp@db1:5433/patch?sslmode=verify-full"
    assert address.password is not None and address.password.reveal() == "pw"
    assert store_address("postgresql://x@h/db", None).url == "postgresql://x@h/db"
    assert store_address(None, None).url is None


@pytest.mark.parametrize(
    ("host", "extra", "expected"),
    [
        ("db1", {}, "postgresql://pp@db1/patch?sslmode=verify-full"),
        ("db1", {"sslmode": "require"}, "postgresql://pp@db1/patch?sslmode=require"),
        (
            "db1",
            {"sslmode": "verify-ca", "sslrootcert": "/etc/ca.pem"},
            "postgresql://pp@db1/patch?sslmode=verify-ca&sslrootcert=%2Fetc%2Fca.pem",
        ),
        ("localhost", {}, "postgresql://pp@localhost/patch"),
        ("127.0.0.1", {"sslmode": "disable"}, "postgresql://pp@127.0.0.1/patch?sslmode=disable"),
        ("/run/postgresql", {}, "postgresql://pp@%2Frun%2Fpostgresql/patch"),
    ],
)
def test_the_store_connection_keeps_its_sslmode(
    host: str, extra: dict[str, str], expected: str
) -> None:
    """The connection's sslmode was dropped: a remote store was reached without TLS checks."""
    conn = ConnectionFields("pp_store", host=host, login="pp", schema="patch", extra=extra)
    assert store_address(None, conn).url == expected


@pytest.mark.parametrize(
    "url", ["postgresql://pp:secret@db1/patch", "postgresql://pp@db1/patch?password=secret"]
)
def test_a_state_url_with_a_password_is_refused(url: str) -> None:
    """As on the command line: a DAG's arguments show in Airflow's UI (rendered templates)."""
    with pytest.raises(ConfigurationError, match="state_url: keep the password out") as caught:
        store_address(url, None)
    assert "secret" not in str(caught.value)


def test_connection_key_and_known_hosts_become_private_files_for_the_run(tmp_path: Path) -> None:
    conn = ConnectionFields(
        "pp_ssh",
        host="10.0.0.5",
        port=2222,
        login="patcher",
        extra={"private_key": "-----BEGIN KEY-----", "known_hosts": "[10.0.0.5]:2222 ssh-ed25519"},
    )
    folder = tmp_path / "run-1"
    with target_files("web1", conn, folder=folder, options=RunOptions()) as (target, options):
        assert (target.name, target.host, target.port, target.user) == (
            "web1", "10.0.0.5", 2222, "patcher"
        )  # fmt: skip
        assert target.key_file == str(folder / "id")
        assert options.known_hosts == str(folder / "known_hosts")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE((folder / "id").stat().st_mode) == 0o600
        assert (folder / "known_hosts").read_text().startswith("[10.0.0.5]:2222")
    assert not folder.exists()
    # An inventory's address and port win over the connection's.
    with target_files("db1", conn, folder=folder, host="10.0.0.9", port=22,
                      options=RunOptions()) as (target, _):  # fmt: skip
        assert (target.host, target.port) == ("10.0.0.9", 22)


def test_host_keys_stay_verified(tmp_path: Path) -> None:
    conn = ConnectionFields("pp_ssh", host="h", login="root", extra={"key_file": "/k"})
    unverified = target_files("h", conn, folder=tmp_path / "f", options=RunOptions())
    with pytest.raises(ConfigurationError, match="host keys are always verified"), unverified:
        pass
    with target_files(
        "h", conn, folder=tmp_path / "f", options=RunOptions(known_hosts="/etc/kh")
    ) as (target, options):
        assert target.key_file == "/k" and options.known_hosts == "/etc/kh"


def test_provider_info_names_the_modules() -> None:
    info = get_provider_info()
    assert info["package-name"] == "patchpilot"
    assert info["triggers"][0]["python-modules"] == ["patchpilot.airflow.trigger"]
