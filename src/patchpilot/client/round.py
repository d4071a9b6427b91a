"""One round on the target: prepare, scan, select, download/install, result, ack, reboot.

Each step journals what it did; state.json follows the phase. The log server runs alongside so
the connector can watch live. After the final `round.result` record the round waits for the
connector's ack (up to the job's ack_timeout), then reboots if the policy and the result say so.
"""

import os
import subprocess
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

from patchpilot.client import CLIENT_VERSION
from patchpilot.client.backends.base import (
    Backend,
    LockTimeout,
    RebootState,
    SelectionUnsupported,
    Update,
    UpdateResult,
)
from patchpilot.client.endpoints import Endpoint, open_endpoint
from patchpilot.client.exits import ClientExit
from patchpilot.client.heartbeat import Heartbeat
from patchpilot.client.inventory_diff import change_record
from patchpilot.client.jobspec import JobSpec
from patchpilot.client.journal import Journal
from patchpilot.client.outcome import round_status, will_reboot
from patchpilot.client.paths import RoundPaths
from patchpilot.client.reboot import issue_reboot, reboot_commands
from patchpilot.client.replaced import own_unit, scan
from patchpilot.client.restart import plan_restarts, restart_services, services_record
from patchpilot.client.selection import select_updates
from patchpilot.client.session import LogServer, SessionConfig
from patchpilot.client.state import StateFile

__all__ = ["AckWaiter", "Round", "boot_id"]

# Failures of the system, not of the client: the round ends with status "error", exit 4.
Rebooter = Callable[[], Tuple[Optional[str], List[str]]]
ROUND_ERRORS = (LockTimeout, RuntimeError, OSError, subprocess.SubprocessError)


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""


