"""Length-prefixed JSON frames: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.

Every frame holds one JSON object with a "t" (type) key. The decoder is incremental and
refuses oversized or malformed frames with FrameError, so a peer can never make the other
side buffer without bound.
"""

import json
import struct
from typing import Any, Dict, List

__all__ = ["MAX_FRAME", "FrameDecoder", "FrameError", "encode_frame"]

MAX_FRAME = 1024 * 1024
_HEADER = struct.Struct(">I")


class FrameError(ValueError):
    """The peer sent something that is not a valid frame; the connection must be dropped."""


def encode_frame(message: Dict[str, Any]) -> bytes:
    """Return one frame for message; raise FrameError if it would exceed MAX_FRAME."""
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise FrameError("frame of %d bytes exceeds the %d-byte limit" % (len(body), MAX_FRAME))
    return _HEADER.pack(len(body)) + body


class FrameDecoder:
    """Feed bytes as they arrive; get back the complete messages they finish."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._buffer = bytearray()
        self._max = max_frame

    def feed(self, data: bytes) -> List[Dict[str, Any]]:
        self._buffer += data
        messages = []
        while len(self._buffer) >= _HEADER.size:
            (length,) = _HEADER.unpack_from(self._buffer)
            if length > self._max:
                raise FrameError("frame length %d exceeds the %d-byte limit" % (length, self._max))
            end = _HEADER.size + length
            if len(self._buffer) < end:
                break
            body = bytes(self._buffer[_HEADER.size : end])
            del self._buffer[:end]
            messages.append(_decode_body(body))
        return messages

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buffer)


def _decode_body(body: bytes) -> Dict[str, Any]:
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FrameError("frame is not UTF-8 JSON: %s" % exc) from exc
    except RecursionError as exc:  # `[[[...]]]` well under MAX_FRAME exhausts the stack
        raise FrameError("frame nests JSON too deeply") from exc
    if not isinstance(message, dict) or not isinstance(message.get("t"), str):
        raise FrameError("frame is not a JSON object with a string 't'")
    return message
