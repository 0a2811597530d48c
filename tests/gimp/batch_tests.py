"""The GIMP adapter's tests inside real GIMP 3 (gimp-console-3.0, batch mode, python-fu-eval).

Run as ``exec(open(PATH).read())``. Drives the installed easel-gimp procedures through the PDB on
real photos with the real daemon, checks the new layers' pixels, offsets and names, then stops
the daemon and checks the failure path. Writes {"checks": [...], "timings_ms": {...}} to
$EASEL_GIMP_RESULTS. Environment: EASEL_GIMP_RESULTS, EASEL_PHOTOS (a folder visible here),
EASEL_SOCKET (the daemon), EASEL_GIMP_PLUGIN_DIR (the installed plug-in, for easel_client),
EASEL_GIMP_WORK (a scratch folder visible here).
"""

import json
import os
import shutil
import sys
import time
import traceback

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

RESULTS = os.environ["EASEL_GIMP_RESULTS"]
PHOTOS = os.environ["EASEL_PHOTOS"]
WORK = os.environ["EASEL_GIMP_WORK"]
sys.path.insert(0, os.environ["EASEL_GIMP_PLUGIN_DIR"])

checks = []
timings = {}
info = {}


def check(name, ok, detail=""):
    checks.append({"name": name, "ok": bool(ok), "detail": str(detail)[:2000]})


def save():
    with open(RESULTS + ".tmp", "w") as f:
        json.dump({"checks": checks, "timings_ms": timings, "info": info}, f, indent=1)
    os.replace(RESULTS + ".tmp", RESULTS)


def guarded(fn):
    """Runs one test; an exception is a failed check, not the end of the run."""
    try:
        fn()
    except Exception:
        check(fn.__name__ + " (raised)", False, traceback.format_exc())
    save()


PDB = Gimp.get_pdb()


def load(name):
    return Gimp.file_load(Gimp.RunMode.NONINTERACTIVE,
                          Gio.File.new_for_path(os.path.join(PHOTOS, name)))


def pixels(drawable, rect, fmt="R'G'B'A u8"):
    return bytes(drawable.get_buffer().get(Gegl.Rectangle.new(*rect), 1.0, fmt,
                                           Gegl.AbyssPolicy.NONE))


def px8(drawable, x, y):
    """One pixel (drawable coordinates) as (r, g, b, a) 0..255."""
    return tuple(pixels(drawable, (x, y, 1, 1)))


def run_proc(name, image, drawables, **props):
    """Runs a procedure; returns (status, error message or '', seconds)."""
    proc = PDB.lookup_procedure(name)
    if proc is None:
        return None, f"no procedure {name}", 0.0
    config = proc.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    if image is not None:
        config.set_property("image", image)
        config.set_core_object_array("drawables", drawables)
    for k, v in props.items():
        config.set_property(k, v)
    t0 = time.monotonic()
    result = proc.run(config)
    dt = time.monotonic() - t0
    status = result.index(0)
    msg = ""
    if status != Gimp.PDBStatusType.SUCCESS:
        try:
            msg = PDB.get_last_error() or ""
        except Exception as e:  # older/newer API
            msg = f"(no last error: {e})"
        # GIMP's own refusal of an argument (before the plug-in runs) is only in the result.
        if msg in ("", "success") and result.length() > 1:
            try:
                msg = str(result.index(1))
            except Exception:
                pass
    return status, msg, dt


def top_layer(image):
    return image.get_layers()[0]


# ------------------------------------------------------------------------------ tests
def test_registration():
    from easel_client import Client
    with Client.connect(os.environ["EASEL_SOCKET"], autostart=False) as c:
        daemon_ops = [o["id"] for o in c.operations()]
    info["daemon_operations"] = daemon_ops
    missing = [o for o in daemon_ops if PDB.lookup_procedure("plug-in-easel-" + o) is None]
    check("every daemon operation has a procedure", not missing and daemon_ops,
          f"missing: {missing}")
    check("the batch-folder procedure exists",
          PDB.lookup_procedure("plug-in-easel-batch-folder") is not None)
    reg_path = os.path.join(Gimp.directory(), "easel", "registered.json")
    try:
        reg = json.load(open(reg_path))
    except OSError as e:
        reg = {"error": str(e)}
    check("registered from the daemon's capabilities", reg.get("source") == "daemon", reg)
    cache = os.path.join(Gimp.directory(), "easel", "capabilities.json")
    ok = os.path.isfile(cache) and len(json.load(open(cache))["operations"]) == len(daemon_ops)
    check("capabilities cached for registering without a daemon", ok, cache)
    proc = PDB.lookup_procedure("plug-in-easel-remove-background")
    if proc is not None:
        args = [a.get_name() for a in proc.get_arguments()]
        menus = proc.get_menu_paths()
        check("remove-background arguments from the schema plus modifiers and output",
              all(a in args for a in ("model", "refine-foreground", "output", "selection-grow",
                                      "selection-feather", "selection-invert")), args)
        check("menu path under Filters/Easel/<Category>",
              "<Image>/Filters/Easel/Selection" in menus, menus)
    proc = PDB.lookup_procedure("plug-in-easel-invert")
    if proc is not None:
        spec = next(a for a in proc.get_arguments() if a.get_name() == "amount")
        check("float parameter keeps its range",
              abs(spec.minimum - 0.0) < 1e-9 and abs(spec.maximum - 1.0) < 1e-9,
              f"{spec.minimum}..{spec.maximum}")


