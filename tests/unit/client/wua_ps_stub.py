"""Stand-in for the PowerShell WUA helper: the same JSON-lines protocol, answered by the fake.

Run as `python wua_ps_stub.py SCENARIO STATE`: the machine's state is read from STATE at start
and written back after every request, so a test can restart the machine between rounds.
"""

import json
import sys
from typing import Any, Dict

from patchpilot.client.backends.wua_com import Outcome, WuaError
from patchpilot.client.backends.wua_fake import FakeWindows, fake_adapter, load_scenario


def signed(value: int) -> int:
    """Return an HRESULT as PowerShell's [int64]$e.HResult shows it (negative for errors)."""
    return value - (1 << 32) if value & 0x80000000 else value


def outcome(result: Outcome) -> Dict[str, Any]:
    doc: Dict[str, Any] = dict(result._asdict(), hresult=signed(result.hresult))
    items = result.items.items()
    doc["items"] = {uid: dict(i._asdict(), hresult=signed(i.hresult)) for uid, i in items}
    return {"ok": True, **doc}


def main() -> None:
    scenario, state_path = sys.argv[1], sys.argv[2]
    machine = FakeWindows(load_scenario(scenario))
    with open(state_path, encoding="utf-8") as handle:
        machine.load_state(json.load(handle))
    adapter = fake_adapter(machine)
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        try:
            if op == "search":
                found = adapter.search(
                    request["criteria"],
                    server_selection=request["server_selection"],
                    service_id=request["service_id"],
                )
                reply: Dict[str, Any] = {
                    "ok": True,
                    "updates": [dict(u._asdict()) for u in found],
                }
            elif op == "accept_eula":
                adapter.accept_eula(request["update_id"])
                reply = {"ok": True}
            elif op in ("download", "install"):
                reply = outcome(getattr(adapter, op)(request["update_ids"]))
            else:
                reply = {"ok": True, "value": adapter.system_reboot_required()}
        except WuaError as exc:
            reply = {"ok": False, "hresult": signed(exc.hresult), "operation": exc.operation,
                     "message": str(exc)}  # fmt: skip
        with open(state_path, "w", encoding="utf-8") as handle:
            json.dump(machine.dump_state(), handle)
        sys.stdout.write("\ufeff" + json.dumps(reply, ensure_ascii=False) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
