#!/usr/bin/env python3
"""easel-gimp: the GIMP 3 plug-in of Easel (Filters ▸ Easel), one procedure per daemon operation.

The selected layer's pixels and the selection go to easeld through easel_client (shared memory);
the result comes back as a new layer, in one undo step. The procedures are registered from the
daemon's capabilities when GIMP queries the plug-in; without a daemon, from the capabilities
cached at the last successful query, or else from a built-in list.

Generative operations refine as a conversation: their result layers carry the prompts that made
them (the ``easel-turns`` parasite, saved in the XCF). Running a generative operation with such
a layer selected is a follow-up: the layer it was made from is edited again, with that result as
the first reference image, the earlier prompts as the conversation and the new prompt; the new
layer is named after its turn.
"""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)  # the bundled easel_client and easel_gimp_ops

import gi  # noqa: E402

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio, GLib, GObject  # noqa: E402

import easel_gimp_ops as ops  # noqa: E402
from easel_gimp_ops import N_, _  # noqa: E402,F401 - the plug-in's gettext domain
from easel_client import Client, DaemonUnavailable, EaselError, Image, SharedBuffer  # noqa: E402

# How long registration waits for the daemon when GIMP queries the plug-in (GIMP waits for it).
QUERY_TIMEOUT = 8.0
CLIENT_NAME = "easel-gimp/0.1.0"
# Tests: a file that receives one JSON line per progress event.
TRACE = os.environ.get("EASEL_GIMP_TRACE")
# Tests: a Python file whose during_job(image, drawable, job, fraction) runs at each progress
# event, to do what a user or the system may do while a job runs (tests/gimp/safety_tests.py).
TEST_HOOK = os.environ.get("EASEL_GIMP_TEST_HOOK")


def log(msg):
    print(f"easel-gimp: {msg}", file=sys.stderr, flush=True)


def config_dir():
    try:
        return Gimp.directory()
    except Exception:  # outside a running GIMP (should not happen): XDG location
        return os.path.join(os.path.expanduser("~"), ".config", "GIMP", "3.0")


def socket_path():
    return os.environ.get("EASEL_SOCKET") or None


def connect(timeout=30.0):
    return Client.connect(socket_path(), autostart=True, timeout=timeout, client_name=CLIENT_NAME)


def load_operations(querying):
    """(operations, source): from the daemon (and cache them), else the cache, else built in.

    Only a query asks the daemon: when GIMP runs a procedure, its arguments must be the ones
    registered at the last query (GIMP keeps them in pluginrc), and the cache holds exactly those.
    """
    if not querying:
        cached = ops.read_cache(config_dir())
        if cached:
            return [o for o in cached if ops.usable(o)], "cache"
        return list(ops.FALLBACK_OPERATIONS), "built-in"
    try:
        with connect(QUERY_TIMEOUT) as c:
            found = [o for o in c.operations() if ops.usable(o)]
            server = c.server
        try:
            ops.write_cache(config_dir(), found, server)
        except OSError as e:
            log(f"could not write the capabilities cache: {e}")
        return found, "daemon"
    except (EaselError, OSError) as e:
        log(f"daemon not reachable while registering ({e})")
    cached = ops.read_cache(config_dir())
    if cached:
        return [o for o in cached if ops.usable(o)], "cache"
    return list(ops.FALLBACK_OPERATIONS), "built-in"


def gimp_error(procedure, message, status=None):
    status = status or Gimp.PDBStatusType.EXECUTION_ERROR
    return procedure.new_return_values(status, GLib.Error(message))


def describe(e):
    """A message for the user from an easel_client error."""
    if isinstance(e, EaselError):
        if e.code == "unavailable":
            return _("Easel: the Easel daemon (easeld) is not running or cannot be reached: "
                     "{reason}. The image was not changed. Start the daemon (easel serve, or "
                     "set EASELD to the easeld program for the plug-in to start it) and run "
                     "the filter again.").format(reason=e.message.rstrip("."))
        return _("Easel: {message} [{code}]").format(message=e.message, code=e.code)
    return _("Easel: {error}").format(error=e)


