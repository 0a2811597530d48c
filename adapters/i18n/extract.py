#!/usr/bin/env python3
"""Extracts the translatable strings of Easel's Krita plug-in (``i18n("...")``) and GIMP plug-in
(``_("...")`` and ``N_("...")``, its gettext domain ``easel-gimp``) into gettext templates, and
checks the sources for user-facing text that escaped wrapping.

    adapters/i18n/extract.py OUTDIR     writes OUTDIR/easel_krita.pot and OUTDIR/easel-gimp.pot
    adapters/i18n/extract.py --check    lists unwrapped user-facing literals; status 1 if any
    (either after --adapters DIR: the sources of another folder laid out as adapters/)

Plain Python (its ``ast``), no gettext tools needed: the templates are standard .pot files
(``msgfmt`` compiles a translation made from them; the GIMP plug-in looks for
``easel-gimp/locale/LANG/LC_MESSAGES/easel-gimp.mo``, GIMP 3's convention for plug-ins).

The check knows the calls that put text in front of the user: Qt's text setters and widget
constructors in the Krita plug-in; GIMP's menu label, documentation, argument nicks and blurbs,
progress texts, dialog titles and the plug-in's error messages in the GIMP plug-in. A string
literal (or an f-string's text) with a letter in such an argument must be inside a wrapper call;
the wrappers' own arguments must be plain literals (an f-string or a concatenation cannot be
looked up), or a variable holding a string marked where it is defined (``N_``).
"""

from __future__ import annotations

import ast
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ADAPTERS = os.path.dirname(HERE)
REPO = os.path.dirname(ADAPTERS)

QT_TEXT = {n: (0,) for n in (
    "setText", "setToolTip", "setWindowTitle", "setPlaceholderText", "setStatusTip",
    "setWhatsThis", "setTitle", "setSuffix", "setPrefix", "setSpecialValueText", "addItem",
    "QLabel", "QPushButton", "QCheckBox", "QGroupBox", "QToolButton", "QRadioButton", "QAction",
    "setTabText", "showMessage")}
QT_TEXT.update({"information": (1, 2), "warning": (1, 2), "critical": (1, 2), "question": (1, 2),
                "setTabText": (1,), "addRow": (0,), "insertItem": (1,)})
GIMP_TEXT = {"set_menu_label": (0,), "set_documentation": (0, 1), "Error": (0,),
             "UserError": (0,), "gimp_error": (1,), "progress_init": (0,),
             "progress_set_text": (0,), "message": (0,), "new": (2,)}
for _kind in ("int", "double", "boolean", "string", "enum", "choice", "file", "layer",
              "drawable", "image", "core_object_array", "color", "unit"):
    GIMP_TEXT[f"add_{_kind}_argument"] = (1, 2)
    GIMP_TEXT[f"add_{_kind}_aux_argument"] = (1, 2)
    GIMP_TEXT[f"add_{_kind}_return_value"] = (1, 2)



def domains(adapters: str = ADAPTERS) -> dict:
    """domain -> (source folder, wrapper names, {call: user-facing argument indexes}, skipped)."""
    return {
        "easel_krita": (os.path.join(adapters, "krita", "easel_krita"), {"i18n"}, QT_TEXT,
                        {"testhook.py"}),
        "easel-gimp": (os.path.join(adapters, "gimp", "easel-gimp"), {"_", "N_"}, GIMP_TEXT,
                       set()),
    }


DOMAINS = domains()


def _name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _has_letter(s: str) -> bool:
    return any(c.isalpha() for c in s)


def sources(domain: str) -> list[str]:
    folder, _, _, skip = DOMAINS[domain]
    if not os.path.isdir(folder):
        raise SystemExit(f"extract.py: no sources for {domain} at {folder}")
    return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                  if f.endswith(".py") and f not in skip)


