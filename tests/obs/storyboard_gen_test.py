"""A generative storyboard inside the real OBS Studio, driven through obs-websocket, against the
local Gemini stand-in (tests/generative/fake_gemini.py) that the daemon is configured for.

Usage: storyboard_gen_test.py PHOTOS OUTDIR SOCKET GEN_LOG
Builds a board of three fixture photos, each with its own prompt, whose chain is *Edit selection
from a prompt* (generative-edit) with two character references; checks what the service got per
panel (that panel's prompt and picture, the same two references in every request), that the
panels shown and exported are the service's answers (known colours) on the board as the board
composes them; then refines the third panel twice, once by editing its entry and once with the
properties' Refine button, and checks that each follow-up request carries the prior turn's image
and the earlier prompts, that only that panel is sent again, and that the status shows the turns.
Prints "ok"/"FAIL" lines and a summary. Writes only into OUTDIR.
"""
import base64
import io
import json
import logging
import os
import sys
import time

import numpy as np
import obsws_python as obs
from PIL import Image

photos, out, sock, gen_log = sys.argv[1:5]
W, H = 320, 180
BG = (255, 0, 255)  # the board colour, 0xAABBGGRR below
PANELS = ["girl-1.jpg", "car-1.jpg", "chelsea.png"]
PROMPTS = ["the knight rides out at dawn", "the knight meets a dragon", "the knight rests"]
REFINE = ["give him a red cloak", "add falling snow"]
# The panel refined: the third, so its three turns get three different answers from the
# stand-in's three-colour cycle (blue, then red, then green).
RP = 2
# The stand-in's answers, in the order it gives them (its PALETTE).
PALETTE = [(220, 40, 30), (30, 200, 60), (40, 60, 220)]
EXPORT = os.path.join(out, "gen-export")
BOARD = "Generative board"
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


def requests():
    if not os.path.isfile(gen_log):
        return []
    with open(gen_log) as f:
        return [json.loads(line) for line in f if line.strip()]


def status(c):
    return c.get_input_settings(BOARD).input_settings.get("status", "")


def wait_status(c, words, timeout=90):
    end = time.time() + timeout
    s = ""
    while time.time() < end:
        s = status(c)
        if all(w in s for w in words):
            return s
        time.sleep(0.3)
    return s


def fit(w, h):
    s = min(W / w, H / h)
    fw, fh = min(W, max(1, round(w * s))), min(H, max(1, round(h * s)))
    return (W - fw) // 2, (H - fh) // 2, fw, fh


def expected_board(panel, colour):
    """The panel's answer (a solid colour at the panel's fitted size) on the board."""
    x, y, fw, fh = fit(*Image.open(f"{photos}/{panel}").size)
    b = np.zeros((H, W, 3), np.float64)
    b[:, :] = BG
    b[y:y + fh, x:x + fw] = colour
    return b


def png(path):
    return np.asarray(Image.open(path).convert("RGB"), np.float64)


def shot(c, save=None):
    r = c.get_source_screenshot(BOARD, "png", W, H, -1)
    im = Image.open(io.BytesIO(base64.b64decode(r.image_data.split(",", 1)[1]))).convert("RGB")
    if save:
        im.save(f"{out}/{save}.png")
    return np.asarray(im, np.float64)


def image_sig(i):
    return (i.get("width"), i.get("height"), tuple(i.get("center") or ()), tuple(i.get("corner") or ()))


# Two character references of known sizes and colours (a two-colour one: centre and corner differ).
CHAR1, CHAR2 = os.path.join(out, "character-1.png"), os.path.join(out, "character-2.png")
Image.new("RGBA", (96, 128), (250, 200, 0, 255)).save(CHAR1)
two = Image.new("RGBA", (64, 48), (0, 120, 255, 255))
two.paste((255, 255, 255, 255), (0, 0, 20, 48))
two.save(CHAR2)
REF_SIGS = [(96, 128, (250, 200, 0, 255), (250, 200, 0, 255)),
            (64, 48, (0, 120, 255, 255), (255, 255, 255, 255))]

