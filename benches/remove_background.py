#!/usr/bin/env python3
"""Benchmark (b): remove-background end to end, easeld against a rembg-style Python pipeline.

Same photo, same ONNX model file, same ONNX Runtime (the .venv's onnxruntime wheel, which
easeld also loads) and the same number of intra-op threads on both sides. Each timed run starts
from the JPEG file and ends with a PNG cutout written to disk.

- **reference**: rembg's steps (rembg/bg.py `remove` with a `U2netpSession` / `DisSession`,
  session created once): `Image.open` + EXIF transpose, `convert("RGB")`, Pillow LANCZOS resize
  to the model size, normalise in numpy, `InferenceSession.run`, min-max normalise the mask,
  `Image.fromarray(uint8)`, LANCZOS resize back, `Image.composite` onto transparent RGBA
  (rembg's `naive_cutout`), `save(PNG)`. rembg asks ORT for every output (`run(None, ...)`);
  the "mask output only" row asks for the one output the mask comes from, as easeld does. The
  normalisation is each model's own contract (shared/models/README.md): u2netp as rembg does it,
  isnet-general-small `(x - 128) / 256` on 0..255.
- **easel client**: what an adapter does, through `adapters/python/easel_client`: Pillow decodes
  the JPEG to RGBA bytes, `Client.run("remove-background", Image(..., "rgba8", bytes))` (the
  pixels go to the daemon in a memfd and come back in one), Pillow writes the PNG from the
  result's mapping. Run with the plugin's defaults (edge colours refined), and with
  `refine_foreground=false` (which does what the reference does).
- **easel CLI**: `easel run remove-background -i photo -o out.png` as a user types it: process
  start, connect, Rust decode, the same job, Rust PNG encode.

The daemon is started here (release build, `threads = 2`, models from ../shared/models), every
method runs once untimed (models loaded and warm), then the methods are timed round robin, so
background load falls on all of them. Reported per method: median and minimum wall time, and the
median CPU time of every process involved (this one, the CLI, the daemon and its workers; ORT's
spinning threads included on both sides), which background load inflates least.

    .venv/bin/python benches/remove_background.py [--runs 7] [--models isnet-general-small,u2netp]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "adapters" / "python"))
from easel_client import Client  # noqa: E402
from easel_client import Image as EaselImage  # noqa: E402

MODELS_DIR = (REPO / ".." / "shared" / "models").resolve()
PHOTO = (REPO / ".." / "shared" / "fixtures" / "photos" / "girl-1.jpg").resolve()

# Per model: file, input size, the output the mask comes from, normalisation.
MODELS = {
    "u2netp": ("rembg_u2netp.onnx", (320, 320), "1959", "imagenet_by_max"),
    "isnet-general-small": ("isnet-general-small_uint8.onnx", (1024, 1024), "output", "isnet"),
}


# ----------------------------------------------------------------------------------- reference
class ReferenceSession:
    """rembg's BaseSession + U2netpSession/DisSession, reduced to the steps that run."""

    def __init__(self, model: str, threads: int, all_outputs: bool):
        file, self.size, self.output, self.norm = MODELS[model]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(MODELS_DIR / file), sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.fetch = None if all_outputs else [self.output]
        # With every output fetched, the mask is the named one (rembg takes the first, which
        # for both models is this one).
        self.index = [o.name for o in self.session.get_outputs()].index(self.output) \
            if all_outputs else 0

    def normalize(self, img: Image.Image) -> dict:
        im = img.convert("RGB").resize(self.size, Image.Resampling.LANCZOS)
        a = np.array(im)
        if self.norm == "imagenet_by_max":
            a = a / max(np.max(a), 1e-6)
            mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
            t = np.zeros((a.shape[0], a.shape[1], 3))
            for c in range(3):
                t[:, :, c] = (a[:, :, c] - mean[c]) / std[c]
        else:
            t = (a.astype(np.float64) - 128.0) / 256.0
        t = t.transpose((2, 0, 1))
        return {self.input_name: np.expand_dims(t, 0).astype(np.float32)}

    def predict(self, img: Image.Image) -> Image.Image:
        outs = self.session.run(self.fetch, self.normalize(img))
        pred = outs[self.index][:, 0, :, :]
        ma, mi = np.max(pred), np.min(pred)
        pred = np.squeeze((pred - mi) / (ma - mi))
        mask = Image.fromarray((pred * 255).astype("uint8"), mode="L")
        return mask.resize(img.size, Image.Resampling.LANCZOS)


