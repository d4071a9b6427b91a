"""Every run option is defined once (RunOptions) and reachable from the command line and from
an inventory variable `patchpilot_<name>` (issue 10)."""

from __future__ import annotations

import types
import typing
from typing import Any

import pytest
from options_app import invoke
from pydantic.fields import FieldInfo

from patchpilot.cli.options import flag_of
from patchpilot.connector import RunOptions, flat_fields, option_meta, sub_options
from patchpilot.connector.fleet.job import host_options, per_host_options, target_of
from patchpilot.connector.inventory import HostEntry
from patchpilot.errors import ConfigurationError

_SAMPLES: dict[str, Any] = {
    "windows_classifications": ("Drivers",),
    "run_id": "r-7",
    "severity": ("critical",),
    "deadline": "2030-01-01T06:00:00+00:00",
    "cutoff": "30m",
    "notify": ("https://hooks.slack.com/services/T0/B0/x",),
    "download_limit": "2M",
    "reboot": "services",  # --no-restart and --install-needrestart need it
}


def _value(options: RunOptions, name: str) -> Any:
    for sub in sub_options():
        model = getattr(options, sub)
        if name in type(model).model_fields:
            return getattr(model, name)
    return getattr(options, name)


def _sample(name: str, info: FieldInfo) -> Any:
    """Return a valid value for the option that differs from its default."""
    if name in _SAMPLES:
        return _SAMPLES[name]
    default = info.get_default(call_default_factory=True)
    kind = info.annotation
    if typing.get_origin(kind) in (typing.Union, types.UnionType):  # X | None
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if typing.get_origin(kind) is typing.Literal:
        return next(c for c in typing.get_args(kind) if c != default)
    if kind is bool:
        return not default
    if kind in (int, float):
        return kind(7)
    if kind is str:
        return "x7"
    if kind == tuple[str, ...]:
        return ("pkg-a",)
    raise AssertionError(f"no sample for {name}: {info.annotation}")


def _argv(name: str, value: Any) -> list[str]:
    flag = flag_of(name)
    if isinstance(value, bool):
        return [flag] if value else ["--no-" + flag.removeprefix("--")]
    if isinstance(value, tuple):
        return [part for item in value for part in (flag, item)]
    return [flag, str(value)]


def _cli_options() -> list[str]:
    return [n for n, i in flat_fields().items() if option_meta(i).get("cli", True)]


def test_only_internal_fields_are_kept_off_the_command_line() -> None:
    assert set(flat_fields()) - set(_cli_options()) == {"plan"}
    assert "windows" not in flat_fields() and "winrm_port" in flat_fields()


@pytest.mark.parametrize("name", _cli_options())
def test_every_option_is_reachable_from_the_cli(name: str) -> None:
    info = flat_fields()[name]
    value = _sample(name, info)
    code, seen, output = invoke(_argv(name, value))
    assert code == 0, output
    assert _value(seen[0], name) == value
    assert option_meta(info).get("group"), f"{name} has no help group"
    assert info.description, f"{name} has no help text"


@pytest.mark.parametrize("name", sorted(per_host_options()))
def test_every_per_host_option_is_reachable_from_an_inventory_variable(name: str) -> None:
    value = _sample(name, flat_fields()[name])
    raw = ",".join(value) if isinstance(value, tuple) else value  # INI spells lists a,b
    host = HostEntry("h1", "10.0.0.1", vars={f"patchpilot_{name}": raw})
    if name == "transport":  # a property of the target (ssh, local, psrp), as Ansible has it
        assert target_of(host).transport == value
        return
    assert _value(host_options(RunOptions(), host), name) == value


def test_job_wide_options_are_refused_per_host() -> None:
    assert set(flat_fields()) - set(per_host_options()) == {"run_id", "exit_codes", "plan"}
    host = HostEntry("h1", "10.0.0.1", vars={"patchpilot_exit_codes": "wsus"})
    with pytest.raises(ConfigurationError, match="not a per-host run option"):
        host_options(RunOptions(), host)


def test_hooks_spelled_when_equals_command() -> None:
    """`--hook WHEN=COMMAND` (issue 13's spelling) sets the point's hook; the command text is
    kept whole, `=` and quotes included."""
    code, seen, output = invoke(
        ["--hook", "pre=systemctl stop app && echo 'a=b'", "--local-hook", "post-reboot=curl -s x"]
    )
    assert code == 0, output
    assert seen[0].hook_pre == "systemctl stop app && echo 'a=b'"
    assert seen[0].local_hook_post_reboot == "curl -s x"
    for bad in (["--hook", "later=x"], ["--hook", "pre"], ["--hook", "pre=a", "--hook", "pre=b"]):
        code, seen, output = invoke(bad)
        assert code != 0 and not seen and "--hook" in output
    code, seen, output = invoke(["--hook", "pre=a", "--hook-pre", "b"])
    assert code != 0 and "both set" in output
