"""easel_gimp_ops: the GIMP adapter's plain-Python half (no GIMP imports, testable anywhere).

Turns the daemon's operation descriptions into GIMP procedure and argument specifications,
keeps the capabilities cache, holds the built-in fallback list, and maps GIMP precisions to
protocol pixel formats.

Text parameters (a generative operation's prompt) become string arguments. A generative
operation's ``conversation`` (the earlier prompts of a follow-up) is no argument: the adapter
fills it from the turns recorded on the result layer being refined (``TURNS_PARASITE``).
"""

from __future__ import annotations

import gettext
import json
import math
import os
import re
import tempfile

try:
    from easel_client import labels
except ImportError:  # pragma: no cover - the plug-in folder always has it
    labels = None

# The plug-in's gettext domain and its catalogues' folder, relative to the plug-in's folder
# (GIMP 3's convention: locale/LANG/LC_MESSAGES/easel-gimp.mo beside easel-gimp.py); the
# template is made by adapters/i18n/extract.py.
DOMAIN = "easel-gimp"
LOCALE_SUBDIR = "locale"
LOCALE_DIR = os.path.join(os.path.dirname(os.path.realpath(__file__)), LOCALE_SUBDIR)
_ = gettext.translation(DOMAIN, LOCALE_DIR, fallback=True).gettext


def N_(text: str) -> str:
    """Marks a string for the template where it is defined; ``_()`` translates it where used."""
    return text


# The plug-in's help domain (GIMP's Help button): help/LANG/gimp-help.xml beside the plug-in maps
# these help ids to pages of help/LANG/ (English only today).
HELP_DOMAIN = "org.easel.gimp"
HELP_ID_OPERATION = "plug-in-easel-operation"
HELP_ID_BATCH = "plug-in-easel-batch-folder"

PROC_PREFIX = "plug-in-easel-"
# The one generic folder procedure of earlier versions, kept for scripts (strings and a JSON
# object of parameters, no menu entry); the menu has one typed procedure per operation instead.
BATCH_PROC = "plug-in-easel-batch-folder"
BATCH_PREFIX = "plug-in-easel-batch-"
MENU_ROOT = "<Image>/Filters/Easel"
BATCH_MENU_NAME = N_("Batch")
CACHE_NAME = "capabilities.json"
# Seeds are u64 in the protocol; GIMP int arguments are gint, so the dialog offers 0..2^31-1.
SEED_MAX = 2**31 - 1

# Arguments every operation procedure gets besides its own parameters (GIMP names).
ARG_GROW = "selection-grow"
ARG_FEATHER = "selection-feather"
ARG_INVERT = "selection-invert"
ARG_MARGIN = "context-margin"
ARG_OUTPUT = "output"  # remove-background only: alpha | layer-mask | gray-mask
ARG_REFERENCE = "reference"  # then reference-2, reference-3
ARG_INPUT_FOLDER = "input-folder"  # the folder procedures' folders (GFile arguments)
ARG_OUTPUT_FOLDER = "output-folder"
MAX_REFERENCE_ARGS = 3
# A generative operation's earlier prompts, one per line: the adapter fills it for a follow-up.
CONVERSATION = "conversation"
MANAGED_PARAMS = (CONVERSATION,)
# On a generative result layer: {"op", "turns": [prompts, oldest first], "source": tattoo}.
TURNS_PARASITE = "easel-turns"

RB_OUTPUTS = [
    ("alpha", N_("Alpha channel"), N_("The cut-out layer, transparent where the background was")),
    ("layer-mask", N_("Layer mask"),
     N_("An opaque layer with the transparency as a layer mask (editable)")),
    ("gray-mask", N_("Gray mask image"), N_("The transparency as a gray layer")),
]

