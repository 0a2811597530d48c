"""The adapter's core: Krita documents, layers and selections <-> Easel protocol images and back.

Everything the docker sends is read here (a layer or the visible image, the selection or the
painted "Easel mask" layer as a mask, reference layers), and every result comes back through
`add_result_layer`: a new paint layer filled before it joins the document, so that adding it
is the one and only change, one undo step ("Add layer"), made only once the result exists.
"""

from __future__ import annotations

from . import pixels
from .pixels import Layout, UnsupportedColorSpace

try:  # the bundled copy inside the installed plugin, else the one on sys.path (development)
    from .easel_client import Image, SharedBuffer
except ImportError:  # pragma: no cover - depends on how the plugin was installed
    from easel_client import Image, SharedBuffer

__all__ = ["AdapterError", "UnsupportedColorSpace", "SCRIBBLE_LAYER", "document_layout",
           "node_layout", "read_image", "selection_mask", "layer_alpha_mask", "find_scribble_layer",
           "ensure_scribble_layer", "add_result_layer", "result_target", "walk_layers",
           "node_by_id", "is_layer", "to_shared_image", "target_state", "target_problem"]

#: The paint layer whose alpha is the mask in scribble mode.
SCRIBBLE_LAYER = "Easel mask"
#: The layer Live mode shows its results on, updated in place.
PREVIEW_LAYER = "Easel preview"
#: Helper layers: never a source, never a reference.
HELPER_LAYERS = (SCRIBBLE_LAYER, PREVIEW_LAYER)


class AdapterError(Exception):
    """Something about the document that keeps a job from being sent (said to the user as is)."""


def _krita():
    from krita import Krita  # imported late: the pure parts of the package run outside Krita
    return Krita.instance()


def document_layout(doc) -> Layout:
    return pixels.layout_for(doc.colorModel(), doc.colorDepth())


def node_layout(node) -> Layout:
    return pixels.layout_for(node.colorModel(), node.colorDepth())


def is_layer(node) -> bool:
    """Layers (not masks, not the root)."""
    t = node.type()
    return bool(t) and not t.endswith("mask")


def walk_layers(doc):
    """Every layer of the document, top-most first (groups before their children)."""
    out = []

    def visit(parent):
        for child in reversed(parent.childNodes()):
            if is_layer(child):
                out.append(child)
                visit(child)
    visit(doc.rootNode())
    return out


def node_by_id(doc, uid: str):
    """The node with this uniqueId (a QUuid's string), or None."""
    for n in walk_layers(doc):
        if n.uniqueId().toString() == uid:
            return n
    return None


def to_shared_image(width: int, height: int, fmt: str, data) -> Image:
    """Protocol pixels in a memfd the daemon maps: only a descriptor crosses the socket."""
    buf = SharedBuffer(max(1, memoryview(data).nbytes))
    buf.write(0, data)
    return Image(width, height, fmt, buf)


def _node_pixels(node, w: int, h: int):
    # Paint layers: their own pixels. Groups, vector, fill and file layers have no paint
    # device of their own: what they show is their projection.
    if node.type() == "paintlayer":
        return node.pixelData(0, 0, w, h)
    return node.projectionPixelData(0, 0, w, h)


def read_image(doc, node=None, source: str = "layer", hide=()) -> tuple[Image, Layout]:
    """The pixels a job works on, covering the whole canvas, as a protocol image.

    ``source`` "layer": ``node`` (the active layer); "visible": the document's projection
    (what the canvas shows), with the layers in ``hide`` (the scribble layer) hidden for the
    read and shown again.
    """
    w, h = doc.width(), doc.height()
    if source == "visible":
        layout = document_layout(doc)
        hidden = [n for n in hide if n is not None and n.visible()]
        for n in hidden:
            n.setVisible(False)
        try:
            if hidden:
                doc.refreshProjection()
            doc.waitForDone()
            raw = doc.pixelData(0, 0, w, h)
        finally:
            for n in hidden:
                n.setVisible(True)
            if hidden:
                doc.refreshProjection()
    else:
        if node is None or not is_layer(node):
            raise AdapterError("Choose a layer to work on (the active node is not a layer).")
        layout = node_layout(node)
        raw = _node_pixels(node, w, h)
    expected = w * h * layout.krita_pixel
    if len(raw) != expected:
        raise AdapterError(f"Krita gave {len(raw)} bytes of pixels for a {w}x{h} "
                           f"{layout.model}/{layout.depth} image, expected {expected}.")
    data = pixels.to_protocol(raw, layout)
    return to_shared_image(w, h, layout.format, data), layout


def selection_mask(doc) -> Image | None:
    """The global selection as a gray8 mask over the canvas; None when nothing is selected."""
    sel = doc.selection()
    if sel is None:
        return None
    w, h = doc.width(), doc.height()
    raw = bytes(sel.pixelData(0, 0, w, h))
    if len(raw) != w * h or pixels.is_blank_mask("gray8", raw):
        return None
    return to_shared_image(w, h, "gray8", raw)


