"""The Easel storyboard source inside the real OBS Studio, driven through obs-websocket.

Usage: storyboard_test.py PHOTOS OUTDIR SOCKET [KILL_CMD START_CMD]
Creates a storyboard of three fixture photos processed with remove background + match look
(reference: coffee.png) on a green board, waits for the processing, exports it (numbered PNGs
and an OpenTimelineIO timeline, validated with the `opentimelineio` package when it imports),
takes source screenshots in the middle of each panel and checks order, background, look; grabs
a frame of another source as a fourth panel; changes a setting and checks the re-processing
while OBS keeps rendering; with KILL_CMD and START_CMD, kills the daemon (the last results stay
on screen, the status says so) and starts it again (processed again by itself); and runs a second board against a socket with no daemon (panels
shown unprocessed, the status says so). Prints "ok"/"FAIL" lines and a summary.
"""
import base64
import io
import json
import logging
import os
import subprocess
import sys
import time

import numpy as np
import obsws_python as obs
from PIL import Image

photos, out, sock = sys.argv[1:4]
kill_cmd, start_cmd = (sys.argv[4:6] + ["", ""])[:2]
W, H = 640, 360
GREEN = np.array((0, 255, 0), np.float64)
PANELS = ["girl-1.jpg", "car-1.jpg", "chelsea.png"]
DURATIONS = [3.0, 4.0, 3.0]  # the second panel says its own
REFERENCE = f"{photos}/coffee.png"
# In each photo's own pixels: a box that is background (gone) and one on the subject (kept).
BOXES = {
    "girl-1.jpg": ((20, 5, 580, 40), (200, 200, 260, 300)),
    "car-1.jpg": ((20, 5, 460, 40), (150, 200, 250, 260)),
    "chelsea.png": ((420, 20, 446, 280), (150, 80, 250, 160)),
}
EXPORT = os.path.join(out, "export")
results = []


def check(name, ok, why=""):
    results.append(bool(ok))
    print(("ok " if ok else "FAIL ") + name + ("" if ok else ": " + why), flush=True)


logging.disable(logging.CRITICAL)


def connect():
    for _ in range(120):
        try:
            return obs.ReqClient(host="127.0.0.1", port=int(os.environ.get("EASEL_OBS_WS_PORT", "4455")), password="", timeout=20)
        except Exception:
            time.sleep(0.5)
    raise SystemExit("FAIL obs-websocket did not answer")


def shot(c, name, save=None):
    r = c.get_source_screenshot(name, "png", W, H, -1)
    im = Image.open(io.BytesIO(base64.b64decode(r.image_data.split(",", 1)[1]))).convert("RGB")
    if save:
        im.save(f"{out}/{save}.png")
    return np.asarray(im, np.float64)


def fit(w, h):
    s = min(W / w, H / h)
    fw, fh = min(W, max(1, round(w * s))), min(H, max(1, round(h * s)))
    return (W - fw) // 2, (H - fh) // 2, fw, fh, s


def board_of(path):
    """The photo fitted onto the green board, unprocessed (what the source shows without a daemon)."""
    im = Image.open(path).convert("RGB")
    x, y, fw, fh, _ = fit(*im.size)
    board = Image.new("RGB", (W, H), (0, 255, 0))
    board.paste(im.resize((fw, fh), Image.LANCZOS), (x, y))
    return np.asarray(board, np.float64)


def board_box(panel, b):
    """A box given in the photo's pixels, in board pixels."""
    w, h = Image.open(f"{photos}/{panel}").size
    x, y, _, _, s = fit(w, h)
    x0, y0, x1, y1 = b
    return int(x + x0 * s), int(y + y0 * s), int(x + x1 * s), int(y + y1 * s)


def region(px, b):
    x0, y0, x1, y1 = b
    return px[y0:y1, x0:x1]


def green_dist(px, b):
    return np.abs(region(px, b) - GREEN).mean()


def settings(c, name):
    return c.get_input_settings(name).input_settings


def status(c, name):
    return settings(c, name).get("status", "")


def wait_status(c, name, words, timeout=120):
    end = time.time() + timeout
    s = ""
    while time.time() < end:
        s = status(c, name)
        if all(w in s for w in words):
            return s
        time.sleep(0.5)
    return s


