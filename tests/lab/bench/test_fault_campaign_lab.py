"""CI's small fault campaign (issue 22): three servers (apt, dnf, zypper), 20 seeded faults
at random moments, every invariant checked on the servers; bench/faults.py runs the long one
(docs/reliability.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from patchpilot.lab.lab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.timeout(1200)]

BENCH = Path(__file__).resolve().parents[3] / "bench"
SEED = 7  # replay: .venv/bin/python bench/faults.py --servers 3 --faults 20 --seed 7 ...


def test_a_seeded_campaign_ends_with_every_invariant_held(lab: Lab, tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import faults  # a script beside the tests, not a package
    finally:
        sys.path.remove(str(BENCH))
    # --max-interruptions 5: a server's several resets and kills are recovered rather than
    # ending its run at the default limit (78), so more of the recovery paths are exercised
    args = argparse.Namespace(servers=3, faults=20, flavors="mixed", window=45.0, max_cut=20.0,
                              deadline=600.0, slow=20, postgres=False,
                              max_interruptions=5)  # fmt: skip
    run = faults.campaign(lab, SEED, args, None, tmp_path)
    text = faults.table([run])
    print(text)
    assert len(run["faults"]) == 20 and sum(f["done"] for f in run["faults"]) >= 5
    assert sorted(run["servers"].values()) == ["apt", "dnf", "zypper"]
    # every invariant fails the test, the result's agreement with the server's package
    # manager too (docs/reliability.md, "The result is the server's")
    assert run["violations"] == [], text
