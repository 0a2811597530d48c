"""The GIMP plug-in's gettext domain inside GIMP 3 batch mode (run as exec(open(PATH).read())):
with a test catalogue installed where GIMP 3 plug-ins keep theirs
(easel-gimp/locale/de/LC_MESSAGES/easel-gimp.mo, made by test_i18n.py --make-mo), LANGUAGE=de and
GIMP made to query the plug-in again, the registered menu label and argument label and a
message of a run come out translated. Results to $EASEL_GIMP_RESULTS.
"""

import json
import os

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp  # noqa: E402

RESULTS = os.environ["EASEL_GIMP_RESULTS"]
checks = []


def check(name, ok, detail=""):
    checks.append({"name": name, "ok": bool(ok), "detail": str(detail)[:2000]})


pdb = Gimp.get_pdb()
batch = pdb.lookup_procedure("plug-in-easel-batch-invert")
check("the folder procedure is registered", batch is not None)
if batch is not None:
    label = batch.get_menu_label()
    check("its menu label comes from the plug-in's catalogue (German)",
          label.replace("_", "") == "Invert colors auf einen Ordner anwenden...", label)
    check("...and so does its submenu", "<Image>/Filters/Easel/Stapel" in batch.get_menu_paths(),
          batch.get_menu_paths())
# A message of a run: the generic (script) form takes folder paths as strings, so a missing
# input folder reaches the plug-in (the typed procedures' folder choosers refuse it in GIMP).
generic = pdb.lookup_procedure("plug-in-easel-batch-folder")
if generic is not None:
    cfg = generic.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    cfg.set_property("input-folder", "/nonexistent/easel-i18n")
    cfg.set_property("output-folder", "/tmp")
    res = generic.run(cfg)
    msg = pdb.get_last_error() or ""
    check("a message of a run is translated at run time",
          res.index(0) == Gimp.PDBStatusType.CALLING_ERROR
          and msg == "Easel: Eingabeordner '/nonexistent/easel-i18n' fehlt", msg)
invert = pdb.lookup_procedure("plug-in-easel-invert")
if invert is not None:
    spec = invert.find_argument("selection-grow")
    nick = spec.get_nick().replace("_", "") if spec is not None else None
    check("an argument's label is translated (with its mnemonic)",
          nick == "Auswahl vergr\u00f6\u00dfern", spec and spec.get_nick())
    other = invert.find_argument("context-margin")
    check("strings the catalogue lacks stay in English",
          other is not None and other.get_nick().replace("_", "") == "Context margin",
          other and other.get_nick())
with open(RESULTS, "w") as f:
    json.dump({"checks": checks, "info": {"done": True}}, f, indent=1)
