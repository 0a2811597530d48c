"""The GIMP plug-in's help domain inside GIMP 3 batch mode (run as exec(open(PATH).read())), after
GIMP queried the plug-in again: GIMP recorded the help domain the plug-in registered, pointing at
the installed plug-in's help/ folder (pluginrc), and every Easel procedure's help id resolves
in that domain ("org.easel.gimp?ID", as GIMP writes it) and through that folder's
en/gimp-help.xml to a page (and anchor) that exists. With a help domain,
GIMP's Help button goes to the plug-in's page instead of the "manual not installed" prompt.
Results to $EASEL_GIMP_RESULTS.
"""

import json
import os
import re
import xml.etree.ElementTree as ET
from urllib.parse import unquote, urlparse

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp  # noqa: E402

RESULTS = os.environ["EASEL_GIMP_RESULTS"]
PLUGIN_DIR = os.environ["EASEL_GIMP_PLUGIN_DIR"]
DOMAIN = "org.easel.gimp"
checks = []


def check(name, ok, detail=""):
    checks.append({"name": name, "ok": bool(ok), "detail": str(detail)[:2000]})


try:
    with open(os.path.join(Gimp.directory(), "pluginrc"), "rb") as f:  # holds icon bytes too
        rc = f.read().decode("utf-8", "replace")
except OSError as e:
    rc = ""
    check("GIMP wrote its pluginrc", False, e)
m = re.search(r'\(help-def\s+"' + re.escape(DOMAIN) + r'"\s+"([^"]+)"\)', rc)
check("GIMP recorded the plug-in's help domain", m is not None,
      re.findall(r"\(help-def[^)]*\)", rc))
help_dir = os.path.join(PLUGIN_DIR, "help")
uri = m.group(1) if m else ""
path = unquote(urlparse(uri).path) if uri.startswith("file:") else uri
check("...pointing at the installed plug-in's help folder",
      m is not None and os.path.realpath(path) == os.path.realpath(help_dir), (uri, help_dir))

mapping = {}
try:
    for item in ET.parse(os.path.join(help_dir, "en", "gimp-help.xml")).getroot().iter("help-item"):
        mapping[item.get("id")] = item.get("ref")
except (OSError, ET.ParseError) as e:
    check("the help folder's en/gimp-help.xml reads", False, e)

pdb = Gimp.get_pdb()
names = json.load(open(os.path.join(Gimp.directory(), "easel", "registered.json")))["procedures"]
names = sorted(set(names + ["plug-in-easel-batch-folder"]))
unresolved = []
for name in names:
    proc = pdb.lookup_procedure(name)
    # GIMP gives a procedure of a plug-in with a help domain the help id "DOMAIN?ID".
    hid = proc.get_help_id() if proc is not None else None
    domain, _q, local_id = (hid or "").rpartition("?")
    ref = mapping.get(local_id) if domain == DOMAIN else None
    page, _, anchor = (ref or "").partition("#")
    page_path = os.path.join(help_dir, "en", page)
    ok = ref is not None and os.path.isfile(page_path) and (
        not anchor or f'id="{anchor}"' in open(page_path, encoding="utf-8").read())
    if not ok:
        unresolved.append((name, hid, ref))
check(f"every Easel procedure's help id resolves to a bundled page ({len(names)} procedures)",
      len(names) > 5 and not unresolved, unresolved)
with open(RESULTS, "w") as f:
    json.dump({"checks": checks, "info": {"done": True}}, f, indent=1)
