"""The zypper backend's command handling, with a scripted zypper (the real one: lab tests).

What only a scripted zypper can show here: exit 103 (zypper updated itself) runs the
transaction again; 107 (a scriptlet failed) is a result; the advisory comes from the
repository's updateinfo in zypper's raw cache.
"""

import gzip
import json
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from patchpilot.client.backends import zypper as zypper_module
from patchpilot.client.backends.zypper import ZypperBackend, read_updateinfo

LIST_UPDATES = (
    "<?xml version='1.0'?><stream><update-status version=\"0.6\"><update-list>"
    '<update kind="package" name="lab-kernel" edition="2.0-1" arch="noarch" edition-old="1.0-1">'
    '<summary>k</summary><source url="http://x/" alias="lab"/></update>'
    "</update-list></update-status></stream>"
)
REPOMD = (
    '<?xml version="1.0"?><repomd xmlns="http://linux.duke.edu/metadata/repo">'
    '<data type="updateinfo"><location href="repodata/abc-updateinfo.xml.gz"/></data></repomd>'
)
UPDATEINFO = (
    '<updates><update type="security"><id>SUSE-2026-1</id><severity>important</severity>'
    "<references/><pkglist><collection>"
    '<package name="lab-kernel" version="2.0" release="1" epoch="0" arch="noarch"/>'
    "</collection></pkglist></update></updates>"
)
FAKE = """
import json, os, sys
state_path = os.environ["FAKE_ZYPPER_STATE"]
state = json.load(open(state_path))
tool, args = sys.argv[1], sys.argv[2:]
state["calls"].append([tool, *args])
code = 0
if tool == "rpm":
    for name in args[3:]:
        print("%s\\t(none)\\t%s\\tnoarch" % (name, state["installed"][name].replace("-", "\\t")))
elif "list-updates" in args:
    print(os.environ["FAKE_LIST"])
elif "install" in args:
    code = state["exits"].pop(0)
    if code != 103:
        state["installed"]["lab-kernel"] = "2.0-1"
json.dump(state, open(state_path, "w"))
sys.exit(code)
"""


def _noop(event: str, level: str, fields: Dict[str, object]) -> None:
    return None


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "fake.py"
    script.write_text(FAKE)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("zypper", "rpm"):
        wrapper = bin_dir / tool
        wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {script} {tool} "$@"\n')
        wrapper.chmod(0o755)
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"calls": [], "installed": {"lab-kernel": "1.0-1"}, "exits": []}))
    raw = tmp_path / "raw" / "lab" / "repodata"
    raw.mkdir(parents=True)
    (raw / "repomd.xml").write_text(REPOMD)
    (raw / "abc-updateinfo.xml.gz").write_bytes(gzip.compress(UPDATEINFO.encode()))
    monkeypatch.setattr(zypper_module, "RAW_CACHE", str(tmp_path / "raw"))
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_ZYPPER_STATE", str(state))
    monkeypatch.setenv("FAKE_LIST", LIST_UPDATES)
    return state


def test_scan_names_the_advisory(fake: Path) -> None:
    [update] = ZypperBackend(lock_timeout=1, refresh=False).scan(_noop)
    assert (update.id, update.installed_version, update.candidate_version) == (
        "lab-kernel",
        "1.0-1",
        "2.0-1",
    )
    assert (update.advisory, update.severity, update.is_security) == (
        "SUSE-2026-1",
        "Important",
        True,
    )
    assert read_updateinfo(str(fake.parent / "nowhere")) == {}


@pytest.mark.parametrize(("exits", "installs"), [([103, 0], 2), ([102], 1), ([107], 1)])
def test_install_exit_codes(fake: Path, exits: List[int], installs: int) -> None:
    state = json.loads(fake.read_text())
    fake.write_text(json.dumps({**state, "exits": exits}))
    backend = ZypperBackend(lock_timeout=1, refresh=False)
    [result] = backend.install(backend.scan(_noop), _noop)
    assert (result.status, result.version) == ("installed", "2.0-1")
    calls = [c for c in json.loads(fake.read_text())["calls"] if "install" in c]
    assert len(calls) == installs
    assert calls[0][-1] == "lab-kernel=2.0-1" and "--non-interactive" in calls[0]


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz", "", ".zst"])
def test_updateinfo_compressions(tmp_path: Path, suffix: str) -> None:
    import bz2
    import lzma

    pack = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}
    name = "repodata/x-updateinfo.xml" + suffix
    folder = tmp_path / "repo" / "repodata"
    folder.mkdir(parents=True)
    (folder / "repomd.xml").write_text(REPOMD.replace("repodata/abc-updateinfo.xml.gz", name))
    data = UPDATEINFO.encode()
    (tmp_path / "repo" / name).write_bytes(pack.get(suffix, lambda b: b)(data))
    found = read_updateinfo(str(tmp_path))
    assert bool(found) == (suffix != ".zst")  # zstd: not in Python 3.9's standard library