c = connect()
c.create_scene("Generative storyboard test")
c.set_current_program_scene("Generative storyboard test")
entries = [f"{photos}/{p} | 2 | {t}" for p, t in zip(PANELS, PROMPTS)]


def listed(values):
    return [{"value": v, "selected": False, "hidden": False} for v in values]


base = {
    "panels": listed(entries),
    "characters": listed([CHAR1, CHAR2]),
    "step1": "generative-edit",
    "step2": "",
    "step3": "",
    "width": W,
    "height": H,
    "bg_colour": 0xFF000000 | (BG[2] << 16) | (BG[1] << 8) | BG[0],
    "duration": 2.0,
    "transition": "cut",
    "export_dir": EXPORT,
    "socket": sock,
}
c.create_input("Generative storyboard test", BOARD, "easel_storyboard", base, True)
s = wait_status(c, ["3 of 3 panels processed"])
check("generative board: all panels processed (status)", "3 of 3 panels processed" in s, repr(s))
check("generative board: the status names the chain", "Edit selection from a prompt" in s, repr(s))

# What the service received, per panel.
reqs = requests()
check("service: one request per panel", len(reqs) == 3, f"{len(reqs)} requests")
by_panel = {}
for r in reqs:
    first = (r.get("turns") or [{}])[0]
    text = " ".join(first.get("texts", []))
    for i, p in enumerate(PROMPTS):
        if p in text:
            by_panel.setdefault(i, []).append(r)
check("service: each panel's own prompt was sent, once each",
      sorted(by_panel) == [0, 1, 2] and all(len(v) == 1 for v in by_panel.values()),
      str({k: len(v) for k, v in by_panel.items()}))
answer = {}
for i, panel in enumerate(PANELS):
    r = (by_panel.get(i) or [{}])[0]
    turns = r.get("turns") or [{}]
    imgs = turns[0].get("images", [])
    _, _, fw, fh = fit(*Image.open(f"{photos}/{panel}").size)
    check(f"service: panel {i + 1} is a single user turn", [t.get("role") for t in turns] == ["user"],
          str([t.get("role") for t in turns]))
    check(f"service: panel {i + 1}'s picture at its size on the board ({fw}x{fh}), then the two references",
          len(imgs) == 3 and (imgs[0].get("width"), imgs[0].get("height")) == (fw, fh),
          str([(im.get("width"), im.get("height")) for im in imgs]))
    check(f"service: panel {i + 1} got both character references",
          [image_sig(im) for im in imgs[1:]] == REF_SIGS, str([image_sig(im) for im in imgs[1:]]))
    check(f"service: panel {i + 1}'s key only in its header",
          r.get("key_in_header") and not r.get("key_in_url") and not r.get("key_in_body"), str(r.get("path")))
    answer[i] = tuple(r.get("answered_color") or (0, 0, 0))[:3]
refs = [[image_sig(im) for im in (r.get("turns") or [{}])[0].get("images", [])[1:]] for r in reqs]
check("service: the same references in every request", len(refs) == 3 and refs[0] == refs[1] == refs[2],
      str(refs))
check("service: the answers were the stand-in's three colours, in panel order",
      [answer.get(i) for i in range(3)] == PALETTE, str(answer))

# The export: each panel is the service's answer composited on the board.
c.press_input_properties_button(BOARD, "export")
s = wait_status(c, ["Exported 3 panels"], 60)
check("export: reported", "Exported 3 panels" in s, repr(s))


def check_export(label, colours):
    for i, panel in enumerate(PANELS):
        p = os.path.join(EXPORT, f"panel_{i + 1:04d}.png")
        if not os.path.isfile(p):
            check(f"{label}: panel {i + 1} exported", False, "missing")
            continue
        got, want = png(p), expected_board(panel, colours[i])
        d = np.abs(got - want).max() if got.shape == want.shape else 255
        check(f"{label}: panel {i + 1} is the answer {colours[i]} on the board", d <= 2,
              f"shape {got.shape}, max difference {d}")


