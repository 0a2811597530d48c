//! Scheduling: interactive jobs before batch jobs, cancellation (queued and running), progress
//! events, and the latest-wins streaming session for video frames.

use easel_client::Client;
use easel_tests::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn frame_ref(fd: usize) -> Value {
    json!({"width": 8, "height": 8, "format": "rgba8", "data": {"fd": fd}})
}

#[test]
fn interactive_jobs_run_before_waiting_batch_jobs() {
    let daemon = Daemon::start(Options::default());
    let mut c = daemon.client();
    let img = shared(&rgba8(8, 8, |_, _| [9, 9, 9, 255]));
    // Occupy the single worker, then queue batch jobs and one interactive job.
    let blocker = c
        .submit(
            "test-echo",
            &img,
            None,
            &[],
            json!({"params": {"sleep_ms": 400}}),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let batch: Vec<u64> = (0..3)
        .map(|_| {
            c.submit(
                "test-echo",
                &img,
                None,
                &[],
                json!({"priority": "batch", "params": {"sleep_ms": 20}}),
            )
            .unwrap()
        })
        .collect();
    let interactive = c
        .submit(
            "test-echo",
            &img,
            None,
            &[],
            json!({"priority": "interactive", "params": {"sleep_ms": 20}}),
        )
        .unwrap();
    // job_finished events arrive in completion order.
    let mut order = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while order.len() < 5 && Instant::now() < deadline {
        if let Some(m) = c.next_event(Some(Duration::from_millis(200))).unwrap() {
            if m.kind() == "job_finished" {
                order.push(m.json()["job"].as_u64().unwrap());
            }
        }
    }
    assert_eq!(
        order,
        vec![blocker, interactive, batch[0], batch[1], batch[2]]
    );
}

#[test]
fn progress_is_reported_and_cancel_stops_running_and_queued_jobs_quickly() {
    let daemon = Daemon::start(Options::default());
    let mut c = daemon.client();
    let img = shared(&rgba8(8, 8, |_, _| [9, 9, 9, 255]));
    let running = c
        .submit(
            "test-echo",
            &img,
            None,
            &[],
            json!({"params": {"sleep_ms": 20000}}),
        )
        .unwrap();
    let queued = c
        .submit(
            "test-echo",
            &img,
            None,
            &[],
            json!({"params": {"sleep_ms": 20000}}),
        )
        .unwrap();
    // Wait for progress from the running job.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut progress = Vec::new();
    while progress.len() < 3 && Instant::now() < deadline {
        if let Some(m) = c.next_event(Some(Duration::from_millis(200))).unwrap() {
            if m.kind() == "progress" && m.json()["job"] == running {
                progress.push(m.json()["fraction"].as_f64().unwrap());
            }
        }
    }
    assert!(
        progress.len() >= 3 && progress.windows(2).all(|w| w[0] <= w[1]),
        "{progress:?}"
    );
    let t = Instant::now();
    c.cancel(queued).unwrap();
    c.cancel(running).unwrap();
    assert_eq!(
        c.wait(running, |_, _| {}).unwrap_err().code(),
        Some(easel_protocol::Code::Cancelled)
    );
    assert_eq!(
        c.wait(queued, |_, _| {}).unwrap_err().code(),
        Some(easel_protocol::Code::Cancelled)
    );
    // The plugin honours cancel between 10 ms steps; well under the kill grace period.
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "{:?}",
        t.elapsed()
    );
    // The worker was not killed: the next job runs on it at once.
    let ok = c.submit("test-echo", &img, None, &[], json!({})).unwrap();
    c.wait(ok, |_, _| {}).unwrap();
    assert!(!daemon.log().contains("killing its worker"));
}

#[test]
fn a_closed_connection_cancels_its_jobs() {
    let daemon = Daemon::start(Options::default());
    {
        let mut c = daemon.client();
        let img = shared(&rgba8(8, 8, |_, _| [9, 9, 9, 255]));
        c.submit(
            "test-echo",
            &img,
            None,
            &[],
            json!({"params": {"sleep_ms": 60000}}),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    // The worker is free again soon after its client left.
    let mut c = daemon.client();
    let img = shared(&rgba8(8, 8, |_, _| [9, 9, 9, 255]));
    let t = Instant::now();
    let job = c.submit("test-echo", &img, None, &[], json!({})).unwrap();
    c.wait(job, |_, _| {}).unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[test]
fn stream_frames_are_latest_wins_and_nothing_piles_up() {
    let daemon = Daemon::start(Options::default());
    let mut c: Client = daemon.client();
    let opened = c
        .request_json(
            json!({"type": "stream_open", "operation": "test-echo", "params": {"sleep_ms": 150}}),
            &[],
            &[],
        )
        .unwrap();
    let stream = opened.json()["stream"].as_u64().unwrap();
    // 10 frames, much faster than the 150 ms each takes.
    let frames: Vec<_> = (0..10u8)
        .map(|i| shared(&rgba8(8, 8, move |_, _| [i, i, i, 255])))
        .collect();
    let mut watcher = daemon.client();
    for (seq, f) in frames.iter().enumerate() {
        c.send(
            &json!({"type": "stream_frame", "stream": stream, "seq": seq, "image": frame_ref(0)}),
            &[],
            &[f.fd()],
        )
        .unwrap();
        if seq == 0 {
            // The first frame is running before the burst: only waiting frames are superseded
            // (on a loaded machine the slot may take longer than 10 ms to start it).
            let started = Instant::now() + Duration::from_secs(10);
            while watcher.status().unwrap().1 == 0 && Instant::now() < started {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (mut done, mut dropped) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(10);
    while done.len() + dropped.len() < 10 && Instant::now() < deadline {
        if let Some(m) = c.next_event(Some(Duration::from_millis(200))).unwrap() {
            match m.kind() {
                "frame" => {
                    let seq = m.json()["seq"].as_u64().unwrap();
                    assert_eq!(
                        m.image().unwrap().data[0] as u64,
                        seq,
                        "frame carries its own pixels"
                    );
                    done.push(seq);
                }
                "frame_dropped" => {
                    assert_eq!(m.json()["reason"], "superseded");
                    dropped.push(m.json()["seq"].as_u64().unwrap());
                }
                other => panic!("unexpected {other}: {}", m.json()),
            }
        }
    }
    assert_eq!(
        done.len() + dropped.len(),
        10,
        "done {done:?} dropped {dropped:?}"
    );
    assert!(
        dropped.len() >= 5,
        "frames should have been superseded: {dropped:?}"
    );
    assert_eq!(done.first(), Some(&0));
    assert_eq!(
        done.last(),
        Some(&9),
        "the newest frame is always delivered"
    );
    assert!(done.windows(2).all(|w| w[0] < w[1]));
    let closed = c
        .request_json(json!({"type": "stream_close", "stream": stream}), &[], &[])
        .unwrap();
    assert_eq!(closed.kind(), "stream_closed");
}
