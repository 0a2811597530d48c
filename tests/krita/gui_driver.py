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
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QComboBox, QDoubleSpinBox, QScrollBar, QSpinBox

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

    win = k.activeWindow()
    r.check("Krita main window exists", win is not None)
    docker = find_docker()
    if not r.check("Easel docker found through Krita.instance().dockers()", docker is not None,
                   [d.objectName() for d in k.dockers()]):
        return
    qwin = win.qwindow()
    qwin.resize(1280, 1000)
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
            not ok and "Cannot use the Easel daemon" in docker.status.text()
            and "/nonexistent/easeld" in docker.status.text() and not docker.run_btn.isEnabled(),
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
    choose(docker.source_combo, SOURCE_VISIBLE)
    choose(docker.region_combo, REGION_SELECTION)  # nothing selected: the whole image
    before = doc_state(doc)
    t0 = time.monotonic()
    docker.run_btn.click()
    r.check("Run started a job (Cancel enabled, Run disabled)", docker.busy
            and docker.cancel_btn.isEnabled() and not docker.run_btn.isEnabled(), docker.status.text())
    r.check("document untouched while the job runs", doc_state(doc) == before)
    progress_seen = set()
    done = (yield Wait(lambda: not docker.busy, 180,
                    on_tick=lambda: progress_seen.add(docker.progress.value())))
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

    # One undo step: undo removes the whole result, redo brings it back.
    after = doc_state(doc)
    k.action("edit_undo").trigger()
    (yield Wait(lambda: len(layer_names(doc)) == 1, 10))
    doc.waitForDone()
    r.check("one undo removes the result layer and nothing else", doc_state(doc) == before,
            layer_names(doc))
    k.action("edit_redo").trigger()
    (yield Wait(lambda: len(layer_names(doc)) == 2, 10))
    doc.waitForDone()
    r.check("redo brings it back, pixels and all", doc_state(doc) == after, layer_names(doc))

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
    r.check("painted-mask result added above the photo (the mask layer is not the source)",
            len(names) == n_before + 1 and names[1].startswith("Invert"), names)
    inv = doc.rootNode().childNodes()[1]
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
    r.check("the mask layer is visible again after the read", scrib.visible())
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