class EaselPlugIn(Gimp.PlugIn):
    _operations = None
    _source = None
    _querying = False

    def _ops(self):
        if EaselPlugIn._operations is None:
            EaselPlugIn._operations, EaselPlugIn._source = load_operations(EaselPlugIn._querying)
            if EaselPlugIn._querying:
                log(f"registering {len(EaselPlugIn._operations)} operations from "
                    f"{EaselPlugIn._source}")
        return EaselPlugIn._operations

    def _op_for(self, name):
        for o in self._ops():
            if ops.proc_name(o["id"]) == name:
                return o
        # Not in the list loaded (a stale cache): the cache, then the built-in list.
        for o in (ops.read_cache(config_dir()) or []) + ops.FALLBACK_OPERATIONS:
            if ops.proc_name(o["id"]) == name:
                return o
        return None

    def _op_for_batch(self, name):
        for o in self._ops() + (ops.read_cache(config_dir()) or []) + ops.FALLBACK_OPERATIONS:
            if ops.batchable(o) and ops.batch_proc_name(o["id"]) == name:
                return o
        return None

    # ------------------------------------------------------------------------ registration
    def do_set_i18n(self, name):
        # GIMP 3's convention: the plug-in's own gettext domain, its catalogues in the locale/
        # folder beside it (relative to the plug-in's folder, as GIMP requires). A copy without
        # that folder: no GIMP-side catalogue (GIMP would warn once per procedure).
        if not os.path.isdir(ops.LOCALE_DIR):
            return False
        return True, ops.DOMAIN, ops.LOCALE_SUBDIR

    def do_query_procedures(self):
        # The Help button of the dialogs opens the bundled page (help/en/index.html, its help ids
        # mapped in help/en/gimp-help.xml), not GIMP's "manual not installed" prompt.
        self.set_help_domain(ops.HELP_DOMAIN, Gio.File.new_for_path(os.path.join(HERE, "help")))
        EaselPlugIn._querying = True
        EaselPlugIn._operations = None
        names = [ops.proc_name(o["id"]) for o in self._ops()]
        # One folder procedure per operation that can run on whole images (never one whose name
        # an operation's own procedure already has).
        batch = [n for n in (ops.batch_proc_name(o["id"]) for o in self._ops()
                             if ops.batchable(o)) if n not in names and n != ops.BATCH_PROC]
        try:
            with open(os.path.join(os.path.dirname(ops.cache_path(config_dir())),
                                   "registered.json"), "w") as f:
                json.dump({"source": EaselPlugIn._source, "procedures": names,
                           "batch_procedures": batch}, f)
        except OSError:
            pass
        return names + batch + [ops.BATCH_PROC]

    def do_create_procedure(self, name):
        if name == ops.BATCH_PROC:
            return self._create_batch(name)
        op = self._op_for(name)
        if op is None:
            op = self._op_for_batch(name)
            return self._create_op_batch(name, op) if op is not None else None
        proc = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, self.run_image, op)
        proc.set_image_types("RGB*, GRAY*")
        mask_note = {"required": " " + _("Needs a selection."),
                     "optional": " " + _("Works inside the selection if there is one.")}.get(
                         op.get("mask"), "")
        title = ops._title(op.get("title") or op["id"])
        proc.set_menu_label(_("{title}...").format(title=title))
        proc.add_menu_path(ops.menu_path(op))
        proc.set_documentation(
            _("Easel: {title}").format(title=title),
            ops._sentence(op.get("description")) + mask_note + " "
            + _("The result is a new layer (operation '{id}' of the Easel daemon).").format(
                id=op["id"]),
            ops.HELP_ID_OPERATION)
        proc.set_attribution("Easel", "Easel", "2025")
        # One layer, or several: the other selected layers are the references.
        proc.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE
                                  | Gimp.ProcedureSensitivityMask.DRAWABLES)
        for spec in ops.argument_specs(op):
            self._add_argument(proc, spec)
        return proc

    @staticmethod
    def _add_argument(proc, s):
        flags = GObject.ParamFlags.READWRITE
        s = dict(s, nick=s.get("label") or s["nick"])  # with its mnemonic
        if s["kind"] == "int":
            proc.add_int_argument(s["arg"], s["nick"], s["blurb"], s["min"], s["max"],
                                  s["default"], flags)
        elif s["kind"] == "double":
            proc.add_double_argument(s["arg"], s["nick"], s["blurb"], s["min"], s["max"],
                                     s["default"], flags)
        elif s["kind"] == "boolean":
            proc.add_boolean_argument(s["arg"], s["nick"], s["blurb"], s["default"], flags)
        elif s["kind"] == "string":
            proc.add_string_argument(s["arg"], s["nick"], s["blurb"], s["default"], flags)
        elif s["kind"] == "choice":
            choice = Gimp.Choice.new()
            for i, (nick, label, help_) in enumerate(s["options"]):
                choice.add(nick, i, label, help_)
            proc.add_choice_argument(s["arg"], s["nick"], s["blurb"], choice, s["default"], flags)
        elif s["kind"] == "drawable":
            proc.add_drawable_argument(s["arg"], s["nick"], s["blurb"], True, flags)
        elif s["kind"] == "folder":
            # A folder chooser in the dialog (an existing folder, or a new one's name for the
            # output); None until one is chosen (said when run).
            action = (Gimp.FileChooserAction.CREATE_FOLDER if s.get("create")
                      else Gimp.FileChooserAction.SELECT_FOLDER)
            proc.add_file_argument(s["arg"], s["nick"], s["blurb"], action, True, None, flags)

    def _create_batch(self, name):
        # The generic form of earlier versions, for scripts only (no menu entry): folder paths
        # as strings, the operation's id and its parameters as a JSON object. The menu has the
        # typed procedures of _create_op_batch instead.
        proc = Gimp.Procedure.new(self, name, Gimp.PDBProcType.PLUGIN, self.run_batch, None)
        proc.set_documentation(
            _("Easel: run an operation on every image of a folder (for scripts)"),
            _("Loads each image file of the input folder, runs the Easel operation on it at "
              "batch priority and saves the result as PNG in the output folder. params is a "
              "JSON object of the operation's parameters (daemon names), e.g. "
              "{\"model\": \"u2netp\"}. The menu's Filters > Easel > Batch entries "
              "(plug-in-easel-batch-OPERATION) take typed arguments instead."),
            ops.HELP_ID_BATCH)
        proc.set_attribution("Easel", "Easel", "2025")
        rw = GObject.ParamFlags.READWRITE
        proc.add_enum_argument("run-mode", _("Run mode"), _("The run mode"), Gimp.RunMode,
                               Gimp.RunMode.NONINTERACTIVE, rw)
        proc.add_string_argument("input-folder", _("Input folder"), _("Folder of images to process"),
                                 "", rw)
        proc.add_string_argument("output-folder", _("Output folder"),
                                 _("Folder for the results (created if missing)"), "", rw)
        proc.add_string_argument("operation", _("Operation"), _("Easel operation id, e.g. "
                                 "remove-background"), "remove-background", rw)
        proc.add_string_argument("params", _("Parameters (JSON)"), _("The operation's parameters as "
                                 "a JSON object"), "{}", rw)
        proc.add_int_return_value("processed", _("Processed"), _("Images written"), 0, 1 << 30, 0, rw)
        return proc

    def _create_op_batch(self, name, op):
        """Filters > Easel > Batch > <Operation> on a folder...: the folders as folder
        arguments and the operation's parameters as the typed arguments its own procedure
        has (ops.batch_argument_specs)."""
        proc = Gimp.Procedure.new(self, name, Gimp.PDBProcType.PLUGIN, self.run_op_batch, op)
        title = ops._title(op.get("title") or op["id"])
        labels = ops.batch_menu_labels(self._ops())
        proc.set_menu_label(labels.get(op["id"])
                            or _("{title} on a folder...").format(title=title))
        proc.add_menu_path(ops.batch_menu_path())
        proc.set_documentation(
            _("Easel: {title} on every image of a folder").format(title=title),
            ops._sentence(op.get("description")) + " "
            + _("Loads each image file of the input folder, runs the operation on it at batch "
                "priority and saves the result as PNG in the output folder (operation '{id}' "
                "of the Easel daemon).").format(id=op["id"]),
            ops.HELP_ID_BATCH)
        proc.set_attribution("Easel", "Easel", "2025")
        rw = GObject.ParamFlags.READWRITE
        # Plain procedures take the run mode as their first argument (GIMP's convention); the
        # dialog does not show it (ops.fill_batch_dialog).
        proc.add_enum_argument("run-mode", _("Run mode"), _("The run mode"), Gimp.RunMode,
                               Gimp.RunMode.NONINTERACTIVE, rw)
        for spec in ops.batch_argument_specs(op):
            self._add_argument(proc, spec)
        proc.add_int_return_value("processed", _("Processed"), _("Images written"), 0, 1 << 30, 0, rw)
        return proc

    # ------------------------------------------------------------------------ running
    def run_image(self, procedure, run_mode, image, drawables, config, op):
        if run_mode == Gimp.RunMode.INTERACTIVE:
            has_selection = not Gimp.Selection.is_empty(image)
            title = ops._title(op.get("title") or op["id"])
            if op.get("mask") == "required" and not has_selection:
                # Said before the dialog, not after it.
                return gimp_error(procedure, _("Easel: {title} needs a selection: select the "
                                               "area to work on first").format(title=title),
                                  Gimp.PDBStatusType.CALLING_ERROR)
            gi.require_version("GimpUi", "3.0")
            from gi.repository import GimpUi
            GimpUi.init("easel-gimp")
            dialog = GimpUi.ProcedureDialog.new(procedure, config,
                                                 _("Easel: {title}").format(title=title))
            specs = ops.argument_specs(op)
            gi.require_version("Gtk", "3.0")
            from gi.repository import Gtk
            shown = ops.fill_dialog(dialog, op, has_selection, Gtk.TextView.__gtype__)
            follow_applicability(dialog, config, specs, shown)
            ok = dialog.run()
            dialog.destroy()
            if not ok:
                return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, None)
        if len(drawables) < 1:
            return gimp_error(procedure, _("Easel: select a layer first"),
                              Gimp.PDBStatusType.CALLING_ERROR)
        values = {}
        for s in ops.argument_specs(op):
            values[s["arg"]] = config.get_property(s["arg"])
        # Further selected layers serve as references when no reference argument is given.
        extra = list(drawables[1:])
        refs = []
        for s in ops.argument_specs(op):
            if s["role"] == "reference":
                d = values.get(s["arg"]) or (extra.pop(0) if extra else None)
                if d is not None:
                    refs.append(d)
        try:
            if ops.refinable(op):
                layer = run_generative(op, image, drawables[0], values, refs, run_mode)
            else:
                layer = run_operation(op, image, drawables[0], values, refs, run_mode)
        except UserError as e:
            return gimp_error(procedure, str(e), Gimp.PDBStatusType.CALLING_ERROR)
        except ResultDropped as e:
            return gimp_error(procedure, str(e))
        except (EaselError, OSError) as e:
            return gimp_error(procedure, describe(e))
        log(f"{op['id']}: new layer '{layer.get_name()}'")
        return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, None)

    def run_batch(self, procedure, config, data):
        if config.get_property("run-mode") == Gimp.RunMode.INTERACTIVE:
            gi.require_version("GimpUi", "3.0")
            from gi.repository import GimpUi
            GimpUi.init("easel-gimp")
            dialog = GimpUi.ProcedureDialog.new(procedure, config, _("Easel: run on a folder"))
            dialog.fill(["input-folder", "output-folder", "operation", "params"])
            ok = dialog.run()
            dialog.destroy()
            if not ok:
                return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, None)
        return self._folder_result(procedure, lambda: run_folder(
            config.get_property("input-folder"), config.get_property("output-folder"),
            config.get_property("operation"), config.get_property("params")))

    def run_op_batch(self, procedure, config, op):
        specs = ops.batch_argument_specs(op)
        if config.get_property("run-mode") == Gimp.RunMode.INTERACTIVE:
            gi.require_version("GimpUi", "3.0")
            from gi.repository import GimpUi
            GimpUi.init("easel-gimp")
            title = ops._title(op.get("title") or op["id"])
            dialog = GimpUi.ProcedureDialog.new(
                procedure, config, _("Easel: {title} on a folder").format(title=title))
            shown = ops.fill_batch_dialog(dialog, op)
            follow_applicability(dialog, config, specs, shown)
            ok = dialog.run()
            dialog.destroy()
            if not ok:
                return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, None)

        def path_of(arg):
            f = config.get_property(arg)
            return f.get_path() if f is not None else None
        values = {s["arg"]: config.get_property(s["arg"]) for s in specs
                  if s["role"] != "folder"}
        refs = [values[s["arg"]] for s in specs
                if s["role"] == "reference" and values.get(s["arg"]) is not None]
        return self._folder_result(procedure, lambda: process_folder(
            path_of(ops.ARG_INPUT_FOLDER), path_of(ops.ARG_OUTPUT_FOLDER), op, values, refs))

    def _folder_result(self, procedure, run):
        try:
            n = run()
        except UserError as e:
            return gimp_error(procedure, str(e), Gimp.PDBStatusType.CALLING_ERROR)
        except ResultDropped as e:
            return gimp_error(procedure, str(e))
        except (EaselError, OSError) as e:
            return gimp_error(procedure, describe(e))
        rv = procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, None)
        rv.index(1)  # raises if the array lacks the return value slot
        rv.remove(1)
        rv.insert(1, gvalue_int(n))
        return rv