def test_remove_background_alpha():
    img = load("car-1.jpg")
    layer = top_layer(img)
    n0 = len(img.get_layers())
    img.select_rectangle(Gimp.ChannelOps.REPLACE, 20, 120, 380, 190)
    st, msg, dt = run_proc("plug-in-easel-remove-background", img, [layer], model="u2netp")
    timings["remove-background u2netp (car-1 480x360)"] = round(dt * 1000)
    check("remove-background runs", st == Gimp.PDBStatusType.SUCCESS, f"{st} {msg}")
    layers = img.get_layers()
    check("remove-background adds one layer", len(layers) == n0 + 1, len(layers))
    if len(layers) != n0 + 1:
        return
    new = layers[0]
    _, x, y = new.get_offsets()
    w, h = new.get_width(), new.get_height()
    check("remove-background layer name", new.get_name().startswith("Remove background"),
          new.get_name())
    # Crop = selection bounds + 64 px margin, clamped to the image.
    check("remove-background layer placed at the crop",
          (x, y, w, h) == (0, 56, 464, 304), (x, y, w, h))
    check("remove-background layer has alpha", new.has_alpha())
    corners = [(25, 125), (395, 125), (25, 305), (395, 305)]
    alphas = [px8(new, cx - x, cy - y)[3] for cx, cy in corners]
    check("background transparent at the selection's corners", all(a == 0 for a in alphas),
          alphas)
    car = [(200, 230), (300, 200), (100, 240)]
    alphas = [px8(new, cx - x, cy - y)[3] for cx, cy in car]
    check("the car stays opaque", all(a >= 250 for a in alphas), alphas)
    outside = px8(new, 10, 10)[3]  # inside the margin, outside the selection: masked away
    check("outside the selection is transparent", outside == 0, outside)
    orig = px8(layer, 200, 230)
    got = px8(new, 200 - x, 230 - y)
    check("the original layer is untouched and the car's colour kept",
          max(abs(a - b) for a, b in zip(orig[:3], got[:3])) <= 3, (orig, got))
    img.delete()


def test_remove_background_layer_mask():
    img = load("car-1.jpg")
    layer = top_layer(img)
    img.select_rectangle(Gimp.ChannelOps.REPLACE, 20, 120, 380, 190)
    st, msg, dt = run_proc("plug-in-easel-remove-background", img, [layer], model="u2netp",
                           output="layer-mask")
    check("remove-background (layer mask) runs", st == Gimp.PDBStatusType.SUCCESS, f"{st} {msg}")
    new = top_layer(img)
    mask = new.get_mask()
    check("remove-background (layer mask) adds a layer mask", mask is not None)
    if mask is None:
        return
    _, x, y = new.get_offsets()
    m = [pixels(mask, (cx - x, cy - y, 1, 1), "Y u8")[0]
         for cx, cy in [(25, 125), (395, 305), (200, 230)]]
    check("layer mask black on the background, white on the car",
          m[0] == 0 and m[1] == 0 and m[2] >= 250, m)
    a = px8(new, 25 - x, 125 - y)[3]
    check("layer with a mask is opaque itself", a == 255, a)
    img.delete()


def check_invert(img, layer, label, fmt, maxval, tol):
    """Inverts inside a selection and checks bounds, inside, outside (in fmt's units)."""
    import struct
    code = {"u8": "B", "u16": "H", "float": "f"}[fmt.split()[-1]]
    size = struct.calcsize(code)

    def px(d, x, y):
        return struct.unpack("4" + code, pixels(d, (x, y, 1, 1), fmt)[: 4 * size])

    n0 = len(img.get_layers())
    img.select_rectangle(Gimp.ChannelOps.REPLACE, 100, 80, 120, 90)
    st, msg, dt = run_proc("plug-in-easel-invert", img, [layer], amount=1.0)
    timings[f"invert {label}"] = round(dt * 1000)
    check(f"invert {label} runs", st == Gimp.PDBStatusType.SUCCESS, f"{st} {msg}")
    if len(img.get_layers()) != n0 + 1:
        check(f"invert {label} adds a layer", False, len(img.get_layers()))
        return
    new = top_layer(img)
    _, x, y = new.get_offsets()
    w, h = new.get_width(), new.get_height()
    ww, hh = img.get_width(), img.get_height()
    want = (max(0, 100 - 64), max(0, 80 - 64), min(ww, 220 + 64) - max(0, 100 - 64),
            min(hh, 170 + 64) - max(0, 80 - 64))
    check(f"invert {label}: layer covers the selection plus margin", (x, y, w, h) == want,
          ((x, y, w, h), want))
    check(f"invert {label}: layer name", new.get_name().startswith("Invert"), new.get_name())
    bad = []
    for (ix, iy) in [(110, 90), (150, 120), (210, 160)]:
        o, r = px(layer, ix, iy), px(new, ix - x, iy - y)
        if any(abs((maxval - a) - b) > tol for a, b in zip(o[:3], r[:3])) or abs(r[3] - maxval) > tol:
            bad.append(("in", ix, iy, o, r))
    for (ix, iy) in [(x + 2, y + 2), (90, 120), (230, 160)]:
        o, r = px(layer, ix, iy), px(new, ix - x, iy - y)
        if any(abs(a - b) > tol for a, b in zip(o[:4], r[:4])):
            bad.append(("out", ix, iy, o, r))
    check(f"invert {label}: inverted inside, original outside", not bad, bad)


