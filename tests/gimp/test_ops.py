"""Unit tests of easel_gimp_ops (the plug-in's GIMP-free half): schema -> GIMP arguments, the
request built from argument values, formats, the capabilities cache and the batch helpers."""

import json
import os
import tempfile
import unittest

import easel_gimp_ops as ops

OP = {"id": "remove-object", "title": "Remove object", "category": "Retouch", "mask": "required",
      "max_references": 0, "flags": [],
      "params": [{"name": "patch_size", "kind": "int", "min": 5, "max": 15, "default": 7,
                  "title": "Patch size"},
                 {"name": "seed", "kind": "seed", "default": 0},
                 {"name": "method", "kind": "choice", "options": ["patchmatch", "model"],
                  "default": "patchmatch"},
                 {"name": "strength", "kind": "float", "min": 0.0, "max": 1.0, "default": 0.5},
                 {"name": "fast", "kind": "bool", "default": True},
                 {"name": "weird", "kind": "tensor"}]}


class Schema(unittest.TestCase):
    def specs(self, op=OP):
        return {s["arg"]: s for s in ops.argument_specs(op)}

    def test_kinds_and_ranges(self):
        s = self.specs()
        self.assertEqual((s["patch-size"]["kind"], s["patch-size"]["min"], s["patch-size"]["max"],
                          s["patch-size"]["default"]), ("int", 5, 15, 7))
        self.assertEqual((s["seed"]["kind"], s["seed"]["min"], s["seed"]["max"]),
                         ("int", 0, ops.SEED_MAX))
        self.assertEqual(s["method"]["kind"], "choice")
        self.assertEqual([o[0] for o in s["method"]["options"]], ["patchmatch", "model"])
        self.assertEqual(s["strength"]["kind"], "double")
        self.assertEqual(s["fast"]["kind"], "boolean")
        self.assertNotIn("weird", s)  # unknown kinds are left to their defaults

    def test_modifiers_on_every_operation(self):
        for op in ops.FALLBACK_OPERATIONS + [OP]:
            s = self.specs(op)
            for a in (ops.ARG_GROW, ops.ARG_FEATHER, ops.ARG_INVERT, ops.ARG_MARGIN):
                self.assertIn(a, s, op["id"])

    def test_remove_background_output_choice(self):
        rb = next(o for o in ops.FALLBACK_OPERATIONS if o["id"] == "remove-background")
        s = self.specs(rb)
        self.assertEqual([o[0] for o in s["output"]["options"]],
                         ["alpha", "layer-mask", "gray-mask"])
        req = ops.collect_request(rb, {"model": "u2netp", "output": "layer-mask"})
        self.assertEqual(req["params"], {"model": "u2netp", "output": "cutout"})
        req = ops.collect_request(rb, {"output": "gray-mask"})
        self.assertEqual(req["params"]["output"], "mask")

    def test_request_from_values(self):
        req = ops.collect_request(OP, {"patch-size": 9, "seed": 3, "method": "model",
                                       "strength": 1, "fast": 0, ops.ARG_GROW: -2,
                                       ops.ARG_FEATHER: 1.5, ops.ARG_INVERT: True,
                                       ops.ARG_MARGIN: 10})
        self.assertEqual(req["params"], {"patch_size": 9, "seed": 3, "method": "model",
                                         "strength": 1.0, "fast": False})
        self.assertIsInstance(req["params"]["strength"], float)
        self.assertEqual(req["mask_modifiers"], {"grow": -2, "feather": 1.5, "invert": True})
        self.assertEqual(req["context_margin"], 10)

    def test_references(self):
        ml = next(o for o in ops.FALLBACK_OPERATIONS if o["id"] == "match-look")
        refs = [s["arg"] for s in ops.argument_specs(ml) if s["role"] == "reference"]
        self.assertEqual(refs, ["reference", "reference-2", "reference-3"])

    def test_identifiers(self):
        self.assertEqual(ops.proc_name("Upscale_2x!"), "plug-in-easel-upscale-2x")
        self.assertEqual(ops.arg_name("refine_foreground"), "refine-foreground")
        self.assertEqual(ops.arg_name("selection_grow"), "op-selection-grow")
        self.assertEqual(ops.arg_name("2pass"), "x-2pass")
        self.assertEqual(ops.menu_path({"category": "Color"}), "<Image>/Filters/Easel/Color")


