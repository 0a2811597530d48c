"""GUI test, second Krita run: opens the .kra the first run saved (EASEL_KRA) and checks that
the Easel history came back with it (names, thumbnails, parameters), that Compare finds the
result's layer and Re-apply adds its pixels again."""

import hashlib
import json
import os
import sys
import time
import traceback

from krita import Krita

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gui_driver import Results, Wait, layer_names  # noqa: E402


def run(results_path):
    r = Results(results_path)
    r.data["suite"] = "krita-gui-reopen"
    try:
        yield from _run(r)
    except Exception:
        r.check("reopen driver ran to the end", False, traceback.format_exc())
    finally:
        from easel_krita import find_docker
        d = find_docker()
        if d is not None and d.client is not None and not d.client.closed:
            try:
                d.client.shutdown(timeout=10)
            except Exception:  # noqa: BLE001
                pass
        r.save()


def _run(r):
    from easel_krita import find_docker
    k = Krita.instance()
    win = k.activeWindow()
    docker = find_docker()
    first = json.load(open(os.environ["EASEL_KRITA_FIRST_RESULTS"]))
    kra = first.get("kra")
    if not r.check("the first run saved a .kra", kra and os.path.isfile(kra), kra):
        return
    doc = k.openDocument(kra)
    win.addView(doc)
    k.setActiveDocument(doc)
    doc.setBatchmode(True)
    yield 1.0
    docker.canvasChanged(None)
    yield 0.5
    names = [e["name"] for e in docker.history()]
    r.check("after a restart the history is back from the .kra", names == first.get("kra_history"),
            (names, first.get("kra_history")))
    entries = docker.history()
    live = next((e for e in entries if e["name"] == "Remove object (live)"), None)
    r.check("its entries keep thumbnails and parameters", live is not None and live["thumb"][:4] == b"\x89PNG"
            and live["params"].get("seed") == 77, live and (live["params"], live["thumb"][:4]))
    icons = [docker.history_list.item(i).icon().isNull() for i in range(docker.history_list.count())]
    r.check("the history list shows the thumbnails", icons and not any(icons), icons)
    W, H = doc.width(), doc.height()
    docker.history_list.setCurrentRow([e["id"] for e in entries].index(live["id"]))
    node = doc.nodeByName("Remove object (live)")
    vis = node.visible() if node else None
    docker.compare_btn.click()
    yield 0.3
    node = doc.nodeByName("Remove object (live)")
    r.check("Compare after the restart toggles the result's layer", node is not None and node.visible() == (not vis),
            docker.status.text())
    docker.compare_btn.click()
    yield 0.2
    n = len(layer_names(doc))
    docker.reapply_btn.click()
    yield 0.5
    again = [x for x in doc.rootNode().childNodes() if x.name() == "Remove object (live)"]
    r.check("Re-apply after the restart adds the stored pixels as a new layer",
            len(layer_names(doc)) == n + 1 and len(again) == 2
            and hashlib.sha1(bytes(again[-1].pixelData(0, 0, W, H))).hexdigest() == first.get("kra_result_digest"),
            layer_names(doc))
    doc.setModified(False)
