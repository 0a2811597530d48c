#!/usr/bin/env python3
"""Large images through easeld (issue 14, part 2): time per megapixel and peak memory at 1, 4, 16
and 24 megapixels, in one run.

A fresh easeld (release build, `threads` = --threads, models from ../shared/models) runs each
operation once at 1 MP to load its model, then once per size on girl-1.jpg resized (Lanczos) to
that size:

- remove-background (default model), fix-low-light (default model), match-look (car-1.jpg as the
  look): photos of 1, 4, 16, 24 MP (3:2);
- upscale-4x (default model): inputs of 256², 512², 1024² (outputs 1, 4, 16 MP), and 2048² →
  8192² with --full (minutes on 2 cores);
- remove-object: a 512×512 hole (a disc touching the box's sides, so 205 887 px) in a 3840×2160
  frame, and holes of the same share of the frame at 1 and 4 MP.

For every job: wall time (client submit to result mapped), ms per megapixel of output, and the
peak resident memory of the worker that ran it and of easeld above what each held at rest just
before the job (3 s after the previous one, when both have returned freed memory; VmHWM reset
through /proc/PID/clear_refs, so the peak is this job's), set against the job's output buffer
(rgba8, width × height × 4; for remove-object the edited crop). "linear" is ms/MP at the size over ms/MP at the
smallest size (1.0 = time grows exactly with pixels).

    .venv/bin/python benches/large_images.py [--threads 2] [--full] [--ops remove-background,...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "adapters" / "python"))
sys.path.insert(0, str(REPO / "benches"))
from easel_client import Client  # noqa: E402
from easel_client import Image as EaselImage  # noqa: E402
from remove_background import start_daemon  # noqa: E402

PHOTOS = (REPO / ".." / "shared" / "fixtures" / "photos").resolve()
MB = 1 << 20


def children(pid: int) -> list[int]:
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out += [int(c) for c in f.read().split()]
    return out


def status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def reset_peak(pid: int) -> None:
    """Sets VmHWM back to the current RSS (Linux >= 4.0, `clear_refs` value 5)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def photo_of(mp: float, name: str = "girl-1.jpg") -> Image.Image:
    w = int(round((mp * 1e6 * 1.5) ** 0.5))
    h = int(round(w / 1.5))
    return Image.open(PHOTOS / name).convert("RGBA").resize((w, h), Image.Resampling.LANCZOS)


def hole_mask(w: int, h: int, side: int) -> Image.Image:
    """A disc of diameter `side` in the middle of the frame, as an RGBA mask (alpha = hole)."""
    m = Image.new("L", (w, h), 0)
    x0, y0 = (w - side) // 2, (h - side) // 2
    ImageDraw.Draw(m).ellipse((x0, y0, x0 + side - 1, y0 + side - 1), fill=255)
    out = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    out.putalpha(m)
    return out


def easel_image(im: Image.Image) -> EaselImage:
    return EaselImage(im.width, im.height, "rgba8", im.convert("RGBA").tobytes())


