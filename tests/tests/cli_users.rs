//! The `easel` command line as users and scripts use it: exit codes, `--json`, image formats
//! (JPEG, WebP and TIFF written and read, ICC profiles kept), the model commands (add, info,
//! path, remove, and fetch from a local HTTP server standing in for a model's upstream home),
//! shell completions and the man page. Each run gets private XDG folders.

use easel_tests::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Env {
    home: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn data(&self) -> PathBuf {
        self.home.path().join("data")
    }

    /// Runs `easel ARGS` → (exit code, stdout, stderr).
    fn easel(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(easel_cli())
            .args(args)
            .env("HOME", self.home.path())
            .env("XDG_DATA_HOME", self.data())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env_remove("EASEL_SOCKET")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }
}

fn on(d: &Daemon, args: &[&str]) -> Vec<String> {
    let mut v = vec![
        "--socket".to_string(),
        d.socket.display().to_string(),
        "--config".to_string(),
        d.config.display().to_string(),
    ];
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn exit_codes_say_what_went_wrong() {
    let env = Env::new();
    let (code, stdout, _) = env.easel(&["--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Exit codes"), "{stdout}");
    let (code, _, _) = env.easel(&["run", "--no-such-flag"]);
    assert_eq!(code, 2, "usage");
    let (code, _, stderr) = env.easel(&["--socket", "/nonexistent/easel.sock", "status"]);
    assert_eq!(code, 3, "daemon unavailable: {stderr}");
    let d = Daemon::start(Options::default());
    let out = tempfile::tempdir().unwrap();
    let o = out.path().join("x.png");
    let args = on(
        &d,
        &[
            "run",
            "remove-object",
            "-i",
            photo("chelsea.png").to_str().unwrap(),
            "-o",
            o.to_str().unwrap(),
        ],
    );
    let (code, _, stderr) = env.easel(&refs(&args));
    assert_eq!(code, 4, "job failed: {stderr}");
    assert!(stderr.contains("needs a mask"), "{stderr}");
    let args = on(&d, &["models", "verify", "no-such-model"]);
    let (code, _, _) = env.easel(&refs(&args));
    assert_eq!(code, 6, "model");
    let args = on(
        &d,
        &[
            "run",
            "invert",
            "-i",
            photo("chelsea.png").to_str().unwrap(),
            "-o",
            "/tmp/x.bmp",
        ],
    );
    let (code, _, stderr) = env.easel(&refs(&args));
    assert_eq!(
        code, 2,
        "an output format we cannot write is a usage error: {stderr}"
    );
}

#[test]
fn json_output_for_scripts() {
    let env = Env::new();
    let d = Daemon::start(Options::default());
    let parse =
        |s: &str| -> Value { serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}")) };
    let (code, stdout, _) = env.easel(&refs(&on(&d, &["--json", "ops"])));
    assert_eq!(code, 0);
    let ops = parse(&stdout);
    assert!(ops["operations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["id"] == "invert"));
    let (_, stdout, _) = env.easel(&refs(&on(&d, &["--json", "status"])));
    assert_eq!(parse(&stdout)["queued"], 0);
    // The daemon warms the default models at start; --wait-ready returns once they are in.
    let (code, stdout, _) = env.easel(&refs(&on(&d, &["--json", "status", "--wait-ready", "60"])));
    assert_eq!(code, 0, "{stdout}");
    let status = parse(&stdout);
    assert_eq!(
        (&status["ready"], &status["warming"]),
        (&Value::Bool(true), &Value::from(0))
    );
    let (code, _, stderr) = env.easel(&refs(&on(&d, &["status", "--wait-ready=-1"])));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--wait-ready"), "{stderr}");
    let (_, stdout, _) = env.easel(&refs(&on(&d, &["--json", "models", "list"])));
    let models = parse(&stdout);
    let u2 = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "u2netp")
        .unwrap();
    assert_eq!(u2["spdx"], "Apache-2.0");
    assert_eq!(u2["default"], true);
    let out = tempfile::tempdir().unwrap();
    let o = out.path().join("x.png");
    let (code, stdout, stderr) = env.easel(&refs(&on(
        &d,
        &[
            "--json",
            "run",
            "invert",
            "-i",
            photo("car-1.jpg").to_str().unwrap(),
            "-o",
            o.to_str().unwrap(),
        ],
    )));
    assert_eq!(code, 0, "{stderr}");
    let r = parse(&stdout);
    assert_eq!(
        (r["width"].as_u64(), r["height"].as_u64()),
        (Some(480), Some(360))
    );
    assert_eq!(
        (r["written_width"].as_u64(), r["written_height"].as_u64()),
        (Some(480), Some(360))
    );
    let (code, stdout, _) = env.easel(&refs(&on(
        &d,
        &["--json", "models", "verify", "no-such-model"],
    )));
    assert_eq!(code, 6);
    // The error comes last, as JSON too.
    let last = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap();
    assert_eq!(parse(last)["kind"], "model");
}

fn png_with_profile(path: &Path, icc: &[u8]) {
    use image::ImageEncoder;
    let img = image::open(photo("chelsea.png")).unwrap().to_rgba8();
    let file = std::fs::File::create(path).unwrap();
    let mut enc = image::codecs::png::PngEncoder::new(file);
    enc.set_icc_profile(icc.to_vec()).unwrap();
    enc.write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgba8,
    )
    .unwrap();
}

fn profile_of(path: &Path) -> Option<Vec<u8>> {
    use image::ImageDecoder;
    let mut dec = image::ImageReader::open(path)
        .unwrap()
        .with_guessed_format()
        .unwrap()
        .into_decoder()
        .unwrap();
    dec.icc_profile().unwrap()
}

#[test]
fn every_format_is_written_by_its_extension_and_read_back_in_batches() {
    let env = Env::new();
    let d = Daemon::start(Options::default());
    let dir = tempfile::tempdir().unwrap();
    let icc: Vec<u8> = (0..700u32).map(|i| (i * 7 % 256) as u8).collect();
    let input = dir.path().join("cat.png");
    png_with_profile(&input, &icc);
    let magic: [(&str, &[u8]); 4] = [
        ("out.jpg", b"\xff\xd8\xff"),
        ("out.webp", b"RIFF"),
        ("out.tiff", b"II*\0"),
        ("out.png", b"\x89PNG"),
    ];
    let batch_in = dir.path().join("in");
    std::fs::create_dir(&batch_in).unwrap();
    for (name, head) in magic {
        let o = dir.path().join(name);
        let (code, _, stderr) = env.easel(&refs(&on(
            &d,
            &[
                "run",
                "invert",
                "-i",
                input.to_str().unwrap(),
                "-o",
                o.to_str().unwrap(),
            ],
        )));
        assert_eq!(code, 0, "{name}: {stderr}");
        let bytes = std::fs::read(&o).unwrap();
        assert!(bytes.starts_with(head), "{name} is not in its format");
        let back = image::open(&o).unwrap();
        assert_eq!((back.width(), back.height()), (451, 300), "{name}");
        if name != "out.tiff" {
            assert_eq!(
                profile_of(&o).as_deref(),
                Some(&icc[..]),
                "{name}: ICC profile lost"
            );
        }
        let ext = name.rsplit('.').next().unwrap();
        std::fs::copy(
            &o,
            batch_in.join(format!("{}.{ext}", name.replace('.', "_"))),
        )
        .unwrap();
    }
    // A folder of every format is read whole.
    let batch_out = dir.path().join("out");
    let (code, _, stderr) = env.easel(&refs(&on(
        &d,
        &[
            "run",
            "invert",
            "-i",
            batch_in.to_str().unwrap(),
            "-o",
            batch_out.to_str().unwrap(),
            "--format",
            "webp",
        ],
    )));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("4 of 4 images done"), "{stderr}");
    let written: Vec<String> = std::fs::read_dir(&batch_out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written.len(), 4, "{written:?}");
    assert!(written.iter().all(|n| n.ends_with(".webp")), "{written:?}");
}