def follow_applicability(dialog, config, specs, shown):
    """Greys out the arguments that do nothing given the others' values (an option of one
    model only), as the user changes them."""
    by_param = {sp["param"]: sp["arg"] for sp in specs if sp.get("param")}

    def follow(*_args):
        vals = {p: config.get_property(a) for p, a in by_param.items()}
        for sp in specs:
            if sp.get("applies_when") and sp["arg"] in shown:
                dialog.set_sensitive(sp["arg"], ops.applicable(sp, vals), None, None, False)
    for sp in specs:
        for other in (sp.get("applies_when") or {}):
            if other in by_param:
                config.connect(f"notify::{by_param[other]}", follow)
    follow()


def gvalue_int(n):
    v = GObject.Value(GObject.TYPE_INT)
    v.set_int(int(n))
    return v


class UserError(Exception):
    """A problem the user can fix (no layer, no selection where one is needed, bad arguments)."""


class ResultDropped(Exception):
    """The job ended without a result to place (the daemon stopped mid-job, or the image or its
    layer changed meanwhile): the image was not changed; the message says why and what to do."""


def target_state(image, drawable):
    """What a result must still find when it arrives: the image's and the layer's size."""
    return {"image": (image.get_width(), image.get_height()),
            "layer": (drawable.get_width(), drawable.get_height()), "id": image.get_id()}