def reference_run(session: ReferenceSession, photo: Path, out: Path) -> None:
    img = ImageOps.exif_transpose(Image.open(photo))
    mask = session.predict(img)
    empty = Image.new("RGBA", img.size, 0)
    cutout = Image.composite(img, empty, mask)
    cutout.save(out, "PNG")


# --------------------------------------------------------------------------------------- easel
def easel_client_run(client: Client, model: str, refine: bool, photo: Path, out: Path,
                     marks: dict | None = None) -> int | None:
    """One adapter-style round trip; returns the daemon's elapsed_ms for the job."""
    t0 = time.perf_counter()
    img = ImageOps.exif_transpose(Image.open(photo)).convert("RGBA")
    w, h = img.size
    pixels = img.tobytes()
    t1 = time.perf_counter()
    res = client.run("remove-background", EaselImage(w, h, "rgba8", pixels),
                     params={"model": model, "refine_foreground": refine})
    t2 = time.perf_counter()
    try:
        Image.frombuffer("RGBA", (res.width, res.height), res.data, "raw", "RGBA",
                         res.row_stride, 1).save(out, "PNG")
        elapsed = res.elapsed_ms
    finally:
        res.close()
    t3 = time.perf_counter()
    if marks is not None:
        marks.setdefault("decode", []).append(t1 - t0)
        marks.setdefault("job", []).append(t2 - t1)
        marks.setdefault("encode", []).append(t3 - t2)
        if elapsed is not None:
            marks.setdefault("daemon", []).append(elapsed / 1000.0)
    return elapsed


