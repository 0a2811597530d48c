"""Results kept with the document: parameters, a small thumbnail and the result's pixels,
compressed (zlib), bounded in count and bytes; stored in the .kra as a document annotation
(``easel/history``, a zip of ``index.json`` and the blobs), read back when the document opens.

Plain Python except ``thumbnail_png`` (QImage): no Krita import, tested under PyQt5 and PyQt6.
"""

from __future__ import annotations

import io
import json
import struct
import time
import uuid
import zipfile
import zlib

__all__ = ["ANNOTATION", "MAX_ENTRIES", "MAX_BYTES", "History", "thumbnail_rgba8",
           "thumbnail_png"]

ANNOTATION = "easel/history"
VERSION = 1
MAX_ENTRIES = 24
# Compressed pixels kept per document, all entries together.
MAX_BYTES = 48 * 1024 * 1024
THUMB = 96
_BPP = {"rgba8": 4, "rgba16": 8, "rgba16f": 8, "rgba32f": 16}
# Entry fields saved in index.json (the blobs go beside it).
_FIELDS = ("id", "name", "op", "params", "x", "y", "width", "height", "format", "model",
           "depth", "node", "source", "hid_source", "seed", "elapsed_ms", "created", "size")


def thumbnail_rgba8(data, fmt: str, width: int, height: int, size: int = THUMB):
    """(w, h, rgba8 bytes) of a subsampled copy at most ``size`` pixels on a side."""
    bpp = _BPP[fmt]
    step = max(1, -(-max(width, height) // size))
    tw, th = -(-width // step), -(-height // step)
    mv = memoryview(data).cast("B")
    out = bytearray(4 * tw * th)
    for j in range(th):
        y = j * step
        rowb = mv[y * width * bpp:(y + 1) * width * bpp]
        o = 4 * tw * j
        if fmt == "rgba8":
            for c in range(4):
                out[o + c:o + 4 * tw:4] = rowb[c::4 * step][:tw]
        elif fmt == "rgba16":
            for c in range(4):
                out[o + c:o + 4 * tw:4] = rowb[2 * c + 1::8 * step][:tw]
        else:
            code, sb = ("e", 2) if fmt == "rgba16f" else ("f", 4)
            for i in range(tw):
                px = struct.unpack_from(f"<4{code}", rowb, i * step * 4 * sb)
                out[o + 4 * i:o + 4 * i + 4] = bytes(
                    max(0, min(255, int(v * 255 + 0.5))) if v == v else 0 for v in px)
    return tw, th, bytes(out)


def thumbnail_png(data, fmt: str, width: int, height: int, size: int = THUMB) -> bytes:
    """A PNG thumbnail of protocol pixels (needs Qt)."""
    from .qt import QBuffer, QByteArray, QImage, QIODevice
    tw, th, rgba = thumbnail_rgba8(data, fmt, width, height, size)
    img = QImage(rgba, tw, th, 4 * tw, QImage.Format.Format_RGBA8888).copy()
    ba = QByteArray()
    buf = QBuffer(ba)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    img.save(buf, "PNG")
    buf.close()
    return bytes(ba.data())


class History:
    """One document's results, oldest first. Entries are dicts (see _FIELDS) with "pixels"
    (zlib-compressed protocol pixels) and "thumb" (PNG bytes or b"")."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES):
        self.entries: list[dict] = []
        self.max_entries = max_entries
        self.max_bytes = max_bytes

    def add(self, *, name, op, params, x, y, width, height, fmt, model, depth, data,
            node=None, source=None, hid_source=None, seed=None, elapsed_ms=None,
            thumb=b"") -> dict:
        raw = memoryview(data).cast("B")
        e = {"id": uuid.uuid4().hex, "name": name, "op": op, "params": dict(params or {}),
             "x": int(x), "y": int(y), "width": int(width), "height": int(height),
             "format": fmt, "model": model, "depth": depth, "node": node, "source": source,
             "hid_source": hid_source, "seed": seed, "elapsed_ms": elapsed_ms,
             "created": time.time(), "size": raw.nbytes,
             "pixels": zlib.compress(raw, 1), "thumb": bytes(thumb or b"")}
        self.entries.append(e)
        self._bound()
        return e

    def _bound(self) -> None:
        while len(self.entries) > self.max_entries:
            self.entries.pop(0)
        while len(self.entries) > 1 and self.stored_bytes() > self.max_bytes:
            self.entries.pop(0)

    def stored_bytes(self) -> int:
        return sum(len(e["pixels"]) + len(e["thumb"]) for e in self.entries)

    @staticmethod
    def pixels(entry: dict) -> bytes:
        data = zlib.decompress(entry["pixels"])
        if len(data) != entry["size"]:
            raise ValueError("a history entry's pixels are damaged")
        return data

    def remove(self, entry_id: str) -> None:
        self.entries = [e for e in self.entries if e["id"] != entry_id]

    # ------------------------------------------------------------------ storage
    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
            index = [{k: e.get(k) for k in _FIELDS} for e in self.entries]
            z.writestr("index.json", json.dumps({"version": VERSION, "entries": index}))
            for e in self.entries:
                z.writestr(f"{e['id']}.px", e["pixels"])
                if e["thumb"]:
                    z.writestr(f"{e['id']}.png", e["thumb"])
        return out.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> "History":
        h = cls()
        if not blob:
            return h
        with zipfile.ZipFile(io.BytesIO(bytes(blob))) as z:
            names = set(z.namelist())
            index = json.loads(z.read("index.json"))
            if int(index.get("version", 0)) != VERSION:
                return h
            for meta in index.get("entries", []):
                eid = str(meta.get("id"))
                if f"{eid}.px" not in names:
                    continue
                e = {k: meta.get(k) for k in _FIELDS}
                e["pixels"] = z.read(f"{eid}.px")
                e["thumb"] = z.read(f"{eid}.png") if f"{eid}.png" in names else b""
                h.entries.append(e)
        h._bound()
        return h