def target_problem(image, drawable, sent):
    """Why a result can no longer be placed (the image closed, the layer deleted, or either
    resized while the job ran), or None: a result lands only where it was computed from."""
    if not image.is_valid():
        return _("the image was closed")
    if not drawable.is_valid() or drawable.get_image() is None \
            or drawable.get_image().get_id() != sent["id"]:
        return _("the layer was deleted")
    lw, lh = drawable.get_width(), drawable.get_height()
    if (lw, lh) != sent["layer"]:
        return _("the layer was resized ({w0}x{h0} to {w1}x{h1})").format(
            w0=sent["layer"][0], h0=sent["layer"][1], w1=lw, h1=lh)
    iw, ih = image.get_width(), image.get_height()
    if (iw, ih) != sent["image"]:
        return _("the image was resized ({w0}x{h0} to {w1}x{h1})").format(
            w0=sent["image"][0], h0=sent["image"][1], w1=iw, h1=ih)
    return None


def _run_test_hook(image, drawable, job, fraction):
    import importlib.util
    mod = sys.modules.get("easel_gimp_test_hook")
    if mod is None:
        spec = importlib.util.spec_from_file_location("easel_gimp_test_hook", TEST_HOOK)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        sys.modules["easel_gimp_test_hook"] = mod
    mod.during_job(image, drawable, job, fraction)


