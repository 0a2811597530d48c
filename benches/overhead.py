#!/usr/bin/env python3
"""Overhead against the floor (issue 14 part 1): every operation and model, end to end through
the daemon, against the model's own inference in the same ONNX Runtime with the same threads.

For each case the client sends a photo (girl-1.jpg resized to each size) as an adapter does
(`Client.run` with rgba8 bytes in a memfd, the result copied out with `tobytes()`) and times it
from the call to the bytes in hand. The result's `timings` (docs/protocol.md) say which model
runs the worker made — model, input shapes, outputs, how many — and how long the plugin and
the runs took inside the worker. The **floor** replays exactly those runs in this process with
Python's onnxruntime (the .venv wheel, which easeld also loads): one `InferenceSession` per model
with ONNX Runtime's defaults and `intra_op_num_threads` = the daemon's `threads`, the same
inputs' shapes (values from the photo's range, which the speed of these networks does not
depend on), the same outputs fetched. Daemon runs and floor replays are timed round robin, so
background load falls on both.

Printed per case (medians): end to end, the floor, their ratio, and where the difference goes:
client (end to end less the daemon's `elapsed_ms`: the client's copies, the socket, queueing),
daemon (`elapsed_ms` less the plugin's run: input/output conversions, the worker hop, tiling),
plugin (the plugin's run less its model runs: pre- and post-processing), and the daemon's model
runs against the floor (same ORT, the daemon's session options: no spinning, no arena).
Operations without a model (match look, colorize, remove object with PatchMatch) have no floor:
their rows show the split only.

    .venv/bin/python benches/overhead.py [--runs 5] [--sizes 1,4] [--ops remove-background,...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "adapters" / "python"))
sys.path.insert(0, str(REPO / "benches"))
from easel_client import Client  # noqa: E402
from easel_client import Image as EaselImage  # noqa: E402
from remove_background import start_daemon, stop_daemon  # noqa: E402

PHOTOS = (REPO / ".." / "shared" / "fixtures" / "photos").resolve()

# Operations that take more than the image: what each is given here.
#   references: photos sent as reference images; mask: a centred disc of this fraction of the
#   shorter side (remove object); scribbles: colour dots on a grey copy (colorize).
EXTRA = {
    "match-look": {"references": ["car-1.jpg"]},
    "remove-object": {"mask": 0.125},
    "colorize-scribbles": {"scribbles": True},
}
# Upscalers get a small input (the output is scale² larger): its side here.
UPSCALE_INPUT = 256


def photo_at(mp: float) -> Image.Image:
    img = Image.open(PHOTOS / "girl-1.jpg").convert("RGBA")
    w, h = img.size
    f = (mp * 1e6 / (w * h)) ** 0.5
    return img.resize((round(w * f), round(h * f)), Image.Resampling.BICUBIC)


def rgba(img: Image.Image) -> EaselImage:
    img = img.convert("RGBA")
    return EaselImage(img.width, img.height, "rgba8", img.tobytes())


def disc_mask(w: int, h: int, frac: float) -> EaselImage:
    yy, xx = np.mgrid[0:h, 0:w]
    r = frac * min(w, h) / 2
    inside = (xx - w / 2) ** 2 + (yy - h / 2) ** 2 <= r * r
    a = np.zeros((h, w, 4), np.uint8)
    a[inside] = 255
    return EaselImage(w, h, "rgba8", a.tobytes())


def scribbles(img: Image.Image) -> tuple[Image.Image, EaselImage]:
    """A grey copy of the photo and a scribble layer with the photo's colours at a few dots."""
    grey = img.convert("L").convert("RGBA")
    a = np.asarray(img.convert("RGBA")).copy()
    s = np.zeros_like(a)
    step = max(img.width, img.height) // 12
    for y in range(step // 2, img.height, step):
        for x in range(step // 2, img.width, step):
            s[y:y + 3, x:x + 3] = a[y:y + 3, x:x + 3]
            s[y:y + 3, x:x + 3, 3] = 255
    return grey, EaselImage(img.width, img.height, "rgba8", s.tobytes())


class Floor:
    """The model runs of one job, replayed in Python's ONNX Runtime."""

    def __init__(self, easel: str, cfg: str, threads: int):
        self.easel, self.cfg, self.threads = easel, cfg, threads
        self.sessions: dict[str, ort.InferenceSession] = {}
        self.feeds: dict[tuple, dict] = {}

    def session(self, model: str) -> ort.InferenceSession:
        if model not in self.sessions:
            info = json.loads(subprocess.run(
                [self.easel, "--config", self.cfg, "models", "info", model, "--json"],
                check=True, capture_output=True, text=True).stdout)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
            self.sessions[model] = ort.InferenceSession(
                info["path"], sess_options=opts, providers=["CPUExecutionProvider"])
        return self.sessions[model]

    def feed(self, run: dict) -> dict:
        key = (run["model"], json.dumps(run["inputs"]))
        if key not in self.feeds:
            s = self.session(run["model"])
            types = {i.name: i.type for i in s.get_inputs()}
            rng = np.random.default_rng(7)
            feed = {}
            for t in run["inputs"]:
                kind = types.get(t["name"], "tensor(float)")
                shape = t["shape"]
                if kind == "tensor(uint8)":
                    feed[t["name"]] = rng.integers(0, 256, shape, dtype=np.uint8)
                else:
                    feed[t["name"]] = rng.random(shape, dtype=np.float32)
            self.feeds[key] = feed
        return self.feeds[key]

    def replay(self, inference: list[dict]) -> float:
        """Seconds for every run of `inference`, as the job made them."""
        total = 0.0
        for run in inference:
            s = self.session(run["model"])
            feed = self.feed(run)
            outputs = run.get("outputs") or None
            for _ in range(run["runs"]):
                t = time.perf_counter()
                s.run(outputs, feed)
                total += time.perf_counter() - t
        return total


def cases(client: Client, wanted: set[str] | None) -> list[tuple[str, str, dict]]:
    """(operation, model or "", params) for every operation and every choice of its model."""
    out = []
    for op in client.operations():
        op_id = op["id"]
        if wanted is not None and op_id not in wanted:
            continue
        if op.get("plugin") in ("generative", "example-invert") or op_id == "invert":
            continue
        model = next((p for p in op.get("params", [])
                      if p["name"] in ("model", "method") and p.get("options")), None)
        if model is None:
            out.append((op_id, "", {}))
            continue
        for choice in model["options"]:
            out.append((op_id, choice, {model["name"]: choice}))
    return out


def job_input(op: str, mp: float) -> tuple[Image.Image, dict]:
    extra = EXTRA.get(op, {})
    if op.startswith("upscale"):
        img = photo_at(UPSCALE_INPUT * UPSCALE_INPUT * 1.5 / 1e6).crop(
            (0, 0, UPSCALE_INPUT, UPSCALE_INPUT))
    else:
        img = photo_at(mp)
    kw: dict = {}
    if "references" in extra:
        kw["references"] = [rgba(Image.open(PHOTOS / r)) for r in extra["references"]]
    if "mask" in extra:
        kw["mask"] = disc_mask(img.width, img.height, extra["mask"])
    if extra.get("scribbles"):
        img, s = scribbles(img)
        kw["references"] = [s]
    return img, kw


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", default="1", help="megapixels, comma-separated (not upscalers)")
    ap.add_argument("--ops", help="operations to run (default: all but generative)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--settle-ms", type=float, default=150,
                    help="pause before each timed call (ONNX Runtime's threads spin ~50 ms)")
    ap.add_argument("--easeld", default=str(REPO / "target/release/easeld"))
    ap.add_argument("--easel", default=str(REPO / "target/release/easel"))
    args = ap.parse_args()
    sizes = [float(s) for s in args.sizes.split(",") if s]
    wanted = set(args.ops.split(",")) if args.ops else None

    tmp = tempfile.mkdtemp(prefix="easel-overhead-")
    proc, sock = start_daemon(args.easeld, tmp, args.threads)
    floor = Floor(args.easel, os.path.join(tmp, "easel.toml"), args.threads)
    rows = []
    try:
        client = Client.connect(sock, autostart=False, timeout=600)
        for op, model, params in cases(client, wanted):
            for mp in ([0.0] if op.startswith("upscale") else sizes):
                img, kw = job_input(op, mp)
                image = rgba(img)
                label = f"{op} {model}".strip()
                size = f"{img.width}x{img.height}"

                def once() -> tuple[float, dict, int]:
                    # ONNX Runtime's pool threads spin for ~50 ms after a run, the floor's in
                    # this process: the daemon's job starts after they stop, not beside them.
                    time.sleep(args.settle_ms / 1e3)
                    t = time.perf_counter()
                    with client.run(op, image, params=params, **kw) as r:
                        r.tobytes()
                        timings, elapsed = r.timings or {}, r.elapsed_ms or 0
                    return time.perf_counter() - t, timings, elapsed

                try:
                    _, timings, _ = once()  # loads and warms the model
                except Exception as e:  # noqa: BLE001 - a case the store cannot run is reported
                    print(f"{label} {size}: skipped ({e})", flush=True)
                    continue
                inference = timings.get("inference", [])
                if inference:
                    floor.replay(inference)  # warms the floor's session
                e2e, floors, plugin, model_ms, elapsed = [], [], [], [], []
                for _ in range(args.runs):
                    s, t, el = once()
                    e2e.append(s * 1e3)
                    elapsed.append(el)
                    plugin.append(t.get("plugin_ms", 0.0))
                    model_ms.append(sum(r["total_ms"] for r in t.get("inference", [])))
                    if inference:
                        time.sleep(args.settle_ms / 1e3)  # the worker's threads, likewise
                        floors.append(floor.replay(inference) * 1e3)
                med = statistics.median
                row = {
                    "case": label, "size": size, "e2e": med(e2e), "min": min(e2e),
                    "floor": med(floors) if floors else None,
                    "client": med(e2e) - med(elapsed), "daemon": med(elapsed) - med(plugin),
                    "plugin": med(plugin) - med(model_ms), "model": med(model_ms),
                    "shapes": "; ".join(
                        f"{r['runs']} × {'×'.join(str(d) for d in r['inputs'][0]['shape'])}"
                        for r in inference if r["inputs"]),
                }
                rows.append(row)
                print_row(row, first=len(rows) == 1)
        client.close()
    finally:
        stop_daemon(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{args.runs} runs per case, {args.threads} threads, load average "
          f"{os.getloadavg()[0]:.1f} at the end. ratio = end to end / floor; client, daemon, "
          "plugin = the end-to-end time outside the model, split by who spends it; model = the "
          "daemon's own model runs (compare with floor).")
    return 0


def print_row(r: dict, first: bool) -> None:
    if first:
        print(f"| case | size | end to end ms | floor ms | ratio | client ms | daemon ms | "
              f"plugin ms | model runs ms | model runs / floor | runs (input shape) |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    fl = r["floor"]
    ratio = f"**{r['e2e'] / fl:.2f}×**" if fl else "–"
    mf = f"{r['model'] / fl:.2f}×" if fl else "–"
    fl_s = f"{fl:.1f}" if fl else "–"
    print(f"| {r['case']} | {r['size']} | {r['e2e']:.1f} | {fl_s} | {ratio} | "
          f"{r['client']:.1f} | {r['daemon']:.1f} | {r['plugin']:.1f} | {r['model']:.1f} | "
          f"{mf} | {r['shapes'] or '–'} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
