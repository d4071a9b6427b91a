"""The long campaign of the hostile-target fuzz test (issue 21; docs/security.md records it).

CI runs tests/unit/connector/test_hostile_target.py with a small fixed budget; this runs the
same property with many more examples, for at most --minutes (a seed makes a campaign
repeatable), and prints how many cases it tried, their exit codes, the slowest run, and
whether every case passed. Each case notes its exit code in a tally file, so a campaign cut
by its time budget still says how many cases it tried.

Run: .venv/bin/python bench/hostile_campaign.py --examples 2000 --minutes 20 --seed 21
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/unit/connector/test_hostile_target.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="Hypothesis examples")
    parser.add_argument("--minutes", type=float, default=20.0, help="time budget")
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile(prefix="hostile-tally-", suffix=".txt") as tally:
        env = {**os.environ, "PATCHPILOT_FUZZ_EXAMPLES": str(args.examples),
               "PATCHPILOT_FUZZ_TALLY": tally.name}  # fmt: skip
        started = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", TEST,
                 f"--hypothesis-seed={args.seed}", "--timeout=0"],
                cwd=ROOT, env=env, capture_output=True, text=True, check=False,
                timeout=args.minutes * 60,
            )  # fmt: skip
            verdict = "every case passed" if done.returncode == 0 else "FAILED"
            tail = "" if done.returncode == 0 else done.stdout[-6000:]
        except subprocess.TimeoutExpired:
            verdict, tail = "every case passed until the time budget ran out", ""
        took = time.monotonic() - started
        cases = [line.split() for line in Path(tally.name).read_text().splitlines()]
    codes = collections.Counter(int(code) for code, _ in cases)
    slowest = max((float(seconds) for _, seconds in cases), default=0.0)
    print(
        f"seed {args.seed}: {len(cases)} cases in {took / 60:.1f} min, {verdict}; exit codes "
        f"{dict(sorted(codes.items()))}; slowest run {slowest:.1f} s"
    )
    print(tail, end="")
    return 0 if verdict != "FAILED" else 1


if __name__ == "__main__":
    sys.exit(main())
