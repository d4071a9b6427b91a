"""The zypper backend (SLES, openSUSE) through `zypper --non-interactive --xmlout`.

Scan: `refresh`, then `list-updates` (XML) for the package candidates; each candidate's
advisory (severity, CVEs, reboot_suggested: zypper's patches) is read from the repositories'
updateinfo.xml as zypper downloaded it (its raw cache). Install: one `zypper install` of the
pinned editions (`name=epoch:version-release`); exit 103 means zypper updated the package
manager itself and the rest must run again, which is done once; 102 (reboot needed) and 107
(a scriptlet failed: that package fails alone) are results, not errors. Reboot: `zypper
needs-rebooting` (exit 102), libzypp's /run/reboot-needed, and advisories' reboot flags.
"""

import os
from typing import List, Sequence, Set, Tuple

from patchpilot.client.backends.base import RebootState, StaleReport, Update
from patchpilot.client.backends.dpkg import Command, run_command, run_tool
from patchpilot.client.backends.rpmbase import RpmBackend, make_update
from patchpilot.client.backends.rpmlocks import (
    ZYPP_LOCKS,
    is_locked,
    parse_zypp_locks,
    read_text,
)
from patchpilot.client.backends.rpmparse import Available
from patchpilot.client.backends.updateinfo import read_updateinfo
from patchpilot.client.backends.zypperparse import parse_list_updates, parse_messages

__all__ = ["ZypperBackend"]

RAW_CACHE = "/var/cache/zypp/raw"
REBOOT_FLAG = "/run/reboot-needed"
EXIT_REBOOT_NEEDED = 102
EXIT_RESTART_NEEDED = 103  # zypper updated itself: run it again
EXIT_SCRIPT_FAILED = 107
_OK = (0, EXIT_REBOOT_NEEDED, EXIT_RESTART_NEEDED, EXIT_SCRIPT_FAILED)


class ZypperBackend(RpmBackend):
    name = "zypper"
    hold_note = "held back: zypper lock (zypper addlock)"
    pid_locks = ("/run/zypp.pid", "/var/run/zypp.pid")

    def _zypper(self, *args: str) -> Command:
        return run_command(["zypper", "--non-interactive", "--xmlout", *args])

    def _refresh(self) -> Command:
        return self._zypper("refresh")

    def _list_updates(self) -> List[Update]:
        found = self._candidates()
        patterns = parse_zypp_locks(read_text(ZYPP_LOCKS) or "")
        locked: Set[str] = set()
        if patterns:  # zypper leaves locked packages out; --all lists them too
            listed = {candidate.name for candidate, _ in found}
            every = self._candidates("--all")
            extra = [(c, old) for c, old in every if c.name not in listed]
            found += [(c, old) for c, old in extra if is_locked(c.name, patterns)]
            locked = {c.name for c, _ in extra}
        advisories = read_updateinfo(RAW_CACHE)
        updates = [
            make_update(candidate, old or None, advisories.get((candidate.name, candidate.evr)))
            for candidate, old in found
        ]
        return [u.held_if(locked) for u in updates]

    def _candidates(self, *options: str) -> List[Tuple[Available, str]]:
        done = self._zypper("--no-refresh", "list-updates", *options)
        if done.returncode != 0:
            raise RuntimeError("zypper list-updates failed: %s" % _said(done))
        return parse_list_updates(done.output)

    def _transaction(self, updates: Sequence[Update], download_only: bool) -> Command:
        pinned = ["%s=%s" % (u.id, u.candidate_version) for u in updates]
        args = ["install", "--no-recommends", *(["--download-only"] if download_only else [])]
        done = self._zypper(*args, *pinned)
        if done.returncode == EXIT_RESTART_NEEDED:  # the package manager was updated first
            again = self._zypper(*args, *pinned)
            done = Command(again.argv, again.returncode, done.output + again.output)
        if done.returncode in _OK:  # a result, not a failure of the transaction
            return Command(done.argv, 0, done.output)
        return done

    def stale(self) -> StaleReport:
        done = run_tool(["zypper", "--non-interactive", "ps", "-sss"])  # service names only
        if done is None or done.returncode != 0:
            return StaleReport()
        names = (line.strip() for line in done.output.splitlines())
        return StaleReport(sorted({n for n in names if n and " " not in n}), tool="zypper ps -sss")

    def said(self, output: str) -> str:
        messages = [text for _, text in parse_messages(output) if text]
        return "\n".join(messages) if messages else output

    def reboot_state(self) -> RebootState:
        reasons = self.reboot_reasons()
        done = self._zypper("needs-rebooting")
        if done.returncode == EXIT_REBOOT_NEEDED:
            reasons.append("zypper needs-rebooting: exit 102 (libzypp: %s)" % REBOOT_FLAG)
        elif os.path.exists(REBOOT_FLAG):
            reasons.append(REBOOT_FLAG)
        return RebootState(bool(reasons), reasons)


def _said(done: Command) -> str:
    messages = [text for kind, text in parse_messages(done.output) if kind in ("error", "warning")]
    return " | ".join(messages)[-1000:] or done.output[-1000:]
