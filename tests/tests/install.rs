//! The install for users (`host/install.sh`) into a temporary prefix and home, used from there
//! as a user would: `easel doctor` finds ONNX Runtime, the daemon, the worker and the plugins in
//! the prefix, and `easel run` works from a folder that is not the checkout.

use easel_tests::*;
use serde_json::Value;
use std::process::Command;

#[test]
fn the_installed_easel_runs_outside_the_checkout() {
    let home = tempfile::tempdir().unwrap();
    let prefix = home.path().join("prefix");
    let onnxruntime = easel_models::find_onnxruntime(None).expect("the checkout's ONNX Runtime");
    let env = |cmd: &mut Command| {
        cmd.env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_STATE_HOME", home.path().join("state"))
            .env("XDG_RUNTIME_DIR", home.path().join("run"))
            .env_remove("EASEL_SOCKET")
            .env_remove("ORT_DYLIB_PATH")
            .env_remove("EASEL_ONNXRUNTIME")
            .current_dir("/");
    };
    std::fs::create_dir_all(home.path().join("run")).unwrap();
    let script = repo_root().join("host/install.sh");
    let profile = target_dir()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .args([
            "--prefix",
            prefix.to_str().unwrap(),
            "--profile",
            &profile,
            "--no-build",
        ])
        .args(["--onnxruntime", onnxruntime.to_str().unwrap()]);
    env(&mut cmd);
    let out = cmd.current_dir(repo_root()).output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    for f in [
        "bin/easel",
        "bin/easeld",
        "bin/easel-worker",
        "share/man/man1/easel.1",
        "share/bash-completion/completions/easel",
        "share/easel/manifest.toml",
    ] {
        assert!(prefix.join(f).is_file(), "{f} not installed:\n{log}");
    }
    let config = home.path().join("config/easel/easel.toml");
    // The user's models: the shared folder stands in for `easel models fetch --defaults`.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "model_dirs = [{:?}]\n",
        shared_dir().join("models")
    ));
    std::fs::write(&config, text).unwrap();

    let easel = prefix.join("bin/easel");
    let mut doctor = Command::new(&easel);
    doctor.args(["--json", "doctor"]);
    env(&mut doctor);
    let out = doctor.output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let level = |check: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == check)
            .map(|c| c["level"].as_str().unwrap_or("").to_string())
    };
    for check in [
        "onnx runtime",
        "easeld",
        "easel-worker",
        "built-in plugins",
        "model u2netp",
    ] {
        assert_eq!(level(check).as_deref(), Some("ok"), "{check}: {report:#}");
    }
    let output = home.path().join("cutout.png");
    let mut run = Command::new(&easel);
    run.args(["run", "remove-background", "--set", "model=u2netp", "-i"])
        .arg(photo("car-1.jpg"))
        .arg("-o")
        .arg(&output);
    env(&mut run);
    let out = run.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&output).unwrap().to_rgba8();
    assert_eq!(img.dimensions(), (480, 360));
    let mut stop = Command::new(&easel);
    stop.arg("stop");
    env(&mut stop);
    assert!(stop.status().unwrap().success());
}