class Runner:
    def __init__(self, client: Client, daemon_pid: int):
        self.client = client
        self.daemon = daemon_pid

    def run(self, op: str, image: Image.Image, **kw) -> dict:
        # Let the workers and easeld hand back what the last job freed (they trim 2 s after a
        # job), so each job's peak is measured from the same resting point.
        time.sleep(3)
        workers = children(self.daemon)
        pids = [self.daemon] + workers
        base = {}
        for p in pids:
            reset_peak(p)
            base[p] = status_kb(p, "VmRSS")
        t0 = time.perf_counter()
        res = self.client.run(op, easel_image(image), timeout=3600, **kw)
        dt = time.perf_counter() - t0
        w, h = res.width, res.height
        res.close()
        # The worker that ran the job is the one whose peak rose most.
        rises = {p: status_kb(p, "VmHWM") - base[p] for p in pids}
        worker = max(workers, key=lambda p: rises[p]) if workers else self.daemon
        for p in children(self.daemon):  # a worker started by this job
            if p not in rises:
                rises[p] = status_kb(p, "VmHWM")
                worker = p if rises[p] > rises.get(worker, 0) else worker
        return {"s": dt, "w": w, "h": h, "worker_mb": rises[worker] / 1024,
                "worker_rss_mb": status_kb(worker, "VmRSS") / 1024,
                "daemon_mb": rises[self.daemon] / 1024}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--easeld", default=str(REPO / "target/release/easeld"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--full", action="store_true", help="also upscale 2048² to 8192²")
    ap.add_argument("--sizes", default="1,4,16,24", help="photo sizes in megapixels")
    ap.add_argument("--ops", default="remove-background,fix-low-light,match-look,upscale-4x,"
                    "remove-object")
    args = ap.parse_args()
    ops = args.ops.split(",")
    sizes = [float(s) for s in args.sizes.split(",")]
    tmp = tempfile.mkdtemp(prefix="easel-large-")
    proc, sock = start_daemon(args.easeld, tmp, args.threads)
    look = easel_image(Image.open(PHOTOS / "car-1.jpg").convert("RGBA"))
    rows = []
    try:
        client = Client.connect(sock, autostart=False, timeout=3600)
        r = Runner(client, proc.pid)

        def case(op: str, label: str, image: Image.Image, **kw) -> None:
            m = r.run(op, image, **kw)
            mp = m["w"] * m["h"] / 1e6
            out_mb = m["w"] * m["h"] * 4 / MB
            rows.append((op, label, mp, m["s"], m["worker_mb"], m["worker_rss_mb"],
                         m["daemon_mb"], out_mb))
            print(f"  {op:18} {label:24} {m['s']:8.2f} s  worker peak +{m['worker_mb']:7.0f} MB "
                  f"(RSS after {m['worker_rss_mb']:5.0f})  easeld +{m['daemon_mb']:5.0f} MB  "
                  f"output {out_mb:6.0f} MB", flush=True)

        photo_ops = [o for o in ops if o in ("remove-background", "fix-low-light", "match-look")]
        for op in photo_ops:
            kw = {"references": [look]} if op == "match-look" else {}
            r.run(op, photo_of(1.0), **kw)  # loads the model
            for mp in sizes:
                im = photo_of(mp)
                case(op, f"{im.width}x{im.height}", im, **kw)
        if "upscale-4x" in ops:
            src = Image.open(PHOTOS / "girl-1.jpg").convert("RGBA")
            r.run("upscale-4x", src.resize((128, 128)))
            for side in [256, 512, 1024] + ([2048] if args.full else []):
                im = src.resize((side, side), Image.Resampling.LANCZOS)
                case("upscale-4x", f"{side}² -> {4 * side}²", im)
        if "remove-object" in ops:
            for w, h in [(1280, 720), (2560, 1440), (3840, 2160)]:
                side = round(512 * w / 3840)
                im = photo_of(w * h / 1e6).resize((w, h), Image.Resampling.LANCZOS)
                mask = easel_image(hole_mask(w, h, side))
                if w == 1280:
                    r.run("remove-object", im, mask=mask)
                case("remove-object", f"{w}x{h}, hole {side}²", im, mask=mask)
        client.close()
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n| operation | size | output MP | s | ms/MP | linear | worker peak MB | output MB "
          f"| peak / output | easeld peak MB |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    first: dict[str, float] = {}
    for op, label, mp, s, wmb, _rss, dmb, omb in rows:
        per = s * 1000 / mp
        first.setdefault(op, per)
        print(f"| {op} | {label} | {mp:.1f} | {s:.2f} | {per:.0f} | {per / first[op]:.2f} "
              f"| {wmb:.0f} | {omb:.0f} | {wmb / omb:.1f} | {dmb:.0f} |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}, threads = {args.threads}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
