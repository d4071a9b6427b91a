"""The PostgreSQL store on a real server: the secret rests sealed, hosts share runs with one
key and are refused with another, a dropped connection is reopened, the URL stays private."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from patchpilot.cli.main import app
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RunRow, Store, open_store
from patchpilot.connector.store.postgres import PostgresStore
from patchpilot.connector.store.select import has_password
from patchpilot.errors import ConfigurationError, StateError
from patchpilot.lab.postgres import PG_PASSWORD, PostgresServer

SECRET = "ab" * 32


def _row(run_id: str = "r1") -> RunRow:
    secret = Secret(SECRET)
    return RunRow(run_id, "web1", "install", "{}", secret, "running", None, "t0", None, None)


@pytest.fixture
def url(postgres: PostgresServer, request: pytest.FixtureRequest) -> str:
    return postgres.create_database(f"pg_{request.node.name[5:40]}".lower())


def _open(url: str, folder: Path) -> Store:
    return open_store(folder, url=url, password=Secret(PG_PASSWORD))


def test_the_secret_rests_sealed_and_two_hosts_share_runs(
    url: str, postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _open(url, tmp_path / "host-a")
    assert isinstance(first, PostgresStore) and first.folder == tmp_path / "host-a"
    first.create_run(_row())
    dbname = url.rsplit("/", 1)[1]
    stored = postgres.psql("SELECT secret FROM patchpilot.runs", dbname).strip()
    assert stored.startswith("aesgcm1:") and SECRET not in stored
    assert SECRET not in postgres.psql("SELECT * FROM patchpilot.runs", dbname)
    key = (tmp_path / "host-a" / "state.key").read_text().strip()
    # Another host with the same key (from the environment) reads the run and its secret.
    monkeypatch.setenv("PATCHPILOT_STATE_KEY", key)
    second = _open(url, tmp_path / "host-b")
    assert second.run("r1").secret.reveal() == SECRET  # type: ignore[union-attr]
    assert not (tmp_path / "host-b" / "state.key").exists()
    # A host with another key is told which key sealed it.
    monkeypatch.setenv("PATCHPILOT_STATE_KEY", "cd" * 32)
    third = _open(url, tmp_path / "host-c")
    with pytest.raises(StateError, match="sealed with state key"):
        third.run("r1")
    for store in (first, second, third):
        store.close()


def test_a_sealed_value_moved_to_another_run_does_not_open(
    url: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    store = _open(url, tmp_path)
    store.create_run(replace(_row("r1"), options='{"local_hook_post": "true"}'))
    dbname = url.rsplit("/", 1)[1]
    for column, other, refusal in (
        ("secret", "r2", "does not open"),
        ("options", "r3", "r3: its stored options"),
    ):
        store.create_run(_row(other))
        postgres.psql(
            f"UPDATE patchpilot.runs SET {column} = (SELECT {column} FROM patchpilot.runs "
            f"WHERE run_id = 'r1') WHERE run_id = '{other}'",
            dbname,
        )
        with pytest.raises(StateError, match=refusal):
            store.run(other)
    assert store.run("r1").secret.reveal() == SECRET  # type: ignore[union-attr]
    store.close()


def test_a_dropped_connection_is_reopened(
    url: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    store = _open(url, tmp_path)
    store.create_run(_row())
    postgres.psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'patchpilot'"
    )
    assert store.add_record("r1", 1, {"seq": 1, "event": "run.started"})
    assert store.last_seq("r1", 1) == 1
    store.close()


def test_unusable_stores_are_named_without_the_password(tmp_path: Path) -> None:
    with pytest.raises(StateError) as caught:
        open_store(tmp_path, url="postgresql://pp:hunter2@127.0.0.1:1/none")
    assert "postgresql://pp@127.0.0.1:1/none" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigurationError, match="only postgresql"):
        open_store(tmp_path, url="mysql://x@h/db")
    assert has_password("postgresql://u:p@h/db") and has_password("postgresql://u@h/db?password=p")
    assert not has_password("postgresql://u@h/db")


def test_the_cli_reads_the_shared_store_and_keeps_passwords_off_its_command_line(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _open(url, tmp_path)
    store.create_run(_row("shared-1"))
    store.close()
    monkeypatch.setenv("PGPASSWORD", PG_PASSWORD)
    runner = CliRunner()
    shown = runner.invoke(app, ["status", "--state-dir", str(tmp_path), "--state-url", url])
    assert shown.exit_code == 0 and "shared-1  web1  install  running" in shown.output
    monkeypatch.setenv("PATCHPILOT_STATE_URL", url)
    shown = runner.invoke(app, ["status", "shared-1", "--state-dir", str(tmp_path)])
    assert shown.exit_code == 0 and "run shared-1 target=web1" in shown.output
    with_password = url.replace("postgres@", f"postgres:{PG_PASSWORD}@")
    refused = runner.invoke(app, ["status", "--state-dir", str(tmp_path), "--state-url",
                                  with_password])  # fmt: skip
    assert isinstance(refused.exception, ConfigurationError)
    assert "out of the command line" in str(refused.exception)


def test_options_changed_in_the_database_are_refused(
    url: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    """Whoever could write runs.options ran code on connector hosts (local hooks) on resume."""
    store = _open(url, tmp_path)
    row = _row()
    store.create_run(replace(row, options='{"os": "linux", "local_hook_post": null}'))
    assert store.run("r1").options == '{"os": "linux", "local_hook_post": null}'  # type: ignore[union-attr]
    dbname = url.rsplit("/", 1)[1]
    stored = postgres.psql("SELECT options FROM patchpilot.runs", dbname).strip()
    for forged in (
        stored.replace('"local_hook_post": null', '"local_hook_post": "touch /tmp/pwned"'),
        '{"os": "linux", "local_hook_pre": "touch /tmp/pwned"}',  # as an unsealed older row
    ):
        postgres.psql(
            f"UPDATE patchpilot.runs SET options = '{forged}' WHERE run_id = 'r1'", dbname
        )
        with pytest.raises(StateError, match="r1: its stored options"):
            store.run("r1")
    store.close()
