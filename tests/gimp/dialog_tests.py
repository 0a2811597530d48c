"""The Easel procedures' dialogs in real GIMP 3, under Xvfb (gimp-console-3.0 with a DISPLAY).

Run as ``exec(open(PATH).read())`` after the procedures were registered (from the daemon or the
capabilities cache). Builds the dialog of *Edit selection from a prompt* exactly as the plug-in
does when run interactively (easel_gimp_ops.fill_dialog on a GimpUi.ProcedureDialog) without
running it, and checks that the Text parameter is a multi-line text box bound to the procedure's
``prompt`` argument and that the adapter-filled ``conversation`` has no widget. Builds the
dialog of *Filters ▸ Easel ▸ Batch ▸ Remove background on a folder* the same way
(easel_gimp_ops.fill_batch_dialog) and checks that its folders are folder choosers bound to the
procedure's file arguments and that GIMP's run mode is not shown. Shows Remove background's
dialog and the folder dialog on the X display and saves each as a PNG into $EASEL_GIMP_SHOTS
(gimp-dialog.png, gimp-batch-dialog.png) when that is set. Writes {"checks", "info"} to
$EASEL_GIMP_RESULTS.
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
    batch_dialog(Gimp, GimpUi, Gtk, ops)
    operation_dialog_shot(Gimp, GimpUi, Gtk, ops)
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


def widgets(root):
    """Every widget under root (containers' children, depth first)."""
    out = [root]
    if hasattr(root, "get_children"):
        for child in root.get_children():
            out += widgets(child)
    return out


def label_texts(root):
    from gi.repository import Gtk
    return [w.get_text().replace("_", "") for w in widgets(root) if isinstance(w, Gtk.Label)]


def shoot(dialog, name, Gtk):
    """Shows the dialog, lets it draw, saves its window as SHOTS/name; returns the path."""
    import time
    gi = sys.modules["gi"]
    gi.require_version("Gdk", "3.0")
    from gi.repository import Gdk
    dialog.show_all()
    end = time.monotonic() + 2.0
    while time.monotonic() < end:  # mapped, allocated and drawn (no window manager here)
        while Gtk.events_pending():
            Gtk.main_iteration()
        time.sleep(0.05)
    win = dialog.get_window()
    w, h = win.get_width(), win.get_height()
    pb = Gdk.pixbuf_get_from_window(win, 0, 0, w, h)
    shots = os.environ.get("EASEL_GIMP_SHOTS")
    if pb is None or not shots:
        return None, pb
    path = os.path.join(shots, name)
    pb.savev(path, "png", [], [])
    return path, pb


def distinct_colours(pb):
    data = pb.get_pixels()
    n = pb.get_n_channels()
    step = max(1, len(data) // (n * 4000)) * n
    return len({bytes(data[i:i + 3]) for i in range(0, len(data) - n, step)})


def batch_dialog(Gimp, GimpUi, Gtk, ops):
    from gi.repository import Gio
    proc = Gimp.get_pdb().lookup_procedure("plug-in-easel-batch-remove-background")
    check("the folder procedure of remove-background is registered", proc is not None)
    if proc is None:
        return
    op = next((o for o in ops.read_cache(Gimp.directory()) or []
               if o.get("id") == "remove-background"), None)
    if op is None:
        check("remove-background is in the capabilities cache", False)
        return
    config = proc.create_config()
    dialog = GimpUi.ProcedureDialog.new(proc, config, "Easel: Remove background on a folder")
    shown = ops.fill_batch_dialog(dialog, op)
    info["batch_shown"] = shown
    check("the folder dialog shows the folders and the typed parameters, not the run mode",
          shown[:2] == ["input-folder", "output-folder"] and "model" in shown
          and "output" in shown and "run-mode" not in shown, shown)
    texts = label_texts(dialog)
    info["batch_labels"] = texts
    check("no 'Run mode' anywhere in the folder dialog",
          not any("run mode" in t.lower() for t in texts), texts)
    check("the folder dialog's labels: Input folder, Output folder, Model",
          all(any(t.startswith(w) for t in texts) for w in ("Input folder", "Output folder",
                                                            "Model")), texts)
    choosers = [w for w in widgets(dialog) if isinstance(w, GimpUi.FileChooser)]
    check("both folders are folder choosers (an existing input folder, an output folder that "
          "may be new)",
          [c.get_action() for c in choosers] == [Gimp.FileChooserAction.SELECT_FOLDER,
                                                 Gimp.FileChooserAction.CREATE_FOLDER],
          [(type(c).__name__, c.get_action()) for c in choosers])
    if choosers:
        photos = os.environ["EASEL_PHOTOS"]
        choosers[0].set_file(Gio.File.new_for_path(photos))
        while Gtk.events_pending():
            Gtk.main_iteration()
        got = config.get_property("input-folder")
        check("choosing a folder sets the procedure's input-folder argument",
              got is not None and got.get_path() == photos, got and got.get_path())
        if len(choosers) > 1:
            new_out = os.path.join(os.environ["EASEL_GIMP_WORK"], "cutouts")
            choosers[1].set_file(Gio.File.new_for_path(new_out))
            while Gtk.events_pending():
                Gtk.main_iteration()
            got = config.get_property("output-folder")
            check("...and a new output folder's name its output-folder argument",
                  got is not None and got.get_path() == new_out, got and got.get_path())
    dialog.set_default_size(600, -1)  # wide enough for the whole output path in the shot
    path, pb = shoot(dialog, "gimp-batch-dialog.png", Gtk)
    check("the folder dialog draws on the display", pb is not None and distinct_colours(pb) > 8,
          pb and (pb.get_width(), pb.get_height()))
    info["batch_shot"] = path
    dialog.destroy()


def operation_dialog_shot(Gimp, GimpUi, Gtk, ops):
    """Remove background's dialog as a user opens it on a photo, on the display."""
    proc = Gimp.get_pdb().lookup_procedure("plug-in-easel-remove-background")
    op = next((o for o in ops.read_cache(Gimp.directory()) or []
               if o.get("id") == "remove-background"), None)
    if proc is None or op is None:
        check("remove-background is registered and cached", False)
        return
    config = proc.create_config()
    dialog = GimpUi.ProcedureDialog.new(proc, config, "Easel: Remove background")
    shown = ops.fill_dialog(dialog, op, False, Gtk.TextView.__gtype__)
    texts = label_texts(dialog)
    check("Remove background's dialog: its parameters, no selection modifiers without a "
          "selection", "model" in shown and "selection-grow" not in shown
          and not any("run mode" in t.lower() for t in texts), (shown, texts))
    path, pb = shoot(dialog, "gimp-dialog.png", Gtk)
    check("Remove background's dialog draws on the display",
          pb is not None and distinct_colours(pb) > 8, pb and (pb.get_width(), pb.get_height()))
    info["shot"] = path
    dialog.destroy()


try:
    main()
except Exception:  # noqa: BLE001 - a failed check, not a hung GIMP
    check("dialog_tests ran", False, traceback.format_exc())
info["done"] = True
with open(os.environ["EASEL_GIMP_RESULTS"], "w") as f:
    json.dump({"checks": checks, "info": info}, f, indent=1)
