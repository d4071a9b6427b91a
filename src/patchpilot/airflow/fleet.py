"""A fleet in Airflow: an inventory and a `--limit` pattern become mapped patchpilot tasks.

`patchpilot_fleet(...)` returns a TaskGroup that keeps the fleet's rules: a first task scans
the plan host (a check-only run) and every server installs that frozen plan; the selected
hosts are cut into `serial` batches, each one mapped task (`.expand_kwargs`, one task
instance per server, at most `concurrency` at once); between batches a gate counts the
batch's failures, and once they exceed `max_fail_percent` (without it: once a whole batch
failed), or the failures of all batches so far reach `max_fail`, the gate fails, so later
batches never start. (A running DAG run is paused with Airflow's own controls, not
`patchpilot pause`.) Hosts, options and batches are read
when the DAG is parsed (as `patchpilot fleet` reads them before touching a server).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, TaskGroup
from airflow.sdk.exceptions import AirflowFailException

from patchpilot.airflow.operator import PatchpilotOperator
from patchpilot.airflow.settings import Verdict, run_options, verdict_of
from patchpilot.connector import (
    FleetJob,
    FleetOptions,
    RunOptions,
    exceeds_fail_threshold,
    parse_serial,
    plan_batches,
    prepare_fleet,
)

__all__ = ["FleetGate", "batch_failures", "patchpilot_fleet"]

_FLEET_ONLY = frozenset({"run_id", "plan"})


def batch_failures(results: Sequence[dict[str, Any] | None], size: int) -> int:
    """Count a batch's failed servers: a result that is no success, or no result at all."""
    succeeded = sum(
        1
        for r in results
        if r is not None and verdict_of(int(r.get("exit_code", 70))) is Verdict.SUCCESS
    )
    return size - succeeded


class FleetGate(BaseOperator):
    """Fail (so later batches never start) when a batch's failures exceed the threshold, or
    when the failures of every batch so far reach max_fail."""

    def __init__(
        self,
        *,
        batch_task_id: str,
        size: int,
        max_fail_percent: float | None,
        max_fail: int | None = None,
        earlier: Sequence[tuple[str, int]] = (),  # (batch task id, size) of earlier batches
        **kwargs: Any,
    ) -> None:
        super().__init__(trigger_rule="all_done", **kwargs)
        self.batch_task_id = batch_task_id
        self.size = size
        self.max_fail_percent = max_fail_percent
        self.max_fail = max_fail
        self.earlier = list(earlier)

    def execute(self, context: Any) -> int:
        results = _results(context["ti"], self.batch_task_id)
        failed = batch_failures(results, self.size)
        self.log.info("%s: %d of %d servers failed", self.batch_task_id, failed, self.size)
        if not results:
            raise AirflowFailException(
                f"no server of {self.batch_task_id} left a result (the batch did not start, "
                "or its tasks failed before running): later batches do not start"
            )
        if exceeds_fail_threshold(failed, self.size, self.max_fail_percent):
            limit = f"{self.max_fail_percent:g}%" if self.max_fail_percent is not None else "all"
            raise AirflowFailException(
                f"{failed} of {self.size} servers of {self.batch_task_id} failed (over {limit}):"
                " later batches do not start"
            )
        if self.max_fail is not None:
            ti = context["ti"]
            total = failed + sum(batch_failures(_results(ti, t), n) for t, n in self.earlier)
            if total >= self.max_fail:
                raise AirflowFailException(
                    f"{total} servers failed in the batches so far (max_fail {self.max_fail}):"
                    " later batches do not start"
                )
        return failed


def _results(ti: Any, task_id: str) -> list[dict[str, Any]]:
    """Return the results a batch's task instances pushed (one per mapped instance)."""
    pulled = ti.xcom_pull(task_ids=task_id, key="result")
    if pulled is None:
        return []
    if isinstance(pulled, dict):
        return [pulled]
    return list(pulled)


def patchpilot_fleet(
    *,
    inventory: str | Path,
    limit: str | None = None,
    serial: str | None = None,
    max_fail_percent: float | None = None,
    max_fail: int | None = None,
    concurrency: int = 50,
    plan_from: str | None = None,
    group_id: str = "patchpilot_fleet",
    ssh_conn_id: str | None = None,
    state_url: str | None = None,
    state_conn_id: str | None = None,
    state_dir: str | None = None,
    **options: Any,
) -> TaskGroup:
    """Return the fleet's TaskGroup (call inside a DAG); options are `patchpilot run`'s.

    Each host's address and port come from the inventory (`ansible_host`, `ansible_port`),
    its `patchpilot_*` variables override options; login, key and known_hosts come from
    ssh_conn_id. Raise ConfigurationError (at parse time) for a bad inventory or option.
    """
    rollout = FleetOptions(
        concurrency=concurrency,
        serial=parse_serial(serial) if serial else (),
        max_fail_percent=max_fail_percent,
        max_fail=max_fail,
    )
    job = FleetJob(Path(inventory), limit, rollout, plan_from, "airflow", run_options(options))
    fleet = prepare_fleet(job)  # the inventory, the limit, every host's options: checked
    hosts = fleet.hosts
    sizes = plan_batches(len(hosts), rollout.serial)
    common: dict[str, Any] = {
        "ssh_conn_id": ssh_conn_id,
        "state_url": state_url,
        "state_conn_id": state_conn_id,
        "state_dir": state_dir,
    }
    with TaskGroup(group_id=group_id) as group:
        upstream: BaseOperator | None = None
        plan_task_id = None
        if not job.options.check_only:
            plan_host = fleet.plan_host
            upstream = PatchpilotOperator(
                task_id="plan",
                target=plan_host.name,
                host=plan_host.address,
                port=plan_host.port,
                options={**_dumped(fleet.plan_options), "check_only": True,
                         "download_only": False},
                **common,
            )  # fmt: skip
            plan_task_id = upstream.task_id
        start = 0
        done: list[tuple[str, int]] = []  # earlier batches: their failures count for max_fail
        for number, size in enumerate(sizes, start=1):
            batch = hosts[start : start + size]
            start += size
            mapped = PatchpilotOperator.partial(
                task_id=f"batch_{number}",
                max_active_tis_per_dagrun=concurrency,
                plan_task_id=plan_task_id,
                **common,
            ).expand_kwargs(
                [
                    {
                        "target": h.name,
                        "host": h.address,
                        "port": h.port,
                        "options": _dumped(fleet.options[h.name]),
                    }
                    for h in batch
                ]
            )
            if upstream is not None:
                upstream >> mapped
            if number < len(sizes):
                gate = FleetGate(
                    task_id=f"gate_{number}",
                    batch_task_id=f"{group_id}.batch_{number}",
                    size=size,
                    max_fail_percent=max_fail_percent,
                    max_fail=max_fail,
                    earlier=list(done),
                )
                mapped >> gate
                upstream = gate
            done.append((f"{group_id}.batch_{number}", size))
    return group


def _dumped(options: RunOptions) -> dict[str, Any]:
    """Return a host's options as JSON values, without what the fleet sets itself."""
    dumped: dict[str, Any] = options.model_dump(mode="json", exclude_defaults=True)
    return {k: v for k, v in dumped.items() if k not in _FLEET_ONLY}
