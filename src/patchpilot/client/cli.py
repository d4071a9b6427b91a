"""The client's command line (argparse): run, scan, installed, attach, lock, unlock, hook,
version.

The one place that prints and turns failures into exit statuses (exits.py); the commands'
work lives in the modules they call. `--output FILE` (scan, lock, unlock) captures what a
command prints and its exit status into a 0600 JSON file: on Windows these commands run as a
SYSTEM task (the connector's remote session cannot reach a UNC share, and WUA refuses remote
tokens), so the connector reads their answer from that file instead of from stdout.

Each command imports what it needs when it runs: the client starts several times per round
(lock, run, scan, unlock), so a `lock` that loaded the round, the endpoints and every backend
cost the target ~70 ms of CPU each time, on every server of a fleet at once (issue 14).
"""

import argparse
import contextlib
import io
import json
import os
import stat
import sys
import traceback
from typing import TYPE_CHECKING, List, Optional, Sequence

from patchpilot.client import CLIENT_VERSION
from patchpilot.client.exits import ClientExit
from patchpilot.client.jobspec import BACKENDS, JobSpec, JobSpecError, parse_job_spec
from patchpilot.client.lock import ClientLock, claim_run_lock, read_run_lock, release_run_lock
from patchpilot.client.platforms import is_private
from patchpilot.client.state import write_atomic
from patchpilot.protocol import RUN_ID_RE

if TYPE_CHECKING:
    from patchpilot.client.backends.base import Update
    from patchpilot.client.journal import Journal
    from patchpilot.client.paths import RoundPaths

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print("patchpilot-client: error: %s" % message, file=sys.stderr)
        sys.exit(ClientExit.USAGE)


def _run_id(value: str) -> str:
    if not RUN_ID_RE.fullmatch(value):
        raise argparse.ArgumentTypeError("run id must match %s" % RUN_ID_RE.pattern)
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="patchpilot-client", description="patchpilot's client on the target")
    commands = parser.add_subparsers(dest="command")
    commands.required = True  # add_subparsers(required=) is 3.7+
    run = commands.add_parser("run", help="run one round from a job spec")
    run.add_argument("--job", required=True, help="the job spec (JSON, mode 0600)")
    scan = commands.add_parser("scan", help="list applicable updates, change nothing")
    scan.add_argument("--json", action="store_true", help="print JSON")
    scan.add_argument("--backend", default="auto", choices=BACKENDS)
    _output_option(scan)
    versions = commands.add_parser(
        "installed", help="print the installed versions of packages, once no lock is held"
    )
    versions.add_argument("ids", nargs="+", metavar="ID")
    versions.add_argument("--backend", default="auto", choices=BACKENDS)
    versions.add_argument(
        "--lock-timeout", type=float, default=300.0, metavar="SECONDS", help="wait for the lock"
    )
    _output_option(versions)
    att = commands.add_parser("attach", help="relay or serve a round's log endpoint on stdio")
    att.add_argument("--run", required=True, type=_run_id)
    att.add_argument("--round", required=True, type=int, choices=range(1, 100), metavar="N")
    att.add_argument(
        "--listen",
        type=float,
        metavar="SECONDS",
        help="serve the journal from disk on the round's endpoint, to one connector that "
        "connects within SECONDS (when no live client serves it)",
    )
    for name, text in (("lock", "claim the per-target run lock"), ("unlock", "release it")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--run", required=True, type=_run_id)
        _output_option(sub)
    hook = commands.add_parser("hook", help="run one operator hook from its spec (0600 JSON)")
    hook.add_argument("--spec", required=True, help="the hook spec: command, timeout, env")
    _output_option(hook)
    commands.add_parser("version", help="print the client version")
    return parser


def _output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output", metavar="FILE", help="write {exit, stdout, stderr} as JSON to FILE (0600)"
    )


def _read_spec(job_file: str) -> JobSpec:
    """Return the job spec in job_file; raise JobSpecError saying why it is refused."""
    try:
        mode = stat.S_IMODE(os.stat(job_file).st_mode)
        if mode & 0o077:
            raise JobSpecError(
                "%s is readable by others (mode %o); it holds the run's secret" % (job_file, mode)
            )
        with open(job_file, encoding="utf-8") as handle:
            return parse_job_spec(handle.read())
    except (OSError, UnicodeDecodeError) as exc:
        raise JobSpecError(str(exc)) from exc


def _cmd_run(job_file: str) -> int:
    from patchpilot.client.journal import Journal
    from patchpilot.client.paths import RoundPaths

    paths = RoundPaths(os.path.dirname(os.path.abspath(job_file)))
    try:
        spec: Optional[JobSpec] = _read_spec(job_file)
        refusal = ""
    except JobSpecError as exc:
        spec, refusal = None, str(exc)
    lock = ClientLock()
    if not lock.acquire(spec.run_id if spec else "?", spec.round if spec else 0):
        print(
            "patchpilot-client: another client runs on this target: %s" % lock.holder(),
            file=sys.stderr,
        )
        return ClientExit.HELD
    try:  # the journal is only touched while holding the client lock
        journal = Journal(paths.journal if os.access(paths.folder, os.W_OK) else None)
        if spec is None:
            journal.append("job.refused", "error", reason=refusal)
            print("patchpilot-client: job spec refused: %s" % refusal, file=sys.stderr)
            return ClientExit.REFUSED
        return _run_round(spec, paths, journal)
    finally:
        lock.release()


