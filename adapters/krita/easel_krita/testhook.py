"""GUI test hook, armed only when EASEL_KRITA_TEST (results file) and EASEL_KRITA_TEST_DRIVER
(a Python file with ``run(results_path)``) are set: once Krita's main window exists, it runs the
driver inside Krita, makes sure a results file exists, and ends Krita with ``os._exit``
(Krita 5.1 can crash while quitting; the results file is what counts).

``run`` may be a generator: it is then stepped from Krita's own event loop by a timer, so that
Krita does between steps what it only does there (updating the layer docker's model, making a
new layer active). It yields a number (seconds to wait) or an object with ``cond``,
``timeout`` and ``on_tick`` (resumed once ``cond()`` holds or the time is up, with the
outcome sent back).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import sys
import time
import traceback

from krita import Krita
from .qt import QTimer

_armed = False
_stepper = None
_POLL_MS = 20


def arm() -> None:
    global _armed
    if _armed:
        return
    _armed = True
    Krita.instance().notifier().windowCreated.connect(_on_window)


def _on_window() -> None:
    # Let the window finish building its dockers before driving them.
    QTimer.singleShot(int(os.environ.get("EASEL_KRITA_TEST_DELAY_MS", "1500")), _run)
    # A scenario that hangs still ends with a verdict, before any outer timeout kills Krita.
    limit = float(os.environ.get("EASEL_KRITA_TEST_TIMEOUT", "300"))
    QTimer.singleShot(int(limit * 1000), lambda: _exit_with(
        f"the scenario did not finish within {limit:g} s (EASEL_KRITA_TEST_TIMEOUT)"))


def _results_path() -> str:
    return os.environ["EASEL_KRITA_TEST"]


def _run() -> None:
    try:
        spec = importlib.util.spec_from_file_location("easel_krita_test_driver",
                                                      os.environ["EASEL_KRITA_TEST_DRIVER"])
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        ret = mod.run(_results_path())
    except BaseException:  # noqa: BLE001 - whatever happens, leave a verdict behind
        _exit_with(traceback.format_exc())
        return
    if inspect.isgenerator(ret):
        global _stepper
        _stepper = _Stepper(ret)  # held here: a collected stepper would close the generator
        _stepper.step(None)
    else:
        _exit_with(None)


class _Stepper:
    def __init__(self, gen):
        self.gen = gen
        self.timer = QTimer()
        self.timer.setInterval(_POLL_MS)
        self.timer.timeout.connect(self._poll)
        self.wait = None
        self.deadline = 0.0

    def step(self, value) -> None:
        try:
            req = self.gen.send(value)
        except StopIteration:
            self.timer.stop()
            _exit_with(None)
            return
        except BaseException:  # noqa: BLE001
            self.timer.stop()
            _exit_with(traceback.format_exc())
            return
        if isinstance(req, (int, float)):
            self.wait = None
            self.deadline = time.monotonic() + float(req)
        else:
            self.wait = req
            self.deadline = time.monotonic() + float(getattr(req, "timeout", 30))
        self.timer.start()

    def _poll(self) -> None:
        w = self.wait
        try:
            if w is not None:
                if getattr(w, "on_tick", None) is not None:
                    w.on_tick()
                if w.cond():
                    self.timer.stop()
                    self.step(True)
                    return
            if time.monotonic() >= self.deadline:
                self.timer.stop()
                self.step(bool(w.cond()) if w is not None else None)
        except BaseException:  # noqa: BLE001
            self.timer.stop()
            _exit_with(traceback.format_exc())


def _exit_with(error: str | None) -> None:
    results = _results_path()
    code = 0
    if error is not None:
        code = 3
        sys.stderr.write(error)
        try:
            with open(results) as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = {"checks": []}
        data.setdefault("checks", []).append({"name": "driver finished", "ok": False,
                                              "detail": error[-4000:]})
        with open(results, "w") as f:
            json.dump(data, f, indent=1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
