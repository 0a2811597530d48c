#!/usr/bin/env python3
"""The user's side of tests/install/run.sh, with the INSTALLED `easel` (first on PATH), run from
a folder outside the checkout. Standard library only (a fresh machine's python3).

  user_checks.py ops WORKDIR PHOTOS
      every operation `easel --json ops` lists, run once with the inputs it needs (a mask where
      it needs one, references where it takes them, a prompt for the generative ones, which talk
      to the local Gemini stand-in the caller configured); each output must be written, be a PNG
      of the size the operation promises (input × output_scale), and differ from the input.
  user_checks.py doctor ALLOWED_NOTES_JSON
      `easel --json doctor`: every check "ok" except the notes listed (check name → why allowed).
  user_checks.py served LOG_JSONL FILE...
      the mirror's log: each FILE was served, and the cut one was resumed with a range request.

Prints PASS/FAIL lines and "N passed, M failed"; exits 1 on any failure.
"""

import hashlib
import json
import os
import struct
import subprocess
import sys
import zlib

PASSED = 0
FAILED = 0


def check(name, ok, detail=""):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print(f"PASS {name}", flush=True)
    else:
        FAILED += 1
        print(f"FAIL {name}: {str(detail)[:1500]}", flush=True)
    return ok


def finish():
    print(f"{PASSED} passed, {FAILED} failed")
    sys.exit(1 if FAILED else 0)


def easel(*args, timeout=600):
    p = subprocess.run(["easel", *args], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


# ------------------------------------------------------------------------------------ PNG
def png_write(path, w, h, color_type, rows):
    """rows: bytes per row (gray: w bytes; RGBA: 4w bytes)."""
    raw = b"".join(b"\0" + r for r in rows)

    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n"
                + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(26)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    w, h = struct.unpack(">II", head[16:24])
    return w, h, head[25]


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ------------------------------------------------------------------------------------ ops
def run_ops(work, photos):
    code, out, err = easel("--json", "ops")
    if not check("easel --json ops answers", code == 0, err):
        return
    ops = json.loads(out)["operations"]
    check("operations are listed", len(ops) > 0, out)
    src = os.path.join(photos, "chelsea.png")
    ref = os.path.join(photos, "coffee.png")
    w, h, _ = png_size(src)
    # A selection in the middle of the photo (white = selected).
    mask = os.path.join(work, "mask.png")
    rows = [bytes(255 if w // 3 <= x < 2 * w // 3 and h // 3 <= y < 2 * h // 3 else 0
                  for x in range(w)) for y in range(h)]
    png_write(mask, w, h, 0, rows)
    # Scribbles for colorize-scribbles: a few coloured strokes on transparent, the photo's size.
    scribbles = os.path.join(work, "scribbles.png")
    strokes = [(30, 60, (200, 40, 40)), (150, 200, (40, 160, 60)), (240, 280, (50, 70, 210))]

    def pixel(x, y):
        for y0, y1, rgb in strokes:
            if y0 <= y < y1 and 40 <= x < w - 40 and (x // 8) % 2 == 0:
                return bytes(rgb) + b"\xff"
        return b"\0\0\0\0"
    png_write(scribbles, w, h, 6, [b"".join(pixel(x, y) for x in range(w)) for y in range(h)])

    # Each operation's inputs, by what it declares; a few need a choice made for them.
    params = {
        # The default (swin2sr-x2) has an unclear licence and is not fetched by this user.
        "upscale-2x": ["model=realesr-general-x4v3"],
    }
    for op in ops:
        oid = op["id"]
        args = ["--json", "run", oid, "-i", src]
        if op.get("mask") == "required":
            args += ["--mask", mask]
        n_refs = op.get("min_references", 0)
        if n_refs:
            r = scribbles if "aligned_references" in op.get("flags", []) else ref
            for _ in range(n_refs):
                args += ["--ref", r]
        for p in op.get("params", []):
            if p["name"] == "prompt":
                args += ["--set", "prompt=make it look like a watercolour"]
        for s in params.get(oid, []):
            args += ["--set", s]
        out_png = os.path.join(work, f"out-{oid}.png")
        args += ["-o", out_png]
        code, out, err = easel(*args)
        if not check(f"{oid}: easel run succeeds", code == 0, f"{' '.join(args)}\n{err}"):
            continue
        scale = op.get("output_scale", 1)
        size = png_size(out_png) if os.path.isfile(out_png) else None
        check(f"{oid}: a PNG of {w * scale}x{h * scale} is written", size is not None
              and size[:2] == (w * scale, h * scale), size)
        try:
            rep = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            rep = {}
        # --json describes the result layer: the whole image, or for an edit inside a
        # selection the edited region (x, y, width, height) within it.
        W, H = w * scale, h * scale
        x, y, rw, rh = (rep.get(k) for k in ("x", "y", "width", "height"))
        check(f"{oid}: --json reports the result's place in the {W}x{H} image",
              all(isinstance(v, int) for v in (x, y, rw, rh)) and rw > 0 and rh > 0
              and 0 <= x and 0 <= y and x + rw <= W and y + rh <= H
              and ((x, y, rw, rh) == (0, 0, W, H) or op.get("mask") != "ignored"), out)
        check(f"{oid}: the output is not the input", os.path.isfile(out_png)
              and sha(out_png) != sha(src))


# ------------------------------------------------------------------------------------ doctor
def run_doctor(allowed):
    code, out, err = easel("--json", "doctor")
    try:
        report = json.loads(out)
    except ValueError:
        check("easel --json doctor gives JSON", False, out + err)
        return
    check("easel doctor exits 0", code == 0, err)
    check("easel doctor: ok", report.get("ok") is True, report)
    for c in report["checks"]:
        name, level = c["check"], c["level"]
        if level == "ok":
            check(f"doctor: {name}", True)
        elif level == "note" and any(name == a or (a.endswith("*") and name.startswith(a[:-1]))
                                     for a in allowed):
            print(f"   note allowed: {name}: {c['detail']}")
        else:
            check(f"doctor: {name}", False, f"{level}: {c['detail']}")
    for must in ("onnx runtime", "easeld", "easel-worker", "built-in plugins", "daemon",
                 "krita plug-in", "gimp plug-in", "model mirrors"):
        got = [c["level"] for c in report["checks"] if c["check"] == must]
        check(f"doctor reports {must} ok", got == ["ok"], got)


# ------------------------------------------------------------------------------------ served
def run_served(log, files):
    entries = [json.loads(line) for line in open(log)]
    for f in files:
        got = [e for e in entries if e["path"].endswith("/" + f)]
        check(f"mirror served {f}", any(e["status"] in (200, 206) for e in got), got)
    cut = [e for e in entries if e.get("cut")]
    check("one download was cut mid-body", len(cut) == 1, cut)
    for c in cut:
        after = [e for e in entries if e["path"] == c["path"] and e["status"] == 206]
        check(f"{c['path']}: resumed with a range request at the cut ({c['sent']} bytes)",
              any(e["range"] == f"bytes={c['sent']}-" for e in after), after)


def main():
    what = sys.argv[1]
    if what == "ops":
        run_ops(sys.argv[2], sys.argv[3])
    elif what == "doctor":
        run_doctor(json.loads(sys.argv[2]))
    elif what == "served":
        run_served(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(f"unknown check {what!r} (ops, doctor, served)")
    finish()


if __name__ == "__main__":
    main()
