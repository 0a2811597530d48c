#!/usr/bin/env python3
"""Several clients at once (issue 14, part 4): throughput and interactive latency with one client
and with four, in one run, on one daemon.

A fresh easeld (release build, models from ../shared/models, `threads` = --threads, 0 = the
daemon's own CPU budget) serves a mix of interactive jobs, the kind several open documents send:
remove background (u2netp, girl-1.jpg at 600×399), fix low light (default model, the same photo),
match look (car-1.jpg's look) and remove object (a 171-px disc in a 1280×720 frame). Each
operation runs once first, so every model is loaded and every worker started. Then:

- **1 client**: one connection runs the mix --rounds times, one job after another;
- **4 clients**: four connections (threads) each run the same mix --rounds times at once, each
  starting at a different operation of the mix, so different workers are busy together.

Printed: jobs per second over the whole phase, latency (submit to result) p50/p90/p99/max over
all jobs, per operation p50/p99, CPU seconds of the daemon tree per job, and the ratio
throughput(4)/throughput(1) (goal ≥ 1: the machine is shared, not oversubscribed).

    .venv/bin/python benches/concurrent_clients.py [--rounds 6] [--threads 0] [--easeld PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "adapters" / "python"))
sys.path.insert(0, str(REPO / "benches"))
from easel_client import Client  # noqa: E402
from easel_client import Image as EaselImage  # noqa: E402
from remove_background import start_daemon, tree_cpu  # noqa: E402

PHOTOS = (REPO / ".." / "shared" / "fixtures" / "photos").resolve()


def easel_image(im: Image.Image) -> EaselImage:
    im = im.convert("RGBA")
    return EaselImage(im.width, im.height, "rgba8", im.tobytes())


def the_mix() -> list[tuple[str, dict]]:
    girl = Image.open(PHOTOS / "girl-1.jpg")
    small = easel_image(girl.resize((600, 399), Image.Resampling.LANCZOS))
    frame = girl.convert("RGBA").resize((1280, 720), Image.Resampling.LANCZOS)
    hole = Image.new("RGBA", frame.size, (0, 0, 0, 0))
    ImageDraw.Draw(hole).ellipse((555, 275, 725, 445), fill=(255, 255, 255, 255))
    look = easel_image(Image.open(PHOTOS / "car-1.jpg").resize((600, 400)))
    return [
        ("remove-background", {"image": small, "params": {"model": "u2netp"}}),
        ("fix-low-light", {"image": small}),
        ("match-look", {"image": small, "references": [look]}),
        ("remove-object", {"image": easel_image(frame), "mask": easel_image(hole)}),
    ]


def run_client(sock: str, mix, rounds: int, start: int, out: list, errors: list) -> None:
    try:
        with Client.connect(sock, autostart=False, timeout=600) as c:
            for r in range(rounds):
                for k in range(len(mix)):
                    op, kw = mix[(start + k) % len(mix)]
                    kw = dict(kw)
                    image = kw.pop("image")
                    t0 = time.perf_counter()
                    c.run(op, image, timeout=600, **kw).close()
                    out.append((op, time.perf_counter() - t0))
    except Exception as e:  # reported after the phase; the phase's figures are then void
        errors.append(repr(e))


def phase(sock: str, daemon_pid: int, mix, clients: int, rounds: int) -> dict:
    results: list[list] = [[] for _ in range(clients)]
    errors: list[str] = []
    threads = [threading.Thread(target=run_client,
                                args=(sock, mix, rounds, i, results[i], errors))
               for i in range(clients)]
    cpu0, t0 = tree_cpu(daemon_pid), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - t0, tree_cpu(daemon_pid) - cpu0
    if errors:
        raise SystemExit(f"{clients} clients: {errors[0]}")
    jobs = [j for r in results for j in r]
    lat = sorted(s for _, s in jobs)

    def pct(v: list[float], p: float) -> float:
        return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]

    per_op = {}
    for op, _ in mix:
        v = sorted(s for o, s in jobs if o == op)
        per_op[op] = (statistics.median(v), pct(v, 99))
    return {"clients": clients, "jobs": len(jobs), "wall": wall, "rate": len(jobs) / wall,
            "p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99), "max": lat[-1],
            "cpu_per_job": cpu / len(jobs), "per_op": per_op}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--easeld", default=str(REPO / "target/release/easeld"))
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    mix = the_mix()
    tmp = tempfile.mkdtemp(prefix="easel-clients-")
    proc, sock = start_daemon(args.easeld, tmp, args.threads)
    try:
        warm: list = []
        run_client(sock, mix, 1, 0, warm, [])  # loads every model, starts every worker
        one = phase(sock, proc.pid, mix, 1, args.rounds * 4)
        four = phase(sock, proc.pid, mix, 4, args.rounds)
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"threads = {args.threads} (0: the daemon's budget), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| clients | jobs | jobs/s | p50 ms | p90 ms | p99 ms | max ms | daemon CPU s/job |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in (one, four):
        print(f"| {r['clients']} | {r['jobs']} | {r['rate']:.2f} | {r['p50'] * 1e3:.0f} | "
              f"{r['p90'] * 1e3:.0f} | {r['p99'] * 1e3:.0f} | {r['max'] * 1e3:.0f} | "
              f"{r['cpu_per_job']:.2f} |")
    print("\n| operation | 1 client p50 / p99 ms | 4 clients p50 / p99 ms |\n|---|---:|---:|")
    for op, _ in mix:
        a, b = one["per_op"][op], four["per_op"][op]
        print(f"| {op} | {a[0] * 1e3:.0f} / {a[1] * 1e3:.0f} | {b[0] * 1e3:.0f} / {b[1] * 1e3:.0f} |")
    print(f"\nthroughput 4 clients / 1 client: {four['rate'] / one['rate']:.2f} (goal >= 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
