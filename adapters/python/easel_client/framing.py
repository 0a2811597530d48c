"""Frames of the Easel protocol: a 12-byte header (u32 json_len, u64 payload_len, little-endian),
the JSON message, the payload; descriptors ride with the header in one sendmsg (SCM_RIGHTS).

Reads never cross a frame's end: the header is read with recvmsg (at most 12 bytes, so the
descriptors sent with it arrive with it), the rest with recv_into loops sized to the frame, so
the next frame's descriptors cannot be received — and silently discarded — by a plain read.
"""

from __future__ import annotations

import array
import json
import os
import socket
import struct

from .errors import DaemonUnavailable, ProtocolError

__all__ = ["HEADER", "MAX_FDS", "send_frame", "recv_frame", "ConnectionClosed"]

HEADER = struct.Struct("<IQ")
MAX_FDS = 16
_FD_SPACE = socket.CMSG_SPACE(MAX_FDS * array.array("i").itemsize)
_RECV_FLAGS = getattr(socket, "MSG_CMSG_CLOEXEC", 0)
# What we accept from the daemon: far above anything sane, far below anything harmful.
_MAX_JSON = 64 << 20


class ConnectionClosed(DaemonUnavailable):
    """The daemon closed the connection between frames."""


def encode_json(msg: dict) -> bytes:
    return json.dumps(msg, separators=(",", ":"), allow_nan=False).encode("utf-8")


def send_frame(sock: socket.socket, body: bytes, payload=(), fds=()) -> None:
    """Sends one frame; ``payload`` is a sequence of bytes-like parts sent back to back."""
    parts = [memoryview(p).cast("B") for p in payload]
    payload_len = sum(p.nbytes for p in parts)
    header = HEADER.pack(len(body), payload_len)
    bufs = [memoryview(header), memoryview(body)] + [p for p in parts if p.nbytes]
    anc = []
    if fds:
        if len(fds) > MAX_FDS:
            raise ValueError(f"a frame carries at most {MAX_FDS} descriptors, not {len(fds)}")
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
    # MSG_NOSIGNAL: a daemon gone since the last read is an EPIPE here, not a SIGPIPE, which
    # would end a host that does not ignore it (Krita's embedded Python does not).
    flags = getattr(socket, "MSG_NOSIGNAL", 0)
    try:
        sent = sock.sendmsg(bufs, anc, flags)
        # A large frame may go out in pieces; the descriptors went with the first byte.
        for b in bufs:
            if sent >= b.nbytes:
                sent -= b.nbytes
                continue
            sock.sendall(b[sent:], flags)
            sent = 0
    except (BrokenPipeError, ConnectionResetError) as e:
        raise DaemonUnavailable(f"the daemon closed the connection while we were sending: {e}") from e
    except socket.timeout as e:
        raise DaemonUnavailable("timed out sending to the daemon (it stopped reading)") from e


def _close_all(fds: list) -> None:
    while fds:
        try:
            os.close(fds.pop())
        except OSError:
            pass


def _recv_exact(sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise ProtocolError(f"the daemon closed the connection in the middle of a frame "
                                f"({got} of {n} bytes read)")
        got += k
    return buf


def recv_frame(sock: socket.socket):
    """Reads one frame: returns (message dict, list of descriptors, payload bytearray)."""
    header = bytearray()
    fds: list[int] = []
    try:
        while len(header) < HEADER.size:
            data, anc, flags, _ = sock.recvmsg(HEADER.size - len(header), _FD_SPACE, _RECV_FLAGS)
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    a = array.array("i")
                    a.frombytes(cdata[: len(cdata) - len(cdata) % a.itemsize])
                    fds.extend(a)
            if flags & socket.MSG_CTRUNC:
                _close_all(fds)
                raise ProtocolError(f"the daemon sent more than {MAX_FDS} descriptors with one frame")
            if not data:
                _close_all(fds)
                if header:
                    raise ProtocolError("the daemon closed the connection inside a frame header")
                raise ConnectionClosed("the daemon closed the connection")
            header += data
        json_len, payload_len = HEADER.unpack(header)
        if json_len > _MAX_JSON:
            raise ProtocolError(f"the daemon sent a {json_len}-byte message")
        body = _recv_exact(sock, json_len)
        payload = _recv_exact(sock, payload_len) if payload_len else bytearray()
    except (ConnectionResetError, BrokenPipeError) as e:
        _close_all(fds)
        raise ConnectionClosed(f"the connection to the daemon was reset: {e}") from e
    except socket.timeout as e:
        _close_all(fds)
        raise ProtocolError("the daemon stopped sending in the middle of a frame") from e
    except BaseException:
        _close_all(fds)
        raise
    try:
        msg = json.loads(body)
    except ValueError as e:
        _close_all(fds)
        raise ProtocolError(f"the daemon sent a frame that is not JSON: {e}") from e
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        _close_all(fds)
        raise ProtocolError(f"the daemon sent a message without a type: {bytes(body[:200])!r}")
    return msg, fds, payload
