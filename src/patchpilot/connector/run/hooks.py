"""Operator hooks: `--hook WHEN=COMMAND` on the target, `--local-hook WHEN=COMMAND` here.

A target hook runs as root through the client (`patchpilot-client hook --spec FILE`, the spec
written 0600 beside the run's rounds), so the command text reaches one shell exactly once; a
local hook runs under `/bin/sh -c` on the connector's host. Both get the same variables
(HookEnv) and a timeout (`--hook-timeout`); a local hook gets nothing else of the connector's
environment but where to find programs and the locale (`_KEPT`): never PGPASSWORD, the state
key or a WinRM/SMB password. Each hook's outcome (exit, bounded output,
seconds) becomes a journal record of the run (round 0 of the store's journal, beside the
client's rounds) and a line of the result; a point whose hooks all succeeded is recorded
done, so a resumed run never runs it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from patchpilot.connector.events import JournalRecord, utc_now
from patchpilot.connector.run.context import RoundContext
from patchpilot.connector.run.own_journal import HOOK_ROUND
from patchpilot.errors import HookError, LaunchError, TransportError

__all__ = [
    "HookEnv",
    "HookPoint",
    "HookRun",
    "has_hooks",
    "hooks_of",
    "is_point_done",
    "record",
    "run_local_hook",
    "run_point",
    "run_target_hook",
]

OUTPUT_LIMIT = 4000  # characters of a hook's output kept (the client keeps as many)
_KEPT = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR")


class HookPoint(enum.Enum):
    """Where in a run a hook runs."""

    PRE = "pre"  # once, before anything changes; non-zero stops the run (exit 81)
    PRE_REBOOT = "pre-reboot"  # before each reboot (drain); non-zero: no reboot, exit 82
    POST_REBOOT = "post-reboot"  # after each verified (and healthy) reboot
    POST = "post"  # once, after the last round (re-enable)


def hooks_of(options: Any, point: HookPoint) -> tuple[str | None, str | None]:
    """Return the (local, target) commands of a point in the run options."""
    name = point.value.replace("-", "_")
    return getattr(options, f"local_hook_{name}"), getattr(options, f"hook_{name}")


def has_hooks(options: Any, point: HookPoint) -> bool:
    """Say whether a point has any hook to run (its environment costs reads of the store)."""
    return hooks_of(options, point) != (None, None)


@dataclass(frozen=True)
class HookEnv:
    """What a hook is told, as PATCHPILOT_* environment variables."""

    run_id: str
    target: str
    point: str
    round: int
    applied: tuple[str, ...] = ()
    is_reboot_pending: bool = False

    def variables(self) -> dict[str, str]:
        """Return the variables; what a target reported (update ids) with a NUL or a lone
        surrogate escaped, since neither can be an environment value."""
        values = {
            "PATCHPILOT_RUN_ID": self.run_id,
            "PATCHPILOT_TARGET": self.target,
            "PATCHPILOT_HOOK": self.point,
            "PATCHPILOT_ROUND": str(self.round),
            "PATCHPILOT_UPDATES_APPLIED": " ".join(self.applied),
            "PATCHPILOT_UPDATES_APPLIED_COUNT": str(len(self.applied)),
            "PATCHPILOT_REBOOT_PENDING": "1" if self.is_reboot_pending else "0",
        }
        return {name: _env_safe(value) for name, value in values.items()}


def _env_safe(value: str) -> str:
    return value.replace("\0", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class HookRun:
    """How one hook went; exit 124 means it timed out."""

    point: str
    side: str  # "target" | "local"
    round: int
    exit: int
    output: str
    seconds: float
    is_timed_out: bool = False

    @property
    def is_ok(self) -> bool:
        return self.exit == 0 and not self.is_timed_out

    def fields(self) -> dict[str, object]:
        return {
            "point": self.point,
            "side": self.side,
            "round": self.round,
            "exit": self.exit,
            "timed_out": self.is_timed_out,
            "seconds": self.seconds,
            "output": self.output,
        }

    def describe(self) -> str:
        how = "timed out" if self.is_timed_out else f"exited {self.exit}"
        tail = self.output.strip().splitlines()[-1:] or [""]
        return f"{self.side} {self.point} hook {how}{': ' + tail[0][:200] if tail[0] else ''}"


async def run_local_hook(command: str, env: HookEnv, timeout: float) -> HookRun:
    """Run a hook on the connector's host under /bin/sh -c, in its own process group."""
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**{k: os.environ[k] for k in _KEPT if k in os.environ}, **env.variables()},
        start_new_session=True,
    )
    is_timed_out = False
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        is_timed_out = True
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
        output, _ = await process.communicate()
    finally:
        if process.returncode is None:  # cancelled: leave nothing behind
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
    text = output.decode("utf-8", "replace")[-OUTPUT_LIMIT:]
    code = 124 if is_timed_out else int(process.returncode or 0)
    seconds = round(time.monotonic() - started, 3)
    return HookRun(env.point, "local", env.round, code, text, seconds, is_timed_out)