check_export("export", [answer.get(i, (0, 0, 0)) for i in range(3)])


def check_shown(label, colours):
    """Screenshots over one loop: every panel's board shows up as composed."""
    wants = [expected_board(p, colours[i]) for i, p in enumerate(PANELS)]
    seen = [False] * 3
    c.press_input_properties_button(BOARD, "restart")
    end = time.time() + 9
    while time.time() < end and not all(seen):
        px = shot(c)
        for i, w in enumerate(wants):
            if np.abs(px - w).mean() < 2.0:
                seen[i] = True
        time.sleep(0.2)
    check(f"{label}: the source shows each panel's answer on the board", all(seen), str(seen))


check_shown("shown", [answer.get(i, (0, 0, 0)) for i in range(3)])
shot(c, "storyboard-generative")

# Refinement, turn 2: the panel's entry gets a follow-up prompt.
entries[RP] = f"{photos}/{PANELS[RP]} | 2 | {PROMPTS[RP]} | {REFINE[0]}"
c.set_input_settings(BOARD, {"panels": listed(entries)}, True)
turns2 = f"Panel {RP + 1} turns: 1. {PROMPTS[RP]} [done]; 2. {REFINE[0]} [done]"
s = wait_status(c, [turns2, "3 of 3 panels processed"])
check("refine 1: the status shows the turns", turns2 in s, repr(s))
reqs = requests()
check("refine 1: one more request, for that panel only", len(reqs) == 4, f"{len(reqs)} requests")


def check_follow_up(label, r, earlier, prompt, prior_colour):
    turns = r.get("turns") or []
    roles = [t.get("role") for t in turns]
    check(f"{label}: a user / model / user conversation", roles == ["user", "model", "user"], str(roles))
    if roles != ["user", "model", "user"]:
        return
    opening = " ".join(turns[0].get("texts", []))
    check(f"{label}: the earlier prompts open it", "\nThen: ".join(earlier) in opening, repr(opening))
    _, _, fw, fh = fit(*Image.open(f"{photos}/{PANELS[RP]}").size)
    imgs = turns[0].get("images", [])
    check(f"{label}: the panel's picture and the same two references",
          len(imgs) == 3 and (imgs[0].get("width"), imgs[0].get("height")) == (fw, fh)
          and [image_sig(im) for im in imgs[1:]] == REF_SIGS,
          str([image_sig(im) for im in imgs]))
    prior = turns[1].get("images", [])
    check(f"{label}: the prior turn's image as the model's turn ({prior_colour})",
          len(prior) == 1 and tuple(prior[0].get("center", ()))[:3] == tuple(prior_colour)
          and (prior[0].get("width"), prior[0].get("height")) == (fw, fh),
          str([image_sig(im) for im in prior]))
    check(f"{label}: this turn's prompt last", turns[2].get("texts") == [prompt], str(turns[2].get("texts")))


r4 = reqs[3] if len(reqs) > 3 else {}
check_follow_up("refine 1", r4, [PROMPTS[RP]], REFINE[0], answer.get(RP))
turn2 = tuple(r4.get("answered_color") or (0, 0, 0))[:3]

# Turn 3 with the properties' Refine button; first, an empty follow-up is refused.
c.set_input_settings(BOARD, {"refine_panel": RP + 1, "refine_prompt": ""}, True)
c.press_input_properties_button(BOARD, "refine")
s = wait_status(c, ["Cannot refine: write the follow-up prompt first"], 20)
check("refine button: an empty follow-up is refused in the status",
      "Cannot refine: write the follow-up prompt first" in s, repr(s))
c.set_input_settings(BOARD, {"refine_prompt": REFINE[1]}, True)
c.press_input_properties_button(BOARD, "refine")
turns3 = (f"Panel {RP + 1} turns: 1. {PROMPTS[RP]} [done]; 2. {REFINE[0]} [done]; "
          f"3. {REFINE[1]} [done]")