# ---------------------------------------------------------------------------- pixels
def precision_formats(image):
    prec = image.get_precision()
    name = getattr(prec, "value_nick", None) or str(prec)
    return ops.formats_for_precision(str(name).replace("-", "_"))


def read_pixels(drawable, rect, babl_format):
    buf = drawable.get_buffer()
    return buf.get(Gegl.Rectangle.new(*rect), 1.0, babl_format, Gegl.AbyssPolicy.NONE)


def to_shared(data):
    sb = SharedBuffer(max(1, len(data)))
    sb.write(0, data)
    return sb


def selection_mask(image, drawable, mask_babl):
    """The selection over the drawable's area as bytes, or None without a selection."""
    if Gimp.Selection.is_empty(image):
        return None
    ok, ox, oy = drawable.get_offsets()
    w, h = drawable.get_width(), drawable.get_height()
    sel = image.get_selection()
    return sel.get_buffer().get(Gegl.Rectangle.new(ox, oy, w, h), 1.0, mask_babl,
                                Gegl.AbyssPolicy.NONE)


def reference_pixels(ref, drawable, aligned, babl_format):
    """A reference layer's pixels: over the drawable's area when aligned, else its own."""
    if aligned:
        _found, ox, oy = drawable.get_offsets()
        _found, rx, ry = ref.get_offsets()
        w, h = drawable.get_width(), drawable.get_height()
        return w, h, read_pixels(ref, (ox - rx, oy - ry, w, h), babl_format)
    w, h = ref.get_width(), ref.get_height()
    return w, h, read_pixels(ref, (0, 0, w, h), babl_format)


