"""The Krita plug-in's resource files in its template catalogue (adapters/i18n/extract.py): every
user-visible field of easel_krita.action (<text>, <toolTip>, <iconText>, <whatsThis>,
<statusTip>, the category's <text>) and Name/Comment of easel_krita.desktop are in
easel_krita.pot with a reference to the line that holds them, msgfmt accepts it, the GIMP
template gets none of them, and --check fails when the .action, the .desktop and the plug-in's
createAction calls disagree (copies of the sources in a temporary tree; nothing tracked is
written). Plain Python; run by tests/krita/run.sh.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXTRACT = os.path.join(REPO, "adapters", "i18n", "extract.py")
KRITA = os.path.join(REPO, "adapters", "krita")
FIELDS = ("text", "toolTip", "iconText", "whatsThis", "statusTip")


def read_pot(path):
    """msgid -> [references "file:line"] of a template written by extract.py."""
    out, refs, key, field = {}, [], [], None
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines() + [""]:
            if line.startswith("#: "):
                refs += line[3:].split()
            elif line.startswith("msgid "):
                field, key = "msgid", [line[6:]]
            elif line.startswith("msgstr "):
                text = "".join(re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]),
                                      part[1:-1]) for part in key)
                if text:
                    out[text] = refs
                refs, field = [], "msgstr"
            elif line.startswith('"') and field == "msgid":
                key.append(line)
    return out


def action_strings(path):
    """[(field, text)] of the non-empty user-visible fields, parsed independently of extract.py."""
    root = ET.parse(path).getroot()
    out = []
    for actions in root.iter("Actions"):
        t = actions.find("text")
        if t is not None and (t.text or "").strip():
            out.append(("category", t.text.strip()))
        for a in actions.iter("Action"):
            for f in FIELDS:
                e = a.find(f)
                if e is not None and (e.text or "").strip():
                    out.append((f, e.text.strip()))
    return out


class Tree:
    """A copy of the plug-ins' sources laid out as adapters/, to edit."""

    def __init__(self, tmp):
        self.root = os.path.join(tmp, "adapters")
        shutil.copytree(KRITA, os.path.join(self.root, "krita"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(os.path.join(REPO, "adapters", "gimp", "easel-gimp"),
                        os.path.join(self.root, "gimp", "easel-gimp"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        self.action = os.path.join(self.root, "krita", "easel_krita.action")
        self.desktop = os.path.join(self.root, "krita", "easel_krita.desktop")
        self.init = os.path.join(self.root, "krita", "easel_krita", "__init__.py")

    def edit(self, path, old, new):
        with open(path, encoding="utf-8") as f:
            s = f.read()
        assert s.count(old) == 1, (path, old)
        with open(path, "w", encoding="utf-8") as f:
            f.write(s.replace(old, new))

    def check(self):
        return subprocess.run([sys.executable, EXTRACT, "--adapters", self.root, "--check"],
                              capture_output=True, text=True, timeout=60)

    def extract(self, out):
        return subprocess.run([sys.executable, EXTRACT, "--adapters", self.root, out],
                              capture_output=True, text=True, timeout=60)


NEW_ACTION = """    <Action name="easel_new_thing">
      <icon></icon>
      <text>Easel: A New Thing</text>
      <whatsThis>Does the new thing</whatsThis>
      <toolTip>Run the new thing</toolTip>
      <iconText>New</iconText>
      <activationFlags>0</activationFlags>
      <activationConditions>0</activationConditions>
      <shortcut></shortcut>
      <isCheckable>false</isCheckable>
      <statusTip>The new thing, now</statusTip>
    </Action>
  </Actions>"""


class ResourceStrings(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="easel-i18n-krita-")
        cls.out = subprocess.run([sys.executable, EXTRACT, cls.tmp], capture_output=True,
                                 text=True, timeout=60)
        cls.pot = read_pot(os.path.join(cls.tmp, "easel_krita.pot"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_action_strings_in_the_template_with_their_lines(self):
        self.assertEqual(self.out.returncode, 0, self.out.stderr)
        path = os.path.join(KRITA, "easel_krita.action")
        strings = action_strings(path)
        self.assertGreaterEqual(len(strings), 19, strings)  # 6 actions: text, toolTip, iconText
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        missing, bad_refs = [], []
        for field, text in strings:
            refs = [r for r in self.pot.get(text, []) if r.startswith("adapters/krita/easel_krita.action:")]
            if not refs:
                missing.append((field, text))
            for r in refs:
                n = int(r.rsplit(":", 1)[1])
                if not (1 <= n <= len(lines) and text in lines[n - 1]):
                    bad_refs.append((text, r))
        self.assertEqual(missing, [])
        self.assertEqual(bad_refs, [])

    def test_desktop_name_and_comment_in_the_template(self):
        path = os.path.join(KRITA, "easel_krita.desktop")
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        for key in ("Name", "Comment"):
            n, value = next((i, ln.split("=", 1)[1]) for i, ln in enumerate(lines, 1)
                            if ln.startswith(key + "="))
            self.assertIn(f"adapters/krita/easel_krita.desktop:{n}", self.pot.get(value, []),
                          (key, value))

    def test_menu_texts_are_the_action_texts(self):
        # The menu shows the text the plug-in passes to createAction: one msgid for both places.
        texts = [t for f, t in action_strings(os.path.join(KRITA, "easel_krita.action")) if f == "text"]
        for t in texts:
            refs = self.pot.get(t, [])
            self.assertTrue(any(r.startswith("adapters/krita/easel_krita/__init__.py:") for r in refs)
                            and any(r.startswith("adapters/krita/easel_krita.action:") for r in refs),
                            (t, refs))

    def test_gimp_template_has_none_of_them(self):
        with open(os.path.join(self.tmp, "easel-gimp.pot"), encoding="utf-8") as f:
            gimp = f.read()
        self.assertNotIn("easel_krita.action", gimp)
        self.assertNotIn("easel_krita.desktop", gimp)
        self.assertNotIn("Show the Easel docker", gimp)

    def test_msgfmt_accepts_the_template(self):
        msgfmt = shutil.which("msgfmt")
        if msgfmt is None:
            self.skipTest("msgfmt (apt's gettext) not installed")
        p = subprocess.run([msgfmt, "--check", "-o", os.devnull,
                            os.path.join(self.tmp, "easel_krita.pot")], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_check_is_clean(self):
        p = subprocess.run([sys.executable, EXTRACT, "--check"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual((p.returncode, p.stdout), (0, ""), p.stdout)


class CheckCatches(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="easel-i18n-krita-")
        self.tree = Tree(self.tmp)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_the_copied_tree_is_clean(self):
        p = self.tree.check()
        self.assertEqual((p.returncode, p.stdout), (0, ""), p.stdout)

    def test_a_new_action_is_extracted_and_must_be_created(self):
        self.tree.edit(self.tree.action, "  </Actions>", NEW_ACTION)
        out = os.path.join(self.tmp, "pot")
        p = self.tree.extract(out)
        self.assertEqual(p.returncode, 0, p.stderr)
        pot = read_pot(os.path.join(out, "easel_krita.pot"))
        for text in ("Easel: A New Thing", "Does the new thing", "Run the new thing", "New",
                     "The new thing, now"):
            self.assertTrue(any(r.startswith("adapters/krita/easel_krita.action:")
                                for r in pot.get(text, [])), (text, pot.get(text)))
        # Defined but not created by the plug-in: it would have a shortcut but no menu entry.
        p = self.tree.check()
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("action 'easel_new_thing' is never created", p.stdout)
        # Created, with the same text: clean again.
        self.tree.edit(self.tree.init, "        def _show(self):",
                       '            self._new = window.createAction("easel_new_thing", '
                       'i18n("Easel: A New Thing"), "tools/scripts")\n\n        def _show(self):')
        p = self.tree.check()
        self.assertEqual((p.returncode, p.stdout), (0, ""), p.stdout)

    def test_an_action_created_without_an_entry_in_the_action_file(self):
        # Its menu text would be in the template (from Python), its tooltip and shortcut nowhere.
        self.tree.edit(self.tree.init, "        def _show(self):",
                       '            window.createAction("easel_missing", i18n("Easel: Missing"), '
                       '"tools/scripts")\n\n        def _show(self):')
        p = self.tree.check()
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("createAction('easel_missing'): no such action in easel_krita.action",
                      p.stdout)

    def test_menu_text_differing_from_the_action_text(self):
        self.tree.edit(self.tree.init, 'i18n("Easel: Run Again")', 'i18n("Easel: Run It Again")')
        p = self.tree.check()
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("createAction('easel_run_again'): text 'Easel: Run It Again' is not the "
                      "action's <text> 'Easel: Run Again'", p.stdout)

    def test_unwrapped_menu_text(self):
        self.tree.edit(self.tree.init, 'i18n("Easel: Live Mode")', '"Easel: Live Mode"')
        p = self.tree.check()
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("createAction(): unwrapped 'Easel: Live Mode'", p.stdout)

    def test_an_action_without_text(self):
        self.tree.edit(self.tree.action, "<text>Easel: Paint a Mask</text>", "<text></text>")
        p = self.tree.check()
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("action 'easel_paint_mask' has no <text>", p.stdout)

    def test_a_broken_action_file(self):
        self.tree.edit(self.tree.action, "</ActionCollection>", "</ActionCollectio>")
        p = self.tree.check()
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("easel_krita.action:0: not well-formed XML", p.stdout)

    def test_a_desktop_file_without_comment(self):
        with open(self.tree.desktop, encoding="utf-8") as f:
            kept = [ln for ln in f.read().splitlines() if not ln.startswith("Comment=")]
        with open(self.tree.desktop, "w", encoding="utf-8") as f:
            f.write("\n".join(kept) + "\n")
        p = self.tree.check()
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("easel_krita.desktop:0: no Comment= in [Desktop Entry]", p.stdout)


if __name__ == "__main__":
    unittest.main()
