"""GUI test driver: runs inside the real Krita (under Xvfb) with the Easel docker loaded, through
the plugin's test hook (EASEL_KRITA_TEST=results.json, EASEL_KRITA_TEST_DRIVER=this file).

It drives the docker's own widgets (operation list, parameter widgets, Run, Cancel, history
buttons) on a real photo and checks the document after each step: the new layers' names,
places and pixels, undo as one step, that cancelled and failed jobs (a daemon killed mid-job)
leave the document as it was, and that the docker says what happened. It also saves a
screenshot of the docker in use (EASEL_SCREENSHOT).
"""

import hashlib
import json
import os
import signal
import sys
import time
import traceback

from krita import Krita, Selection
from easel_krita.qt import Qt, QComboBox, QDoubleSpinBox, QSpinBox, QToolButton, QWidget
from easel_krita.qt import QtWidgets
QScrollBar = QtWidgets.QScrollBar

PHOTOS = os.environ.get("EASEL_PHOTOS", "/work/shared/fixtures/photos")


class Results:
    def __init__(self, path):
        self.path = path
        self.data = {"suite": "krita-gui", "checks": [], "timings_ms": {}, "daemon_pids": []}

    def check(self, name, ok, detail=""):
        self.data["checks"].append({"name": name, "ok": bool(ok), "detail": str(detail)[:2000]})
        sys.stderr.write(("PASS " if ok else "FAIL ") + name + ("" if ok else f": {detail}") + "\n")
        sys.stderr.flush()
        self.save()
        return ok

    def save(self):
        with open(self.path, "w") as f:
            json.dump(self.data, f, indent=1)


class Wait:
    """Yielded by the scenario: the test hook resumes it once ``cond()`` holds or ``timeout``
    seconds have passed, sending back whether it held. (A yielded number just sleeps.) The
    scenario returns to Krita's own event loop between steps: Krita updates its layer model
    and active layer only there, not in a nested processEvents loop.
    """

    def __init__(self, cond, timeout, on_tick=None):
        self.cond, self.timeout, self.on_tick = cond, timeout, on_tick


def layer_names(doc):
    """The top-level layers, bottom first (not masks: a global selection is a mask in Krita)."""
    return [n.name() for n in doc.rootNode().childNodes() if not n.type().endswith("mask")]


def digest(node, w, h):
    return hashlib.sha1(bytes(node.pixelData(0, 0, w, h))).hexdigest()


def doc_state(doc):
    """What must not change when a job fails or is cancelled: the layers and their pixels."""
    w, h = doc.width(), doc.height()
    return [(n.name(), n.visible(), digest(n, w, h)) for n in doc.rootNode().childNodes()]


def node_by_id(doc, uid):
    from easel_krita import kritadoc
    return kritadoc.node_by_id(doc, uid)


def set_param(docker, name, value):
    w = docker.form.findChild(QComboBox, f"easel_param_{name}") or \
        docker.form.findChild(QSpinBox, f"easel_param_{name}") or \
        docker.form.findChild(QDoubleSpinBox, f"easel_param_{name}")
    if w is None:
        raise AssertionError(f"no widget for parameter {name}")
    if isinstance(w, QComboBox):
        w.setCurrentIndex(w.findData(value))
        return w.currentData() == value
    w.setValue(value)
    return w.value() == value


def choose(combo, data):
    i = combo.findData(data)
    combo.setCurrentIndex(i)
    return i >= 0 and combo.currentData() == data


def run(results_path):
    """The scenario, as a generator the plugin's test hook steps through (see Wait)."""
    r = Results(results_path)
    k = Krita.instance()
    t_start = time.monotonic()
    try:
        yield from _run(r, k)
    except Exception:
        r.check("driver ran to the end", False, traceback.format_exc())
    finally:
        r.data["timings_ms"]["whole GUI scenario"] = round((time.monotonic() - t_start) * 1000)
        try:
            _shutdown_daemons(r)
        finally:
            r.save()


def _started_daemons():
    from easel_krita.easel_client import daemon as d
    return list(d._started)


def _shutdown_daemons(r):
    from easel_krita import find_docker
    docker = find_docker()
    if docker is not None and docker.client is not None and not docker.client.closed:
        try:
            docker.client.shutdown(timeout=10)
        except Exception as e:  # noqa: BLE001
            r.check("daemon shut down at the end", False, e)
    for p in _started_daemons():
        try:
            p.wait(10)
        except Exception:  # noqa: BLE001
            p.kill()  # only a daemon this Krita started, by its Popen
            p.wait(5)