def turns_of(layer):
    """The prompts that made a generative result layer (its parasite), or None."""
    try:
        parasite = layer.get_parasite(ops.TURNS_PARASITE)
    except Exception:  # noqa: BLE001 - not an item that has parasites
        return None
    return ops.decode_turns(parasite.get_data()) if parasite is not None else None


def run_generative(op, image, drawable, values, refs, run_mode):
    """A generative operation: a first turn on an ordinary layer, a follow-up on a generative
    result layer (see the module's documentation). Returns the new layer, which keeps its turns;
    adding it, naming it and recording the turns are one undo step."""
    record = turns_of(drawable)
    prompt = str(ops.collect_request(op, values)["params"].get("prompt") or "")
    source, extra = drawable, {}
    if record is not None:
        source = image.get_layer_by_tattoo(record["source"])
        if source is None:
            raise UserError(_("Easel: the layer that \u201c{name}\u201d was made from is gone, "
                              "so it cannot be refined: run the filter on the layer to edit "
                              "instead").format(name=drawable.get_name()))
        refs = [drawable, *refs]  # the last turn's result first, then the references
        extra = ops.follow_up_params({}, record)
    earlier = record["turns"] if record is not None else []
    image.undo_group_start()
    try:
        layer = run_operation(op, image, source, values, refs, run_mode, extra_params=extra)
        layer.set_name(ops.turn_name(layer.get_name(), len(earlier) + 1))
        data = ops.encode_turns(ops.turns_record(op["id"], earlier, prompt, source.get_tattoo()))
        layer.attach_parasite(Gimp.Parasite.new(
            ops.TURNS_PARASITE, Gimp.PARASITE_PERSISTENT | Gimp.PARASITE_UNDOABLE, data))
    finally:
        image.undo_group_end()
    return layer


