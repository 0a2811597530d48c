"""Test helpers: the real easeld on a temporary socket, raw frames, and a stdlib PNG reader.

Real photos are decoded with Pillow when the interpreter has it (the project's .venv does);
without it, the PNG fixtures are decoded by `read_png` below, so the suite also runs under a
bare Python (as the client itself must).
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "adapters" / "python"))

import easel_client  # noqa: E402

SHARED = REPO.parent / "shared"
MODELS = SHARED / "models"
PHOTOS = SHARED / "fixtures" / "photos"
EASELD = Path(os.environ.get("EASELD") or REPO / "target" / "debug" / "easeld")
TARGET = EASELD.parent
MISBEHAVE = TARGET / "libeasel_testing_misbehave.so"
WRONG_ABI = TARGET / "libeasel_testing_wrong_abi.so"

try:
    import PIL.Image
    HAVE_PIL = True
except ImportError:
    HAVE_PIL = False


def toml_str(p) -> str:
    return '"' + str(p).replace("\\", "\\\\").replace('"', '\\"') + '"'


class Daemon:
    """easeld started with a temporary config: its socket, the testing plugins, the models."""

    def __init__(self, testing_plugins: bool = True, extra_config: str = ""):
        if not EASELD.is_file():
            raise RuntimeError(f"{EASELD} does not exist: build it with `cargo build -p easel-host` "
                               f"(or point EASELD at an easeld binary)")
        self.dir = Path(tempfile.mkdtemp(prefix="easel-pytest-"))
        self.socket = self.dir / "easeld.sock"
        plugin_dir = self.dir / "plugins"
        plugin_dir.mkdir()
        self.testing = testing_plugins and MISBEHAVE.is_file()
        if self.testing:
            os.symlink(MISBEHAVE, plugin_dir / MISBEHAVE.name)
        self.wrong_abi = testing_plugins and WRONG_ABI.is_file()
        if self.wrong_abi:
            os.symlink(WRONG_ABI, plugin_dir / WRONG_ABI.name)
        self.config = self.dir / "easeld.toml"
        self.config.write_text(
            f"socket = {toml_str(self.socket)}\n"
            f"plugin_dirs = [{toml_str(plugin_dir)}]\n"
            f"model_dirs = [{toml_str(MODELS)}]\n" + extra_config)
        self.log_path = self.dir / "easeld.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(EASELD), "--config", str(self.config)],
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + 60
        while True:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(str(self.socket))
                s.close()
                break
            except OSError:
                s.close()
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"easeld did not come up on {self.socket} "
                                   f"(exit status {self.proc.returncode}); log:\n{self.log()}")
            time.sleep(0.05)

    def client(self, **kw) -> "easel_client.Client":
        return easel_client.Client.connect(str(self.socket), autostart=False, **kw)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                with self.client(timeout=5) as c:
                    c.shutdown(timeout=10)
            except Exception:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # only the daemon this helper started, by its pid
                self.proc.wait(10)
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------- raw frames
def raw_connect(path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(str(path))
    return s


def raw_send(sock, msg: dict | bytes, payload: bytes = b"", fds=()) -> None:
    import json
    body = msg if isinstance(msg, bytes) else json.dumps(msg).encode()
    frame = struct.pack("<IQ", len(body), len(payload)) + body + payload
    n = socket.send_fds(sock, [frame], list(fds)) if fds else sock.send(frame)
    if n < len(frame):  # (an empty sendall to a peer that already closed raises EPIPE)
        sock.sendall(frame[n:])


def raw_recv(sock):
    """One frame as (dict, fds), or None at end of stream (a reset counts as an end: a peer that
    closes with our unread bytes in its buffer resets the connection)."""
    try:
        return _raw_recv(sock)
    except ConnectionResetError:
        return None


def _raw_recv(sock):
    import json
    header, fds = b"", []
    while len(header) < 12:
        data, got, _, _ = socket.recv_fds(sock, 12 - len(header), 16)
        fds += got
        if not data:
            return None
        header += data
    jl, pl = struct.unpack("<IQ", header)
    body = b""
    while len(body) < jl + pl:
        chunk = sock.recv(jl + pl - len(body))
        if not chunk:
            return None
        body += chunk
    return json.loads(body[:jl]), fds


def raw_hello(sock, features=("inline",)) -> dict:
    raw_send(sock, {"type": "hello", "protocol": 1, "client": "raw-test", "features": list(features)})
    reply, _ = raw_recv(sock)
    return reply


# ---------------------------------------------------------------------------- images
def read_png(path) -> tuple[int, int, bytes]:
    """Decodes an 8-bit, non-interlaced PNG (gray, RGB or RGBA) to (width, height, RGBA8 bytes)."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    pos, idat, w = 8, [], 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            if depth != 8 or interlace or ctype not in (0, 2, 4, 6):
                raise ValueError(f"{path}: unsupported PNG (depth {depth}, type {ctype})")
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
    ch = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    raw = zlib.decompress(b"".join(idat))
    stride = w * ch
    out = bytearray(stride * h)
    prev = bytearray(stride)
    p = 0
    for y in range(h):
        ft = raw[p]
        line = bytearray(raw[p + 1:p + 1 + stride])
        p += 1 + stride
        if ft == 1:
            for i in range(ch, stride):
                line[i] = (line[i] + line[i - ch]) & 255
        elif ft == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 255
        elif ft == 3:
            for i in range(stride):
                left = line[i - ch] if i >= ch else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif ft == 4:
            for i in range(stride):
                a = line[i - ch] if i >= ch else 0
                b = prev[i]
                c = prev[i - ch] if i >= ch else 0
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        out[y * stride:(y + 1) * stride] = line
        prev = line
    if ch == 4:
        return w, h, bytes(out)
    rgba = bytearray(w * h * 4)
    for i in range(w * h):
        px = out[i * ch:(i + 1) * ch]
        if ch == 1:
            rgba[i * 4:i * 4 + 4] = bytes((px[0], px[0], px[0], 255))
        elif ch == 2:
            rgba[i * 4:i * 4 + 4] = bytes((px[0], px[0], px[0], px[1]))
        else:
            rgba[i * 4:i * 4 + 3] = px
            rgba[i * 4 + 3] = 255
    return w, h, bytes(rgba)


def load_photo(name: str) -> tuple[int, int, bytes]:
    """A fixture photo as RGBA8: Pillow if present, else the stdlib PNG reader (PNG only)."""
    path = PHOTOS / name
    if HAVE_PIL:
        im = PIL.Image.open(path).convert("RGBA")
        return im.width, im.height, im.tobytes()
    return read_png(path)


def mean_alpha(rgba: bytes, width: int, box) -> float:
    """Mean alpha (0..255) of an RGBA8 image inside box = (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    total = 0
    for y in range(y0, y1):
        row = rgba[(y * width + x0) * 4:(y * width + x1) * 4]
        total += sum(row[3::4])
    return total / ((x1 - x0) * (y1 - y0))