/// Serves `body` at /m.onnx for a few requests; returns its URL.
fn serve_once(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/m.onnx", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    url
}

#[test]
fn models_are_added_fetched_shown_and_removed() {
    let env = Env::new();
    let models = shared_dir().join("models");
    let llie = models.join("obs_semantic_guided_llie_180x324.onnx");
    // add / info / path / remove, in the user's own model folder.
    let (code, _, stderr) =
        env.easel(&["models", "add", llie.to_str().unwrap(), "--id", "my-llie"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = env.easel(&["--json", "models", "info", "my-llie"]);
    assert_eq!(code, 0, "{stderr}");
    let info: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(info["verified"], true, "{info}");
    let (_, stdout, _) = env.easel(&["models", "path", "my-llie"]);
    let placed = PathBuf::from(stdout.trim());
    assert!(
        placed.starts_with(env.data()) && placed.is_file(),
        "{stdout}"
    );
    let (code, _, _) = env.easel(&["models", "remove", "my-llie"]);
    assert_eq!(code, 0);
    assert!(!placed.exists());
    let (code, _, stderr) = env.easel(&["models", "path", "my-llie"]);
    assert_eq!(code, 6);
    assert!(
        stderr.contains("easel models fetch") || stderr.contains("unknown model"),
        "{stderr}"
    );

    // fetch from a server standing in for the upstream host.
    let body = std::fs::read(&llie).unwrap();
    let url = serve_once(body.clone());
    let served = env.home.path().join("served");
    std::fs::create_dir(&served).unwrap();
    let sha = easel_models::sha256_file(&llie).unwrap();
    std::fs::write(
        served.join("manifest.toml"),
        format!(
            "[[model]]\nid = \"served-llie\"\nfile = \"served.onnx\"\nsha256 = \"{sha}\"\n\
             urls = [\"{url}\"]\nspdx = \"MIT\"\ncommercial_use = true\nlicence = \"MIT\"\n"
        ),
    )
    .unwrap();
    let config = env.home.path().join("easel.toml");
    std::fs::write(&config, format!("model_dirs = [{:?}]\n", served)).unwrap();
    let cfg = config.to_str().unwrap();
    // Without a terminal to ask, the licence must be accepted explicitly.
    let (code, _, stderr) = env.easel(&["--config", cfg, "models", "fetch", "served-llie"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("MIT") && stderr.contains("--accept-licence"),
        "{stderr}"
    );
    let (code, _, stderr) = env.easel(&[
        "--config",
        cfg,
        "models",
        "fetch",
        "served-llie",
        "--accept-licence",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let fetched = env.data().join("easel/models/served.onnx");
    assert_eq!(std::fs::read(&fetched).unwrap(), body);
    let (code, stdout, _) = env.easel(&["--config", cfg, "models", "verify", "served-llie"]);
    assert_eq!(code, 0, "{stdout}");
    // A model with no download address says where to get it and how to add it.
    let (code, _, stderr) = env.easel(&[
        "--config",
        cfg,
        "models",
        "fetch",
        "swin2sr-x2",
        "--accept-licence",
    ]);
    assert_eq!(code, 6, "{stderr}");
    assert!(stderr.contains("easel models add"), "{stderr}");
}

#[test]
fn completions_and_man_page() {
    let env = Env::new();
    let (code, stdout, _) = env.easel(&["completions", "bash"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("_easel") && stdout.contains("models"),
        "{}",
        &stdout[..200.min(stdout.len())]
    );
    let (code, stdout, _) = env.easel(&["man"]);
    assert_eq!(code, 0);
    assert!(stdout.contains(".TH") && stdout.contains("easel"));
}
