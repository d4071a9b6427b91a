"""A toy target family, written outside src/: one module and one registration (issue 28).

It reaches its servers as Linux does (so the unit tests' fake target answers it), and has
what a family of its own has: its `--os` name, an option of its own (`--toy-channel`, on
`RunOptions.toy`), a client backend of its own (`toy-pkg`), a rule of its own and its part
of the job spec. test_toy_family.py runs a round with it; docs/architecture.md ("Adding a
target family") says this is all a family needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from patchpilot.connector.options import RunOptions
from patchpilot.connector.target_family import register_family
from patchpilot.connector.targets.linux import LinuxOS

NO_SECURITY = "toy-pkg has no security metadata: --security-only needs another backend"


class ToyOptions(BaseModel):
    """What only a toy server has."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    toy_channel: Literal["stable", "beta"] = Field(
        default="stable",
        description="Toy: the channel updates come from.",
        json_schema_extra={"group": "Toy"},
    )


@register_family
class ToyOS(LinuxOS):
    """A Linux-like server whose client installs from toy channels."""

    name = "toy"
    is_default = False
    own_options = ToyOptions
    launchers = ("auto", "systemd-run")
    backends = ("toy-pkg",)

    @classmethod
    def check_options(cls, options: RunOptions) -> None:
        if options.backend == "toy-pkg" and options.security_only:
            raise ValueError(NO_SECURITY)

    def job_spec_extra(self, options: RunOptions) -> Mapping[str, object]:
        channel = options.family_options(ToyOptions).toy_channel
        return {**super().job_spec_extra(options), "toy": {"channel": channel}}
