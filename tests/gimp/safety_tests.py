"""Data safety of the GIMP adapter inside real GIMP 3 (gimp-console-3.0, batch mode): what
happens to the user's image when the daemon or the image changes under a running job.

Run as ``exec(open(PATH).read())`` by tests/gimp/run.sh, with the daemon run by
tests/gimp/daemon_ctl.py (outside the chroot; EASEL_GIMP_CTL is its request folder) and the
plug-in's test hook armed (EASEL_GIMP_TEST_HOOK=safety_hook.py), which does, at a progress event
of the running job, what this script wrote into safety-action.json. Cases: the daemon killed
mid-job; restarted between jobs and mid-job; its socket removed between jobs and mid-job; the
image closed, resized (canvas and scale), its layer resized or deleted while a job runs. In
each, the image must be unchanged (layers, sizes, pixels; no partial layer; no undo step: the
image stays clean, see below), the procedure must fail with a message that says what happened
and what to do, and the next job must work (its result checked in the image).

A closed image is the exception GIMP makes: it stays alive (and valid, to the plug-in) until the
procedure working on it returns, so its result goes with it; the case checks that the call ends
cleanly, the image is gone and the other open image untouched.

GIMP offers no undo-stack count to plug-ins; every undo step marks the image dirty, so an image
made clean (``clean_all``) before the job is clean after it exactly when nothing was pushed. A
successful job is checked to make it dirty, so the check can fail.

Writes {"checks": [...], "timings_ms": {...}, "info": {...}} to $EASEL_GIMP_RESULTS.
"""

import hashlib
import json
import os
import sys
import time
import traceback

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

RESULTS = os.environ["EASEL_GIMP_RESULTS"]
PHOTOS = os.environ["EASEL_PHOTOS"]
WORK = os.environ["EASEL_GIMP_WORK"]
SOCK = os.environ["EASEL_SOCKET"]
sys.path.insert(0, os.environ["EASEL_GIMP_PLUGIN_DIR"])
sys.path.insert(0, WORK)
from safety_hook import ACTION, DONE, ctl  # noqa: E402

checks = []
timings = {}
info = {"cases": 0}
PDB = Gimp.get_pdb()
SLOW_MS = 3000  # test-echo's sleep: long enough to act while it runs


def check(name, ok, detail=""):
    checks.append({"name": name, "ok": bool(ok), "detail": str(detail)[:2000]})
    return ok


def save():
    with open(RESULTS + ".tmp", "w") as f:
        json.dump({"checks": checks, "timings_ms": timings, "info": info}, f, indent=1)
    os.replace(RESULTS + ".tmp", RESULTS)


def load(name):
    return Gimp.file_load(Gimp.RunMode.NONINTERACTIVE,
                          Gio.File.new_for_path(os.path.join(PHOTOS, name)))


def pixels(drawable, rect, fmt="R'G'B'A u8"):
    return bytes(drawable.get_buffer().get(Gegl.Rectangle.new(*rect), 1.0, fmt,
                                           Gegl.AbyssPolicy.NONE))


def layer_state(layer):
    _, x, y = layer.get_offsets()
    w, h = layer.get_width(), layer.get_height()
    return (layer.get_name(), x, y, w, h,
            hashlib.sha1(pixels(layer, (0, 0, w, h))).hexdigest())


def image_state(img):
    """What must not change when a result is dropped: the size, the layers and their pixels."""
    return {"size": (img.get_width(), img.get_height()),
            "layers": [layer_state(la) for la in img.get_layers()]}


def run_proc(name, image, drawables, **props):
    """Runs a procedure; returns (status, error message or '', seconds)."""
    proc = PDB.lookup_procedure(name)
    if proc is None:
        return None, f"no procedure {name}", 0.0
    config = proc.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", drawables)
    for k, v in props.items():
        config.set_property(k, v)
    t0 = time.monotonic()
    result = proc.run(config)
    dt = time.monotonic() - t0
    status = result.index(0)
    msg = ""
    if status != Gimp.PDBStatusType.SUCCESS:
        try:
            msg = PDB.get_last_error() or ""
        except Exception as e:  # noqa: BLE001
            msg = f"(no last error: {e})"
    return status, msg, dt


