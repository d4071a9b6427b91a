"""Make text from a target safe to print: every control character shown as an escape.

Journal records, update names, error messages and stderr tails come from the target, whose
root (or a package's maintainer script) may write anything. Printed raw, an ESC sequence can
rewrite the operator's terminal or hide lines, a CR can overwrite a line in job output, and
U+2028 or a lone surrogate can split or break a log file. Every sink that prints text (job
output, `patchpilot status`, the fleet view, error lines, connector.log, the Airflow task log)
passes it through
`printable`, which keeps printable characters (and the space) and escapes all others as
Python does (`\\x1b`, `\\r`, `\\u2028`). JSON output needs none of this: it is ASCII-escaped.
"""

from __future__ import annotations

import logging

__all__ = ["PrintableFormatter", "printable"]

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    """Return text with every non-printable character (controls, U+2028, surrogates) escaped.

    The result is idempotent: escaping it again changes nothing.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else _escape(c) for c in text)


class PrintableFormatter(logging.Formatter):
    """A log formatter whose every line is `printable` (one record, one line)."""

    def format(self, record: logging.LogRecord) -> str:
        lines = super().format(record).split("\n")
        return "\n    ".join(printable(line) for line in lines)
