"""Words the hosts show for an operation's schema, the same in every adapter (Krita, GIMP).

The daemon's schema is the source: a choice parameter may carry ``option_titles`` (parallel to
``options``) and a parameter ``applies_when`` ({other parameter: [values]}). A daemon that does
not send them yet gets the titles and conditions below, which describe the operations Easel
ships; anything else falls back to a readable form of the id. Strings are in US spelling
("Color"), as GIMP and Krita write them.
"""

from __future__ import annotations

import re

__all__ = ["option_titles", "option_title", "applies", "applies_when", "sentence", "spelling",
           "title"]

# Titles of the choice values of the operations Easel ships, used when the daemon's schema has
# no ``option_titles``.
KNOWN_OPTION_TITLES = {
    "isnet-general-small": "IS-Net (best quality)",
    "u2netp": "U\u00b2-Net small (quick)",
    "mediapipe-meet": "MediaPipe (people, real time)",
    "cutout": "Cutout",
    "mask": "Mask",
    "patchmatch": "PatchMatch (classic)",
    "model": "MI-GAN (learned)",
    "lab": "CIELAB",
    "oklab": "Oklab",
    "swin2sr-x2": "Swin2SR \u00d72",
    "realesr-general-x4v3": "Real-ESRGAN general (fast)",
    "realesrgan-x4plus": "Real-ESRGAN \u00d74 plus",
    "llie-semantic-guided": "Semantic-guided",
    "tbefn": "TBEFN",
    "uretinex": "URetinex-Net",
}

# (operation, parameter) -> {parameter: [values]}: where a parameter does something, used when
# the daemon's schema has no ``applies_when``.
KNOWN_APPLIES_WHEN = {
    ("fix-low-light", "exposure"): {"model": ["uretinex"]},
}


def spelling(text: str) -> str:
    """US spelling of the words the schemas use ("colour" -> "color")."""
    def fix(m):
        w = m.group(0)
        out = w.replace("olour", "olor").replace("OLOUR", "OLOR")
        return out
    return re.sub(r"[Cc]olour\w*|COLOUR\w*", fix, str(text))


def sentence(text: str) -> str:
    """A description as a sentence: capitalised, ending with a full stop."""
    s = spelling(str(text or "").strip())
    if not s:
        return ""
    s = s[0].upper() + s[1:]
    if s[-1] not in ".!?\u2026":
        s += "."
    return s


def title(text: str) -> str:
    return spelling(str(text or "").strip())


def _readable(value) -> str:
    s = str(value).replace("_", " ").replace("-", " ").strip()
    return (s[0].upper() + s[1:]) if s else str(value)


def option_titles(param: dict) -> list[str]:
    """Titles parallel to ``param["options"]``."""
    options = [str(o) for o in param.get("options") or []]
    given = param.get("option_titles")
    if isinstance(given, list) and len(given) == len(options) and all(
            isinstance(t, str) and t.strip() for t in given):
        return [title(t) for t in given]
    return [KNOWN_OPTION_TITLES.get(o) or _readable(o) for o in options]


def option_title(param: dict, value) -> str:
    options = [str(o) for o in param.get("options") or []]
    titles = option_titles(param)
    return titles[options.index(str(value))] if str(value) in options else _readable(value)


def applies_when(op: dict, param: dict) -> dict:
    """{other parameter name: [values]} under which ``param`` does something ({} = always)."""
    given = param.get("applies_when")
    if isinstance(given, dict):
        return {str(k): [str(v) for v in (vs if isinstance(vs, list) else [vs])]
                for k, vs in given.items()}
    return dict(KNOWN_APPLIES_WHEN.get((op.get("id"), param.get("name")), {}))


def applies(op: dict, param: dict, values: dict) -> bool:
    """Whether ``param`` does something given the other parameters' ``values``."""
    for other, allowed in applies_when(op, param).items():
        if other in values and str(values[other]) not in allowed:
            return False
    return True
