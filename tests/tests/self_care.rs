//! A daemon that looks after itself: it exits when idle after an on-demand start, takes its
//! socket from systemd (socket activation), keeps a persistent log, its workers unload models
//! nobody uses, and concurrent starters start one daemon, not several.

use easel_client::Client;
use easel_tests::*;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("easel.toml");
    std::fs::write(
        &path,
        format!(
            "socket = {:?}\nlog_file = {:?}\nmodel_dirs = [{:?}]\nthreads = 1\n{extra}\n",
            dir.join("easeld.sock"),
            dir.join("state").join("easeld.log"),
            shared_dir().join("models"),
        ),
    )
    .unwrap();
    path
}

#[test]
fn an_on_demand_daemon_exits_when_idle_and_keeps_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let mut child = Command::new(easeld())
        .args(["--config", cfg.to_str().unwrap(), "--exit-when-idle", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let socket = dir.path().join("easeld.sock");
    wait_until("the daemon answering", Duration::from_secs(60), || {
        Client::connect(&socket).is_ok()
    });
    // While a client stays connected it stays up.
    let c = Client::connect(&socket).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "it exited with a client connected"
    );
    drop(c);
    wait_until("the idle exit", Duration::from_secs(20), || {
        child.try_wait().unwrap().is_some()
    });
    assert!(child.wait().unwrap().success());
    assert!(!socket.exists(), "its socket was left behind");
    let log = std::fs::read_to_string(dir.path().join("state/easeld.log")).unwrap();
    assert!(
        log.contains("easeld listening on") && log.contains("exiting"),
        "{log}"
    );
}

#[test]
fn an_on_demand_daemon_whose_socket_file_was_removed_still_exits_when_idle() {
    // A cleaned /tmp or runtime folder: nobody can reach the daemon any more, and its idle exit
    // (which used to wake its accept loop through that file) must still happen.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let mut child = Command::new(easeld())
        .args(["--config", cfg.to_str().unwrap(), "--exit-when-idle", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let socket = dir.path().join("easeld.sock");
    wait_until("the daemon answering", Duration::from_secs(60), || {
        Client::connect(&socket).is_ok()
    });
    std::fs::remove_file(&socket).unwrap();
    wait_until("the idle exit", Duration::from_secs(20), || {
        child.try_wait().unwrap().is_some()
    });
    assert!(child.wait().unwrap().success());
}

#[test]
fn socket_activation_serves_on_the_socket_systemd_passes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let path = dir.path().join("activated.sock");
    let listener = UnixListener::bind(&path).unwrap();
    // As systemd does: the listening socket on descriptor 3, LISTEN_PID set to the daemon's pid.
    let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    let script = format!(
        "exec 3<&{fd}; LISTEN_PID=$$ LISTEN_FDS=1 exec {} --config {}",
        easeld().display(),
        cfg.display()
    );
    // The listener must survive exec in the shell: clear close-on-exec on it.
    nix::fcntl::fcntl(
        &listener,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .unwrap();
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(listener);
    wait_until(
        "the activated daemon answering",
        Duration::from_secs(60),
        || Client::connect(&path).is_ok(),
    );
    let mut c = Client::connect(&path).unwrap();
    assert!(!c.operations().unwrap().operations.is_empty());
    // It did not create the configured socket: it serves the one it was given.
    assert!(!dir.path().join("easeld.sock").exists());
    c.shutdown().unwrap();
    wait_until("the daemon stopping", Duration::from_secs(20), || {
        child.try_wait().unwrap().is_some()
    });
}

#[test]
fn workers_unload_models_nobody_uses() {
    let daemon = Daemon::start(Options {
        extra: "model_idle_unload_s = 1".into(),
        ..Options::default()
    });
    let mut c = daemon.client();
    let img = shared(&load_photo("car-1.jpg"));
    let job = c
        .submit(
            "remove-background",
            &img,
            None,
            &[],
            serde_json::json!({"params": {"model": "u2netp"}}),
        )
        .unwrap();
    c.wait(job, |_, _| {}).unwrap();
    wait_until("the models being unloaded", Duration::from_secs(30), || {
        daemon.log().contains("unloading the models")
    });
}

#[test]
fn concurrent_starters_start_one_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let socket = dir.path().join("easeld.sock");
    let starters: Vec<_> = (0..3)
        .map(|_| {
            let (socket, cfg) = (socket.clone(), cfg.clone());
            std::thread::spawn(move || {
                Client::connect_or_start(&socket, &easeld(), Some(&cfg), Duration::from_secs(60))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    for s in starters {
        s.join().unwrap().unwrap();
    }
    let running = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|cmd| {
            let cmd = String::from_utf8_lossy(cmd);
            cmd.contains("easeld") && cmd.contains(socket.to_str().unwrap())
        })
        .count();
    assert_eq!(running, 1, "concurrent starters started {running} daemons");
    let mut c = Client::connect(&socket).unwrap();
    c.shutdown().unwrap();
}

/// The messages of one remove-background job's progress.
fn progress_of_first_job(daemon: &Daemon) -> Vec<String> {
    let mut c = daemon.client();
    let img = shared(&load_photo("car-1.jpg"));
    let job = c
        .submit(
            "remove-background",
            &img,
            None,
            &[],
            serde_json::json!({"params": {"model": "u2netp"}}),
        )
        .unwrap();
    let mut messages = Vec::new();
    c.wait(job, |_, m| messages.push(m.to_string())).unwrap();
    messages
}

#[test]
fn a_daemon_says_when_its_warm_models_are_loaded() {
    // Warming u2netp: once the daemon says it is ready, the first job loads nothing.
    let warm = Daemon::start(Options {
        extra: "warm_models = [\"u2netp\"]".into(),
        ..Options::default()
    });
    let mut c = warm.client();
    assert!(
        c.wait_ready(Duration::from_secs(60)).unwrap(),
        "never ready"
    );
    assert_eq!(c.daemon_status().unwrap().warming, 0);
    assert!(warm.log().contains("warmed: u2netp"), "{}", warm.log());
    let messages = progress_of_first_job(&warm);
    assert!(
        !messages.iter().any(|m| m.starts_with("loading model")),
        "a warmed model was loaded again: {messages:?}"
    );
    // Warming nothing: ready at once, and the first job shows the model loading.
    let cold = Daemon::start(Options {
        extra: "warm_models = []".into(),
        ..Options::default()
    });
    let mut c = cold.client();
    assert!(c.wait_ready(Duration::from_secs(10)).unwrap());
    let messages = progress_of_first_job(&cold);
    assert!(
        messages.iter().any(|m| m == "loading model u2netp"),
        "no loading message: {messages:?}"
    );
}
