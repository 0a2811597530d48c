"""easel_client against the real easeld: handshake, operations, transfers, jobs, errors, streams,
autostart.

Run from the repository root: `.venv/bin/python -m unittest discover -s adapters/python/tests -v`
(any Python 3.11+ works; with Pillow the JPEG photo is used, without it a PNG one). The daemon is
$EASELD or <repo>/target/debug/easeld, started on a temporary socket with a temporary config that
adds the testing plugins (target/debug/libeasel_testing_*.so) and the models in ../shared/models.
"""

from __future__ import annotations

import array
import os
import random
import struct
import tempfile
import time
import unittest

import helpers
from helpers import Daemon, raw_connect, raw_hello, raw_recv, raw_send

from easel_client import (FORMATS, Client, DaemonUnavailable, EaselError, FrameDropped,
                          FrameError, Image, SharedBuffer, StreamFrame)

DAEMON: Daemon | None = None


def setUpModule():
    global DAEMON
    DAEMON = Daemon()


def tearDownModule():
    if DAEMON is not None:
        DAEMON.stop()


def needs_testing_plugin(test):
    def wrapper(self, *a, **kw):
        if not DAEMON.testing:
            self.skipTest(f"{helpers.MISBEHAVE} is not built (cargo build -p easel-testing-misbehave)")
        return test(self, *a, **kw)
    wrapper.__name__ = test.__name__
    wrapper.__doc__ = test.__doc__
    return wrapper


