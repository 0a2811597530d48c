"""Pixel layout conversion between Krita's paint devices and the Easel protocol (pure Python).

Krita's `Node.pixelData` gives a colour space's native pixels. For RGBA the channel order
depends on the depth (checked against `Node.channels()` in tests/krita/api_tests.py):

    U8   B G R A, 4 x u8      -> protocol rgba8   (swap B and R)
    U16  B G R A, 4 x u16     -> protocol rgba16  (swap B and R)
    F16  R G B A, 4 x f16     -> protocol rgba16f as is, where the daemon's hello lists the
                                 "rgba16f" feature (`set_half_float`); else rgba32f (widened in
                                 Python, about 1 s a megapixel; narrowed back exactly)
    F32  R G B A, 4 x f32     -> protocol rgba32f (as is)

Everything here works on bytes with extended slices and `struct`, no numpy: Krita's embedded
Python has only the standard library and PyQt5.
"""

from __future__ import annotations

import array
import math
import struct

__all__ = ["Layout", "UnsupportedColorSpace", "layout_for", "to_protocol", "from_protocol",
           "alpha_mask", "is_blank_mask", "SUPPORTED", "set_half_float", "changed_rect",
           "crop", "mask_in_rect", "has_transparency"]


class UnsupportedColorSpace(ValueError):
    """A colour model or depth the adapter cannot convert (CMYK, gray, Lab, ...)."""


class Layout:
    """How one Krita colour space's pixels map onto a protocol format."""

    def __init__(self, model: str, depth: str, fmt: str, order: str, sample: int, kind: str):
        self.model = model
        self.depth = depth
        self.format = fmt        # protocol format
        self.order = order       # "bgra" or "rgba": Krita's channel order
        self.sample = sample     # bytes per Krita sample
        self.kind = kind         # "int" or "float"

    @property
    def krita_pixel(self) -> int:
        return 4 * self.sample

    @property
    def protocol_pixel(self) -> int:
        return {"rgba8": 4, "rgba16": 8, "rgba16f": 8, "rgba32f": 16}[self.format]

    def __repr__(self):
        return f"Layout({self.model}/{self.depth} -> {self.format}, {self.order})"


SUPPORTED = {
    ("RGBA", "U8"): Layout("RGBA", "U8", "rgba8", "bgra", 1, "int"),
    ("RGBA", "U16"): Layout("RGBA", "U16", "rgba16", "bgra", 2, "int"),
    ("RGBA", "F16"): Layout("RGBA", "F16", "rgba32f", "rgba", 2, "float"),
    ("RGBA", "F32"): Layout("RGBA", "F32", "rgba32f", "rgba", 4, "float"),
}

_MODEL_NAMES = {"RGBA": "RGB", "GRAYA": "Grayscale", "CMYKA": "CMYK", "LABA": "L*a*b*",
                "XYZA": "XYZ", "YCbCrA": "YCbCr"}


HALF = Layout("RGBA", "F16", "rgba16f", "rgba", 2, "float")
_half_float = False


def set_half_float(enabled: bool) -> None:
    """Whether F16 layers travel as rgba16f (the daemon said it takes them) or rgba32f."""
    global _half_float
    _half_float = bool(enabled)


def layout_for(model: str, depth: str) -> Layout:
    """The layout of a Krita colour space, or UnsupportedColorSpace with a message for people."""
    if _half_float and (model, depth) == ("RGBA", "F16"):
        return HALF
    try:
        return SUPPORTED[(model, depth)]
    except KeyError:
        pass
    if model == "RGBA":
        raise UnsupportedColorSpace(
            f"Easel works on RGB images of 8 or 16 bits or 16/32-bit float; this one is RGB "
            f"{depth}. Convert it with Image > Convert Image Color Space.")
    name = _MODEL_NAMES.get(model, model)
    raise UnsupportedColorSpace(
        f"Easel works on RGB images; this one is {name} ({depth}). Convert it to RGB/Alpha with "
        f"Image > Convert Image Color Space, or work on an RGB copy.")


def _swap_br(src, sample: int) -> bytearray:
    """Swaps the first and third sample of every 4-sample pixel (BGRA <-> RGBA)."""
    out = bytearray(src)
    step = 4 * sample
    for k in range(sample):
        out[k::step] = src[2 * sample + k::step]
        out[2 * sample + k::step] = src[k::step]
    return out


# Rows converted at once between f16 and f32: bounds the temporary tuple of Python floats.
_HALF_CHUNK = 1 << 20


def _f16_to_f32(src) -> bytes:
    mv = memoryview(src).cast("B")
    out = array.array("f")
    n = mv.nbytes // 2
    for start in range(0, n, _HALF_CHUNK):
        k = min(_HALF_CHUNK, n - start)
        out.extend(struct.unpack(f"<{k}e", mv[2 * start: 2 * (start + k)]))
    return out.tobytes()


_HALF_MAX = 65504.0


def _f32_to_f16(src) -> bytes:
    vals = array.array("f")
    vals.frombytes(bytes(src))
    parts = []
    for start in range(0, len(vals), _HALF_CHUNK):
        chunk = vals[start: start + _HALF_CHUNK]
        try:
            parts.append(struct.pack(f"<{len(chunk)}e", *chunk))
        except OverflowError:
            # Values past half's range saturate (as Krita's own conversion does) instead of failing.
            fixed = [v if (math.isnan(v) or math.isinf(v)) else max(-_HALF_MAX, min(_HALF_MAX, v))
                     for v in chunk]
            parts.append(struct.pack(f"<{len(fixed)}e", *fixed))
    return b"".join(parts)


