"""What a round changed on the target: the package manager's inventory before and after.

Pure, Python 3.6+. The result of an install round names each package whose version changed
(from, to), the packages it newly installed (dependencies the updates pulled in) and those it
removed (a conflict, an obsolete package), as the package database says, not as the tool
claimed. Backends that cannot list their packages (Windows) give no inventory and no record.
"""

from typing import Dict, List, Mapping, Optional

__all__ = ["change_record"]


def change_record(
    before: Optional[Mapping[str, str]], after: Optional[Mapping[str, str]]
) -> Optional[Dict[str, List[Dict[str, str]]]]:
    """Return {"upgraded": [{id, from, to}], "installed": [{id, version}], "removed": [{id,
    version}]} from two name -> version inventories, or None when either is unknown."""
    if before is None or after is None:
        return None
    return {
        "upgraded": [
            {"id": name, "from": before[name], "to": after[name]}
            for name in sorted(before)
            if name in after and after[name] != before[name]
        ],
        "installed": [
            {"id": name, "version": after[name]} for name in sorted(after) if name not in before
        ],
        "removed": [
            {"id": name, "version": before[name]} for name in sorted(before) if name not in after
        ],
    }
