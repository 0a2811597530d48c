#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target from real messages and files: the JSON examples of
docs/protocol.md, the messages the clients and the worker send, the model manifest, a daemon
configuration, and small PNG/JPEG files. Run once; the corpus is committed (the fuzzer adds to it)."""
import hashlib, json, os, re, struct, sys, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def frame(msg, payload=b""):
    j = msg if isinstance(msg, bytes) else json.dumps(msg).encode()
    return struct.pack("<IQ", len(j), len(payload)) + j + payload


IMG = {"width": 4, "height": 2, "format": "rgba8", "data": {"fd": 0, "offset": 0}}
INL = {"width": 2, "height": 2, "format": "gray8", "data": {"inline": 0}}
messages = [
    {"type": "hello", "protocol": 1, "client": "easel-krita/0.1.0", "features": ["fd", "inline"]},
    {"type": "list_operations", "id": 1},
    {"type": "submit", "id": 2, "operation": "remove-background", "params": {"model": "u2netp"},
     "image": IMG, "mask": dict(IMG, format="gray8", row_stride=4, pixel_stride=1),
     "references": [IMG], "mask_modifiers": {"grow": 4, "feather": 2.0, "invert": False},
     "context_margin": 64, "priority": "interactive", "result_format": "rgba8", "name": "n"},
    {"type": "submit", "id": 3, "operation": "invert", "image": INL, "priority": "batch"},
    {"type": "fetch", "id": 3, "job": 17},
    {"type": "cancel", "id": 4, "job": 17},
    {"type": "status", "id": 5},
    {"type": "echo", "id": 6, "image": dict(IMG, row_stride=4, pixel_stride=8)},
    {"type": "stream_open", "id": 7, "operation": "invert", "params": {}, "mask_modifiers": {"grow": 1}},
    {"type": "stream_frame", "stream": 3, "seq": 10, "image": IMG},
    {"type": "stream_close", "id": 8, "stream": 3},
    {"type": "shutdown", "id": 9},
    # Server messages and worker messages.
    {"type": "hello", "protocol": 1, "server": "easeld/0.1.0", "features": ["fd", "inline", "progress"],
     "limits": {"max_pixels": 268435456, "max_message_bytes": 1048576, "max_inline_bytes": 1073741824}},
    {"type": "accepted", "reply_to": 2, "job": 17},
    {"type": "progress", "job": 17, "fraction": 0.42, "message": "inference"},
    {"type": "job_finished", "job": 17, "ok": True},
    {"type": "result", "reply_to": 3, "job": 17, "operation": "invert", "name": "Invert", "x": 1, "y": 2,
     "seed": 0, "scale": 1, "elapsed_ms": 812, "image": IMG},
    {"type": "error", "reply_to": 2, "job": 17, "code": "plugin_crashed", "fault": "plugin", "message": "m"},
    {"type": "frame_dropped", "stream": 3, "seq": 9, "reason": "superseded"},
    {"type": "frame_error", "stream": 3, "seq": 9, "code": "unknown_job", "fault": "caller", "message": "m"},
    {"type": "cancelling", "reply_to": 4, "job": 17},
    {"type": "status", "reply_to": 5, "queued": 0, "running": 1, "socket": "/tmp/s"},
    {"type": "run", "job": 1, "operation": "invert", "params": [{"name": "x", "value": {"int": 3}}], "image": IMG},
    {"type": "cancel", "job": 1},
    {"type": "done", "job": 1, "image": IMG},
    {"type": "failed", "job": 1, "kind": "model", "message": "m"},
    {"type": "progress", "job": 1, "fraction": 0.5, "message": ""},
]
doc = open(os.path.join(ROOT, "docs", "protocol.md")).read()
for block in re.findall(r"```json\n(.*?)```", doc, re.S):
    try:
        messages.append(json.loads(block))
    except ValueError:
        pass
for m in messages:
    put("messages", json.dumps(m))
    put("frame_decode", frame(m))
put("frame_decode", frame(messages[0]) + frame(messages[3], b"\x01\x02\x03\x04"))
put("messages", '{"type":"submit","operation":"x","image":[1,1,"rgba8",null,null,{"inline":0}],"mask_modifiers":[]}')

# Image references: (width, height, format, strides, inline, fd, offset, memfd length, payload).
for seed in [b"\x04\x00\x02\x00\x00\x01\x10\x00\x00\x00\x01\x04\x00\x00\x00\x00\x00\x00\x00\x00\x40\x00",
             b"\x02\x00\x03\x00\x04\x00\x01\x00\x08\x00\x01\x00\x00\x00\x00\x00\x10\x00\x00\x00\x00\x01" + bytes(64),
             bytes(range(48))]:
    put("resolve_image", seed)
for seed in [bytes(range(64)), b"\x10\x10" + struct.pack("<4f", 1, 0, 0.5, float("nan")) + b"\x04\x00" + struct.pack("<f", 2.0) + b"\x01\x08\x00",
             b"\x3f\x3f" + struct.pack("<f", 1.0) * 8 + b"\xf0\xff" + struct.pack("<f", float("inf")) + b"\x00\x00\x01"]:
    put("mask_modifiers", seed)

put("manifest", open(os.path.join(ROOT, "host", "models", "manifest.toml")).read())
put("config", 'socket = "/tmp/e/easeld.sock"\nplugin_dirs = ["/p"]\nmodel_dirs = ["/m"]\nthreads = 2\n'
    'workers_per_plugin = 1\ntile_size = 512\n[limits]\nmax_pixels = 1000\njob_timeout_s = 2.0\n'
    'worker_memory_mb = 300\nmax_queued_jobs = 8\nmax_queued_mb = 64\n')
put("config", "")


def png(w, h, color_type, depth, rows):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


put("decode", png(2, 2, 6, 8, [bytes(8), bytes(range(8))]))
put("decode", png(3, 1, 0, 8, [b"\x00\x80\xff"]))
put("decode", png(1, 2, 2, 16, [bytes(6), b"\xff" * 6]))
put("decode", png(4, 4, 4, 8, [bytes(range(8))] * 4))
try:
    sys.path.insert(0, os.path.join(ROOT, ".venv", "lib"))
    from PIL import Image  # optional: small JPEGs from the project's virtual environment
    import io
    for mode, size in [("RGB", (8, 8)), ("L", (5, 3))]:
        b = io.BytesIO()
        Image.new(mode, size, 128).save(b, "JPEG", quality=50)
        put("decode", b.getvalue())
except ImportError:
    pass
print("seeded", sum(len(fs) for _, _, fs in os.walk(CORPUS)), "files under", CORPUS)