def _run(r, k):
    from easel_krita import find_docker
    from easel_krita.docker import REGION_ALL, REGION_PAINTED, REGION_SELECTION, SOURCE_LAYER, SOURCE_VISIBLE
    from easel_krita.jobs import Settings

    r.data["krita_version"] = k.version()
    want = os.environ.get("EASEL_KRITA_EXPECT_VERSION")  # run.sh: 5.1 on the host, 5.2 in the chroot
    if want:
        r.check(f"running in Krita {want}", k.version().startswith(want + "."), k.version())
    win = k.activeWindow()
    r.check("Krita main window exists", win is not None)
    docker = find_docker()
    if not r.check("Easel docker found through Krita.instance().dockers()", docker is not None,
                   [d.objectName() for d in k.dockers()]):
        return
    qwin = win.qwindow()
    qwin.resize(1280, 1000)
    yield 0.5
    default_w = docker.width()
    need_w = docker.widget().widget().minimumSizeHint().width()
    r.data["dock_widths"] = {"default": default_w, "needed": need_w}
    r.check("the docker fits the default dock column (no horizontal scrolling)",
            need_w <= max(default_w, 260) and need_w <= 320, (need_w, default_w))
    # The docker connects when it is shown (Krita may show it at start); nothing listened on the
    # fresh runtime folder's socket, so it starts the daemon.
    socket_path = Settings.load().socket_path
    docker.show()
    docker.raise_()
    # The layout of the screenshot, set before a document opens (so it opens fitted): the Easel
    # docker under the Layers docker, the other dockers out of the way.
    keep = {"easel_docker", "KisLayerBox"}
    for d in k.dockers():
        if d.objectName() not in keep and d.isVisible():
            d.hide()
    qwin.resizeDocks([docker], [430], Qt.Horizontal)
    layers = next((d for d in k.dockers() if d.objectName() == "KisLayerBox"), None)
    if layers is not None:
        qwin.resizeDocks([layers, docker], [200, 800], Qt.Vertical)
    t0 = time.monotonic()
    (yield Wait(lambda: docker.client is not None or docker.last_error, 30))
    r.data["timings_ms"]["docker shown -> connected (daemon started)"] = round((time.monotonic() - t0) * 1000)
    started = _started_daemons()
    r.data["daemon_pids"] = [p.pid for p in started]
    r.check("the docker started the daemon and connected", docker.client is not None
            and len(started) == 1, (docker.last_status, len(started)))
    r.check("the first operation shown needs nothing but a layer (Remove background)",
            docker.current_operation_id() == "remove-background", docker.current_operation_id())
    r.check("its description ends with a full stop", docker.op_help.text().endswith("."),
            docker.op_help.text())
    ops = [docker.op_combo.itemData(i, Qt.UserRole) for i in range(docker.op_combo.count())]
    r.check("operations listed, grouped under category headers",
            {"remove-background", "remove-object", "invert", "match-look", "test-echo"} <= set(ops)
            and docker.op_combo.itemData(0, Qt.UserRole) is None
            and docker.op_combo.itemText(0).strip() and not docker.op_combo.itemText(0).startswith(" "),
            [docker.op_combo.itemText(i) for i in range(docker.op_combo.count())])

    # A daemon that cannot be started: a clear message, no crash; then back to normal.
    good = docker.settings
    nowhere = os.path.join(os.path.dirname(socket_path), "nowhere", "none.sock")
    docker.settings = Settings(nowhere, "/nonexistent/easeld", "")
    ok = docker.connect_daemon()
    r.check("unreachable daemon: the docker says why (and does not crash)",
            not ok and "Daemon" in docker.status.text() and "EASELD" not in docker.status.text()
            and "/nonexistent/easeld" in docker.status.text() and not docker.run_btn.isEnabled()
            and docker.daemon_box.isChecked(),
            docker.status.text())
    docker.settings = good
    r.check("reconnects to the running daemon", docker.connect_daemon()
            and len(_started_daemons()) == 1, docker.status.text())

    # ------------------------------------------------------------------ a real photo
    doc = k.openDocument(os.path.join(PHOTOS, "girl-1.jpg"))
    win.addView(doc)
    k.setActiveDocument(doc)
    doc.setBatchmode(True)
    (yield Wait(lambda: k.activeDocument() is not None, 10))
    doc.waitForDone()
    yield 0.5
    W, H = doc.width(), doc.height()
    bg = doc.rootNode().childNodes()[0]
    bg_uid = bg.uniqueId().toString()
    doc.setActiveNode(bg)
    yield 0.2
    r.check("photo open and active", (W, H) == (600, 399) and k.activeDocument() is not None
            and doc.activeNode() is not None and doc.activeNode().name() == bg.name(),
            (W, H, doc.activeNode() and doc.activeNode().name()))
    bg_pixels = bytes(bg.pixelData(0, 0, W, H))

    # ------------------------------------------------------------------ remove-background
    r.check("choose remove-background in the list", docker.select_operation("remove-background")
            and docker.current_operation_id() == "remove-background")
    r.check("model parameter set to u2netp in its combo box", set_param(docker, "model", "u2netp"))
    choose(docker.source_combo, SOURCE_LAYER)
    choose(docker.region_combo, REGION_SELECTION)  # nothing selected: the whole image
    before = doc_state(doc)
    # Every value the bar takes: a job this short can report its progress and its result in
    # the same poll, between two of the Wait's ticks.
    progress_seen = set()
    record_progress = progress_seen.add
    docker.progress.valueChanged.connect(record_progress)
    t0 = time.monotonic()
    docker.run_btn.click()
    r.check("Run started a job (Cancel enabled, Run disabled)", docker.busy
            and docker.cancel_btn.isEnabled() and not docker.run_btn.isEnabled(), docker.status.text())
    r.check("document untouched while the job runs", doc_state(doc) == before)
    done = (yield Wait(lambda: not docker.busy, 180,
                    on_tick=lambda: progress_seen.add(docker.progress.value())))
    docker.progress.valueChanged.disconnect(record_progress)
    r.data["timings_ms"]["remove-background u2netp 600x399, click -> layer"] = round((time.monotonic() - t0) * 1000)
    r.check("remove-background finished", done and not docker.last_error, docker.status.text())
    names = layer_names(doc)
    r.check("one new layer, named after the operation, right above the photo",
            len(names) == 2 and names[0] == bg.name() and names[1] == "Remove background (u2netp)", names)
    cut = doc.rootNode().childNodes()[1]
    out = bytes(cut.pixelData(0, 0, W, H))
    alpha = out[3::4]
    corners = [alpha[y * W + x] for x, y in ((3, 3), (W - 4, 3), (3, H - 4), (W - 4, H - 4))]
    face = alpha[190 * W + 220]  # her face
    r.check("cutout: transparent corners, opaque subject", max(corners) == 0 and face > 200,
            (corners, face))
    b = cut.bounds()
    r.check("cutout layer bounds lie inside the canvas and around the subject",
            b.x() >= 0 and b.y() >= 0 and b.right() < W and b.bottom() < H
            and b.width() > 100 and b.height() > 200, (b.x(), b.y(), b.width(), b.height()))
    r.check("the photo layer is unchanged", bytes(bg.pixelData(0, 0, W, H)) == bg_pixels)
    r.check("progress was shown while it ran", max(progress_seen or {0}) > 0, sorted(progress_seen)[-5:])
    r.check("history lists the result", docker.history_list.count() == 1
            and "Remove background" in docker.history_list.item(0).text())
    r.check("status says the layer was added", "Added" in docker.status.text(), docker.status.text())
    r.check("the cutout is what the user sees: the photo under it is hidden",
            not bg.visible() and cut.visible(), (bg.visible(), cut.visible()))
    (yield 0.6)
    act = doc.activeNode()
    r.check("the cutout is active (its source is hidden), not some other layer",
            act is not None and act.name() == "Remove background (u2netp)", act and act.name())

    # One undo step: undo removes the whole result, redo brings it back.
    after = doc_state(doc)
    k.action("edit_undo").trigger()
    (yield Wait(lambda: len(layer_names(doc)) == 1, 10))
    doc.waitForDone()
    (yield Wait(lambda: doc_state(doc) == before, 5))
    r.check("one undo removes the result layer and shows the photo again", doc_state(doc) == before,
            layer_names(doc))
    r.check("history drops the undone result", docker.history_list.count() == 0 and not docker.history(),
            docker.history_list.count())
    k.action("edit_redo").trigger()
    (yield Wait(lambda: len(layer_names(doc)) == 2, 10))
    doc.waitForDone()
    (yield Wait(lambda: doc_state(doc) == after, 5))
    r.check("redo brings it back, pixels and all", doc_state(doc) == after, layer_names(doc))
    r.check("...and its history entry", docker.history_list.count() == 1, docker.history_list.count())

    # Screenshot: the cutout over Krita's transparency checkerboard, the docker beside it.
    shot = os.environ.get("EASEL_SCREENSHOT")
    if shot:
        bg_node = doc.rootNode().childNodes()[0]
        bg_node.setVisible(False)
        # Whole image in view, centred (Krita keeps the zoom and offset of the first geometry).
        view = win.activeView()
        if view is not None and view.canvas() is not None:
            view.canvas().setZoomLevel(1.0)
        yield 0.3
        mdi = qwin.centralWidget()
        for sb in (mdi.findChildren(QScrollBar) if mdi is not None else []):
            if sb.isVisible() and sb.maximum() > sb.minimum():
                sb.setValue((sb.minimum() + sb.maximum()) // 2)
        doc.refreshProjection()
        doc.waitForDone()
        yield 1.0
        img = qwin.grab().toImage()
        if img.width() > 1000:
            img = img.scaledToWidth(1000, Qt.SmoothTransformation)
        os.makedirs(os.path.dirname(os.path.abspath(shot)), exist_ok=True)
        saved = img.save(shot, "PNG", 9)
        r.check("screenshot saved", saved and os.path.getsize(shot) > 10000,
                (shot, os.path.getsize(shot) if saved else None))
        bg_node.setVisible(True)
        doc.refreshProjection()
        doc.waitForDone()
        yield 0.3

    # ------------------------------------------------------------------ remove-object
    bg = node_by_id(doc, bg_uid)
    doc.setActiveNode(bg)
    yield 0.2
    hx, hy, hw, hh = 352, 48, 50, 62  # her raised right hand, against the mountains
    sel = Selection()
    sel.select(hx, hy, hw, hh, 255)
    doc.setSelection(sel)
    yield 0.2
    r.check("choose remove-object", docker.select_operation("remove-object"))
    dice = docker.form.findChild(QToolButton, "easel_dice_seed")
    r.check("the seed's dice button has an icon", dice is not None and not dice.icon().isNull()
            and not dice.text().strip())
    method = docker.form.findChild(QComboBox, "easel_param_method")
    r.check("choices show titles, not ids", method is not None and method.itemData(0) == "patchmatch"
            and method.itemText(0) != "patchmatch", method and [method.itemText(i) for i in range(method.count())])
    set_param(docker, "seed", 1234)
    choose(docker.source_combo, SOURCE_LAYER)
    choose(docker.region_combo, REGION_SELECTION)
    before = doc_state(doc)
    t0 = time.monotonic()
    docker.run_btn.click()
    r.check("document untouched while remove-object runs", docker.busy and doc_state(doc) == before)
    done = (yield Wait(lambda: not docker.busy, 180))
    r.data["timings_ms"]["remove-object 50x62 hole, click -> layer"] = round((time.monotonic() - t0) * 1000)
    r.check("remove-object finished", done and not docker.last_error, docker.status.text())
    names = layer_names(doc)
    r.check("remove-object layer added right above the photo (below the cutout)",
            len(names) == 3 and names[1].startswith("Remove object"), names)
    fill = doc.rootNode().childNodes()[1]
    fb = fill.bounds()
    m = 64
    want = (max(0, hx - m), max(0, hy - m), min(W, hx + hw + m) - max(0, hx - m),
            min(H, hy + hh + m) - max(0, hy - m))
    r.check("remove-object layer at the crop's offset (selection + 64 px context)",
            (fb.x(), fb.y(), fb.width(), fb.height()) == want, ((fb.x(), fb.y(), fb.width(), fb.height()), want))
    out = bytes(fill.pixelData(0, 0, W, H))
    diff_in, n_in, same_out, n_out = 0, 0, 0, 0
    for y in range(want[1], want[1] + want[3]):
        for x in range(want[0], want[0] + want[2]):
            i = 4 * (y * W + x)
            if hx <= x < hx + hw and hy <= y < hy + hh:
                diff_in += sum(abs(out[i + c] - bg_pixels[i + c]) for c in range(3))
                n_in += 1
            else:
                same_out += out[i:i + 4] == bg_pixels[i:i + 4]
                n_out += 1
    mean_in = diff_in / max(1, 3 * n_in)
    r.check(f"the hole changed (mean difference {mean_in:.1f}/255)", mean_in > 10, mean_in)
    r.check("outside the selection the layer holds the original pixels", same_out == n_out,
            f"{n_out - same_out} of {n_out} differ")
    # The hand's skin tones are gone from the hole (the fill comes from sky and mountains).
    reddish = sum(1 for y in range(hy, hy + hh) for x in range(hx, hx + hw)
                  if out[4 * (y * W + x) + 2] > out[4 * (y * W + x)] + 40)  # BGRA: R much above B
    r.check(f"skin-coloured pixels in the hole after the fill: {reddish}", reddish < hw * hh // 20, reddish)
    # The canvas shows the fill without the plugin forcing a full refresh (adding the layer
    # updates its area): where the cutout above it is clear, the projection is the fill.
    cut = next(n for n in doc.rootNode().childNodes() if n.name() == "Remove background (u2netp)")
    cut_px = bytes(cut.pixelData(0, 0, W, H))
    spot = next(((x, y) for y in range(hy, hy + hh) for x in range(hx, hx + hw)
                 if cut_px[4 * (y * W + x) + 3] == 0
                 and sum(abs(out[4 * (y * W + x) + c] - bg_pixels[4 * (y * W + x) + c]) for c in range(3)) > 40),
                None)
    if spot is not None:
        px = 4 * (spot[1] * W + spot[0])
        shows = (yield Wait(lambda: bytes(doc.pixelData(spot[0], spot[1], 1, 1))[:3] == out[px:px + 3], 5))
        r.check("the canvas (projection) shows the new layer", shows,
                (spot, bytes(doc.pixelData(spot[0], spot[1], 1, 1)).hex(), out[px:px + 4].hex()))
    else:
        r.check("a filled pixel not covered by the cutout, to look at the canvas", False)
    doc.setSelection(Selection())
    yield 0.2

    # ------------------------------------------------------------------ cancel a slow job
    r.check("choose the slow test-echo", docker.select_operation("test-echo")
            and set_param(docker, "sleep_ms", 20000))
    choose(docker.region_combo, REGION_ALL)
    before = doc_state(doc)
    docker.run_btn.click()
    started = docker.busy
    (yield Wait(lambda: docker.progress.value() > 0, 10))
    yield 0.5
    t0 = time.monotonic()
    docker.cancel_btn.click()
    done = (yield Wait(lambda: not docker.busy, 15))
    r.data["timings_ms"]["cancel -> docker idle"] = round((time.monotonic() - t0) * 1000)
    yield 0.5
    r.check("cancelled job: docker idle again and says so", started and done
            and "Cancelled" in docker.status.text(), docker.status.text())
    r.check("cancelled job: document unchanged", doc_state(doc) == before, layer_names(doc))

    # ------------------------------------------------------------------ daemon killed mid-job
    before = doc_state(doc)
    docker.run_btn.click()
    started = docker.busy
    (yield Wait(lambda: docker.progress.value() > 0, 10))
    pid = _started_daemons()[-1].pid
    os.kill(pid, signal.SIGKILL)  # the daemon this Krita started (its Popen), by pid
    t0 = time.monotonic()
    done = (yield Wait(lambda: not docker.busy, 15))
    r.data["timings_ms"]["daemon killed -> docker shows the error"] = round((time.monotonic() - t0) * 1000)
    yield 0.5
    text = docker.status.text()
    r.check("daemon killed mid-job: the docker shows the error", started and done
            and "daemon stopped" in text and "not changed" in text, text)
    r.check("daemon killed mid-job: document unchanged", doc_state(doc) == before, layer_names(doc))

    # ------------------------------------------------------------------ painted mask + restart
    bg = node_by_id(doc, bg_uid)
    doc.setActiveNode(bg)
    yield 0.2
    docker.scribble_btn.click()
    (yield Wait(lambda: doc.activeNode() is not None and doc.activeNode().name() == "Easel mask", 3))
    scrib = doc.nodeByName("Easel mask")
    act = doc.activeNode()
    r.check("Paint mask adds an \u201cEasel mask\u201d layer above the photo and selects it",
            scrib is not None and act is not None and act.name() == "Easel mask"
            and layer_names(doc)[1] == "Easel mask"
            and docker.region_combo.currentData() == REGION_PAINTED,
            (layer_names(doc), act and act.name(), scrib is not None))
    # A stroke: what a brush leaves on the layer (soft alpha).
    sx, sy, sw, sh = 40, 300, 30, 20
    stroke = bytes([0, 0, 255, 255]) * (sw * sh)
    scrib.setPixelData(stroke, sx, sy, sw, sh)
    yield 0.2
    r.check("choose invert", docker.select_operation("invert"))
    r.check("Region follows the operation: the painted mask for invert, as it is painted",
            docker.region_combo.currentData() == REGION_PAINTED, docker.region_combo.currentData())
    choose(docker.source_combo, SOURCE_LAYER)
    n_before = len(layer_names(doc))
    t0 = time.monotonic()
    docker.run_btn.click()
    done = (yield Wait(lambda: not docker.busy, 60))
    r.data["timings_ms"]["restart the daemon + invert through a painted mask"] = round((time.monotonic() - t0) * 1000)
    r.check("after the crash, Run restarts the daemon", done and len(_started_daemons()) == 2
            and not docker.last_status.startswith("The operation failed"), docker.status.text())
    r.data["daemon_pids"] = [p.pid for p in _started_daemons()]
    names = layer_names(doc)
    r.check("painted-mask result added above the mask layer, the mask hidden (the mask layer is not the source)",
            len(names) == n_before + 1 and names[1] == "Easel mask" and names[2].startswith("Invert")
            and not doc.nodeByName("Easel mask").visible(), names)
    inv = doc.rootNode().childNodes()[2]
    ib = inv.bounds()
    r.check("its place: the painted stroke's bounds + 64 px context",
            (ib.x(), ib.y(), ib.width(), ib.height()) == (0, sy - 64, sx + sw + 64, min(H, sy + sh + 64) - (sy - 64)),
            (ib.x(), ib.y(), ib.width(), ib.height()))
    out = bytes(inv.pixelData(0, 0, W, H))
    i = 4 * ((sy + 5) * W + sx + 5)
    j = 4 * ((sy - 20) * W + sx)
    r.check("inverted under the stroke, unchanged around it",
            all(out[i + c] == 255 - bg_pixels[i + c] for c in range(3))
            and out[j:j + 4] == bg_pixels[j:j + 4])

    # The visible image as the source: the mask layer itself must not be part of it.
    shown = [n for n in doc.rootNode().childNodes() if n.visible()
             and n.uniqueId().toString() != bg_uid and n.name() != "Easel mask"]
    for n in shown:
        n.setVisible(False)
    node_by_id(doc, bg_uid).setVisible(True)
    doc.nodeByName("Easel mask").setVisible(True)
    doc.refreshProjection()
    yield 0.3
    choose(docker.source_combo, SOURCE_VISIBLE)
    n_before = len(layer_names(doc))
    docker.run_btn.click()
    done = (yield Wait(lambda: not docker.busy, 60))
    new = [n for n in doc.rootNode().childNodes() if n.name().startswith("Invert") and n.visible()]
    out = bytes(new[0].pixelData(0, 0, W, H)) if len(new) == 1 else b""
    scrib = doc.nodeByName("Easel mask")
    r.check("visible image + painted mask: the stroke's colour is not in the source",
            done and len(layer_names(doc)) == n_before + 1 and len(out) == 4 * W * H
            and all(out[i + c] == 255 - bg_pixels[i + c] for c in range(3)),
            (docker.status.text(), layer_names(doc)))
    r.check("the mask layer is hidden under its result after the run", not scrib.visible())
    for n in shown:
        n.setVisible(True)
    scrib.remove()
    choose(docker.source_combo, SOURCE_LAYER)
    yield 0.2

    # ------------------------------------------------------------------ references
    ref = doc.createNode("Look", "paintlayer")
    coffee = k.openDocument(os.path.join(PHOTOS, "coffee.png"))
    coffee.waitForDone()
    cw, ch = min(W, coffee.width()), min(H, coffee.height())
    ref.setPixelData(coffee.pixelData(0, 0, cw, ch), 0, 0, cw, ch)
    coffee.close()
    ref.setVisible(False)
    top = [n for n in doc.rootNode().childNodes() if not n.type().endswith("mask")][-1]
    doc.rootNode().addChildNode(ref, top)  # on top, hidden
    yield 0.3  # Krita makes the new layer active: then go back to the photo
    bg = node_by_id(doc, bg_uid)
    doc.setActiveNode(bg)
    yield 0.3
    r.check("choose match-look (takes reference layers)", docker.select_operation("match-look")
            and docker.refs_box.isVisible())
    choose(docker.region_combo, REGION_ALL)
    docker.refresh_references()
    r.check("tick the reference layer in the list", docker.set_reference_checked("Look"),
            [docker.refs_list.item(i).text() for i in range(docker.refs_list.count())])
    n_before = len(layer_names(doc))
    docker.run_btn.click()
    done = (yield Wait(lambda: not docker.busy, 60))
    names = layer_names(doc)
    r.check("match-look with a reference layer adds its result", done and not docker.last_error
            and len(names) == n_before + 1 and names[1].startswith("Match look"), (docker.status.text(), names))

    # ------------------------------------------------------------------ history
    hist = docker.history()
    r.check("history has this document's five results", len(hist) == 5
            and docker.history_list.count() == 5, [e["name"] for e in hist])
    docker.history_list.setCurrentRow(0)  # the cutout
    node = doc.nodeByName("Remove background (u2netp)")
    vis = node.visible()
    docker.compare_btn.click()
    yield 0.2
    node = doc.nodeByName("Remove background (u2netp)")
    r.check("Compare toggles the result layer's visibility", node.visible() == (not vis))
    docker.compare_btn.click()
    yield 0.2
    n_before = len(layer_names(doc))
    docker.reapply_btn.click()
    yield 0.3
    names = layer_names(doc)
    again = [n for n in doc.rootNode().childNodes() if n.name() == "Remove background (u2netp)"]
    r.check("Re-apply adds the result again as a new layer", len(names) == n_before + 1
            and len(again) == 2 and digest(again[0], W, H) == digest(again[1], W, H), names)

    # ------------------------------------------------------------------ Live mode, real strokes
    yield from _live(r, k, win, docker)

    # ------------------------------------------------------------------ generative, refined twice
    yield from _generative(r, k, win, docker)

    # ------------------------------------------------------------------ easeld not found
    docker.socket_edit.setText(os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "nobody", "none.sock"))
    docker.daemon_edit.setText("/nonexistent/easeld")
    docker._apply_settings()
    text = docker.status.text()
    r.check("easeld not found: the docker points at its own Daemon field and opens it",
            "Daemon" in text and "EASELD" not in text and "daemon_path" not in text
            and docker.daemon_box.isChecked() and docker.daemon_edit.isVisible(), text)
    shot = os.environ.get("EASEL_SCREENSHOT")
    if shot:
        yield 0.5
        img = docker.grab().toImage()
        img.save(os.path.splitext(shot)[0] + "-not-found.png", "PNG")

    # ------------------------------------------------------------------ other colour models
    cmyk = k.createDocument(64, 64, "cmyk", "CMYKA", "U8", "", 72.0)
    win.addView(cmyk)
    k.setActiveDocument(cmyk)
    cmyk.setBatchmode(True)
    yield 0.5
    docker.canvasChanged(None)
    before = doc_state(cmyk)
    docker.select_operation("invert")
    docker.run_btn.click()
    yield 0.3
    text = docker.status.text()
    r.check("CMYK document: a clear message, no job, no change", not docker.busy and "CMYK" in text
            and "Convert" in text and doc_state(cmyk) == before, text)
    cmyk.setModified(False)
    doc.setModified(False)


def canvas_widget(qwin):
    for w in qwin.findChildren(QWidget):
        if w.metaObject().className() in ("KisOpenGLCanvas2", "KisQPainterCanvas") and w.isVisible():
            return w
    return None


def xdo(*args):
    import subprocess
    return subprocess.Popen(["xdotool", *[str(a) for a in args]])


def stroke(qwin, points):
    """A real brush stroke: X pointer events through xdotool, along points (canvas widget
    coordinates)."""
    cw = canvas_widget(qwin)
    g = [cw.mapToGlobal(cw.rect().topLeft())]
    ox, oy = g[0].x(), g[0].y()
    args = ["mousemove", "--sync", ox + points[0][0], oy + points[0][1], "sleep", "0.1", "mousedown", "1"]
    for (x, y) in points[1:]:
        args += ["sleep", "0.03", "mousemove", "--sync", ox + x, oy + y]
    args += ["sleep", "0.1", "mouseup", "1", "sleep", "0.1", "mousemove", "5", "5"]
    return xdo(*args)


def node_alpha_bounds(node, W, H):
    a = bytes(node.pixelData(0, 0, W, H))[3::4]
    rows = [y for y in range(H) if a[y * W:(y + 1) * W].strip(b"\0")]
    if not rows:
        return None
    cols = [x for x in range(W) if any(a[y * W + x] for y in rows[::2])]
    return (min(cols), rows[0], max(cols) - min(cols) + 1, rows[-1] - rows[0] + 1) if cols else None


def _live(r, k, win, docker):
    from easel_krita import kritadoc
    qwin = win.qwindow()
    r.check("Live shortcuts come from easel_krita.action",
            k.action("easel_live") is not None and k.action("easel_live").shortcut().toString() == "Ctrl+Alt+L"
            and k.action("easel_live_apply").shortcut().toString() == "Ctrl+Alt+Return",
            k.action("easel_live") and k.action("easel_live").shortcut().toString())
    doc = k.openDocument(os.path.join(PHOTOS, "girl-1.jpg"))
    win.addView(doc)
    k.setActiveDocument(doc)
    doc.setBatchmode(True)
    yield 1.0
    docker.canvasChanged(None)
    W, H = doc.width(), doc.height()
    bg = doc.rootNode().childNodes()[0]
    doc.setActiveNode(bg)
    yield 0.3
    view = win.activeView()
    if view is not None and view.canvas() is not None:
        view.canvas().setZoomLevel(1.0)
    yield 0.5
    r.check("live: choose remove-object", docker.select_operation("remove-object"))
    set_param(docker, "seed", 77)
    names0 = layer_names(doc)
    docker.live_btn.click()
    ok = (yield Wait(lambda: docker.live is not None and doc.activeNode() is not None
                     and doc.activeNode().name() == "Easel mask", 5))
    r.check("Live adds the mask and preview layers and makes the mask active",
            ok and layer_names(doc) == names0 + ["Easel mask", "Easel preview"],
            (layer_names(doc), doc.activeNode() and doc.activeNode().name(), docker.status.text()))
    k.action("KritaShape/KisToolBrush").trigger()
    yield 0.5
    cw = canvas_widget(qwin)
    if not r.check("the canvas widget is there to paint on", cw is not None):
        return
    cx, cy = cw.width() // 2, cw.height() // 2
    live = docker.live
    # Stroke 1: a short horizontal scribble left of the centre.
    p = stroke(qwin, [(cx - 150 + 6 * i, cy - 40 + (i % 2) * 6) for i in range(12)])
    (yield Wait(lambda: p.poll() is not None, 20))
    t0 = time.monotonic()
    ok = (yield Wait(lambda: live.updates >= 1 and live.runner is None, 90))
    r.data["timings_ms"]["live: stroke end -> preview updated (1)"] = round((time.monotonic() - t0) * 1000)
    mask = doc.nodeByName("Easel mask")
    prev = doc.nodeByName("Easel preview")
    m1 = node_alpha_bounds(mask, W, H)
    r.check("a real brush stroke painted the mask layer", m1 is not None, docker.status.text())
    r.check("live: the preview updated after stroke 1", ok and live.jobs == 1 and live.painted,
            (live.jobs, live.updates, docker.status.text()))
    bgpx = bytes(bg.pixelData(0, 0, W, H))
    pv = bytes(prev.pixelData(0, 0, W, H))
    if m1 is not None:
        x, y, w, h = m1
        cxm, cym = x + w // 2, y + h // 2
        i = 4 * (cym * W + cxm)
        r.check("live: the preview under the stroke holds the filled pixels (opaque, changed)",
                pv[i + 3] == 255 and sum(abs(pv[i + c] - bgpx[i + c]) for c in range(3)) > 0,
                (pv[i:i + 4].hex(), bgpx[i:i + 4].hex()))
        pb = prev.bounds()
        r.check("live: only the changed region was run (preview bounds near the stroke)",
                pb.width() <= w + 2 * 8 + 2 and pb.height() <= h + 2 * 8 + 2,
                ((pb.x(), pb.y(), pb.width(), pb.height()), m1))
    first_region = bytes(prev.pixelData(*m1)) if m1 else b""
    # Stroke 2, away from the first: the preview changes in place there, the first region stays.
    p = stroke(qwin, [(cx + 100 + 6 * i, cy + 60 + (i % 2) * 6) for i in range(12)])
    (yield Wait(lambda: p.poll() is not None, 20))
    t0 = time.monotonic()
    ok = (yield Wait(lambda: live.updates >= 2 and live.runner is None, 90))
    r.data["timings_ms"]["live: stroke end -> preview updated (2)"] = round((time.monotonic() - t0) * 1000)
    prev = doc.nodeByName("Easel preview")
    r.check("live: the same preview layer updated in place after stroke 2",
            ok and live.jobs == 2 and layer_names(doc).count("Easel preview") == 1
            and prev.uniqueId().toString() == live.preview_uid, (live.jobs, layer_names(doc)))
    r.check("live: the first stroke's region is untouched by the second job",
            m1 is not None and bytes(prev.pixelData(*m1)) == first_region)
    shot = os.environ.get("EASEL_SCREENSHOT")
    if shot:
        yield 0.5
        img = qwin.grab().toImage()
        if img.width() > 1000:
            img = img.scaledToWidth(1000, Qt.TransformationMode.SmoothTransformation)
        img.save(os.path.splitext(shot)[0] + "-live.png", "PNG", 9)
    # Apply through its action (Ctrl+Alt+Return): one result layer, one undo step.
    preview_px = bytes(prev.pixelData(0, 0, W, H))
    k.action("easel_live_apply").trigger()
    ok = (yield Wait(lambda: docker.live is None, 10))
    names = layer_names(doc)
    res = doc.nodeByName("Remove object (live)")
    r.check("Apply: the preview becomes a result layer above the (hidden) mask",
            ok and names == names0 + ["Easel mask", "Remove object (live)"]
            and not doc.nodeByName("Easel mask").visible(), names)
    r.check("Apply: the result holds the preview's pixels",
            res is not None and bytes(res.pixelData(0, 0, W, H)) == preview_px)
    r.check("Apply: the history lists it", any(e["name"] == "Remove object (live)" for e in docker.history()))
    k.action("edit_undo").trigger()
    ok = (yield Wait(lambda: "Remove object (live)" not in layer_names(doc), 10))
    r.check("Apply is one undo step: undo removes the result, nothing else",
            ok and layer_names(doc) == names0 + ["Easel mask"], layer_names(doc))
    k.action("edit_redo").trigger()
    ok = (yield Wait(lambda: "Remove object (live)" in layer_names(doc), 10))
    yield 1.0
    r.check("redo brings the applied result back", ok and layer_names(doc) == names, layer_names(doc))
    # Discard: a new live session, one stroke, Discard removes the preview.
    doc.setActiveNode(bg)
    yield 0.3
    docker.live_btn.click()
    (yield Wait(lambda: docker.live is not None, 5))
    live2 = docker.live
    r.check("Live starts again", live2 is not None and "Easel preview" in layer_names(doc), layer_names(doc))
    if live2 is not None:
        docker.discard_btn.click()
        yield 0.5
        r.check("Discard removes the preview and leaves Live mode",
                docker.live is None and "Easel preview" not in layer_names(doc), layer_names(doc))
    # Save: the history goes into the .kra.
    kra = os.path.join(os.environ.get("EASEL_KRITA_WORK", "/tmp"), "live.kra")
    saved = doc.saveAs(kra)
    r.check("the document saves as .kra with the Easel history in it", saved and os.path.isfile(kra)
            and "easel/history" in list(doc.annotationTypes()), (saved, list(doc.annotationTypes())))
    r.data["kra"] = kra
    r.data["kra_result_digest"] = hashlib.sha1(preview_px).hexdigest()
    r.data["kra_history"] = [e["name"] for e in docker.history()]
    doc.setModified(False)
    yield 0.3


# ---------------------------------------------------------------------------------------------
# Generative edits against the test's local Gemini server (tests/generative/fake_gemini.py,
# started by run.sh; the daemon the docker started reads ~/.config/easel/generative.toml).
GEN_PALETTE = [(220, 40, 30, 255), (30, 200, 60, 255), (40, 60, 220, 255)]


def gen_requests():
    path = os.environ.get("EASEL_GEN_LOG") or ""
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


def rgba_at(node, x, y):
    """(R, G, B, A) of one pixel of an RGBA/U8 layer (Krita gives BGRA)."""
    b, g, rr, a = bytes(node.pixelData(x, y, 1, 1))
    return (rr, g, b, a)


def close_to(got, want, tol=2):
    return got is not None and want is not None and len(got) == len(want) \
        and all(abs(int(a) - int(b)) <= tol for a, b in zip(got, want))


def node_named(doc, name):
    return next((n for n in doc.rootNode().childNodes() if n.name() == name), None)


def _generative(r, k, win, docker):
    from easel_krita.docker import REGION_SELECTION, SOURCE_LAYER
    from easel_krita.qt import QLabel, QLineEdit, QPlainTextEdit
    key = os.environ.get("EASEL_GEN_KEY") or ""
    if not r.check("generative: run.sh started the local Gemini server and configured it",
                   key and os.environ.get("EASEL_GEN_LOG"), os.environ.get("EASEL_GEN_LOG")):
        return
    W, H = 240, 160
    doc = k.createDocument(W, H, "generative", "RGBA", "U8", "", 72.0)
    win.addView(doc)
    k.setActiveDocument(doc)
    doc.setBatchmode(True)
    yield 0.5
    docker.canvasChanged(None)
    bg = [n for n in doc.rootNode().childNodes() if n.type() == "paintlayer"][0]
    # A gradient photo stand-in: R = x, G = y, B = 90 (Krita's byte order is BGRA).
    bg.setPixelData(bytes(b for y in range(H) for x in range(W) for b in (90, y, x, 255)),
                    0, 0, W, H)
    char = doc.createNode("Character", "paintlayer")
    doc.rootNode().addChildNode(char, None)
    char.setPixelData(bytes((0, 200, 250, 255)) * (40 * 40), 10, 10, 40, 40)  # RGB 250,200,0
    char.setVisible(False)
    doc.refreshProjection()
    doc.setActiveNode(bg)
    yield 0.5
    original = {(x, y): (x, y, 90, 255) for x, y in ((40, 5), (130, 80), (200, 150))}
    r.check("generative: the test layer holds the gradient", all(
        rgba_at(bg, x, y) == v for (x, y), v in original.items()),
        [rgba_at(bg, x, y) for x, y in original])
    sx, sy, sw, sh = 100, 60, 60, 40
    sel = Selection()
    sel.select(sx, sy, sw, sh, 255)
    doc.setSelection(sel)
    yield 0.3

    r.check("generative: Edit selection from a prompt is listed under Generative",
            docker.select_operation("generative-edit")
            and docker.current_operation_id() == "generative-edit",
            [docker.op_combo.itemText(i) for i in range(docker.op_combo.count())])
    yield 0.3  # the new form is shown from the event loop
    box = docker.form.findChild(QPlainTextEdit, "easel_param_prompt")
    labels_shown = [w.text() for w in docker.form.findChildren(QLabel) if w.isVisibleTo(docker.form)]
    r.check("generative: the Text parameter 'prompt' is a text box in the docker, labelled Prompt",
            box is not None and box.isVisibleTo(docker) and "Prompt" in labels_shown,
            labels_shown)
    r.check("generative: the conversation is the docker's to fill (no widget for it)",
            docker.form.findChild(QPlainTextEdit, "easel_param_conversation") is None
            and docker.form.findChild(QLineEdit, "easel_param_conversation") is None
            and "conversation" not in docker.form.values(), docker.form.values())
    r.check("generative: the seed has its spin box", docker.form.findChild(QSpinBox, "easel_param_seed")
            is not None)
    r.check("generative: the reference layers list is shown", docker.refs_box.isVisibleTo(docker))
    docker.refresh_references()
    r.check("generative: tick the Character layer as a reference",
            docker.set_reference_checked("Character"))
    choose(docker.source_combo, SOURCE_LAYER)
    choose(docker.region_combo, REGION_SELECTION)
    if box is None:
        return
    box.setFocus()
    box.setPlainText("")
    box.insertPlainText("give her a red hat")  # as typed: through the widget's own editing
    r.check("generative: the prompt typed is the form's value",
            docker.form.values().get("prompt") == "give her a red hat", docker.form.values())
    doc.setActiveNode(bg)  # Krita activates a layer added by a script later: the gradient again
    (yield Wait(lambda: doc.activeNode() is not None and doc.activeNode().name() == bg.name(), 5))
    yield 0.3
    doc.setActiveNode(bg)
    r.check("generative: the gradient layer is the active one", doc.activeNode() is not None
            and doc.activeNode().name() == bg.name(), doc.activeNode() and doc.activeNode().name())
    sent_before = len(gen_requests())

    def run_turn(label, click, palette_i, layer_name):
        before = doc_state(doc)
        names0 = layer_names(doc)
        click()
        r.check(f"generative {label}: a job started", docker.busy, docker.status.text())
        done = (yield Wait(lambda: not docker.busy, 90))
        r.check(f"generative {label}: finished with no error", done and not docker.last_error,
                docker.status.text())
        names = layer_names(doc)
        node = node_named(doc, layer_name)
        r.check(f"generative {label}: one new layer \u201c{layer_name}\u201d",
                len(names) == len(names0) + 1 and node is not None, names)
        if node is None:
            return None
        # The crop: the selection plus 64 px of context, inside the canvas.
        cx0, cy0 = max(0, sx - 64), max(0, sy - 64)
        cx1, cy1 = min(W, sx + sw + 64), min(H, sy + sh + 64)
        b = node.bounds()
        r.check(f"generative {label}: the layer covers the crop (selection + 64 px context)",
                (b.x(), b.y(), b.width(), b.height()) == (cx0, cy0, cx1 - cx0, cy1 - cy0),
                (b.x(), b.y(), b.width(), b.height()))
        inside = [rgba_at(node, x, y) for x, y in ((sx + 2, sy + 2), (130, 80), (sx + sw - 3, sy + sh - 3))]
        r.check(f"generative {label}: inside the selection, the service's answer "
                f"{GEN_PALETTE[palette_i]}", all(close_to(p, GEN_PALETTE[palette_i]) for p in inside),
                inside)
        out = [(rgba_at(node, x, y), (x, y, 90, 255)) for x, y in ((40, 5), (sx - 5, sy + 10), (200, 150))]
        r.check(f"generative {label}: outside the selection, the layer holds the original "
                "pixels (composited through the mask)", all(close_to(g, w) for g, w in out), out)
        r.check(f"generative {label}: outside the crop the layer is empty",
                rgba_at(node, 10, 150)[3] == 0, rgba_at(node, 10, 150))
        r.check(f"generative {label}: the source layer is unchanged",
                [s for s in doc_state(doc) if s[0] == bg.name()]
                == [s for s in before if s[0] == bg.name()])
        return node

    # ------------------------------------------------------------------ turn 1
    node1 = yield from run_turn("turn 1", docker.run_btn.click, 0, "Edit selection from a prompt")
    reqs = gen_requests()[sent_before:]
    r.check("generative turn 1: one request reached the service", len(reqs) == 1, len(reqs))
    crop_size = (min(W, sx + sw + 64) - max(0, sx - 64), min(H, sy + sh + 64) - max(0, sy - 64))
    if reqs:
        q = reqs[0]
        r.check("generative turn 1: POST .../models/gemini-2.5-flash-image:generateContent",
                q["path"] == "/v1beta/models/gemini-2.5-flash-image:generateContent", q["path"])
        r.check("generative turn 1: the key only in its header (not in the URL or the body)",
                q["key_in_header"] and not q["key_in_url"] and not q["key_in_body"], q)
        turns = q.get("turns") or []
        imgs = turns[0]["images"] if turns else []
        r.check("generative turn 1: one user turn with the prompt",
                len(turns) == 1 and turns[0]["role"] == "user"
                and "give her a red hat" in turns[0]["texts"][0], turns and turns[0]["texts"])
        r.check("generative turn 1: the crop, the mask and the character, as PNG inlineData",
                len(imgs) == 3 and all(i.get("mimeType") == "image/png" for i in imgs), imgs)
        if len(imgs) == 3:
            r.check("generative turn 1: the crop as sent is the layer's pixels there",
                    (imgs[0].get("width"), imgs[0].get("height")) == crop_size
                    and close_to(imgs[0].get("corner"), (max(0, sx - 64) + 1, max(0, sy - 64) + 1, 90, 255)),
                    (imgs[0], crop_size))
            r.check("generative turn 1: the mask is white in the selection",
                    imgs[1].get("center") == [255, 255, 255, 255] and imgs[1].get("corner")[:3] == [0, 0, 0],
                    imgs[1])
            r.check("generative turn 1: the reference is the Character layer (its 40x40 square "
                    "at 10,10 on the canvas, its colour)",
                    imgs[2].get("opaque_box") == [10, 10, 40, 40]
                    and close_to(imgs[2].get("opaque_color"), (250, 200, 0, 255)), imgs[2])
        r.check("generative turn 1: a seed sent in generationConfig",
                isinstance((q.get("generationConfig") or {}).get("seed"), int), q.get("generationConfig"))
    hist = docker.history()
    r.check("generative turn 1: the history keeps its prompt",
            hist and hist[-1]["op"] == "generative-edit"
            and hist[-1]["params"].get("prompt") == "give her a red hat",
            hist and hist[-1].get("params"))
    if node1 is None:
        return

    # ------------------------------------------------------------------ turn 2: Refine
    docker.history_list.setCurrentRow(docker.history_list.count() - 1)
    box = docker.form.findChild(QPlainTextEdit, "easel_param_prompt")
    box.setPlainText("make the hat green")
    doc.setActiveNode(char)  # Refine works on the layer of the turn it refines, not the active one
    yield 0.3
    sent_before = len(gen_requests())
    node2 = yield from run_turn("turn 2 (Refine)", docker.refine_btn.click, 1,
                                "Edit selection from a prompt (turn 2)")
    reqs = gen_requests()[sent_before:]
    r.check("generative turn 2: one request", len(reqs) == 1, len(reqs))
    if reqs:
        turns = reqs[0].get("turns") or []
        r.check("generative turn 2: user, model (the last result), user",
                [t["role"] for t in turns] == ["user", "model", "user"], [t["role"] for t in turns])
        if len(turns) == 3:
            r.check("generative turn 2: the first user turn names the earlier prompt",
                    "give her a red hat" in turns[0]["texts"][0], turns[0]["texts"])
            r.check("generative turn 2: ...with the crop, mask and the same character",
                    len(turns[0]["images"]) == 3
                    and turns[0]["images"][2].get("opaque_box") == [10, 10, 40, 40]
                    and close_to(turns[0]["images"][2].get("opaque_color"), (250, 200, 0, 255)),
                    turns[0]["images"])
            prior = turns[1]["images"]
            r.check("generative turn 2: the model turn holds turn 1's result (its colour, the crop's size)",
                    len(prior) == 1 and close_to(prior[0].get("center"), GEN_PALETTE[0])
                    and (prior[0].get("width"), prior[0].get("height")) == crop_size, prior)
            r.check("generative turn 2: the last user turn is the new instruction",
                    turns[2]["texts"] == ["make the hat green"], turns[2]["texts"])
    if node2 is None:
        return

    # ------------------------------------------------------------------ turn 3: Refine again
    docker.history_list.setCurrentRow(docker.history_list.count() - 1)
    docker.form.findChild(QPlainTextEdit, "easel_param_prompt").setPlainText("add a blue feather")
    sent_before = len(gen_requests())
    yield from run_turn("turn 3 (Refine)", docker.refine_btn.click, 2,
                        "Edit selection from a prompt (turn 3)")
    reqs = gen_requests()[sent_before:]
    if r.check("generative turn 3: one request", len(reqs) == 1, len(reqs)):
        turns = reqs[0].get("turns") or []
        r.check("generative turn 3: both earlier prompts, turn 2's result, the new prompt",
                len(turns) == 3
                and "give her a red hat\nThen: make the hat green" in turns[0]["texts"][0]
                and close_to(turns[1]["images"][0].get("center"), GEN_PALETTE[1])
                and turns[2]["texts"] == ["add a blue feather"],
                turns)
    hist = docker.history()
    last = docker.history_list.item(docker.history_list.count() - 1)
    r.check("generative: the history shows the turns (three entries, the last one's turns in order)",
            [e["name"] for e in hist[-3:]] == ["Edit selection from a prompt",
                                              "Edit selection from a prompt (turn 2)",
                                              "Edit selection from a prompt (turn 3)"]
            and last is not None and last.toolTip().split("\n") == [
                "Turn 1: give her a red hat", "Turn 2: make the hat green",
                "Turn 3: add a blue feather"]
            and "add a blue feather" in last.text(),
            ([e["name"] for e in hist], last and last.toolTip()))
    r.check("generative: turn 3 was sent the conversation of turns 1 and 2",
            hist and hist[-1]["params"].get("conversation") == "give her a red hat\nmake the hat green",
            hist and hist[-1]["params"])

    # ------------------------------------------------------------------ the service's refusal
    docker.history_list.setCurrentRow(docker.history_list.count() - 1)
    docker.form.findChild(QPlainTextEdit, "easel_param_prompt").setPlainText("QUOTA-TEST a hat")
    before = doc_state(doc)
    docker.run_btn.click()
    done = (yield Wait(lambda: not docker.busy, 60))
    text = docker.status.text()
    r.check("generative: a quota error comes back in the service's words, document unchanged",
            done and docker.last_error and "429" in text and "Resource has been exhausted" in text
            and doc_state(doc) == before, text)
    statuses = [text] + [docker.history_list.item(i).toolTip() for i in range(docker.history_list.count())]
    try:
        from easel_krita.logfile import log_path
        with open(log_path(), errors="replace") as f:
            statuses.append(f.read())
    except OSError as e:
        statuses.append(f"(no log: {e})")
    r.check("generative: the API key is nowhere in the docker, the history or the adapter's log",
            key and not any(key in s for s in statuses))
    doc.setModified(False)
    yield 0.3
