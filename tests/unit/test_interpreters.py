"""The client on every CPython from 3.6 to 3.13 that pyenv holds (docs/interpreters.md).

For each: the client's and protocol's unit tests under that interpreter (pytest from a venv
made by scripts/tool-venv.sh; tests marked `host` stay with the suite's interpreter), and the
zipapp run by the bare interpreter with -I -S: `version`, `scan`, `lock`/`unlock` and one
install round against the fake dnf5. A version pyenv does not hold is skipped, saying so.
"""

import importlib.util
import json
import os
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from patchpilot.client import CLIENT_VERSION
from patchpilot.client_build import BuiltClient, build_client

VERSIONS = ["3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]
REPO = Path(__file__).resolve().parents[2]
PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
Completed = subprocess.CompletedProcess[str]
FAKE_DNF5 = REPO / "tests/unit/client/backends/fake_dnf5.py"
UNIT_TIMEOUT = 600  # seconds for one interpreter's unit tests (about 40 alone)
# The unit runs start with the module's first test and go on while the smoke tests run.
pytestmark = pytest.mark.usefixtures("unit_runs")


def interpreter(version: str) -> Path | None:
    """Return pyenv's newest build of CPython version, or None when pyenv has none."""
    builds = sorted(PYENV.glob(f"{version}.*/bin/python{version}"), key=lambda p: p.parts[-3])
    return builds[-1] if builds else None


def _absent(version: str) -> Path:
    python = interpreter(version)
    if python is None:
        pytest.skip(f"CPython {version} is absent from pyenv ({PYENV}): not tested")
    return python


def _unit_run(python: Path) -> Completed:
    venv = subprocess.run(
        [str(REPO / "scripts/tool-venv.sh"), "client-tests",
         str(REPO / "tests/interpreters/requirements.txt"), str(python)],
        stdout=subprocess.PIPE, text=True, check=True, timeout=600,
    ).stdout.strip()  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO / 'src'}:{REPO / 'tests/interpreters'}",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # the checkout's own entry points need 3.11
    }
    return subprocess.run(
        [f"{venv}/bin/python", "-m", "pytest", "-c", str(REPO / "tests/interpreters/pytest.ini"),
         "--rootdir", str(REPO), "--noconftest", "-p", "no:cacheprovider", "-p", "matrix_settings",
         "-q", "-m", "not host", "tests/unit/client", "tests/unit/protocol"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=UNIT_TIMEOUT, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def unit_runs() -> Iterator[dict[str, "Future[subprocess.CompletedProcess[str]]"]]:
    """Start every interpreter's unit tests, four at a time: they mostly wait (CI has two cores)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = {}
        for version in VERSIONS:
            python = interpreter(version)
            if python is not None:
                runs[version] = pool.submit(_unit_run, python)
        yield runs
        for run in runs.values():
            run.cancel()


@pytest.fixture(scope="module")
def zipapp(tmp_path_factory: pytest.TempPathFactory) -> BuiltClient:
    return build_client(tmp_path_factory.mktemp("client"))


def _fake_dnf5(tmp_path: Path, python: Path) -> dict[str, str]:
    """Put the fake dnf5 and rpm on PATH, run by python too; return the client's environment."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    spec = importlib.util.spec_from_file_location("fake_dnf5", FAKE_DNF5)
    assert spec is not None and spec.loader is not None
    fake = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fake)
    fake.put_on_path(str(bin_dir), f"{python} -I -S")
    state = {
        "installed": {"lab-a": "1.0-1", "lab-kernel": "1.0-1"},
        "available": {"lab-a": "2.0-1", "lab-kernel": "2.0-1"},
        "advisories": [], "reboot_packages": [], "failing": [],
    }  # fmt: skip
    (tmp_path / "dnf5.json").write_text(json.dumps(state))
    return {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "FAKE_DNF5_STATE": str(tmp_path / "dnf5.json"),
        "PATCHPILOT_ROOT": str(tmp_path / "root"),
        "PATCHPILOT_BACKEND": "dnf5",
    }


def _client(python: Path, zipapp: BuiltClient, env: dict[str, str], *args: str) -> Completed:
    argv = [str(python), "-I", "-S", str(zipapp.path), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_zipapp_runs_isolated(version: str, zipapp: BuiltClient, tmp_path: Path) -> None:
    python = _absent(version)
    env = _fake_dnf5(tmp_path, python)
    run = lambda *args: _client(python, zipapp, env, *args)  # noqa: E731
    assert run("version").stdout.strip() == CLIENT_VERSION

    scan = run("scan", "--json")
    assert scan.returncode == 0, scan.stderr
    assert sorted(u["id"] for u in json.loads(scan.stdout)) == ["lab-a", "lab-kernel"]

    assert run("lock", "--run", "r1").returncode == 0
    assert run("lock", "--run", "r2").returncode != 0  # held by r1
    assert run("unlock", "--run", "r1").returncode == 0
    assert not (tmp_path / "root/var/lib/patchpilot/target.lock").exists()

    folder = tmp_path / "root/var/lib/patchpilot/runs/r1/round-1"
    folder.mkdir(parents=True)
    job = {"spec_version": 1, "run_id": "r1", "round": 1, "action": "install",
           "reboot": "never", "secret": "5a" * 32, "ack_timeout": 1}  # fmt: skip
    (folder / "job.json").write_text(json.dumps(job))
    (folder / "job.json").chmod(0o600)
    done = run("run", "--job", str(folder / "job.json"))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (folder / "journal.jsonl").read_text().splitlines()]
    installed = json.loads((tmp_path / "dnf5.json").read_text())["installed"]
    assert installed == {"lab-a": "2.0-1", "lab-kernel": "2.0-1"}
    events = [r["event"] for r in records]
    assert events[-1] == "log.not_collected", events  # no connector acknowledged
    (result,) = [r["fields"] for r in records if r["event"] == "round.result"]
    assert result["status"] == "success", result


@pytest.mark.parametrize("version", VERSIONS)
def test_unit_tests_pass(
    version: str, unit_runs: dict[str, "Future[subprocess.CompletedProcess[str]]"]
) -> None:
    _absent(version)
    done = unit_runs[version].result(timeout=2 * UNIT_TIMEOUT)
    assert done.returncode == 0, done.stdout[-6000:]
    # pytest's summary line, wherever it is: an interpreter may print a warning after it, at exit.
    summaries = re.findall(r"^\d+ passed.* in [\d.]+s.*$", done.stdout, re.MULTILINE)
    assert summaries, done.stdout[-6000:]
    assert "failed" not in summaries[-1] and "error" not in summaries[-1], done.stdout[-6000:]


def test_every_version_pyenv_holds_is_looked_for() -> None:
    held = {p.name.rsplit(".", 1)[0] for p in PYENV.glob("3.*")}
    assert held - {"3.0", "3.1", "3.2", "3.3", "3.4", "3.5"} <= set(VERSIONS), held
