"""Challenge-response over the per-run secret; the secret itself never crosses the wire.

Both sides prove knowledge of the secret with HMAC-SHA256 over both nonces, the run id and the
round, with a different label per direction so a proof cannot be reflected back.
"""

import hashlib
import hmac
import secrets

__all__ = ["client_proof", "connector_proof", "new_nonce", "proofs_match"]


def new_nonce() -> str:
    return secrets.token_hex(16)


def _proof(label: str, secret: str, run_id: str, round_no: int, s_nonce: str, c_nonce: str) -> str:
    message = "|".join((label, run_id, str(round_no), s_nonce, c_nonce)).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def connector_proof(secret: str, run_id: str, round_no: int, s_nonce: str, c_nonce: str) -> str:
    """Return the proof the connector sends in its "auth" message."""
    return _proof("pp1-connector", secret, run_id, round_no, s_nonce, c_nonce)


def client_proof(secret: str, run_id: str, round_no: int, s_nonce: str, c_nonce: str) -> str:
    """Return the proof the client sends back in "welcome", so the connector knows its peer."""
    return _proof("pp1-client", secret, run_id, round_no, s_nonce, c_nonce)


def proofs_match(expected: str, received: object) -> bool:
    """Compare in constant time; anything but a string (or non-ASCII text) simply fails.

    `hmac.compare_digest` raises TypeError on non-ASCII str, so both sides are compared as
    UTF-8 bytes: a peer's garbage is a failed proof, never a crash.
    """
    if not isinstance(received, str):
        return False
    return hmac.compare_digest(expected.encode("utf-8"), received.encode("utf-8", "replace"))
