//! The install for users (`host/install.sh`) into a temporary prefix and home, used from there
//! as a user would: `easel doctor` finds ONNX Runtime, the daemon, the worker and the plugins in
//! the prefix, and `easel run` works from a folder that is not the checkout. The whole user
//! story (models fetched from a local mirror, every operation, the Krita and GIMP plug-ins) is
//! tests/install/run.sh; here also: a model file obtained elsewhere, added under its manifest id.

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
    // Exactly the plugins install.sh builds, whatever else the target folder holds.
    let mut plugins: Vec<String> = std::fs::read_dir(prefix.join("lib/easel/plugins"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    plugins.sort();
    assert_eq!(
        plugins,
        [
            "libeasel_plugin_classic.so",
            "libeasel_plugin_enhance.so",
            "libeasel_plugin_example_invert.so",
            "libeasel_plugin_generative.so",
            "libeasel_plugin_remove_background.so",
        ],
        "{log}"
    );
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

/// `easel models add FILE --id ID` with exactly the file a manifest entry describes (a model with
/// no upstream address, converted or copied by the user): it lands under the entry's file name in
/// the user model folder and keeps the entry (licence, commercial use), so doctor shows it ok.
#[test]
fn a_known_model_added_by_hand_keeps_its_manifest_entry() {
    let home = tempfile::tempdir().unwrap();
    let renamed = home.path().join("my-upscaler.onnx");
    std::fs::copy(
        shared_dir().join("models/realesr-general-x4v3_fp16w.onnx"),
        &renamed,
    )
    .unwrap();
    let easel = |args: &[&str]| {
        let out = Command::new(easel_cli())
            .args(args)
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env_remove("EASEL_SOCKET")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    easel(&[
        "models",
        "add",
        renamed.to_str().unwrap(),
        "--id",
        "realesr-general-x4v3",
    ]);
    let models = home.path().join("data/easel/models");
    assert!(models.join("realesr-general-x4v3_fp16w.onnx").is_file());
    assert!(
        !models.join("manifest.toml").exists(),
        "no override entry is written for a file the manifest already describes"
    );
    let info: Value = serde_json::from_str(&easel(&[
        "--json",
        "models",
        "info",
        "realesr-general-x4v3",
    ]))
    .unwrap();
    assert_eq!(info["spdx"], "BSD-3-Clause");
    assert_eq!(info["verified"], true);
    assert_eq!(
        info["path"].as_str(),
        models.join("realesr-general-x4v3_fp16w.onnx").to_str()
    );
}
