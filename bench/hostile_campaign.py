"""The long campaign of the hostile-target fuzz test (issue 21; docs/security.md records it).

CI runs tests/unit/connector/test_hostile_target.py with a small fixed budget; this runs the
same property with many more examples (and a seed, so a campaign can be repeated), then
prints how many cases Hypothesis tried, how many passed, and the wall time.

Run: .venv/bin/python bench/hostile_campaign.py --examples 400 --seed 21
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/unit/connector/test_hostile_target.py"
_CASES = re.compile(r"(\d+) passing, (\d+) failing, and (\d+) invalid test cases")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=400, help="Hypothesis examples")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="seconds, at most")
    args = parser.parse_args()
    env = {**os.environ, "PATCHPILOT_FUZZ_EXAMPLES": str(args.examples)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", TEST,
         f"--hypothesis-seed={args.seed}", "--hypothesis-show-statistics",
         f"--timeout={int(args.timeout)}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.timeout + 60,
        check=False,
    )  # fmt: skip
    took = time.monotonic() - started
    found = _CASES.search(done.stdout)
    if found is None:
        print(done.stdout[-4000:], done.stderr[-2000:], sep="\n")
        return 1
    passing, failing, invalid = (int(n) for n in found.groups())
    print(
        f"seed {args.seed}: {passing + failing} cases tried ({passing} passing, {failing} "
        f"failing; {invalid} invalid draws) in {took / 60:.1f} min; pytest exit "
        f"{done.returncode}"
    )
    if done.returncode != 0:
        print(done.stdout[-6000:])
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