async def run_target_hook(
    ctx: RoundContext, command: str, env: HookEnv, timeout: float, *, name: str | None = None
) -> HookRun:
    """Run a command on the target as root through the client; return how it went.

    The spec (command, timeout, environment) goes into a 0600 file, never onto a command
    line. A client that cannot run it at all counts as a failed hook (exit 127).
    """
    started = time.monotonic()
    spec = {"command": command, "timeout": timeout, "env": env.variables()}
    path = ctx.os.round_file(ctx.run_id, HOOK_ROUND, f"hook-{name or env.point}.json")
    try:
        await ctx.transport.put(json.dumps(spec).encode(), path, mode=0o600)
        done = await ctx.os.call_client(ctx.site, "hook", "--spec", path, timeout=timeout + 60)
        answer = json.loads(done.stdout) if done.ok else None
    except (TransportError, LaunchError, ValueError) as exc:
        answer, failure = None, str(exc)
    else:
        failure = "" if answer is not None else done.describe()
    if not isinstance(answer, dict):
        seconds = round(time.monotonic() - started, 3)
        text = f"the client could not run the hook: {failure}"[-OUTPUT_LIMIT:]
        return HookRun(env.point, "target", env.round, 127, text, seconds)
    return HookRun(
        env.point,
        "target",
        env.round,
        int(answer.get("exit", 127)),
        str(answer.get("output", ""))[-OUTPUT_LIMIT:],
        float(answer.get("seconds", 0.0)),
        bool(answer.get("timed_out")),
    )


def record(ctx: RoundContext, event: str, level: str, fields: Mapping[str, object]) -> None:
    """Add a connector record to the run's journal (round 0) and show it as it happens."""
    entry = {
        "seq": ctx.store.last_seq(ctx.run_id, HOOK_ROUND) + 1,
        "ts": utc_now(),
        "level": level,
        "event": event,
        "fields": dict(fields),
    }
    if ctx.store.add_record(ctx.run_id, HOOK_ROUND, entry):
        ctx.emit(JournalRecord(target=ctx.target, round=HOOK_ROUND, record=entry))


def is_point_done(ctx: RoundContext, point: HookPoint, round_no: int) -> bool:
    """Say whether this point's hooks already succeeded in this run (a resumed run)."""
    return any(
        r.get("event") == "hook.point_done"
        and (r.get("fields") or {}).get("point") == point.value
        and (r.get("fields") or {}).get("round") == round_no
        for r in ctx.store.records(ctx.run_id, HOOK_ROUND)
    )


async def run_point(ctx: RoundContext, point: HookPoint, env: HookEnv) -> None:
    """Run a point's hooks: going down (pre, pre-reboot) local then target, coming back up
    (post-reboot, post) target then local; raise HookError at the first that fails."""
    local, remote = hooks_of(ctx.options, point)
    if (local is None and remote is None) or is_point_done(ctx, point, env.round):
        return
    is_down = point in (HookPoint.PRE, HookPoint.PRE_REBOOT)
    steps = [("local", local), ("target", remote)]
    timeout = ctx.options.hook_timeout
    for side, command in steps if is_down else steps[::-1]:
        if command is None:
            continue
        ctx.phase(env.round, f"hook.{point.value}", f"{side} hook")
        if side == "local":
            run = await run_local_hook(command, env, timeout)
        else:
            run = await run_target_hook(ctx, command, env, timeout)
        record(ctx, "hook.done", "info" if run.is_ok else "error", run.fields())
        if not run.is_ok:
            raise HookError(run.describe(), point=point.value)
    record(ctx, "hook.point_done", "info", {"point": point.value, "round": env.round})