def layer_alpha_mask(doc, node) -> Image | None:
    """A layer's alpha as a mask over the canvas (scribble mode); None if nothing is painted."""
    w, h = doc.width(), doc.height()
    layout = node_layout(node)
    raw = node.pixelData(0, 0, w, h)
    fmt, data = pixels.alpha_mask(raw, layout)
    if pixels.is_blank_mask(fmt, data):
        return None
    return to_shared_image(w, h, fmt, data)


def find_scribble_layer(doc):
    for n in walk_layers(doc):
        if n.name() == SCRIBBLE_LAYER and n.type() == "paintlayer":
            return n
    return None


def ensure_scribble_layer(doc, above=None):
    """The "Easel mask" paint layer, created (one undo step) above ``above`` if missing, and
    shown (a result made from it hides it)."""
    node = find_scribble_layer(doc)
    if node is None:
        node = doc.createNode(SCRIBBLE_LAYER, "paintlayer")
        node.setOpacity(128)  # see what is under the strokes
        parent, anchor = result_target(doc, above)
        parent.addChildNode(node, anchor)
    elif not node.visible():
        node.setVisible(True)
    doc.setActiveNode(node)
    return node


def find_layer(doc, name: str):
    for n in walk_layers(doc):
        if n.name() == name and n.type() == "paintlayer":
            return n
    return None


def add_krita_layer(doc, raw, x: int, y: int, width: int, height: int, name: str, above=None):
    """Adds Krita-native pixels as a new paint layer above ``above``: one undo step."""
    node = doc.createNode(name, "paintlayer")
    node.setPixelData(raw, x, y, width, height)
    parent, anchor = result_target(doc, above)
    parent.addChildNode(node, anchor)
    return node


def result_target(doc, above=None):
    """(parent, sibling) to add a layer right above ``above`` (a layer; masks count as their
    layer), or at the top of the stack."""
    node = above
    while node is not None and not is_layer(node):
        parent = node.parentNode()
        node = parent if parent is not None and parent.type() else None
    if node is None:
        root = doc.rootNode()
        kids = root.childNodes()
        return root, (kids[-1] if kids else None)
    return node.parentNode(), node


def add_result_layer(doc, data, x: int, y: int, width: int, height: int, layout: Layout,
                     name: str, above=None, refresh: bool = False):
    """Adds protocol pixels as a new paint layer at (x, y), above ``above``: one undo step.

    ``data`` is tightly packed protocol pixels in ``layout.format``. The layer is made and
    filled while it is outside the document; adding it to the stack is the only change made
    to the document (Krita records it as one "Add layer" command, which undo removes whole).
    Adding the layer updates the canvas where it lies; ``refresh`` also recomputes the whole
    projection and waits for it (Document.refreshProjection, which in the GUI runs a nested event
    loop while it waits, so the docker does not ask for it).
    """
    expected = width * height * layout.protocol_pixel
    if memoryview(data).nbytes != expected:
        raise AdapterError(f"the result holds {memoryview(data).nbytes} bytes, a {width}x{height} "
                           f"{layout.format} image needs {expected}")
    node = doc.createNode(name, "paintlayer")
    doc_layout = document_layout(doc)
    if (doc_layout.model, doc_layout.depth) != (layout.model, layout.depth):
        # The source layer has its own colour space: the result stays in it.
        node.setColorSpace(layout.model, layout.depth, above.colorProfile() if above else "")
    node.setPixelData(pixels.from_protocol(data, layout), x, y, width, height)
    parent, anchor = result_target(doc, above)
    parent.addChildNode(node, anchor)
    if refresh:
        doc.refreshProjection()
    return node


def target_state(doc, node=None, title: str = "") -> dict:
    """What a job's result must still find in ``doc`` when it arrives: the canvas size it was
    sent with and, for the active-layer source, the layer it was made from (``node``)."""
    return {"size": (doc.width(), doc.height()), "title": title,
            "target": node.uniqueId().toString() if node is not None else None,
            "target_name": node.name() if node is not None else ""}


def target_problem(doc, state: dict):
    """Why a result can no longer go into ``doc`` (a message for the user, saying that nothing
    was changed and what to do), or None. A result lands only on the canvas and the layer it
    was computed from: after a resize, scale or crop its place is wrong, and a result made from
    a layer that was deleted meanwhile would bring back what the user removed."""
    from .i18n import i18n
    title = state.get("title") or i18n("the operation")
    w, h = state["size"]
    if (doc.width(), doc.height()) != (w, h):
        return i18n("The image was resized while \u201c{1}\u201d ran ({2}\u00d7{3} \u2192 "
                    "{4}\u00d7{5}): its result no longer fits and was dropped. The document was "
                    "not changed; run it again.", title, w, h, doc.width(), doc.height())
    if state.get("target") and node_by_id(doc, state["target"]) is None:
        return i18n("The layer \u201c{1}\u201d was deleted while \u201c{2}\u201d ran: its result "
                    "was dropped. The document was not changed; choose a layer and run it "
                    "again.", state.get("target_name") or "?", title)
    return None
