"""Checks the frames that frametest wrote (composited by libobs itself) against the known input:
the background modes of remove background, then fix low light (a dark frame gets brighter) and
match look (the mean colour moves towards the reference's), each also without a daemon.

Usage: check_frames.py OUTDIR FRAME.png   — prints "ok NAME" / "FAIL NAME: why" per check.
"""
import json
import sys

import numpy as np
from PIL import Image

out, frame_png = sys.argv[1], sys.argv[2]
BG = [(10, 10, 90, 60), (540, 200, 630, 300)]  # sky, mountains
FG = [(225, 230, 275, 290), (238, 140, 268, 165)]  # her shirt, her face
SNOW = (400, 20, 630, 130)  # the snowy ridge: detail that a blur removes
results = []


def sharpness(px, b):
    return np.abs(np.diff(box(px, b), axis=1)).mean()


def check(name, ok, why=""):
    results.append(ok)
    print(("ok " if ok else "FAIL ") + name + ("" if ok else ": " + why), flush=True)


def load(name):
    try:
        meta = json.load(open(f"{out}/{name}.json"))
        raw = open(f"{out}/{name}.rgba", "rb").read()
    except OSError as e:
        return None, {"error": str(e)}
    px = np.frombuffer(raw, np.uint8).reshape(meta["height"], meta["width"], 4)[..., :3]
    Image.fromarray(px).save(f"{out}/{name}.png")
    return px.astype(np.float64), meta


def box(px, b):
    x0, y0, x1, y1 = b
    return px[y0:y1, x0:x1]


def diff(a, b, boxes):
    return max(np.abs(box(a, x) - box(b, x)).mean() for x in boxes)


def near(px, colour, boxes):
    return max(np.abs(box(px, x) - np.array(colour)).mean() for x in boxes)


src = np.asarray(Image.open(frame_png).convert("RGB"), np.float64)
ref, _ = load("pass")
if ref is None:
    check("frames were written", False, "no pass frame")
    sys.exit(1)
d = np.abs(ref - src).mean()
check("no daemon: the frame passes through unchanged", d < 4, f"mean difference {d:.2f}")
for name, test in [
    ("colour", lambda px: near(px, (0, 255, 0), BG) < 25),
    ("transparent", lambda px: near(px, (0, 0, 0), BG) < 25),
    ("image", lambda px: near(px, (255, 0, 0), BG) < 25),
    ("blur", lambda px: sharpness(px, SNOW) < 0.7 * sharpness(ref, SNOW)
     and near(px, (0, 255, 0), BG) > 60),
    ("back", lambda px: near(px, (0, 255, 0), BG) < 25),
]:
    px, meta = load(name)
    if px is None:
        check(f"{name}: frame written", False, meta.get("error", ""))
        continue
    bg_ok = test(px)
    check(f"{name}: background replaced where expected", bg_ok,
          f"background boxes {[box(px, b).mean(axis=(0, 1)).round().tolist() for b in BG]}")
    fg = diff(px, ref, FG)
    check(f"{name}: the person is kept", fg < 20, f"mean difference in the person {fg:.1f}")
px, meta = load("down")
if px is None:
    check("daemon killed: frame written", False, meta.get("error", ""))
else:
    d = diff(px, ref, BG + FG)
    check("daemon killed mid-stream: frames pass through unprocessed", d < 8, f"difference {d:.1f}")
    n = meta.get("frames_while_down", 0)
    check("daemon killed mid-stream: frames keep flowing", n >= 30, f"{n} frames")


def luma(px):
    return px @ np.array([0.299, 0.587, 0.114])


def corr(a, b):
    return float(np.corrcoef(luma(a).ravel(), luma(b).ravel())[0, 1])


# Fix low light and match look (frametest's last cases).
dark, _ = load("dark-source")
try:
    look_ref = np.asarray(Image.open(f"{out}/look-reference.png").convert("RGB"), np.float64)
except OSError as e:
    look_ref = None
    check("match look's reference image exists", False, str(e))
for name, base in [("lowlight-pass", dark), ("look-pass", ref)]:
    px, meta = load(name)
    if px is None or base is None:
        check(f"{name}: frame written", False, meta.get("error", "") if px is None else "no base frame")
        continue
    d = np.abs(px - base).mean()
    check(f"{name.split('-')[0]}, no daemon: the frame passes through unchanged", d < 4,
          f"mean difference {d:.2f}")
px, meta = load("lowlight")
if px is None or dark is None:
    check("lowlight: frame written", False, meta.get("error", "") if px is None else "no dark frame")
else:
    before, after = luma(dark).mean(), luma(px).mean()
    check("fix low light: the dark frame gets brighter", after > 1.5 * before and after > before + 15,
          f"mean luma {before:.1f} -> {after:.1f}")
    c = corr(px, dark)
    check("fix low light: the picture is the same picture", c > 0.9, f"luma correlation {c:.3f}")
px, meta = load("look")
if look_ref is None:
    pass
elif px is None:
    check("look: frame written", False, meta.get("error", ""))
else:
    target = look_ref.reshape(-1, 3).mean(axis=0)
    d0 = np.linalg.norm(ref.reshape(-1, 3).mean(axis=0) - target)
    d1 = np.linalg.norm(px.reshape(-1, 3).mean(axis=0) - target)
    check("match look: the mean colour moves towards the reference's", d1 < 0.5 * d0,
          f"distance to the reference's mean colour {d0:.1f} -> {d1:.1f} "
          f"(mean {px.reshape(-1, 3).mean(axis=0).round().tolist()}, reference {target.round().tolist()})")
    c = corr(px, ref)
    check("match look: the picture is the same picture", c > 0.8, f"luma correlation {c:.3f}")
print(f"frame checks: {sum(results)} passed, {len(results) - sum(results)} failed")
sys.exit(0 if all(results) else 1)