class AckWaiter:
    """Remember the highest seq the connector acknowledged; wait for one at least so high."""

    def __init__(self) -> None:
        self._acked = 0
        self._cond = threading.Condition()
        self.is_reboot_withheld = False  # the connector said: do not reboot (hook, window)

    def withhold(self, seq: int) -> None:
        self.is_reboot_withheld = True

    def ack(self, seq: int) -> None:
        with self._cond:
            self._acked = max(self._acked, seq)
            self._cond.notify_all()

    def wait(self, seq: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._acked < seq:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True


class Round:
    """Run one round of spec with backend, journaling into journal."""

    REBOOT_GRACE = 120.0  # seconds a reboot may take to end this process

    def __init__(
        self,
        spec: JobSpec,
        paths: RoundPaths,
        journal: Journal,
        backend: Backend,
        reboot: Rebooter = issue_reboot,
        endpoint: Optional[Endpoint] = None,
    ) -> None:
        self._spec = spec
        self._endpoint = endpoint  # default: open_endpoint() when the round starts
        self._issue_reboot = reboot
        self._paths = paths
        self._journal = journal
        self._backend = backend
        self._acks = AckWaiter()
        self._server: Optional[LogServer] = None
        self._state = StateFile(paths.state, spec.run_id, spec.round)
        self._earlier: List[UpdateResult] = []  # installed before an interruption (recovery)

    def _emit(self, event: str, level: str, fields: Dict[str, object]) -> None:
        self._journal.record(event, level, fields)

    def run(self) -> int:
        """Run the round to its end; return the client's exit status."""
        spec = self._spec
        config = SessionConfig(
            self._journal,
            spec.secret,
            spec.run_id,
            spec.round,
            on_ack=self._acks.ack,
            on_withhold=self._acks.withhold,
        )
        server = self._server = LogServer(
            self._endpoint or open_endpoint(self._paths, spec.run_id, spec.round, spec.secret),
            config,
        )
        server.start()
        heartbeat = Heartbeat(self._journal, lambda: (self._state.phase, self._state.since))
        heartbeat.start()
        try:
            result = self._work()
            heartbeat.stop()
            self._conclude(result)
            return int(result["exit_status"])
        finally:
            heartbeat.stop()
            self._journal.finish()
            server.stop()

    def _work(self) -> Dict[str, Any]:
        try:
            return self._steps()
        except ROUND_ERRORS as exc:
            message, exit_status = "%s: %s" % (type(exc).__name__, exc), ClientExit.FAILED
        except Exception:  # a bug: keep the traceback in the journal
            message, exit_status = traceback.format_exc(), ClientExit.INTERNAL
        return {
            "status": "error",
            "action": self._spec.action,
            "message": message,
            "updates": [],
            # what an interrupted round had installed stays reported when this one fails
            "results": [r.to_dict() for r in self._earlier],
            "reboot_required": False,
            "reboot_reasons": [],
            "will_reboot": False,
            "exit_status": int(exit_status),
        }

    def _steps(self) -> Dict[str, Any]:
        spec = self._spec
        self._journal.append(
            "run.started",
            run=spec.run_id,
            round=spec.round,
            action=spec.action,
            backend=self._backend.name,
            client_version=CLIENT_VERSION,
            boot_id=boot_id(),
        )
        if spec.selection.by_advisory and not self._backend.has_advisories:
            raise SelectionUnsupported(
                "%s has no advisory metadata: --severity, --advisory and --cve need dnf, "
                "zypper or WUA" % self._backend.name
            )
        if spec.download_limit and not self._backend.caps_downloads:
            raise SelectionUnsupported(
                "%s cannot cap its downloads: --download-limit works with apt and dnf (zypper: "
                "libzypp's download.max_download_speed stalled the lab's downloads; "
                "Windows: BITS policy)" % self._backend.name
            )
        if spec.selection.min_age is not None and not self._backend.has_release_dates:
            raise SelectionUnsupported(
                "%s has no release dates: apt's metadata does not say when a package version "
                "was published, so --min-age needs dnf, zypper or WUA" % self._backend.name
            )
        self._state.set("preparing")
        self._backend.prepare(self._emit)
        self._earlier = self._installed_before()  # before the scan, which may fail
        self._state.set("scanning")
        updates = self._backend.scan(self._emit)
        self._journal.append("scan.done", updates=[u.to_dict() for u in updates])
        backend = self._backend
        plan = select_updates(updates, spec.selection, backend.exceeds_plan, backend.hold_note)
        self._journal.record("plan.selected", "info", plan.to_fields())
        is_change = spec.action == "install" and bool(plan.selected)
        before = backend.inventory() if is_change else None
        earlier = self._earlier
        done = {r.id for r in earlier}
        results = earlier + self._apply([u for u in plan.selected if u.id not in done])
        changes = change_record(before, backend.inventory() if before is not None else None)
        reboot, services = self._services(results, self._backend.reboot_state())
        # what the cut round installed counts as this round's work: a round that only found
        # it is no "nothing" round, so a reboot it needs is followed by another round
        status = round_status(spec.action, len(plan.selected) + len(earlier), results)
        return {
            "status": status,
            "action": spec.action,
            "plan": plan.frozen(),
            "updates": [u.to_dict() for u in plan.selected],
            "results": [r.to_dict() for r in (*results, *plan.reported)],
            **({"changes": changes} if changes is not None else {}),
            "reboot_required": reboot.required,
            "reboot_reasons": list(reboot.reasons),
            **services,
            "will_reboot": will_reboot(spec.action, spec.reboot, status, reboot.required),
            "exit_status": int(ClientExit.OK),
        }

    def _installed_before(self) -> List[UpdateResult]:
        """Return what the interrupted round this one runs again installed before the cut:
        its planned updates already at their planned version (read from the package
        database, after the repair; reported even if this round fails later)."""
        recovery = self._spec.recovery
        if recovery is None or self._spec.action != "install":
            return []
        pending = sorted(recovery.planned)
        found = self._backend.installed_versions(pending) if pending else {}
        results = [
            UpdateResult(
                i,
                "installed",
                recovery.planned[i],
                "installed before round %d was interrupted" % recovery.round,
            )
            for i in pending
            if found.get(i) == recovery.planned[i]
        ]
        for result in results:
            self._journal.append("update.result", "info", **result.to_dict())
        return results

    def _services(
        self, results: List[UpdateResult], reboot: RebootState
    ) -> Tuple[RebootState, Dict[str, Any]]:
        """Return the round's reboot state and its result's fields on the services still
        running replaced files: listed (`restart_services`), or with `reboot: services`
        restarted unless a reboot is needed (`services`, client/restart.py)."""
        installed = [r.id for r in results if r.status == "installed"]
        if not installed:
            return reboot, {}
        if self._spec.reboot != "services":
            listed = list(self._backend.stale().services)
            return reboot, ({"restart_services": listed} if listed else {})
        self._state.set("restarting")
        restart = self._spec.restart
        if restart.install_tool:
            self._backend.install_restart_tool(self._emit)
        procs = scan(skip=(os.getpid(),))
        plan = plan_restarts(
            self._backend.stale(), procs, installed, restart.no_restart, own_unit()
        )
        reasons = list(reboot.reasons) + [r for r in plan.reboot_reasons if r not in reboot.reasons]
        required = reboot.required or bool(reasons)
        self._journal.append(
            "services.stale", stale=plan.stale, kept=plan.kept, reboot_reasons=reasons
        )
        restarted = [] if required else restart_services(plan.restart, self._emit)
        record = services_record(plan, restarted, reasons)
        return RebootState(required, reasons), {"services": record}

    def _apply(self, selected: List[Update]) -> List[UpdateResult]:
        action = self._spec.action
        if action == "scan" or not selected:
            return []
        self._state.set("downloading" if action == "download" else "installing")
        step = self._backend.download if action == "download" else self._backend.install
        results = step(selected, self._emit)
        for result in results:
            level = "info" if result.status in ("installed", "downloaded") else "warning"
            self._journal.append("update.result", level, **result.to_dict())
        return results

    def _conclude(self, result: Dict[str, Any]) -> None:
        level = "error" if result["status"] == "error" else "info"
        record = self._journal.append("round.result", level, **result)
        final_seq = int(record["seq"]) if record else self._journal.last_seq
        self._state.set("waiting-ack", result=result["status"], exit_status=result["exit_status"])
        if not self._acks.wait(final_seq, self._spec.ack_timeout):
            self._journal.append(
                "log.not_collected",
                "warning",
                ack_timeout=self._spec.ack_timeout,
                journal=self._paths.journal,
            )
        if result["will_reboot"] and self._acks.is_reboot_withheld:
            self._journal.append("reboot.withheld", "warning", by="connector")
        elif result["will_reboot"]:
            self._reboot(result["reboot_reasons"])
        phase = "failed" if result["status"] == "error" else "done"
        self._state.set(phase)

    def _reboot(self, reasons: List[str]) -> None:
        commands = reboot_commands()
        command = " ".join(commands[0]) if commands else None
        self._journal.append(
            "reboot.requested", command=command, reasons=reasons or ["policy: always"]
        )
        self._state.set("rebooting")
        self._journal.finish()
        if self._server is not None:  # let live readers take the last records and the bye
            self._server.drain(3.0)
        issued, failures = self._issue_reboot()
        if issued is None:
            self._journal.append("reboot.failed", "error", failures=failures)
            return
        if failures:  # an earlier command was refused or did not take effect
            self._journal.append("reboot.retried", "warning", command=issued, failures=failures)
        time.sleep(self.REBOOT_GRACE)  # the reboot ends this process; if not, say so
        late = "%s: still running after %d s" % (issued, self.REBOOT_GRACE)
        self._journal.append("reboot.failed", "error", failures=[late])
