#!/usr/bin/env python3
"""Benchmark (a): moving a 4096×4096 RGBA8 layer from Python into easeld and back.

Compares, for the same pixels and with the same end state (a fresh Python buffer holding the
pixels that came back):
  easel fd       easel_client.echo over memfd, bytes in and bytes out: the client copies the
                 pixels into its staging memfd (reused between calls), the daemon maps them,
                 copies them into a new memfd and sends that back; the client maps it and copies
                 it out with Result.tobytes()
  easel fd, fresh memfd   the same with a new SharedBuffer per call (first-call cost)
  easel fd, 0-copy ends   the same, but the adapter already wrote its pixels into a SharedBuffer
                 and reads the result straight from the mapping (the copies at both ends are left
                 out; what an adapter that writes pixels once into shared memory pays)
  easel inline   echo with every pixel inside the frames (an inline-only connection)
  PNG+base64+HTTP   what today's AI plugins for Krita/GIMP do: Pillow PNG encode (default
                 compression), base64 in a JSON body, POST to a local http.server that decodes
                 it, re-encodes the "result" the same way and answers; the client decodes that
  memory copy    bytearray(src): one plain copy into a freshly allocated buffer (the reference)
  memcpy (numpy) numpy.copyto into an already allocated array (memory bandwidth, no page faults)

Run with the project's venv (numpy and Pillow are only used here, on the reference side):
  .venv/bin/python benches/transfer.py [--runs 7] [--png-runs 3] [--socket PATH] [--easeld PATH]
Without --socket it starts its own easeld (target/debug/easeld unless --easeld) on a temporary
socket and stops it at the end.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import http.server
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "adapters" / "python"))

import numpy as np  # noqa: E402
from PIL import Image as PILImage  # noqa: E402

from easel_client import Client, Image, SharedBuffer  # noqa: E402

W = H = 4096
PHOTO = REPO.parent / "shared" / "fixtures" / "photos" / "car-1.jpg"


def make_layer() -> bytes:
    """A 4096² RGBA8 layer tiled from a real photo (PNG compresses it like a real layer)."""
    tile = np.asarray(PILImage.open(PHOTO).convert("RGBA"))
    reps = (-(-H // tile.shape[0]), -(-W // tile.shape[1]), 1)
    layer = np.ascontiguousarray(np.tile(tile, reps)[:H, :W])
    # A soft alpha ramp so the alpha channel is not trivially constant, as in a painted layer.
    layer[..., 3] = (np.arange(W, dtype=np.uint32) * 255 // (W - 1)).astype(np.uint8)[None, :]
    return layer.tobytes()


def png_b64(rgba: bytes) -> str:
    buf = io.BytesIO()
    PILImage.frombuffer("RGBA", (W, H), rgba, "raw", "RGBA", 0, 1).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def unpng_b64(text: str) -> bytes:
    im = PILImage.open(io.BytesIO(base64.b64decode(text)))
    return im.convert("RGBA").tobytes()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        pixels = unpng_b64(json.loads(body)["image"])  # the server decodes the layer...
        out = json.dumps({"images": [png_b64(pixels)]}).encode()  # ...and encodes its "result"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def timed(fn, runs: int, check=None):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        if check is not None:
            check(out)
        del out
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--png-runs", type=int, default=3)
    ap.add_argument("--socket", help="an easeld already running (default: start one)")
    ap.add_argument("--easeld", default=os.environ.get("EASELD", str(REPO / "target/debug/easeld")))
    args = ap.parse_args()

    src = make_layer()
    nbytes = len(src)

    def same(out):
        if bytes(out) != src if not isinstance(out, bytes) else out != src:
            raise SystemExit("a transfer changed the pixels")

    tmp = None
    if args.socket:
        sock_path = args.socket
    else:
        tmp = tempfile.mkdtemp(prefix="easel-bench-")
        sock_path = os.path.join(tmp, "easeld.sock")
    client = Client.connect(sock_path, autostart=True, daemon_path=args.easeld, timeout=60)
    inline_client = Client.connect(sock_path, autostart=False, use_fd=False, timeout=60)
    try:
        img = Image(W, H, "rgba8", src)

        def easel_fd():
            # What an adapter writes: pixels as bytes in, bytes out. The client copies them
            # into its staging memfd (kept between requests) and the result out of the mapping.
            with client.echo(img, transfer="fd") as r:
                return r.tobytes()

        def easel_fd_fresh():
            sb = SharedBuffer.from_bytes(src)  # a new memfd every time: pages allocated anew
            try:
                with client.echo(Image(W, H, "rgba8", sb)) as r:
                    return r.tobytes()
            finally:
                sb.close()

        prepared = SharedBuffer.from_bytes(src)
        prepared_img = Image(W, H, "rgba8", prepared)

        def easel_fd_zero_copy():
            r = client.echo(prepared_img)
            r.data[0]  # the pixels are there, in the mapping
            return r

        def easel_inline():
            with inline_client.echo(img) as r:
                return r.tobytes()

        def memory_copy():
            return bytearray(src)

        a = np.frombuffer(src, dtype=np.uint8)
        dst = np.empty_like(a)

        def numpy_copy():
            np.copyto(dst, a)
            return dst

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=300)

        def png_http():
            body = json.dumps({"image": png_b64(src)}).encode()
            conn.request("POST", "/process", body, {"Content-Type": "application/json"})
            reply = json.loads(conn.getresponse().read())
            return unpng_b64(reply["images"][0])

        def close_result(r):
            r.close()

        methods = {
            "easel fd (memfd), bytes in/out": (easel_fd, args.runs, None),
            "easel fd, fresh memfd per call": (easel_fd_fresh, args.runs, None),
            "easel fd, 0-copy ends": (easel_fd_zero_copy, args.runs, close_result),
            "easel inline": (easel_inline, args.runs, None),
            "PNG+base64+HTTP": (png_http, args.png_runs, None),
            "memory copy bytearray(src)": (memory_copy, args.runs, None),
            "memcpy numpy.copyto": (numpy_copy, args.runs, None),
        }
        # One untimed run of each first: checks the pixels, warms caches, workers and sockets.
        for name, (fn, _, _) in methods.items():
            out = fn()
            same(out.data if name == "easel fd, 0-copy ends" else out)
            if name == "easel fd, 0-copy ends":
                out.close()
        # Round robin, so that load from other processes on the machine falls on every method.
        results = {name: [] for name in methods}
        for i in range(max(args.runs, args.png_runs)):
            for name, (fn, runs, after) in methods.items():
                if i < runs:
                    results[name] += timed(fn, 1, after)
        server.shutdown()
        prepared.close()
    finally:
        inline_client.close()
        if tmp is not None:
            client.shutdown(timeout=20)
        else:
            client.close()

    med = {k: statistics.median(v) for k, v in results.items()}
    fd = med["easel fd (memfd), bytes in/out"]
    copy = med["memory copy bytearray(src)"]
    print(f"{W}x{H} RGBA8 layer ({nbytes / 2**20:.0f} MiB), into easeld and back; "
          f"medians of {args.runs} runs ({args.png_runs} for PNG)")
    print(f"{'method':32} {'median ms':>10} {'min ms':>9} {'GiB/s':>7} {'vs easel fd':>12}")
    for k, v in results.items():
        m = med[k]
        print(f"{k:32} {m * 1e3:10.1f} {min(v) * 1e3:9.1f} {nbytes / m / 2**30:7.2f} "
              f"{m / fd:11.2f}x")
    print(f"PNG+base64+HTTP / easel fd: {med['PNG+base64+HTTP'] / fd:.0f}x slower "
          f"(goal: >= 20x)")
    print(f"easel fd / memory copy: {fd / copy:.2f}x (goal: <= 3x); "
          f"0-copy ends / memory copy: {med['easel fd, 0-copy ends'] / copy:.2f}x")
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, {platform.platform()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