def arm(case, action, at=0.1):
    """The hook does ``action`` at the first progress event past ``at`` of the next job."""
    with open(ACTION + ".tmp", "w") as f:
        json.dump({"case": case, "action": action, "at": at}, f)
    os.replace(ACTION + ".tmp", ACTION)


def disarm():
    try:
        os.remove(ACTION)
    except FileNotFoundError:
        pass


def hook_did(case):
    """The hook's record of what it did in this case (None if it did not act)."""
    try:
        done = json.load(open(DONE))
    except (OSError, ValueError):
        return None
    return next((d for d in reversed(done) if d.get("case") == case), None)


def slow_job(case, img, layer, action):
    """Runs the slow test-echo on ``layer`` while the hook does ``action``; returns (status,
    message, state before, the hook's record)."""
    Gimp.Selection.none(img)
    img.clean_all()
    before = image_state(img)
    arm(case, action)
    try:
        st, msg, dt = run_proc("plug-in-easel-test-echo", img, [layer], **{"sleep-ms": SLOW_MS})
    finally:
        disarm()
    timings[f"{case}: the job"] = round(dt * 1000)
    did = hook_did(case)
    check(f"{case}: the {action} happened while the job ran", did is not None and did["ok"]
          and 0.0 < did["fraction"] < 1.0, did)
    return st, msg, before, did


def dropped(case, st, msg, words):
    """The procedure failed with a message that has all of ``words`` (what happened, that the
    image was not changed, and what to do)."""
    check(f"{case}: the procedure fails", st == Gimp.PDBStatusType.EXECUTION_ERROR, f"{st} {msg}")
    low = msg.lower()
    check(f"{case}: the message says what happened and what to do",
          msg.startswith("Easel:") and all(w.lower() in low for w in words), msg)


def next_job_works(case, img, layer):
    """Invert on ``layer``, whole layer: one new layer on top with exactly inverted pixels, and
    the image dirty (an undo step was pushed)."""
    Gimp.Selection.none(img)
    img.clean_all()
    n0 = len(img.get_layers())
    ids = {la.get_id() for la in img.get_layers()}
    w, h = layer.get_width(), layer.get_height()
    src = pixels(layer, (0, 0, w, h))
    st, msg, dt = run_proc("plug-in-easel-invert", img, [layer], amount=1.0)
    timings[f"{case}: the next job"] = round(dt * 1000)
    ok = check(f"{case}: the next job runs", st == Gimp.PDBStatusType.SUCCESS, f"{st} {msg}")
    layers = img.get_layers()
    if not check(f"{case}: the next job adds one layer", len(layers) == n0 + 1,
                 [la.get_name() for la in layers]) or not ok:
        return
    new = next(la for la in layers if la.get_id() not in ids)
    check(f"{case}: the next job's layer is right above its source",
          img.get_item_position(new) + 1 == img.get_item_position(layer),
          (img.get_item_position(new), img.get_item_position(layer)))
    out = pixels(new, (0, 0, new.get_width(), new.get_height()))
    _, x, y = new.get_offsets()
    _, lx, ly = layer.get_offsets()
    same_place = (x, y, new.get_width(), new.get_height()) == (lx, ly, w, h)
    bad = sum(1 for i in range(len(src)) if (out[i] != (src[i] if i % 4 == 3 else 255 - src[i])))
    check(f"{case}: the next job's layer is the inverted layer, in its place",
          same_place and len(out) == len(src) and bad == 0,
          ((x, y, new.get_width(), new.get_height()), (lx, ly, w, h), f"{bad} bytes differ"))
    check(f"{case}: the next job is an undo step (the image is dirty)", img.is_dirty())


def unchanged(case, img, before):
    check(f"{case}: the image is unchanged (layers, sizes, pixels)", image_state(img) == before,
          (before, image_state(img)))
    check(f"{case}: no undo step was added (the image is clean)", not img.is_dirty())


def case(fn):
    info["cases"] += 1
    t0 = time.monotonic()
    try:
        fn()
    except Exception:  # noqa: BLE001 - one broken case must not hide the others
        check(fn.__name__ + " (raised)", False, traceback.format_exc())
    timings["case " + fn.__name__] = round((time.monotonic() - t0) * 1000)
    save()