def test_invert_u8():
    img = load("chelsea.png")
    layer = top_layer(img)
    if not layer.has_alpha():
        layer.add_alpha()
    check_invert(img, layer, "8-bit", "R'G'B'A u8", 255, 1)
    img.delete()


def test_invert_u16():
    img = load("chelsea.png")
    img.convert_precision(Gimp.Precision.U16_NON_LINEAR)
    layer = top_layer(img)
    if not layer.has_alpha():
        layer.add_alpha()
    check("image is 16-bit", "U16" in str(img.get_precision()).upper(), img.get_precision())
    check_invert(img, layer, "16-bit", "R'G'B'A u16", 65535, 2)
    img.delete()


def test_invert_float():
    img = load("chelsea.png")
    img.convert_precision(Gimp.Precision.FLOAT_LINEAR)
    layer = top_layer(img)
    if not layer.has_alpha():
        layer.add_alpha()
    check("image is float linear", "FLOAT" in str(img.get_precision()).upper(),
          img.get_precision())
    check_invert(img, layer, "float linear", "R'G'B'A float", 1.0, 2e-3)
    img.delete()


def test_invert_no_selection_offset_layer():
    img = load("chelsea.png")
    layer = top_layer(img)
    layer.set_offsets(30, 20)  # a layer that does not start at the origin
    Gimp.Selection.none(img)
    st, msg, dt = run_proc("plug-in-easel-invert", img, [layer], amount=1.0)
    check("invert without a selection runs", st == Gimp.PDBStatusType.SUCCESS, f"{st} {msg}")
    new = top_layer(img)
    _, x, y = new.get_offsets()
    check("whole layer inverted at the layer's offsets",
          (x, y, new.get_width(), new.get_height()) == (30, 20, layer.get_width(),
                                                       layer.get_height()),
          (x, y, new.get_width(), new.get_height()))
    o, r = px8(layer, 5, 5), px8(new, 5, 5)
    check("whole layer inverted", all(abs(255 - a - b) <= 1 for a, b in zip(o[:3], r[:3])),
          (o, r))
    img.delete()


def test_upscale_2x():
    img = load("chelsea.png")
    layer = top_layer(img)
    w0, h0 = img.get_width(), img.get_height()
    img.select_rectangle(Gimp.ChannelOps.REPLACE, 200, 100, 40, 30)
    st, msg, dt = run_proc("plug-in-easel-upscale-2x", img, [layer],
                           model="realesr-general-x4v3")
    timings["upscale-2x realesr-general-x4v3 (168x158 crop)"] = round(dt * 1000)
    check("upscale-2x runs", st == Gimp.PDBStatusType.SUCCESS, f"{st} {msg}")
    if st != Gimp.PDBStatusType.SUCCESS:
        return
    check("upscale-2x scales the image with the result",
          (img.get_width(), img.get_height()) == (2 * w0, 2 * h0),
          (img.get_width(), img.get_height()))
    new = top_layer(img)
    _, x, y = new.get_offsets()
    got = (x, y, new.get_width(), new.get_height())
    check("upscale-2x layer at twice the crop", got == (2 * 136, 2 * 36, 2 * 168, 2 * 158), got)
    # Inside the (scaled) selection the result lines up with the scaled original; outside it
    # the result's alpha is multiplied by the selection (upscale does not blend through it).
    a = pixels(img.get_layers()[1], (432, 222, 16, 16))
    b = pixels(new, (432 - x, 222 - y, 16, 16))
    diff = sum(abs(p - q) for p, q in zip(a, b)) / len(a)
    check("upscale-2x layer lines up with the scaled original", diff < 25, diff)
    out = px8(new, 10, 10)[3]
    check("upscale-2x: transparent outside the selection", out == 0, out)
    img.delete()


def test_mask_required():
    img = load("chelsea.png")
    layer = top_layer(img)
    Gimp.Selection.none(img)
    n0 = len(img.get_layers())
    st, msg, _ = run_proc("plug-in-easel-remove-object", img, [layer])
    check("remove-object without a selection fails", st != Gimp.PDBStatusType.SUCCESS,
          f"{st} {msg}")
    check("...with a message asking for a selection", "selection" in msg.lower(), msg)
    check("...and no new layer", len(img.get_layers()) == n0, len(img.get_layers()))
    img.select_rectangle(Gimp.ChannelOps.REPLACE, 200, 100, 40, 30)
    st, msg, dt = run_proc("plug-in-easel-remove-object", img, [layer])
    timings["remove-object patchmatch (40x30 hole)"] = round(dt * 1000)
    check("remove-object with a selection runs", st == Gimp.PDBStatusType.SUCCESS, f"{st} {msg}")
    check("remove-object adds one layer", len(img.get_layers()) == n0 + 1)
    img.delete()


