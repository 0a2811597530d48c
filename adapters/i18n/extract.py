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

The Krita template also holds the user-visible strings of ``krita/easel_krita.action`` (each
action's ``text``, ``toolTip``, ``iconText``, ``whatsThis`` and ``statusTip``, and the category's
``text``) and of ``krita/easel_krita.desktop`` (``Name``, ``Comment``), each with its file and line.
Krita looks the .action texts up itself, in its own catalogue (``i18nc("action", text)``, then
``i18n(text)``); the menu text of an action is what the plug-in passes to ``createAction``, so
``--check`` also requires that each ``createAction(id, i18n("..."))`` names an action of the
.action file with that same ``text`` (one string, one translation), that every action there is
created, has a text and parses, and that the .desktop has a ``Name`` and a ``Comment``.

The check knows the calls that put text in front of the user: Qt's text setters and widget
constructors, and Krita's ``createAction``, in the Krita plug-in; GIMP's menu label,
documentation, argument nicks and blurbs, progress texts, dialog titles and the plug-in's error
messages in the GIMP plug-in. A string literal (or an f-string's text) with a letter in such an
argument must be inside a wrapper call; the wrappers' own arguments must be plain literals (an
f-string or a concatenation cannot be looked up), or a variable holding a string marked where it
is defined (``N_``).
"""

from __future__ import annotations

import ast
import os
import sys
import time
import xml.parsers.expat

HERE = os.path.dirname(os.path.abspath(__file__))
ADAPTERS = os.path.dirname(HERE)
REPO = os.path.dirname(ADAPTERS)

QT_TEXT = {n: (0,) for n in (
    "setText", "setToolTip", "setWindowTitle", "setPlaceholderText", "setStatusTip",
    "setWhatsThis", "setTitle", "setSuffix", "setPrefix", "setSpecialValueText", "addItem",
    "QLabel", "QPushButton", "QCheckBox", "QGroupBox", "QToolButton", "QRadioButton", "QAction",
    "setTabText", "showMessage")}
QT_TEXT.update({"information": (1, 2), "warning": (1, 2), "critical": (1, 2), "question": (1, 2),
                "setTabText": (1,), "addRow": (0,), "insertItem": (1,), "createAction": (1,)})
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

# The Krita plug-in's resource files beside its package: the user-visible fields of each.
ACTION_FIELDS = ("text", "toolTip", "iconText", "whatsThis", "statusTip")
DESKTOP_KEYS = ("Name", "Comment")


def resources(domain: str) -> tuple[str | None, str | None]:
    """(.action file, .desktop file) of a domain's plug-in, None where it has none."""
    if domain != "easel_krita":
        return None, None
    folder = os.path.dirname(DOMAINS[domain][0])
    return (os.path.join(folder, "easel_krita.action"), os.path.join(folder, "easel_krita.desktop"))


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
    if domain == "easel_krita":
        _scan_resources(domain, folder, messages, problems)
    return messages, problems


def _rel(path: str, folder: str) -> str:
    return os.path.relpath(path, os.path.dirname(os.path.dirname(os.path.dirname(folder))))


def parse_action_file(path: str):
    """(category [(field, text, line)], {action name: (line, [(field, text, line)])}) of a Krita
    .action file; raises ValueError when it is not well-formed XML."""
    category: list[tuple[str, str, int]] = []
    actions: dict[str, tuple[int, list[tuple[str, str, int]]]] = {}
    stack: list[tuple[str, dict, int]] = []
    text: list[str] = []
    p = xml.parsers.expat.ParserCreate("UTF-8")

    def start(tag, attrs):
        stack.append((tag, attrs, p.CurrentLineNumber))
        text.clear()
        if tag == "Action":
            actions.setdefault(attrs.get("name", ""), (p.CurrentLineNumber, []))

    def end(tag):
        _, _, line = stack.pop()
        parent = stack[-1] if stack else None
        value = "".join(text).strip()
        text.clear()
        if parent is None:
            return
        if parent[0] == "Action" and tag in ACTION_FIELDS:
            actions[parent[1].get("name", "")][1].append((tag, value, line))
        elif parent[0] == "Actions" and tag == "text":
            category.append((tag, value, line))

    p.StartElementHandler = start
    p.EndElementHandler = end
    p.CharacterDataHandler = text.append
    try:
        with open(path, "rb") as f:
            p.ParseFile(f)
    except xml.parsers.expat.ExpatError as e:
        raise ValueError(str(e)) from None
    return category, actions