def daemon_pid():
    return ctl("status").get("pid")


# ------------------------------------------------------------------------------ cases
def test_daemon_killed_mid_job():
    c = "daemon killed mid-job"
    img = load("chelsea.png")
    layer = img.get_layers()[0]
    st, msg, before, did = slow_job(c, img, layer, "kill")
    dropped(c, st, msg, ["daemon stopped while working", "not changed", "run the filter again"])
    unchanged(c, img, before)
    # What the plug-in does on the next run outside this chroot: start the daemon again (here
    # the controller does it; the chroot has no easeld to start).
    check(f"{c}: the daemon starts again", ctl("start").get("pid"))
    next_job_works(c, img, layer)
    img.delete()


def test_daemon_restarted_between_jobs():
    c = "daemon restarted between jobs"
    img = load("chelsea.png")
    layer = img.get_layers()[0]
    old = daemon_pid()
    new = ctl("restart").get("pid")
    check(f"{c}: a new daemon runs", old and new and new != old, (old, new))
    next_job_works(c, img, layer)
    img.delete()


def test_daemon_restarted_mid_job():
    c = "daemon restarted mid-job"
    img = load("chelsea.png")
    layer = img.get_layers()[0]
    old = daemon_pid()
    st, msg, before, did = slow_job(c, img, layer, "restart")
    new = daemon_pid()
    check(f"{c}: another daemon runs", old and new and new != old, (old, new))
    dropped(c, st, msg, ["daemon stopped while working", "not changed", "run the filter again"])
    unchanged(c, img, before)
    next_job_works(c, img, layer)  # on the new daemon, with nothing else done
    img.delete()


def test_socket_removed():
    c = "socket removed mid-job"
    img = load("chelsea.png")
    layer = img.get_layers()[0]
    n0 = len(img.get_layers())
    src = pixels(layer, (0, 0, layer.get_width(), layer.get_height()))
    st, msg, before, did = slow_job(c, img, layer, "remove-socket")
    # The job's connection outlives the socket file: its result arrives and is placed.
    check(f"{c}: the running job still completes", st == Gimp.PDBStatusType.SUCCESS,
          f"{st} {msg}")
    layers = img.get_layers()
    check(f"{c}: its result is one new layer, exactly the layer's pixels (test-echo)",
          len(layers) == n0 + 1 and pixels(layers[0], (0, 0, layer.get_width(),
                                                       layer.get_height())) == src,
          [la.get_name() for la in layers])
    c = "socket removed between jobs"
    check(f"{c}: the socket is gone", not os.path.exists(SOCK))
    img.clean_all()
    before = image_state(img)
    st, msg, _ = run_proc("plug-in-easel-invert", img, [layer], amount=1.0)
    dropped(c, st, msg, ["daemon", "not running or cannot be reached", SOCK, "not changed",
                         "run the filter again"])
    unchanged(c, img, before)
    check(f"{c}: the daemon is started again (a new socket)", ctl("restart").get("pid")
          and os.path.exists(SOCK))
    next_job_works(c, img, layer)
    img.delete()


def test_image_closed_mid_job():
    c = "image closed mid-job"
    img = load("chelsea.png")
    other = load("coffee.png")
    other.clean_all()
    other_before = image_state(other)
    n_images = len(Gimp.get_images())
    layer = img.get_layers()[0]
    st, msg, _, did = slow_job(c, img, layer, "close-image")
    # GIMP keeps a deleted image alive while a procedure holds it (the core's reference to the
    # call's arguments): to the plug-in it is still valid and listed (the hook records both), so
    # the result goes into it and goes with it once the call returns. The plug-in cannot tell
    # (target_problem's is_valid check covers an image that is already gone); what counts here:
    # the call ends cleanly, the closed image is gone, and no other image is touched.
    info["closed image seen by the plug-in after delete"] = (did or {}).get("detail")
    check(f"{c}: the procedure ends cleanly (its result goes with the closed image, or is "
          f"dropped with a message)", st == Gimp.PDBStatusType.SUCCESS
          or (st == Gimp.PDBStatusType.EXECUTION_ERROR and "image was closed" in msg),
          f"{st} {msg}")
    check(f"{c}: the image is gone, and no image was added",
          not img.is_valid() and len(Gimp.get_images()) == n_images - 1,
          (img.is_valid(), len(Gimp.get_images()), n_images))
    unchanged(c + " (another open image)", other, other_before)
    next_job_works(c, other, other.get_layers()[0])
    other.delete()


