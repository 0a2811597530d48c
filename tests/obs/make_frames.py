"""Makes the frametest inputs of the OBS tests (run.sh and obs30.sh): WORK/frame.png (the photo
at 640x360) and, in WORK/frames, red.png (the image background), dark.png (fix low light's
input: the frame at a fifth of its brightness) and look-reference.png (match look's reference:
the frame with a strong blue cast).

Usage: make_frames.py PHOTO WORK
"""
import sys

from PIL import Image

src, work = sys.argv[1:3]
im = Image.open(src).convert("RGB").resize((640, 360), Image.LANCZOS)
im.save(f"{work}/frame.png")
Image.new("RGB", (640, 360), (255, 0, 0)).save(f"{work}/frames/red.png")
im.point(lambda v: v // 5).save(f"{work}/frames/dark.png")
r, g, b = im.split()
Image.merge("RGB", (r.point(lambda v: v // 3), g.point(lambda v: v // 2 + 20),
                    b.point(lambda v: 120 + v // 2))).save(f"{work}/frames/look-reference.png")