def _run_round(spec: JobSpec, paths: "RoundPaths", journal: "Journal") -> int:
    from patchpilot.client.backends import BACKEND_ENV, make_backend
    from patchpilot.client.round import Round

    holder = read_run_lock()
    if holder is not None and holder.get("run") != spec.run_id:
        print("patchpilot-client: the target is held by %s" % json.dumps(holder), file=sys.stderr)
        return ClientExit.HELD
    os.chmod(paths.folder, 0o700)
    choice = os.environ.get(BACKEND_ENV) or spec.backend
    backend = make_backend(
        choice, spec.lock_timeout, windows=spec.windows, download_limit=spec.download_limit
    )
    return Round(spec, paths, journal, backend).run()


def _print_updates(updates: "Sequence[Update]", as_json: bool) -> None:
    if as_json:
        print(json.dumps([u.to_dict() for u in updates], indent=1))
        return
    for u in updates:
        flag = " [security]" if u.is_security else ""
        print("%-30s %s -> %s%s" % (u.id, u.installed_version, u.candidate_version, flag))
    print("%d update(s)" % len(updates))


def _is_root() -> bool:
    """Say whether this process runs as root (always true for SYSTEM on Windows' task)."""
    geteuid = getattr(os, "geteuid", None)
    return geteuid is None or geteuid() == 0


def _cmd_scan(as_json: bool, choice: str) -> int:
    from patchpilot.client.backends import BACKEND_ENV, make_backend

    backend = make_backend(os.environ.get(BACKEND_ENV) or choice, refresh=_is_root())
    _print_updates(backend.scan(lambda event, level, fields: None), as_json)
    return ClientExit.OK


def _cmd_installed(ids: "Sequence[str]", choice: str, lock_timeout: float) -> int:
    """Print {"versions": id -> fully installed version, "lock_held": ...} as JSON: what the
    package database says once no other process changes it (a killed client's dpkg may run
    on), read after a run's last round (docs/reliability.md, "The result is the server's")."""
    from patchpilot.client.backends import BACKEND_ENV, make_backend
    from patchpilot.client.backends.base import LockTimeout

    backend = make_backend(os.environ.get(BACKEND_ENV) or choice, lock_timeout, refresh=False)
    try:
        backend.wait_for_locks(lambda event, level, fields: None)
        held = ""
    except LockTimeout as exc:  # read anyway, and say so: the caller decides
        held = str(exc)
    versions = backend.installed_versions(sorted(set(ids)))
    print(json.dumps({"versions": versions, "lock_held": held}))
    return ClientExit.OK


def _cmd_lock(run_id: str) -> int:
    holder = claim_run_lock(run_id)
    if holder is not None:
        print(json.dumps(holder))
        return ClientExit.HELD
    return ClientExit.OK


def _cmd_unlock(run_id: str) -> int:
    if not release_run_lock(run_id):
        print(json.dumps({"released": False, "holder": read_run_lock()}))
    return ClientExit.OK


def _cmd_attach(run_id: str, round_no: int, listen: Optional[float]) -> int:
    from patchpilot.client.attach import attach, listen_once

    try:
        if listen is None:
            attach(run_id, round_no)
        elif not listen_once(run_id, round_no, listen):
            print("patchpilot-client: nobody connected in %g s" % listen, file=sys.stderr)
            return ClientExit.FAILED
    except (FileNotFoundError, JobSpecError) as exc:
        print("patchpilot-client: nothing to attach to: %s" % exc, file=sys.stderr)
        return ClientExit.FAILED
    return ClientExit.OK


def _cmd_hook(spec_file: str) -> int:
    """Run the hook in spec_file; print how it went (its exit is in the answer, not ours)."""
    from patchpilot.client.hooks import HookSpecError, parse_hook_spec, run_hook

    try:
        spec = parse_hook_spec(_read_private(spec_file))
    except (OSError, UnicodeDecodeError, HookSpecError) as exc:
        print("patchpilot-client: hook spec refused: %s" % exc, file=sys.stderr)
        return ClientExit.REFUSED
    print(json.dumps(run_hook(spec)))
    return ClientExit.OK


def _read_private(path: str) -> str:
    """Return a root-only file's text; refuse one that others may read or write."""
    from patchpilot.client.hooks import HookSpecError

    mode = stat.S_IMODE(os.stat(path).st_mode)
    if not is_private(mode):
        raise HookSpecError("%s is open to others (mode %o)" % (path, mode))
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _cmd_run(args.job)
    if args.command == "scan":
        return _cmd_scan(args.json, args.backend)
    if args.command == "installed":
        return _cmd_installed(args.ids, args.backend, args.lock_timeout)
    if args.command == "attach":
        return _cmd_attach(args.run, args.round, args.listen)
    if args.command == "lock":
        return _cmd_lock(args.run)
    if args.command == "unlock":
        return _cmd_unlock(args.run)
    if args.command == "hook":
        return _cmd_hook(args.spec)
    print(CLIENT_VERSION)
    return ClientExit.OK


def _guarded(args: argparse.Namespace) -> int:
    try:
        return int(_dispatch(args))
    except KeyboardInterrupt:
        return ClientExit.INTERNAL
    except Exception:  # the one place a bug becomes exit status 70, traceback on stderr
        traceback.print_exc()
        return ClientExit.INTERNAL


def _captured(args: argparse.Namespace, output: str) -> int:
    """Run a command with what it prints and its exit status written to output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = _guarded(args)
    answer = {"exit": status, "stdout": out.getvalue(), "stderr": err.getvalue()[-4000:]}
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    write_atomic(os.path.abspath(output), json.dumps(answer).encode("utf-8"))
    return status


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; return the exit status (docs/protocol.md)."""
    args = _parser().parse_args(argv)
    output = getattr(args, "output", None)
    return _guarded(args) if output is None else _captured(args, output)
