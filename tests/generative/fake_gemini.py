#!/usr/bin/env python3
"""A local stand-in for Google's Gemini API (``generateContent``) on 127.0.0.1, for the host
tests (tests/krita/run.sh, tests/gimp/run.sh): the generative plugin inside the real daemon talks
to it exactly as it would to the service. Standard library only.

It checks what the service checks (the ``x-goog-api-key`` header, the path, a JSON body with
``contents``), answers in the documented formats (a candidate whose parts hold an ``inlineData``
PNG; errors as ``{"error": {"code", "message", "status", "details"}}``), and appends one JSON
line per request to ``--log`` describing what was sent: for every turn its role, its texts and
its images (decoded: size, a few pixels, the box and first colour of its opaque pixels), whether the key came in the header and whether it
appeared anywhere else (URL, body). Nothing here knows the plugin's code.

Answers: the n-th successful answer is a solid PNG of ``PALETTE[n % 3]`` (so a test knows which
turn a layer came from), the size of the first image sent. A request whose text contains
``QUOTA-TEST`` gets Gemini's 429 ``RESOURCE_EXHAUSTED`` body.

Usage: fake_gemini.py --key KEY --log requests.jsonl --port-file port.txt
(writes the port it listens on to the port file once it listens; stops on SIGTERM).
"""

import argparse
import base64
import json
import struct
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PALETTE = [(220, 40, 30, 255), (30, 200, 60, 255), (40, 60, 220, 255)]


# ------------------------------------------------------------------------------------ PNG
def png_encode(w, h, rgba):
    raw = b"".join(b"\0" + bytes(rgba) * w for _ in range(h))

    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def png_decode(data):
    """(width, height, rows of RGBA tuples) of an 8-bit, non-interlaced PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, ihdr, palette = 8, b"", None, None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = [tuple(body[i:i + 3]) + (255,) for i in range(0, len(body), 3)]
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or interlace:
        raise ValueError(f"PNG depth {depth} / interlace {interlace} not handled")
    bpp = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        prev = line
        px = []
        for x in range(w):
            v = line[x * bpp:(x + 1) * bpp]
            if ctype == 0:
                px.append((v[0], v[0], v[0], 255))
            elif ctype == 2:
                px.append((v[0], v[1], v[2], 255))
            elif ctype == 3:
                px.append(palette[v[0]])
            elif ctype == 4:
                px.append((v[0], v[0], v[0], v[1]))
            else:
                px.append(tuple(v))
        rows.append(px)
    return w, h, rows


def describe_image(part):
    inline = part.get("inlineData") or {}
    info = {"mimeType": inline.get("mimeType")}
    try:
        w, h, rows = png_decode(base64.b64decode(inline.get("data", ""), validate=True))
        info.update(width=w, height=h, center=list(rows[h // 2][w // 2]),
                    corner=list(rows[1][1] if h > 1 and w > 1 else rows[0][0]))
        opaque = [(x, y) for y in range(h) for x in range(w) if rows[y][x][3] > 0]
        if opaque:
            xs, ys = [p[0] for p in opaque], [p[1] for p in opaque]
            info["opaque_box"] = [min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1]
            info["opaque_color"] = list(rows[opaque[0][1]][opaque[0][0]])
    except Exception as e:  # noqa: BLE001 - recorded for the test to judge
        info["error"] = f"{type(e).__name__}: {e}"
    return info


# ------------------------------------------------------------------------------------ server
class State:
    def __init__(self, key, log):
        self.key, self.log = key, log
        self.lock = threading.Lock()
        self.answered = 0


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def _reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True

        def do_POST(self):  # noqa: N802 - http.server's name
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n)
            record = {"path": self.path.split("?")[0],
                      "key_in_header": self.headers.get("x-goog-api-key") == state.key,
                      "key_in_url": state.key in self.path,
                      "key_in_body": state.key.encode() in body,
                      "content_type": self.headers.get("Content-Type")}
            try:
                req = json.loads(body)
                record["generationConfig"] = req.get("generationConfig")
                record["turns"] = [
                    {"role": t.get("role"),
                     "texts": [p["text"] for p in t.get("parts", []) if "text" in p],
                     "images": [describe_image(p) for p in t.get("parts", [])
                                if "inlineData" in p]}
                    for t in req.get("contents", [])]
            except Exception as e:  # noqa: BLE001
                req = None
                record["error"] = f"{type(e).__name__}: {e}"
            with state.lock:
                if not record["key_in_header"]:
                    status, answer = 400, {"error": {
                        "code": 400, "message": "API key not valid. Please pass a valid API key.",
                        "status": "INVALID_ARGUMENT",
                        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                     "reason": "API_KEY_INVALID"}]}}
                elif not (self.path.startswith("/v1beta/models/")
                          and self.path.endswith(":generateContent")):
                    status, answer = 404, {"error": {"code": 404, "message": "not found",
                                                     "status": "NOT_FOUND"}}
                elif req is None or not req.get("contents"):
                    status, answer = 400, {"error": {
                        "code": 400, "message": "* GenerateContentRequest.contents: contents is "
                        "not specified", "status": "INVALID_ARGUMENT"}}
                elif any("QUOTA-TEST" in s for t in record["turns"] for s in t["texts"]):
                    status, answer = 429, {"error": {
                        "code": 429, "message": "Resource has been exhausted (e.g. check quota).",
                        "status": "RESOURCE_EXHAUSTED"}}
                else:
                    first = next((i for t in record["turns"] for i in t["images"]
                                  if "width" in i), {"width": 64, "height": 64})
                    color = PALETTE[state.answered % len(PALETTE)]
                    state.answered += 1
                    png = png_encode(first["width"], first["height"], color)
                    status, answer = 200, {
                        "candidates": [{"content": {"role": "model", "parts": [
                            {"text": "Here is the edited image."},
                            {"inlineData": {"mimeType": "image/png",
                                            "data": base64.b64encode(png).decode()}}]},
                            "finishReason": "STOP", "index": 0}],
                        "usageMetadata": {"promptTokenCount": 258, "totalTokenCount": 1548},
                        "modelVersion": "gemini-2.5-flash-image"}
                    record["answered_color"] = list(color)
                record["status"] = status
                with open(state.log, "a") as f:
                    f.write(json.dumps(record) + "\n")
            self._reply(status, answer)

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--key", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(State(a.key, a.log)))
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.replace(a.port_file + ".tmp", a.port_file)
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
