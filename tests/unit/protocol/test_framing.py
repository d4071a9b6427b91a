"""The frame decoder takes any byte split, and refuses garbage without buffering it."""

import struct
from typing import List

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patchpilot.protocol import MAX_FRAME, FrameDecoder, FrameError, encode_frame

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
messages = st.dictionaries(st.text(max_size=10), json_values, max_size=5).map(
    lambda d: {**d, "t": "rec"}
)


@given(st.lists(messages, min_size=1, max_size=5), st.data())
def test_messages_survive_any_split(batch: List[dict], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(m) for m in batch)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    decoder = FrameDecoder()
    received: List[dict] = []
    previous = 0
    for cut in [*cuts, len(stream)]:
        received += decoder.feed(stream[previous:cut])
        previous = cut
    assert received == batch
    assert decoder.pending == 0


@given(st.binary(max_size=2048))
def test_garbage_is_refused_or_left_pending_never_accepted_wrongly(garbage: bytes) -> None:
    decoder = FrameDecoder()
    try:
        out = decoder.feed(garbage)
    except FrameError:
        return
    for message in out:
        assert isinstance(message, dict) and isinstance(message["t"], str)


def test_oversized_length_is_refused_before_the_body_arrives() -> None:
    with pytest.raises(FrameError, match="exceeds"):
        FrameDecoder().feed(struct.pack(">I", MAX_FRAME + 1))


def test_frame_without_type_is_refused() -> None:
    body = b'{"a":1}'
    with pytest.raises(FrameError, match="'t'"):
        FrameDecoder().feed(struct.pack(">I", len(body)) + body)


def test_deeply_nested_json_is_a_frame_error() -> None:
    body = b'{"t": "rec", "r": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    assert len(body) < MAX_FRAME
    with pytest.raises(FrameError, match="too deeply"):
        FrameDecoder().feed(struct.pack(">I", len(body)) + body)
