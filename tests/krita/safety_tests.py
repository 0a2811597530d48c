"""Data safety of the Krita adapter in the real Krita GUI (under Xvfb, through the plug-in's test
hook: EASEL_KRITA_TEST=results.json, EASEL_KRITA_TEST_DRIVER=this file), driving the Easel
docker's own widgets while the daemon or the document changes under a running job.

Cases: the daemon killed mid-job (and Cancel pressed at once after: a request sent to a dead
daemon must not end Krita by SIGPIPE); restarted between jobs and mid-job (by someone else:
stopped and started again on the same socket); its socket removed mid-job and between jobs; the
document closed before the result arrives; the canvas resized or the image scaled, and the
source layer deleted, while the job runs; another document made active meanwhile (the result
goes to its own document). In each: the document is unchanged (its layers and their pixels; no
new or partial layer; where the test changed the document itself, one undo takes back exactly
that change, so Easel pushed no undo step), the docker says what happened and what to do, and
the next job works (an invert whose layer is checked pixel by pixel, removed again by one undo).

Writes {"checks": [...], "timings_ms": {...}, "daemon_pids": [...], "cases": N}.
"""

import hashlib
import json
import os
import signal
import sys
import time
import traceback

from krita import Krita

SLOW_MS = 3000  # test-echo's sleep: long enough to act while it runs


class Results:
    def __init__(self, path):
        self.path = path
        self.data = {"suite": "krita-safety", "checks": [], "timings_ms": {}, "daemon_pids": [],
                     "cases": 0}

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
    """Yielded to the test hook: resumed once ``cond()`` holds or ``timeout`` s have passed."""

    def __init__(self, cond, timeout, on_tick=None):
        self.cond, self.timeout, self.on_tick = cond, timeout, on_tick


def layers(doc):
    """The top-level layers, bottom first (not masks)."""
    return [n for n in doc.rootNode().childNodes() if not n.type().endswith("mask")]


def doc_state(doc):
    """What must not change when a result is dropped: the canvas size, the layers, their pixels."""
    w, h = doc.width(), doc.height()
    return {"size": (w, h),
            "layers": [(n.name(), n.visible(),
                        hashlib.sha1(bytes(n.pixelData(0, 0, w, h))).hexdigest())
                       for n in layers(doc)]}


def started():
    from easel_krita.easel_client import daemon as d
    return list(d._started)


def alive(p):
    return p.poll() is None


def run(results_path):
    r = Results(results_path)
    k = Krita.instance()
    t0 = time.monotonic()
    try:
        yield from _run(r, k)
    except Exception:  # noqa: BLE001
        r.check("safety driver ran to the end", False, traceback.format_exc())
    finally:
        r.data["timings_ms"]["all safety cases"] = round((time.monotonic() - t0) * 1000)
        r.data["daemon_pids"] = [p.pid for p in started()]
        _stop_daemons()
        r.save()


def _stop_daemons():
    from easel_krita import find_docker
    docker = find_docker()
    if docker is not None and docker.client is not None:
        docker.client.close()
    for p in started():  # only daemons this Krita started (their Popen), by pid
        if alive(p):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except Exception:  # noqa: BLE001
                p.kill()
                p.wait(5)


