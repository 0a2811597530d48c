"""Tests of the plug-ins' template catalogues (adapters/i18n/extract.py): the script writes
easel_krita.pot and easel-gimp.pot into a temporary folder, strings the UIs show are in them,
msgfmt (when installed) accepts them, no user-facing literal of either plug-in escaped wrapping,
and the check does catch one that did. Plain Python; run by tests/gimp/run.sh.

Also ``python3 test_i18n.py --make-mo OUT.mo``: writes the small test catalogue (a fake German)
that tests/gimp/i18n_tests.py looks for inside GIMP.
"""

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXTRACT = os.path.join(REPO, "adapters", "i18n", "extract.py")

# Strings each plug-in shows (docker buttons and labels; GIMP menu labels, dialog arguments,
# error messages), as written in the sources.
KRITA_SHOWN = ["Run", "Cancel", "Apply", "Discard", "Parameters", "Reference layers",
               "Live: paint to run", "Not connected to the Easel daemon yet.", " px", "Other"]
GIMP_SHOWN = ["{title} on a folder...", "Batch", "Input folder", "Output folder", "Grow selection", "Feather selection", "Invert selection",
              "Context margin", "Output", "Alpha channel", "Easel: select a layer first",
              "Easel: {title}", "the layer was deleted", "Scribble layer",
              "Easel: input folder {folder} does not exist"]

# The test catalogue's translations (tests/gimp/i18n_tests.py checks them in GIMP).
TEST_TRANSLATIONS = {
    "{title} on a folder...": "{title} auf einen Ordner anwenden...",
    "Batch": "Stapel",
    "Grow selection": "Auswahl vergr\u00f6\u00dfern",
    "Easel: input folder {folder} does not exist": "Easel: Eingabeordner {folder} fehlt",
}


def read_pot(path):
    """msgid -> msgstr of a .pot/.po written by extract.py (multi-line strings joined)."""
    out, key, cur, field = {}, None, [], None
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines() + [""]
    for line in lines:
        if line.startswith(("msgid ", "msgstr ")):
            if field == "msgstr":
                out[key] = "".join(cur)
            field, rest = line.split(" ", 1)
            if field == "msgid":
                cur = []
            else:
                key, cur = "".join(cur), []
            line = rest
        if line.startswith('"'):
            cur.append(re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]),
                              line[1:-1]))
        elif not line and field == "msgstr":
            out[key] = "".join(cur)
            field = None
    out.pop("", None)
    return out


def write_mo(translations, path):
    """A GNU .mo catalogue (the format msgfmt writes), UTF-8, keys sorted."""
    items = sorted(({"": "Content-Type: text/plain; charset=UTF-8\n"} | translations).items())
    ids = [k.encode() for k, _ in items]
    strs = [v.encode() for _, v in items]
    n = len(items)
    o_ids, o_strs = 28, 28 + n * 8
    data_start = 28 + n * 16
    blob, id_tab, str_tab = b"", [], []
    for s in ids:
        id_tab.append((len(s), data_start + len(blob)))
        blob += s + b"\0"
    for s in strs:
        str_tab.append((len(s), data_start + len(blob)))
        blob += s + b"\0"
    with open(path, "wb") as f:
        f.write(struct.pack("<7I", 0x950412DE, 0, n, o_ids, o_strs, 0, data_start))
        for ln, off in id_tab + str_tab:
            f.write(struct.pack("<2I", ln, off))
        f.write(blob)


class CatalogueTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="easel-i18n-")
        p = subprocess.run([sys.executable, EXTRACT, cls.tmp], capture_output=True, text=True,
                           timeout=60)
        cls.out = p

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_script_writes_both_templates(self):
        self.assertEqual(self.out.returncode, 0, self.out.stderr)
        self.assertEqual(self.out.stderr, "", "extract.py warned")
        for name in ("easel_krita.pot", "easel-gimp.pot"):
            self.assertTrue(os.path.getsize(os.path.join(self.tmp, name)) > 1000, name)

    def test_shown_strings_are_in_the_catalogues(self):
        krita = read_pot(os.path.join(self.tmp, "easel_krita.pot"))
        gimp = read_pot(os.path.join(self.tmp, "easel-gimp.pot"))
        self.assertGreater(len(krita), 80)
        self.assertGreater(len(gimp), 50)
        self.assertEqual([s for s in KRITA_SHOWN if s not in krita], [])
        self.assertEqual([s for s in GIMP_SHOWN if s not in gimp], [])
        self.assertTrue(all(v == "" for v in list(krita.values()) + list(gimp.values())))

    def test_msgfmt_accepts_them(self):
        msgfmt = shutil.which("msgfmt")
        if msgfmt is None:
            self.skipTest("msgfmt (apt's gettext) not installed")
        for name in ("easel_krita.pot", "easel-gimp.pot"):
            p = subprocess.run([msgfmt, "--check-format", "-o", os.devnull,
                                os.path.join(self.tmp, name)], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)

    def test_no_user_facing_literal_escaped(self):
        p = subprocess.run([sys.executable, EXTRACT, "--check"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual((p.returncode, p.stdout), (0, ""), p.stdout)

    def test_check_catches_an_unwrapped_literal(self):
        tree = os.path.join(self.tmp, "tree")
        shutil.copytree(os.path.join(REPO, "adapters", "krita", "easel_krita"),
                        os.path.join(tree, "krita", "easel_krita"))
        shutil.copytree(os.path.join(REPO, "adapters", "gimp", "easel-gimp"),
                        os.path.join(tree, "gimp", "easel-gimp"))
        with open(os.path.join(tree, "krita", "easel_krita", "docker.py"), "a") as f:
            f.write('\n\ndef _escaped(w):\n    w.setToolTip("Not wrapped at all")\n')
        with open(os.path.join(tree, "gimp", "easel-gimp", "easel-gimp.py"), "a") as f:
            f.write('\n\ndef _escaped(proc, n):\n    proc.set_menu_label(f"{n} items")\n'
                    '    raise UserError(_(f"Easel: {n}"))\n')
        p = subprocess.run([sys.executable, EXTRACT, "--adapters", tree, "--check"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("'Not wrapped at all'", p.stdout)
        self.assertIn("set_menu_label(): unwrapped ' items'", p.stdout)
        self.assertIn("_() of something other than a plain string literal", p.stdout)

    def test_test_catalogue_round_trips(self):
        import gettext
        loc = os.path.join(self.tmp, "locale", "de", "LC_MESSAGES")
        os.makedirs(loc)
        write_mo(TEST_TRANSLATIONS, os.path.join(loc, "easel-gimp.mo"))
        t = gettext.translation("easel-gimp", os.path.join(self.tmp, "locale"), ["de"])
        for k, v in TEST_TRANSLATIONS.items():
            self.assertEqual(t.gettext(k), v)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--make-mo"]:
        os.makedirs(os.path.dirname(os.path.abspath(sys.argv[2])), exist_ok=True)
        write_mo(TEST_TRANSLATIONS, sys.argv[2])
    else:
        unittest.main()
