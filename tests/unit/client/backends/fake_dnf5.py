"""A scripted fake of dnf5's CLI (and of `rpm -q --qf`) for the dnf5 backend's tests.

dnf5 is not packaged in Debian 12. This fake follows dnf5's documented commands and output
(dnf5 docs: check-upgrade exit 100; `advisory list --json --with-cve`, extended format;
`needs-restarting` exit 1 when a reboot is needed; `upgrade [--downloadonly] NEVRA...`),
keeping its state in the JSON file $FAKE_DNF5_STATE: installed, available, advisories,
reboot_packages, failing (packages whose %post fails), calls (every argv, for the tests).
Run as `python3 fake_dnf5.py dnf5|rpm ARGS...` (`put_on_path` writes wrappers named dnf5 and
rpm for the tests' PATH).
"""

import json
import os
import sys
from typing import Any, Dict, List, Tuple


def _load() -> Dict[str, Any]:
    with open(os.environ["FAKE_DNF5_STATE"], encoding="utf-8") as handle:
        return json.load(handle)


def _save(state: Dict[str, Any]) -> None:
    with open(os.environ["FAKE_DNF5_STATE"], "w", encoding="utf-8") as handle:
        json.dump(state, handle)


def _evr_parts(evr: str) -> Tuple[str, str, str]:
    epoch, _, rest = evr.rpartition(":")
    version, _, release = rest.rpartition("-")
    return epoch or "0", version, release


def _rpm(state: Dict[str, Any], args: List[str]) -> int:
    names = [a for a in args[3:]] if args[:2] == ["-q", "--qf"] else []
    status = 0
    for name in names:
        evr = state["installed"].get(name)
        if evr is None:
            print(f"package {name} is not installed")
            status = 1
            continue
        epoch, version, release = _evr_parts(evr)
        print(f"{name}\t{epoch if epoch != '0' else '(none)'}\t{version}\t{release}\tnoarch")
    return status


def _upgrades(state: Dict[str, Any]) -> Dict[str, str]:
    return {
        name: evr
        for name, evr in state["available"].items()
        if name in state["installed"] and state["installed"][name] != evr
    }


def _dnf5(state: Dict[str, Any], args: List[str]) -> int:
    words = [a for a in args if a not in ("-C", "-y", "-q")]
    command = words[0] if words else ""
    if command == "makecache":
        return 0
    if command == "check-upgrade":
        upgrades = _upgrades(state)
        for name, evr in sorted(upgrades.items()):
            print(f"{name}.noarch{' ' * 8}{evr}{' ' * 8}fake-repo")
        return 100 if upgrades else 0
    if words[:2] == ["advisory", "list"]:
        rows = []
        for adv in state["advisories"]:
            for name in adv["packages"]:
                if name in _upgrades(state):
                    epoch, version, release = _evr_parts(state["available"][name])
                    refs = [{"reference_id": c, "reference_type": "cve"} for c in adv["cves"]]
                    rows.append(
                        {
                            "advisory_name": adv["id"],
                            "advisory_type": adv["type"],
                            "advisory_severity": adv["severity"],
                            "advisory_buildtime": 1768435200,
                            "nevra": f"{name}-{epoch}:{version}-{release}.noarch",
                            "references": refs,
                        }
                    )
        print(json.dumps(rows))
        return 0
    if command == "upgrade":
        download_only = "--downloadonly" in words
        specs = [w for w in words[1:] if not w.startswith("--")]
        for spec in specs:
            name = next(n for n in state["available"] if spec.startswith(n + "-"))
            if download_only:
                continue
            state["installed"][name] = state["available"][name]
            print(f"  Upgrading        : {spec}.noarch")
            if name in state.get("failing", []):
                print(f"warning: %post({spec}.noarch) scriptlet failed, exit status 1")
            if name in state.get("reboot_packages", []):
                state.setdefault("since_boot", []).append(name)
        _save(state)
        return 0
    if command == "needs-restarting":
        since = sorted(set(state.get("since_boot", [])))
        if not since:
            print("No core libraries or services have been updated since boot-up.")
            return 0
        print("Core libraries or services have been updated since boot-up:")
        for name in since:
            print(f"  * {name}")
        print("\nReboot is required to fully utilize these updates.")
        return 1
    print(f"fake dnf5: unknown command {words}", file=sys.stderr)
    return 2


def put_on_path(bin_dir: str, python: str) -> None:
    """Write the wrappers named dnf5 and rpm into bin_dir, each running this fake by python."""
    for tool in ("dnf5", "rpm"):
        wrapper = os.path.join(bin_dir, tool)
        with open(wrapper, "w", encoding="utf-8") as handle:
            handle.write(
                '#!/bin/sh\nexec %s %s %s "$@"\n' % (python, os.path.abspath(__file__), tool)
            )
        os.chmod(wrapper, 0o755)


def main() -> int:
    tool, args = sys.argv[1], sys.argv[2:]
    state = _load()
    state.setdefault("calls", []).append([tool, *args])
    _save(state)
    state = _load()
    return _rpm(state, args) if tool == "rpm" else _dnf5(state, args)


if __name__ == "__main__":
    sys.exit(main())