def parse_desktop_file(path: str) -> dict[str, tuple[str, int]]:
    """key -> (value, line) of a .desktop file's [Desktop Entry] (untranslated keys only)."""
    out: dict[str, tuple[str, int]] = {}
    group = None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if line.startswith("[") and line.endswith("]"):
                group = line[1:-1]
            elif group == "Desktop Entry" and "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                out.setdefault(key.strip(), (value.strip(), n))
    return out


def _created_actions(folder: str) -> list[tuple[str, int, str, str | None]]:
    """(file, line, action id, its i18n text or None) of every createAction("id", ...) call."""
    out = []
    for path in sources("easel_krita"):
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
            if isinstance(node, ast.Call) and _name(node.func) == "createAction" \
                    and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                arg = node.args[1] if len(node.args) > 1 else None
                text = None
                if isinstance(arg, ast.Call) and _name(arg.func) == "i18n" and arg.args \
                        and isinstance(arg.args[0], ast.Constant):
                    text = arg.args[0].value
                out.append((_rel(path, folder), node.lineno, node.args[0].value, text))
    return out


def _scan_resources(domain: str, folder: str, messages: dict, problems: list) -> None:
    """Adds the .action and .desktop strings to ``messages`` and their problems to ``problems``."""
    action_path, desktop_path = resources(domain)
    notes: dict[str, list[str]] = {}

    def add(text, rel, line, note):
        messages.setdefault(text, []).append((rel, line))
        notes.setdefault(text, []).append(note)

    if not os.path.isfile(action_path):
        problems.append((_rel(action_path, folder), 0,
                         "missing (the actions' texts and shortcuts)"))
        actions = {}
    else:
        rel = _rel(action_path, folder)
        try:
            category, actions = parse_action_file(action_path)
        except ValueError as e:
            problems.append((rel, 0, f"not well-formed XML: {e}"))
            category, actions = [], {}
        for _, value, line in category:
            if value:
                add(value, rel, line, "the category of the plug-in's actions (Keyboard Shortcuts)")
        for name, (line, fields) in actions.items():
            if not any(f == "text" and v for f, v, _ in fields):
                problems.append((rel, line, f"action {name!r} has no <text> (Krita would show "
                                 f"its id)"))
            for field, value, fline in fields:
                if value:
                    add(value, rel, fline, f"<{field}> of the action {name}")
        created = _created_actions(folder)
        for src, line, name, text in created:
            if name not in actions:
                problems.append((src, line, f"createAction({name!r}): no such action in "
                                 f"{os.path.basename(action_path)}"))
                continue
            want = next((v for f, v, _ in actions[name][1] if f == "text"), "")
            if text is not None and want and text != want:
                problems.append((src, line, f"createAction({name!r}): text {text!r} is not the "
                                 f"action's <text> {want!r} in {os.path.basename(action_path)}"))
        for name, (line, _) in actions.items():
            if created and name not in {c[2] for c in created}:
                problems.append((rel, line, f"action {name!r} is never created by the plug-in "
                                 f"(createAction)"))
    if not os.path.isfile(desktop_path):
        problems.append((_rel(desktop_path, folder), 0, "missing"))
    else:
        rel = _rel(desktop_path, folder)
        entry = parse_desktop_file(desktop_path)
        for key in DESKTOP_KEYS:
            value, line = entry.get(key, ("", 0))
            if value:
                add(value, rel, line, f"{key} in the .desktop file (Python Plugin Manager)")
            else:
                problems.append((rel, line, f"no {key}= in [Desktop Entry]"))
    NOTES[domain] = notes


NOTES: dict[str, dict[str, list[str]]] = {}  # domain -> text -> where a resource file shows it


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
        notes = NOTES.get(domain, {})
        for text, refs in messages.items():
            for note in dict.fromkeys(notes.get(text, ())):
                f.write(f"#. {note}\n")
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
