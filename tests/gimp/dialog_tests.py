"""The Easel procedures' dialogs in real GIMP 3, under Xvfb (gimp-console-3.0 with a DISPLAY).

Run as ``exec(open(PATH).read())`` after the procedures were registered (from the daemon or the
capabilities cache). Builds the dialog of *Edit selection from a prompt* exactly as the plug-in
does when run interactively (easel_gimp_ops.fill_dialog on a GimpUi.ProcedureDialog) without
running it, and checks that the Text parameter is a multi-line text box bound to the procedure's
``prompt`` argument and that the adapter-filled ``conversation`` has no widget. Writes {"checks", "info"} to $EASEL_GIMP_RESULTS.
"""

import json
import os
import sys
import traceback

checks = []
info = {}


def check(name, ok, detail=""):
    checks.append({"name": name, "ok": bool(ok), "detail": str(detail)[:2000]})


def main():
    import gi
    gi.require_version("Gimp", "3.0")
    gi.require_version("GimpUi", "3.0")
    gi.require_version("Gtk", "3.0")
    from gi.repository import Gimp, GimpUi, Gtk
    sys.path.insert(0, os.environ["EASEL_GIMP_PLUGIN_DIR"])
    import easel_gimp_ops as ops

    GimpUi.init("easel-gimp-dialog-test")
    proc = Gimp.get_pdb().lookup_procedure("plug-in-easel-generative-edit")
    check("generative-edit is registered", proc is not None)
    if proc is None:
        return
    ops_list = ops.read_cache(Gimp.directory()) or []
    op = next((o for o in ops_list if o.get("id") == "generative-edit"), None)
    check("its description is in the capabilities cache", op is not None)
    if op is None:
        return
    config = proc.create_config()
    dialog = GimpUi.ProcedureDialog.new(proc, config, "Easel: Edit selection from a prompt")
    shown = ops.fill_dialog(dialog, op, True, Gtk.TextView.__gtype__)
    info["shown"] = shown
    check("the dialog shows the prompt (and not the conversation)",
          "prompt" in shown and "conversation" not in shown, shown)
    box = dialog.get_widget("prompt", Gtk.TextView.__gtype__)
    check("the prompt is a multi-line text box (Gtk.TextView)", isinstance(box, Gtk.TextView),
          type(box).__name__)
    if isinstance(box, Gtk.TextView):
        box.get_buffer().set_text("give her a red hat\nand a feather", -1)
        while Gtk.events_pending():
            Gtk.main_iteration()
        check("typing in it sets the procedure's prompt argument",
              config.get_property("prompt") == "give her a red hat\nand a feather",
              repr(config.get_property("prompt")))
    dialog.destroy()


try:
    main()
except Exception:  # noqa: BLE001 - a failed check, not a hung GIMP
    check("dialog_tests ran", False, traceback.format_exc())
info["done"] = True
with open(os.environ["EASEL_GIMP_RESULTS"], "w") as f:
    json.dump({"checks": checks, "info": info}, f, indent=1)
