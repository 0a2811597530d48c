"""The Easel OBS filter under load, in one run (figures in benches/README.md).

A 1280x720 30 fps source with a person in motion (the girl of girl-1.jpg cut out by the daemon,
walking over the car-1.jpg photo), through libobs in tests/obs/frametest.c ("bench" mode), the
filter removing the background (blur) with mediapipe-meet:
  none   — the source alone (OBS's own cost),
  async  — the Easel filter as shipped (the daemon on its worker thread),
  sync   — the same model the way in-process filters run it: read back, infer, upload, all on
           the render thread (a mode of the same filter),
each with 1 and 2 sources. Prints sustained fps, frames OBS skipped/lagged, OBS's average frame
render time, render-thread time the filter adds (p50/p99, from the filter's own timing), mask
latency in frames (p50/p99), CPU cores of OBS and of the daemon with its workers.
Needs what tests/obs/run.sh installs; run from the repository root:
    .venv/bin/python benches/obs_filter.py [SECONDS]
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 20
PHOTOS = REPO.parent / "shared" / "fixtures" / "photos"
TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(root):
    """CPU seconds of a process and all its descendants (the daemon and its workers)."""
    total = 0.0
    kids = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                f = (p / "stat").read_text().rsplit(")", 1)[1].split()
                kids.setdefault(int(f[1]), []).append((int(p.name), f))
            except OSError:
                pass
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            f = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(f[11]) + int(f[12])) / TICK
        except OSError:
            pass
        todo += [k for k, _ in kids.get(pid, [])]
    return total


def main():
    work = Path(tempfile.mkdtemp(prefix="easel-obs-bench."))
    exe = work / "frametest"
    cflags = subprocess.run(["pkg-config", "--cflags", "--libs", "libobs"], capture_output=True,
                            text=True, check=True).stdout.split()
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(REPO / "tests/obs/frametest.c"), *cflags,
                    "-lX11", "-lpthread", "-lm"], check=True)
    (work / "easel.toml").write_text(
        f'socket = "{work}/easeld.sock"\nmodel_dirs = ["{REPO.parent / "shared" / "models"}"]\n'
        "threads = 1\n")
    daemon = subprocess.Popen([str(REPO / "target/debug/easeld"), "--config", str(work / "easel.toml")],
                              stdout=open(work / "easeld.log", "w"), stderr=subprocess.STDOUT)
    for _ in range(100):
        if (work / "easeld.sock").exists():
            break
        time.sleep(0.1)
    sock = str(work / "easeld.sock")
    try:
        girl = work / "girl.png"
        Image.open(PHOTOS / "girl-1.jpg").convert("RGB").save(girl)
        subprocess.run([str(REPO / "target/debug/easel"), "--socket", sock, "run", "remove-background",
                        "-i", str(girl), "-o", str(work / "person.png"), "--set", "model=u2netp"],
                       check=True, stdout=subprocess.DEVNULL)
        Image.open(PHOTOS / "car-1.jpg").convert("RGB").resize((1280, 720)).save(work / "bg.png")
        rows = []
        for n in (1, 2):
            for mode in ("none", "async", "sync"):
                stats = work / f"stats-{mode}-{n}"
                stats.mkdir()
                env = dict(os.environ, EASEL_OBS_STATS=str(stats))
                d0 = tree_cpu(daemon.pid)
                t0 = time.time()
                subprocess.run(["timeout", str(int(SECONDS + 90)), "xvfb-run", "-a", str(exe), "bench",
                                str(REPO / "target/debug/libeasel.so"), str(REPO / "adapters/obs/data"),
                                str(work / "bg.png"), str(work / "person.png"), str(work), sock, mode,
                                str(n), str(SECONDS)], env=env, stdout=subprocess.DEVNULL,
                               stderr=open(work / f"bench-{mode}-{n}.log", "w"))
                daemon_cores = (tree_cpu(daemon.pid) - d0) / (time.time() - t0)
                try:
                    r = json.loads((work / f"bench-{mode}-{n}.json").read_text())
                except OSError:
                    print(f"{mode} x{n}: no result (see {work})")
                    continue
                added, lat = [], []
                for f in stats.glob("*.json"):
                    s = json.loads(f.read_text())
                    added.append((s["added_ms_p50"], s["added_ms_p99"]))
                    lat.append((s["latency_frames_p50"], s["latency_frames_p99"]))
                r["added_ms_p50"] = max((a[0] for a in added), default=None)
                r["added_ms_p99"] = max((a[1] for a in added), default=None)
                r["latency_p50"] = max((x[0] or 0 for x in lat), default=None)
                r["latency_p99"] = max((x[1] or 0 for x in lat), default=None)
                r["daemon_cores"] = daemon_cores  # over the whole run, warm-up included
                rows.append(r)
                print(json.dumps(r), flush=True)
        print(f"\n{'mode':6} {'src':>3} {'fps':>6} {'skip':>5} {'lag':>5} {'frame ms':>8} "
              f"{'add p50':>7} {'add p99':>7} {'lat50':>5} {'lat99':>5} {'OBS cpu':>7} {'daemon':>6}")
        for r in rows:
            f = lambda v, p=2: "-" if v is None else f"{v:.{p}f}"
            print(f"{r['mode']:6} {r['sources']:>3} {r['fps']:6.2f} {r['skipped']:5} {r['lagged']:5} "
                  f"{r['avg_frame_time_ms']:8.2f} {f(r['added_ms_p50']):>7} {f(r['added_ms_p99']):>7} "
                  f"{f(r['latency_p50'], 0):>5} {f(r['latency_p99'], 0):>5} {r['obs_cpu_cores']:7.2f} "
                  f"{r['daemon_cores']:6.2f}")
    finally:
        daemon.kill()
        daemon.wait()


if __name__ == "__main__":
    main()
