"""`PatchpilotTrigger`: one run's whole wait, on Airflow's triggerer.

It calls the connector's `run_target` with the run's id: connecting, launching the client,
streaming its journal, waiting for reboots and readiness all happen here, in the triggerer's
event loop, holding no worker slot. A triggerer that is stopped or killed loses nothing: the
next one runs the trigger again, and `run_target` resumes the run from the store by its id
(re-attaching to the client or to the reboot in progress; nothing is installed twice). Each
connector event becomes a line of the task's log. The run ends as the command line's does,
through the connector's job entry point (`run_job`: --notify's summary, its warnings in the
task's log). The event it fires carries the result document (no secret) and, for a check-only
run, the frozen plan.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook
from airflow.triggers.base import BaseTrigger, TriggerEvent

from patchpilot.airflow.settings import (
    ConnectionFields,
    StoreAddress,
    run_options,
    store_address,
    target_files,
)
from patchpilot.connector import (
    Event,
    JobEnd,
    RunResult,
    Secret,
    Store,
    event_line,
    open_store,
    run_job,
    run_target,
)

__all__ = ["PatchpilotTrigger", "TriggerFields", "connection_fields"]

_stores: dict[tuple[str | None, str | None], asyncio.Task[Store]] = {}


async def _shared_store(address: StoreAddress, state_dir: str | None) -> Store:
    """Return this process's store for address: one connection for every trigger it runs.

    Opened once, in a thread (connecting must not block the triggerer's loop); triggers
    asking meanwhile wait for the same opening. A failed opening is tried again next time.
    """
    key = (address.url, state_dir)
    opening = _stores.get(key)
    if opening is None or (opening.done() and (opening.cancelled() or opening.exception())):
        opening = asyncio.create_task(
            asyncio.to_thread(open_store, state_dir, url=address.url, password=address.password)
        )
        _stores[key] = opening
    return await asyncio.shield(opening)


async def connection_fields(conn_id: str | None) -> ConnectionFields | None:
    """Read an Airflow connection (from the triggerer or a worker) as plain fields."""
    if not conn_id:
        return None
    conn = await BaseHook.aget_connection(conn_id)
    return ConnectionFields(
        conn_id=conn_id,
        host=conn.host,
        port=conn.port,
        login=conn.login,
        password=Secret(conn.password) if conn.password else None,
        schema=conn.schema,
        extra=conn.extra_dejson,
    )


@dataclass(frozen=True)
class TriggerFields:
    """What a trigger runs, as Airflow stores it to rebuild the trigger on any triggerer
    (JSON values only: credentials stay in Airflow connections, named by id). The operator
    passes its arguments of the same names (`TriggerFields.of`)."""

    target: str
    run_id: str
    options: dict[str, Any]
    ssh_conn_id: str | None = None
    host: str | None = None
    port: int | None = None
    state_url: str | None = None
    state_conn_id: str | None = None
    state_dir: str | None = None
    not_before: float = 0.0  # never fire before this time.time() (apache/airflow#71580)

    @classmethod
    def of(cls, source: object, **given: Any) -> TriggerFields:
        """Return the fields from given, the others from source's attributes of their names."""
        values: dict[str, Any] = {
            f.name: given[f.name] if f.name in given else getattr(source, f.name)
            for f in fields(cls)
        }
        return cls(**values)


class PatchpilotTrigger(BaseTrigger):
    """Run (or resume) one patchpilot run and fire once with its result."""

    def __init__(self, **spec: Any) -> None:
        super().__init__()
        self.spec = TriggerFields(**spec)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", asdict(self.spec)

    def _log_event(self, event: Event) -> None:
        self.log.info("%s", event_line(event))

    def _log_warning(self, warning: str) -> None:
        self.log.warning("%s", warning)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        spec = self.spec
        ssh = await connection_fields(spec.ssh_conn_id)
        address = store_address(spec.state_url, await connection_fields(spec.state_conn_id))
        store = await _shared_store(address, spec.state_dir)
        options = run_options({**spec.options, "run_id": spec.run_id})
        folder = Path(store.folder) / "airflow" / spec.run_id

        async def work() -> JobEnd[RunResult]:
            with target_files(
                spec.target, ssh, folder=folder, host=spec.host, port=spec.port, options=options
            ) as (target, with_files):
                return JobEnd.of_run(
                    await run_target(target, with_files, store=store, on_event=self._log_event)
                )

        # the job's end as the command line's: --notify's summary (never the task's outcome)
        end = await run_job(work(), options, store, on_warning=self._log_warning)
        # Airflow 3.3 fails a task whose trigger fires before the scheduler has seen the
        # deferring worker exit (apache/airflow#71580, #72716): never fire that early.
        await asyncio.sleep(max(0.0, spec.not_before - time.time()))
        found = store.run(spec.run_id)
        plan = found.frozen_plan if found and options.check_only else None
        yield TriggerEvent({"run_id": spec.run_id, "result": end.document, "plan": plan})