# Used when the daemon cannot be reached while GIMP queries the plug-in and no cache exists yet:
# a snapshot of the operations Easel ships (their parameters as easeld 0.1.0 describes them).
FALLBACK_OPERATIONS = [
    {"id": "remove-background", "title": "Remove background", "category": "Selection",
     "description": "Makes the background transparent, keeping the main subject",
     "mask": "ignored", "min_references": 0, "max_references": 0, "output_scale": 1,
     "flags": ["deterministic"],
     "params": [
         {"name": "model", "title": "Model", "kind": "choice", "default": "u2netp",
          "options": ["isnet-general-small", "u2netp", "mediapipe-meet"],
          "description": "isnet-general-small: best quality; u2netp: small and quick; "
                         "mediapipe-meet: people, real time"},
         {"name": "refine_foreground", "title": "Refine edge colors", "kind": "bool",
          "default": True, "description": "Estimate the subject's own color at soft edges"},
         {"name": "output", "title": "Output", "kind": "choice", "default": "cutout",
          "options": ["cutout", "mask"], "description": "cutout or mask"}]},
    {"id": "remove-object", "title": "Remove object", "category": "Retouch",
     "description": "Fills the selection from its surroundings", "mask": "required",
     "min_references": 0, "max_references": 0, "output_scale": 1,
     "flags": ["deterministic", "composite_through_mask"],
     "params": [
         {"name": "patch_size", "title": "Patch size", "kind": "int", "min": 5, "max": 15,
          "default": 7, "description": "Width in pixels of the patches copied from around the hole"},
         {"name": "seed", "title": "Seed", "kind": "seed", "default": 0,
          "description": "Seed of the randomised patch search (0: random)"},
         {"name": "method", "title": "Method", "kind": "choice", "default": "patchmatch",
          "options": ["patchmatch", "model"], "description": "patchmatch or the MI-GAN model"}]},
    {"id": "invert", "title": "Invert colors", "category": "Color",
     "description": "Inverts red, green and blue by the given amount; alpha is kept.",
     "mask": "optional", "min_references": 0, "max_references": 0, "output_scale": 1,
     "flags": ["tileable", "deterministic", "composite_through_mask"],
     "params": [{"name": "amount", "title": "Amount", "kind": "float", "min": 0.0, "max": 1.0,
                 "step": 0.05, "default": 1.0, "description": "How far to invert"}]},
    {"id": "match-look", "title": "Match look", "category": "Color",
     "description": "Transfers the reference images' color mood", "mask": "optional",
     "min_references": 1, "max_references": 8, "output_scale": 1,
     "flags": ["deterministic", "composite_through_mask"],
     "params": [
         {"name": "strength", "title": "Strength", "kind": "float", "min": 0.0, "max": 1.0,
          "step": 0.05, "default": 1.0, "description": "How far to move towards the look"},
         {"name": "space", "title": "Colour space", "kind": "choice", "default": "lab",
          "options": ["lab", "oklab"], "description": "lab or oklab"}]},
    {"id": "colorize-scribbles", "title": "Colorize from scribbles", "category": "Color",
     "description": "Colours the image from strokes painted on a reference layer",
     "mask": "ignored", "min_references": 1, "max_references": 1, "output_scale": 1,
     "flags": ["deterministic", "aligned_references"], "params": []},
    {"id": "upscale-2x", "title": "Upscale \u00d72", "category": "Enhance",
     "description": "Enlarges twice with a super-resolution model", "mask": "ignored",
     "min_references": 0, "max_references": 0, "output_scale": 2,
     "flags": ["tileable", "deterministic"],
     "params": [{"name": "model", "title": "Model", "kind": "choice", "default": "swin2sr-x2",
                 "options": ["swin2sr-x2", "realesr-general-x4v3"], "description": "Model"}]},
    {"id": "upscale-4x", "title": "Upscale \u00d74", "category": "Enhance",
     "description": "Enlarges four times with a super-resolution model", "mask": "ignored",
     "min_references": 0, "max_references": 0, "output_scale": 4,
     "flags": ["tileable", "deterministic"],
     "params": [{"name": "model", "title": "Model", "kind": "choice",
                 "default": "realesr-general-x4v3",
                 "options": ["realesr-general-x4v3", "realesrgan-x4plus"], "description": "Model"}]},
    {"id": "fix-low-light", "title": "Fix low light", "category": "Enhance",
     "description": "Brightens an underexposed photo", "mask": "ignored",
     "min_references": 0, "max_references": 0, "output_scale": 1, "flags": ["deterministic"],
     "params": [
         {"name": "model", "title": "Model", "kind": "choice", "default": "llie-semantic-guided",
          "options": ["llie-semantic-guided", "tbefn", "uretinex"], "description": "Model"},
         {"name": "strength", "title": "Strength", "kind": "float", "min": 0.0, "max": 1.0,
          "step": 0.05, "default": 1.0, "description": "How much of the enhancement to apply"},
         {"name": "exposure", "title": "Exposure", "kind": "float", "min": 3.0, "max": 5.0,
          "step": 0.1, "default": 5.0, "description": "Target exposure ratio (uretinex only)"}]},
]


