"""Frames of a multiplexed (non-TTY) log stream, as the Engine API sends them."""

import io
import struct

import pytest

from ansible_collections.dfir.docker.plugins.module_utils._engine_api import EngineAPIError, demultiplex


class TrickleBody:
    """A body that hands out at most `step` bytes per read, like a socket under load."""

    def __init__(self, data, step=3):
        self._data = io.BytesIO(data)
        self._step = step

    def read_exactly(self, size):
        parts = []
        while size:
            chunk = self._data.read(min(size, self._step))
            if not chunk:
                break
            parts.append(chunk)
            size -= len(chunk)
        return b''.join(parts)


def frame(stream, payload):
    # stream type, three zero bytes, big-endian payload length (Docker's stdcopy format)
    return struct.pack('>BxxxI', stream, len(payload)) + payload


def test_frames_come_out_in_order_with_their_stream():
    payloads = [(1, b'2026-01-01T00:00:00.000000001Z out one\n'), (2, b'err one\n'), (1, b''), (1, b'x' * 70000)]
    data = b''.join(frame(stream, payload) for stream, payload in payloads)
    got = list(demultiplex(TrickleBody(data, step=4096)))
    assert got == [({1: 'stdout', 2: 'stderr'}[stream], payload) for stream, payload in payloads]


def test_a_payload_may_contain_anything_even_bytes_that_look_like_a_header():
    payload = frame(2, b'inner') + b'\x00\x01\xff'
    assert list(demultiplex(TrickleBody(frame(1, payload)))) == [('stdout', payload)]


def test_an_empty_stream_has_no_frames():
    assert list(demultiplex(TrickleBody(b''))) == []


@pytest.mark.parametrize('data, message', [
    (frame(1, b'hello')[:5], 'inside a frame header'),
    (frame(1, b'hello')[:-2], 'inside a frame'),
    (b'hello world, not framed', 'not multiplexed'),
    (struct.pack('>BxxxI', 7, 1) + b'x', 'not multiplexed'),
])
def test_a_broken_stream_is_an_error_not_garbage(data, message):
    with pytest.raises(EngineAPIError, match=message):
        list(demultiplex(TrickleBody(data)))
