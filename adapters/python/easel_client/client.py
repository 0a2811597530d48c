"""The connection to easeld: requests, jobs, progress, results and video streams.

One `Client` is one connection. It has no background thread: every call reads frames until its
own answer arrives and files whatever else came (progress, job ends, stream frames, answers to
other requests) for later. A lock serialises calls, so a client may be shared between threads,
one call at a time.
"""

from __future__ import annotations

import collections
import os
import select
import socket
import threading
import time
from typing import Callable, Iterable

from . import daemon as _daemon
from .errors import DaemonUnavailable, EaselError, ProtocolError
from .framing import MAX_FDS, ConnectionClosed, encode_json, recv_frame, send_frame
from .images import FORMATS, OPTIONAL_FORMATS, Image, SharedBuffer, bytes_per_pixel

__all__ = ["Client", "Result", "Stream", "StreamFrame", "FrameDropped", "FrameError",
           "PROTOCOL_VERSION", "CLIENT_NAME"]

PROTOCOL_VERSION = 1
CLIENT_NAME = "easel_client/0.1.0"
# Images smaller than this go inline even when descriptors are available: a memfd costs a few
# system calls, a small inline copy costs less.
FD_THRESHOLD = 64 * 1024
# The largest staging buffer kept between requests (bigger ones are freed after each request).
_STAGING_KEEP_MAX = 1 << 30
# Progress events kept per job that nobody is waiting on.
_PROGRESS_KEEP = 256


class Result(Image):
    """Pixels that came from the daemon, plus what the daemon said about them.

    ``data`` is a read-only memoryview over the mapped descriptor (or over the frame's payload
    when the pixels came inline), starting at the first pixel; ``row_stride`` says how rows are
    laid out. ``tobytes()`` copies the pixels out tightly packed. Call ``close()`` (or use
    ``with``) to unmap them promptly. A Result can be sent back to the daemon as an image: when
    it came as a descriptor, that descriptor is sent again, with no copy.
    """

    job: int | None = None
    operation: str | None = None
    name: str | None = None
    x: int = 0
    y: int = 0
    seed: int | None = None
    elapsed_ms: int | None = None
    #: Where the job's time went in its worker: ``{"plugin_ms": float, "inference": [{"model",
    #: "inputs": [{"name", "shape"}], "outputs", "runs", "total_ms"}]}``; None from older daemons.
    timings: dict | None = None

    def __init__(self, width, height, format, data, row_stride=None, pixel_stride=None,
                 shared: SharedBuffer | None = None, shared_offset: int = 0, info: dict | None = None):
        super().__init__(width, height, format, data, row_stride, pixel_stride)
        self._shared = shared
        self._shared_offset = shared_offset
        self.info = info or {}
        for key in ("job", "operation", "name", "x", "y", "seed", "elapsed_ms", "timings"):
            if key in self.info:
                setattr(self, key, self.info[key])

    def close(self) -> None:
        data, self.data = self.data, b""
        if isinstance(data, memoryview):
            data.release()
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        extra = f", op={self.operation!r}, at=({self.x},{self.y})" if self.operation else ""
        return (f"Result({self.width}x{self.height} {self.format}, row_stride={self.row_stride}"
                f"{extra})")


class StreamFrame(Result):
    """A processed stream frame (``kind == "frame"``): a `Result` with its ``seq``."""

    kind = "frame"
    stream: int = 0
    seq: int = 0


class FrameDropped:
    """A frame that was replaced by a newer one before it ran (``kind == "dropped"``)."""

    kind = "dropped"

    def __init__(self, stream: int, seq: int, reason: str):
        self.stream, self.seq, self.reason = stream, seq, reason

    def __repr__(self):
        return f"FrameDropped(seq={self.seq}, reason={self.reason!r})"


class FrameError:
    """A frame that failed (``kind == "error"``); ``error`` is the matching `EaselError`."""

    kind = "error"

    def __init__(self, stream: int, seq: int | None, msg: dict):
        self.stream, self.seq = stream, seq
        self.code = str(msg.get("code", "internal"))
        self.message = str(msg.get("message", ""))
        self.fault = msg.get("fault")
        self.error = EaselError.from_reply(msg)

    def __repr__(self):
        return f"FrameError(seq={self.seq}, code={self.code!r}, message={self.message!r})"