def run_operation(op, image, drawable, values, refs, run_mode, priority="interactive",
                  progress=True, extra_params=None):
    """Runs one operation on a drawable; returns the new layer (the image changes only then).
    ``extra_params``: parameters that are no argument (a follow-up's conversation)."""
    if drawable.is_indexed() if hasattr(drawable, "is_indexed") else False:
        raise UserError(_("Easel: indexed images are not supported; convert to RGB first "
                          "(Image ▸ Mode ▸ RGB)"))
    req = ops.collect_request(op, values)
    req["params"].update(extra_params or {})
    try:
        ops.check_text_lengths(op, req["params"])
    except ValueError as e:
        raise UserError(_("Easel: {error}").format(error=e)) from None
    rgba_babl, fmt, mask_babl, mask_fmt = precision_formats(image)
    w, h = drawable.get_width(), drawable.get_height()
    sent = target_state(image, drawable)
    mask_bytes = selection_mask(image, drawable, mask_babl)
    if mask_bytes is not None and not any(mask_bytes):
        raise UserError(_("Easel: the selection does not touch the layer; select part of the "
                          "layer or select none"))
    if op.get("mask") == "required" and mask_bytes is None:
        raise UserError(_("Easel: {title} needs a selection: select the area to work on "
                          "first").format(title=op.get("title") or op["id"]))
    n_min = int(op.get("min_references") or 0)
    if len(refs) < n_min:
        raise UserError(ops.missing_references_message(op, n_min))
    aligned = "aligned_references" in (op.get("flags") or [])
    title = ops._title(op.get("title") or op["id"])
    if progress:
        Gimp.progress_init(_("Easel: {title}").format(title=title))
    shared = []
    try:
        pix = to_shared(read_pixels(drawable, (0, 0, w, h), rgba_babl))
        shared.append(pix)
        image_ref = Image(w, h, fmt, pix)
        mask_ref = None
        if mask_bytes is not None:
            mb = to_shared(mask_bytes)
            shared.append(mb)
            mask_ref = Image(w, h, mask_fmt, mb)
        ref_imgs = []
        for r in refs:
            rw, rh, data = reference_pixels(r, drawable, aligned, rgba_babl)
            sb = to_shared(data)
            shared.append(sb)
            ref_imgs.append(Image(rw, rh, fmt, sb))
        with connect() as client:
            job = client.submit(op["id"], image_ref, mask=mask_ref, references=ref_imgs,
                                params=req["params"],
                                mask_modifiers=req["mask_modifiers"] if mask_ref else None,
                                context_margin=req["context_margin"] if mask_ref else None,
                                priority=priority, result_format=fmt)
            for sb in shared:
                sb.close()  # the daemon has accepted the job and holds its own mapping
            shared = []

            shown_pct = [-1]

            def on_progress(fraction, message):
                if TRACE:
                    with open(TRACE, "a") as f:
                        f.write(json.dumps({"job": job, "fraction": fraction,
                                            "message": message, "pid": os.getpid()}) + "\n")
                if progress:
                    # One text that goes on with the bar (the daemon's per-phase messages,
                    # such as "tile 1/12", restart with each phase).
                    f = ops.clamp_progress(fraction)
                    pct = int(f * 100)
                    if pct != shown_pct[0]:
                        shown_pct[0] = pct
                        Gimp.progress_set_text(_("Easel: {title}: {percent}%").format(
                            title=title, percent=pct))
                    Gimp.progress_update(f)
                if TEST_HOOK:
                    _run_test_hook(image, drawable, job, fraction)

            # Cancelling in GIMP ends this plug-in process; its connection closes and the
            # daemon cancels the job (closing a connection cancels its unfinished jobs).
            try:
                res = client.wait(job, on_progress=on_progress)
            except DaemonUnavailable as e:
                raise ResultDropped(
                    _("Easel: the Easel daemon stopped while working on {title} ({reason}). "
                      "The image was not changed. Run the filter again: the daemon is started "
                      "again when it is not running.").format(title=title, reason=e.message)
                ) from None
            with res:
                why = target_problem(image, drawable, sent)
                if why is not None:
                    raise ResultDropped(
                        _("Easel: {title}: {why} while it ran, so its result was dropped. The "
                          "image was not changed; run the filter again.").format(
                              title=title, why=why))
                return place_result(op, image, drawable, res, req["output"], rgba_babl, fmt)
    finally:
        for sb in shared:
            sb.close()
        if progress:
            Gimp.progress_end()


def place_result(op, image, drawable, res, output, rgba_babl, fmt):
    """Adds the result as a new layer above the drawable, in one undo step."""
    if res.format != fmt:
        raise EaselError("protocol", f"the daemon answered {res.format}, asked for {fmt}")
    scale = int(res.info.get("scale") or op.get("output_scale") or 1)
    data = res.tobytes()
    _found, ox, oy = drawable.get_offsets()
    gray = image.get_base_type() == Gimp.ImageBaseType.GRAY
    ltype = Gimp.ImageType.GRAYA_IMAGE if gray else Gimp.ImageType.RGBA_IMAGE
    name = res.name or op.get("title") or op["id"]
    image.undo_group_start()
    try:
        if scale != 1:
            # The document grows with the result, so the new layer lines up with the others.
            image.scale(image.get_width() * scale, image.get_height() * scale)
            _found, ox, oy = drawable.get_offsets()
        layer = Gimp.Layer.new(image, name, res.width, res.height, ltype, 100.0,
                               Gimp.LayerMode.NORMAL)
        parent = drawable.get_parent() if isinstance(drawable, Gimp.Layer) else None
        position = image.get_item_position(drawable) if isinstance(drawable, Gimp.Layer) else 0
        image.insert_layer(layer, parent, position)
        layer.set_offsets(ox + res.x, oy + res.y)
        buf = layer.get_buffer()
        buf.set(Gegl.Rectangle.new(0, 0, res.width, res.height), rgba_babl, data)
        buf.flush()
        if output == "layer-mask":
            mask = layer.create_mask(Gimp.AddMaskType.ALPHA_TRANSFER)
            layer.add_mask(mask)
        layer.update(0, 0, res.width, res.height)
    finally:
        image.undo_group_end()
    Gimp.displays_flush()
    return layer