def identifier(text: str) -> str:
    """A GIMP identifier (procedure or argument name): lower case letters, digits and '-'."""
    s = re.sub(r"[^a-z0-9-]+", "-", str(text).lower()).strip("-")
    s = re.sub(r"-{2,}", "-", s)
    if not s or not s[0].isalpha():
        s = "x-" + s
    return s


def proc_name(op_id: str) -> str:
    return PROC_PREFIX + identifier(op_id)


def menu_path(op: dict) -> str:
    cat = str(op.get("category") or "Other").replace("/", "-").strip() or "Other"
    return f"{MENU_ROOT}/{cat}"


def arg_name(param_name: str) -> str:
    """The GIMP argument for a daemon parameter ("patch_size" -> "patch-size")."""
    name = identifier(param_name)
    # Never collide with the arguments this adapter adds itself.
    if name in (ARG_GROW, ARG_FEATHER, ARG_INVERT, ARG_MARGIN, "run-mode", "image", "drawables",
                "num-drawables", ARG_INPUT_FOLDER, ARG_OUTPUT_FOLDER) \
            or name.startswith(ARG_REFERENCE):
        name = "op-" + name
    return name


def is_remove_background(op: dict) -> bool:
    return op.get("id") == "remove-background"


def argument_specs(op: dict) -> list[dict]:
    """The GIMP arguments of an operation's procedure, in dialog order.

    Each spec: {"arg", "kind" (int|double|boolean|choice|drawable), "nick", "blurb", "default",
    "min", "max", "options" [(id, label, help)], "param" (daemon name or None), "role"}.
    """
    specs: list[dict] = []
    rb = is_remove_background(op)
    for p in op.get("params") or []:
        kind = p.get("kind")
        name = str(p.get("name"))
        base = {"arg": arg_name(name), "param": name, "role": "param",
                "nick": _title(p.get("title") or name), "blurb": _sentence(p.get("description")),
                "applies_when": labels.applies_when(op, p) if labels else {}}
        if rb and name == "output":
            continue  # replaced by the adapter's own output choice below
        if kind == "int":
            lo, hi = int(p.get("min", -2**31)), int(p.get("max", 2**31 - 1))
            lo, hi = max(lo, -2**31), min(hi, 2**31 - 1)
            specs.append({**base, "kind": "int", "min": lo, "max": hi,
                          "default": min(max(int(p.get("default", lo)), lo), hi)})
        elif kind == "float":
            lo, hi = float(p.get("min", -1e9)), float(p.get("max", 1e9))
            specs.append({**base, "kind": "double", "min": lo, "max": hi,
                          "default": min(max(float(p.get("default", lo)), lo), hi)})
        elif kind == "bool":
            specs.append({**base, "kind": "boolean", "default": bool(p.get("default", False))})
        elif kind == "choice":
            options = [str(o) for o in p.get("options") or []]
            if not options:
                continue
            default = str(p.get("default", options[0]))
            titles = labels.option_titles(p) if labels else options
            specs.append({**base, "kind": "choice", "default": default if default in options
                          else options[0], "options": list(zip(options, titles,
                                                               [""] * len(options)))})
        elif kind == "seed":
            specs.append({**base, "kind": "int", "min": 0, "max": SEED_MAX, "default": 0,
                          "blurb": (base["blurb"] + " " + _("(0: a new random seed)")).strip(),
                          "role": "seed"})
        elif kind == "text":
            if name in MANAGED_PARAMS:
                continue  # filled by the adapter for a follow-up (see follow_up_params)
            max_len = max(0, int(p.get("max_len") or 0))
            default = str(p.get("default") or "")
            specs.append({**base, "kind": "string", "default": default[:max_len] if max_len
                          else default, "max_len": max_len,
                          "multiline": bool(p.get("multiline")),
                          "blurb": (base["blurb"] + (" " + _("(at most {count} characters)").format(
                              count=max_len) if max_len else "")).strip()})
        # Unknown kinds are left out: the daemon uses their defaults.
    if rb:
        specs.append({"arg": ARG_OUTPUT, "param": None, "role": "output", "kind": "choice",
                      "nick": _("Output"), "default": "alpha",
                      "options": [(i, _(t), _(h)) for i, t, h in RB_OUTPUTS],
                      "blurb": _("alpha: transparency in the layer; layer-mask: an opaque layer "
                                 "with a layer mask; gray-mask: the mask as a gray layer")})
    max_refs = int(op.get("max_references") or 0)
    for i in range(min(max_refs, MAX_REFERENCE_ARGS)):
        word = reference_word(op)
        specs.append({"arg": ARG_REFERENCE if i == 0 else f"{ARG_REFERENCE}-{i + 1}",
                      "param": None, "role": "reference", "kind": "drawable",
                      "nick": word if i == 0 else _("{word} {number}").format(word=word,
                                                                                number=i + 1),
                      "blurb": (_("A layer of this image with colored strokes painted in place "
                                  "(same size).") if is_aligned(op)
                                else _("A layer whose look to use (any image)."))
                      + (" " + _("Required.") if i < int(op.get("min_references") or 0) else "")})
    specs += [
        {"arg": ARG_GROW, "param": None, "role": "modifier", "kind": "int", "min": -1024,
         "max": 1024, "default": 0, "nick": _("Grow selection"),
         "blurb": _("Pixels to grow the selection by before running (negative shrinks).")},
        {"arg": ARG_FEATHER, "param": None, "role": "modifier", "kind": "double", "min": 0.0,
         "max": 1024.0, "default": 0.0, "nick": _("Feather selection"),
         "blurb": _("Feather radius in pixels applied to the selection.")},
        {"arg": ARG_INVERT, "param": None, "role": "modifier", "kind": "boolean",
         "default": False, "nick": _("Invert selection"),
         "blurb": _("Work outside the selection instead of inside it.")},
        {"arg": ARG_MARGIN, "param": None, "role": "modifier", "kind": "int", "min": 0,
         "max": 4096, "default": 64, "nick": _("Context margin"),
         "blurb": _("Pixels of surroundings around the selection the operation sees.")},
    ]
    for sp in specs:
        sp["applies_when"] = sp.get("applies_when") or {}
        sp["uses_selection"] = sp["role"] == "modifier"
    add_mnemonics(specs)
    return specs


