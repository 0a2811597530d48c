//! The plugin ABI can grow: a plugin built against a frozen copy of the ABI 2.0 boundary types
//! (`plugins/testing/abi-frozen`, without the `Operation` methods added since) loads and runs on
//! this daemon; one built against a future SDK (`plugins/testing/abi-future`: an extra
//! parameter kind, pixel format and error kind) is handled — what the daemon can describe is
//! offered, the rest refused with a reason, and nothing panics; and one whose SDK has one more
//! `Operation` method than the daemon's (`plugins/testing/abi-newer`) is refused with a reason.
//!
//! The fixtures are workspaces of their own (their SDK copies are packages named `easel-sdk`);
//! the first test to need them builds both with `cargo build --offline` into
//! `target/abi-fixtures`.

use easel_client::ClientError;
use easel_tests::*;
use serde_json::{json, Value};
use std::{path::PathBuf, process::Command, sync::OnceLock};

/// The fixture libraries: built against the frozen, the future and the newer SDK.
struct Fixtures {
    frozen: PathBuf,
    future: PathBuf,
    newer: PathBuf,
}

/// Builds the fixture workspaces once.
fn fixtures() -> &'static Fixtures {
    static BUILT: OnceLock<Fixtures> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target = target_dir()
            .parent()
            .expect("target folder")
            .join("abi-fixtures");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        for fixture in ["abi-frozen", "abi-future", "abi-newer"] {
            let manifest = repo_root()
                .join("plugins/testing")
                .join(fixture)
                .join("Cargo.toml");
            let out = Command::new(&cargo)
                .args(["build", "--offline", "--manifest-path"])
                .arg(&manifest)
                .arg("--target-dir")
                .arg(&target)
                .env_remove("CARGO_TARGET_DIR")
                .output()
                .expect("run cargo");
            assert!(
                out.status.success(),
                "building {fixture} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let lib = |name: &str| {
            let p = target.join("debug").join(format!("lib{name}.so"));
            assert!(p.exists(), "{} was not built", p.display());
            p
        };
        Fixtures {
            frozen: lib("easel_testing_abi_frozen"),
            future: lib("easel_testing_abi_future"),
            newer: lib("easel_testing_abi_newer"),
        }
    })
}

fn daemon() -> Daemon {
    let f = fixtures();
    Daemon::start(Options {
        plugins: vec!["easel_testing_misbehave"],
        plugin_paths: vec![f.frozen.clone(), f.future.clone(), f.newer.clone()],
        ..Options::default()
    })
}

fn plugin_entry(ops: &Value, file: &str) -> Value {
    ops["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .find(|p| p["path"].as_str().is_some_and(|s| s.ends_with(file)))
        .unwrap_or_else(|| panic!("{file} not listed: {ops}"))
        .clone()
}

fn operation(ops: &Value, id: &str) -> Option<Value> {
    ops["operations"]
        .as_array()
        .expect("operations")
        .iter()
        .find(|o| o["id"] == id)
        .cloned()
}

fn run(
    c: &mut easel_client::Client,
    op: &str,
    params: Value,
) -> Result<easel_client::JobResult, ClientError> {
    let img = rgba8(4, 2, |x, y| [10 + x as u8, 20 + y as u8, 30, 255]);
    let job = c.submit(op, &shared(&img), None, &[], json!({ "params": params }))?;
    c.wait(job, |_, _| {})
}

#[test]
fn a_plugin_built_against_the_frozen_abi_2_0_sdk_loads_and_runs() {
    let daemon = daemon();
    let mut c = daemon.client();
    let ops = c.operations().expect("operations").json();
    let entry = plugin_entry(&ops, "libeasel_testing_abi_frozen.so");
    assert_eq!(entry["status"], "loaded", "{entry}\n{}", daemon.log());
    let op = operation(&ops, "frozen-invert").expect("frozen-invert listed");
    let amount = &op["params"][0];
    assert_eq!(amount["kind"], "choice");
    assert_eq!(amount["options"], json!(["full", "half"]));
    // The methods the frozen SDK lacks answered with their defaults.
    assert!(amount.get("option_titles").is_none(), "{amount}");
    assert!(amount.get("applies_when").is_none(), "{amount}");

    let full = run(&mut c, "frozen-invert", json!({})).expect("runs");
    assert_eq!(px(&full.image, 0, 0), [245, 235, 225, 255]);
    assert_eq!(px(&full.image, 3, 1), [242, 234, 225, 255]);
    let half = run(&mut c, "frozen-invert", json!({"amount": "half"})).expect("runs");
    assert_eq!(px(&half.image, 0, 0), [128, 128, 128, 255]);
}

#[test]
fn a_plugin_built_against_a_future_sdk_is_offered_what_the_daemon_understands() {
    let daemon = daemon();
    let mut c = daemon.client();
    let ops = c.operations().expect("operations").json();
    let entry = plugin_entry(&ops, "libeasel_testing_abi_future.so");
    assert_eq!(entry["status"], "loaded", "{entry}\n{}", daemon.log());

    // Its option titles are read.
    let echo = operation(&ops, "future-echo").expect("future-echo listed");
    assert_eq!(
        echo["params"][0]["option_titles"],
        json!(["Mode A", "Mode B"])
    );
    let out = run(&mut c, "future-echo", json!({"mode": "b"})).expect("echo runs");
    assert_eq!(px(&out.image, 2, 1), [12, 21, 30, 255]);

    // A parameter kind and a pixel format this daemon does not know: not offered, and the
    // log says why.
    assert!(operation(&ops, "future-tint").is_none());
    assert!(operation(&ops, "future-rgb565").is_none());
    let log = daemon.log();
    assert!(
        log.contains(
            "operation 'future-tint' is not offered: parameter 'tint' is of kind 6, which this daemon does not know"
        ),
        "{log}"
    );
    assert!(
        log.contains(
            "operation 'future-rgb565' is not offered: its working format: pixel format 6 is not one this daemon knows"
        ),
        "{log}"
    );
    let err = run(&mut c, "future-tint", json!({})).expect_err("not offered");
    assert!(err.to_string().contains("future-tint"), "{err}");

    // An error kind this daemon does not know is the plugin's fault, and says which kind.
    let err = run(&mut c, "future-busy", json!({})).expect_err("busy");
    let ClientError::Daemon { code, message, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(code, "plugin_error", "{message}");
    assert!(message.contains("try again later"), "{message}");
    assert!(message.contains("error kind 6"), "{message}");

    // The other plugins are unaffected.
    let ok = run(&mut c, "test-echo", json!({})).expect("test-echo");
    assert_eq!(px(&ok.image, 1, 0), [11, 20, 30, 255]);
    assert!(
        daemon.log().contains("testing-abi-future"),
        "{}",
        daemon.log()
    );
}

#[test]
fn a_plugin_expecting_a_trait_method_this_daemon_lacks_is_refused_with_a_reason() {
    let daemon = daemon();
    let ops = daemon.client().operations().expect("operations").json();
    let entry = plugin_entry(&ops, "libeasel_testing_abi_newer.so");
    assert_eq!(entry["status"], "refused", "{entry}");
    let reason = entry["reason"].as_str().expect("reason");
    assert!(reason.contains("wrong layout"), "{reason}");
    assert!(reason.contains("newer easel-sdk"), "{reason}");
    assert!(operation(&ops, "newer-echo").is_none());
    // The rest still load.
    assert!(operation(&ops, "frozen-invert").is_some());
    assert!(operation(&ops, "test-echo").is_some());
}