GENERATIVE = {"id": "generative-edit", "title": "Edit selection from a prompt",
              "category": "Generative", "mask": "optional", "min_references": 0,
              "max_references": 9, "flags": ["composite_through_mask"],
              "params": [{"name": "prompt", "title": "Prompt", "kind": "text", "default": "",
                          "max_len": 10, "multiline": True},
                         {"name": "conversation", "kind": "text", "default": "",
                          "max_len": 100, "multiline": True},
                         {"name": "seed", "kind": "seed", "default": 0}]}


class Generative(unittest.TestCase):
    def test_text_parameters_are_string_arguments(self):
        s = {x["arg"]: x for x in ops.argument_specs(GENERATIVE)}
        self.assertEqual((s["prompt"]["kind"], s["prompt"]["default"], s["prompt"]["max_len"],
                          s["prompt"]["multiline"]), ("string", "", 10, True))
        self.assertIn("at most 10 characters", s["prompt"]["blurb"])
        self.assertNotIn("conversation", s, "the adapter fills the conversation itself")
        self.assertIn("prompt", ops.dialog_arguments(GENERATIVE, True))
        req = ops.collect_request(GENERATIVE, {"prompt": "a red hat", "seed": 3})
        self.assertEqual(req["params"], {"prompt": "a red hat", "seed": 3})
        self.assertNotIn("prompt", {x["arg"] for x in ops.argument_specs(OP)})

    def test_the_dialog_gets_a_text_box_for_the_prompt(self):
        calls = []

        class FakeDialog:
            def get_spin_scale(self, arg, factor):
                calls.append(("spin", arg))

            def get_widget(self, arg, widget_type):
                calls.append(("widget", arg, widget_type))

            def fill(self, args):
                calls.append(("fill", tuple(args)))

        shown = ops.fill_dialog(FakeDialog(), GENERATIVE, True, "GtkTextView")
        self.assertIn(("widget", "prompt", "GtkTextView"), calls)
        self.assertNotIn(("spin", "seed"), calls)
        self.assertEqual(calls[-1], ("fill", tuple(shown)))
        self.assertIn("prompt", shown)
        calls.clear()
        ops.fill_dialog(FakeDialog(), OP, True, "GtkTextView")
        self.assertIn(("spin", "patch-size"), calls)
        self.assertFalse([c for c in calls if c[0] == "widget"])

    def test_text_over_its_limit_is_refused_naming_the_argument(self):
        ops.check_text_lengths(GENERATIVE, {"prompt": "0123456789"})
        with self.assertRaisesRegex(ValueError, "prompt is 11 characters long, over its limit "
                                                "of 10"):
            ops.check_text_lengths(GENERATIVE, {"prompt": "0123456789a"})

    def test_turns_round_trip_and_follow_up(self):
        self.assertTrue(ops.refinable(GENERATIVE))
        self.assertFalse(ops.refinable(OP))
        rec = ops.turns_record("generative-edit", ["give her a red hat"], " make it green ", 7)
        self.assertEqual(rec["turns"], ["give her a red hat", "make it green"])
        back = ops.decode_turns(ops.encode_turns(rec))
        self.assertEqual(back, rec)
        self.assertEqual(ops.follow_up_params({"prompt": "add a feather"}, back),
                         {"prompt": "add a feather",
                          "conversation": "give her a red hat\nmake it green"})
        for bad in (b"", b"not json", b'{"turns": []}', b'{"turns": ["a"]}', b"[1]"):
            self.assertIsNone(ops.decode_turns(bad), bad)
        self.assertEqual(ops.turn_name("Edit", 1), "Edit")
        self.assertEqual(ops.turn_name("Edit", 3), "Edit (turn 3)")
        self.assertEqual(ops.turn_name("Edit #1", 2), "Edit (turn 2)")


