//! Clients that stop reading: they stall only themselves. A client that fetches a large inline
//! result and never reads it, and floods the daemon with jobs whose events it never reads, must
//! not hold up a second client's job on the same plugin; and a client whose queue of unread
//! answers overflows is disconnected, its jobs cancelled, while the daemon keeps serving.

use easel_ipc::FrameLimits;
use easel_tests::*;
use serde_json::{json, Value};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

const LIMITS: FrameLimits = FrameLimits {
    max_json: 1 << 24,
    max_payload: 1 << 30,
};

/// A raw client that takes pixels inline only (so results come back in the socket itself).
fn inline_client(daemon: &Daemon) -> UnixStream {
    let s = UnixStream::connect(&daemon.socket).unwrap();
    easel_ipc::send(
        &s,
        &json!({"type": "hello", "protocol": 1, "client": "never-reads", "features": ["inline"]}),
        &[],
        &[],
    )
    .unwrap();
    let hello: Value = easel_ipc::read_frame(&s, LIMITS).unwrap().parse().unwrap();
    assert_eq!(hello["type"], "hello");
    s
}

fn read(s: &UnixStream) -> Value {
    easel_ipc::read_frame(s, LIMITS).unwrap().parse().unwrap()
}

#[test]
fn a_client_that_never_reads_does_not_stall_another_clients_job() {
    let daemon = Daemon::start(Options::default());
    let stalled = inline_client(&daemon);
    // A 2048×2048 rgba8 image inline: its result is 16 MiB that this client will never read.
    let (w, h) = (2048u32, 2048u32);
    let payload = vec![77u8; (w * h * 4) as usize];
    let image = json!({"width": w, "height": h, "format": "rgba8", "data": {"inline": 0}});
    easel_ipc::send(
        &stalled,
        &json!({"type": "submit", "id": 1, "operation": "test-echo", "image": image}),
        &payload,
        &[],
    )
    .unwrap();
    let accepted = read(&stalled);
    assert_eq!(accepted["type"], "accepted", "{accepted}");
    let job = accepted["job"].as_u64().unwrap();
    easel_ipc::send(
        &stalled,
        &json!({"type": "fetch", "id": 2, "job": job}),
        &[],
        &[],
    )
    .unwrap();
    // Then jobs whose progress events and answers it never reads either.
    let small = json!({"width": 4, "height": 4, "format": "rgba8", "data": {"inline": 0}});
    for id in 3..23 {
        easel_ipc::send(
            &stalled,
            &json!({"type": "submit", "id": id, "operation": "test-echo", "image": small,
                    "params": {"sleep_ms": 30}}),
            &[0u8; 64],
            &[],
        )
        .unwrap();
    }

    // Meanwhile a second client's job on the same plugin finishes, and the daemon answers.
    let mut c = daemon.client();
    // Wait until the daemon has read all 20 (on a loaded machine it may still be preparing the
    // 2048×2048 image), so that the job below queues behind them.
    for _ in 0..3000 {
        let (queued, running, _) = c.status().unwrap();
        if queued + running >= 20 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let img = shared(&rgba8(8, 8, |_, _| [1, 2, 3, 255]));
    let started = Instant::now();
    let job = c.submit("test-echo", &img, None, &[], Value::Null).unwrap();
    let result = c.wait(job, |_, _| {}).unwrap();
    assert_eq!(px(&result.image, 0, 0), [1, 2, 3, 255]);
    // 20 queued jobs of ~30 ms ran before it; a stalled writer would have blocked forever.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the second client waited {:?}",
        started.elapsed()
    );
    let (queued, _, _) = c.status().unwrap();
    assert_eq!(queued, 0);

    // The stalled client can still read everything, in order, when it finally does.
    let mut got_result = false;
    for _ in 0..200 {
        let m = read(&stalled);
        if m["type"] == "result" && m["reply_to"] == 2 {
            got_result = true;
            break;
        }
    }
    assert!(got_result, "the big result was lost");
}

#[test]
fn a_client_whose_unread_answers_overflow_is_disconnected_and_others_are_served() {
    let daemon = Daemon::start(Options::default());
    let flood = inline_client(&daemon);
    // Status answers are tiny but each is one queued message; far more than the socket and the queue hold,
    // sent without ever reading.
    for id in 0..20_000u64 {
        if easel_ipc::send(&flood, &json!({"type": "status", "id": id}), &[], &[]).is_err() {
            break; // already disconnected
        }
    }
    // The daemon closed that connection: reading ends before 3000 answers.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut answers = 0;
    while Instant::now() < deadline {
        match easel_ipc::read_frame(&flood, LIMITS) {
            Ok(_) => answers += 1,
            Err(_) => break,
        }
    }
    assert!(
        answers < 20_000,
        "{answers} answers: the connection was not closed"
    );
    // Everyone else is still served.
    let mut c = daemon.client();
    let (queued, running, _) = c.status().unwrap();
    assert_eq!((queued, running), (0, 0));
}
