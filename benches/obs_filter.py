"""The Easel OBS filter under load, in one run (figures in benches/README.md).

A 1280x720 30 fps source with a person in motion (the girl of girl-1.jpg cut out by the daemon,
walking over the car-1.jpg photo), through libobs in tests/obs/frametest.c ("bench" mode), the
filter removing the background (blur) with mediapipe-meet. Each row is a variant
MODE:BUILD:LAG:BLUR, run with 1 and 2 sources:
  MODE   none  — the source alone (OBS's own cost),
         pass  — the filter without a daemon: the source into its texture, drawn unchanged
                 (what any filter that samples its source does),
         async — the Easel filter as shipped (the daemon on its worker thread),
         sync  — the same model the way in-process filters run it: read back, infer, upload,
                 all on the render thread (a mode of the same filter);
  BUILD  debug or release: which build of the module is loaded (target/BUILD/libeasel.so; build
         it first: cargo build [--release] -p easel-obs);
  LAG    frames between staging the read-back and mapping it (1: the default; 2: the ring
         before the change);
  BLUR   small: the background blurred at the small copy's resolution (the default); full:
         nine taps per full-resolution pixel in the composite (before the change).
Prints sustained fps, frames OBS skipped/lagged, OBS's average frame render time, render-thread
time the filter adds (p50/p99, from the filter's own timing) and the same split into the steps
of its render callback, mask latency in frames (p50/p99), CPU cores of OBS and of the daemon
with its workers. The daemon is target/debug/easeld unless EASELD names another.
Needs what tests/obs/run.sh installs; run from the repository root:
    .venv/bin/python benches/obs_filter.py [SECONDS [VARIANT ...]]
Default variants: none pass:release:1:small async:debug:2:full (the filter before the change)
async:release:2:full async:release:1:full async:release:1:small (after) sync:release:1:small.
While the filter measures itself (EASEL_OBS_STATS) it first waits for the target's own
rasterization (a 1x1 draw sampling the target's texture: llvmpipe rasterizes pending draws when
their texture is first sampled, on the render thread), timed as the step "target_wait"; "own" is
the filter's render-thread time without that wait.
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
VARIANTS = sys.argv[2:] or ["none", "pass:release:1:small", "async:debug:2:full",
                            "async:release:2:full", "async:release:1:full", "async:release:1:small",
                            "sync:release:1:small"]
EASELD = os.environ.get("EASELD", str(REPO / "target/debug/easeld"))
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
    daemon = subprocess.Popen([EASELD, "--config", str(work / "easel.toml")],
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
            for variant in VARIANTS:
                parts = variant.split(":")
                mode, build, lag, blur = parts + ["debug", "1", "small"][len(parts) - 1:]
                module = REPO / "target" / build / "libeasel.so"
                tag = f"{mode}-{build}-{lag}-{blur}-{n}"
                stats = work / f"stats-{tag}"
                stats.mkdir()
                env = dict(os.environ, EASEL_OBS_STATS=str(stats), EASEL_BENCH_READBACK_LAG=lag,
                           EASEL_BENCH_FULL_RES_BLUR="1" if blur == "full" else "0")
                d0 = tree_cpu(daemon.pid)
                t0 = time.time()
                load0 = os.getloadavg()[0]
                subprocess.run(["timeout", str(int(SECONDS + 90)), "xvfb-run", "-a", str(exe), "bench",
                                str(module), str(REPO / "adapters/obs/data"),
                                str(work / "bg.png"), str(work / "person.png"), str(work), sock, mode,
                                str(n), str(SECONDS)], env=env, stdout=subprocess.DEVNULL,
                               stderr=open(work / f"bench-{tag}.log", "w"))
                daemon_cores = (tree_cpu(daemon.pid) - d0) / (time.time() - t0)
                try:
                    r = json.loads((work / f"bench-{mode}-{n}.json").read_text())
                    (work / f"bench-{mode}-{n}.json").rename(work / f"bench-{tag}.json")
                except OSError:
                    print(f"{tag}: no result (see {work})")
                    continue
                added, own, lat, steps = [], [], [], {}
                for f in stats.glob("*.json"):
                    s = json.loads(f.read_text())
                    added.append((s["added_ms_p50"], s["added_ms_p99"]))
                    own.append((s.get("own_ms_p50"), s.get("own_ms_p99")))
                    lat.append((s["latency_frames_p50"], s["latency_frames_p99"]))
                    for k, (p50, p99) in s.get("steps_ms_p50_p99", {}).items():
                        old = steps.get(k, (0.0, 0.0))
                        steps[k] = (max(old[0], p50 or 0.0), max(old[1], p99 or 0.0))
                r["variant"] = variant if mode != "none" else "none"
                r["added_ms_p50"] = max((a[0] for a in added), default=None)
                r["added_ms_p99"] = max((a[1] for a in added), default=None)
                r["own_ms_p50"] = max((a[0] or 0 for a in own), default=None)
                r["own_ms_p99"] = max((a[1] or 0 for a in own), default=None)
                r["latency_p50"] = max((x[0] or 0 for x in lat), default=None)
                r["latency_p99"] = max((x[1] or 0 for x in lat), default=None)
                r["steps_ms_p50_p99"] = steps  # the worst filter's, step by step
                r["daemon_cores"] = daemon_cores  # over the whole run, warm-up included
                r["load"] = (load0 + os.getloadavg()[0]) / 2
                rows.append(r)
                print(json.dumps(r), flush=True)
        print(f"\n{'variant':22} {'src':>3} {'fps':>6} {'skip':>5} {'lag':>5} {'frame ms':>8} "
              f"{'add p50':>7} {'add p99':>7} {'own p50':>7} {'own p99':>7} {'lat50':>5} {'lat99':>5} {'OBS cpu':>7} {'daemon':>6} "
              f"{'load':>5}")
        for r in rows:
            f = lambda v, p=2: "-" if v is None else f"{v:.{p}f}"
            print(f"{r['variant']:22} {r['sources']:>3} {r['fps']:6.2f} {r['skipped']:5} {r['lagged']:5} "
                  f"{r['avg_frame_time_ms']:8.2f} {f(r['added_ms_p50']):>7} {f(r['added_ms_p99']):>7} "
                  f"{f(r['own_ms_p50']):>7} {f(r['own_ms_p99']):>7} "
                  f"{f(r['latency_p50'], 0):>5} {f(r['latency_p99'], 0):>5} {r['obs_cpu_cores']:7.2f} "
                  f"{r['daemon_cores']:6.2f} {r['load']:5.1f}")
        print("\nrender-callback steps, ms p50/p99 (the worst filter of the row):")
        for r in rows:
            if r["steps_ms_p50_p99"]:
                print(f"{r['variant']:22} {r['sources']:>3} " + "  ".join(
                    f"{k} {v[0]:.2f}/{v[1]:.2f}" for k, v in r["steps_ms_p50_p99"].items()))
    finally:
        daemon.kill()
        daemon.wait()


if __name__ == "__main__":
    main()
