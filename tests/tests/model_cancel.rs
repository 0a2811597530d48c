//! Cancelling a job stops a model call inside ONNX Runtime: the answer does not wait for the
//! running inference to end, and the worker (with its resident models) is not killed.

use easel_tests::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn cancel_interrupts_a_running_model_call() {
    let d = Daemon::start(Options::default());
    let photo = load_photo("coffee.png");
    // 4 tiles of 256 px for realesr-general-x4v3: about 2 s of inference each on 2 cores.
    let img = rgba8(1024, 256, |x, y| {
        px(&photo, x % photo.width, y % photo.height)
    });
    let mut c = d.client();
    let job = c
        .submit("upscale-4x", &shared(&img), None, &[], json!({}))
        .unwrap();
    // Let it load the model and get into the first call.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "never started");
        if let Some(m) = c.next_event(Some(Duration::from_millis(50))).unwrap() {
            if m.kind() == "progress" && m.json()["job"] == job {
                break;
            }
        }
    }
    std::thread::sleep(Duration::from_millis(400));
    let t = Instant::now();
    c.cancel(job).unwrap();
    let err = c.wait(job, |_, _| {}).unwrap_err();
    let took = t.elapsed();
    assert_eq!(err.code(), Some(easel_protocol::Code::Cancelled), "{err}");
    assert!(took < Duration::from_millis(1000), "cancel took {took:?}");
    assert!(!d.log().contains("killing its worker"), "{}", d.log());
    // The same worker serves the next job at once (the model is still resident).
    let small = rgba8(16, 16, |_, _| [90, 120, 150, 255]);
    let job = c
        .submit("upscale-4x", &shared(&small), None, &[], json!({}))
        .unwrap();
    let r = c.wait(job, |_, _| {}).unwrap();
    assert_eq!((r.image.width, r.image.height), (64, 64));
}