# Letters the dialog's own buttons use (_Help, _Reset, _Cancel, _OK).
_RESERVED_MNEMONICS = set("hrco")


def add_mnemonics(specs: list[dict], reserved=_RESERVED_MNEMONICS) -> None:
    """Gives every argument's label a unique mnemonic (an underscore before a letter), as GTK
    wants; the first free letter of a word start, else any free letter."""
    used = set(reserved)
    for sp in specs:
        nick = sp["nick"].replace("_", "")
        pos = None
        starts = [i for i, ch in enumerate(nick) if ch.isalpha() and (i == 0 or nick[i - 1] == " ")]
        for i in starts + list(range(len(nick))):
            ch = nick[i].lower()
            if ch.isalpha() and ch.isascii() and ch not in used:
                pos = i
                break
        if pos is None:
            sp["label"] = nick
            continue
        used.add(nick[pos].lower())
        sp["label"] = nick[:pos] + "_" + nick[pos:]


def is_aligned(op: dict) -> bool:
    return "aligned_references" in (op.get("flags") or [])


def reference_word(op: dict) -> str:
    """What the operation's reference layers are to the user."""
    return _("Scribble layer") if is_aligned(op) else _("Reference layer")


def uses_mask(op: dict) -> bool:
    """Whether a selection changes what the operation does (modifiers and margin apply)."""
    return op.get("mask") in ("optional", "required")


