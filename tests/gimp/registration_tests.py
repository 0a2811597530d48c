"""Registration without a daemon, inside GIMP 3 batch mode (run as exec(open(PATH).read())).

With the daemon stopped and GIMP made to query the plug-in again, the procedures must come from
the capabilities cache (EASEL_GIMP_EXPECT=cache) or the built-in list (=built-in), and running
one must fail with a clear message and leave the image as it was.
"""

import json
import os

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, Gio  # noqa: E402

RESULTS = os.environ["EASEL_GIMP_RESULTS"]
EXPECT = os.environ["EASEL_GIMP_EXPECT"]
checks = []


def check(name, ok, detail=""):
    checks.append({"name": name, "ok": bool(ok), "detail": str(detail)[:2000]})


try:
    reg = json.load(open(os.path.join(Gimp.directory(), "easel", "registered.json")))
except (OSError, ValueError) as e:
    reg = {"error": str(e)}
check(f"registered from the {EXPECT} list without a daemon", reg.get("source") == EXPECT, reg)
pdb = Gimp.get_pdb()
for name in ("plug-in-easel-remove-background", "plug-in-easel-invert",
             "plug-in-easel-remove-object", "plug-in-easel-batch-folder",
             "plug-in-easel-batch-remove-background", "plug-in-easel-batch-invert"):
    check(f"{name} registered ({EXPECT})", pdb.lookup_procedure(name) is not None)
if EXPECT == "cache":
    check("testing operations come from the cache too",
          pdb.lookup_procedure("plug-in-easel-test-echo") is not None)
proc = pdb.lookup_procedure("plug-in-easel-invert")
if proc is not None:
    img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(
        os.path.join(os.environ["EASEL_PHOTOS"], "chelsea.png")))
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    cfg.set_property("image", img)
    cfg.set_core_object_array("drawables", [img.get_layers()[0]])
    res = proc.run(cfg)
    msg = pdb.get_last_error() or ""
    check(f"running without a daemon fails clearly ({EXPECT})",
          res.index(0) == Gimp.PDBStatusType.EXECUTION_ERROR and "daemon" in msg.lower(),
          f"{res.index(0)} {msg}")
    check(f"...and adds no layer ({EXPECT})", len(img.get_layers()) == 1)
with open(RESULTS, "w") as f:
    json.dump({"checks": checks, "info": {"done": True}}, f, indent=1)
