//! The `easel` command line against a daemon it starts itself: ops, run (with a mask, and over a
//! folder), models, status and stop.

use easel_tests::*;
use std::process::Command;

fn easel(
    d_socket: &std::path::Path,
    config: &std::path::Path,
    args: &[&str],
) -> (bool, String, String) {
    let out = Command::new(easel_cli())
        .arg("--socket")
        .arg(d_socket)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn run_starts_the_daemon_and_writes_results_for_files_and_folders() {
    // A configuration like a user's, but the daemon is not running yet: `easel run` starts it.
    let d = Daemon::start(Options::default());
    let (socket, config) = (d.dir.path().join("cli.sock"), d.dir.path().join("cli.toml"));
    let text = std::fs::read_to_string(&d.config).unwrap();
    let text = text
        .lines()
        .map(|l| {
            if l.starts_with("socket") {
                format!("socket = {socket:?}")
            } else {
                l.into()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&config, text).unwrap();
    let out_dir = tempfile::tempdir().unwrap();

    let (ok, stdout, _) = easel(&socket, &config, &["ops"]);
    assert!(ok);
    assert!(
        stdout.contains("remove-background") && stdout.contains("--set model="),
        "{stdout}"
    );

    let cutout = out_dir.path().join("girl.png");
    let (ok, _, stderr) = easel(
        &socket,
        &config,
        &[
            "run",
            "remove-background",
            "-i",
            photo("girl-1.jpg").to_str().unwrap(),
            "-o",
            cutout.to_str().unwrap(),
            "--set",
            "model=u2netp",
        ],
    );
    assert!(ok, "{stderr}");
    let img = image::open(&cutout).unwrap().to_rgba8();
    assert_eq!(img.dimensions(), (600, 399));
    assert!(img.get_pixel(3, 3)[3] < 10 && img.get_pixel(235, 300)[3] > 240);

    // A mask file: the result is placed on a canvas the size of the input.
    let mask_path = out_dir.path().join("mask.png");
    image::GrayImage::from_fn(451, 300, |x, y| {
        image::Luma([if (100..200).contains(&x) && (50..150).contains(&y) {
            255
        } else {
            0
        }])
    })
    .save(&mask_path)
    .unwrap();
    let inverted = out_dir.path().join("inv.png");
    let (ok, _, stderr) = easel(
        &socket,
        &config,
        &[
            "run",
            "invert",
            "-i",
            photo("chelsea.png").to_str().unwrap(),
            "--mask",
            mask_path.to_str().unwrap(),
            "--margin",
            "0",
            "-o",
            inverted.to_str().unwrap(),
        ],
    );
    assert!(ok, "{stderr}");
    assert!(stderr.contains("at (100, 50)"), "{stderr}");
    // It says the edited region and what the file holds: the whole image.
    assert!(
        stderr.contains("100x100 at (100, 50)") && stderr.contains("(451x300)"),
        "{stderr}"
    );
    let inv = image::open(&inverted).unwrap().to_rgba8();
    let orig = image::open(photo("chelsea.png")).unwrap().to_rgba8();
    assert_eq!(inv.dimensions(), (451, 300));
    assert_eq!(
        inv.get_pixel(150, 100)[0],
        255 - orig.get_pixel(150, 100)[0]
    );
    // The whole edited image: outside the selection, the photo as it was.
    assert_eq!(inv.get_pixel(10, 10), orig.get_pixel(10, 10));
    // --layer: the result layer alone, placed by the offset it reports.
    let layer = out_dir.path().join("layer.png");
    let (ok, _, stderr) = easel(
        &socket,
        &config,
        &[
            "run",
            "invert",
            "-i",
            photo("chelsea.png").to_str().unwrap(),
            "--mask",
            mask_path.to_str().unwrap(),
            "--margin",
            "0",
            "--layer",
            "-o",
            layer.to_str().unwrap(),
        ],
    );
    assert!(ok, "{stderr}");
    let layer = image::open(&layer).unwrap().to_rgba8();
    assert_eq!(layer.dimensions(), (100, 100));
    assert_eq!(
        layer.get_pixel(50, 50)[0],
        255 - orig.get_pixel(150, 100)[0]
    );

    // A folder: every image, in batch priority.
    let in_dir = tempfile::tempdir().unwrap();
    for f in ["car-1.jpg", "chelsea.png"] {
        std::fs::copy(photo(f), in_dir.path().join(f)).unwrap();
    }
    std::fs::write(in_dir.path().join("notes.txt"), "not an image").unwrap();
    let batch_out = out_dir.path().join("batch");
    let (ok, _, stderr) = easel(
        &socket,
        &config,
        &[
            "run",
            "invert",
            "-i",
            in_dir.path().to_str().unwrap(),
            "-o",
            batch_out.to_str().unwrap(),
        ],
    );
    assert!(ok, "{stderr}");
    assert!(stderr.contains("2 of 2 images done"), "{stderr}");
    assert!(batch_out.join("car-1.png").exists() && batch_out.join("chelsea.png").exists());

    // Clear errors.
    let (ok, _, stderr) = easel(
        &socket,
        &config,
        &[
            "run",
            "invert",
            "-i",
            "/nonexistent.png",
            "-o",
            "/tmp/x.png",
        ],
    );
    assert!(!ok && stderr.contains("/nonexistent.png"), "{stderr}");
    let (ok, _, stderr) = easel(
        &socket,
        &config,
        &[
            "run",
            "invert",
            "-i",
            photo("car-1.jpg").to_str().unwrap(),
            "-o",
            "/tmp/x.png",
            "--set",
            "amount=3",
        ],
    );
    assert!(
        !ok && stderr.contains("amount") && stderr.contains("invalid_params"),
        "{stderr}"
    );

    let (ok, stdout, _) = easel(&socket, &config, &["status"]);
    assert!(ok && stdout.contains("running"), "{stdout}");
    let (ok, _, _) = easel(&socket, &config, &["stop"]);
    assert!(ok);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        easel_client::Client::connect(&socket).is_err(),
        "the daemon stopped"
    );
}

#[test]
fn models_list_and_verify_check_the_real_files() {
    let d = Daemon::start(Options::default());
    let (ok, stdout, stderr) = easel(&d.socket, &d.config, &["models", "list"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("isnet-general-small") && stdout.contains("licence"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = easel(
        &d.socket,
        &d.config,
        &["models", "verify", "u2netp", "mediapipe-meet"],
    );
    assert!(ok, "{stderr}");
    assert_eq!(stdout.matches("ok ").count(), 2, "{stdout}");
    let (ok, stdout, _) = easel(&d.socket, &d.config, &["models", "verify", "no-such-model"]);
    assert!(!ok && stdout.contains("no-such-model"), "{stdout}");
}
