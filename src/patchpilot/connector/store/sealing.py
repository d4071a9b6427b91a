"""The run secret at rest in a shared store: AES-256-GCM under a key kept on connector hosts.

A PostgreSQL store is read by many machines and backed up with the rest of a database, so the
run secret (what authenticates the connector to the client's journal endpoint) is stored
only sealed: `aesgcm1:<key id>:<base64 nonce + ciphertext>`, the run id bound in as associated
data (a sealed secret copied to another run does not open). The key never enters the
database: it comes from `PATCHPILOT_STATE_KEY` (64 hex digits), else the file named by
`PATCHPILOT_STATE_KEY_FILE`, else `state.key` in the host's state folder (made, 0600, on first
use). Every host that resumes runs of one store needs the same key; the key id (a hash
prefix) names a mismatch instead of failing obscurely.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from patchpilot.connector.secret import Secret
from patchpilot.errors import StateError

__all__ = ["KEY_ENV", "KEY_FILE_ENV", "SecretSealer", "load_key"]

KEY_ENV = "PATCHPILOT_STATE_KEY"
KEY_FILE_ENV = "PATCHPILOT_STATE_KEY_FILE"
_SCHEME = "aesgcm1"
_AAD = b"patchpilot-run-secret:"


def _parse_key(text: str, source: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise StateError(f"{source}: the state key must be 64 hex digits (32 bytes)")
    return key


def load_key(folder: Path) -> bytes:
    """Return the state key: $PATCHPILOT_STATE_KEY, $PATCHPILOT_STATE_KEY_FILE or folder/state.key.

    The last is created (0600, random) when missing. Raise StateError when unreadable, or when
    the file is open to others (the key opens every run's secret), as ssh(1) refuses a key.
    """
    if os.environ.get(KEY_ENV):
        return _parse_key(os.environ[KEY_ENV], KEY_ENV)
    named = os.environ.get(KEY_FILE_ENV)
    path = Path(named) if named else folder / "state.key"
    try:
        if not named and not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
        return _parse_key(_private_text(path), str(path))
    except FileExistsError:  # another process made it first
        return _parse_key(_private_text(path), str(path))
    except OSError as exc:
        raise StateError(f"cannot read the state key {path}: {exc.strerror}") from exc


def _private_text(path: Path) -> str:
    """Return a key file's text; StateError when its mode lets others read or write it."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise StateError(
            f"{path}: not private (mode {mode:04o}): the state key opens every run's secret; "
            f"chmod 600 it"
        )
    return path.read_text()


class SecretSealer:
    """Seal and open run secrets with one key."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"patchpilot-state-key:" + key).hexdigest()[:12]

    def seal(self, run_id: str, secret: Secret) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, secret.reveal().encode(), _AAD + run_id.encode())
        return f"{_SCHEME}:{self.key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, run_id: str, stored: str) -> Secret:
        """Return the secret; StateError when sealed with another key or tampered with."""
        scheme, key_id, body = [*stored.split(":", 2), "", ""][:3]
        if scheme != _SCHEME:
            raise StateError(f"run {run_id}: its secret is not sealed ({scheme or 'empty'})")
        if key_id != self.key_id:
            raise StateError(
                f"run {run_id}: its secret was sealed with state key {key_id}, this host has "
                f"{self.key_id} (give every connector host the same {KEY_ENV} or {KEY_FILE_ENV})"
            )
        try:
            raw = base64.b64decode(body)
            opened = self._aead.decrypt(raw[:12], raw[12:], _AAD + run_id.encode())
        except (InvalidTag, ValueError) as exc:
            raise StateError(f"run {run_id}: its sealed secret does not open") from exc
        return Secret(opened.decode())
