"""The docker's link to easeld: settings, connecting (starting the daemon), and running one job
at a time without blocking Krita's UI (a QTimer polls the connection; no thread).
"""

from __future__ import annotations

import os

from .qt import QObject, QTimer, pyqtSignal

try:  # the bundled copy inside the installed plugin, else the one on sys.path (development)
    from .easel_client import Client, DaemonUnavailable, EaselError
except ImportError:  # pragma: no cover
    from easel_client import Client, DaemonUnavailable, EaselError

__all__ = ["Settings", "connect", "JobRunner", "CLIENT_NAME"]

CLIENT_NAME = "easel-krita/0.1.0"
_GROUP = "easel"
# How often a running job is polled: progress stays smooth and the UI never waits.
POLL_MS = 40


class Settings:
    """Where the daemon is. Empty means the default; the environment overrides Krita's settings
    (EASEL_SOCKET, EASELD, EASEL_CONFIG), so a test or a wrapper script can point the plugin at
    its own daemon."""

    def __init__(self, socket_path: str = "", daemon_path: str = "", daemon_config: str = ""):
        self.socket_path = socket_path
        self.daemon_path = daemon_path
        self.daemon_config = daemon_config

    @classmethod
    def load(cls) -> "Settings":
        s = cls()
        try:
            from krita import Krita
            k = Krita.instance()
            s.socket_path = k.readSetting(_GROUP, "socket", "")
            s.daemon_path = k.readSetting(_GROUP, "daemon", "")
            s.daemon_config = k.readSetting(_GROUP, "config", "")
        except ImportError:
            pass
        s.socket_path = os.environ.get("EASEL_SOCKET") or s.socket_path
        s.daemon_path = os.environ.get("EASELD") or s.daemon_path
        s.daemon_config = os.environ.get("EASEL_CONFIG") or s.daemon_config
        return s

    def save(self) -> None:
        from krita import Krita
        k = Krita.instance()
        k.writeSetting(_GROUP, "socket", self.socket_path)
        k.writeSetting(_GROUP, "daemon", self.daemon_path)
        k.writeSetting(_GROUP, "config", self.daemon_config)


def connect(settings: Settings, timeout: float = 30.0) -> Client:
    """Connects to easeld, starting it when nothing listens (DaemonUnavailable says why not)."""
    args = ["--config", settings.daemon_config] if settings.daemon_config else []
    if settings.daemon_config and not os.path.isfile(settings.daemon_config):
        raise DaemonUnavailable(f"the daemon configuration {settings.daemon_config} does not exist")
    return Client.connect(settings.socket_path or None, autostart=True,
                          daemon_path=settings.daemon_path or None, timeout=timeout,
                          daemon_args=args, client_name=CLIENT_NAME)


class JobRunner(QObject):
    """Runs one submitted job to its end, reporting through signals on the GUI thread.

    ``progressed(fraction, message)``; then exactly one of ``succeeded(result_dict)`` (with the
    pixels copied out: "data", "x", "y", "width", "height", "format", "name", "seed",
    "elapsed_ms"), ``cancelled()`` or ``failed(message, code)``. ``code`` "unavailable" means
    the connection to the daemon is gone.
    """

    progressed = pyqtSignal(float, str)
    succeeded = pyqtSignal(object)
    cancelled = pyqtSignal()
    failed = pyqtSignal(str, str)

    def __init__(self, client: Client, job: int, parent=None):
        super().__init__(parent)
        self.client = client
        self.job = job
        self.cancel_requested = False
        self.done = False
        self._last = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def cancel(self) -> None:
        """Asks the daemon to stop the job; the result, if it comes anyway, is dropped."""
        if self.done or self.cancel_requested:
            return
        self.cancel_requested = True
        try:
            self.client.cancel(self.job)
        except EaselError as e:
            if isinstance(e, DaemonUnavailable):
                self._finish_failed(e)
            # unknown_job: it ended meanwhile; _tick sees the end and drops the result.

    def _tick(self) -> None:
        if self.done:
            return
        try:
            self.client.pump(0.0)
            p = self.client.progress(self.job)
            if p is not None and p != self._last:
                self._last = p
                self.progressed.emit(p[0], p[1])
            if not self.client.finished(self.job):
                return
            res = self.client.wait(self.job, timeout=self.client.timeout)
        except EaselError as e:
            if e.code == "cancelled" or (self.cancel_requested and e.code == "unknown_job"):
                self._finish()
                self.cancelled.emit()
            else:
                self._finish_failed(e)
            return
        except Exception as e:  # noqa: BLE001 - a bug must reach the user, not kill the timer silently
            self._finish_failed(e)
            return
        try:
            if self.cancel_requested:
                self._finish()
                self.cancelled.emit()
                return
            info = {"data": res.tobytes(), "x": int(res.x), "y": int(res.y),
                    "width": res.width, "height": res.height, "format": res.format,
                    "name": res.name or "", "seed": res.seed, "elapsed_ms": res.elapsed_ms,
                    "operation": res.operation}
        finally:
            res.close()
        self._finish()
        self.succeeded.emit(info)

    def _finish(self) -> None:
        self.done = True
        self._timer.stop()

    def _finish_failed(self, e: Exception) -> None:
        self._finish()
        if isinstance(e, DaemonUnavailable) or self.client.closed:
            why = e.message if isinstance(e, EaselError) else str(e)
            self.failed.emit(f"The Easel daemon stopped while working ({why}).", "unavailable")
        elif isinstance(e, EaselError):
            self.failed.emit(e.message, e.code)
        else:
            self.failed.emit(f"{type(e).__name__}: {e}", "internal")