def test_match_look_reference():
    img = load("chelsea.png")
    layer = top_layer(img)
    ref = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, img,
                               Gio.File.new_for_path(os.path.join(PHOTOS, "coffee.png")))
    img.insert_layer(ref, None, 1)  # below
    ref.set_visible(False)
    Gimp.Selection.none(img)
    n0 = len(img.get_layers())
    st, msg, dt = run_proc("plug-in-easel-match-look", img, [layer], reference=ref)
    timings["match-look"] = round(dt * 1000)
    check("match-look with a reference layer runs", st == Gimp.PDBStatusType.SUCCESS,
          f"{st} {msg}")
    check("match-look adds one layer", len(img.get_layers()) == n0 + 1)
    if st == Gimp.PDBStatusType.SUCCESS:
        new = top_layer(img)
        a, b = pixels(layer, (0, 0, 64, 64)), pixels(new, (0, 0, 64, 64))
        check("match-look changed the colours", a != b)
    st, msg, _ = run_proc("plug-in-easel-match-look", img, [layer])
    check("match-look without a reference fails clearly",
          st != Gimp.PDBStatusType.SUCCESS and "reference" in msg.lower(), f"{st} {msg}")
    img.delete()


def folder(path):
    return Gio.File.new_for_path(path)


def listing(path):
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def test_batch_folder():
    """Filters > Easel > Batch: one typed procedure per operation, folders as GFile arguments."""
    src = os.path.join(WORK, "batch-in")
    os.makedirs(src, exist_ok=True)
    for n in ("chelsea.png", "car-1.jpg"):
        shutil.copy(os.path.join(PHOTOS, n), src)
    proc = PDB.lookup_procedure("plug-in-easel-batch-remove-background")
    check("batch: Remove background on a folder has a procedure", proc is not None)
    if proc is None:
        return
    args = {a.get_name(): a for a in proc.get_arguments()}
    def vtype(n):
        return getattr(getattr(args.get(n), "value_type", None), "name", None)
    check("batch: its folders are file arguments (folder choosers), its parameters typed",
          vtype("input-folder") == vtype("output-folder") == "GFile"
          and type(args.get("model")).__name__ == "ParamChoice"
          and vtype("refine-foreground") == "gboolean"
          and "operation" not in args and "params" not in args
          and "selection-grow" not in args,
          {n: (type(a).__name__, getattr(a, "value_type", None)) for n, a in args.items()})
    label = proc.get_menu_label()
    check("batch: under Filters > Easel > Batch, with a mnemonic",
          "<Image>/Filters/Easel/Batch" in proc.get_menu_paths()
          and "_" in label and label.replace("_", "") == "Remove background on a folder...",
          (proc.get_menu_paths(), label))
    reg = json.load(open(os.path.join(Gimp.directory(), "easel", "registered.json")))
    check("batch: no folder procedure for operations that need a selection or a painted layer",
          "plug-in-easel-batch-remove-object" not in reg.get("batch_procedures", [])
          and "plug-in-easel-batch-colorize-scribbles" not in reg.get("batch_procedures", [])
          and "plug-in-easel-batch-invert" in reg.get("batch_procedures", []), reg)

    # Remove background on the folder's photos, through its typed arguments.
    out = os.path.join(WORK, "batch-out-rb")
    st, msg, dt = run_proc("plug-in-easel-batch-remove-background", None, None, **{
        "input-folder": folder(src), "output-folder": folder(out), "model": "u2netp",
        "output": "alpha"})
    timings["batch remove-background u2netp (2 files)"] = round(dt * 1000)
    check("batch remove-background runs", st == Gimp.PDBStatusType.SUCCESS, f"{st} {msg}")
    made = listing(out)
    check("batch remove-background writes one PNG per input", made == ["car-1.png", "chelsea.png"],
          made)
    if "car-1.png" in made:
        a = load("car-1.jpg")
        b = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, folder(os.path.join(out, "car-1.png")))
        lb = top_layer(b)
        check("batch cut-out: the photo's size, with alpha",
              (b.get_width(), b.get_height()) == (a.get_width(), a.get_height())
              and lb.has_alpha(), (b.get_width(), b.get_height(), lb.has_alpha()))
        corners = [px8(lb, x, y)[3] for x, y in ((25, 125), (395, 125), (25, 305), (395, 305))]
        check("batch cut-out: the background is transparent", all(c <= 8 for c in corners),
              corners)
        car = [px8(lb, x, y) for x, y in ((200, 230), (300, 200), (100, 240))]
        check("batch cut-out: the car stays opaque", all(p[3] >= 250 for p in car), car)
        o = px8(top_layer(a), 200, 230)
        check("batch cut-out: the car's colour kept",
              max(abs(p - q) for p, q in zip(o[:3], car[0][:3])) <= 3, (o, car[0]))
        a.delete()
        b.delete()

    # Invert, its amount a double argument: the saved pixels inverted exactly.
    out = os.path.join(WORK, "batch-out")
    st, msg, dt = run_proc("plug-in-easel-batch-invert", None, None, **{
        "input-folder": folder(src), "output-folder": folder(out), "amount": 1.0})
    timings["batch folder invert (2 files)"] = round(dt * 1000)
    check("batch invert runs", st == Gimp.PDBStatusType.SUCCESS, f"{st} {msg}")
    made = listing(out)
    check("batch invert writes one PNG per input", made == ["car-1.png", "chelsea.png"], made)
    if "chelsea.png" in made:
        a = load("chelsea.png")
        b = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, folder(os.path.join(out, "chelsea.png")))
        bad = []
        for x, y in ((40, 40), (200, 150), (400, 250), (10, 290)):
            o, r = px8(top_layer(a), x, y), px8(top_layer(b), x, y)
            if not all(abs(255 - p - q) <= 1 for p, q in zip(o[:3], r[:3])):
                bad.append(((x, y), o, r))
        check("batch output inverted", (a.get_width(), a.get_height()) == (b.get_width(),
              b.get_height()) and not bad, bad)
        a.delete()
        b.delete()

    # Match look: its reference layer argument, a layer of another open image.
    look = load("coffee.png")
    out = os.path.join(WORK, "batch-out-look")
    st, msg, _ = run_proc("plug-in-easel-batch-match-look", None, None, **{
        "input-folder": folder(src), "output-folder": folder(out), "strength": 1.0,
        "reference": top_layer(look)})
    check("batch match-look with a reference layer of an open image runs",
          st == Gimp.PDBStatusType.SUCCESS and listing(out) == ["car-1.png", "chelsea.png"],
          f"{st} {msg} {listing(out)}")
    if "chelsea.png" in listing(out):
        a = load("chelsea.png")
        b = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, folder(os.path.join(out, "chelsea.png")))
        w, h = a.get_width(), a.get_height()
        pa, pb = pixels(top_layer(a), (0, 0, w, h)), pixels(top_layer(b), (0, 0, w, h))
        mean_diff = sum(abs(x - y) for x, y in zip(pa, pb)) / max(1, len(pa))
        check("batch match-look: the saved image's colours moved towards the look",
              (b.get_width(), b.get_height()) == (w, h) and mean_diff > 3, round(mean_diff, 2))
        a.delete()
        b.delete()
    st, msg, _ = run_proc("plug-in-easel-batch-match-look", None, None, **{
        "input-folder": folder(src), "output-folder": folder(out)})
    check("batch match-look without a reference fails, asking for one",
          st == Gimp.PDBStatusType.CALLING_ERROR and "reference layer" in msg, f"{st} {msg}")
    look.delete()

    # Bad folders: refused before anything runs, naming the folder (or, where GIMP itself
    # refuses the value of a folder argument, naming the argument).
    missing = os.path.join(WORK, "no-such-folder")
    st, msg, _ = run_proc("plug-in-easel-batch-invert", None, None, **{
        "input-folder": folder(missing), "output-folder": folder(out)})
    check("batch: a missing input folder is refused, naming the argument",
          st == Gimp.PDBStatusType.CALLING_ERROR and "input-folder" in msg, f"{st} {msg}")
    st, msg, _ = run_proc("plug-in-easel-batch-invert", None, None, **{
        "output-folder": folder(out)})
    check("batch: no input folder chosen fails clearly",
          st == Gimp.PDBStatusType.CALLING_ERROR and "no input folder" in msg, f"{st} {msg}")
    empty = os.path.join(WORK, "batch-empty")
    os.makedirs(empty, exist_ok=True)
    st, msg, _ = run_proc("plug-in-easel-batch-invert", None, None, **{
        "input-folder": folder(empty), "output-folder": folder(out)})
    check("batch: a folder without images fails, naming it",
          st == Gimp.PDBStatusType.CALLING_ERROR and empty in msg, f"{st} {msg}")
    before = {n: os.path.getmtime(os.path.join(src, n)) for n in listing(src)}
    st, msg, _ = run_proc("plug-in-easel-batch-invert", None, None, **{
        "input-folder": folder(src), "output-folder": folder(src)})
    check("batch: the input folder as output is refused, naming it (inputs kept)",
          st == Gimp.PDBStatusType.CALLING_ERROR and src in msg
          and before == {n: os.path.getmtime(os.path.join(src, n)) for n in listing(src)},
          f"{st} {msg} {listing(src)}")
    bad_out = "/proc/easel-batch-out"
    st, msg, _ = run_proc("plug-in-easel-batch-invert", None, None, **{
        "input-folder": folder(src), "output-folder": folder(bad_out)})
    check("batch: an output folder that cannot be created fails, naming it",
          st == Gimp.PDBStatusType.CALLING_ERROR and bad_out in msg, f"{st} {msg}")

    # The generic procedure of earlier versions still works from scripts.
    out = os.path.join(WORK, "batch-out-generic")
    st, msg, _ = run_proc("plug-in-easel-batch-folder", None, None, **{
        "input-folder": src, "output-folder": out, "operation": "invert",
        "params": json.dumps({"amount": 1.0})})
    check("batch (generic, for scripts) runs", st == Gimp.PDBStatusType.SUCCESS
          and listing(out) == ["car-1.png", "chelsea.png"], f"{st} {msg} {listing(out)}")
    st, msg, _ = run_proc("plug-in-easel-batch-folder", None, None, **{
        "input-folder": src, "output-folder": out, "operation": "invert",
        "params": json.dumps({"amount": 7})})
    check("batch (generic) with a bad parameter fails with the daemon's message",
          st != Gimp.PDBStatusType.SUCCESS and "amount" in msg, f"{st} {msg}")
    st, msg, _ = run_proc("plug-in-easel-batch-folder", None, None, **{
        "input-folder": src, "output-folder": out, "operation": "invert", "params": "{oops"})
    check("batch (generic) with bad JSON fails clearly",
          st != Gimp.PDBStatusType.SUCCESS and "JSON" in msg, f"{st} {msg}")
    check("batch (generic) has no menu entry (the typed ones replace it)",
          not PDB.lookup_procedure("plug-in-easel-batch-folder").get_menu_paths())