c = connect()
c.create_scene("Storyboard test")
c.set_current_program_scene("Storyboard test")
vs = c.get_video_settings()
fps = vs.fps_numerator / vs.fps_denominator
board = "Board"
entries = [f"{photos}/{PANELS[0]}", f"{photos}/{PANELS[1]} | 4 | a red car", f"{photos}/{PANELS[2]}"]
base = {
    "panels": [{"value": e, "selected": False, "hidden": False} for e in entries],
    "step1": "remove-background",
    "step2": "match-look",
    "reference": REFERENCE,
    "width": W,
    "height": H,
    "bg_colour": 0xFF00FF00,
    "duration": 3.0,
    "transition": "crossfade",
    "transition_s": 0.5,
    "export_dir": EXPORT,
    "socket": sock,
}
c.create_input("Storyboard test", board, "easel_storyboard", base, True)
kind = c.get_input_settings(board).input_kind
check("OBS made an Easel storyboard source", kind == "easel_storyboard", kind)

# Processing in the background: progress in the status property as panels finish.
seen = []
end = time.time() + 120
while time.time() < end:
    s = status(c, board)
    if s and (not seen or seen[-1] != s):
        seen.append(s)
    if "3 of 3 panels processed" in s:
        break
    time.sleep(0.2)
final = seen[-1] if seen else ""
check("storyboard: all panels processed (status)", "3 of 3 panels processed" in final, repr(final))
check("storyboard: progress shown while processing",
      any("Processing panel" in s for s in seen), repr(seen[:4]))
check("storyboard: the status names the chain",
      "Remove background → Match look" in final, repr(final))

# The properties come from the daemon's operations and their schemas.
def items(name, prop):
    return [i["itemValue"] for i in
            c.get_input_properties_list_property_items(name, prop).property_items]


ops = items(board, "step1")
check("properties: the chain's operations are the daemon's",
      {"remove-background", "match-look", "fix-low-light"} <= set(ops), str(ops))
models, spaces = items(board, "s1_model"), items(board, "s2_space")
check("properties: each operation's parameters come from its schema",
      {"u2netp", "isnet-general-small"} <= set(models) and spaces == ["lab", "oklab"],
      f"{models} {spaces}")

# Export: numbered PNGs and the timeline.
c.press_input_properties_button(board, "export")
s = wait_status(c, board, ["Exported 3 panels"], 60)
check("export: reported in the status", "Exported 3 panels" in s, repr(s))
pngs = [os.path.join(EXPORT, f"panel_{i:04d}.png") for i in (1, 2, 3)]
check("export: panel_0001.png … panel_0003.png written", all(os.path.isfile(p) for p in pngs),
      str(sorted(os.listdir(EXPORT)) if os.path.isdir(EXPORT) else "no folder"))
exported = [np.asarray(Image.open(p).convert("RGB"), np.float64) if os.path.isfile(p)
            else np.zeros((H, W, 3)) for p in pngs]
sizes = [Image.open(p).size if os.path.isfile(p) else None for p in pngs]
check("export: the PNGs have the board's size", all(sz == (W, H) for sz in sizes), str(sizes))
originals = [board_of(f"{photos}/{p}") for p in PANELS]


def structure(a):
    """Gradient-magnitude image: what a colour change leaves alone."""
    g = a.mean(axis=2)
    gx, gy = np.abs(np.diff(g, axis=1))[:-1], np.abs(np.diff(g, axis=0))[:, :-1]
    return gx + gy


order = []
for e in exported:
    corr = [np.corrcoef(structure(e).ravel(), structure(o).ravel())[0, 1] for o in originals]
    order.append(int(np.argmax(corr)))
check("export: the PNGs are the panels in order", order == [0, 1, 2], str(order))
for i, (e, p) in enumerate(zip(exported, PANELS)):
    bg, fg = BOXES[p]
    gb, gf = green_dist(e, board_box(p, bg)), green_dist(e, board_box(p, fg))
    check(f"export: panel {i + 1} background removed, subject kept", gb < 25 and gf > 60,
          f"background {gb:.1f} from green, subject {gf:.1f}")

otio_path = os.path.join(EXPORT, "storyboard.otio")
try:
    tl = json.load(open(otio_path))
