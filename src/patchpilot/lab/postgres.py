"""A real PostgreSQL server on 127.0.0.1 for tests (Debian's `postgresql` binaries).

Stands in for the shared database of a site: patchpilot's PostgreSQL state store and Airflow's
metadata database. Its cluster lives in a fresh folder under /tmp; it listens on a free port
of loopback only (its Unix socket in that folder), asks for a password (scram-sha-256), and
runs as the `postgres` user when started by root (PostgreSQL refuses to run as root).
`stop()` stops it and removes the folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from patchpilot.lab.vm import free_port

__all__ = ["PG_PASSWORD", "PG_USER", "PostgresServer", "postgres_missing"]

PG_USER = "postgres"
PG_PASSWORD = "pp-Postgres-test-1"  # noqa: S105 - a throwaway account of a loopback test server


def _bin_dir() -> Path | None:
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    found.sort(key=lambda path: int(path.split("/")[4]))
    return Path(found[-1]).parent if found else None


def postgres_missing() -> str | None:
    """Return why a PostgreSQL server cannot run here, or None."""
    if _bin_dir() is None:
        return "PostgreSQL is not installed (scripts/install.sh installs postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "no `postgres` user to run PostgreSQL as (root may not)"
    return None


class PostgresServer:
    """One PostgreSQL cluster on 127.0.0.1:port; a superuser `postgres` with PG_PASSWORD."""

    def __init__(self) -> None:
        bin_dir = _bin_dir()
        if bin_dir is None:
            raise RuntimeError(postgres_missing() or "no PostgreSQL")
        self._bin = bin_dir
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="patchpilot-pg-"))
        self._is_started = False

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, dbname: str = "postgres") -> str:
        """Return the URL of a database (without the password: give it as PGPASSWORD)."""
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{dbname}"

    def _as_owner(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def start(self, timeout: float = 60.0) -> None:
        """Create the cluster and start it; return once it accepts connections."""
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        password_file = self.folder / "pwfile"
        password_file.write_text(PG_PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(password_file, "postgres", "postgres")
        self._run(
            [str(self._bin / "initdb"), "-D", str(self.data), "-U", PG_USER, "-A",
             "scram-sha-256", f"--pwfile={password_file}", "-E", "UTF8", "--no-sync"]
        )  # fmt: skip
        password_file.unlink()
        self._pg_ctl_start(timeout)
        self._is_started = True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not listen on 127.0.0.1:{self.port}")

    def _pg_ctl_start(self, timeout: float) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.folder} -c max_connections=300 "
            "-c fsync=off -c full_page_writes=off -c shared_buffers=64MB"
        )
        self._run(
            [str(self._bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"),
             "-o", options, "-w", "-t", str(int(timeout)), "start"]
        )  # fmt: skip

    def restart(self, *, down: float = 0.0, timeout: float = 60.0) -> None:
        """Stop the server (fast: clients are cut off), stay down `down` seconds, start it
        again on the same port and data (the fault campaign's store restart)."""
        self._run([str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])
        time.sleep(down)
        self._pg_ctl_start(timeout)

    def _run(self, argv: list[str]) -> None:
        done = subprocess.run(
            self._as_owner(argv), capture_output=True, text=True, check=False, cwd=self.folder
        )
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed: {done.stderr.strip()[-500:]}")

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL with psql as the superuser; return its unaligned output."""
        done = subprocess.run(
            [str(self._bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, "-d", dbname, "-c", sql],
            capture_output=True, text=True, check=False,
            env={**os.environ, "PGPASSWORD": PG_PASSWORD},
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"psql: {done.stderr.strip()}")
        return done.stdout

    def create_database(self, name: str) -> str:
        """Create database name; return its URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder; safe to call twice."""
        if self._is_started:
            self._is_started = False
            subprocess.run(
                self._as_owner([str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                                "-w", "stop"]),
                capture_output=True, check=False, cwd=self.folder,
            )  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
