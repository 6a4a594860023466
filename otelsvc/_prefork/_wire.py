"""Framed messages between a worker and its hub over a unix socket: an 8-byte length, then a pickle.

Both ends run as the same user in a private directory; nothing else can connect.
"""

from __future__ import annotations

import pickle
import socket
import struct
from typing import Any

__all__ = ["FINAL", "HELLO", "PULL", "RENDER", "RENDERED", "SNAPSHOT", "Reader", "encode", "send"]

HELLO = "hello"  # worker -> hub: (pid,)
SNAPSHOT = "snap"  # worker -> hub: (seq, pickled snapshot, gauge modes); seq 0 when unsolicited
FINAL = "final"  # worker -> hub: (pickled snapshot,): the worker is leaving
PULL = "pull"  # hub -> worker: (seq,)
RENDER = "render"  # a mounted app's scrape -> hub, on a connection of its own: (openmetrics,)
RENDERED = "rendered"  # hub -> that connection: (exposition bytes or None, error text)
_HEADER = struct.Struct("!Q")


def encode(kind: str, *args: Any) -> bytes:
    body = pickle.dumps((kind, *args), protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


def send(sock: socket.socket, kind: str, *args: Any) -> None:
    sock.sendall(encode(kind, *args))


class Reader:
    """Reassembles messages from the bytes of one connection."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[Any, ...]]:
        self._buffer += data
        out: list[tuple[Any, ...]] = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            end = _HEADER.size + size
            if len(self._buffer) < end:
                break
            out.append(pickle.loads(bytes(self._buffer[_HEADER.size : end])))
            del self._buffer[:end]
        return out