def scan(domain: str):
    """(messages {text: [(file, line)]}, problems [(file, line, text)]) for one domain."""
    folder, wrappers, calls, _ = DOMAINS[domain]
    messages: dict[str, list[tuple[str, int]]] = {}
    problems: list[tuple[str, int, str]] = []
    for path in sources(domain):
        # Named from the repository (or the tree) root: adapters/krita/easel_krita/docker.py.
        rel = os.path.relpath(path, os.path.dirname(os.path.dirname(os.path.dirname(folder))))
        tree = ast.parse(open(path, encoding="utf-8").read(), path)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            if name in wrappers:
                arg = node.args[0] if node.args else None
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    messages.setdefault(arg.value, []).append((rel, node.lineno))
                elif isinstance(arg, (ast.Name, ast.Attribute, ast.Subscript)):
                    pass  # a string marked where it is defined (N_), translated where used
                else:
                    problems.append((rel, node.lineno, f"{name}() of something other than a "
                                     f"plain string literal: {ast.unparse(arg) if arg else ''}"))
            elif name in calls:
                for i in calls[name]:
                    if i < len(node.args):
                        for bare in _bare_text(node.args[i], wrappers):
                            problems.append((rel, bare.lineno,
                                             f"{name}(): unwrapped {bare.value!r}"))
    return messages, problems


def _bare_text(node: ast.AST, wrappers: set[str]):
    """String constants with a letter in ``node``'s subtree that no wrapper call encloses
    (format specs of f-strings excluded)."""
    if isinstance(node, ast.Call) and _name(node.func) in wrappers:
        return
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and node.func.attr == "format":
        yield from _bare_text(node.func.value, wrappers)  # "...".format(...): the template
        return
    if isinstance(node, ast.Subscript):  # d["key"]: the key is no text
        yield from _bare_text(node.value, wrappers)
        return
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and node.func.attr == "get":  # d.get("key", default): only the default may be text
        yield from _bare_text(node.func.value, wrappers)
        for a in node.args[1:]:
            yield from _bare_text(a, wrappers)
        return
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and _has_letter(node.value):
        yield node
        return
    if isinstance(node, ast.FormattedValue):
        yield from _bare_text(node.value, wrappers)
        return
    for child in ast.iter_child_nodes(node):
        yield from _bare_text(child, wrappers)


def _po_quote(s: str) -> str:
    s = s.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    if "\n" not in s:
        return f'"{s}"'
    parts = s.split("\n")
    lines = [p + "\\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    return '""\n' + "\n".join(f'"{p}"' for p in lines)


def write_pot(domain: str, messages: dict, out_dir: str) -> str:
    path = os.path.join(out_dir, f"{domain}.pot")
    now = time.strftime("%Y-%m-%d %H:%M%z", time.gmtime())
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"# Template of the translatable strings of Easel's {domain} plug-in.\n"
                f"# Made by adapters/i18n/extract.py from the plug-in's sources.\n"
                f'msgid ""\nmsgstr ""\n"Project-Id-Version: {domain}\\n"\n'
                f'"POT-Creation-Date: {now}\\n"\n"MIME-Version: 1.0\\n"\n'
                f'"Content-Type: text/plain; charset=UTF-8\\n"\n'
                f'"Content-Transfer-Encoding: 8bit\\n"\n\n')
        for text, refs in messages.items():
            f.write("#: " + " ".join(f"{r}:{n}" for r, n in refs) + "\n")
            if "{" in text:
                f.write("#, python-brace-format\n")
            f.write(f"msgid {_po_quote(text)}\nmsgstr \"\"\n\n")
    return path


def main(argv: list[str]) -> int:
    global DOMAINS
    if argv[:1] == ["--adapters"] and len(argv) >= 2:  # another tree laid out as adapters/
        DOMAINS = domains(os.path.abspath(argv[1]))
        argv = argv[2:]
    if argv[:1] == ["--check"]:
        bad = 0
        for domain in DOMAINS:
            messages, problems = scan(domain)
            for rel, line, what in problems:
                print(f"{rel}:{line}: {what}")
            bad += len(problems)
            print(f"{domain}: {len(messages)} strings, {len(problems)} problems", file=sys.stderr)
        return 1 if bad else 0
    if len(argv) != 1 or argv[0].startswith("-"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    os.makedirs(argv[0], exist_ok=True)
    for domain in DOMAINS:
        messages, problems = scan(domain)
        for rel, line, what in problems:
            print(f"warning: {rel}:{line}: {what}", file=sys.stderr)
        print(f"{write_pot(domain, messages, argv[0])}: {len(messages)} strings")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