def test_cancel():
    """GIMP cancels a plug-in's progress by ending the plug-in process: the daemon must see the
    connection close and cancel the job, and the image must stay as it was."""
    import signal
    import threading
    from easel_client import Client
    trace = os.environ["EASEL_GIMP_TRACE"]
    img = load("chelsea.png")
    layer = top_layer(img)
    Gimp.Selection.none(img)
    n0 = len(img.get_layers())
    seen = {}
    open(trace, "w").close()  # only this run's progress events

    def killer():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                lines = [json.loads(x) for x in open(trace).read().splitlines()]
            except (OSError, ValueError):
                lines = []
            if len(lines) >= 3:
                seen["events"] = lines
                try:
                    os.kill(lines[-1]["pid"], signal.SIGKILL)
                    seen["killed"] = True
                except OSError as e:
                    seen["killed"] = str(e)
                return
            time.sleep(0.05)

    th = threading.Thread(target=killer)
    th.start()
    st, msg, dt = run_proc("plug-in-easel-test-echo", img, [layer], **{"sleep-ms": 60000})
    th.join()
    timings["cancel (plug-in ended mid-job)"] = round(dt * 1000)
    ev = seen.get("events", [])
    fr = [e["fraction"] for e in ev]
    check("progress events reach the plug-in while the job runs",
          len(ev) >= 3 and all(0 <= f <= 1 for f in fr) and fr == sorted(fr), fr[:10])
    check("the plug-in process was ended mid-job", seen.get("killed") is True, seen.get("killed"))
    check("the run ends early when the plug-in is ended", st != Gimp.PDBStatusType.SUCCESS
          and dt < 30, f"{st} {dt:.1f}s {msg}")
    check("cancelled run leaves the image unchanged", len(img.get_layers()) == n0,
          len(img.get_layers()))
    busy = None
    with Client.connect(os.environ["EASEL_SOCKET"], autostart=False) as c:
        for _ in range(100):
            s = c.status()
            busy = (s.get("running"), s.get("queued"))
            if busy == (0, 0):
                break
            time.sleep(0.1)
    check("the daemon cancels the job when the plug-in's connection closes", busy == (0, 0),
          busy)
    img.delete()


