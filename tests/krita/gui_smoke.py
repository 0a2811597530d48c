"""GUI test driver for a second Krita version (Krita 5.2 in the Debian 13 chroot, run by
tests/krita/run.sh): the core of gui_driver.py's scenario against a daemon that runs outside the
chroot (only its socket is shared), through the plug-in's test hook (EASEL_KRITA_TEST=results.json,
EASEL_KRITA_TEST_DRIVER=this file).

The docker connects to the running daemon (starting none), runs Remove background on a real photo
through its own widgets, and the result layer must be in the document with the cutout's pixels,
above the untouched photo; one undo takes it back, redo restores it; the .kra saved with the
history, closed and opened again, gives the history back. EASEL_KRITA_EXPECT_VERSION (e.g. "5.2")
is checked against Krita's own version.
"""

import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from krita import Krita  # noqa: E402
from gui_driver import PHOTOS, Results, Wait, choose, doc_state, layer_names, set_param  # noqa: E402


def run(results_path):
    r = Results(results_path)
    r.data["suite"] = "krita-gui-smoke"
    k = Krita.instance()
    t_start = time.monotonic()
    try:
        yield from _run(r, k)
    except Exception:
        r.check("smoke driver ran to the end", False, traceback.format_exc())
    finally:
        r.data["timings_ms"]["whole GUI smoke scenario"] = round((time.monotonic() - t_start) * 1000)
        from easel_krita import find_docker
        docker = find_docker()
        if docker is not None and docker.client is not None and not docker.client.closed:
            try:
                docker.client.shutdown(timeout=10)
                r.data["daemon_shut_down"] = True
            except Exception as e:  # noqa: BLE001 - recorded, the run still ends with a verdict
                r.check("daemon shut down at the end", False, e)
        r.save()


def _run(r, k):
    from easel_krita import find_docker
    from easel_krita.docker import REGION_SELECTION, SOURCE_LAYER
    from easel_krita.easel_client import daemon as started

    r.data["krita_version"] = k.version()
    want = os.environ.get("EASEL_KRITA_EXPECT_VERSION")
    if want:
        r.check(f"running in Krita {want}", k.version().startswith(want + "."), k.version())
    win = k.activeWindow()
    r.check("Krita main window exists", win is not None)
    docker = find_docker()
    if not r.check("Easel docker found through Krita.instance().dockers()", docker is not None,
                   [d.objectName() for d in k.dockers()]):
        return
    docker.show()
    docker.raise_()
    (yield Wait(lambda: docker.client is not None or docker.last_error, 30))
    r.check("the docker connected to the daemon running outside (started none)",
            docker.client is not None and not started._started,
            (docker.last_status, docker.last_error, len(started._started)))
    if docker.client is None:
        return

    doc = k.openDocument(os.path.join(PHOTOS, "girl-1.jpg"))
    win.addView(doc)
    k.setActiveDocument(doc)
    doc.setBatchmode(True)
    (yield Wait(lambda: k.activeDocument() is not None, 10))
    doc.waitForDone()
    yield 0.5
    W, H = doc.width(), doc.height()
    bg = doc.rootNode().childNodes()[0]
    doc.setActiveNode(bg)
    yield 0.2
    r.check("photo open and active", (W, H) == (600, 399) and doc.activeNode() is not None,
            (W, H))
    bg_pixels = bytes(bg.pixelData(0, 0, W, H))

    r.check("choose remove-background in the list", docker.select_operation("remove-background")
            and docker.current_operation_id() == "remove-background")
    r.check("model parameter set to u2netp in its combo box", set_param(docker, "model", "u2netp"))
    choose(docker.source_combo, SOURCE_LAYER)
    choose(docker.region_combo, REGION_SELECTION)  # nothing selected: the whole image
    before = doc_state(doc)
    t0 = time.monotonic()
    docker.run_btn.click()
    r.check("Run started a job; the document is untouched while it runs",
            docker.busy and doc_state(doc) == before, docker.status.text())
    done = (yield Wait(lambda: not docker.busy, 180))
    r.data["timings_ms"]["remove-background u2netp 600x399, click -> layer"] = \
        round((time.monotonic() - t0) * 1000)
    r.check("remove-background finished", done and not docker.last_error, docker.status.text())
    names = layer_names(doc)
    r.check("the result layer is in the document, right above the photo",
            len(names) == 2 and names[0] == bg.name() and names[1] == "Remove background (u2netp)",
            names)
    if len(names) != 2:
        return
    cut = doc.rootNode().childNodes()[1]
    alpha = bytes(cut.pixelData(0, 0, W, H))[3::4]
    corners = [alpha[y * W + x] for x, y in ((3, 3), (W - 4, 3), (3, H - 4), (W - 4, H - 4))]
    face = alpha[190 * W + 220]
    r.check("its pixels are the cutout: transparent corners, opaque subject",
            max(corners) == 0 and face > 200, (corners, face))
    r.check("the photo layer is unchanged", bytes(bg.pixelData(0, 0, W, H)) == bg_pixels)
    r.check("history lists the result", docker.history_list.count() == 1
            and "Remove background" in docker.history_list.item(0).text())

    after = doc_state(doc)
    k.action("edit_undo").trigger()
    (yield Wait(lambda: len(layer_names(doc)) == 1, 10))
    doc.waitForDone()
    (yield Wait(lambda: doc_state(doc) == before, 5))
    r.check("one undo removes the result layer", doc_state(doc) == before, layer_names(doc))
    k.action("edit_redo").trigger()
    (yield Wait(lambda: len(layer_names(doc)) == 2, 10))
    doc.waitForDone()
    (yield Wait(lambda: doc_state(doc) == after, 5))
    r.check("redo brings it back, pixels and all", doc_state(doc) == after, layer_names(doc))

    kra = os.path.join(os.environ.get("EASEL_KRITA_WORK", "/tmp"), "smoke.kra")
    saved = doc.saveAs(kra)
    r.check("saved as .kra with the Easel history in it", saved and os.path.isfile(kra)
            and "easel/history" in list(doc.annotationTypes()), (saved, list(doc.annotationTypes())))
    history = [e["name"] for e in docker.history()]
    doc.setModified(False)
    doc.close()
    yield 0.5
    doc = k.openDocument(kra)
    win.addView(doc)
    k.setActiveDocument(doc)
    doc.setBatchmode(True)
    yield 1.0
    docker.canvasChanged(None)
    yield 0.5
    r.check("reopened, the .kra gives the history back", [e["name"] for e in docker.history()] == history
            and history, ([e["name"] for e in docker.history()], history))
    doc.setModified(False)
