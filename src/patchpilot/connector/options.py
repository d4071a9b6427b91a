"""The run options (validated with pydantic): the one definition of every option of a run.

One `RunOptions` describes one run on one target; the CLI builds it from its options, the
fleet from its job and each host's `patchpilot_*` inventory variables, and both derive their
names, types, defaults and help text from the fields here (`Field(description=...)`, with
the help group and CLI spelling in `json_schema_extra`). It names no target family: `--os`,
`--transport`, `--launcher` and `--backend` take what the registered families declare
(target_family.py), each family's own options (a sub-model, `options.windows`, spelled flat
by users) sit beside the shared ones, and each family's own rules are asked. It is frozen: a
resumed run reuses the options it started with.

What is not the model lives beside it: the parsers of values (option_values.py,
maintenance_window.py), how users spell the options (option_spelling.py; every option flat,
in flat_options.py), the include/exclude list files (update_lists.py), what the families
declare (target_family.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.functional_validators import ModelWrapValidatorHandler  # not top-level before 2.10
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError

from patchpilot.connector.maintenance_window import parse_deadline, parse_duration
from patchpilot.connector.notify import check_notify_url
from patchpilot.connector.option_spelling import (
    CHANGE,
    CLIENT,
    CONNECTION,
    JOB,
    REBOOT,
    SELECTION,
    TIMEOUTS,
    error_option,
    field_meta,
    in_help_order,
    own_options,
    take_own_values,
)
from patchpilot.connector.option_values import check_unit_names, parse_rate, severities
from patchpilot.connector.target_family import (
    DECLARED_OPTIONS,
    declared_values,
    default_family,
    target_families,
)
from patchpilot.protocol import RUN_ID_RE

__all__ = ["RUN_ID_RE", "RunOptions"]

_LISTS = ("include", "exclude")


class RunOptions(BaseModel):
    """Everything that shapes a run besides the target; defaults match the CLI's."""

    # Each registered family's own options are an extra attribute named after the family
    # (`windows`), always present; any other extra name is refused (_with_families).
    model_config = ConfigDict(frozen=True, extra="allow")

    check_only: bool = Field(
        default=False,
        description="Report what would be applied; change nothing [Retrieve Update List].",
        json_schema_extra=field_meta(SELECTION, flags=["--check-only"]),
    )
    download_only: bool = Field(
        default=False,
        description="Download, do not install.",
        json_schema_extra=field_meta(SELECTION),
    )
    include: tuple[str, ...] = Field(
        default=(),
        description="Update names or globs to apply (repeat, or comma-separate).",
        json_schema_extra=field_meta(SELECTION, flags=["--include"], list_file=True),
    )
    exclude: tuple[str, ...] = Field(
        default=(),
        description="Update names or globs never to apply.",
        json_schema_extra=field_meta(SELECTION, flags=["--exclude"], list_file=True),
    )
    security_only: bool = Field(
        default=False, description="Only security updates.", json_schema_extra=field_meta(SELECTION)
    )
    reboot: Literal["never", "if-required", "always", "services"] = Field(
        default="if-required",
        description="Restart Server policy; services: restart the services on replaced "
        "files, reboot only for the kernel, microcode or PID 1 (Linux; docs/reboots.md).",
        json_schema_extra=field_meta(REBOOT),
    )
    no_restart: tuple[str, ...] = Field(
        default=(),
        description="With --reboot services: a systemd unit (or glob) never restarted, "
        "beside the built-in list (display managers, gettys, dbus, logind; repeat).",
        json_schema_extra=field_meta(REBOOT, flags=["--no-restart"]),
    )
    install_needrestart: bool = Field(
        default=False,
        description="With --reboot services on apt: install needrestart from the server's "
        "repositories when it lacks it (else the client reads /proc itself).",
        json_schema_extra=field_meta(REBOOT),
    )
    reboot_timeout: float = Field(
        default=600,
        gt=0,
        description="Seconds for the target to come back.",
        json_schema_extra=field_meta(REBOOT),
    )
    max_rounds: int = Field(
        default=5,
        ge=1,
        le=99,
        description="Rounds at most (a reboot starts a new one).",
        json_schema_extra=field_meta(REBOOT),
    )
    max_interruptions: int = Field(
        default=2,
        ge=0,
        le=20,
        description="Interrupted rounds (target reset, client killed) recovered at most; "
        "one more ends the run with exit 78.",
        json_schema_extra=field_meta(REBOOT),
    )
    readiness_timeout: float = Field(
        default=300,
        gt=0,
        description="Seconds for the target to be ready after a reboot.",
        json_schema_extra=field_meta(REBOOT, hidden=True),
    )
    stability_window: float = Field(
        default=5,
        ge=0,
        description="Seconds the new boot must hold.",
        json_schema_extra=field_meta(REBOOT, hidden=True),
    )
    client_path: str | None = Field(
        default=None,
        description="Client on a path the target sees (checked by SHA-256); else pushed.",
        json_schema_extra=field_meta(CLIENT),
    )
    python: str | None = Field(
        default=None,
        description="The client's Python, an absolute path, run with -I -S (Linux default: the "
        "first CPython >= 3.6 of a fixed list; Windows: python.exe beside a UNC --client-path).",
        json_schema_extra=field_meta(CLIENT),
    )
    launcher: str = Field(
        default="auto", description="The target's scheduler.", json_schema_extra=field_meta(CLIENT)
    )
    start_delay: float = Field(
        default=0,
        ge=0,
        description="Seconds before the client starts.",
        json_schema_extra=field_meta(CLIENT),
    )
    os: str = Field(
        default_factory=default_family,
        description="The target's OS.",
        json_schema_extra=field_meta(CONNECTION),
    )
    transport: str | None = Field(
        default=None,
        description="ssh (default), or psrp: WinRM, for --os windows.",
        json_schema_extra=field_meta(CONNECTION),
    )
    ssh_config: str | None = Field(
        default=None,
        description="OpenSSH client config file.",
        json_schema_extra=field_meta(CONNECTION, flags=["--ssh-config", "-F"]),
    )
    known_hosts: str | None = Field(
        default=None,
        description="known_hosts file (default: the config's or ~/.ssh/known_hosts).",
        json_schema_extra=field_meta(CONNECTION),
    )
    identity_file: str | None = Field(
        default=None,
        description="Private key (or use the agent).",
        json_schema_extra=field_meta(CONNECTION),
    )
    run_id: str | None = Field(
        default=None,
        pattern=RUN_ID_RE.pattern,
        description="Run id; the same id resumes a run.",
        json_schema_extra=field_meta(JOB, per_host=False),
    )
    exit_codes: Literal["native", "wsus"] = Field(
        default="native",
        description="Exit-code table.",
        json_schema_extra=field_meta(JOB, per_host=False),
    )
    timeout: float | None = Field(
        default=None,
        gt=0,
        description="Seconds for the whole job.",
        json_schema_extra=field_meta(JOB),
    )
    launch_timeout: float = Field(
        default=120,
        gt=0,
        description="Seconds for each preparation step and for the client to start.",
        json_schema_extra=field_meta(TIMEOUTS, hidden=True),
    )
    round_timeout: float = Field(
        default=4 * 3600,
        gt=0,
        description="Seconds for one round's journal to reach its result.",
        json_schema_extra=field_meta(TIMEOUTS, hidden=True),
    )
    ack_timeout: int = Field(
        default=300,
        gt=0,
        description="Seconds the client waits for the connector's acknowledgement to reboot.",
        json_schema_extra=field_meta(TIMEOUTS, hidden=True),
    )
    lock_timeout: int = Field(
        default=600,
        gt=0,
        description="Seconds the client waits for the package manager's lock.",
        json_schema_extra=field_meta(TIMEOUTS, hidden=True),
    )
    plan: dict[str, str] | None = Field(
        default=None,
        description="A frozen plan chosen elsewhere (the fleet's plan host).",
        json_schema_extra={"cli": False, "per_host": False},
    )
    # (each family's own options stand here in --help: option_spelling.OWN_OPTIONS_BEFORE)
    # -- issue 12: selection by advisory (updateinfo; WUA's MSRC data), the client's backend --
    backend: str = Field(
        default="auto",
        description="The client's update backend on the target (auto: by what it has).",
        json_schema_extra=field_meta(CLIENT),
    )
    severity: tuple[str, ...] = Field(
        default=(),
        description="Only updates whose advisory has one of these severities: critical, "
        "important, moderate, low (dnf, zypper, Windows).",
        json_schema_extra=field_meta(SELECTION),
    )
    advisory: tuple[str, ...] = Field(
        default=(),
        description="Only updates of these advisories, ids or globs (dnf, zypper; Windows: KB).",
        json_schema_extra=field_meta(SELECTION),
    )
    cve: tuple[str, ...] = Field(
        default=(),
        description="Only updates whose advisory fixes one of these CVEs (dnf, zypper, Windows).",
        json_schema_extra=field_meta(SELECTION),
    )
    # --- the operator's change process (connector/run/change.py; README "Hooks, health checks")
    hook_pre: str | None = Field(
        default=None,
        description="On the target, as root, before anything changes; non-zero stops (81).",
        json_schema_extra=field_meta(CHANGE),
    )
    hook_pre_reboot: str | None = Field(
        default=None,
        description="On the target, before each reboot (e.g. drain).",
        json_schema_extra=field_meta(CHANGE),
    )
    hook_post_reboot: str | None = Field(
        default=None,
        description="On the target, after each verified reboot.",
        json_schema_extra=field_meta(CHANGE),
    )
    hook_post: str | None = Field(
        default=None,
        description="On the target, once after the last round (e.g. re-enable).",
        json_schema_extra=field_meta(CHANGE),
    )
    local_hook_pre: str | None = Field(
        default=None,
        description="On this host, before anything changes; non-zero stops (81).",
        json_schema_extra=field_meta(CHANGE),
    )
    local_hook_pre_reboot: str | None = Field(
        default=None,
        description="On this host, before each reboot (e.g. a load balancer drain).",
        json_schema_extra=field_meta(CHANGE),
    )
    local_hook_post_reboot: str | None = Field(
        default=None,
        description="On this host, after each verified reboot.",
        json_schema_extra=field_meta(CHANGE),
    )
    local_hook_post: str | None = Field(
        default=None,
        description="On this host, once after the last round.",
        json_schema_extra=field_meta(CHANGE),
    )
    hook_timeout: float = Field(
        default=600,
        gt=0,
        le=86400,
        description="Seconds each hook may take.",
        json_schema_extra=field_meta(CHANGE),
    )
    ready_command: str | None = Field(
        default=None,
        description="Health: on the target after each reboot (or once at the end), retried "
        "until it exits 0 or --reboot-timeout ends (then exit 83).",
        json_schema_extra=field_meta(CHANGE),
    )
    require_service: tuple[str, ...] = Field(
        default=(),
        description="Health: a systemd unit (Windows service) that must run (repeat).",
        json_schema_extra=field_meta(CHANGE, flags=["--require-service"]),
    )
    deadline: str | None = Field(
        default=None,
        description="End of the maintenance window: ISO 8601, or +2h from now.",
        json_schema_extra=field_meta(CHANGE),
    )
    cutoff: str = Field(
        default="0",
        description="Start no new round (or fleet server) this long before --deadline (30m).",
        json_schema_extra=field_meta(CHANGE),
    )
    reboot_after_deadline: Literal["allow", "defer"] = Field(
        default="allow",
        description="defer: a round ending after --deadline leaves its reboot pending.",
        json_schema_extra=field_meta(CHANGE),
    )
    download_limit: str | None = Field(
        default=None,
        description="Cap the target's package downloads at RATE bytes/s: 500k, 2M, 1.5M "
        "(k, M, G: 1024-based): apt Dl-Limit, dnf throttle; zypper and Windows refuse it (64).",
        json_schema_extra=field_meta(CLIENT),
    )
    notify: tuple[str, ...] = Field(
        default=(),
        description="At the end of the run (a fleet: once, for the fleet), POST a summary to "
        "this webhook (repeat): Slack, Teams Workflows or JSON by its host, or a slack:, "
        "teams: or json: prefix. A secret: never logged.",
        json_schema_extra=field_meta(JOB, flags=["--notify"]),
    )
    notify_on: Literal["always", "failure", "change"] = Field(
        default="always",
        description="When --notify posts: always, on failure, or on change (updates applied "
        "or failed, a reboot, a failure).",
        json_schema_extra=field_meta(JOB),
    )
    notify_timeout: float = Field(
        default=15,
        gt=0,
        le=300,
        description="Seconds all notifications may take together (3 attempts each at most); "
        "they never change the exit code.",
        json_schema_extra=field_meta(JOB),
    )
    min_age: int | None = Field(
        default=None,
        ge=0,
        le=3650,
        description="Only updates released at least N days ago (dnf, zypper: the advisory's "
        "issued date; Windows: WUA's; apt has no date: exit 64).",
        json_schema_extra=field_meta(SELECTION),
    )
    min_age_undated: Literal["include", "exclude"] = Field(
        default="exclude",
        description="With --min-age on dnf/zypper: an update no advisory dates (its age "
        "unknown) is left out (exclude) or installed (include).",
        json_schema_extra=field_meta(SELECTION),
    )

    @model_validator(mode="wrap")
    @classmethod
    def _with_families(cls, data: Any, handler: ModelWrapValidatorHandler[RunOptions]) -> Any:
        """Validate the shared options, then each family's own (spelled flat, as the CLI,
        inventories and stores written before they were nested have them, or nested under
        the family's name), and let the target family spell list entries its way (Windows:
        "5031356" and "kb50*" become "KB5031356", "KB50*"). Then ask the family's rules."""
        if not isinstance(data, dict):
            return handler(data)
        data = dict(data)
        models = own_options(cls.model_fields)
        own = take_own_values(data, models)
        errors = [_unknown(key, data.pop(key)) for key in list(data) if key not in cls.model_fields]
        family = target_families().get(str(data.get("os") or default_family()))
        if family is not None:
            for key in _LISTS:
                data[key] = tuple(family.normalize_entry(str(v)) for v in data.get(key) or ())
        options: RunOptions | None = None
        try:
            options = handler(data)
        except ValidationError as exc:
            errors += _line_errors(exc)
        made: dict[str, BaseModel] = {}
        for name, values in own.items():
            try:
                made[name] = models[name].model_validate(values)
            except ValidationError as exc:
                errors += _line_errors(exc, name)
        if errors or options is None:
            own_names = (name for model in models.values() for name in model.model_fields)
            order = list(in_help_order(cls.model_fields, dict.fromkeys(own_names)))
            errors.sort(key=lambda e: _position(order, e["loc"]))
            raise ValidationError.from_exception_data(cls.__name__, errors)
        options.__pydantic_extra__ = {**(options.__pydantic_extra__ or {}), **made}
        options._consistent()
        return options

    @field_validator("deadline")
    @classmethod
    def _absolute_deadline(cls, value: str | None) -> str | None:
        """Keep the deadline as an absolute UTC time (`+2h` counts from now), so that a
        resumed run (or every server of a fleet) keeps the same instant."""
        return None if value is None else parse_deadline(value).isoformat()

    @field_validator("download_limit")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is not None:
            parse_rate(value)  # ValueError says what is wrong
        return None if value is None else value.strip()

    @field_validator("notify")
    @classmethod
    def _webhooks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_notify_url(v) for v in value)

    @field_validator("no_restart")
    @classmethod
    def _units(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_unit_names(value)

    @field_validator("cutoff")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)  # ValueError names what is wrong
        return value.strip()

    @field_validator("os", "transport", "launcher", "backend", mode="before")
    @classmethod
    def _declared(cls, value: Any, info: ValidationInfo) -> Any:
        """Take only a value some registered family declares (refused as a Literal would)."""
        name = info.field_name or ""
        if value is None and cls.model_fields[name].default is None:
            return value
        allowed = declared_values(name, cls.model_fields[name].default)
        if value not in allowed:
            *first, last = map(repr, allowed)
            expected = f"{', '.join(first)} or {last}" if first else last
            raise PydanticCustomError(
                "literal_error", "Input should be {expected}", {"expected": expected}
            )
        return value

    def _consistent(self) -> None:
        """Refuse options that contradict each other or the target family (ValueError)."""
        if self.check_only and self.download_only:
            raise ValueError("--check-only and --download-only exclude each other")
        families = target_families()
        family = families[self.os]
        if self.min_age is not None and not family.knows_release_dates:
            raise ValueError(f"--os {self.os} does not know release dates: --min-age cannot apply")
        if self.transport is not None and self.transport not in family.transports:
            raise ValueError(f"--transport {self.transport} is not a transport of --os {self.os}")
        if self.launcher not in family.launchers:
            raise ValueError(f"--launcher {self.launcher} is not a scheduler of --os {self.os}")
        owners = [f for f in families.values() if self.backend in f.backends and f is not family]
        for rules in (family, *owners):
            rules.check_options(self)

    @model_serializer(mode="wrap")
    def _own_options_in_place(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        """Dump each family's own options in flat_fields' order, and leave out those that are
        all defaults when defaults are excluded, as a field's would be."""
        dumped: dict[str, Any] = handler(self)
        names = own_options(type(self).model_fields)
        own = {name: dumped.pop(name) for name in names if name in dumped}
        if info.exclude_defaults:
            own = {name: values for name, values in own.items() if values != {}}
        return in_help_order(dumped, own)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Describe the options as if the families' values and own options were fields: the
        declared values as enums, the default --os, each family's sub-model in --help's
        place, and no other name."""
        schema = handler.resolve_ref_schema(handler(core_schema))
        fields = schema["properties"]
        fields["os"]["default"] = default_family()
        for name in DECLARED_OPTIONS:
            typed = next((s for s in fields[name].get("anyOf", ()) if "type" in s), fields[name])
            typed["enum"] = list(declared_values(name, cls.model_fields[name].default))
        own = {
            name: {
                **handler.resolve_ref_schema(handler(model.__pydantic_core_schema__)),
                "description": f"Options only --os {name} targets have (spelled flat).",
            }
            for name, model in own_options(cls.model_fields).items()
        }
        schema["properties"] = in_help_order(fields, own)
        schema["additionalProperties"] = False
        return schema

    def family_options(self, model: type[_Own]) -> _Own:
        """Return a target family's own options: the sub-model it registered (WindowsOptions)."""
        for value in (self.__pydantic_extra__ or {}).values():
            if isinstance(value, model):
                return value
        raise KeyError(f"no target family has registered {model.__name__}")

    @field_validator("severity", mode="before")
    @classmethod
    def _severities(cls, value: Any) -> Any:
        """Accept severities in any case; refuse names updateinfo and MSRC do not use."""
        return severities(value or ())

    def age_selection(self) -> dict[str, object]:
        """Return the job spec's selection by release age (dnf, zypper), or nothing."""
        if self.min_age is None:
            return {}
        return {"min_age": self.min_age, "min_age_undated": self.min_age_undated}

    def advisory_selection(self) -> dict[str, list[str]]:
        """Return the job spec's selection by advisory (empty keys left out)."""
        fields = {"severities": self.severity, "advisories": self.advisory, "cves": self.cve}
        return {key: list(value) for key, value in fields.items() if value}

    @property
    def deadline_at(self) -> datetime | None:
        """The maintenance window's end (aware, UTC), or None."""
        return datetime.fromisoformat(self.deadline) if self.deadline else None

    @property
    def download_limit_bytes(self) -> int | None:
        """--download-limit in bytes per second, or None."""
        return None if self.download_limit is None else parse_rate(self.download_limit)

    def restart_warnings(self) -> list[str]:
        """Return what the restart options say when --reboot is not services (ignored)."""
        if self.reboot == "services" or not (self.no_restart or self.install_needrestart):
            return []
        return ["--no-restart and --install-needrestart apply only with --reboot services"]

    def restart_spec(self) -> dict[str, object]:
        """Return the job spec's `restart` (--reboot services), or nothing."""
        if self.reboot != "services":
            return {}
        restart = {"no_restart": list(self.no_restart), "install_tool": self.install_needrestart}
        return {"restart": restart}

    @property
    def cutoff_seconds(self) -> float:
        """--cutoff in seconds."""
        return parse_duration(self.cutoff)

    @property
    def action(self) -> Literal["scan", "download", "install"]:
        """The client's job action for this run."""
        if self.check_only:
            return "scan"
        return "download" if self.download_only else "install"

    @property
    def mode(self) -> str:
        """The run's mode as reports name it."""
        return {"scan": "check-only", "download": "download-only"}.get(self.action, "install")


_Own = TypeVar("_Own", bound=BaseModel)


def _unknown(key: str, value: Any) -> InitErrorDetails:
    """Return the error `extra="forbid"` gives a name that no option has."""
    error = PydanticCustomError("extra_forbidden", "Extra inputs are not permitted")
    return {"type": error, "loc": (key,), "input": value}


def _line_errors(exc: ValidationError, *where: str) -> list[InitErrorDetails]:
    """Return exc's errors as they are, below location `where` (a family's name)."""
    return [
        {
            "type": PydanticCustomError(e["type"], e["msg"]),
            "loc": (*where, *e["loc"]),
            "input": e["input"],
        }
        for e in exc.errors()
    ]


def _position(order: list[str], loc: tuple[int | str, ...]) -> int:
    """Return where an error's option stands (pydantic reports fields in their order)."""
    option = error_option(loc)
    return order.index(option) if option in order else len(order)
