//! Downloads against a real HTTP/1.1 server on 127.0.0.1 that this test runs (standing in for a
//! model's upstream host): a plain download, resume after a cut connection, a wrong sha256, a
//! 404, a slow server, a stalled one, a full disk, and mirrors (tried first, by file name).

use easel_models::fetch::{fetch, FetchError, FetchEvent, FetchOptions};
use easel_models::ModelEntry;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy)]
enum Mode {
    Normal,
    /// The first response stops after this many bytes.
    CutOnce(usize),
    NotFound,
    /// 4 KiB every 20 ms.
    Slow,
    /// Headers, then nothing.
    Stall,
}

struct Server {
    url: String,
    requests: Arc<AtomicUsize>,
    ranges: Arc<std::sync::Mutex<Vec<Option<u64>>>>,
    /// The request line's path of each request.
    paths: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    /// The address with no path: a mirror's base.
    fn base(&self) -> String {
        self.url.trim_end_matches("/model.onnx").to_string()
    }
}

fn serve(body: Vec<u8>, mode: Mode) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/model.onnx", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let ranges = Arc::new(std::sync::Mutex::new(Vec::new()));
    let paths = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (r2, g2, p2) = (requests.clone(), ranges.clone(), paths.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(stream) = stream else { continue };
            let n = r2.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            let (g2, p2) = (g2.clone(), p2.clone());
            std::thread::spawn(move || answer(stream, &body, mode, n, &g2, &p2));
        }
    });
    Server {
        url,
        requests,
        ranges,
        paths,
    }
}

fn answer(
    mut stream: TcpStream,
    body: &[u8],
    mode: Mode,
    n: usize,
    ranges: &std::sync::Mutex<Vec<Option<u64>>>,
    paths: &std::sync::Mutex<Vec<String>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut range = None;
    let mut first = true;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if std::mem::take(&mut first) {
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            paths.lock().unwrap().push(path);
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            range = v.trim().trim_end_matches('-').parse::<u64>().ok();
        }
    }
    ranges.lock().unwrap().push(range);
    if let Mode::NotFound = mode {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        return;
    }
    let start = range.unwrap_or(0) as usize;
    let part = &body[start.min(body.len())..];
    let status = if range.is_some() {
        "206 Partial Content"
    } else {
        "200 OK"
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        part.len()
    );
    let _ = stream.write_all(head.as_bytes());
    match mode {
        Mode::CutOnce(at) if n == 0 => {
            let _ = stream.write_all(&part[..at]);
        }
        Mode::Slow => {
            for chunk in part.chunks(4096) {
                if stream.write_all(chunk).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Mode::Stall => std::thread::sleep(Duration::from_secs(5)),
        _ => {
            let _ = stream.write_all(part);
        }
    }
    let _ = stream.flush();
}

fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn sha(data: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x");
    std::fs::write(&p, data).unwrap();
    easel_models::sha256_file(&p).unwrap()
}

fn entry(url: &str, sha256: String) -> ModelEntry {
    let text = format!(
        "[[model]]\nid = \"m\"\nfile = \"model.onnx\"\nsha256 = \"{sha256}\"\nurls = [\"{url}\"]\n"
    );
    easel_models::parse_manifest(&text, Path::new("test"))
        .unwrap()
        .remove(0)
}

fn quick() -> FetchOptions {
    FetchOptions {
        stall_timeout: Duration::from_secs(2),
        body_timeout: Duration::from_millis(800),
        attempts: 3,
        mirrors: Vec::new(),
    }
}

#[test]
fn a_download_lands_under_its_name_only_when_its_sha256_matches() {
    let data = body(300_000);
    let server = serve(data.clone(), Mode::Normal);
    let dir = tempfile::tempdir().unwrap();
    let mut events = Vec::new();
    let path = fetch(
        &entry(&server.url, sha(&data)),
        dir.path(),
        &quick(),
        &mut |e| events.push(e),
    )
    .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
    assert!(!dir.path().join("model.onnx.part").exists());
    assert!(events.contains(&FetchEvent::Progress {
        done: 300_000,
        total: Some(300_000)
    }));
    // A second fetch finds the verified file and asks nobody.
    fetch(
        &entry(&server.url, sha(&data)),
        dir.path(),
        &quick(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
}

#[test]
fn a_cut_connection_is_resumed_with_a_range_request() {
    let data = body(500_000);
    let server = serve(data.clone(), Mode::CutOnce(123_456));
    let dir = tempfile::tempdir().unwrap();
    let mut retried = false;
    let path = fetch(
        &entry(&server.url, sha(&data)),
        dir.path(),
        &quick(),
        &mut |e| retried |= matches!(e, FetchEvent::Retrying { done: 123_456, .. }),
    )
    .unwrap();
    assert!(retried);
    assert_eq!(std::fs::read(path).unwrap(), data);
    assert_eq!(*server.ranges.lock().unwrap(), vec![None, Some(123_456)]);
}

#[test]
fn a_wrong_sha256_deletes_the_download_and_names_both_sums() {
    let data = body(10_000);
    let server = serve(data, Mode::Normal);
    let dir = tempfile::tempdir().unwrap();
    let wrong = "ab".repeat(32);
    let err = fetch(
        &entry(&server.url, wrong.clone()),
        dir.path(),
        &quick(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, FetchError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains(&wrong), "{err}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "a bad file was left"
    );
}

#[test]
fn not_found_says_so() {
    let server = serve(Vec::new(), Mode::NotFound);
    let dir = tempfile::tempdir().unwrap();
    let err = fetch(
        &entry(&server.url, "ab".repeat(32)),
        dir.path(),
        &quick(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, FetchError::Http { status: 404, .. }), "{err}");
    assert!(err.to_string().contains("not found"), "{err}");
}

#[test]
fn a_slow_server_completes_and_a_stalled_one_gives_up_after_its_attempts() {
    let data = body(40_000);
    let server = serve(data.clone(), Mode::Slow);
    let dir = tempfile::tempdir().unwrap();
    let opts = FetchOptions {
        body_timeout: Duration::from_secs(30),
        ..quick()
    };
    let path = fetch(
        &entry(&server.url, sha(&data)),
        dir.path(),
        &opts,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), data);

    let server = serve(data.clone(), Mode::Stall);
    let dir = tempfile::tempdir().unwrap();
    let err = fetch(
        &entry(&server.url, sha(&data)),
        dir.path(),
        &quick(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(err, FetchError::Network { attempts: 3, .. }),
        "{err}"
    );
}

#[test]
fn a_full_disk_keeps_the_part_and_says_how_to_resume() {
    let mount = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(mount.path())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root)");
        return;
    }
    let data = body(200_000);
    let server = serve(data.clone(), Mode::Normal);
    let result = fetch(
        &entry(&server.url, sha(&data)),
        mount.path(),
        &quick(),
        &mut |_| {},
    );
    let part_len = std::fs::metadata(mount.path().join("model.onnx.part")).map(|m| m.len());
    let _ = std::process::Command::new("umount")
        .arg(mount.path())
        .status();
    let err = result.unwrap_err();
    assert!(matches!(err, FetchError::Io { .. }), "{err}");
    assert!(err.to_string().contains("disk is full"), "{err}");
    assert!(part_len.unwrap() > 0, "the partial download was not kept");
}

#[test]
fn a_mirror_is_tried_first_and_a_file_it_lacks_comes_from_upstream() {
    let data = body(50_000);
    let mirror = serve(Vec::new(), Mode::NotFound);
    let upstream = serve(data.clone(), Mode::Normal);
    let dir = tempfile::tempdir().unwrap();
    let opts = FetchOptions {
        mirrors: vec![format!("{}/models/", mirror.base())],
        ..quick()
    };
    let mut started = Vec::new();
    let path = fetch(
        &entry(&upstream.url, sha(&data)),
        dir.path(),
        &opts,
        &mut |ev| {
            if let FetchEvent::Started { url, .. } = ev {
                started.push(url)
            }
        },
    )
    .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), data);
    assert_eq!(*mirror.paths.lock().unwrap(), ["/models/model.onnx"]);
    assert_eq!(upstream.requests.load(Ordering::SeqCst), 1);
    assert_eq!(started, std::slice::from_ref(&upstream.url));
}

