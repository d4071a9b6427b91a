"""Run one operator hook on the target: `patchpilot-client hook --spec FILE`.

The connector writes the hook's spec (JSON, mode 0600: `command`, `timeout`, `env`) to a file
and calls this command through the transport as root (on Windows, as a SYSTEM task). The
command text is the operator's shell text, handed to one shell exactly once (`/bin/sh -c`;
PowerShell `-Command` on Windows), never split or re-quoted here. What it prints is kept
bounded (the last OUTPUT_LIMIT characters); the answer is one JSON object on stdout:
`{"exit": N, "output": "...", "seconds": S, "timed_out": bool}`.
"""

import json
import os
import subprocess
import time
from typing import Any, Dict, Mapping

from patchpilot.client.platforms import kill_group, new_group, shell_argv

__all__ = ["OUTPUT_LIMIT", "HookSpecError", "parse_hook_spec", "run_hook"]

OUTPUT_LIMIT = 4000  # characters of a hook's output kept (its tail)
_KEYS = {"command", "timeout", "env"}
_ENV_PREFIX = "PATCHPILOT_"


class HookSpecError(ValueError):
    """The hook spec is refused; the message says why."""


def parse_hook_spec(text: str) -> Dict[str, Any]:
    """Return the checked hook spec in text, or raise HookSpecError."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise HookSpecError("not JSON: %s" % exc) from exc
    if not isinstance(doc, dict) or set(doc) - _KEYS:
        raise HookSpecError("a hook spec is an object of %s" % ", ".join(sorted(_KEYS)))
    command, timeout, env = doc.get("command"), doc.get("timeout", 600), doc.get("env", {})
    if not isinstance(command, str) or not command.strip():
        raise HookSpecError("command must be a non-empty string")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise HookSpecError("timeout must be a positive number of seconds")
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and k.startswith(_ENV_PREFIX) and isinstance(v, str)
        for k, v in env.items()
    ):
        raise HookSpecError("env must map PATCHPILOT_* names to strings")
    return {"command": command, "timeout": float(timeout), "env": dict(env)}


def run_hook(spec: Mapping[str, Any]) -> Dict[str, object]:
    """Run the hook to its end or its timeout (then kill its process group); say how it went."""
    env = dict(os.environ)
    env.update(spec["env"])
    started = time.monotonic()
    process = subprocess.Popen(
        shell_argv(spec["command"]),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        **new_group(),
    )
    timed_out = False
    try:
        output, _ = process.communicate(timeout=spec["timeout"])
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(process)
        output, _ = process.communicate()
    text = output.decode("utf-8", "replace")
    return {
        "exit": process.returncode if not timed_out else 124,
        "output": text[-OUTPUT_LIMIT:],
        "seconds": round(time.monotonic() - started, 3),
        "timed_out": timed_out,
    }