def test_image_resized_mid_job():
    c = "image canvas resized mid-job"
    img = load("chelsea.png")
    layer = img.get_layers()[0]
    w0, h0 = img.get_width(), img.get_height()
    st, msg, before, did = slow_job(c, img, layer, "resize-image")
    dropped(c, st, msg, ["image was resized", "dropped", "not changed", "run the filter again"])
    after = image_state(img)
    check(f"{c}: the canvas has the size the user gave it", after["size"] == (w0 + 16, h0 + 8),
          after["size"])
    check(f"{c}: the layers are unchanged (no new or partial layer)",
          after["layers"] == before["layers"], (before["layers"], after["layers"]))
    check(f"{c}: no undo step was added (the image is clean)", not img.is_dirty())
    next_job_works(c, img, layer)
    img.delete()


def test_image_scaled_mid_job():
    c = "image scaled mid-job"
    img = load("chelsea.png")
    layer = img.get_layers()[0]
    n0 = len(img.get_layers())
    st, msg, before, did = slow_job(c, img, layer, "scale-image")
    dropped(c, st, msg, ["resized", "dropped", "not changed", "run the filter again"])
    check(f"{c}: no new or partial layer", len(img.get_layers()) == n0,
          [la.get_name() for la in img.get_layers()])
    check(f"{c}: no undo step was added (the image is clean)", not img.is_dirty())
    next_job_works(c, img, layer)
    img.delete()


def test_layer_resized_mid_job():
    c = "layer resized mid-job"
    img = load("chelsea.png")
    layer = img.get_layers()[0]
    n0 = len(img.get_layers())
    st, msg, before, did = slow_job(c, img, layer, "resize-layer")
    dropped(c, st, msg, ["layer was resized", "dropped", "not changed", "run the filter again"])
    check(f"{c}: no new or partial layer", len(img.get_layers()) == n0,
          [la.get_name() for la in img.get_layers()])
    check(f"{c}: the layer has the size the user gave it",
          (layer.get_width(), layer.get_height()) == (before["layers"][0][3] - 10,
                                                      before["layers"][0][4] - 6),
          (layer.get_width(), layer.get_height()))
    check(f"{c}: no undo step was added (the image is clean)", not img.is_dirty())
    next_job_works(c, img, layer)
    img.delete()


def test_layer_deleted_mid_job():
    c = "layer deleted mid-job"
    img = load("chelsea.png")
    base = img.get_layers()[0]
    top = base.copy()
    img.insert_layer(top, None, 0)
    top.set_name("to be deleted")
    st, msg, before, did = slow_job(c, img, top, "delete-layer")
    dropped(c, st, msg, ["layer was deleted", "dropped", "not changed", "run the filter again"])
    check(f"{c}: the other layers are unchanged, nothing added",
          image_state(img)["layers"] == before["layers"][1:],
          (before["layers"], image_state(img)["layers"]))
    check(f"{c}: no undo step was added (the image is clean)", not img.is_dirty())
    next_job_works(c, img, base)
    img.delete()


t_all = time.monotonic()
ready = json.load(open(os.path.join(os.environ["EASEL_GIMP_CTL"], "ready.json")))
check("the controller started the daemon", ready.get("ok"), ready)
for t in (test_daemon_killed_mid_job, test_daemon_restarted_between_jobs,
          test_daemon_restarted_mid_job, test_socket_removed, test_image_closed_mid_job,
          test_image_resized_mid_job, test_image_scaled_mid_job, test_layer_resized_mid_job,
          test_layer_deleted_mid_job):
    case(t)
timings["all safety cases"] = round((time.monotonic() - t_all) * 1000)
info["passed"] = sum(c["ok"] for c in checks)
info["failed"] = sum(not c["ok"] for c in checks)
info["done"] = True
save()