#[test]
fn a_model_without_an_upstream_address_is_fetched_from_a_mirror() {
    let data = body(20_000);
    let mirror = serve(data.clone(), Mode::Normal);
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[[model]]\nid = \"m\"\nfile = \"sub/my model.onnx\"\nsha256 = \"{}\"\n",
        sha(&data)
    );
    let e = easel_models::parse_manifest(&text, Path::new("test"))
        .unwrap()
        .remove(0);
    let err = fetch(&e, dir.path(), &quick(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, FetchError::NoUrls { .. }), "{err}");
    let opts = FetchOptions {
        mirrors: vec![mirror.base()],
        ..quick()
    };
    let path = fetch(&e, dir.path(), &opts, &mut |_| {}).unwrap();
    assert_eq!(path, dir.path().join("my model.onnx"));
    assert_eq!(std::fs::read(path).unwrap(), data);
    // The file name only, escaped.
    assert_eq!(*mirror.paths.lock().unwrap(), ["/my%20model.onnx"]);
}

#[test]
fn a_mirror_that_lacks_the_file_says_so_when_there_is_no_upstream() {
    let mirror = serve(Vec::new(), Mode::NotFound);
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[[model]]\nid = \"m\"\nfile = \"model.onnx\"\nsha256 = \"{}\"\n",
        "ab".repeat(32)
    );
    let e = easel_models::parse_manifest(&text, Path::new("test"))
        .unwrap()
        .remove(0);
    let opts = FetchOptions {
        mirrors: vec![mirror.base()],
        ..quick()
    };
    let err = fetch(&e, dir.path(), &opts, &mut |_| {}).unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Http {
                status: 404,
                from_mirror: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("the mirror does not have"),
        "{err}"
    );
}