class _Msg:
    __slots__ = ("msg", "fds", "payload")

    def __init__(self, msg, fds, payload):
        self.msg, self.fds, self.payload = msg, fds, payload

    def close(self):
        while self.fds:
            try:
                os.close(self.fds.pop())
            except OSError:
                pass


class Client:
    """A connection to easeld. Use `Client.connect()`."""

    def __init__(self, sock: socket.socket, socket_path: str, *, use_fd: bool | None = None,
                 timeout: float = 30.0, client_name: str = CLIENT_NAME):
        self._sock = sock
        self.socket_path = socket_path
        self.timeout = timeout
        self._lock = threading.RLock()
        self._next_id = 1
        self._pending: set[int] = set()
        self._replies: dict[int, _Msg] = {}
        self._progress: dict[int, collections.deque] = {}
        self._finished: dict[int, dict] = {}
        self._job_errors: dict[int, dict] = {}
        self._fetch_ids: dict[int, int] = {}
        self._streams: dict[int, collections.deque] = {}
        self._unsolicited: list[dict] = []
        self._closed = False
        self._staging: SharedBuffer | None = None
        self.plugins: list[dict] = []
        # Descriptor passing needs SCM_RIGHTS; send_fds/recv_fds (3.9+) mark a Python that has it.
        can_fd = hasattr(socket, "send_fds") and hasattr(socket, "recv_fds")
        self._client_fd = can_fd if use_fd is None else (bool(use_fd) and can_fd)
        sock.settimeout(timeout)
        self._hello(client_name)

    # ----------------------------------------------------------------------------- connecting
    @classmethod
    def connect(cls, socket_path: str | None = None, autostart: bool = True,
                daemon_path: str | None = None, timeout: float = 30.0, *,
                use_fd: bool | None = None, daemon_args: Iterable[str] = (),
                client_name: str = CLIENT_NAME) -> "Client":
        """Connects to the daemon, starting it if nothing listens and ``autostart`` is true.

        ``socket_path`` defaults to `default_socket_path()`. The daemon started is
        ``daemon_path``, else $EASELD, else ``easeld`` on PATH, else the one next to the
        ``easel`` command; it runs detached and logs to ``easeld.log`` in the socket's folder;
        ``daemon_args`` are added to its command line. ``use_fd=False`` makes every transfer
        inline (descriptors are used when both sides can by default). ``timeout`` bounds
        connecting, starting the daemon and each request's answer (not `wait`).
        """
        path = socket_path or _daemon.default_socket_path()
        try:
            sock = _daemon.connect_socket(path, timeout)
        except (FileNotFoundError, ConnectionRefusedError) as e:
            if not autostart:
                raise DaemonUnavailable(f"nothing listens on {path} ({e.strerror}) and autostart "
                                        f"is off; start easeld or pass autostart=True") from None
            sock = _daemon.start_daemon(path, daemon_path, timeout, tuple(daemon_args))
        except OSError as e:
            raise DaemonUnavailable(f"cannot connect to {path}: {e}") from e
        try:
            return cls(sock, path, use_fd=use_fd, timeout=timeout, client_name=client_name)
        except BaseException:
            sock.close()
            raise

    def _hello(self, client_name: str) -> None:
        features = ["fd", "inline"] if self._client_fd else ["inline"]
        rid = self._new_id()
        self._send({"type": "hello", "id": rid, "protocol": PROTOCOL_VERSION,
                    "client": client_name, "features": features})
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                m = self._read_raw(deadline)
            except TimeoutError:
                self._broken()
                raise DaemonUnavailable(f"{self.socket_path} accepted the connection but did not "
                                        f"answer hello within {self.timeout:g} s") from None
            if m.msg["type"] in ("hello", "error"):
                break
            m.close()  # nothing else is expected before the hello answer
        m.close()
        if m.msg["type"] == "error":
            raise EaselError.from_reply(m.msg)
        if m.msg.get("protocol") != PROTOCOL_VERSION:
            raise ProtocolError(f"the daemon speaks protocol {m.msg.get('protocol')!r}, "
                                f"this client {PROTOCOL_VERSION}")
        self.server = m.msg.get("server")
        self.server_features = list(m.msg.get("features") or [])
        self.limits = dict(m.msg.get("limits") or {})
        self.features = features
        self.fd_transfer = self._client_fd and "fd" in self.server_features

    # ----------------------------------------------------------------------------- plumbing
    def _new_id(self) -> int:
        rid = self._next_id
        self._next_id += 1
        return rid

    def _check_open(self):
        if self._closed:
            raise DaemonUnavailable("this client is closed")

    def _send(self, msg: dict, payload=(), fds=()) -> None:
        body = encode_json(msg)
        limit = getattr(self, "limits", {}).get("max_message_bytes")
        if limit is not None and len(body) > limit:
            raise EaselError("too_large", f"the request is {len(body)} bytes of JSON, over the "
                             f"daemon's max_message_bytes ({limit})", "limits")
        try:
            send_frame(self._sock, body, payload, fds)
        except DaemonUnavailable:
            self._broken()
            raise

    def _broken(self) -> None:
        self._closed = True
        try:
            self._sock.close()
        except OSError:
            pass

    def _read_raw(self, deadline: float | None) -> _Msg:
        """Reads one frame, waiting at most until ``deadline`` for it to start."""
        self._check_open()
        # Wait for a frame to start here, not in recv: the socket's own timeout only guards
        # against a daemon that stops in the middle of a frame. poll, not select: an
        # application like Krita may hold more than 1024 descriptors.
        p = select.poll()
        p.register(self._sock, select.POLLIN)
        if deadline is None:
            p.poll()
        else:
            remaining = deadline - time.monotonic()
            if not p.poll(max(0, int(remaining * 1000 + 0.999))):
                raise TimeoutError("no answer from the daemon in time")
        try:
            msg, fds, payload = recv_frame(self._sock)
        except ConnectionClosed as e:
            self._broken()
            if self._unsolicited:
                raise EaselError.from_reply(self._unsolicited[-1]) from e
            raise
        except ProtocolError:
            self._broken()
            raise
        return _Msg(msg, fds, payload)

    def _read_one(self, deadline: float | None) -> None:
        """Reads one frame and files it where the call that wants it will look."""
        m = self._read_raw(deadline)
        msg = m.msg
        kind = msg["type"]
        rid = msg.get("reply_to")
        if rid is not None:
            if rid in self._pending:
                self._pending.discard(rid)
                self._replies[rid] = m
            else:
                m.close()  # the answer to a request someone stopped waiting for
            return
        if kind == "progress":
            q = self._progress.setdefault(msg.get("job"), collections.deque(maxlen=_PROGRESS_KEEP))
            q.append(msg)
        elif kind == "job_finished":
            self._finished[msg.get("job")] = msg
        elif kind in ("frame", "frame_dropped", "frame_error") or (kind == "error" and "stream" in msg):
            self._file_stream_event(m)
            return
        elif kind == "error":
            if msg.get("job") is not None:
                self._job_errors[msg["job"]] = msg
            else:
                self._unsolicited.append(msg)
        m.close()

    def _file_stream_event(self, m: _Msg) -> None:
        msg = m.msg
        sid = msg.get("stream")
        q = self._streams.get(sid)
        if q is None:
            m.close()
            return
        kind = msg["type"]
        if kind == "frame":
            try:
                ev = self._result_from(m, cls=StreamFrame)
            except EaselError as e:
                ev = FrameError(sid, msg.get("seq"), {"code": e.code, "message": e.message,
                                                      "fault": e.fault})
            ev.stream, ev.seq = sid, msg.get("seq")
        elif kind == "frame_dropped":
            ev = FrameDropped(sid, msg.get("seq"), str(msg.get("reason", "")))
            m.close()
        else:
            ev = FrameError(sid, msg.get("seq"), msg)
            m.close()
        q.append(ev)

    def _read_until(self, done: Callable[[], bool], deadline: float | None) -> None:
        while not done():
            self._read_one(deadline)

    def _request(self, msg: dict, payload=(), fds=(), timeout: float | None = -1,
                 expect: str | None = None) -> _Msg:
        """Sends a request and returns its answer; an `error` answer is raised as EaselError."""
        with self._lock:
            self._check_open()
            rid = self._new_id()
            msg = dict(msg, id=rid)
            self._pending.add(rid)
            try:
                self._send(msg, payload, fds)
            except BaseException:
                self._pending.discard(rid)
                raise
            t = self.timeout if timeout == -1 else timeout
            deadline = None if t is None else time.monotonic() + t
            try:
                self._read_until(lambda: rid in self._replies, deadline)
            except TimeoutError:
                raise TimeoutError(f"no answer to {msg['type']} within {t:g} s") from None
            m = self._replies.pop(rid)
            if m.msg["type"] == "error":
                m.close()
                raise EaselError.from_reply(m.msg)
            if expect is not None and m.msg["type"] != expect:
                m.close()
                raise ProtocolError(f"expected {expect!r} in answer to {msg['type']!r}, "
                                    f"got {m.msg['type']!r}")
            return m

    # ----------------------------------------------------------------------------- images
    def _encode_images(self, images: list[tuple[str, Image]], transfer: str | None,
                       reuse_staging: bool = True):
        """Image references for ``images``, plus the payload parts, descriptors and the
        temporary buffers to close once the frame is sent.

        Images that are plain bytes but should travel by descriptor are copied into one staging
        memfd, each at its own offset. The staging buffer is kept for the next request when
        ``reuse_staging`` (the daemon has copied what it needs by the time it answers; refilling
        pages that already exist costs a memcpy, a fresh memfd costs a page allocation per 4 KiB
        on top). Stream frames get no answer, so they never reuse it.
        """
        transfer = transfer or "auto"
        if transfer not in ("auto", "fd", "inline"):
            raise ValueError(f"transfer must be 'auto', 'fd' or 'inline', not {transfer!r}")
        if transfer == "fd" and not self.fd_transfer:
            raise EaselError("bad_request", "descriptor transfer is not available on this "
                             "connection (client or daemon lacks the 'fd' feature)", "caller")
        for _key, img in images:
            if not isinstance(img, Image):
                raise TypeError(f"expected an easel_client.Image, got {type(img).__name__}")
        # Where each image goes: its own shared buffer, the staging buffer, or inline.
        plan, stage_len = [], 0
        own_fds = {sb.fd for _, im in images if (sb := im.shared_buffer()) is not None}
        for _key, img in images:
            sb = img.shared_buffer()
            use_fd = self.fd_transfer and transfer != "inline" and (
                transfer == "fd" or sb is not None or img.span >= FD_THRESHOLD)
            if use_fd and sb is not None:
                plan.append(("own", sb, img._base_offset()))
            elif use_fd and len(own_fds) < MAX_FDS:
                plan.append(("stage", None, stage_len))
                stage_len += (img.span + 63) & ~63
            else:
                plan.append(("inline", None, 0))
        temps: list[SharedBuffer] = []
        staging = None
        if stage_len:
            staging = self._staging
            if not reuse_staging or stage_len > _STAGING_KEEP_MAX:
                staging = SharedBuffer(stage_len)
                temps.append(staging)
            elif staging is None or staging.size < stage_len or staging.fd is None:
                if staging is not None:
                    staging.close()
                staging = self._staging = SharedBuffer(stage_len)
        refs, payload, fds = [], [], []
        fd_index: dict[int, int] = {}
        payload_len = 0
        for (_key, img), (how, sb, offset) in zip(images, plan):
            ref = {"width": img.width, "height": img.height, "format": img.format,
                   "row_stride": img.row_stride, "pixel_stride": img.pixel_stride}
            if how == "stage":
                staging.write(offset, img.view())
                sb = staging
            if sb is not None and sb.fd is not None:
                if sb.fd not in fd_index:
                    fd_index[sb.fd] = len(fds)
                    fds.append(sb.fd)
                ref["data"] = {"fd": fd_index[sb.fd], "offset": offset}
            else:
                view = img.view()
                ref["data"] = {"inline": payload_len}
                payload.append(view)
                payload_len += view.nbytes
            refs.append(ref)
        limit = self.limits.get("max_inline_bytes")
        if limit is not None and payload_len > limit:
            for t in temps:
                t.close()
            raise EaselError("too_large", f"{payload_len} bytes of inline pixels is over the "
                             f"daemon's max_inline_bytes ({limit}); use descriptors", "limits")
        return refs, payload, fds, temps

    def _send_with_images(self, msg: dict, images: list[tuple[str, Image]], transfer,
                          expect: str | None, timeout=-1, no_answer: bool = False) -> _Msg | None:
        with self._lock:
            self._check_open()
            refs, payload, fds, temps = self._encode_images(images, transfer,
                                                            reuse_staging=not no_answer)
            try:
                msg = dict(msg)
                for (key, _), ref in zip(images, refs):
                    if key == "references":
                        msg.setdefault("references", []).append(ref)
                    else:
                        msg[key] = ref
                if no_answer:
                    self._send(msg, payload, fds)
                    return None
                return self._request(msg, payload, fds, timeout=timeout, expect=expect)
            finally:
                for t in temps:
                    t.close()  # the daemon holds its own reference to the memfd by now

    def release_staging(self) -> None:
        """Frees the staging memory kept for copying plain-bytes images (see `submit`)."""
        with self._lock:
            if self._staging is not None:
                self._staging.close()
                self._staging = None

    def _result_from(self, m: _Msg, cls=None, key: str = "image") -> Result:
        """Builds a Result from a message's image reference; takes ownership of its fds."""
        cls = cls or Result
        msg = m.msg
        ref = msg.get(key)
        try:
            if not isinstance(ref, dict):
                raise ProtocolError(f"{msg['type']!r} without an image reference")
            try:
                w, h, fmt = int(ref["width"]), int(ref["height"]), str(ref["format"])
                bpp = bytes_per_pixel(fmt)
                ps = int(ref.get("pixel_stride") or bpp)
                rs = int(ref.get("row_stride") or w * ps)
                data = ref["data"]
            except (KeyError, TypeError, ValueError) as e:
                raise ProtocolError(f"bad image reference from the daemon ({e}): {ref}") from None
            span = (h - 1) * rs + (w - 1) * ps + bpp
            if "fd" in data:
                idx, off = int(data["fd"]), int(data.get("offset", 0))
                if not 0 <= idx < len(m.fds):
                    raise ProtocolError(f"image in descriptor {idx} but the frame carries "
                                        f"{len(m.fds)}")
                fd = m.fds.pop(idx)
                try:
                    size = os.fstat(fd).st_size
                    if off < 0 or size < off + span:
                        raise ProtocolError(f"the daemon's descriptor holds {size} bytes, the "
                                            f"image needs {off + span} from offset {off}")
                    sb = SharedBuffer._adopt(fd)
                except BaseException:
                    os.close(fd)
                    raise
                view = sb.buf[off: off + span]
                return cls(w, h, fmt, view, rs, ps, shared=sb, shared_offset=off, info=msg)
            if "inline" in data:
                off = int(data["inline"])
                if off < 0 or len(m.payload) < off + span:
                    raise ProtocolError(f"the frame's payload holds {len(m.payload)} bytes, the "
                                        f"image needs {off + span} from offset {off}")
                view = memoryview(m.payload)[off: off + span].toreadonly()
                return cls(w, h, fmt, view, rs, ps, info=msg)
            raise ProtocolError(f"image data is neither fd nor inline: {data}")
        finally:
            m.close()

    # ----------------------------------------------------------------------------- requests
    def operations(self) -> list[dict]:
        """Every operation the daemon offers (dicts as in the protocol). Also sets `plugins`."""
        m = self._request({"type": "list_operations"}, expect="operations")
        m.close()
        self.plugins = list(m.msg.get("plugins") or [])
        return list(m.msg.get("operations") or [])

    def operation(self, op_id: str) -> dict | None:
        """One operation's description, or None."""
        return next((o for o in self.operations() if o.get("id") == op_id), None)

    def status(self) -> dict:
        """Queue and worker status: {"queued": n, "running": n, "workers": [...], ...}."""
        m = self._request({"type": "status"}, expect="status")
        m.close()
        return {k: v for k, v in m.msg.items() if k not in ("type", "reply_to")}

    def echo(self, image: Image, transfer: str | None = None) -> Result:
        """Sends pixels to the daemon and gets its copy back (transport check, benchmarks).

        ``transfer``: "fd", "inline" or "auto" (descriptors for shared buffers and large images).
        """
        m = self._send_with_images({"type": "echo"}, [("image", image)], transfer, expect="echo")
        return self._result_from(m)

    def submit(self, op: str, image: Image, mask: Image | None = None, references=(),
               params: dict | None = None, mask_modifiers: dict | None = None,
               context_margin: int | None = None, priority: str = "interactive",
               result_format: str | None = None, name: str | None = None,
               transfer: str | None = None) -> int:
        """Queues an operation and returns the job id; `wait` gets its result."""
        if result_format is not None and result_format not in FORMATS and not (
                result_format in OPTIONAL_FORMATS and result_format in self.server_features):
            raise ValueError(f"unknown result_format {result_format!r}")
        msg: dict = {"type": "submit", "operation": op, "priority": priority}
        if params is not None:
            msg["params"] = params
        if mask_modifiers is not None:
            msg["mask_modifiers"] = mask_modifiers
        if context_margin is not None:
            msg["context_margin"] = int(context_margin)
        if result_format is not None:
            msg["result_format"] = result_format
        if name is not None:
            msg["name"] = name
        images = [("image", image)]
        if mask is not None:
            images.append(("mask", mask))
        images += [("references", r) for r in references]
        m = self._send_with_images(msg, images, transfer, expect="accepted")
        m.close()
        job = m.msg.get("job")
        if not isinstance(job, int):
            raise ProtocolError(f"'accepted' without a job id: {m.msg}")
        self._progress.setdefault(job, collections.deque(maxlen=_PROGRESS_KEEP))
        return job

    def wait(self, job: int, on_progress: Callable[[float, str], object] | None = None,
             timeout: float | None = None) -> Result:
        """Waits for a job to end and returns its result (or raises its error as EaselError).

        ``on_progress(fraction, message)`` is called for each progress event, from this thread.
        On TimeoutError the job goes on; calling `wait` again resumes waiting.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._check_open()
            rid = self._fetch_ids.get(job)
            if rid is None:
                rid = self._new_id()
                self._pending.add(rid)
                self._fetch_ids[job] = rid
                try:
                    self._send({"type": "fetch", "id": rid, "job": job})
                except BaseException:
                    self._pending.discard(rid)
                    self._fetch_ids.pop(job, None)
                    raise
            while True:
                self._deliver_progress(job, on_progress)
                if rid in self._replies:
                    break
                self._read_one(deadline)
            self._deliver_progress(job, on_progress)
            m = self._replies.pop(rid)
            self._fetch_ids.pop(job, None)
            self._progress.pop(job, None)
            self._finished.pop(job, None)
            self._job_errors.pop(job, None)
            if m.msg["type"] == "error":
                m.close()
                raise EaselError.from_reply(m.msg)
            if m.msg["type"] != "result":
                m.close()
                raise ProtocolError(f"expected 'result' in answer to fetch, got {m.msg['type']!r}")
            return self._result_from(m)

    def _deliver_progress(self, job, on_progress) -> None:
        q = self._progress.get(job)
        while q:
            ev = q.popleft()
            if on_progress is not None:
                on_progress(float(ev.get("fraction", 0.0)), str(ev.get("message", "")))

    def run(self, op: str, image: Image, *, on_progress=None, timeout: float | None = None,
            **submit_args) -> Result:
        """submit + wait."""
        job = self.submit(op, image, **submit_args)
        return self.wait(job, on_progress=on_progress, timeout=timeout)

    def cancel(self, job: int) -> None:
        """Asks the daemon to cancel a job; `wait` on it then raises EaselError 'cancelled'."""
        m = self._request({"type": "cancel", "job": job}, expect="cancelling")
        m.close()

    def pump(self, timeout: float = 0.0) -> None:
        """Reads whatever the daemon has sent, waiting at most ``timeout`` for the first frame.
        For event loops (a Qt timer) that poll `progress` / `finished` instead of blocking."""
        with self._lock:
            deadline = time.monotonic() + timeout
            try:
                while True:
                    self._read_one(deadline)
                    deadline = time.monotonic()  # then only what is already there
            except TimeoutError:
                pass

    def progress(self, job: int) -> tuple[float, str] | None:
        """The latest progress seen for a job (see `pump`), without consuming it for `wait`."""
        q = self._progress.get(job)
        if not q:
            return None
        return float(q[-1].get("fraction", 0.0)), str(q[-1].get("message", ""))

    def finished(self, job: int) -> bool:
        """True once a job_finished event was seen for the job (see `pump`)."""
        return job in self._finished

    def shutdown(self, timeout: float | None = None) -> None:
        """Asks the daemon to exit, and waits (up to ``timeout``) until it closes the connection."""
        m = self._request({"type": "shutdown"}, expect="shutting_down")
        m.close()
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._lock:
            try:
                while not self._closed:
                    self._read_one(deadline)
            except (ConnectionClosed, TimeoutError):
                pass
            except EaselError:
                pass
        self.close()

    # ----------------------------------------------------------------------------- streams
    def open_stream(self, op: str, params: dict | None = None,
                    mask_modifiers: dict | None = None) -> "Stream":
        """Opens a latest-wins video stream through an operation."""
        msg: dict = {"type": "stream_open", "operation": op}
        if params is not None:
            msg["params"] = params
        if mask_modifiers is not None:
            msg["mask_modifiers"] = mask_modifiers
        with self._lock:
            m = self._request(msg, expect="stream_opened")
            m.close()
            sid = m.msg.get("stream")
            if not isinstance(sid, int):
                raise ProtocolError(f"'stream_opened' without a stream id: {m.msg}")
            self._streams[sid] = collections.deque()
            return Stream(self, sid)

    # ----------------------------------------------------------------------------- closing
    def close(self) -> None:
        """Closes the connection (the daemon cancels this connection's unfinished jobs)."""
        with self._lock:
            if not self._closed:
                self._broken()
            self.release_staging()
            for m in self._replies.values():
                m.close()
            self._replies.clear()
            for q in self._streams.values():
                for ev in q:
                    if isinstance(ev, Result):
                        ev.close()
                q.clear()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self):
        return f"Client({self.socket_path!r}, server={getattr(self, 'server', None)!r})"


