#!/usr/bin/env python3
"""Resident memory of easeld's workers (issue 14): with the default models warm, right after a
4K job, and a few seconds later; against 3× the loaded models' file sizes + 150 MB per worker.

For each mode a fresh easeld (release build, `threads = 2`, models from ../shared/models) runs
one 600×399 job per default model (remove background with u2netp and with mediapipe-meet, fix
low light with llie-semantic-guided), then the 4K jobs (3840×2160, the photo tiled); VmRSS and
VmHWM of every worker are read from /proc. The warm 600×399 u2netp job is timed (median of 5)
in both modes, so a memory setting that costs speed shows.

- **before**: ONNX Runtime's CPU arena on (`EASEL_ORT_ARENA=1`), glibc keeps what it freed
  (`EASEL_MALLOC_TRIM=0`): the behaviour before issue 14.
- **after**: the defaults (no CPU arena; the heap freed by jobs returned to the system 2 s
  after the last job). RSS "warm" and "3 s later" are read 3 s after the jobs.

    .venv/bin/python benches/worker_memory.py
"""

from __future__ import annotations

import os
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
# Per plugin library: the default models its worker loads here, by file.
FILES = {
    "remove_background": ["rembg_u2netp.onnx", "obs_mediapipe.onnx"],
    "enhance": ["obs_semantic_guided_llie_180x324.onnx"],
}
JOBS = [("remove-background", {"model": "u2netp"}),
        ("remove-background", {"model": "mediapipe-meet"}),
        ("fix-low-light", {})]


def workers(daemon: int) -> dict[str, int]:
    """Worker pids of the daemon, by plugin library name."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != daemon:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        lib = Path(argv[1].decode()).stem if len(argv) > 1 else "?"
        out[lib.removeprefix("libeasel_plugin_")] = int(pid)
    return out


def status_mb(pid: int, key: str) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    easeld = os.environ.get("EASELD", str(REPO / "target/release/easeld"))
    tmp = tempfile.mkdtemp(prefix="easel-mem-")
    photo = Image.open(PHOTO).convert("RGBA")
    small = EaselImage(photo.width, photo.height, "rgba8", photo.tobytes())
    big = Image.new("RGBA", (3840, 2160))
    for y in range(0, 2160, photo.height):
        for x in range(0, 3840, photo.width):
            big.paste(photo, (x, y))
    big = EaselImage(3840, 2160, "rgba8", big.tobytes())
    rows = []
    for mode in ("before", "after"):
        sock = os.path.join(tmp, f"{len(rows)}.sock")
        cfg = os.path.join(tmp, f"{len(rows)}.toml")
        with open(cfg, "w") as f:
            f.write(f'socket = "{sock}"\nmodel_dirs = ["{MODELS_DIR}"]\nthreads = 2\n'
                    "plugin_dirs = []\nwarm_models = []\n")
        env = dict(os.environ, EASEL_ORT_CACHE=os.path.join(tmp, "cache"))
        if mode == "before":
            env.update(EASEL_ORT_ARENA="1", EASEL_MALLOC_TRIM="0")
        log = open(os.path.join(tmp, f"{len(rows)}.log"), "w")
        proc = subprocess.Popen([easeld, "--config", cfg], stdout=log, stderr=subprocess.STDOUT,
                                env=env)
        while not os.path.exists(sock):
            if proc.poll() is not None:
                raise SystemExit(f"easeld did not start; see {log.name}")
            time.sleep(0.05)
        c = Client.connect(sock, autostart=False)
        for op, params in JOBS:
            c.run(op, small, params=params).close()
        times = []
        for _ in range(5):
            t = time.perf_counter()
            c.run("remove-background", small, params={"model": "u2netp"}).close()
            times.append(time.perf_counter() - t)
        pids = workers(proc.pid)
        time.sleep(3)
        warm = {k: status_mb(p, "VmRSS") for k, p in pids.items()}
        for op, params in JOBS:
            c.run(op, big, params=params).close()
        after_4k = {k: status_mb(p, "VmRSS") for k, p in pids.items()}
        time.sleep(3)
        later = {k: status_mb(p, "VmRSS") for k, p in pids.items()}
        hwm = {k: status_mb(p, "VmHWM") for k, p in pids.items()}
        c.close()
        proc.terminate()
        proc.wait(10)
        for k in FILES:
            if k not in pids:
                continue
            files_mb = sum((MODELS_DIR / f).stat().st_size for f in FILES[k]) / 2**20
            goal = 3 * files_mb + 150
            rows.append((k, mode, files_mb, goal, warm[k], after_4k[k], later[k], hwm[k],
                         statistics.median(times) * 1000))
    print(f"load average {os.getloadavg()[0]:.1f}\n")
    print("| worker | mode | model files MB | goal MB | RSS warm MB | RSS after 4K jobs MB | "
          "RSS 3 s later MB | peak MB | warm u2netp job ms |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]:.0f} | {r[4]:.0f} | {r[5]:.0f} | "
              f"{r[6]:.0f} | {r[7]:.0f} | {r[8]:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