def easel_cli_run(easel: str, sock: str, model: str, photo: Path, out: Path) -> None:
    subprocess.run([easel, "--socket", sock, "run", "remove-background", "-i", str(photo),
                    "-o", str(out), "--set", f"model={model}"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_daemon(easeld: str, tmp: str, threads: int) -> tuple[subprocess.Popen, str]:
    sock = os.path.join(tmp, "easeld.sock")
    cfg = os.path.join(tmp, "easel.toml")
    with open(cfg, "w") as f:
        f.write(f'socket = "{sock}"\nmodel_dirs = ["{MODELS_DIR}"]\nthreads = {threads}\n'
                "plugin_dirs = []\n")
    log = open(os.path.join(tmp, "easeld.log"), "w")
    proc = subprocess.Popen([easeld, "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not os.path.exists(sock):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"easeld did not start; see {log.name}")
        time.sleep(0.05)
    return proc, sock


def stop_daemon(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


# ----------------------------------------------------------------------------------- CPU time
_TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live descendants."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICK
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def cpu_now(daemon_pid: int) -> float:
    """CPU seconds of this process, its waited-for children (the CLI runs) and the daemon tree
    (the daemon and its plugin workers, which are not waited for while they live)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (time.process_time() + children.ru_utime + children.ru_stime
            + tree_cpu(daemon_pid))


# ------------------------------------------------------------------------------------- checks
def alpha_of(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGBA"))[:, :, 3].astype(np.float32) / 255.0


def agreement(a: Path, b: Path) -> str:
    x, y = alpha_of(a), alpha_of(b)
    inter = np.logical_and(x > 0.5, y > 0.5).sum()
    union = np.logical_or(x > 0.5, y > 0.5).sum()
    return f"alpha mean |diff| {np.abs(x - y).mean():.4f}, IoU(alpha>0.5) {inter / max(union, 1):.4f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--models", default="isnet-general-small,u2netp")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--photo", default=str(PHOTO))
    ap.add_argument("--settle-ms", type=float, default=150,
                    help="pause after each timed call (ONNX Runtime's threads spin ~50 ms)")
    ap.add_argument("--easeld", default=str(REPO / "target/release/easeld"))
    ap.add_argument("--easel", default=str(REPO / "target/release/easel"))
    ap.add_argument("--keep", help="folder to keep the last outputs in")
    args = ap.parse_args()
    photo = Path(args.photo)
    models = [m for m in args.models.split(",") if m]

    tmp = tempfile.mkdtemp(prefix="easel-rb-bench-")
    proc, sock = start_daemon(args.easeld, tmp, args.threads)
    try:
        client = Client.connect(sock, autostart=False, timeout=120)
        for model in models:
            outs = {k: Path(tmp) / f"{model}-{k}.png" for k in ("ref", "ref1", "ours", "raw", "cli")}
            ref_all = ReferenceSession(model, args.threads, all_outputs=True)
            ref_one = ReferenceSession(model, args.threads, all_outputs=False)
            marks: dict = {}
            methods = {
                "reference (rembg steps, all outputs)":
                    lambda: reference_run(ref_all, photo, outs["ref"]),
                "reference (mask output only)":
                    lambda: reference_run(ref_one, photo, outs["ref1"]),
                "easel client, refine edges (default)":
                    lambda: easel_client_run(client, model, True, photo, outs["ours"], marks),
                "easel client, refine_foreground=false":
                    lambda: easel_client_run(client, model, False, photo, outs["raw"]),
                "easel CLI (process start, Rust codecs)":
                    lambda: easel_cli_run(args.easel, sock, model, photo, outs["cli"]),
            }
            # First runs load the models and warm everything; not timed.
            for fn in methods.values():
                fn()
            marks.clear()
            times: dict[str, list[float]] = {k: [] for k in methods}
            cpus: dict[str, list[float]] = {k: [] for k in methods}
            for _ in range(args.runs):
                for name, fn in methods.items():
                    c = cpu_now(proc.pid)
                    t = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t)
                    # ONNX Runtime's pool threads spin for ~50 ms after a run (on both sides):
                    # the next method starts after they stop, not beside them; their CPU time
                    # counts for the method that left them spinning.
                    time.sleep(args.settle_ms / 1e3)
                    cpus[name].append(cpu_now(proc.pid) - c)
            ref_best = min(statistics.median(times[k]) for k in list(methods)[:2])
            ref_min = min(min(times[k]) for k in list(methods)[:2])
            ref_cpu = min(statistics.median(cpus[k]) for k in list(methods)[:2])
            print(f"\n{model} on {photo.name} ({Image.open(photo).size[0]}x"
                  f"{Image.open(photo).size[1]}), {args.threads} ORT threads, "
                  f"{args.runs} runs, load average {os.getloadavg()[0]:.1f}:")
            print(f"  {'method':42} {'median ms':>10} {'ratio':>6} {'min ms':>8} {'ratio':>6} "
                  f"{'CPU ms':>8} {'ratio':>6}")
            for name, ts in times.items():
                med, lo, cpu = statistics.median(ts), min(ts), statistics.median(cpus[name])
                print(f"  {name:42} {med * 1e3:10.1f} {med / ref_best:5.2f}x {lo * 1e3:8.1f} "
                      f"{lo / ref_min:5.2f}x {cpu * 1e3:8.0f} {cpu / ref_cpu:5.2f}x")
            print("  (ratios against the faster reference row; CPU = median CPU time of all "
                  "processes involved, which heavy background load inflates least)")
            parts = {k: statistics.median(v) * 1e3 for k, v in marks.items()}
            print("  easel client (default) split: " + ", ".join(
                f"{k} {v:.1f} ms" for k, v in parts.items()) +
                "  (daemon = the job's elapsed_ms: worker run + post-processing)")
            print(f"  ours vs reference: {agreement(outs['raw'], outs['ref1'])} "
                  f"(refine off); default: {agreement(outs['ours'], outs['ref1'])}")
            if args.keep:
                os.makedirs(args.keep, exist_ok=True)
                for p in outs.values():
                    shutil.copy(p, args.keep)
        client.close()
    finally:
        stop_daemon(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