def dialog_arguments(op: dict, has_selection: bool) -> list[str]:
    """The arguments the dialog shows: not the selection's modifiers where there is no
    selection or the operation ignores it."""
    out = []
    for sp in argument_specs(op):
        if sp["role"] == "modifier" and not (has_selection and uses_mask(op)):
            continue
        out.append(sp["arg"])
    return out


def fill_dialog(dialog, op: dict, has_selection: bool, text_view_type=None) -> list[str]:
    """Builds a procedure dialog (a GimpUi.ProcedureDialog, passed in) for the operation: sliders
    for numbers, a multi-line text box (``text_view_type``: Gtk.TextView's GType) for multiline
    text, then the arguments ``dialog_arguments`` shows. Returns those arguments."""
    shown = dialog_arguments(op, has_selection)
    for sp in argument_specs(op):
        if sp["arg"] not in shown:
            continue
        try:
            if sp["kind"] in ("int", "double") and sp["role"] != "seed":
                dialog.get_spin_scale(sp["arg"], 1.0)  # a slider, as GIMP's own
            elif sp["kind"] == "string" and sp.get("multiline") and text_view_type is not None:
                dialog.get_widget(sp["arg"], text_view_type)  # a text box, not one line
        except Exception:  # noqa: BLE001 - an older GIMP: its default widget
            pass
    dialog.fill(shown)
    return shown


# --------------------------------------------------------------------------- folders
def batchable(op: dict) -> bool:
    """Whether the operation gets a folder procedure: it must work on a whole image without a
    selection, and without a layer painted over each image (aligned references)."""
    return op.get("mask") != "required" and not is_aligned(op)


def batch_proc_name(op_id: str) -> str:
    return BATCH_PREFIX + identifier(op_id)


def batch_menu_path() -> str:
    return f"{MENU_ROOT}/{_(BATCH_MENU_NAME)}"


def batch_menu_labels(operations: list[dict]) -> dict:
    """op id -> the menu label of its folder procedure ("_Remove background on a folder..."),
    each with a mnemonic of its own within the Batch submenu."""
    specs = [{"arg": o["id"], "nick": _("{title} on a folder...").format(
        title=_title(o.get("title") or o["id"]))} for o in operations if batchable(o)]
    add_mnemonics(specs, reserved=())
    return {sp["arg"]: sp["label"] for sp in specs}


def batch_argument_specs(op: dict) -> list[dict]:
    """The arguments of an operation's folder procedure, in dialog order: the input and output
    folders, then the operation's own parameters (and reference layers, from any open image) as
    its image procedure has them; no selection modifiers (each image is used whole)."""
    specs = [
        # An existing folder (a folder chooser); GIMP itself refuses a missing one.
        {"arg": ARG_INPUT_FOLDER, "param": None, "role": "folder", "kind": "folder",
         "create": False,
         "nick": _("Input folder"), "blurb": _("The folder of images to process (png, jpg, tif, "
                                               "webp, xcf, bmp)."), "applies_when": {}},
        # A folder that may not exist yet (a name to type, or browse): created when run.
        {"arg": ARG_OUTPUT_FOLDER, "param": None, "role": "folder", "kind": "folder",
         "create": True,
         "nick": _("Output folder"), "blurb": _("The folder for the results, one PNG per image "
                                                "(created if missing)."), "applies_when": {}},
    ]
    specs += [dict(s) for s in argument_specs(op) if s["role"] != "modifier"]
    add_mnemonics(specs)
    return specs


