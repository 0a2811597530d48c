#!/usr/bin/env python3
"""Runs easeld for tests/gimp/safety_tests.py and does to it, on request, what a user or the
system may do while GIMP works: kill it, restart it, stop it, start it again. GIMP runs in a
chroot that has no easeld, so this runs outside it (started by tests/gimp/run.sh) and takes
requests through files in a folder both sides see:

    CTL/req-ID.json   {"action": "kill" | "start" | "restart" | "stop" | "status"}
    CTL/rep-ID.json   {"ok": bool, "pid": the running daemon's pid or null, "detail": str}

Usage: daemon_ctl.py EASELD CONFIG SOCKET CTL_DIR LOG. Exits when CTL_DIR/quit appears (stopping
its daemon). Only the daemons it started are signalled, by pid.
"""

import json
import os
import signal
import subprocess
import sys
import time

EASELD, CONFIG, SOCK, CTL, LOG = sys.argv[1:6]
proc = None


def listening(timeout=15.0):
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(SOCK)
            return True
        except OSError:
            time.sleep(0.05)
        finally:
            s.close()
    return False


def start():
    global proc
    log = open(LOG, "ab")
    proc = subprocess.Popen([EASELD, "--config", CONFIG], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log, start_new_session=True)
    log.close()
    return listening(), f"started pid {proc.pid}"


def end(sig):
    global proc
    if proc is None or proc.poll() is not None:
        proc = None
        return True, "no daemon running"
    proc.send_signal(sig)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    detail = f"pid {proc.pid} ended by signal {sig}"
    proc = None
    return True, detail


def handle(action):
    if action == "kill":
        return end(signal.SIGKILL)
    if action == "stop":
        return end(signal.SIGTERM)
    if action == "start":
        if proc is not None and proc.poll() is None:
            return True, "already running"
        return start()
    if action == "restart":
        end(signal.SIGKILL)
        return start()
    if action == "status":
        return proc is not None and proc.poll() is None, "status"
    return False, f"unknown action {action!r}"


def main():
    os.makedirs(CTL, exist_ok=True)
    ok, detail = start()
    with open(os.path.join(CTL, "ready.json"), "w") as f:
        json.dump({"ok": ok, "pid": proc.pid if proc else None, "detail": detail}, f)
    while not os.path.exists(os.path.join(CTL, "quit")):
        for name in sorted(os.listdir(CTL)):
            if not (name.startswith("req-") and name.endswith(".json")):
                continue
            path = os.path.join(CTL, name)
            try:
                action = json.load(open(path)).get("action")
            except (OSError, ValueError):
                continue  # still being written
            os.remove(path)
            try:
                ok, detail = handle(action)
            except Exception as e:  # noqa: BLE001 - answer anyway
                ok, detail = False, f"{type(e).__name__}: {e}"
            rep = os.path.join(CTL, "rep-" + name[4:])
            with open(rep + ".tmp", "w") as f:
                json.dump({"ok": ok, "detail": detail,
                           "pid": proc.pid if proc is not None and proc.poll() is None else None},
                          f)
            os.replace(rep + ".tmp", rep)
        time.sleep(0.03)
    end(signal.SIGTERM)


if __name__ == "__main__":
    main()