def test_daemon_down():
    from easel_client import Client
    with Client.connect(os.environ["EASEL_SOCKET"], autostart=False) as c:
        c.shutdown(timeout=10)
    time.sleep(0.5)
    img = load("chelsea.png")
    layer = top_layer(img)
    img.select_rectangle(Gimp.ChannelOps.REPLACE, 100, 80, 120, 90)
    n0 = len(img.get_layers())
    before = pixels(layer, (100, 80, 20, 20))
    st, msg, _ = run_proc("plug-in-easel-invert", img, [layer], amount=1.0)
    check("with the daemon stopped the procedure fails", st == Gimp.PDBStatusType.EXECUTION_ERROR,
          f"{st} {msg}")
    check("...with a clear message naming the daemon", "daemon" in msg.lower(), msg)
    check("...and the image is unchanged", len(img.get_layers()) == n0
          and pixels(layer, (100, 80, 20, 20)) == before, len(img.get_layers()))
    img.delete()


# ------------------------------------------------------------------------------ generative
# Against the test's local Gemini stand-in (tests/generative/fake_gemini.py, started by run.sh;
# the daemon has its key and address from EASEL_GEMINI_API_KEY / EASEL_GEMINI_BASE_URL).
GEN_PALETTE = [(220, 40, 30, 255), (30, 200, 60, 255), (40, 60, 220, 255)]


def gen_requests():
    try:
        with open(os.environ.get("EASEL_GEN_LOG") or "") as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


def near(got, want, tol=2):
    return got is not None and want is not None and len(got) == len(want) \
        and all(abs(int(a) - int(b)) <= tol for a, b in zip(got, want))


def layer_turns(layer):
    p = layer.get_parasite("easel-turns")
    return json.loads(bytes(p.get_data()).decode()) if p is not None else None


