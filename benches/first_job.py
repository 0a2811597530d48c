#!/usr/bin/env python3
"""The first job after a cold daemon start against a warm one, per default model (issue 14).

For each mode, each run starts a fresh easeld (release build, `threads = 2`, models from
../shared/models), waits for its socket, times the first job of one operation from the client
(submit to result), then three more (warm; their median), and stops the daemon. Modes and
operations are timed round robin so background load falls on all of them.

- **before**: no model warmed at start (`warm_models = []`), no optimized-graph cache
  (`EASEL_ORT_CACHE=`), ONNX Runtime's CPU arena on (`EASEL_ORT_ARENA=1`),
  no heap trim (`EASEL_MALLOC_TRIM=0`): what the daemon did before issue 14.
- **after**: the defaults (the default models warmed when a worker starts, optimized graphs
  cached in a folder made here and filled by one untimed start, no CPU arena, heap trimmed
  2 s after the last job).

The first job is submitted once the daemon says it is ready (`status` reports no worker
warming: the readiness `easel status --wait-ready` waits for); with nothing to warm that is at
once. Also reported: the time from starting easeld to its socket and to ready, and whether the
first job's progress said "loading model ...". The photo is girl-1.jpg (600×399).

    .venv/bin/python benches/first_job.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "adapters" / "python"))
from easel_client import Client  # noqa: E402
from easel_client import Image as EaselImage  # noqa: E402

MODELS_DIR = (REPO / ".." / "shared" / "models").resolve()
PHOTO = (REPO / ".." / "shared" / "fixtures" / "photos" / "girl-1.jpg").resolve()

# (label, operation, params): the default model of each operation that has one.
CASES = [
    ("u2netp (remove-background)", "remove-background", {"model": "u2netp"}),
    ("mediapipe-meet (remove-background)", "remove-background", {"model": "mediapipe-meet"}),
    ("llie-semantic-guided (fix-low-light)", "fix-low-light", {}),
]


STARTS = [0]


def start_daemon(easeld: str, tmp: str, mode: str, cache: str, threads: int):
    STARTS[0] += 1
    sock = os.path.join(tmp, f"easeld-{STARTS[0]}.sock")
    cfg = os.path.join(tmp, f"easel-{mode}.toml")
    with open(cfg, "w") as f:
        f.write(f'socket = "{sock}"\nmodel_dirs = ["{MODELS_DIR}"]\nthreads = {threads}\n'
                'plugin_dirs = []\n')
        if mode == "before":
            f.write("warm_models = []\n")
    env = dict(os.environ)
    if mode == "before":
        env["EASEL_ORT_CACHE"] = ""
        env["EASEL_ORT_ARENA"] = "1"
        env["EASEL_MALLOC_TRIM"] = "0"
    else:
        env["EASEL_ORT_CACHE"] = cache
    log = open(os.path.join(tmp, f"easeld-{mode}.log"), "a")
    t0 = time.perf_counter()
    proc = subprocess.Popen([easeld, "--config", cfg], stdout=log, stderr=subprocess.STDOUT,
                            env=env)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"easeld did not start; see {log.name}")
        if os.path.exists(sock):
            try:
                probe = socket.socket(socket.AF_UNIX)
                probe.connect(sock)
                probe.close()
                break
            except OSError:
                pass
        time.sleep(0.005)
    return proc, sock, time.perf_counter() - t0


def stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def one_job(client: Client, op: str, params: dict, img: EaselImage) -> tuple[float, list[str]]:
    messages: list[str] = []
    t = time.perf_counter()
    res = client.run(op, img, params=params, on_progress=lambda f, m: messages.append(m))
    dt = time.perf_counter() - t
    res.close()
    return dt, messages


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--easeld", default=str(REPO / "target/release/easeld"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="easel-first-")
    cache = os.path.join(tmp, "ort-cache")
    photo = Image.open(PHOTO).convert("RGBA")
    img = EaselImage(photo.width, photo.height, "rgba8", photo.tobytes())
    # One untimed start fills the cache of the "after" mode (as an earlier life of the daemon).
    proc, sock, _ = start_daemon(args.easeld, tmp, "after", cache, args.threads)
    c = Client.connect(sock, autostart=False)
    for _, op, params in CASES:
        one_job(c, op, params, img)
    c.close()
    stop(proc)
    res: dict = {}
    for run in range(args.runs):
        for label, op, params in CASES:
            for mode in ("before", "after"):
                t_start = time.perf_counter()
                proc, sock, up = start_daemon(args.easeld, tmp, mode, cache, args.threads)
                try:
                    c = Client.connect(sock, autostart=False)
                    while c.status().get("warming", 0) > 0:
                        time.sleep(0.01)
                    ready = time.perf_counter() - t_start
                    first, msgs = one_job(c, op, params, img)
                    warm = statistics.median(one_job(c, op, params, img)[0] for _ in range(3))
                    c.close()
                finally:
                    stop(proc)
                r = res.setdefault((label, mode), {"first": [], "warm": [], "up": [],
                                                   "ready": [], "loading": False})
                r["ready"].append(ready)
                r["first"].append(first)
                r["warm"].append(warm)
                r["up"].append(up)
                r["loading"] |= any(m.startswith("loading model") for m in msgs)
    print(f"{args.runs} runs, load average {os.getloadavg()[0]:.1f}\n")
    print("| model | mode | socket after ms | ready after ms | first job ms | warm job ms | "
          "first / warm (median, min–max) | 'loading model' shown |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for label, _, _ in CASES:
        for mode in ("before", "after"):
            r = res[(label, mode)]
            ratios = [f / w for f, w in zip(r["first"], r["warm"])]
            print(f"| {label} | {mode} | {statistics.median(r['up']) * 1000:.0f} | "
                  f"{statistics.median(r['ready']) * 1000:.0f} | "
                  f"{statistics.median(r['first']) * 1000:.0f} | "
                  f"{statistics.median(r['warm']) * 1000:.0f} | "
                  f"**{statistics.median(ratios):.2f}×** ({min(ratios):.2f}–{max(ratios):.2f}) | "
                  f"{'yes' if r['loading'] else 'no'} |")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
