//! Regression tests of issue 13 (reliability and security) over the real socket: each one a bug
//! a hostile client found, or a security property the daemon promises.

use easel_ipc::FrameLimits;
use easel_tests::*;
use serde_json::{json, Value};
use std::os::unix::{fs::PermissionsExt, net::UnixStream};
use std::process::Command;

const LIMITS: FrameLimits = FrameLimits {
    max_json: 1 << 24,
    max_payload: 1 << 30,
};

fn raw_client(daemon: &Daemon) -> UnixStream {
    let s = UnixStream::connect(&daemon.socket).unwrap();
    easel_ipc::send(
        &s,
        &json!({"type": "hello", "protocol": 1, "client": "hardening", "features": ["inline"]}),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(read(&s)["type"], "hello");
    s
}

/// The next message that is not an event.
fn read(s: &UnixStream) -> Value {
    loop {
        let v: Value = easel_ipc::read_frame(s, LIMITS).unwrap().parse().unwrap();
        if v["type"] != "progress" && v["type"] != "job_finished" {
            return v;
        }
    }
}

fn send(s: &UnixStream, v: Value, payload: &[u8]) {
    easel_ipc::send(s, &v, payload, &[]).unwrap();
}

fn inline_image(w: u32, h: u32) -> Value {
    json!({"width": w, "height": h, "format": "rgba8", "data": {"inline": 0}})
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn a_second_pending_fetch_is_refused_and_the_first_is_answered() {
    let daemon = Daemon::start(Options::default());
    let s = raw_client(&daemon);
    send(
        &s,
        json!({"type": "submit", "id": 1, "operation": "test-echo", "image": inline_image(2, 2),
               "params": {"sleep_ms": 300}}),
        &[7; 16],
    );
    let job = read(&s)["job"].as_u64().unwrap();
    send(&s, json!({"type": "fetch", "id": 2, "job": job}), &[]);
    send(&s, json!({"type": "fetch", "id": 3, "job": job}), &[]);
    let refused = read(&s);
    assert_eq!(refused["code"], "bad_request", "{refused}");
    assert_eq!(refused["reply_to"], 3, "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("fetch"),
        "{refused}"
    );
    let result = read(&s);
    assert_eq!(result["type"], "result", "{result}");
    assert_eq!(result["reply_to"], 2, "{result}");
}

#[test]
fn an_upscale_whose_result_is_over_max_pixels_is_refused_before_it_runs() {
    let daemon = Daemon::start(Options {
        limits: "max_pixels = 1048576".into(),
        ..Options::default()
    });
    let s = raw_client(&daemon);
    // 600×600 is under the limit; its 4× result (2400×2400) is not.
    send(
        &s,
        json!({"type": "submit", "id": 1, "operation": "upscale-4x", "image": inline_image(600, 600)}),
        &vec![0; 600 * 600 * 4],
    );
    let err = read(&s);
    assert_eq!(err["code"], "too_large", "{err}");
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("2400x2400"), "{err}");
    assert!(message.contains("1048576"), "{err}");
    // Nothing was queued, and the connection still serves.
    send(&s, json!({"type": "status", "id": 2}), &[]);
    let status = read(&s);
    assert_eq!(status["queued"], 0, "{status}");
    assert_eq!(status["running"], 0, "{status}");
}

#[test]
fn lists_given_for_objects_are_refused_naming_the_field() {
    let daemon = Daemon::start(Options::default());
    let s = raw_client(&daemon);
    let cases = [
        (
            json!({"type": "submit", "id": 1, "operation": "invert", "image": inline_image(1, 1),
                   "mask_modifiers": []}),
            "mask_modifiers: invalid type: sequence",
        ),
        (
            json!({"type": "submit", "id": 2, "operation": "invert",
                   "image": [1, 1, "rgba8", null, null, {"inline": 0}]}),
            "image: invalid type: sequence",
        ),
        (
            json!({"type": "submit", "id": 3, "operation": "invert",
                   "image": {"width": 1, "height": 1, "format": "rgba8", "data": [0, 0]}}),
            "image.data: invalid type: sequence",
        ),
        (
            json!({"type": "submit", "id": 4, "operation": "invert",
                   "image": {"width": 1, "height": 1, "format": null, "data": {"inline": 0}}}),
            "image.format: ",
        ),
        (
            json!({"type": "stream_open", "id": 5, "operation": "invert", "mask_modifiers": [1]}),
            "mask_modifiers: invalid type: sequence",
        ),
        (json!(["submit", 6, "invert"]), "must be a JSON object"),
    ];
    for (msg, expected) in cases {
        send(&s, msg.clone(), &[0; 4]);
        let err = read(&s);
        assert_eq!(err["code"], "bad_request", "{msg}: {err}");
        assert!(
            err["message"].as_str().unwrap().contains(expected),
            "{msg}: {err}"
        );
    }
    // The connection still serves.
    send(&s, json!({"type": "status", "id": 9}), &[]);
    assert_eq!(read(&s)["reply_to"], 9);
}

#[test]
fn descriptors_of_refused_requests_are_closed() {
    let daemon = Daemon::start(Options::default());
    // Counted once the start is over (workers warmed).
    assert!(daemon
        .client()
        .wait_ready(std::time::Duration::from_secs(60))
        .unwrap());
    let s = raw_client(&daemon);
    send(&s, json!({"type": "status", "id": 1}), &[]);
    read(&s);
    let before = open_fds(daemon.pid());
    for i in 0..40 {
        let (r, w) = nix::unistd::pipe().unwrap();
        let fds = [std::os::fd::AsFd::as_fd(&r), std::os::fd::AsFd::as_fd(&w)];
        // A pipe cannot hold an image; a wrong-typed request; an unknown operation.
        let msg = match i % 3 {
            0 => json!({"type": "submit", "id": i, "operation": "invert",
                        "image": {"width": 4, "height": 4, "format": "rgba8", "data": {"fd": 0}}}),
            1 => json!({"type": "submit", "id": i, "operation": "invert", "image": []}),
            _ => json!({"type": "submit", "id": i, "operation": "nope",
                        "image": {"width": 4, "height": 4, "format": "rgba8", "data": {"fd": 1}}}),
        };
        easel_ipc::send(&s, &msg, &[], &fds).unwrap();
        let err = read(&s);
        assert_eq!(err["type"], "error", "{err}");
    }
    let list = |pid: u32| -> Vec<String> {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .map(|p| p.display().to_string())
            .collect()
    };
    // The answer can leave before the reader thread drops the last frame: give it a moment.
    for _ in 0..200 {
        if open_fds(daemon.pid()) <= before {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Not more than before (fewer is fine: "before" may hold a descriptor of the start, such as
    // a worker's warm-up, that has gone since).
    let after = open_fds(daemon.pid());
    assert!(
        after <= before,
        "descriptors leaked: {before} before, {after} after: {:?}",
        list(daemon.pid())
    );
}

fn start_easeld(dir: &std::path::Path, socket: &std::path::Path) -> std::process::Output {
    let config = dir.join("easel.toml");
    std::fs::write(
        &config,
        format!("socket = {socket:?}\nbuiltin_plugins = false\nplugin_dirs = []\n"),
    )
    .unwrap();
    Command::new(easeld())
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap()
}

#[test]
fn a_socket_folder_others_can_write_or_another_user_owns_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let open = tmp.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = start_easeld(tmp.path(), &open.join("easeld.sock"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started in a 0777 folder: {stderr}");
    assert!(stderr.contains("other users can write"), "{stderr}");
    assert!(!open.join("easeld.sock").exists());

    if nix::unistd::getuid().is_root() {
        let theirs = tmp.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
        nix::unistd::chown(&theirs, Some(nix::unistd::Uid::from_raw(54321)), None).unwrap();
        let out = start_easeld(tmp.path(), &theirs.join("easeld.sock"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started in another user's folder");
        assert!(stderr.contains("belongs to user 54321"), "{stderr}");
    } else {
        eprintln!("not root: the other-owner case needs chown and was not run");
    }
    // A folder that does not exist is created 0700.
    let fresh = tmp.path().join("fresh").join("easel");
    let sock = fresh.join("easeld.sock");
    let config = tmp.path().join("fresh.toml");
    std::fs::write(
        &config,
        format!("socket = {sock:?}\nbuiltin_plugins = false\nplugin_dirs = []\n"),
    )
    .unwrap();
    let mut child = Command::new(easeld())
        .arg("--config")
        .arg(&config)
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if UnixStream::connect(&sock).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&fresh), 0o700);
    assert_eq!(mode(&sock), 0o600);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn plugin_folders_and_libraries_others_can_write_are_refused_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = plugin_lib("easel_testing_misbehave");
    // A library others can write, in a private folder.
    let private = tmp.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o755)).unwrap();
    let writable_lib = private.join("libeasel_testing_misbehave.so");
    std::fs::copy(&lib, &writable_lib).unwrap();
    std::fs::set_permissions(&writable_lib, std::fs::Permissions::from_mode(0o666)).unwrap();
    // A good library in a folder others can write.
    let open = tmp.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let in_open = open.join("libeasel_testing_misbehave.so");
    std::fs::copy(&lib, &in_open).unwrap();
    std::fs::set_permissions(&in_open, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = tmp.path().join("easeld.sock");
    let config = tmp.path().join("easel.toml");
    std::fs::write(
        &config,
        format!(
            "socket = {sock:?}\nbuiltin_plugins = false\nplugin_dirs = [{private:?}, {open:?}]\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(easeld())
        .arg("--config")
        .arg(&config)
        .spawn()
        .unwrap();
    let mut conn = None;
    for _ in 0..600 {
        if let Ok(s) = UnixStream::connect(&sock) {
            conn = Some(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let s = conn.expect("easeld did not start");
    send(
        &s,
        json!({"type": "hello", "protocol": 1, "client": "hardening", "features": []}),
        &[],
    );
    read(&s);
    send(&s, json!({"type": "list_operations", "id": 1}), &[]);
    let list = read(&s);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(list["operations"], json!([]), "{list}");
    for path in [&writable_lib, &in_open] {
        let rec = list["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["path"] == path.display().to_string())
            .unwrap_or_else(|| panic!("{} not listed: {list}", path.display()));
        assert_eq!(rec["status"], "refused", "{rec}");
        let reason = rec["reason"].as_str().unwrap_or("");
        assert!(reason.contains("other users"), "{reason}");
        assert!(reason.contains("chmod"), "{reason}");
    }
}

const PEER_SCRIPT: &str = r#"
import socket, struct, sys, json
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
m = json.dumps({"type": "hello", "protocol": 1, "client": "other-user", "features": []}).encode()
try:
    s.sendall(struct.pack("<IQ", len(m), 0) + m)
    print("answered" if s.recv(12) else "closed")
except (ConnectionError, BrokenPipeError):
    print("closed")
"#;

#[test]
fn another_local_user_is_refused_by_peer_credentials() {
    let have = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !nix::unistd::getuid().is_root() || !have("useradd") || !have("runuser") || !have("python3")
    {
        eprintln!("needs root, useradd, runuser and python3; not run");
        return;
    }
    let user = "easel-peer-test";
    // Exit code 9: the user exists already (an earlier run).
    let made = Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            user,
        ])
        .status()
        .unwrap();
    assert!(made.success() || made.code() == Some(9), "useradd: {made}");
    let daemon = Daemon::start(Options::default());
    // Open the folder and the socket to everyone: only the credential check stands in the way.
    let dir = daemon.socket.parent().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&daemon.socket, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = Command::new("runuser")
        .args(["-u", user, "--", "python3", "-c", PEER_SCRIPT])
        .arg(&daemon.socket)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        "closed",
        "another user was answered: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = daemon.log();
    assert!(log.contains("refused a connection"), "{log}");
    assert!(log.contains("is not this daemon's user"), "{log}");
    // This user is still served.
    let mut c = daemon.client();
    assert_eq!(c.status().unwrap().0, 0);
    let _ = Command::new("userdel").arg(user).status();
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn the_daemon_gives_memory_back_after_large_jobs() {
    let daemon = Daemon::start(Options::default());
    let (w, h) = (2048u32, 2048u32);
    let img = shared(&rgba8(w, h, |x, y| [x as u8, y as u8, 7, 255]));
    let mut c = daemon.client();
    let job = c.submit("invert", &img, None, &[], json!({})).unwrap();
    c.wait(job, |_, _| {}).unwrap();
    let before = rss_kib(daemon.pid());
    // Large buffers on several connection threads at once, several times.
    for _ in 0..3 {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let mut c = daemon.client();
                let img = shared(&rgba8(w, h, |x, y| [y as u8, x as u8, 9, 255]));
                std::thread::spawn(move || {
                    let job = c.submit("invert", &img, None, &[], json!({})).unwrap();
                    c.wait(job, |_, _| {}).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
    let after = rss_kib(daemon.pid());
    // Each job held 2048×2048 rgba32f (64 MiB) in the daemon; none of it may stay resident.
    assert!(
        after < before + 48 * 1024,
        "the idle daemon kept {} MiB after the jobs ({before} KiB before, {after} KiB after)",
        (after - before) / 1024
    );
}