class Stream:
    """A latest-wins stream of frames through one operation (see `Client.open_stream`)."""

    def __init__(self, client: Client, stream_id: int):
        self.client = client
        self.id = stream_id
        self.next_seq = 1
        self.closed = False

    def send(self, image: Image, seq: int | None = None, mask: Image | None = None,
             transfer: str | None = None) -> int:
        """Queues a frame (no answer: its outcome comes later through `poll`). Returns its seq.

        A frame sent from a `SharedBuffer` must not change until its outcome arrives: use a
        new buffer per frame (plain bytes are copied into a fresh one for you).
        """
        if self.closed:
            raise EaselError("bad_request", "the stream is closed", "caller")
        if seq is None:
            seq = self.next_seq
        self.next_seq = max(self.next_seq, seq + 1)
        images = [("image", image)] + ([("mask", mask)] if mask is not None else [])
        self.client._send_with_images({"type": "stream_frame", "stream": self.id, "seq": seq},
                                      images, transfer, expect=None, no_answer=True)
        return seq

    def poll(self, timeout: float = 0.0) -> list:
        """Events that arrived for this stream: `StreamFrame`, `FrameDropped`, `FrameError`.

        Waits at most ``timeout`` seconds for the first one (None: as long as it takes); returns
        [] if none came.
        """
        c = self.client
        with c._lock:
            q = c._streams.get(self.id)
            if q is None:
                return []
            deadline = None if timeout is None else time.monotonic() + timeout
            if not c._closed:
                try:
                    c._read_until(lambda: bool(q), deadline)
                    c.pump(0.0)  # and whatever else is already there
                except TimeoutError:
                    pass
            out = list(q)
            q.clear()
            return out

    def close(self) -> None:
        """Closes the stream; events already received can still be polled."""
        if self.closed:
            return
        self.closed = True
        m = self.client._request({"type": "stream_close", "stream": self.id},
                                 expect="stream_closed")
        m.close()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc) -> None:
        if not self.client.closed:
            self.close()