# ---------------------------------------------------------------------------- folders
def check_folders(in_dir, out_dir):
    """Refuses missing or unusable folders before anything runs, naming them."""
    if not in_dir:
        raise UserError(_("Easel: no input folder given: choose the folder of images to "
                          "process"))
    if not os.path.isdir(in_dir):
        raise UserError(_("Easel: input folder {folder} does not exist").format(
            folder=repr(in_dir)))
    if not out_dir:
        raise UserError(_("Easel: no output folder given"))
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UserError(_("Easel: output folder {folder} is a file, not a folder").format(
            folder=repr(out_dir)))
    # Results are saved as <name>.png: in the input folder they would replace PNG inputs.
    if os.path.realpath(in_dir) == os.path.realpath(out_dir):
        raise UserError(_("Easel: the output folder {folder} is the input folder; choose "
                          "another, so that no image is replaced by its result").format(
                              folder=repr(out_dir)))


def run_folder(in_dir, out_dir, op_id, params_json):
    """The generic (script) form: the operation by id, its parameters as a JSON object."""
    check_folders(in_dir, out_dir)
    try:
        params = ops.parse_params_json(params_json)
    except ValueError as e:
        raise UserError(_("Easel: {error}").format(error=e)) from None
    with connect() as c:
        op = next((o for o in c.operations() if o.get("id") == op_id), None)
    if op is None:
        raise UserError(_("Easel: the daemon has no operation {id}").format(id=repr(op_id)))
    try:
        values = ops.batch_values(op, params)
    except ValueError as e:
        raise UserError(_("Easel: {error}").format(error=e)) from None
    return process_folder(in_dir, out_dir, op, values, [])


def process_folder(in_dir, out_dir, op, values, refs):
    """Runs the operation on every image file of in_dir (whole, no selection) and saves each
    result alone as <name>.png in out_dir; returns how many were written."""
    check_folders(in_dir, out_dir)
    title = ops._title(op.get("title") or op["id"])
    n_min = int(op.get("min_references") or 0)
    if len(refs) < n_min:
        raise UserError((_("Easel: {title} on a folder needs a reference layer: choose it in the "
                           "dialog (a layer of any open image)") if n_min == 1 else
                         _("Easel: {title} on a folder needs {count} reference layers: choose "
                           "them in the dialog (layers of any open image)")).format(
                              title=title, count=n_min))
    files = ops.batch_inputs(in_dir)
    if not files:
        raise UserError(_("Easel: no image files in {folder}").format(folder=in_dir))
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise UserError(_("Easel: cannot create the output folder {folder}: {reason}").format(
            folder=repr(out_dir), reason=e.strerror or e)) from None
    Gimp.progress_init(_("Easel: {title} on {count} files").format(
        title=title, count=len(files)))
    done = 0
    try:
        for i, path in enumerate(files):
            img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))
            try:
                Gimp.Selection.none(img)
                layer = img.merge_visible_layers(Gimp.MergeType.CLIP_TO_IMAGE)
                new = run_operation(op, img, layer, values, refs, Gimp.RunMode.NONINTERACTIVE,
                                    priority="batch", progress=False)
                # Save the result alone (its transparency matters, not what lies below).
                for other in img.get_layers():
                    if other != new:
                        img.remove_layer(other)
                img.resize_to_layers()
                out = ops.batch_output(path, out_dir)
                Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, img, Gio.File.new_for_path(out),
                               None)
                done += 1
            finally:
                img.delete()
            Gimp.progress_update((i + 1) / len(files))
    finally:
        Gimp.progress_end()
    return done


Gimp.main(EaselPlugIn.__gtype__, sys.argv)