def random_image(width, height, fmt, row_pad=0, offset=0, seed=1) -> Image:
    """Random pixels in a buffer with ``row_pad`` bytes after each row and ``offset`` before."""
    rng = random.Random(seed)
    bpp = FORMATS[fmt]
    rs = width * bpp + row_pad
    data = rng.randbytes(offset + rs * height)
    if fmt.endswith("32f"):
        # Random bytes make NaNs; keep floats ordinary so no conversion could canonicalise them.
        vals = array.array("f", (rng.random() for _ in range(len(data) // 4)))
        data = vals.tobytes() + data[len(vals) * 4:]
    return Image(width, height, fmt, data, row_stride=rs, offset=offset)


class Base(unittest.TestCase):
    def setUp(self):
        self.c = DAEMON.client()
        self.addCleanup(self.c.close)

    def assertStillServes(self, c=None):
        st = (c or self.c).status()
        self.assertIn("queued", st)

    def assertEaselError(self, code, fn, *a, **kw) -> EaselError:
        with self.assertRaises(EaselError) as cm:
            fn(*a, **kw)
        self.assertEqual(cm.exception.code, code, f"{cm.exception} (reply {cm.exception.reply})")
        return cm.exception


class HandshakeTests(Base):
    def test_hello_reports_features_and_limits(self):
        for f in ("fd", "inline", "progress", "cancel", "stream", "echo"):
            self.assertIn(f, self.c.server_features)
        for k in ("max_pixels", "max_message_bytes", "max_inline_bytes"):
            self.assertIsInstance(self.c.limits.get(k), int, k)
        self.assertTrue(self.c.fd_transfer)
        self.assertEqual(self.c.features, ["fd", "inline"])

    def test_inline_only_client(self):
        with DAEMON.client(use_fd=False) as c:
            self.assertEqual(c.features, ["inline"])
            self.assertFalse(c.fd_transfer)
            self.assertStillServes(c)

    def test_other_protocol_version_is_refused_and_closed(self):
        s = raw_connect(DAEMON.socket)
        self.addCleanup(s.close)
        raw_send(s, {"type": "hello", "protocol": 2, "client": "future", "features": []})
        reply, _ = raw_recv(s)
        self.assertEqual(reply["type"], "error")
        self.assertEqual(reply["code"], "unsupported_protocol")
        self.assertIsNone(raw_recv(s), "the connection should be closed after unsupported_protocol")
        self.assertStillServes()


class OperationTests(Base):
    def test_operations_describe_remove_background(self):
        ops = {o["id"]: o for o in self.c.operations()}
        self.assertIn("remove-background", ops, sorted(ops))
        rb = ops["remove-background"]
        for key in ("title", "category", "description", "plugin", "mask", "flags", "params",
                    "models", "min_references", "max_references", "working_format", "output_scale"):
            self.assertIn(key, rb)
        self.assertIn(rb["mask"], ("ignored", "optional", "required"))
        params = {p["name"]: p for p in rb["params"]}
        model = params["model"]
        self.assertEqual(model["kind"], "choice")
        self.assertIn("u2netp", model["options"])
        self.assertIn(model["default"], model["options"])
        for p in rb["params"]:
            self.assertIn(p["kind"], ("float", "int", "bool", "choice", "seed", "string", "color"), p)
            self.assertIn("default", p)
        names = {p.get("name") for p in self.c.plugins}
        self.assertIn("remove-background", names)

    def test_refused_plugin_is_listed_with_a_reason(self):
        if not DAEMON.wrong_abi:
            self.skipTest(f"{helpers.WRONG_ABI} is not built")
        self.c.operations()
        refused = [p for p in self.c.plugins if p.get("status") == "refused"]
        self.assertTrue(any("wrong_abi" in p.get("path", "") for p in refused), self.c.plugins)
        self.assertTrue(all(p.get("reason") for p in refused), refused)


class EchoTests(Base):
    """Pixels go to the daemon and come back byte for byte, by descriptor and inline."""

    def roundtrip(self, c, img, transfer):
        with c.echo(img, transfer=transfer) as r:
            self.assertEqual((r.width, r.height, r.format), (img.width, img.height, img.format))
            self.assertEqual(r.tobytes(), img.tobytes(), f"{img} via {transfer}")
            return r.shared_buffer() is not None

    def test_all_formats_padded_strides_fd_and_inline(self):
        with DAEMON.client(use_fd=False) as inline_client:
            for fmt in FORMATS:
                for pad, off in ((0, 0), (12, 0), (FORMATS[fmt] * 3 + 4, 7)):
                    img = random_image(67, 45, fmt, row_pad=pad, offset=off, seed=len(fmt) + pad)
                    with self.subTest(fmt=fmt, pad=pad, offset=off):
                        self.assertTrue(self.roundtrip(self.c, img, "fd"),
                                        "an fd client should get the result as a descriptor")
                        self.assertTrue(self.roundtrip(self.c, img, "inline"))
                        self.assertFalse(self.roundtrip(inline_client, img, None),
                                         "an inline-only client got a descriptor")

    def test_region_of_a_larger_buffer_with_pixel_stride(self):
        # Every other pixel of a 40-pixel-wide rgba8 row: pixel_stride 8, no copy needed.
        src = random_image(40, 30, "rgba8", seed=3)
        img = Image(20, 30, "rgba8", src.data, row_stride=160, pixel_stride=8)
        for transfer in ("fd", "inline"):
            with self.subTest(transfer=transfer):
                self.roundtrip(self.c, img, transfer)

    def test_shared_buffer_and_result_resent_without_copy(self):
        img = random_image(300, 200, "rgba16", seed=4)
        sb = SharedBuffer.from_bytes(img.data)
        self.addCleanup(sb.close)
        self.assertTrue(sb.shared)
        r1 = self.c.echo(Image(300, 200, "rgba16", sb))
        self.addCleanup(r1.close)
        self.assertIsNotNone(r1.shared_buffer())
        with self.c.echo(r1) as r2:  # the result's own descriptor goes back
            self.assertEqual(r2.tobytes(), img.tobytes())

    def test_large_image_both_ways(self):
        img = random_image(1024, 768, "rgba8", row_pad=64, seed=5)
        self.roundtrip(self.c, img, "fd")
        self.roundtrip(self.c, img, "inline")


class RemoveBackgroundTests(Base):
    def test_remove_background_on_a_real_photo(self):
        if helpers.HAVE_PIL:
            name, fg, bg = "car-1.jpg", (120, 190, 330, 260), (120, 55, 300, 120)
        else:  # the stdlib PNG reader: the cat, background at the right edge
            name, fg, bg = "chelsea.png", (150, 100, 300, 250), (415, 60, 450, 180)
        w, h, rgba = helpers.load_photo(name)
        seen = []
        r = self.c.run("remove-background", Image(w, h, "rgba8", rgba), params={"model": "u2netp"},
                       on_progress=lambda f, m: seen.append(f), timeout=120)
        self.addCleanup(r.close)
        self.assertEqual((r.width, r.height, r.format, r.x, r.y), (w, h, "rgba8", 0, 0))
        self.assertEqual(r.operation, "remove-background")
        self.assertIsInstance(r.name, str)
        self.assertIsInstance(r.elapsed_ms, int)
        # Where the time went: one u2netp run at its input size, inside the plugin's run.
        runs = r.timings["inference"]
        self.assertEqual([(x["model"], x["runs"], x["inputs"][0]["shape"]) for x in runs],
                         [("u2netp", 1, [1, 3, 320, 320])])
        self.assertLessEqual(runs[0]["total_ms"], r.timings["plugin_ms"])
        self.assertTrue(all(0.0 <= f <= 1.0 for f in seen), seen)
        out = r.tobytes()
        # tobytes reads through the descriptor; the same bytes as through the mapping.
        self.assertIsNotNone(r.shared_buffer())
        self.assertEqual(out, bytes(r.view()))
        with self.assertRaises(ValueError):
            r.shared_buffer().read(r.shared_buffer().size - 1, 2)
        fg_a, bg_a = helpers.mean_alpha(out, w, fg), helpers.mean_alpha(out, w, bg)
        self.assertGreater(fg_a, 180, f"{name}: the subject should stay opaque (mean alpha {fg_a:.0f})")
        self.assertLess(bg_a, 75, f"{name}: the background should go (mean alpha {bg_a:.0f})")
        self.assertStillServes()

    def test_result_format_is_honoured(self):
        w, h = 96, 64
        img = random_image(w, h, "rgba8", seed=6)
        with self.c.run("remove-background", img, params={"model": "u2netp"},
                        result_format="rgba32f", timeout=120) as r:
            self.assertEqual((r.width, r.height, r.format), (w, h, "rgba32f"))
            alpha = array.array("f", r.tobytes())[3::4]
            self.assertTrue(all(0.0 <= a <= 1.0 for a in alpha))


class ErrorTests(Base):
    """Refusals carry the stable code, and the connection keeps working after each."""

    def small(self, fmt="rgba8", w=32, h=24):
        return random_image(w, h, fmt, seed=7)

    def test_unknown_operation(self):
        e = self.assertEaselError("unknown_operation", self.c.submit, "no-such-op", self.small())
        self.assertEqual(e.fault, "caller")
        self.assertStillServes()

    def test_bad_param_values(self):
        for params, named in (({"model": "no-such-model"}, "model"), ({"model": 5}, "model"),
                              ({"bogus": 1}, "bogus")):
            with self.subTest(params=params):
                e = self.assertEaselError("invalid_params", self.c.submit, "remove-background",
                                          self.small(), params=params)
                self.assertIn(named, e.message)
                self.assertEqual(e.fault, "caller")
                self.assertStillServes()

    @needs_testing_plugin
    def test_param_types_and_ranges(self):
        for params, named in (({"sleep_ms": 60_001}, "sleep_ms"), ({"sleep_ms": -1}, "sleep_ms"),
                              ({"sleep_ms": 1.5}, "sleep_ms"), ({"sleep_ms": "x"}, "sleep_ms"),
                              ({"fail": 1}, "fail"), ({"bogus": 1}, "bogus")):
            with self.subTest(params=params):
                e = self.assertEaselError("invalid_params", self.c.submit, "test-echo",
                                          self.small(), params=params)
                self.assertIn(named, e.message)
        self.assertStillServes()

    def test_mask_of_the_wrong_size(self):
        mask = Image(10, 10, "gray8", bytes([255]) * 100)
        self.assertEaselError("invalid_image", self.c.submit, "remove-background", self.small(),
                              mask=mask, params={"model": "u2netp"})
        self.assertStillServes()

    def test_empty_mask(self):
        op = next((o["id"] for o in self.c.operations() if o.get("mask") in ("optional", "required")),
                  None)
        if op is None:
            self.skipTest("no loaded operation takes a mask")
        mask = Image(32, 24, "gray8", bytes(32 * 24))
        self.assertEaselError("invalid_input", self.c.submit, op, self.small(), mask=mask)
        self.assertStillServes()

    def test_descriptor_too_small_for_the_image(self):
        with SharedBuffer(100) as sb:
            ref = {"width": 64, "height": 64, "format": "rgba8", "data": {"fd": 0, "offset": 0}}
            self.assertEaselError("invalid_image", self.c._request,
                                  {"type": "echo", "image": ref}, fds=[sb.fd])
        self.assertStillServes()

    def test_inline_payload_too_small_for_the_image(self):
        ref = {"width": 64, "height": 64, "format": "rgba8", "data": {"inline": 0}}
        self.assertEaselError("invalid_image", self.c._request, {"type": "echo", "image": ref},
                              payload=[b"\0" * 100])
        self.assertStillServes()

    def test_overlapping_strides(self):
        ref = {"width": 8, "height": 8, "format": "rgba8", "row_stride": 8, "data": {"inline": 0}}
        self.assertEaselError("invalid_image", self.c._request, {"type": "echo", "image": ref},
                              payload=[b"\0" * 4096])
        self.assertStillServes()

    def test_over_max_pixels(self):
        side = int(self.c.limits["max_pixels"] ** 0.5) + 1
        with SharedBuffer(4096) as sb:  # never read: the limit is checked first
            ref = {"width": side, "height": side, "format": "gray8", "data": {"fd": 0, "offset": 0}}
            self.assertEaselError("too_large", self.c._request, {"type": "echo", "image": ref},
                                  fds=[sb.fd])
        self.assertStillServes()

    def test_malformed_requests(self):
        self.assertEaselError("bad_request", self.c._request, {"type": "submit"})
        self.assertEaselError("bad_request", self.c._request,
                              {"type": "submit", "operation": "remove-background", "image": 5})
        self.assertEaselError("bad_request", self.c._request, {"type": "fetch", "job": "seventeen"})
        self.assertStillServes()

    def test_unknown_job(self):
        self.assertEaselError("unknown_job", self.c.wait, 987654321, timeout=10)
        self.assertEaselError("unknown_job", self.c.cancel, 987654321)
        self.assertStillServes()

    def test_oversized_json_closes_only_that_connection(self):
        s = raw_connect(DAEMON.socket)
        self.addCleanup(s.close)
        self.assertEqual(raw_hello(s)["type"], "hello")
        limit = self.c.limits["max_message_bytes"]
        s.sendall(struct.pack("<IQ", limit + 1, 0))  # the header alone must be refused
        reply = raw_recv(s)
        self.assertIsNotNone(reply, "expected a too_large error before the connection closed")
        self.assertEqual((reply[0]["type"], reply[0]["code"]), ("error", "too_large"))
        self.assertIsNone(raw_recv(s), "the connection should be closed after too_large")
        self.assertStillServes()

    def test_oversized_payload_closes_only_that_connection(self):
        s = raw_connect(DAEMON.socket)
        self.addCleanup(s.close)
        self.assertEqual(raw_hello(s)["type"], "hello")
        body = b'{"type":"status","id":1}'
        s.sendall(struct.pack("<IQ", len(body), self.c.limits["max_inline_bytes"] + 1) + body)
        reply = raw_recv(s)
        self.assertIsNotNone(reply, "expected a too_large error before the connection closed")
        self.assertEqual((reply[0]["type"], reply[0]["code"]), ("error", "too_large"))
        self.assertIsNone(raw_recv(s))
        self.assertStillServes()

    def test_client_refuses_inline_over_the_limit_before_sending(self):
        self.c.limits["max_inline_bytes"] = 1000  # this client's view only
        self.assertEaselError("too_large", self.c.echo, self.small(), transfer="inline")
        self.assertStillServes()


class JobTests(Base):
    @needs_testing_plugin
    def test_progress_events_reach_the_callback(self):
        img = random_image(40, 30, "rgba8", seed=8)
        seen = []
        with self.c.run("test-echo", img, params={"sleep_ms": 400},
                        on_progress=lambda f, m: seen.append((f, m)), timeout=20) as r:
            self.assertEqual(r.tobytes(), img.tobytes())
        self.assertGreater(len(seen), 1, seen)
        self.assertTrue(all(0.0 <= f <= 1.0 for f, _ in seen), seen)
        self.assertEqual([f for f, _ in seen], sorted(f for f, _ in seen))

    @needs_testing_plugin
    def test_cancel_a_long_job(self):
        job = self.c.submit("test-echo", random_image(64, 64, "rgba8"), params={"sleep_ms": 10000})
        time.sleep(0.3)
        t0 = time.monotonic()
        self.c.cancel(job)
        e = self.assertEaselError("cancelled", self.c.wait, job, timeout=8)
        self.assertEqual(e.fault, "user")
        self.assertLess(time.monotonic() - t0, 3.0, "cancel took too long")
        self.assertStillServes()

    @needs_testing_plugin
    def test_plugin_error_is_typed(self):
        job = self.c.submit("test-echo", random_image(16, 16, "rgba8"), params={"fail": True})
        e = self.assertEaselError("invalid_input", self.c.wait, job, timeout=20)
        self.assertEqual(e.fault, "caller")
        self.assertStillServes()

    @needs_testing_plugin
    def test_wait_timeout_then_resume(self):
        img = random_image(50, 40, "rgba8", seed=9)
        job = self.c.submit("test-echo", img, params={"sleep_ms": 1500})
        with self.assertRaises(TimeoutError):
            self.c.wait(job, timeout=0.2)
        with self.c.wait(job, timeout=20) as r:
            self.assertEqual(r.tobytes(), img.tobytes())

    @needs_testing_plugin
    def test_several_jobs_fetched_in_any_order(self):
        imgs = [random_image(30 + i, 20 + i, "rgba8", seed=10 + i) for i in range(3)]
        jobs = [self.c.submit("test-echo", im, params={"sleep_ms": 100 * i}) for i, im in enumerate(imgs)]
        self.assertEqual(len(set(jobs)), 3)
        for job, im in reversed(list(zip(jobs, imgs))):
            with self.c.wait(job, timeout=20) as r:
                self.assertEqual(r.tobytes(), im.tobytes())
        self.assertEaselError("unknown_job", self.c.wait, jobs[0], timeout=10)  # already fetched

    @needs_testing_plugin
    def test_poll_without_blocking_then_fetch_an_ended_job(self):
        """What a Qt timer in an adapter does: pump, read progress, fetch once it has ended."""
        img = random_image(20, 10, "rgba8", seed=12)
        job = self.c.submit("test-echo", img, params={"sleep_ms": 300})
        deadline = time.monotonic() + 20
        seen_progress = False
        while not self.c.finished(job) and time.monotonic() < deadline:
            self.c.pump(0.05)
            seen_progress |= self.c.progress(job) is not None
        self.assertTrue(self.c.finished(job), "no job_finished event")
        self.assertTrue(seen_progress)
        with self.c.wait(job, timeout=10) as r:  # the job has ended: fetch answers at once
            self.assertEqual(r.tobytes(), img.tobytes())

    @needs_testing_plugin
    def test_closing_a_connection_cancels_its_jobs(self):
        other = DAEMON.client()
        other.submit("test-echo", random_image(16, 16, "rgba8"), params={"sleep_ms": 20000})
        time.sleep(0.3)
        self.assertGreaterEqual(self.c.status()["running"], 1)
        other.close()
        deadline = time.monotonic() + 5
        while self.c.status()["running"] and time.monotonic() < deadline:
            time.sleep(0.1)
        st = self.c.status()
        self.assertEqual((st["running"], st["queued"]), (0, 0), st)


class StreamTests(Base):
    @needs_testing_plugin
    def test_frames_faster_than_processing_are_dropped_latest_wins(self):
        n = 8
        frames = {seq: random_image(48, 32, "rgba8", seed=100 + seq) for seq in range(1, n + 1)}
        with self.c.open_stream("test-echo", params={"sleep_ms": 200}) as s:
            for seq, img in frames.items():
                s.send(img, seq)
            outcomes = {}
            deadline = time.monotonic() + 30
            while n not in outcomes and time.monotonic() < deadline:
                for ev in s.poll(timeout=1.0):
                    self.assertNotIn(ev.seq, outcomes, f"two outcomes for frame {ev.seq}")
                    outcomes[ev.seq] = ev
            self.assertIn(n, outcomes, "the last frame never came back")
        self.assertIsInstance(outcomes[n], StreamFrame, outcomes[n])
        dropped = [e for e in outcomes.values() if isinstance(e, FrameDropped)]
        self.assertTrue(dropped, f"no frame_dropped: {outcomes}")
        self.assertTrue(all(e.reason == "superseded" for e in dropped), dropped)
        errors = [e for e in outcomes.values() if isinstance(e, FrameError)]
        self.assertFalse(errors, errors)
        done = sorted(seq for seq, e in outcomes.items() if isinstance(e, StreamFrame))
        for seq in done:
            self.assertEqual(outcomes[seq].tobytes(), frames[seq].tobytes(), f"frame {seq}")
            outcomes[seq].close()
        self.assertEqual(len(outcomes), n, f"every frame should have one outcome: {sorted(outcomes)}")
        self.assertStillServes()

    @needs_testing_plugin
    def test_frame_errors_are_reported_per_frame(self):
        with self.c.open_stream("test-echo", params={"fail": True}) as s:
            s.send(random_image(16, 16, "rgba8"))
            events = s.poll(timeout=30)
        self.assertEqual(len(events), 1, events)
        self.assertIsInstance(events[0], FrameError)
        self.assertEqual(events[0].code, "invalid_input")

    def test_stream_of_unknown_operation(self):
        self.assertEaselError("unknown_operation", self.c.open_stream, "no-such-op")
        self.assertStillServes()


class AutostartTests(unittest.TestCase):
    def test_autostart_on_a_fresh_socket(self):
        d = tempfile.mkdtemp(prefix="easel-autostart-")
        path = os.path.join(d, "run", "easeld.sock")  # the folder does not exist yet
        c = Client.connect(path, autostart=True, daemon_path=str(helpers.EASELD), timeout=20)
        try:
            self.assertIn("fd", c.server_features)
            self.assertEqual(os.stat(os.path.dirname(path)).st_mode & 0o777, 0o700)
            self.assertTrue(os.path.isfile(os.path.join(d, "run", "easeld.log")))
            # A second client finds the running daemon instead of starting another.
            with Client.connect(path, autostart=True, daemon_path="/nonexistent", timeout=10) as c2:
                self.assertIn("queued", c2.status())
        finally:
            c.shutdown(timeout=20)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                Client.connect(path, autostart=False, timeout=2).close()
            except DaemonUnavailable:
                break
            time.sleep(0.1)
        else:
            self.fail("the daemon still answers after shutdown")

    def test_no_autostart_says_where_it_looked(self):
        path = os.path.join(tempfile.mkdtemp(), "easeld.sock")
        with self.assertRaises(DaemonUnavailable) as cm:
            Client.connect(path, autostart=False)
        self.assertIn(path, str(cm.exception))

    def test_missing_daemon_binary(self):
        path = os.path.join(tempfile.mkdtemp(), "easeld.sock")
        with self.assertRaises(DaemonUnavailable) as cm:
            Client.connect(path, daemon_path="/nonexistent/easeld", timeout=5)
        self.assertIn("/nonexistent/easeld", str(cm.exception))

    def test_daemon_that_exits_at_once(self):
        d = tempfile.mkdtemp()
        with self.assertRaises(DaemonUnavailable) as cm:
            Client.connect(os.path.join(d, "easeld.sock"), daemon_path="/bin/false", timeout=10)
        msg = str(cm.exception)
        self.assertIn("exited with status 1", msg)
        self.assertIn(os.path.join(d, "easeld.log"), msg)


class SocketPathTests(unittest.TestCase):
    def test_default_socket_path(self):
        from easel_client import default_socket_path
        saved = {k: os.environ.pop(k, None) for k in ("EASEL_SOCKET", "XDG_RUNTIME_DIR")}
        try:
            self.assertEqual(default_socket_path(), f"/tmp/easel-{os.getuid()}/easeld.sock")
            os.environ["XDG_RUNTIME_DIR"] = "/run/user/1234"
            self.assertEqual(default_socket_path(), "/run/user/1234/easel/easeld.sock")
            os.environ["EASEL_SOCKET"] = "/x/y.sock"
            self.assertEqual(default_socket_path(), "/x/y.sock")
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None)
                if v is not None:
                    os.environ[k] = v


if __name__ == "__main__":
    unittest.main()
