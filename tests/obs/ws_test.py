"""The Easel filter inside the real OBS Studio, driven through obs-websocket.

Usage: ws_test.py FRAME.png OUTDIR SOCKET KILL_CMD START_CMD
Creates a scene, two image sources each with an Easel filter (two filters, one daemon), takes
source screenshots and checks pixels; kills the daemon mid-stream (frames pass through
unprocessed), starts it again (processed again). Prints "ok"/"FAIL" lines and a summary.
"""
import base64
import logging
import os
import io
import subprocess
import sys
import time

import numpy as np
import obsws_python as obs
from PIL import Image

frame, out, sock, kill_cmd, start_cmd = sys.argv[1:6]
BG = [(10, 10, 90, 60), (540, 200, 630, 300)]
FG = [(225, 230, 275, 290), (238, 140, 268, 165)]
results = []


def check(name, ok, why=""):
    results.append(bool(ok))
    print(("ok " if ok else "FAIL ") + name + ("" if ok else ": " + why), flush=True)


logging.disable(logging.CRITICAL)  # obsws logs every refused connection while OBS starts


def connect():
    for _ in range(120):
        try:
            return obs.ReqClient(host="127.0.0.1", port=int(os.environ.get("EASEL_OBS_WS_PORT", "4455")), password="", timeout=10)
        except Exception:
            time.sleep(0.5)
    raise SystemExit("FAIL obs-websocket did not answer")


def shot(c, name, save=None):
    r = c.get_source_screenshot(name, "png", 640, 360, -1)
    data = r.image_data.split(",", 1)[1]
    im = Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
    if save:
        im.save(f"{out}/{save}.png")
    return np.asarray(im, np.float64)


def box(px, b):
    x0, y0, x1, y1 = b
    return px[y0:y1, x0:x1]


def green_bg(px):
    return max(np.abs(box(px, b) - np.array((0, 255, 0))).mean() for b in BG)


def diff(a, b, boxes):
    return max(np.abs(box(a, x) - box(b, x)).mean() for x in boxes)


def poll(c, name, cond, tries=120):
    """Screenshots until cond holds (at most `tries`, about 0.25 s apart); the last one."""
    px = shot(c, name)
    for _ in range(tries):
        if cond(px):
            break
        time.sleep(0.25)
        px = shot(c, name)
    return px


c = connect()
check("obs-websocket answers", c.get_version().obs_version.startswith(("29", "30", "31")))
c.create_scene("Easel test")
c.set_current_program_scene("Easel test")
src = np.asarray(Image.open(frame).convert("RGB"), np.float64)
for name in ("Camera A", "Camera B"):
    c.create_input("Easel test", name, "image_source", {"file": frame}, True)
ref = shot(c, "Camera A", "ws-original")
check("the image source shows the frame", np.abs(ref - src).mean() < 6,
      f"difference {np.abs(ref - src).mean():.1f}")
settings = {"socket": sock, "mode": "colour", "bg_colour": 0xFF00FF00}
for name in ("Camera A", "Camera B"):
    c.create_source_filter(name, "Easel", "easel_filter", settings)
kind = c.get_source_filter("Camera A", "Easel").filter_kind
check("OBS made an Easel filter", kind == "easel_filter", kind)
a = poll(c, "Camera A", lambda px: green_bg(px) < 25)
b = poll(c, "Camera B", lambda px: green_bg(px) < 25)
shot(c, "Camera A", "ws-filtered")
check("filter on source A: background gone", green_bg(a) < 25, f"{green_bg(a):.1f}")
check("filter on source B (same daemon): background gone", green_bg(b) < 25, f"{green_bg(b):.1f}")
check("filter: the person is kept", diff(a, ref, FG) < 20, f"{diff(a, ref, FG):.1f}")

subprocess.run(kill_cmd, shell=True, check=False)
down = poll(c, "Camera A", lambda px: diff(px, ref, BG) < 8)
shot(c, "Camera A", "ws-daemon-down")
check("daemon killed: frames pass through unprocessed", diff(down, ref, BG + FG) < 8,
      f"{diff(down, ref, BG + FG):.1f}")
v1 = c.get_stats()
time.sleep(1.0)
v2 = c.get_stats()
rendered = v2.render_total_frames - v1.render_total_frames
check("daemon killed: OBS keeps rendering frames", rendered >= 10, f"{rendered} frames in 1 s")
subprocess.run(start_cmd, shell=True, check=False)
back = poll(c, "Camera A", lambda px: green_bg(px) < 25, tries=160)
shot(c, "Camera A", "ws-daemon-back")
check("daemon restarted: processed again", green_bg(back) < 25, f"{green_bg(back):.1f}")
print(f"websocket checks: {sum(results)} passed, {len(results) - sum(results)} failed")
sys.exit(0 if all(results) else 1)
