"""Finding the daemon's socket, and starting the daemon when nothing listens there."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

from .errors import DaemonUnavailable

__all__ = ["default_socket_path", "find_daemon", "start_daemon", "connect_socket"]


def default_socket_path() -> str:
    """EASEL_SOCKET, else $XDG_RUNTIME_DIR/easel/easeld.sock, else /tmp/easel-$UID/easeld.sock."""
    env = os.environ.get("EASEL_SOCKET")
    if env:
        return env
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "easel", "easeld.sock")
    return f"/tmp/easel-{os.getuid()}/easeld.sock"


def connect_socket(path: str, timeout: float | None) -> socket.socket:
    """Connects to ``path``; raises OSError (FileNotFoundError, ConnectionRefusedError...)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


def find_daemon(daemon_path: str | None = None) -> tuple[str | None, list[str]]:
    """The easeld executable to start, and what was looked at (for error messages)."""
    tried: list[str] = []
    candidates: list[tuple[str, str]] = []
    if daemon_path:
        candidates.append(("daemon_path", daemon_path))
    else:
        if os.environ.get("EASELD"):
            candidates.append(("$EASELD", os.environ["EASELD"]))
        on_path = shutil.which("easeld")
        tried.append("easeld on PATH" + ("" if on_path else " (not found)"))
        if on_path:
            candidates.append(("PATH", on_path))
        cli = shutil.which("easel")
        tried.append("next to the easel command" + ("" if cli else " (no easel on PATH)"))
        if cli:
            candidates.append(("next to easel", os.path.join(os.path.dirname(os.path.realpath(cli)), "easeld")))
    for how, path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path, tried
        tried.append(f"{path} ({how}: not an executable file)")
    return None, tried


def start_daemon(socket_path: str, daemon_path: str | None = None, timeout: float = 20.0,
                 args=()) -> socket.socket:
    """Starts easeld detached on ``socket_path`` and returns a connected socket once it answers.

    A lock file next to the socket makes concurrent clients start one daemon, not several.
    """
    folder = os.path.dirname(os.path.abspath(socket_path))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    log_path = os.path.join(folder, "easeld.log")
    import fcntl  # Unix only, like the rest of the client

    lock_fd = os.open(socket_path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + timeout
        _lock(fcntl, lock_fd, deadline, socket_path)
        # Another client may have started it while we waited for the lock.
        try:
            return connect_socket(socket_path, timeout)
        except OSError:
            pass
        exe, tried = find_daemon(daemon_path)
        if exe is None:
            raise DaemonUnavailable(
                f"nothing listens on {socket_path} and no easeld to start was found; tried: "
                f"{'; '.join(tried)}. Set EASELD or pass daemon_path.")
        # A daemon started on demand exits once nobody has used it for 15 minutes.
        idle = [] if "--exit-when-idle" in args else ["--exit-when-idle", "900"]
        cmd = [exe, "--socket", socket_path, *idle, *args]
        with open(log_path, "ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} started by easel_client: "
                      f"{' '.join(cmd)}\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(cmd, start_new_session=True, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=log, close_fds=True)
            except OSError as e:
                raise DaemonUnavailable(f"could not start {exe}: {e}") from e
        _started.append(proc)
        last_err: OSError | None = None
        while True:
            try:
                return connect_socket(socket_path, timeout)
            except OSError as e:
                last_err = e
            code = proc.poll()
            if code is not None:
                raise DaemonUnavailable(
                    f"started {' '.join(cmd)} but it exited with status {code} before listening; "
                    f"its log is {log_path}:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise DaemonUnavailable(
                    f"started {' '.join(cmd)} (pid {proc.pid}) but {socket_path} did not answer "
                    f"within {timeout:g} s ({last_err}); its log is {log_path}")
            time.sleep(0.05)
    finally:
        os.close(lock_fd)  # releases the flock


# Popen objects of daemons we started: kept so that Python reaps them if they exit while we live.
_started: list[subprocess.Popen] = []


def _lock(fcntl, fd: int, deadline: float, socket_path: str) -> None:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise DaemonUnavailable(f"another client holds {socket_path}.lock and the daemon "
                                        f"did not come up") from None
            time.sleep(0.05)


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"(cannot read it: {e})"
    return "\n".join(text.splitlines()[-lines:])
