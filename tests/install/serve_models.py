#!/usr/bin/env python3
"""A local model mirror for tests/install/run.sh: a real HTTP/1.1 server on 127.0.0.1 that serves
the files of one folder (../shared/models) under ``/PREFIX/FILE`` with byte ranges
(``Range: bytes=N-`` answered 206 with ``Content-Range``; past the end 416), as a studio's model
mirror would (``model_mirrors`` in easel.toml). Standard library only.

Each request is logged as one JSON line to ``--log``: path, the range asked for, the status, and
the bytes sent. ``--cut-once FILE:BYTES`` ends the first response for FILE after BYTES bytes
(the connection closed mid-body) so the client must resume with a range request.

Usage: serve_models.py --root DIR --prefix /easel-models --log served.jsonl --port-file port.txt
       [--cut-once rembg_u2netp.onnx:1000000]
(writes the port once it listens; stops on SIGTERM).
"""

import argparse
import json
import os
import re
import signal
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--prefix", default="/easel-models")
    ap.add_argument("--log", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--cut-once", action="append", default=[], metavar="FILE:BYTES")
    a = ap.parse_args()
    root = os.path.realpath(a.root)
    prefix = "/" + a.prefix.strip("/") + "/"
    cuts = {}
    for c in a.cut_once:
        name, _, n = c.rpartition(":")
        cuts[name] = int(n)
    lock = threading.Lock()

    def log(entry):
        with lock, open(a.log, "a") as f:
            f.write(json.dumps(entry) + "\n")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
            rng = self.headers.get("Range")
            entry = {"path": self.path, "range": rng}
            name = path[len(prefix):] if path.startswith(prefix) else None
            file = os.path.join(root, name) if name and "/" not in name else None
            if not file or not os.path.isfile(file):
                entry.update(status=404, sent=0)
                log(entry)
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            size = os.path.getsize(file)
            start = 0
            if rng:
                m = re.fullmatch(r"bytes=(\d+)-", rng.strip())
                if not m:
                    entry.update(status=400, sent=0)
                    log(entry)
                    self.send_response(400)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = int(m.group(1))
                if start >= size:
                    entry.update(status=416, sent=0)
                    log(entry)
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            status = 206 if rng else 200
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(size - start))
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            self.end_headers()
            with lock:
                cut = cuts.pop(name, None)
            limit = size - start if cut is None else min(cut, size - start)
            sent = 0
            with open(file, "rb") as f:
                f.seek(start)
                while sent < limit:
                    chunk = f.read(min(1 << 16, limit - sent))
                    if not chunk:
                        break
                    try:
                        self.wfile.write(chunk)
                    except OSError:
                        break
                    sent += len(chunk)
            entry.update(status=status, sent=sent, cut=cut is not None)
            log(entry)
            if cut is not None:
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(2)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, a.port_file)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