def to_protocol(data, layout: Layout):
    """Krita pixels (bytes-like, tightly packed) -> protocol pixels in ``layout.format``."""
    if layout.order == "bgra":
        return _swap_br(data, layout.sample)
    if layout.depth == "F16" and layout.format != "rgba16f":
        return _f16_to_f32(data)
    return bytes(data)


def from_protocol(data, layout: Layout):
    """Protocol pixels in ``layout.format`` (tightly packed) -> Krita pixels."""
    if layout.order == "bgra":
        return _swap_br(data, layout.sample)
    if layout.depth == "F16" and layout.format != "rgba16f":
        return _f32_to_f16(data)
    return bytes(data)


def alpha_mask(data, layout: Layout) -> tuple[str, bytes]:
    """The alpha channel of Krita pixels as a protocol mask: ("gray8" | "gray32f", bytes).

    8-bit alpha goes as it is; 16-bit alpha keeps its high byte (a mask needs no more);
    float alpha goes as gray32f.
    """
    mv = memoryview(data).cast("B")
    if layout.kind == "int":
        step = layout.krita_pixel
        # Little-endian samples: the alpha sample's last byte is its most significant one.
        return "gray8", bytes(mv[step - 1::step])
    if layout.depth == "F32":
        a = array.array("f")
        a.frombytes(bytes(mv))
        return "gray32f", a[3::4].tobytes()
    a = array.array("f")
    a.frombytes(_f16_to_f32(mv))
    return "gray32f", a[3::4].tobytes()


def is_blank_mask(fmt: str, data) -> bool:
    """True if a mask selects nothing at all."""
    raw = bytes(memoryview(data).cast("B"))
    if not raw.strip(b"\0"):
        return True
    if fmt == "gray8":
        return False
    a = array.array("f")
    a.frombytes(raw)
    return not max(a) > 0.0


# ------------------------------------------------------------------------------ live mode
def changed_rect(old, new, width: int, height: int, bpp: int = 1):
    """The bounding box (x, y, w, h) of the pixels that differ between two images of the same
    size (``bpp`` bytes a pixel), or None. Rows are compared as bytes and a row's first and last
    differing byte found through one big-integer XOR, so no Python loop runs over pixels."""
    if old is None:
        old = bytes(len(new))
    old, new = memoryview(old).cast("B"), memoryview(new).cast("B")
    stride = width * bpp
    x0, x1, y0, y1 = None, None, None, None
    for y in range(height):
        a, b = old[y * stride:(y + 1) * stride], new[y * stride:(y + 1) * stride]
        if a == b:
            continue
        d = int.from_bytes(a, "little") ^ int.from_bytes(b, "little")
        lo = ((d & -d).bit_length() - 1) // 8 // bpp
        hi = (d.bit_length() - 1) // 8 // bpp
        x0 = lo if x0 is None else min(x0, lo)
        x1 = hi if x1 is None else max(x1, hi)
        y0 = y if y0 is None else y0
        y1 = y
    if y0 is None:
        return None
    return x0, y0, x1 - x0 + 1, y1 - y0 + 1


def crop(data, width: int, bpp: int, rect) -> bytes:
    """The pixels of ``rect`` (x, y, w, h) out of a tightly packed image ``width`` wide."""
    x, y, w, h = rect
    mv = memoryview(data).cast("B")
    stride = width * bpp
    return b"".join(mv[(y + j) * stride + x * bpp:(y + j) * stride + (x + w) * bpp]
                    for j in range(h))


def mask_in_rect(mask, width: int, height: int, rect, within) -> bytes:
    """A gray8 mask of ``rect`` (x, y, w, h) holding ``mask`` (gray8, width x height) inside
    ``within`` (a rectangle) and 0 elsewhere."""
    x, y, w, h = rect
    wx, wy, ww, wh = within
    mv = memoryview(mask).cast("B")
    out = bytearray(w * h)
    for j in range(h):
        yy = y + j
        if not wy <= yy < wy + wh:
            continue
        a, b = max(x, wx), min(x + w, wx + ww)
        if a < b:
            out[j * w + a - x:j * w + b - x] = mv[yy * width + a:yy * width + b]
    return bytes(out)


def has_transparency(data, fmt: str) -> bool:
    """Whether protocol pixels have any alpha below opaque (rgba8 and rgba16 exactly; float
    formats: below 1.0)."""
    mv = memoryview(data).cast("B")
    if fmt == "rgba8":
        return min(mv[3::4], default=255) < 255
    if fmt == "rgba16":
        return min(mv[7::8], default=255) < 255
    if fmt == "rgba16f":
        # 1.0 in half is 0x3C00: any other alpha (lower) differs in its high byte or low byte.
        his, los = mv[7::8], mv[6::8]
        return bool(his) and (min(his) < 0x3C or max(his) > 0x3C or max(los) > 0)
    a = array.array("f")
    a.frombytes(bytes(mv))
    return min(a[3::4], default=1.0) < 1.0
