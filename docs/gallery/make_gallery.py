#!/usr/bin/env python3
"""Renders a before/after example of each Easel operation on the real photos in ../shared.

Run from the repository root after `.ci/setup`:

    .venv/bin/python docs/gallery/make_gallery.py

It starts its own daemon (target/debug/easeld) on a temporary socket with ../shared/models,
runs every operation through the Python client (shared memory, like the Krita and GIMP
adapters), and writes docs/gallery/<operation>.jpg: the input on the left, the result on the
right (cut-outs over a checkerboard; selections and scribbles drawn on the input). Operations
the daemon does not offer are skipped with a note.
"""

import os
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "adapters" / "python"))
import easel_client  # noqa: E402

PHOTOS = REPO.parent / "shared" / "fixtures" / "photos"
OUT = Path(__file__).resolve().parent
HEIGHT = 300  # each panel is scaled to this height


def rgba_image(pil):
    pil = pil.convert("RGBA")
    return easel_client.Image(pil.width, pil.height, "rgba8", pil.tobytes())


def to_pil(result):
    return Image.frombytes("RGBA", (result.width, result.height), bytes(result.tobytes()))


def checker(size, cell=12):
    board = Image.new("RGBA", size, (255, 255, 255, 255))
    draw = ImageDraw.Draw(board)
    for y in range(0, size[1], cell):
        for x in range((y // cell) % 2 * cell, size[0], 2 * cell):
            draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=(205, 205, 205, 255))
    return board


def placed(base, result):
    """The result layer laid over the document, as an editor shows it."""
    canvas = base.convert("RGBA").copy()
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    layer.paste(to_pil(result), (result.x, result.y))
    return Image.alpha_composite(canvas, layer)


def panel(before, after, name, note):
    def fit(im):
        w = round(im.width * HEIGHT / im.height)
        return im.resize((w, HEIGHT), Image.LANCZOS)

    b = fit(before.convert("RGBA"))
    a = fit(after)
    a = Image.alpha_composite(checker(a.size), a)
    b = Image.alpha_composite(checker(b.size), b)
    sheet = Image.new("RGB", (b.width + a.width + 10, HEIGHT + 28), "white")
    sheet.paste(b.convert("RGB"), (0, 28))
    sheet.paste(a.convert("RGB"), (b.width + 10, 28))
    ImageDraw.Draw(sheet).text((4, 8), f"{name}: {note}", fill=(0, 0, 0))
    path = OUT / f"{name}.jpg"
    sheet.save(path, quality=85)
    print(f"wrote {path.relative_to(REPO)}")


def main():
    tmp = Path(tempfile.mkdtemp(prefix="easel-gallery-"))
    config = tmp / "easel.toml"
    config.write_text(
        f'socket = "{tmp / "easeld.sock"}"\nplugin_dirs = []\n'
        f'model_dirs = ["{REPO.parent / "shared" / "models"}"]\n'
    )
    client = easel_client.Client.connect(
        str(tmp / "easeld.sock"), daemon_path=str(REPO / "target" / "debug" / "easeld"),
        daemon_args=["--config", str(config)], timeout=60)
    ops = {op["id"] for op in client.operations()}

    def run(op, image, note, mask=None, references=(), params=None, shown=None, whole=True):
        if op not in ops:
            print(f"skipped {op}: the daemon does not offer it")
            return
        result = client.run(op, rgba_image(image), mask=mask, references=[rgba_image(r) for r in references],
                            params=params or {}, timeout=600)
        after = to_pil(result) if whole else placed(image, result)
        panel(shown or image, after, op, note)

    girl = Image.open(PHOTOS / "girl-1.jpg")
    run("remove-background", girl, "isnet-general-small, foreground colours refined at the edges")

    rocket = Image.open(PHOTOS / "rocket.jpg").convert("RGBA")
    box = (178, 110, 212, 395)  # the thin lightning mast left of the rocket
    mask = Image.new("L", rocket.size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    shown = rocket.copy()
    ImageDraw.Draw(shown).rectangle(box, outline=(255, 0, 255, 255), width=2)
    run("remove-object", rocket, "the mast in the magenta box, PatchMatch",
        mask=easel_client.Image(mask.width, mask.height, "gray8", mask.tobytes()),
        params={"seed": 1}, shown=shown, whole=False)

    chelsea = Image.open(PHOTOS / "chelsea.png").convert("RGB")
    gray = chelsea.convert("L").convert("RGBA")
    scribbles = Image.new("RGBA", chelsea.size, (0, 0, 0, 0))
    for y in range(0, chelsea.height, 14):
        for x in range((y // 14) % 2 * 7, chelsea.width, 14):
            r, g, b = chelsea.getpixel((x, y))
            scribbles.putpixel((x, y), (r, g, b, 255))
    shown = Image.alpha_composite(gray, scribbles)
    run("colorize-scribbles", gray, "from colour dots on 0.5% of the pixels (shown on the left)",
        references=[scribbles], shown=shown)

    coffee = Image.open(PHOTOS / "coffee.png")
    rocket_ref = Image.open(PHOTOS / "rocket.jpg")
    run("match-look", coffee, "the night-blue look of rocket.jpg", references=[rocket_ref])

    dark = Image.eval(Image.open(PHOTOS / "motorcycle_left.png").convert("RGB"),
                      lambda v: int(255 * (v / 255) ** 2.2 * 0.35))
    run("fix-low-light", dark, "a photo darkened to 35% exposure, gain map applied at full resolution")

    face = Image.open(PHOTOS / "astronaut.png").crop((170, 40, 298, 168))
    run("upscale-4x", face, "a 128 px crop to 512 px, realesr-general-x4v3",
        shown=face.resize((512, 512), Image.BICUBIC))
    run("upscale-2x", face, "a 128 px crop to 256 px, swin2sr (left: bicubic)",
        shown=face.resize((256, 256), Image.BICUBIC))
    client.shutdown()


if __name__ == "__main__":
    main()