def fill_batch_dialog(dialog, op: dict) -> list[str]:
    """Builds a folder procedure's dialog: its folder choosers and the operation's parameters
    (sliders for numbers), never the run mode. Returns the arguments shown."""
    shown = []
    for sp in batch_argument_specs(op):
        try:
            if sp["kind"] in ("int", "double") and sp["role"] != "seed":
                dialog.get_spin_scale(sp["arg"], 1.0)
        except Exception:  # noqa: BLE001 - an older GIMP: its default widget
            pass
        shown.append(sp["arg"])
    dialog.fill(shown)
    return shown


def batch_values(op: dict, params: dict) -> dict:
    """The generic folder procedure's JSON parameters (daemon names) as argument values, as the
    operation's own procedure takes them; raises ValueError naming an unknown parameter."""
    values = {}
    by_param = {s["param"]: s for s in argument_specs(op) if s.get("param")}
    for k, v in params.items():
        if k in by_param:
            values[by_param[k]["arg"]] = v
        elif k == "output" and is_remove_background(op):
            values[ARG_OUTPUT] = "gray-mask" if v == "mask" else "alpha"
        else:
            raise ValueError(_("{id} has no parameter {name}").format(id=op.get("id"),
                                                                        name=repr(k)))
    return values


def applicable(spec: dict, values_by_param: dict) -> bool:
    """Whether an argument does something given the other parameters' values."""
    for other, allowed in (spec.get("applies_when") or {}).items():
        if other in values_by_param and str(values_by_param[other]) not in allowed:
            return False
    return True


def missing_references_message(op: dict, n_min: int) -> str:
    title = _title(op.get("title") or op["id"])
    if is_aligned(op):
        return _("Easel: {title} needs a scribble layer: select it together with the photo "
                 "in the Layers dock (or choose it in the dialog)").format(title=title)
    if n_min == 1:
        return _("Easel: {title} needs a reference layer: select it together with the layer "
                 "in the Layers dock (or choose it in the dialog)").format(title=title)
    return _("Easel: {title} needs {count} reference layers: select them together with the "
             "layer in the Layers dock (or choose them in the dialog)").format(title=title,
                                                                               count=n_min)


def _title(text) -> str:
    return labels.title(text) if labels else str(text or "")


def _sentence(text) -> str:
    return labels.sentence(text) if labels else str(text or "")


def collect_request(op: dict, values: dict) -> dict:
    """Daemon request pieces from the procedure's argument values (keyed by GIMP argument name).

    Returns {"params", "mask_modifiers", "context_margin", "output"}.
    """
    params: dict = {}
    for s in argument_specs(op):
        if s["role"] in ("param", "seed") and s["arg"] in values:
            v = values[s["arg"]]
            if s["kind"] == "int":
                v = int(v)
            elif s["kind"] == "double":
                v = float(v)
            elif s["kind"] == "boolean":
                v = bool(v)
            else:
                v = str(v)
            params[s["param"]] = v
    output = str(values.get(ARG_OUTPUT, "alpha")) if is_remove_background(op) else None
    if output is not None:
        params["output"] = "mask" if output == "gray-mask" else "cutout"
    mods = {"grow": int(values.get(ARG_GROW, 0) or 0),
            "feather": float(values.get(ARG_FEATHER, 0.0) or 0.0),
            "invert": bool(values.get(ARG_INVERT, False))}
    return {"params": params, "mask_modifiers": mods,
            "context_margin": int(values.get(ARG_MARGIN, 64)), "output": output}


def check_text_lengths(op: dict, params: dict) -> None:
    """Refuses a text value over its parameter's limit, naming the argument (before sending)."""
    for s in argument_specs(op):
        if s["kind"] == "string" and s.get("max_len") and s["param"] in params:
            n = len(str(params[s["param"]]))
            if n > s["max_len"]:
                raise ValueError(_("{name} is {count} characters long, over its limit of "
                                   "{limit}").format(name=s["arg"], count=n, limit=s["max_len"]))


# --------------------------------------------------------------------------- refinement
def refinable(op: dict) -> bool:
    """Whether follow-ups of the operation can name an earlier result (a generative one)."""
    return any(p.get("name") == CONVERSATION and p.get("kind") == "text"
               for p in op.get("params") or [])


