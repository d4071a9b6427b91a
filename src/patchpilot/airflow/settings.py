"""The Airflow integration's pure parts: run ids, exit-code verdicts, connections to targets.

Nothing here imports Airflow, so it is tested without it. Connections arrive as their plain
fields (`ConnectionFields`): the operator and trigger read them from Airflow; credentials
never come from DAG code. Secret material from a connection (a private key, known_hosts
lines) is written to files in a private folder only for the run's duration.
"""

from __future__ import annotations

import enum
import hashlib
import os
import re
import shutil
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from pydantic import ValidationError

from patchpilot.connector import (
    RunOptions,
    Secret,
    TargetSpec,
    flat_fields,
    has_password,
    list_options,
    sub_options,
)
from patchpilot.errors import ConfigurationError

__all__ = [
    "DEFAULT_SKIP_CODES",
    "DEFAULT_SUCCESS_CODES",
    "ConnectionFields",
    "StoreAddress",
    "Verdict",
    "default_run_id",
    "option_names",
    "run_options",
    "store_address",
    "target_files",
    "verdict_of",
]

DEFAULT_SUCCESS_CODES = frozenset({0, 10, 20})
"""README's table: success, success with a reboot pending, check-only with updates found."""
DEFAULT_SKIP_CODES = frozenset({74})
"""Another run holds the target's lock: that run patches it; downstream trigger rules decide."""


class Verdict(enum.Enum):
    """What a run's exit code makes of the Airflow task."""

    SUCCESS = "success"
    SKIP = "skip"
    FAILURE = "failure"


def verdict_of(
    exit_code: int,
    *,
    success: Collection[int] = DEFAULT_SUCCESS_CODES,
    skip: Collection[int] = DEFAULT_SKIP_CODES,
) -> Verdict:
    """Map a native exit code to the task's state (WSUS codes: success is 0-115 but 9)."""
    if exit_code in success:
        return Verdict.SUCCESS
    return Verdict.SKIP if exit_code in skip else Verdict.FAILURE


def default_run_id(dag_id: str, task_id: str, dag_run_id: str, map_index: int, try_no: int) -> str:
    """Return the run id of one task try: readable prefix, hash of the whole identity.

    The same try (a restarted triggerer, a resumed deferral) always gets the same id, so it
    resumes; a retry (new try number) is a new run.
    """
    identity = f"{dag_id}\0{task_id}\0{dag_run_id}\0{map_index}\0{try_no}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    prefix = re.sub(r"[^A-Za-z0-9._-]", "-", f"{dag_id}.{task_id}")[:40].strip("._-") or "af"
    return f"{prefix}-{digest}"


def option_names() -> frozenset[str]:
    """Return every run option's name as users spell it (families' own options flat), and
    each family's name (its own options nested, as RunOptions dumps them)."""
    return frozenset(RunOptions.model_fields) | frozenset(flat_fields()) | frozenset(sub_options())


def run_options(values: Mapping[str, Any]) -> RunOptions:
    """Return RunOptions from operator arguments; ConfigurationError names a bad one."""
    unknown = sorted(set(values) - option_names())
    if unknown:
        raise ConfigurationError(f"not a patchpilot run option: {', '.join(unknown)}")
    several = list_options()  # a family's own among them: a comma-separated string splits
    lists = {
        k: tuple(v.split(",")) if isinstance(v, str) else tuple(v)
        for k, v in values.items()
        if k in several and v is not None
    }
    try:
        return RunOptions.model_validate({**values, **lists})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "options"
        raise ConfigurationError(f"patchpilot option {where}: {error['msg']}") from None


@dataclass(frozen=True)
class ConnectionFields:
    """An Airflow connection's fields, as plain values."""

    conn_id: str
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: Secret | None = None
    schema: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoreAddress:
    """Where the shared store is: its URL (no password) and the password apart."""

    url: str | None
    password: Secret | None = None


_TLS_EXTRAS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl")
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def store_address(state_url: str | None, connection: ConnectionFields | None) -> StoreAddress:
    """Return the store from a `postgres` connection, else state_url (None: SQLite).

    The connection's TLS settings (extra `sslmode`, `sslrootcert`, ...) go with it; a remote
    host without `sslmode` gets `verify-full` (libpq's default, `prefer`, takes any server).
    A state_url with a password is refused: a DAG's arguments show in Airflow's UI.
    """
    if state_url and has_password(state_url):
        raise ConfigurationError(
            "state_url: keep the password out of it (it shows in Airflow's rendered templates): "
            "put it in the store's connection (state_conn_id), PGPASSWORD or ~/.pgpass"
        )
    if connection is None:
        return StoreAddress(state_url)
    host = connection.host
    if not host:
        raise ConfigurationError(f"connection {connection.conn_id}: no host for the state store")
    user = f"{quote(connection.login, safe='')}@" if connection.login else ""
    port = f":{connection.port}" if connection.port else ""
    tls = {k: str(connection.extra[k]) for k in _TLS_EXTRAS if connection.extra.get(k)}
    if "sslmode" not in tls and not (host in _LOCAL_HOSTS or host.startswith("/")):
        tls = {"sslmode": "verify-full", **tls}
    query = f"?{urlencode(tls)}" if tls else ""
    database = quote(connection.schema or "patchpilot", safe="")
    url = f"postgresql://{user}{quote(host, safe='')}{port}/{database}{query}"
    return StoreAddress(url, connection.password)


@contextmanager
def target_files(
    name: str,
    connection: ConnectionFields | None,
    *,
    folder: Path,
    host: str | None = None,
    port: int | None = None,
    options: RunOptions,
) -> Iterator[tuple[TargetSpec, RunOptions]]:
    """Yield the target and options for a run, with the connection's key and known_hosts.

    The connection gives login, port and host (host/port arguments, e.g. from an inventory,
    take precedence; the target's name is the last resort); `extra` may hold `private_key`
    (text) or `key_file`, and `known_hosts` (lines) or `known_hosts_file`. Host keys are always
    verified: without known_hosts from the connection, the options' (`known_hosts`,
    `ssh_config`) must name them. Key and known_hosts text go to 0600 files in folder (made
    0700, removed on exit); folder is the same for every try of a run (its options, stored
    with the run, name the known_hosts file), so any host resuming the run recreates them.
    """
    extra = connection.extra if connection else {}
    known_hosts = extra.get("known_hosts_file")
    if connection and not (known_hosts or extra.get("known_hosts") or options.known_hosts
                           or options.ssh_config):  # fmt: skip
        raise ConfigurationError(
            f"connection {connection.conn_id}: no known_hosts (extra `known_hosts` or "
            "`known_hosts_file`): host keys are always verified"
        )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        key_file = extra.get("key_file")
        if extra.get("private_key"):
            key_file = _private_file(folder / "id", str(extra["private_key"]))
        if extra.get("known_hosts"):
            known_hosts = _private_file(folder / "known_hosts", str(extra["known_hosts"]))
        target = TargetSpec(
            name,
            host or (connection.host if connection else None) or name,
            port or (connection.port if connection else None),
            connection.login if connection else None,
            str(key_file) if key_file else None,
        )
        if known_hosts:
            options = options.model_copy(update={"known_hosts": str(known_hosts)})
        yield target, options
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _private_file(path: Path, text: str) -> str:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text if text.endswith("\n") else text + "\n")
    return str(path)
