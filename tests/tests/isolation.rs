//! Plugins that misbehave on purpose fail only their own job; the daemon, its other plugins and
//! later jobs go on. Incompatible libraries are refused with a reason and the rest still load.

use easel_client::ClientError;
use easel_tests::*;
use serde_json::json;
use std::time::{Duration, Instant};

fn options() -> Options {
    Options {
        plugins: vec![
            "easel_testing_misbehave",
            "easel_testing_wrong_abi",
            "easel_testing_wrong_layout",
            "easel_testing_not_a_plugin",
        ],
        limits: "job_timeout_s = 2.0\nworker_memory_mb = 300\ncancel_grace_ms = 500\n".into(),
        ..Options::default()
    }
}

fn run_op(
    c: &mut easel_client::Client,
    op: &str,
    params: serde_json::Value,
) -> Result<easel_client::JobResult, ClientError> {
    let img = rgba8(32, 16, |x, y| [x as u8 * 8, y as u8 * 16, 100, 255]);
    let job = c.submit(op, &shared(&img), None, &[], json!({"params": params}))?;
    c.wait(job, |_, _| {})
}

#[test]
fn every_kind_of_misbehaviour_fails_only_its_job_and_names_the_plugin() {
    let mut daemon = Daemon::start(options());
    let mut c = daemon.client();
    let cases = [
        ("test-panic", "plugin_crashed", "exit code 1"),
        ("test-abort", "plugin_crashed", "SIGABRT"),
        ("test-segfault", "plugin_crashed", "SIGSEGV"),
        ("test-exit", "plugin_crashed", "exit code 3"),
        ("test-hang", "plugin_timeout", "more than 2 s"),
        ("test-memory", "plugin_memory", "over the limit of 300 MiB"),
        (
            "test-garbage",
            "plugin_crashed",
            "garbage on its worker channel",
        ),
        ("test-stop", "plugin_timeout", "more than 2 s"),
    ];
    for (op, code, detail) in cases {
        let err = run_op(&mut c, op, json!({})).expect_err(op);
        let ClientError::Daemon {
            code: got,
            fault,
            message,
        } = &err
        else {
            panic!("{op}: {err}")
        };
        assert_eq!(got, code, "{op}: {message}");
        assert_eq!(fault, "plugin");
        assert!(message.contains("testing-misbehave"), "{op}: {message}");
        assert!(message.contains(detail), "{op}: {message}");
        // The same plugin's worker was restarted and serves the next job.
        let ok = run_op(&mut c, "test-echo", json!({})).expect("echo after a crash");
        assert_eq!((ok.image.width, ok.image.height), (32, 16));
    }
    assert!(daemon.alive(), "the daemon died:\n{}", daemon.log());
}

#[test]
fn a_hanging_plugin_does_not_hold_up_other_plugins() {
    let daemon = Daemon::start(options());
    let mut hung = daemon.client();
    let img = rgba8(8, 8, |_, _| [1, 2, 3, 255]);
    let hang = hung
        .submit("test-hang", &shared(&img), None, &[], json!({}))
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Another plugin answers while test-hang is still running.
    let mut other = daemon.client();
    let started = Instant::now();
    let job = other
        .submit("invert", &shared(&img), None, &[], json!({}))
        .unwrap();
    let r = other.wait(job, |_, _| {}).unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "invert waited for the hung plugin"
    );
    assert_eq!(px(&r.image, 0, 0), [254, 253, 252, 255]);
    let err = hung.wait(hang, |_, _| {}).unwrap_err();
    assert_eq!(err.code(), Some(easel_protocol::Code::PluginTimeout));
}

#[test]
fn incompatible_libraries_are_refused_with_a_reason_and_the_rest_load() {
    let daemon = Daemon::start(options());
    let ops = daemon.client().operations().unwrap().json();
    let plugins = ops["plugins"].as_array().unwrap();
    let reason = |file: &str| {
        plugins
            .iter()
            .find(|p| p["path"].as_str().unwrap().ends_with(file))
            .unwrap_or_else(|| panic!("{file} not listed: {plugins:?}"))
            .clone()
    };
    let wrong_abi = reason("libeasel_testing_wrong_abi.so");
    assert_eq!(wrong_abi["status"], "refused");
    assert!(
        wrong_abi["reason"]
            .as_str()
            .unwrap()
            .contains("Easel ABI 999"),
        "{wrong_abi}"
    );
    let layout = reason("libeasel_testing_wrong_layout.so");
    assert_eq!(layout["status"], "refused");
    assert!(
        layout["reason"].as_str().unwrap().contains("wrong layout"),
        "{layout}"
    );
    let junk = reason("libeasel_testing_not_a_plugin.so");
    assert_eq!(junk["status"], "refused");
    assert!(
        junk["reason"]
            .as_str()
            .unwrap()
            .contains("not an Easel plugin"),
        "{junk}"
    );
    let loaded = reason("libeasel_testing_misbehave.so");
    assert_eq!(loaded["status"], "loaded");
    let ids: Vec<&str> = ops["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"test-echo") && ids.contains(&"invert"),
        "{ids:?}"
    );
    assert!(!ids.contains(&"wrong-abi-op"));
}

#[test]
fn a_plugin_that_ignores_cancel_is_stopped_after_the_grace_period() {
    let daemon = Daemon::start(options());
    let mut c = daemon.client();
    let img = rgba8(8, 8, |_, _| [1, 2, 3, 255]);
    let job = c
        .submit("test-hang", &shared(&img), None, &[], json!({}))
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    c.cancel(job).unwrap();
    let err = c.wait(job, |_, _| {}).unwrap_err();
    assert_eq!(err.code(), Some(easel_protocol::Code::Cancelled));
    // Grace is 500 ms; the job timeout (2 s) must not be what ended it.
    assert!(
        t.elapsed() < Duration::from_millis(1800),
        "{:?}",
        t.elapsed()
    );
    let ok = run_op(&mut c, "test-echo", json!({})).unwrap();
    assert_eq!(ok.image.width, 32);
}
