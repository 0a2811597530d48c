//! Transport: one 4096×4096 RGBA8 frame (64 MiB, tiled from a real photo) moved between two ends
//! of a Unix socket pair — as a shared-memory descriptor, as an inline payload — against plain
//! memory copies of the same bytes.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use easel_benches::{load_photo, tiled_rgba8};
use easel_ipc::{map_input, read_frame, send as send_json, FrameLimits, SharedMem};
use serde_json::json;
use std::hint::black_box;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::Duration;

const SIDE: u32 = 4096;
const LIMITS: FrameLimits = FrameLimits {
    max_json: 1 << 20,
    max_payload: 1 << 30,
};

fn header() -> serde_json::Value {
    json!({"type": "echo", "image": {"width": SIDE, "height": SIDE, "format": "rgba8",
        "row_stride": SIDE * 4, "pixel_stride": 4, "fd": 0, "offset": 0}})
}

fn transport(c: &mut Criterion) {
    let photo = match load_photo("car-1.jpg") {
        Ok(p) => p,
        Err(e) => panic!("bench fixture: {e}"),
    };
    let frame = tiled_rgba8(&photo, SIDE, SIDE).data;
    let len = frame.len();
    let msg = header();

    let mut g = c.benchmark_group("transport");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(len as u64));

    let (a, b) = UnixStream::pair().expect("socket pair");

    // The pixels already sit in shared memory: what crosses the socket is a small frame and a
    // descriptor; the receiver maps it. No pixel is touched.
    let mut shm = SharedMem::create(len).expect("memfd");
    shm.as_mut_slice().copy_from_slice(&frame);
    g.bench_function(BenchmarkId::new("fd", "send+map"), |bch| {
        bch.iter(|| {
            send_json(&a, &msg, &[], &[shm.fd()]).expect("send");
            let f = read_frame(&b, LIMITS).expect("read");
            let bytes = map_input(&f.fds[0], 0, len).expect("map");
            black_box(bytes.len())
        })
    });

    // The same, and the receiver reads every pixel once (copied out of the mapping into a
    // buffer it holds): the mapping's page faults are paid here.
    let mut sink = vec![0u8; len];
    g.bench_function(BenchmarkId::new("fd", "send+map+read"), |bch| {
        bch.iter(|| {
            send_json(&a, &msg, &[], &[shm.fd()]).expect("send");
            let f = read_frame(&b, LIMITS).expect("read");
            let bytes = map_input(&f.fds[0], 0, len).expect("map");
            sink.copy_from_slice(&bytes);
            black_box(sink[len / 2])
        })
    });

    // What `map_input` would cost mapping with MAP_POPULATE: the memfd's pages are mapped in
    // one call instead of faulted in one by one as the reader goes.
    g.bench_function(BenchmarkId::new("fd", "send+map(populate)+read"), |bch| {
        bch.iter(|| {
            send_json(&a, &msg, &[], &[shm.fd()]).expect("send");
            let f = read_frame(&b, LIMITS).expect("read");
            let file = std::fs::File::from(f.fds[0].try_clone().expect("dup"));
            // SAFETY: our own memfd, sealed against shrinking by `SharedMem::create`.
            let map =
                unsafe { memmap2::MmapOptions::new().len(len).populate().map(&file) }.expect("map");
            sink.copy_from_slice(&map);
            black_box(sink[len / 2])
        })
    });

    // A caller that holds its pixels in its own memory: copy them into a staging memfd (kept
    // between frames, as the clients do), send, map and read on the other side.
    g.bench_function(BenchmarkId::new("fd", "write+send+map+read"), |bch| {
        bch.iter(|| {
            shm.as_mut_slice().copy_from_slice(&frame);
            send_json(&a, &msg, &[], &[shm.fd()]).expect("send");
            let f = read_frame(&b, LIMITS).expect("read");
            let bytes = map_input(&f.fds[0], 0, len).expect("map");
            sink.copy_from_slice(&bytes);
            black_box(sink[len / 2])
        })
    });

    // Inline: 64 MiB through the socket. The socket buffer is far smaller than the frame, so a
    // peer thread sends while this one reads.
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let peer_frame = frame.clone();
    let peer_msg = msg.clone();
    let peer = std::thread::spawn(move || {
        while go_rx.recv().is_ok() {
            if send_json(&a, &peer_msg, &peer_frame, &[]).is_err() {
                break;
            }
        }
    });
    g.bench_function(BenchmarkId::new("inline", "send+read"), |bch| {
        bch.iter(|| {
            go_tx.send(()).expect("peer alive");
            let f = read_frame(&b, LIMITS).expect("read");
            black_box(f.payload[len / 2])
        })
    });
    drop(go_tx);
    let _ = peer.join();

    // References: one copy of the same bytes into a buffer already allocated, and into a
    // freshly allocated one (what receiving into new memory costs at the least).
    g.bench_function(BenchmarkId::new("memcpy", "preallocated"), |bch| {
        bch.iter(|| {
            sink.copy_from_slice(&frame);
            black_box(sink[len / 2])
        })
    });
    g.bench_function(BenchmarkId::new("memcpy", "fresh Vec"), |bch| {
        bch.iter(|| {
            let v = frame.to_vec();
            black_box(v[len / 2])
        })
    });
    g.finish();
}

criterion_group!(benches, transport);
criterion_main!(benches);