def _run(r, k):
    from easel_krita import find_docker
    from easel_krita.docker import REGION_ALL, SOURCE_LAYER
    from easel_krita.easel_client import Client
    from easel_krita.easel_client import daemon as client_daemon
    from easel_krita.jobs import Settings

    win = k.activeWindow()
    docker = find_docker()
    if not r.check("Easel docker found", win is not None and docker is not None):
        return
    settings = Settings.load()
    sock = settings.socket_path
    docker.show()
    docker.raise_()
    (yield Wait(lambda: docker.client is not None or docker.last_error, 30))
    r.check("the docker started the daemon and connected", docker.client is not None
            and len(started()) == 1, docker.last_status)

    def new_doc(name, w=160, h=120, extra_layer=None):
        doc = k.createDocument(w, h, name, "RGBA", "U8", "", 72.0)
        win.addView(doc)
        k.setActiveDocument(doc)
        doc.setBatchmode(True)
        bg = [n for n in doc.rootNode().childNodes() if n.type() == "paintlayer"][0]
        seed = sum(map(ord, name))
        bg.setPixelData(bytes(b for y in range(h) for x in range(w)
                              for b in ((x * 3 + seed) % 256, (y * 5) % 256, (x + y) % 256, 255)),
                        0, 0, w, h)
        work = bg
        if extra_layer:
            work = doc.createNode(extra_layer, "paintlayer")
            doc.rootNode().addChildNode(work, bg)
            work.setPixelData(bytes((30, 60, 200, 255)) * (40 * 30), 20, 20, 40, 30)
        doc.refreshProjection()
        doc.setActiveNode(work)
        return doc, work

    def activate(doc, node):
        # Krita.setActiveDocument does not switch views: show the document's own view.
        from easel_krita.docker import document_key
        for v in win.views():
            if v.document() is not None and document_key(v.document()) == document_key(doc):
                win.showView(v)
                v.setVisible()
                break
        k.setActiveDocument(doc)
        docker.canvasChanged(None)
        doc.setActiveNode(node)
        act = k.activeDocument()
        r.check(f"(the document {doc.name()} is the active one)", act is not None
                and document_key(act) == document_key(doc), act and act.name())

    def set_param(name, value):
        from easel_krita.qt import QDoubleSpinBox, QSpinBox
        w = docker.form.findChild(QSpinBox, f"easel_param_{name}") or \
            docker.form.findChild(QDoubleSpinBox, f"easel_param_{name}")
        if w is None:
            return False
        w.setValue(value)
        return w.value() == value

    def start_slow(case, doc, node):
        """Clicks Run on the slow test-echo; returns once it runs (progress shown)."""
        activate(doc, node)
        yield 0.3
        ok = docker.select_operation("test-echo") and set_param("sleep_ms", SLOW_MS)
        docker.source_combo.setCurrentIndex(docker.source_combo.findData(SOURCE_LAYER))
        docker.region_combo.setCurrentIndex(docker.region_combo.findData(REGION_ALL))
        docker.run_btn.click()
        running = (yield Wait(lambda: docker.progress.value() > 0, 10))
        r.check(f"{case}: the slow job runs", ok and docker.busy and running, docker.status.text())

    def finished(case, timeout=20):
        t = time.monotonic()
        done = (yield Wait(lambda: not docker.busy, timeout))
        r.data["timings_ms"][f"{case}: the action -> the docker idle"] = \
            round((time.monotonic() - t) * 1000)
        yield 0.3
        r.check(f"{case}: the job ends (the docker is idle again)", done, docker.status.text())

    def message(case, words):
        text = docker.status.text()
        low = text.lower()
        return r.check(f"{case}: the docker says what happened and what to do (in red)",
                       docker.last_error == text and all(w.lower() in low for w in words), text)

    def next_job_works(case, doc, node, expect_new_daemon=False):
        """Invert on ``node`` through the docker: one new layer, exactly inverted; then one undo
        takes it away again."""
        n_started = len(started())
        activate(doc, node)
        yield 0.3
        ok = docker.select_operation("invert") and set_param("amount", 1.0)
        docker.source_combo.setCurrentIndex(docker.source_combo.findData(SOURCE_LAYER))
        docker.region_combo.setCurrentIndex(docker.region_combo.findData(REGION_ALL))
        before = doc_state(doc)
        w, h = doc.width(), doc.height()
        src = bytes(node.pixelData(0, 0, w, h))
        t = time.monotonic()
        clicked = docker.run()
        done = (yield Wait(lambda: not docker.busy, 60))
        r.data["timings_ms"][f"{case}: the next job"] = round((time.monotonic() - t) * 1000)
        r.check(f"{case}: the next job runs and adds its layer", ok and clicked and done
                and docker.status.text().startswith("Added") and len(layers(doc))
                == len(before["layers"]) + 1, docker.status.text())
        new = next((n for n in layers(doc) if n.name().startswith("Invert")), None)
        if new is not None:
            out = bytes(new.pixelData(0, 0, w, h))
            bad = sum(1 for i in range(len(src)) if src[i + 3 - i % 4] and out[i] != (
                src[i] if i % 4 == 3 else 255 - src[i]))
            r.check(f"{case}: the next job's layer holds the inverted pixels", bad == 0,
                    f"{bad} bytes differ")
        new_daemons = len(started()) - n_started
        r.check(f"{case}: " + ("the docker started the daemon again" if expect_new_daemon
                               else "the docker used the running daemon (started none)"),
                new_daemons == (1 if expect_new_daemon else 0), new_daemons)
        k.action("edit_undo").trigger()
        # (A result that hid its source shows it again once the docker sees the undo.)
        undone = (yield Wait(lambda: doc_state(doc) == before, 10))
        doc.waitForDone()
        r.check(f"{case}: one undo removes the next job's layer whole",
                undone and doc_state(doc) == before, [n.name() for n in layers(doc)])

    def undo_takes_back(case, doc, what, cond):
        """One undo reverts the test's own change: Easel pushed no step after it."""
        k.action("edit_undo").trigger()
        ok = (yield Wait(cond, 10))
        doc.waitForDone()
        r.check(f"{case}: one undo takes back the {what} (no Easel step after it)", ok,
                (doc.width(), doc.height(), [n.name() for n in layers(doc)]))

    def case(name):
        r.data["cases"] += 1
        return name

    # ------------------------------------------------------------------ daemon killed mid-job
    c = case("daemon killed mid-job")
    doc, bg = new_doc("safety-kill")
    yield 0.5
    before = doc_state(doc)
    yield from start_slow(c, doc, bg)
    pid = started()[-1].pid
    os.kill(pid, signal.SIGKILL)  # the daemon this Krita started (its Popen)
    yield from finished(c)
    message(c, ["daemon stopped while working", "document was not changed", "run again"])
    r.check(f"{c}: the document is unchanged", doc_state(doc) == before, doc_state(doc))
    yield from next_job_works(c, doc, bg, expect_new_daemon=True)

    # ------------------------------------------------------------------ killed, then Cancel
    c = case("daemon killed mid-job, then Cancel at once")
    before = doc_state(doc)
    yield from start_slow(c, doc, bg)
    p = started()[-1]
    os.kill(p.pid, signal.SIGKILL)
    p.wait(10)  # gone before the docker's timer can notice: Cancel is the first to send
    sentinel = len(r.data["checks"])
    r.check(f"{c}: Krita survives Cancel sent to the dead daemon", False,
            "Krita ended while sending the cancel (SIGPIPE)")
    docker.cancel_btn.click()
    r.data["checks"][sentinel]["ok"] = True
    r.data["checks"][sentinel]["detail"] = docker.status.text()
    r.save()
    yield from finished(c)
    message(c, ["daemon stopped while working", "document was not changed", "run again"])
    r.check(f"{c}: the document is unchanged", doc_state(doc) == before, doc_state(doc))
    yield from next_job_works(c, doc, bg, expect_new_daemon=True)

    # ------------------------------------------------------------------ restarted between jobs
    c = case("daemon restarted between jobs")
    probe = Client.connect(sock, autostart=False)  # a connection that sends after its daemon left
    with Client.connect(sock, autostart=False) as other:
        other.shutdown(timeout=10)
    old = started()[-1]
    for _ in range(100):
        if not alive(old):
            break
        yield 0.05
    client_daemon.start_daemon(sock, settings.daemon_path, 30,
                               ("--config", settings.daemon_config)).close()
    r.check(f"{c}: another daemon runs on the socket", not alive(old) and alive(started()[-1]),
            [p.pid for p in started()])
    # Sending on a connection whose daemon is gone is an error, not a SIGPIPE that ends Krita
    # (its embedded Python does not ignore SIGPIPE). Marked failed first: if Krita dies here,
    # the mark stays.
    sentinel = len(r.data["checks"])
    r.check(f"{c}: Krita survives a request sent to a daemon gone since the last read", False,
            "Krita ended while sending (SIGPIPE)")
    try:
        probe.status()
        outcome = "answered"
    except Exception as e:  # noqa: BLE001
        outcome = f"{type(e).__name__}: {e}"
    probe.close()
    r.data["checks"][sentinel]["ok"] = outcome.startswith(("DaemonUnavailable",
                                                            "ConnectionClosed"))
    r.data["checks"][sentinel]["detail"] = outcome
    r.save()
    before = doc_state(doc)
    yield from next_job_works(c, doc, bg)
    r.check(f"{c}: the document is unchanged after it", doc_state(doc) == before)

    # ------------------------------------------------------------------ restarted mid-job
    c = case("daemon restarted mid-job")
    before = doc_state(doc)
    yield from start_slow(c, doc, bg)
    old = started()[-1]
    os.kill(old.pid, signal.SIGKILL)
    old.wait(5)
    client_daemon.start_daemon(sock, settings.daemon_path, 30,
                               ("--config", settings.daemon_config)).close()
    yield from finished(c)
    message(c, ["daemon stopped while working", "document was not changed", "run again"])
    r.check(f"{c}: the document is unchanged", doc_state(doc) == before, doc_state(doc))
    yield from next_job_works(c, doc, bg)

    # ------------------------------------------------------------------ socket removed
    c = case("socket removed mid-job")
    before = doc_state(doc)
    yield from start_slow(c, doc, bg)
    os.unlink(sock)
    yield from finished(c)
    # The docker's connection outlives the socket file: the job's result arrives and is added.
    text = docker.status.text()
    echo = next((n for n in layers(doc) if n.name() not in [s[0] for s in before["layers"]]),
                None)
    w, h = doc.width(), doc.height()
    r.check(f"{c}: the running job completes and adds its one layer, exactly the source",
            text.startswith("Added") and len(layers(doc)) == len(before["layers"]) + 1
            and echo is not None and bytes(echo.pixelData(0, 0, w, h))
            == bytes(bg.pixelData(0, 0, w, h)), (text, [n.name() for n in layers(doc)]))
    k.action("edit_undo").trigger()
    (yield Wait(lambda: len(layers(doc)) == len(before["layers"]), 10))
    doc.waitForDone()
    r.check(f"{c}: one undo removes it whole", doc_state(doc) == before)
    c = case("socket removed between jobs")
    r.check(f"{c}: the socket is gone, its daemon still runs", not os.path.exists(sock)
            and alive(started()[-1]))
    yield from next_job_works(c, doc, bg)  # on the docker's open connection
    n0 = len(started())
    ok = docker.connect_daemon()  # Reconnect: nothing listens at the path any more
    r.check(f"{c}: Reconnect starts a daemon on a new socket", ok and len(started()) == n0 + 1
            and os.path.exists(sock), docker.status.text())
    yield from next_job_works(c + ", after Reconnect", doc, bg)
    stray = started()[n0 - 1]  # the daemon whose socket was removed: nobody can reach it now
    if alive(stray):
        stray.send_signal(signal.SIGTERM)
        stray.wait(10)

    # ------------------------------------------------------------------ document closed
    c = case("document closed mid-job")
    doomed, dbg = new_doc("safety-closed")
    yield 0.5
    activate(doc, bg)
    yield 0.3
    before = doc_state(doc)
    n_docs = len(k.documents())
    yield from start_slow(c, doomed, dbg)
    doomed.setModified(False)
    doomed.close()
    yield 0.3
    activate(doc, bg)
    yield from finished(c)
    message(c, ["after its document was closed", "dropped", "no other document was changed",
                "run it"])
    r.check(f"{c}: the document is gone, no document added", len(k.documents()) == n_docs - 1,
            [d.name() for d in k.documents()])
    r.check(f"{c}: the other open document is unchanged", doc_state(doc) == before,
            doc_state(doc))
    yield from next_job_works(c, doc, bg)

    # ------------------------------------------------------------------ canvas resized
    c = case("canvas resized mid-job")
    W0, H0 = doc.width(), doc.height()
    yield from start_slow(c, doc, bg)
    doc.resizeImage(0, 0, W0 + 24, H0 + 16)
    doc.waitForDone()
    resized = doc_state(doc)
    yield from finished(c)
    message(c, ["image was resized", "dropped", "document was not changed", "run it again"])
    r.check(f"{c}: the document is as the user left it (new size, no new or partial layer)",
            doc_state(doc) == resized and resized["size"] == (W0 + 24, H0 + 16)
            and len(resized["layers"]) == len(before["layers"]), doc_state(doc))
    yield from undo_takes_back(c, doc, "resize", lambda: (doc.width(), doc.height()) == (W0, H0))
    r.check(f"{c}: ...back to the document as it was", doc_state(doc) == before)
    yield from next_job_works(c, doc, bg)

    # ------------------------------------------------------------------ image scaled
    c = case("image scaled mid-job")
    before = doc_state(doc)
    yield from start_slow(c, doc, bg)
    doc.scaleImage(W0 // 2, H0 // 2, 72, 72, "Bicubic")
    doc.waitForDone()
    scaled = doc_state(doc)
    yield from finished(c)
    message(c, ["image was resized", "dropped", "document was not changed", "run it again"])
    r.check(f"{c}: the document is as the user left it (scaled, no new or partial layer)",
            doc_state(doc) == scaled and scaled["size"] == (W0 // 2, H0 // 2)
            and len(scaled["layers"]) == len(before["layers"]), doc_state(doc))
    yield from undo_takes_back(c, doc, "scale", lambda: (doc.width(), doc.height()) == (W0, H0))
    r.check(f"{c}: ...back to the document as it was", doc_state(doc) == before)

    # ------------------------------------------------------------------ another document active
    c = case("another document active when the result arrives")
    other, obg = new_doc("safety-other")
    yield 0.5
    other_before = doc_state(other)
    before = doc_state(doc)
    yield from start_slow(c, doc, bg)
    activate(other, obg)  # the user switches to another document while the job runs
    yield from finished(c)
    added = [n for n in layers(doc) if n.name() not in [x[0] for x in before["layers"]]]
    r.check(f"{c}: the result goes into its own document, one layer, exactly the source",
            docker.status.text().startswith("Added") and len(added) == 1
            and len(layers(doc)) == len(before["layers"]) + 1
            and bytes(added[0].pixelData(0, 0, doc.width(), doc.height()))
            == bytes(bg.pixelData(0, 0, doc.width(), doc.height())),
            (docker.status.text(), [n.name() for n in layers(doc)]))
    r.check(f"{c}: the active document is unchanged", doc_state(other) == other_before,
            doc_state(other))
    if added:
        added[0].remove()
        doc.waitForDone()
    other.setModified(False)
    other.close()
    yield 0.3
    activate(doc, bg)
    yield 0.3

    # ------------------------------------------------------------------ layer deleted
    c = case("source layer deleted mid-job")
    ldoc, work = new_doc("safety-layer", extra_layer="Work")
    yield 0.5
    before = doc_state(ldoc)
    yield from start_slow(c, ldoc, work)
    # As a user does it: Layer > Delete Layer on the active layer (the job's source).
    remove = k.action("remove_layer")
    r.check(f"{c}: Krita's Delete Layer action exists", remove is not None)
    remove.trigger()
    (yield Wait(lambda: ldoc.nodeByName("Work") is None, 5))
    ldoc.waitForDone()
    deleted = doc_state(ldoc)
    yield from finished(c)
    message(c, ["\u201cWork\u201d was deleted", "dropped", "document was not changed",
                "run it again"])
    r.check(f"{c}: the document is as the user left it (no new or partial layer)",
            doc_state(ldoc) == deleted and len(deleted["layers"]) == len(before["layers"]) - 1,
            doc_state(ldoc))
    yield from undo_takes_back(c, ldoc, "deletion",
                               lambda: [n.name() for n in layers(ldoc)] ==
                               [s[0] for s in before["layers"]])
    r.check(f"{c}: ...back to the document as it was", doc_state(ldoc) == before,
            doc_state(ldoc))
    work = ldoc.nodeByName("Work")
    if r.check(f"{c}: the layer is back", work is not None):
        yield from next_job_works(c, ldoc, work)

    for d in list(k.documents()):
        d.setModified(False)