except Exception as e:  # noqa: BLE001 - any failure is the check's failure
    tl = {}
    print(f"   ({otio_path}: {e})")
track = (tl.get("tracks") or {}).get("children", [{}])[0] if tl else {}
clips = [k for k in track.get("children", []) if k.get("OTIO_SCHEMA", "").startswith("Clip.")]
trans = [k for k in track.get("children", []) if k.get("OTIO_SCHEMA") == "Transition.1"]
check("otio: Timeline.1 ▸ Stack.1 ▸ Track.1 (Video)",
      tl.get("OTIO_SCHEMA") == "Timeline.1" and tl["tracks"].get("OTIO_SCHEMA") == "Stack.1"
      and track.get("OTIO_SCHEMA") == "Track.1" and track.get("kind") == "Video", str(tl)[:200])
want = [round(d * fps) for d in DURATIONS]
got = [k["source_range"]["duration"]["value"] for k in clips]
rates = {k["source_range"]["duration"]["rate"] for k in clips}
check("otio: three clips with the panels' durations", got == want and rates == {fps},
      f"{got} at {rates}, want {want} at {fps}")
urls = [k["media_reference"].get("target_url", "") for k in clips]
check("otio: clips reference the PNGs in order (ExternalReference.1, file URLs)",
      urls == ["file://" + p for p in pngs]
      and all(k["media_reference"]["OTIO_SCHEMA"] == "ExternalReference.1" for k in clips),
      str(urls))
half = round(0.5 * fps) // 2
check("otio: crossfades as SMPTE_Dissolve transitions between the clips",
      len(trans) == 2 and all(t["transition_type"] == "SMPTE_Dissolve"
                              and t["in_offset"]["value"] == half for t in trans),
      str(trans)[:200])
check("otio: the second panel's prompt is kept in its metadata",
      len(clips) == 3 and clips[1]["metadata"]["easel"].get("prompt") == "a red car",
      str([k.get("metadata") for k in clips]))
try:
    import opentimelineio as otio
except ImportError:
    otio = None
    print("   (opentimelineio is not installed: the schema fields above were checked by hand)")
if otio is not None:
    try:
        t = otio.adapters.read_from_file(otio_path)
        vt = t.video_tracks()[0]
        oc = list(vt.find_clips())
        ok = ([round(x.duration().value) for x in oc] == want
              and [x.media_reference.target_url for x in oc] == urls
              and round(t.duration().to_seconds(), 3) == round(sum(want) / fps, 3)
              and len([x for x in vt if isinstance(x, otio.schema.Transition)]) == 2)
        why = f"{[x.duration().value for x in oc]}, {t.duration()}"
    except Exception as e:  # noqa: BLE001
        ok, why = False, f"{type(e).__name__}: {e}"
    check(f"otio: opentimelineio {otio.__version__} reads the timeline (clips, durations, media)",
          ok, why)

# The animatic: screenshots in the middle of each panel after a restart.
starts = np.cumsum([0.0] + DURATIONS[:-1])
mids = [s + d / 2 for s, d in zip(starts, DURATIONS)]
c.press_input_properties_button(board, "restart")
t0 = time.time()
shots = []
for i, m in enumerate(mids):
    time.sleep(max(0.0, t0 + m - time.time()))
    shots.append(shot(c, board, f"storyboard-panel-{i + 1}"))
shown = [int(np.argmax([np.corrcoef(structure(sh).ravel(), structure(o).ravel())[0, 1]
                        for o in originals])) for sh in shots]
check("animatic: the panels appear in order", shown == [0, 1, 2], str(shown))
dist = [np.abs(sh - e).mean() for sh, e in zip(shots, exported)]
check("animatic: each screenshot is its processed panel as exported (mean difference < 6)",
      all(d < 6 for d in dist), str([round(d, 1) for d in dist]))
for i, (s, p) in enumerate(zip(shots, PANELS)):
    bg, fg = BOXES[p]
    gb, gf = green_dist(s, board_box(p, bg)), green_dist(s, board_box(p, fg))
    check(f"animatic: panel {i + 1} shows its background removed and its subject",
          gb < 25 and gf > 60, f"background {gb:.1f} from green, subject {gf:.1f}")

