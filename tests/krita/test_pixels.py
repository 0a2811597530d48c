"""Unit tests of the Krita adapter's pure pixel conversions (any Python 3.11+, no Krita).

The channel orders themselves are checked against a real Krita in api_tests.py; here: the
conversions are exact inverses, swap the right bytes, and extract masks correctly.
"""

import array
import os
import random
import struct
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "adapters", "krita"))

from easel_krita import pixels  # noqa: E402


class PixelTests(unittest.TestCase):
    def test_u8_bgra_to_rgba(self):
        lay = pixels.layout_for("RGBA", "U8")
        self.assertEqual(lay.format, "rgba8")
        bgra = bytes([1, 2, 3, 4, 10, 20, 30, 40])
        self.assertEqual(bytes(pixels.to_protocol(bgra, lay)), bytes([3, 2, 1, 4, 30, 20, 10, 40]))
        self.assertEqual(bytes(pixels.from_protocol(pixels.to_protocol(bgra, lay), lay)), bgra)

    def test_u16_bgra_to_rgba(self):
        lay = pixels.layout_for("RGBA", "U16")
        self.assertEqual(lay.format, "rgba16")
        bgra = struct.pack("<4H", 0x0102, 0x0304, 0x0506, 0xFFFE)
        out = struct.unpack("<4H", bytes(pixels.to_protocol(bgra, lay)))
        self.assertEqual(out, (0x0506, 0x0304, 0x0102, 0xFFFE))

    def test_round_trips_are_exact(self):
        rnd = random.Random(7)
        for depth in ("U8", "U16", "F32"):
            lay = pixels.layout_for("RGBA", depth)
            n = 1000 * lay.krita_pixel
            if depth == "F32":
                src = array.array("f", [rnd.uniform(-2, 5) for _ in range(n // 4)]).tobytes()
            else:
                src = bytes(rnd.randrange(256) for _ in range(n))
            back = pixels.from_protocol(pixels.to_protocol(src, lay), lay)
            self.assertEqual(bytes(back), src, depth)

    def test_f16_widens_and_narrows_exactly(self):
        lay = pixels.layout_for("RGBA", "F16")
        self.assertEqual(lay.format, "rgba32f")
        vals = [0.0, 1.0, 0.5, 0.333251953125, -2.0, 65504.0, 1e-4, 0.99951171875]
        src = struct.pack(f"<{len(vals)}e", *vals)
        wide = pixels.to_protocol(src, lay)
        self.assertEqual(list(array.array("f", wide)), [struct.unpack("<e", struct.pack("<e", v))[0] for v in vals])
        self.assertEqual(bytes(pixels.from_protocol(wide, lay)), src)
        # Out of half's range saturates instead of failing.
        big = array.array("f", [1e6, -1e6, 0.0, 1.0]).tobytes()
        self.assertEqual(struct.unpack("<4e", pixels.from_protocol(big, lay)), (65504.0, -65504.0, 0.0, 1.0))

    def test_alpha_masks(self):
        u8 = pixels.layout_for("RGBA", "U8")
        self.assertEqual(pixels.alpha_mask(bytes([9, 9, 9, 0, 9, 9, 9, 200]), u8), ("gray8", bytes([0, 200])))
        u16 = pixels.layout_for("RGBA", "U16")
        fmt, m = pixels.alpha_mask(struct.pack("<8H", 1, 1, 1, 0x1234, 1, 1, 1, 0xFFFF), u16)
        self.assertEqual((fmt, m), ("gray8", bytes([0x12, 0xFF])))
        f32 = pixels.layout_for("RGBA", "F32")
        fmt, m = pixels.alpha_mask(array.array("f", [1, 1, 1, 0.25, 0, 0, 0, 1]).tobytes(), f32)
        self.assertEqual(fmt, "gray32f")
        self.assertEqual(list(array.array("f", m)), [0.25, 1.0])

    def test_blank_masks(self):
        self.assertTrue(pixels.is_blank_mask("gray8", bytes(100)))
        self.assertFalse(pixels.is_blank_mask("gray8", bytes(99) + b"\x01"))
        self.assertTrue(pixels.is_blank_mask("gray32f", array.array("f", [0.0, -0.0, -1.0]).tobytes()))
        self.assertFalse(pixels.is_blank_mask("gray32f", array.array("f", [0.0, 0.1]).tobytes()))

    def test_other_colour_models_are_refused_with_a_message(self):
        for model, depth in (("CMYKA", "U8"), ("GRAYA", "U16"), ("LABA", "U16"), ("RGBA", "U32")):
            with self.assertRaises(pixels.UnsupportedColorSpace) as cm:
                pixels.layout_for(model, depth)
            self.assertIn("Convert", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
