"""Target families, chosen once per run: `TARGETS[options.os]`.

Each family (base.py's `TargetOS`) knows its transport, launcher, client layout, boot probe
and what it adds to the job spec; nothing outside this package asks which OS a target runs.
`TARGETS` is every registered family (connector/target_family.py): Linux and Windows here,
and any family an installed distribution or an imported module registers.
"""

from collections.abc import Iterator, Mapping

from patchpilot.connector.target_family import target_families
from patchpilot.connector.targets.base import TargetOS
from patchpilot.connector.targets.linux import LinuxOS
from patchpilot.connector.targets.windows import WindowsOptions, WindowsOS


class _Targets(Mapping[str, type[TargetOS]]):
    """The registered families' run steps by --os name (read at each lookup)."""

    def __getitem__(self, name: str) -> type[TargetOS]:
        family = target_families()[name]
        if not issubclass(family, TargetOS):
            raise TypeError(f"target family {name!r} has no run steps (not a TargetOS)")
        return family

    def __iter__(self) -> Iterator[str]:
        return iter(target_families())

    def __len__(self) -> int:
        return len(target_families())


TARGETS: Mapping[str, type[TargetOS]] = _Targets()

__all__ = ["TARGETS", "LinuxOS", "TargetOS", "WindowsOS", "WindowsOptions"]
