"""How much memory a report of one large round takes (issue 21, finding 5).

A round's journal may hold 64 MiB (connector/run/stream.py's bound), nearly all of it
package-manager output a report never shows. This stores one run whose round holds about
65 MiB of `apt.output` records beside a scan, two warnings and the final record, then makes
the HTML report from the store in a fresh process, and prints that process's peak RSS growth.

Run: .venv/bin/python bench/report_memory.py [--records 65000] [--pythonpath SRC]
(--pythonpath: measure another tree's patchpilot, e.g. an older commit's `git archive`.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RoundRow, RunRow, open_store

_MEASURE = """
import resource, sys, time
from patchpilot.connector.reports import gather, render
from patchpilot.connector.store import open_store
store = open_store(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.monotonic()
text = render(gather(store, "r1"), "html")
took = time.monotonic() - started
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(f"report {len(text):,} chars in {took:.1f} s; peak RSS grew {grown / 1024:.0f} MB")
"""


def fill(state: Path, records: int) -> int:
    """Store run r1 with one round of records `apt.output` lines; return the journal's bytes."""
    store = open_store(state)
    store.create_run(
        RunRow("r1", "web1", "install", "{}", Secret("s" * 64), "running", None, "t0", None, None)
    )
    store.save_round(RoundRow("r1", 1, "done"))
    scan = [{"id": f"lab-{n}", "candidate_version": "2", "title": f"lab {n}"} for n in range(50)]
    store.add_record("r1", 1, {"seq": 1, "event": "scan.done", "level": "info",
                               "fields": {"updates": scan}})  # fmt: skip
    line = "Unpacking lab-package (2.0-1) over (1.0-1) ... " * 20  # about 1 KiB
    for seq in range(2, records + 2):
        store.add_record("r1", 1, {"seq": seq, "event": "apt.output", "level": "info",
                                   "fields": {"line": line}})  # fmt: skip
    for seq, level in ((records + 2, "warning"), (records + 3, "error")):
        store.add_record("r1", 1, {"seq": seq, "event": "apt.note", "level": level,
                                   "fields": {"message": "held back"}})  # fmt: skip
    store.add_record("r1", 1, {"seq": records + 4, "event": "round.result", "level": "info",
                               "fields": {"status": "success", "updates": scan}})  # fmt: skip
    updates = [{"id": u["id"], "status": "installed", "round": 1} for u in scan]
    store.finish_run("r1", {"run_id": "r1", "target": "web1", "status": "success",
                            "exit_code": 0, "finished": "t1", "updates": updates})  # fmt: skip
    size = int(store.journal_size("r1", 1)[1])
    store.close()
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=65_000)
    parser.add_argument("--pythonpath", help="the patchpilot tree to measure (default: this)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="report-memory-") as folder:
        size = fill(Path(folder), args.records)
        print(f"journal: {args.records + 4:,} records, {size / 2**20:.0f} MiB")
        env = dict(os.environ)
        if args.pythonpath:
            env["PYTHONPATH"] = args.pythonpath
        done = subprocess.run([sys.executable, "-c", _MEASURE, folder], env=env, check=True,
                              capture_output=True, text=True)  # fmt: skip
        print(done.stdout.strip())


if __name__ == "__main__":
    main()