# One look: the subjects' colours moved towards the reference, and closer to each other.
# Compared on the same pixels: the subject as the screenshot shows it (not the green board),
# in the processed panel and in the unprocessed one.
ref = np.asarray(Image.open(REFERENCE).convert("RGB"), np.float64).reshape(-1, 3).mean(axis=0)
masks = [np.abs(sh - GREEN).sum(axis=2) > 60 for sh in shots]
proc_means = [sh[m].mean(axis=0) for sh, m in zip(shots, masks)]
orig_means = [o[m].mean(axis=0) for o, m in zip(originals, masks)]
d_orig = [np.linalg.norm(m - ref) for m in orig_means]
d_proc = [np.linalg.norm(m - ref) for m in proc_means]
check("look: every panel's subject is closer to the reference's colours than unprocessed",
      all(p < o for p, o in zip(d_proc, d_orig)),
      f"processed {np.round(d_proc, 1)}, unprocessed {np.round(d_orig, 1)}")
spread = lambda ms: float(np.mean([np.linalg.norm(m - np.mean(ms, axis=0)) for m in ms]))  # noqa: E731
check("look: the panels' subjects are closer to each other in colour than unprocessed",
      spread(proc_means) < 0.6 * spread(orig_means),
      f"spread {spread(proc_means):.1f} against {spread(orig_means):.1f}")

# Transitions, at the cut between panels 1 and 2: with the first panel 6 s long and the second
# 4 s, a 4 s transition is used as 2 s (half the shorter panel), centred on the cut at 6 s.
def lerp_fit(px, a, b):
    """The t in 0..1 for which a + t (b - a) is closest to px, and the mean residual there."""
    d = (b - a).ravel()
    t = float(np.clip(np.dot((px - a).ravel(), d) / max(float(np.dot(d, d)), 1e-9), 0, 1))
    return t, float(np.abs(px - (a + t * (b - a))).mean())


def at_cut(name, changes):
    c.set_input_settings(board, changes, True)
    time.sleep(0.3)
    c.press_input_properties_button(board, "restart")
    t0 = time.time()
    time.sleep(max(0.0, t0 + 6.0 - time.time()))
    return shot(c, board, name)


px = at_cut("storyboard-crossfade", {"transition": "crossfade", "transition_s": 4.0,
                                     "duration": 6.0})
t, r = lerp_fit(px, exported[0], exported[1])
check("transition: at the cut a crossfade shows both panels mixed", 0.15 < t < 0.85 and r < 6,
      f"mix {t:.2f}, residual {r:.1f}")
px = at_cut("storyboard-fade", {"transition": "fade"})
g = np.broadcast_to(GREEN, px.shape)
(t1, r1), (t2, r2) = lerp_fit(px, exported[0], g), lerp_fit(px, g, exported[1])
towards_green = t1 if r1 <= r2 else 1 - t2
check("transition: at the cut a fade goes through the board colour",
      min(r1, r2) < 6 and towards_green > 0.4,
      f"to green {t1:.2f} ({r1:.1f}), from green {t2:.2f} ({r2:.1f})")
c.set_input_settings(board, {"transition": "crossfade", "transition_s": 0.5, "duration": 3.0}, True)

# A frame grabbed from another source becomes a fourth panel, processed like the others.
c.create_input("Storyboard test", "Grab me", "image_source", {"file": f"{photos}/astronaut.png"}, False)
check("properties: other sources are offered to grab from", "Grab me" in items(board, "grab_source"),
      str(items(board, "grab_source")))
c.set_input_settings(board, {"grab_source": "Grab me"}, True)
c.press_input_properties_button(board, "grab")
panels = []
end = time.time() + 30
while time.time() < end:
    panels = settings(c, board).get("panels", [])
    if len(panels) == 4:
        break
    time.sleep(0.3)
grabbed = panels[3]["value"] if len(panels) == 4 else ""
check("grab: a fourth panel was added from the other source", os.path.isfile(grabbed),
      f"{len(panels)} panels, {grabbed!r}")
