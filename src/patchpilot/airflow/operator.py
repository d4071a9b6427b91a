"""`PatchpilotOperator`: patch one server from an Airflow task, deferring every wait.

On the worker it only checks the options and names the run, then defers to
`PatchpilotTrigger`: connecting, launching the client, the journal and the reboots happen on
the triggerer, so thousands of servers waiting for reboots hold no worker slot. When the
trigger fires, the result document (no secret) becomes the task's XCom value (also under the
key `result`, whatever the outcome; a check-only run's frozen plan under `plan`), and the
exit code decides the task's state: README's success codes (0, 10, 20) succeed, 74 (the
target is held by another run) skips, anything else fails.

Every `patchpilot run` option is an argument of the same name (`reboot="never"`,
`max_rounds=3`, `include=["openssl*"]`, ...). Credentials come from Airflow connections only:
`ssh_conn_id` (login, port, host, extra `private_key`/`key_file` and
`known_hosts`/`known_hosts_file`) and the store's `state_conn_id` (a Postgres connection)
or `state_url`. `options` takes the same options as a mapping (for `.expand_kwargs`), and
`plan_task_id` names a task whose XCom `plan` (a fleet's frozen plan) bounds this run.
`min_deferral` (seconds, default 15) holds back the trigger's event of a very short run:
Airflow 3.3 fails a task whose trigger fires before the scheduler saw the deferring worker
exit (apache/airflow#71580).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from patchpilot.airflow.settings import (
    DEFAULT_SKIP_CODES,
    DEFAULT_SUCCESS_CODES,
    Verdict,
    default_run_id,
    option_names,
    run_options,
    verdict_of,
)
from patchpilot.airflow.trigger import PatchpilotTrigger, TriggerFields
from patchpilot.connector import check_plan
from patchpilot.errors import PatchpilotError

__all__ = ["PatchpilotOperator"]


class PatchpilotOperator(BaseOperator):
    """Patch `target` (a name; its address from `host` or the SSH connection) deferrably."""

    template_fields: Sequence[str] = (
        "target", "host", "run_id", "include", "exclude", "run_options", "state_url",
    )  # fmt: skip
    ui_color = "#d6eaf8"

    def __init__(
        self,
        *,
        target: str,
        ssh_conn_id: str | None = None,
        host: str | None = None,
        port: int | None = None,
        run_id: str | None = None,
        include: Sequence[str] | str | None = None,
        exclude: Sequence[str] | str | None = None,
        state_url: str | None = None,
        state_conn_id: str | None = None,
        state_dir: str | None = None,
        options: Mapping[str, Any] | None = None,
        plan_task_id: str | None = None,
        success_exit_codes: Collection[int] = DEFAULT_SUCCESS_CODES,
        skip_exit_codes: Collection[int] = DEFAULT_SKIP_CODES,
        min_deferral: float = 15.0,
        **kwargs: Any,
    ) -> None:
        options = {
            **(options or {}),
            **{k: kwargs.pop(k) for k in list(kwargs) if k in option_names()},
        }
        super().__init__(**kwargs)
        self.plan_task_id = plan_task_id
        self.target = target
        self.ssh_conn_id = ssh_conn_id
        self.host = host
        self.port = port
        self.run_id = run_id
        self.include = include
        self.exclude = exclude
        self.run_options = options
        self.state_url = state_url
        self.state_conn_id = state_conn_id
        self.state_dir = state_dir
        self.success_exit_codes = sorted(success_exit_codes)
        self.skip_exit_codes = sorted(skip_exit_codes)
        self.min_deferral = min_deferral
        if not any("{{" in str(v) for v in options.values()):
            try:  # a bad option fails the DAG's parsing, not a task at 3 a.m.
                run_options({**options, "include": (), "exclude": ()})
            except PatchpilotError as exc:
                raise ValueError(f"{self.task_id}: {exc}") from None

    def _options(self, context: Any) -> dict[str, Any]:
        values = dict(self.run_options)
        if self.plan_task_id:  # a fleet's frozen plan, from its plan task, checked as the CLI's
            pushed = context["ti"].xcom_pull(task_ids=self.plan_task_id, key="plan")
            values["plan"] = check_plan(pushed, f"task {self.plan_task_id}")
        for name in ("include", "exclude"):
            value = getattr(self, name)
            if value:
                values[name] = value
        return run_options(values).model_dump(mode="json", exclude={"run_id"})

    def execute(self, context: Any) -> None:
        ti = context["ti"]
        run_id = self.run_id or default_run_id(
            ti.dag_id, ti.task_id, ti.run_id, ti.map_index, ti.try_number
        )
        options = self._options(context)
        self.log.info("patchpilot run %s on %s: deferring to the triggerer", run_id, self.target)
        timeout = options.get("timeout")
        self.defer(
            trigger=PatchpilotTrigger(
                **asdict(
                    TriggerFields.of(
                        self,
                        run_id=run_id,
                        options=options,
                        not_before=time.time() + self.min_deferral,
                    )
                )
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=timeout + 300) if timeout else None,
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Publish the result and map its exit code to the task's state."""
        result = event["result"]
        ti = context["ti"]
        ti.xcom_push(key="result", value=result)
        if event.get("plan") is not None:
            ti.xcom_push(key="plan", value=event["plan"])
        code = int(result.get("exit_code", 70))
        summary = (
            f"run {event['run_id']} on {self.target}: {result.get('outcome')} (exit {code}); "
            f"{result.get('counts')}"
        )
        verdict = verdict_of(code, success=self.success_exit_codes, skip=self.skip_exit_codes)
        if verdict is Verdict.SKIP:
            raise AirflowSkipException(summary)
        if verdict is Verdict.FAILURE:
            errors = "; ".join(result.get("errors") or ())
            raise AirflowException(f"{summary} {errors}".strip())
        self.log.info("%s", summary)
        return dict(result)
