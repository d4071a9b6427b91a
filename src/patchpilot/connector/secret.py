"""The per-run secret, wrapped so it never shows up in a log, a repr or an f-string by mistake."""

from __future__ import annotations

import secrets

__all__ = ["Secret"]


class Secret:
    """A secret string whose str() and repr() are masked; call reveal() where it must go."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    @classmethod
    def generate(cls) -> Secret:
        """Return a fresh 256-bit secret (64 hex characters, as the job spec wants)."""
        return cls(secrets.token_hex(32))

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return "********"

    def __repr__(self) -> str:
        return "Secret('********')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)
