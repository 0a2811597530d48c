"""Raw access to a test daemon for the robustness scripts (stdlib only): start `easeld` on a
private socket with a temporary configuration, speak frames byte by byte (descriptors included),
and measure the daemon's and its workers' descriptors and memory."""
import json, os, shutil, signal, socket, struct, subprocess, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def target_dir():
    d = os.environ.get("EASEL_TARGET_DIR") or os.path.join(ROOT, "target", os.environ.get("EASEL_PROFILE", "debug"))
    if not os.path.exists(os.path.join(d, "easeld")):
        raise SystemExit(f"{d}/easeld is missing: run `cargo build --workspace` first")
    return d


class Daemon:
    """A real easeld on a temporary socket; `stop()` kills it."""

    def __init__(self, limits="", extra="", plugins=("easel_testing_misbehave",), keep_dir=None):
        self.dir = keep_dir or tempfile.mkdtemp(prefix="easel-robust-")
        os.chmod(self.dir, 0o700)
        self.socket = os.path.join(self.dir, "easeld.sock")
        plugin_dir = os.path.join(self.dir, "plugins")
        os.makedirs(plugin_dir, exist_ok=True)
        for name in plugins:
            lib = os.path.join(target_dir(), f"lib{name}.so")
            link = os.path.join(plugin_dir, os.path.basename(lib))
            if not os.path.exists(link):
                os.symlink(lib, link)
        models = os.path.join(ROOT, "..", "shared", "models")
        self.config = os.path.join(self.dir, "easel.toml")
        with open(self.config, "w") as f:
            f.write(f"socket = {json.dumps(self.socket)}\nplugin_dirs = [{json.dumps(plugin_dir)}]\n"
                    f"model_dirs = [{json.dumps(models)}]\nthreads = 2\n{extra}\n[limits]\n{limits}\n")
        self.proc = None
        self.start()

    def start(self, wait=True):
        log = open(os.path.join(self.dir, "easeld.log"), "a")
        self.proc = subprocess.Popen([os.path.join(target_dir(), "easeld"), "--config", self.config],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        if wait:
            deadline = time.time() + 60
            while True:
                try:
                    c = Conn(self.socket)
                    c.close()
                    return
                except OSError:
                    if self.proc.poll() is not None or time.time() > deadline:
                        raise SystemExit("easeld did not start:\n" + self.log())
                    time.sleep(0.05)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        try:
            return open(os.path.join(self.dir, "easeld.log")).read()
        except OSError:
            return ""

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)

    def stop(self, remove=True):
        self.kill()
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)

    def workers(self):
        """Pids of this daemon's worker processes."""
        out = []
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    with open(f"/proc/{p}/stat") as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == self.pid:
                            out.append(int(p))
                except (OSError, IndexError, ValueError):
                    pass
        return out


def fds_of(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


class Closed(Exception):
    pass


class Conn:
    """One client connection speaking raw frames."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        # The events recv_msg stepped over (the last 256), for a caller that waits for one
        # which may have come before the reply it asked for.
        self.events = []

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send_raw(self, data, fds=()):
        if fds:
            socket.send_fds(self.sock, [data[:12]], list(fds))
            if len(data) > 12:
                self.sock.sendall(data[12:])
        else:
            self.sock.sendall(data)

    def send(self, msg, payload=b"", fds=()):
        j = msg if isinstance(msg, (bytes, bytearray)) else json.dumps(msg).encode()
        self.send_raw(struct.pack("<IQ", len(j), len(payload)) + j + payload, fds)

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise Closed()
            buf += chunk
        return buf

    def recv(self):
        """The next message (dict), its payload and its descriptors (the caller closes them)."""
        data, fds, _, _ = socket.recv_fds(self.sock, 12, 16)
        if not data:
            raise Closed()
        if len(data) < 12:
            data += self._exact(12 - len(data))
        jl, pl = struct.unpack("<IQ", data)
        msg = json.loads(self._exact(jl))
        payload = self._exact(pl) if pl else b""
        return msg, payload, fds

    def recv_msg(self, keep_fds=False):
        """The next message that is not an event, closing any descriptors."""
        while True:
            msg, payload, fds = self.recv()
            if keep_fds:
                return msg, payload, fds
            for fd in fds:
                os.close(fd)
            if msg.get("type") not in ("progress", "job_finished"):
                return msg
            self.events = self.events[-255:] + [msg]

    def hello(self, features=("fd", "inline")):
        self.send({"type": "hello", "protocol": 1, "client": "robustness/1", "features": list(features)})
        m = self.recv_msg()
        if m.get("type") != "hello":
            raise RuntimeError(f"hello refused: {m}")
        return m

    def request(self, msg, payload=b"", fds=()):
        self.send(msg, payload, fds)
        return self.recv_msg()

    def is_closed(self, wait=2.0):
        """True when the daemon closed this connection (reads until EOF or `wait`)."""
        self.sock.settimeout(wait)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except socket.timeout:
            return False
        except OSError:
            return True


def memfd(data, size=None):
    fd = os.memfd_create("robust", os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, len(data) if size is None else size)
    if data:
        os.pwrite(fd, data, 0)
    return fd


def image_ref(w, h, fmt="rgba8", fd=0, offset=0, **extra):
    r = {"width": w, "height": h, "format": fmt, "data": {"fd": fd, "offset": offset}}
    r.update(extra)
    return r


def rgba(w, h, seed=0):
    """Deterministic RGBA8 bytes."""
    return bytes(((x * 7 + y * 13 + seed * 31 + c * 50) & 0xFF) if c < 3 else 255
                 for y in range(h) for x in range(w) for c in range(4))


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]