if os.path.isfile(grabbed):
    g = np.asarray(Image.open(grabbed).convert("RGB"), np.float64)
    a = np.asarray(Image.open(f"{photos}/astronaut.png").convert("RGB"), np.float64)
    d = np.abs(g - a).mean() if g.shape == a.shape else 999
    check("grab: the saved frame is that source's picture", d < 6, f"difference {d:.1f}, {g.shape}")
s = wait_status(c, board, ["4 of 4 panels processed"], 60)
check("grab: the new panel is processed too", "4 of 4 panels processed" in s, repr(s))

# Settings change: re-processed in the background, OBS renders on meanwhile.
c.set_input_settings(board, {"s2_strength": 0.0}, True)
v1 = c.get_stats()
time.sleep(1.0)
v2 = c.get_stats()
rendered = v2.render_total_frames - v1.render_total_frames
check("re-processing: OBS keeps rendering meanwhile", rendered >= 10, f"{rendered} frames in 1 s")
s = wait_status(c, board, ["4 of 4 panels processed"], 90)
time.sleep(0.5)
c.press_input_properties_button(board, "restart")
time.sleep(1.5)
again = shot(c, board, "storyboard-strength-0")
mask = np.abs(again - GREEN).sum(axis=2) > 60
m = again[mask].mean(axis=0) if mask.any() else np.zeros(3)
o = originals[0][mask].mean(axis=0) if mask.any() else np.zeros(3)
check("re-processing: with strength 0 the first panel has its own colours again",
      np.linalg.norm(m - o) < 0.5 * np.linalg.norm(proc_means[0] - o),
      f"mean {np.round(m)}, unprocessed {np.round(o)}, matched {np.round(proc_means[0])}")

if kill_cmd:
    # The daemon killed, then a change: the last results stay, the status says why.
    subprocess.run(kill_cmd, shell=True, check=False)
    s = wait_status(c, board, ["not reachable"], 20)
    check("daemon killed while the board is idle: the status says so", "not reachable" in s,
          repr(s))
    c.set_input_settings(board, {"s2_strength": 1.0}, True)
    c.press_input_properties_button(board, "restart")
    time.sleep(1.5)
    px = shot(c, board, "storyboard-daemon-down")
    d = np.abs(px - again).mean()
    check("daemon killed: the last result stays on screen", d < 6, f"difference {d:.1f}")
    subprocess.run(start_cmd, shell=True, check=False)
    s = wait_status(c, board, ["connected", "4 of 4 panels processed"], 90)
    check("daemon restarted: processed again by itself",
          "connected" in s and "4 of 4 panels processed" in s, repr(s))
    time.sleep(0.5)
    c.press_input_properties_button(board, "restart")
    time.sleep(1.5)
    px = shot(c, board, "storyboard-daemon-back")
    d = np.abs(px - shots[0]).mean()
    check("daemon restarted: the matched look is back", d < 6, f"difference {d:.1f}")

# No daemon: the panels are shown unprocessed and the status says so; errors name the panel.
off = dict(base, socket=os.path.join(out, "nobody-listens.sock"), export_dir="",
           panels=base["panels"][:1] + [{"value": f"{photos}/missing.png"}])
c.create_input("Storyboard test", "Board offline", "easel_storyboard", off, False)
s = wait_status(c, "Board offline", ["not reachable"], 20)
check("no daemon: the status says so", "not reachable" in s and "unprocessed" in s, repr(s))
check("no daemon: a missing panel file is named in the status",
      "Panel 2" in s and "missing.png" in s, repr(s))
c.press_input_properties_button("Board offline", "restart")
time.sleep(1.0)
px = shot(c, "Board offline", "storyboard-no-daemon")
d = np.abs(px - originals[0]).mean()
check("no daemon: the first panel is shown unprocessed", d < 6, f"difference {d:.1f}")
# A board removed while its worker is busy: nothing waits for the job, nothing crashes.
c.create_input("Storyboard test", "Short-lived", "easel_storyboard", base, True)
time.sleep(0.7)
t0 = time.time()
c.remove_input("Short-lived")
took = time.time() - t0
time.sleep(1.0)
check("removing a board while it processes: OBS answers at once", took < 2.0, f"{took:.2f} s")
check("OBS is still running", c.get_version().obs_version != "")
print(f"storyboard checks: {sum(results)} passed, {len(results) - sum(results)} failed")
sys.exit(0 if all(results) else 1)