def turns_record(op_id: str, earlier: list, prompt: str, source_tattoo: int) -> dict:
    """What a generative result layer keeps: every prompt that made it, and its source."""
    return {"op": op_id, "turns": [*earlier, prompt.strip()], "source": int(source_tattoo)}


def encode_turns(record: dict) -> list:
    return list(json.dumps(record).encode("utf-8"))


def decode_turns(data) -> dict | None:
    """The record from a layer's parasite data, or None when it is not one."""
    try:
        record = json.loads(bytes(data).decode("utf-8"))
    except (ValueError, TypeError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("turns"), list) \
            or not record["turns"] or not all(isinstance(t, str) for t in record["turns"]) \
            or not isinstance(record.get("source"), int):
        return None
    return record


def follow_up_params(params: dict, record: dict) -> dict:
    """A follow-up's parameters: this turn's prompt, the earlier ones as the conversation."""
    return {**params, CONVERSATION: "\n".join(t.strip() for t in record["turns"] if t.strip())}


def turn_name(name: str, turn: int) -> str:
    """A follow-up's layer name; without the " #1" GIMP adds to a name already in the image."""
    name = re.sub(r" #\d+$", "", name)
    return _("{name} (turn {turn})").format(name=name, turn=turn) if turn > 1 else name


def parse_params_json(text: str) -> dict:
    """The batch procedure's params argument: a JSON object ("" means none)."""
    text = (text or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(_("params is not valid JSON ({reason} at character {pos}): "
                           "{text}").format(reason=e.msg, pos=e.pos, text=repr(text)))
    if not isinstance(value, dict):
        raise ValueError(_("params must be a JSON object like {example}, got {text}").format(
            example='{"amount": 0.5}', text=repr(text)))
    return value


# --------------------------------------------------------------------------- pixel formats
# Every precision is exchanged in its sRGB-encoded ("R'G'B'A") variant: the models and the
# classic operations work on perceptual values, and GEGL converts from the layer's own storage
# (linear or not, any colour space) on the way in and back on the way out.
def formats_for_precision(precision_name: str) -> tuple[str, str, str, str]:
    """(babl RGBA format, protocol format, babl mask format, protocol mask format)."""
    p = precision_name.upper()
    if "U8" in p:
        return "R'G'B'A u8", "rgba8", "Y u8", "gray8"
    if "U16" in p:
        return "R'G'B'A u16", "rgba16", "Y float", "gray32f"
    return "R'G'B'A float", "rgba32f", "Y float", "gray32f"


BATCH_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".xcf", ".bmp")


def batch_inputs(folder: str) -> list[str]:
    """The image files of a folder that the batch procedure processes, sorted."""
    return sorted(os.path.join(folder, n) for n in os.listdir(folder)
                  if n.lower().endswith(BATCH_EXTENSIONS)
                  and os.path.isfile(os.path.join(folder, n)))


def batch_output(in_path: str, out_folder: str) -> str:
    stem = os.path.splitext(os.path.basename(in_path))[0]
    return os.path.join(out_folder, stem + ".png")


# --------------------------------------------------------------------------- capabilities cache
def cache_path(config_dir: str) -> str:
    return os.path.join(config_dir, "easel", CACHE_NAME)


def write_cache(config_dir: str, operations: list[dict], server: str | None) -> None:
    path = cache_path(config_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".capabilities.")
    with os.fdopen(fd, "w") as f:
        json.dump({"server": server, "operations": operations}, f, indent=1)
    os.replace(tmp, path)


def read_cache(config_dir: str) -> list[dict] | None:
    try:
        with open(cache_path(config_dir)) as f:
            ops = json.load(f).get("operations")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(ops, list) or not all(isinstance(o, dict) and o.get("id") for o in ops):
        return None
    return ops


def usable(op: dict) -> bool:
    """Whether a procedure can be registered for the operation."""
    return bool(op.get("id")) and isinstance(op.get("params", []), list)


def clamp_progress(fraction: float) -> float:
    if not math.isfinite(fraction):
        return 0.0
    return min(max(fraction, 0.0), 1.0)
