"""Loaded by the easel-gimp plug-in when EASEL_GIMP_TEST_HOOK names this file (tests only): at
a progress event of a running job it does what tests/gimp/safety_tests.py asked for in
$EASEL_GIMP_WORK/safety-action.json, once per job, and writes what it did to
safety-done.json: close the image, resize the image or the layer, delete the layer (what a user
may do in GIMP while a plug-in works), or kill, restart or unlink the daemon and its socket
(through tests/gimp/daemon_ctl.py, which runs outside the chroot).

Also the controller's client (``ctl``), which safety_tests.py imports.
"""

import json
import os
import time
import uuid

WORK = os.environ.get("EASEL_GIMP_WORK", "")
CTL = os.environ.get("EASEL_GIMP_CTL", "")
ACTION = os.path.join(WORK, "safety-action.json")
DONE = os.path.join(WORK, "safety-done.json")
_done_jobs = set()


def ctl(action, timeout=20.0):
    """Asks daemon_ctl.py to do ``action``; returns its answer (a dict)."""
    rid = uuid.uuid4().hex
    req = os.path.join(CTL, f"req-{time.time():.6f}-{rid}.json")
    with open(req + ".tmp", "w") as f:
        json.dump({"action": action}, f)
    os.replace(req + ".tmp", req)
    rep = os.path.join(CTL, "rep-" + os.path.basename(req)[4:])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(rep):
            with open(rep) as f:
                out = json.load(f)
            os.remove(rep)
            return out
        time.sleep(0.03)
    return {"ok": False, "detail": f"no answer to {action} within {timeout:g} s", "pid": None}


def during_job(image, drawable, job, fraction):
    if job in _done_jobs:
        return
    try:
        with open(ACTION) as f:
            want = json.load(f)
    except (OSError, ValueError):
        return
    if not want.get("action") or fraction < float(want.get("at", 0.0)):
        return
    _done_jobs.add(job)
    what = want["action"]
    detail = ""
    try:
        if what == "close-image":
            from gi.repository import Gimp
            image.delete()
            detail = {"valid_after": image.is_valid(),
                      "listed_after": image.get_id() in [i.get_id() for i in Gimp.get_images()]}
        elif what == "resize-image":
            image.resize(image.get_width() + 16, image.get_height() + 8, 0, 0)
        elif what == "scale-image":
            image.scale(image.get_width() // 2, image.get_height() // 2)
        elif what == "resize-layer":
            drawable.resize(drawable.get_width() - 10, drawable.get_height() - 6, 0, 0)
        elif what == "delete-layer":
            image.remove_layer(drawable)
        elif what in ("kill", "restart"):
            detail = ctl(what)
        elif what == "remove-socket":
            os.unlink(os.environ["EASEL_SOCKET"])
        else:
            detail = f"unknown action {what}"
        if what in ("resize-image", "scale-image", "resize-layer", "delete-layer") \
                and image.is_valid():
            # The test's own change is not the plug-in's: a result placed after this makes the
            # image dirty again (an undo step), a dropped one leaves it clean.
            image.clean_all()
        ok = True
    except Exception as e:  # noqa: BLE001 - reported to the test, never raised into the plug-in
        ok, detail = False, f"{type(e).__name__}: {e}"
    try:
        with open(DONE) as f:
            done = json.load(f)
    except (OSError, ValueError):
        done = []
    done.append({"case": want.get("case"), "action": what, "job": job, "fraction": fraction,
                 "ok": ok, "detail": detail, "pid": os.getpid()})
    with open(DONE + ".tmp", "w") as f:
        json.dump(done, f)
    os.replace(DONE + ".tmp", DONE)
