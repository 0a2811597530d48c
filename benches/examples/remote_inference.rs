//! Local ONNX Runtime against a Triton Inference Server over gRPC on loopback (benches/remote.sh
//! starts the server): (1) one 1024² remove background (u2netp) through two real daemons, one
//! local and one pointed at Triton, median of RUNS each, taken in turns; (2) throughput of 4
//! concurrent clients calling u2netp through one model store, local vs Triton (dynamic
//! batching). Prints the figures and the ratios of this one run.
//!
//!     remote_inference GRPC_URL MODEL_DIR [RUNS]

use easel_client::{Client, SharedInput};
use easel_imaging::{OwnedImage, PixelFormat};
use easel_models::{remote::routed_store, ModelStore, ModelStoreConfig};
use easel_sdk::Tensor;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Daemon {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn daemon(easeld: &Path, models: &Path, extra: &str) -> Daemon {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("easeld.sock");
    let config = dir.path().join("easel.toml");
    std::fs::write(
        &config,
        format!(
            "socket = {socket:?}\nplugin_dirs = []\nmodel_dirs = [{models:?}]\nlog_file = \"\"\n{extra}"
        ),
    )
    .expect("config");
    let child = Command::new(easeld)
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start easeld");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Client::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "easeld did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Daemon {
        child,
        socket,
        _dir: dir,
    }
}

fn cut(d: &Daemon, input: &SharedInput) -> f64 {
    let mut c = Client::connect(&d.socket).expect("connect");
    let started = Instant::now();
    let job = c
        .submit(
            "remove-background",
            input,
            None,
            &[],
            serde_json::json!({"params": {"model": "u2netp"}}),
        )
        .expect("submit");
    c.wait(job, |_, _| {}).expect("result");
    started.elapsed().as_secs_f64() * 1000.0
}

fn throughput(store: Arc<ModelStore>, clients: usize, calls: usize) -> f64 {
    let input = || {
        let data: Vec<f32> = (0..3 * 320 * 320)
            .map(|i| (i % 255) as f32 / 255.0)
            .collect();
        vec![Tensor::new("input.1", &[1, 3, 320, 320], data)]
    };
    // Warm: loaded, bound, connected.
    store
        .run("u2netp", input(), &["1959".into()])
        .expect("warm run");
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                for _ in 0..calls {
                    store
                        .run("u2netp", input(), &["1959".into()])
                        .expect("model run");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    (clients * calls) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (url, models) = match (args.get(1), args.get(2)) {
        (Some(u), Some(m)) => (u.clone(), PathBuf::from(m)),
        _ => {
            eprintln!("usage: remote_inference GRPC_URL MODEL_DIR [RUNS]");
            std::process::exit(2);
        }
    };
    let runs: usize = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(15);
    let exe = std::env::current_exe().expect("exe");
    let easeld = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("easeld"))
        .expect("target dir");

    let mut img = OwnedImage::new(1024, 1024, PixelFormat::Rgba8);
    for y in 0..1024u32 {
        for x in 0..1024u32 {
            let i = ((y * 1024 + x) * 4) as usize;
            let (dx, dy) = (x as f32 - 512.0, y as f32 - 560.0);
            let inside = dx * dx + dy * dy < 300.0 * 300.0;
            let px = if inside {
                [200, (x / 4) as u8, 60, 255]
            } else {
                [30, 90 + (y / 16) as u8, 140, 255]
            };
            img.data[i..i + 4].copy_from_slice(&px);
        }
    }
    let input = SharedInput::new(&img).expect("shared input");
    let local = daemon(&easeld, &models, "");
    let remote = daemon(
        &easeld,
        &models,
        &format!("[inference]\ndefault = \"remote\"\n[[inference.endpoint]]\nurl = \"{url}\"\n"),
    );
    cut(&local, &input);
    cut(&remote, &input);
    let (mut l, mut r) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        l.push(cut(&local, &input));
        r.push(cut(&remote, &input));
    }
    let (l, r) = (median(l), median(r));
    println!("1024x1024 remove background (u2netp), median of {runs}:");
    println!("  local ONNX Runtime      {l:8.1} ms");
    println!("  Triton gRPC (loopback)  {r:8.1} ms");
    println!("  remote / local          {:8.3}", r / l);
    drop((local, remote));

    let config = ModelStoreConfig {
        folders: vec![models.clone()],
        ..Default::default()
    };
    let calls = runs.max(4);
    let local = Arc::new(ModelStore::new(config.clone()).expect("local store"));
    let remote = Arc::new(
        routed_store(
            config,
            Some(&format!(
                "{{\"default\":\"remote\",\"endpoint\":[{{\"url\":\"{url}\"}}]}}"
            )),
        )
        .expect("remote store"),
    );
    let tl = throughput(local, 4, calls);
    let tr = throughput(remote, 4, calls);
    println!("u2netp, 4 concurrent clients x {calls} calls through one model store:");
    println!("  local ONNX Runtime      {tl:8.2} runs/s");
    println!("  Triton gRPC, batching   {tr:8.2} runs/s");
    println!("  remote / local          {:8.3}", tr / tl);
}