s = wait_status(c, [turns3, "3 of 3 panels processed"])
check("refine 2: the status shows the three turns", turns3 in s, repr(s))
st = c.get_input_settings(BOARD).input_settings
now = [e.get("value") for e in st.get("panels", [])]
check("refine button: the follow-up was added to the panel's entry",
      len(now) == 3 and now[RP] == f"{photos}/{PANELS[RP]} | 2 | {PROMPTS[RP]} | {REFINE[0]} ; {REFINE[1]}"
      and now[:RP] == entries[:RP] and now[RP + 1:] == entries[RP + 1:]
      and st.get("refine_prompt") == "", str(now))
reqs = requests()
check("refine 2: one more request (earlier turns are not sent again)", len(reqs) == 5, f"{len(reqs)} requests")
r5 = reqs[4] if len(reqs) > 4 else {}
check_follow_up("refine 2", r5, [PROMPTS[RP], REFINE[0]], REFINE[1], turn2)
turn3 = tuple(r5.get("answered_color") or (0, 0, 0))[:3]
check("refine: the answers differ turn by turn (the check can tell them apart)",
      len({answer.get(RP), turn2, turn3}) == 3, str([answer.get(RP), turn2, turn3]))

# A fresh export (the old files removed first, so only a new export passes).
OTIO = os.path.join(EXPORT, "storyboard.otio")
written = [os.path.join(EXPORT, f"panel_{i + 1:04d}.png") for i in range(3)] + [OTIO]
for p in written:
    if os.path.isfile(p):
        os.remove(p)
c.press_input_properties_button(BOARD, "export")
end = time.time() + 60
while time.time() < end and not all(os.path.isfile(p) for p in written):
    time.sleep(0.3)
try:
    with open(OTIO) as f:
        clips = [k for k in json.load(f)["tracks"]["children"][0]["children"]
                 if k.get("OTIO_SCHEMA") == "Clip.1"]
    meta = [k.get("metadata", {}).get("easel", {}) for k in clips]
except (OSError, ValueError, KeyError, IndexError) as e:
    meta = [str(e)]
check("export after refining: the timeline keeps the refined panel's prompt and follow-ups",
      len(meta) == 3 and meta[RP].get("prompt") == PROMPTS[RP] and meta[RP].get("refinements") == REFINE
      and all("refinements" not in m for i, m in enumerate(meta) if i != RP), str(meta))
final = [answer.get(i) for i in range(3)]
final[RP] = turn3
check_export("export after refining", final)
check_shown("shown after refining", final)
shot(c, "storyboard-generative-refined")
c.remove_input(BOARD)

# An answer smaller than the panel: the service gets the panel scaled down to the plugin's
# 1536-pixel limit and answers at that size; the status names the sizes and the upscalers.
WIDE = os.path.join(out, "wide-panel.png")
Image.new("RGB", (320, 90), (90, 90, 90)).save(WIDE)
big = dict(base, panels=listed([f"{WIDE} | 2 | a wide street"]), width=1600, height=450,
           export_dir="")
before = len(requests())
c.create_input("Generative storyboard test", "Wide board", "easel_storyboard", big, False)
end = time.time() + 90
s = ""
while time.time() < end and "1 of 1 panels processed" not in s:
    s = c.get_input_settings("Wide board").input_settings.get("status", "")
    time.sleep(0.5)
new = requests()[before:]
sent = ((new[0].get("turns") or [{}])[0].get("images") or [{}])[0] if new else {}
got = f"{sent.get('width')}x{sent.get('height')}"
check("wide board: the service got the panel scaled to 1536 pixels wide",
      len(new) == 1 and sent.get("width") == 1536, got)
check("wide board: the status says the answer was enlarged and offers an upscale",
      f"Panel 1: Edit selection from a prompt: the service returned {got}, enlarged to 1600x450" in s
      and "Upscale ×2 or ×4" in s, repr(s))
c.remove_input("Wide board")
print(f"generative storyboard checks: {sum(results)} passed, {len(results) - sum(results)} failed", flush=True)