def test_generative():
    key = os.environ.get("EASEL_GEN_KEY") or ""
    ok = bool(key and os.environ.get("EASEL_GEN_LOG"))
    check("generative: run.sh started the local Gemini stand-in", ok)
    if not ok:
        return
    proc = PDB.lookup_procedure("plug-in-easel-generative-edit")
    check("generative: Edit selection from a prompt has a procedure", proc is not None)
    if proc is None:
        return
    args = {a.get_name(): a for a in proc.get_arguments()}
    check("generative: the Text parameter prompt is a string argument of the procedure",
          "prompt" in args and args["prompt"].value_type.name == "gchararray",
          {k: v.value_type.name for k, v in args.items()})
    check("generative: the conversation is no argument (the adapter fills it)",
          "conversation" not in args, sorted(args))
    check("generative: seed and reference layers are arguments",
          "seed" in args and "reference" in args, sorted(args))
    check("generative: listed under Filters > Easel > Generative",
          any(m.endswith("/Easel/Generative") for m in proc.get_menu_paths()),
          proc.get_menu_paths())

    W, H = 240, 160
    img = Gimp.Image.new(W, H, Gimp.ImageBaseType.RGB)
    photo = Gimp.Layer.new(img, "Photo", W, H, Gimp.ImageType.RGBA_IMAGE, 100.0,
                           Gimp.LayerMode.NORMAL)
    img.insert_layer(photo, None, 0)
    buf = photo.get_buffer()
    buf.set(Gegl.Rectangle.new(0, 0, W, H), "R'G'B'A u8",
            bytes(b for y in range(H) for x in range(W) for b in (x, y, 90, 255)))
    buf.flush()
    char = Gimp.Layer.new(img, "Character", 40, 40, Gimp.ImageType.RGBA_IMAGE, 100.0,
                          Gimp.LayerMode.NORMAL)
    img.insert_layer(char, None, 0)
    char.set_offsets(10, 10)
    cb = char.get_buffer()
    cb.set(Gegl.Rectangle.new(0, 0, 40, 40), "R'G'B'A u8", bytes((250, 200, 0, 255)) * 1600)
    cb.flush()
    sx, sy, sw, sh = 100, 60, 60, 40
    img.select_rectangle(Gimp.ChannelOps.REPLACE, sx, sy, sw, sh)
    crop = (max(0, sx - 64), max(0, sy - 64), min(W, sx + sw + 64) - max(0, sx - 64),
            min(H, sy + sh + 64) - max(0, sy - 64))

    def turn(label, drawable, prompt, palette_i, name):
        n0, sent0 = len(img.get_layers()), len(gen_requests())
        photo_before = pixels(photo, (0, 0, W, H))
        st, msg, dt = run_proc("plug-in-easel-generative-edit", img, [drawable], prompt=prompt,
                               reference=char)
        timings[f"generative {label}"] = round(dt * 1000)
        check(f"generative {label}: succeeded", st == Gimp.PDBStatusType.SUCCESS, f"{st} {msg}")
        reqs = gen_requests()[sent0:]
        check(f"generative {label}: one request reached the service", len(reqs) == 1, len(reqs))
        new = [lay for lay in img.get_layers() if lay.get_name() == name]
        check(f"generative {label}: one new layer \u201c{name}\u201d",
              len(img.get_layers()) == n0 + 1 and len(new) == 1,
              [lay.get_name() for lay in img.get_layers()])
        if not new:
            return None, reqs[0] if reqs else None
        lay = new[0]
        _, ox, oy = lay.get_offsets()
        check(f"generative {label}: the layer covers the crop (selection + 64 px context)",
              (ox, oy, lay.get_width(), lay.get_height()) == crop,
              ((ox, oy, lay.get_width(), lay.get_height()), crop))
        inside = [px8(lay, x - ox, y - oy) for x, y in ((sx + 2, sy + 2), (130, 80),
                                                        (sx + sw - 3, sy + sh - 3))]
        check(f"generative {label}: inside the selection, the service's answer",
              all(near(p, GEN_PALETTE[palette_i]) for p in inside), inside)
        out = [(px8(lay, x - ox, y - oy), (x, y, 90, 255)) for x, y in ((40, 5), (95, 70),
                                                                        (200, 150))]
        check(f"generative {label}: outside the selection, the original pixels (through the "
              "mask)", all(near(g, w) for g, w in out), out)
        check(f"generative {label}: the photo layer is unchanged",
              pixels(photo, (0, 0, W, H)) == photo_before)
        return lay, reqs[0] if reqs else None

    # ------------------------------------------------------------------ turn 1
    lay1, q = turn("turn 1", photo, "give her a red hat", 0, "Edit selection from a prompt")
    if q:
        check("generative turn 1: POST .../models/gemini-2.5-flash-image:generateContent",
              q["path"] == "/v1beta/models/gemini-2.5-flash-image:generateContent", q["path"])
        check("generative turn 1: the key only in its header (from the environment)",
              q["key_in_header"] and not q["key_in_url"] and not q["key_in_body"], q)
        t = q.get("turns") or []
        imgs = t[0]["images"] if t else []
        check("generative turn 1: one user turn with the prompt, the crop, the mask, the "
              "character", len(t) == 1 and "give her a red hat" in t[0]["texts"][0]
              and len(imgs) == 3, t)
        if len(imgs) == 3:
            check("generative turn 1: the crop as sent is the photo there",
                  (imgs[0].get("width"), imgs[0].get("height")) == crop[2:]
                  and near(imgs[0].get("corner"), (crop[0] + 1, crop[1] + 1, 90, 255)), imgs[0])
            check("generative turn 1: the mask is white in the selection",
                  imgs[1].get("center") == [255, 255, 255, 255], imgs[1])
            check("generative turn 1: the reference is the Character layer's own pixels",
                  (imgs[2].get("width"), imgs[2].get("height")) == (40, 40)
                  and near(imgs[2].get("center"), (250, 200, 0, 255)), imgs[2])
    if lay1 is None:
        img.delete()
        return
    rec = layer_turns(lay1)
    check("generative turn 1: the layer records its prompt and the layer it was made from",
          rec is not None and rec.get("turns") == ["give her a red hat"]
          and rec.get("source") == photo.get_tattoo(), rec)

    # ------------------------------------------------------------------ turn 2: on the result
    lay2, q = turn("turn 2 (the result layer selected)", lay1, "make the hat green", 1,
                   "Edit selection from a prompt (turn 2)")
    if q:
        t = q.get("turns") or []
        check("generative turn 2: user, model (the last result), user",
              [x["role"] for x in t] == ["user", "model", "user"], [x["role"] for x in t])
        if len(t) == 3:
            check("generative turn 2: the first user turn names the earlier prompt, with the "
                  "crop of the photo (not of the result), the mask and the character",
                  "give her a red hat" in t[0]["texts"][0] and len(t[0]["images"]) == 3
                  and near(t[0]["images"][0].get("corner"), (crop[0] + 1, crop[1] + 1, 90, 255))
                  and near(t[0]["images"][2].get("center"), (250, 200, 0, 255)), t[0])
            prior = t[1]["images"]
            check("generative turn 2: the model turn holds turn 1's result",
                  len(prior) == 1 and near(prior[0].get("center"), GEN_PALETTE[0])
                  and (prior[0].get("width"), prior[0].get("height")) == crop[2:], prior)
            check("generative turn 2: the last user turn is the new instruction",
                  t[2]["texts"] == ["make the hat green"], t[2]["texts"])
    if lay2 is None:
        img.delete()
        return

    # ------------------------------------------------------------------ turn 3
    lay3, q = turn("turn 3", lay2, "add a blue feather", 2,
                   "Edit selection from a prompt (turn 3)")
    if q:
        t = q.get("turns") or []
        check("generative turn 3: both earlier prompts, turn 2's result, the new prompt",
              len(t) == 3 and "give her a red hat\nThen: make the hat green" in t[0]["texts"][0]
              and near(t[1]["images"][0].get("center"), GEN_PALETTE[1])
              and t[2]["texts"] == ["add a blue feather"], t)
    rec = layer_turns(lay3) if lay3 is not None else None
    check("generative turn 3: the layer records all three turns",
          rec is not None and rec.get("turns") == ["give her a red hat", "make the hat green",
                                                   "add a blue feather"], rec)

    # ------------------------------------------------------------------ the turns in the XCF
    if lay3 is not None:
        xcf = os.path.join(WORK, "generative.xcf")
        Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, img, Gio.File.new_for_path(xcf), None)
        back = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(xcf))
        again = [lay for lay in back.get_layers()
                 if lay.get_name() == "Edit selection from a prompt (turn 3)"]
        check("generative: the turns are saved in the XCF with the layer",
              again and layer_turns(again[0]) == rec, again and layer_turns(again[0]))
        back.delete()

    # ------------------------------------------------------------------ refusals
    n0, sent0 = len(img.get_layers()), len(gen_requests())
    st, msg, _ = run_proc("plug-in-easel-generative-edit", img, [photo], prompt="x" * 4001)
    check("generative: a prompt over 4000 characters is refused before sending, naming it",
          st != Gimp.PDBStatusType.SUCCESS and "prompt" in msg and "4000" in msg
          and len(gen_requests()) == sent0 and len(img.get_layers()) == n0, f"{st} {msg}")
    st, msg, _ = run_proc("plug-in-easel-generative-edit", img, [photo], prompt="QUOTA-TEST hat")
    check("generative: a quota error comes back in the service's words, image unchanged",
          st == Gimp.PDBStatusType.EXECUTION_ERROR and "429" in msg
          and "Resource has been exhausted" in msg and len(img.get_layers()) == n0, f"{st} {msg}")
    check("generative: the key is not in the error", key not in msg, msg)
    img.delete()


t_all = time.monotonic()
for t in (test_registration, test_remove_background_alpha, test_remove_background_layer_mask,
          test_invert_u8, test_invert_u16, test_invert_float,
          test_invert_no_selection_offset_layer, test_upscale_2x, test_mask_required, test_match_look_reference,
          test_batch_folder, test_generative, test_cancel, test_daemon_down):
    t0 = time.monotonic()
    guarded(t)
    timings["test " + t.__name__] = round((time.monotonic() - t0) * 1000)
timings["all tests"] = round((time.monotonic() - t_all) * 1000)
info["done"] = True
save()