class Formats(unittest.TestCase):
    def test_precisions(self):
        self.assertEqual(ops.formats_for_precision("U8_NON_LINEAR")[:2], ("R'G'B'A u8", "rgba8"))
        self.assertEqual(ops.formats_for_precision("U16_LINEAR")[:2], ("R'G'B'A u16", "rgba16"))
        for p in ("FLOAT_LINEAR", "HALF_NON_LINEAR", "U32_LINEAR", "DOUBLE_PERCEPTUAL"):
            self.assertEqual(ops.formats_for_precision(p)[1], "rgba32f", p)
        self.assertEqual(ops.formats_for_precision("U8_LINEAR")[3], "gray8")


class CacheAndBatch(unittest.TestCase):
    def test_cache_round_trip(self):
        with tempfile.TemporaryDirectory() as d:
            self.assertIsNone(ops.read_cache(d))
            ops.write_cache(d, [OP], "easeld/0.1.0")
            self.assertEqual(ops.read_cache(d), [OP])
            with open(ops.cache_path(d), "w") as f:
                f.write("{not json")
            self.assertIsNone(ops.read_cache(d))

    def test_params_json(self):
        self.assertEqual(ops.parse_params_json(""), {})
        self.assertEqual(ops.parse_params_json('{"amount": 0.5}'), {"amount": 0.5})
        with self.assertRaisesRegex(ValueError, "JSON"):
            ops.parse_params_json("{oops")
        with self.assertRaisesRegex(ValueError, "object"):
            ops.parse_params_json("[1]")

    def test_batch_files(self):
        with tempfile.TemporaryDirectory() as d:
            for n in ("b.JPG", "a.png", "notes.txt"):
                open(os.path.join(d, n), "w").close()
            os.mkdir(os.path.join(d, "sub.png"))
            self.assertEqual([os.path.basename(p) for p in ops.batch_inputs(d)],
                             ["a.png", "b.JPG"])
            self.assertEqual(ops.batch_output(os.path.join(d, "b.JPG"), "/out"), "/out/b.png")

    def test_folder_procedures_are_typed(self):
        by_id = {o["id"]: o for o in ops.FALLBACK_OPERATIONS}
        # Whole images only: not an operation that needs a selection or a painted layer.
        self.assertEqual(sorted(i for i, o in by_id.items() if ops.batchable(o)),
                         ["fix-low-light", "invert", "match-look", "remove-background",
                          "upscale-2x", "upscale-4x"])
        specs = ops.batch_argument_specs(by_id["remove-background"])
        kinds = {s["arg"]: s["kind"] for s in specs}
        self.assertEqual(specs[0]["arg"], "input-folder")
        self.assertEqual(kinds["input-folder"], "folder")
        self.assertEqual(kinds["output-folder"], "folder")
        self.assertEqual(kinds["model"], "choice")
        self.assertEqual(kinds["refine-foreground"], "boolean")
        self.assertEqual(kinds["output"], "choice")
        self.assertNotIn("selection-grow", kinds)
        self.assertNotIn("run-mode", kinds)
        letters = [s["label"][s["label"].index("_") + 1].lower() for s in specs]
        self.assertEqual(len(letters), len(set(letters)), [s["label"] for s in specs])
        self.assertEqual(ops.batch_proc_name("remove-background"),
                         "plug-in-easel-batch-remove-background")
        self.assertEqual(ops.batch_values(by_id["invert"], {"amount": 0.5}), {"amount": 0.5})
        with self.assertRaisesRegex(ValueError, "nope"):
            ops.batch_values(by_id["invert"], {"nope": 1})

    def test_folder_menu_labels_have_their_own_mnemonics(self):
        labels = ops.batch_menu_labels(ops.FALLBACK_OPERATIONS)
        self.assertEqual(labels["remove-background"], "_Remove background on a folder...")
        keys = [lb[lb.index("_") + 1].lower() for lb in labels.values()]
        self.assertEqual(len(keys), len(set(keys)), labels)
        self.assertNotIn("remove-object", labels)

    def test_progress_clamp(self):
        self.assertEqual(ops.clamp_progress(float("nan")), 0.0)
        self.assertEqual(ops.clamp_progress(1.7), 1.0)


if __name__ == "__main__":
    unittest.main()
