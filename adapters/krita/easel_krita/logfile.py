"""The plug-in's log file, for bug reports: ~/.local/share/easel/easel-krita.log (XDG_DATA_HOME),
rotated at 1 MB (two old copies kept). The docker's Daemon section shows its path."""

from __future__ import annotations

import logging
import logging.handlers
import os

__all__ = ["log", "log_path"]


def log_path() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return os.path.join(base, "easel", "easel-krita.log")


def _logger() -> logging.Logger:
    lg = logging.getLogger("easel_krita")
    if not lg.handlers:
        lg.setLevel(logging.INFO)
        lg.propagate = False
        try:
            os.makedirs(os.path.dirname(log_path()), exist_ok=True)
            h = logging.handlers.RotatingFileHandler(log_path(), maxBytes=1 << 20, backupCount=2,
                                                     encoding="utf-8")
            h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            lg.addHandler(h)
        except OSError:
            lg.addHandler(logging.NullHandler())
    return lg


log = _logger()
