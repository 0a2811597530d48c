"""The plug-in's Qt-only modules (qt, forms, history) outside Krita, under PyQt5 or PyQt6
(EASEL_QT=5|6 picks; EASEL_EXPECT_QT says which one must have been picked). Krita 6 is Qt 6:
these run there unchanged. QT_QPA_PLATFORM=offscreen."""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(REPO, "adapters", "krita"), os.path.join(REPO, "adapters", "python")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from easel_krita import qt  # noqa: E402
from easel_krita.qt import QApplication, QComboBox, QToolButton  # noqa: E402

APP = QApplication.instance() or QApplication([])

LOW_LIGHT = {"id": "fix-low-light", "title": "Fix low light", "params": [
    {"name": "model", "title": "Model", "kind": "choice", "default": "llie-semantic-guided",
     "options": ["llie-semantic-guided", "tbefn", "uretinex"]},
    {"name": "strength", "title": "Strength", "kind": "float", "min": 0.0, "max": 1.0,
     "step": 0.05, "default": 1.0},
    {"name": "exposure", "title": "Exposure", "kind": "float", "min": 3.0, "max": 5.0,
     "step": 0.1, "default": 5.0}]}
REMOVE_OBJECT = {"id": "remove-object", "params": [
    {"name": "patch_size", "kind": "int", "min": 5, "max": 15, "default": 7},
    {"name": "seed", "kind": "seed", "default": 0},
    {"name": "method", "kind": "choice", "default": "patchmatch", "options": ["patchmatch", "model"],
     "option_titles": ["Classic", "Learned"]}]}
GENERATIVE = {"id": "generative-edit", "params": [
    {"name": "prompt", "title": "Prompt", "kind": "text", "default": "", "max_len": 12,
     "multiline": True},
    {"name": "conversation", "kind": "text", "default": "", "max_len": 100, "multiline": True},
    {"name": "style", "title": "Style", "kind": "text", "default": "ink", "max_len": 5},
    {"name": "seed", "kind": "seed", "default": 0}]}


class Binding(unittest.TestCase):
    def test_the_binding_asked_for(self):
        want = os.environ.get("EASEL_EXPECT_QT")
        if want:
            self.assertEqual(qt.BINDING, "PyQt" + want)
        self.assertEqual(qt.QT6, qt.BINDING == "PyQt6")


class Forms(unittest.TestCase):
    def test_choice_titles_from_the_schema_or_the_shared_list(self):
        from easel_krita.forms import ParamForm
        f = ParamForm(REMOVE_OBJECT)
        m = f.findChild(QComboBox, "easel_param_method")
        self.assertEqual([m.itemText(i) for i in range(m.count())], ["Classic", "Learned"])
        self.assertEqual(m.itemData(1), "model")
        f2 = ParamForm(LOW_LIGHT)
        c = f2.findChild(QComboBox, "easel_param_model")
        self.assertNotIn("llie-semantic-guided", [c.itemText(i) for i in range(c.count())])
        self.assertEqual(c.currentData(), "llie-semantic-guided")

    def test_parameters_show_only_where_they_apply(self):
        from easel_krita.forms import ParamForm
        f = ParamForm(LOW_LIGHT)
        self.assertFalse(f.shown("exposure"))
        self.assertNotIn("exposure", f.values())
        f.set_value("model", "uretinex")
        self.assertTrue(f.shown("exposure"))
        self.assertEqual(f.values()["exposure"], 5.0)

    def test_seed_dice_has_an_icon_and_sets_a_seed(self):
        from easel_krita.forms import ParamForm
        f = ParamForm(REMOVE_OBJECT)
        dice = f.findChild(QToolButton, "easel_dice_seed")
        self.assertFalse(dice.icon().isNull())
        self.assertEqual(f.values()["seed"], 0)
        dice.click()
        self.assertGreater(f.values()["seed"], 0)


    def test_text_parameters_are_text_boxes_within_their_length(self):
        from easel_krita.forms import ParamForm
        from easel_krita.qt import QLineEdit, QPlainTextEdit
        f = ParamForm(GENERATIVE, managed=("conversation",))
        box = f.findChild(QPlainTextEdit, "easel_param_prompt")
        self.assertIsNotNone(box, "a multiline text parameter is a QPlainTextEdit")
        self.assertIsNone(f.findChild(QPlainTextEdit, "easel_param_conversation"),
                          "a managed parameter has no widget")
        self.assertNotIn("conversation", f.values())
        box.setPlainText("a red hat\nwith a feather")
        self.assertEqual(f.values()["prompt"], "a red hat\nwi", "cut at max_len characters")
        line = f.findChild(QLineEdit, "easel_param_style")
        self.assertIsNotNone(line, "a single-line text parameter is a QLineEdit")
        self.assertEqual((line.text(), line.maxLength()), ("ink", 5))
        f.set_value("style", "watercolour")
        self.assertEqual(f.values()["style"], "water")
        self.assertEqual(ParamForm(GENERATIVE).values()["conversation"], "")


class HistoryStore(unittest.TestCase):
    def test_round_trip_with_thumbnail_and_bounds(self):
        from easel_krita.history import History, thumbnail_png
        w, h = 300, 200
        data = bytes((x * 7 + y) % 256 for y in range(h) for x in range(w * 4))
        png = thumbnail_png(data, "rgba8", w, h)
        self.assertEqual(png[:4], b"\x89PNG")
        hist = History(max_entries=3)
        for i in range(5):
            hist.add(name=f"r{i}", op="invert", params={"amount": i}, x=1, y=2, width=w,
                     height=h, fmt="rgba8", model="RGBA", depth="U8", data=data, thumb=png)
        self.assertEqual([e["name"] for e in hist.entries], ["r2", "r3", "r4"])
        self.assertLess(hist.stored_bytes(), 3 * len(data))  # compressed, not raw copies
        back = History.from_bytes(hist.to_bytes())
        self.assertEqual([e["name"] for e in back.entries], ["r2", "r3", "r4"])
        self.assertEqual(History.pixels(back.entries[0]), data)
        self.assertEqual(back.entries[2]["params"], {"amount": 4})
        self.assertEqual(back.entries[1]["thumb"], png)

    def test_byte_bound_drops_the_oldest(self):
        from easel_krita.history import History
        import random
        rnd = random.Random(1)
        data = bytes(rnd.getrandbits(8) for _ in range(64 * 64 * 4))  # incompressible
        hist = History(max_bytes=3 * len(data))
        for i in range(6):
            hist.add(name=str(i), op="x", params={}, x=0, y=0, width=64, height=64, fmt="rgba8",
                     model="RGBA", depth="U8", data=data)
        self.assertLessEqual(hist.stored_bytes(), 3 * len(data) + 600)
        self.assertEqual(hist.entries[-1]["name"], "5")

    def test_float_thumbnails(self):
        import struct
        from easel_krita.history import thumbnail_rgba8
        data = struct.pack("<8e", 1.0, 0.5, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0)
        tw, th, px = thumbnail_rgba8(data, "rgba16f", 2, 1)
        self.assertEqual((tw, th), (2, 1))
        self.assertEqual(px[:4], bytes([255, 128, 0, 255]))


if __name__ == "__main__":
    unittest.main()
