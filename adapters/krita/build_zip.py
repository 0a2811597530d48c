#!/usr/bin/env python3
"""Builds the installable Krita plugin zip (Tools > Scripts > Import Python Plugin from File).

The zip holds easel_krita.desktop and the easel_krita/ package, with a copy of
adapters/python/easel_client inside the package (Krita's Python has no pip: the plugin brings
its client). Output: target/krita/easel_krita-VERSION.zip unless --out says otherwise; the
path is printed. ``--install DIR`` also unpacks it into DIR (a pykrita folder), as Krita's
importer would.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PACKAGE = os.path.join(HERE, "easel_krita")
CLIENT = os.path.join(REPO, "adapters", "python", "easel_client")
SKIP_DIRS = {"__pycache__"}


def version() -> str:
    with open(os.path.join(PACKAGE, "__init__.py"), encoding="utf-8") as f:
        m = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M)
    return m.group(1) if m else "0"


def _files(root: str, arc_root: str):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        rel = os.path.relpath(dirpath, root)
        arc_dir = arc_root if rel == "." else f"{arc_root}/{rel.replace(os.sep, '/')}"
        yield arc_dir + "/", None
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            yield f"{arc_dir}/{name}", os.path.join(dirpath, name)


def build(out: str) -> str:
    if os.path.isdir(os.path.join(PACKAGE, "easel_client")):
        sys.exit(f"{PACKAGE}/easel_client exists in the source tree; remove it (the client is "
                 f"copied from {CLIENT} at build time)")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(os.path.join(HERE, "easel_krita.desktop"), "easel_krita.desktop")
        # Krita's importer puts NAME.action into the resource folder's actions/ (shortcuts).
        z.write(os.path.join(HERE, "easel_krita.action"), "easel_krita.action")
        # Directory entries matter: Krita's importer finds the package by its "easel_krita/" entry.
        for arc, path in _files(PACKAGE, "easel_krita"):
            if path is None:
                z.writestr(zipfile.ZipInfo(arc), b"")
            else:
                z.write(path, arc)
        for arc, path in _files(CLIENT, "easel_krita/easel_client"):
            if path is None:
                z.writestr(zipfile.ZipInfo(arc), b"")
            else:
                z.write(path, arc)
    os.replace(tmp, out)
    return out


def install(zip_path: str, pykrita: str) -> None:
    """Unpacks the zip into a pykrita folder, replacing an older copy."""
    import shutil
    os.makedirs(pykrita, exist_ok=True)
    shutil.rmtree(os.path.join(pykrita, "easel_krita"), ignore_errors=True)
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(pykrita)
    actions = os.path.join(os.path.dirname(os.path.abspath(pykrita)), "actions")
    os.makedirs(actions, exist_ok=True)
    shutil.copy(os.path.join(pykrita, "easel_krita.action"), actions)
    os.remove(os.path.join(pykrita, "easel_krita.action"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(REPO, "target", "krita",
                                                  f"easel_krita-{version()}.zip"))
    ap.add_argument("--install", metavar="PYKRITA_DIR")
    a = ap.parse_args()
    path = build(a.out)
    if a.install:
        install(path, a.install)
    print(path)


if __name__ == "__main__":
    main()
