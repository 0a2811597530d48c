"""Translatable strings: Krita's ``i18n`` (KDE's catalogue, injected into Python's builtins by
Krita) when there is one, else the text itself. Every user-facing string of the plug-in goes
through ``i18n`` so that ``adapters/i18n/extract.py`` finds it for the template catalogue
(OUTDIR/easel_krita.pot; ``--check`` finds text that escaped). Placeholders are ``{1}``,
``{2}``..."""

from __future__ import annotations

import builtins

_krita_i18n = getattr(builtins, "i18n", None)


def i18n(text: str, *args) -> str:
    """``text`` translated; ``{1}``, ``{2}``... are replaced by ``args`` afterwards (Krita's
    ``i18n`` takes no arguments, and KDE's ``%1`` would read as a missing one)."""
    out = text
    if _krita_i18n is not None:
        try:
            out = _krita_i18n(text)
        except Exception:  # noqa: BLE001 - a missing catalogue never breaks the UI
            out = text
    for i, a in enumerate(args, 1):
        out = out.replace(f"{{{i}}}", str(a))
    return out
