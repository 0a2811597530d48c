//! The daemon: its shared state, the socket, and the accept loop. Each connection is served on
//! its own thread (`session`), which routes requests to `requests` (jobs) and `streams`;
//! answers leave through the connection's writer (see `connection`), and jobs run on the
//! supervisor's slots, so no client can hold up another.

mod requests;
mod session;
mod streams;

use crate::{
    config::Config,
    error::StartError,
    intake::IntakeSettings,
    scheduler::Scheduler,
    supervisor::{self, discovery, LoadOutcome, PluginRecord, Spawner},
};
use easel_ipc::FrameLimits;
use easel_protocol::{OperationInfo, StreamSettings};
use parking_lot::Mutex;
use std::{
    collections::HashMap,
    os::unix::{
        fs::{MetadataExt, PermissionsExt},
        net::{UnixListener, UnixStream},
    },
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

/// The running daemon's shared state.
pub struct Daemon {
    config: Config,
    socket: PathBuf,
    ops: HashMap<String, OperationInfo>,
    /// The operations in the order clients see them.
    listed: Vec<OperationInfo>,
    plugins: Vec<PluginRecord>,
    scheduler: Arc<Scheduler>,
    next_id: AtomicU64,
    /// Open streams, keyed by (connection id, stream id).
    streams: Mutex<HashMap<(u64, u64), StreamSettings>>,
    shutting_down: AtomicBool,
    /// Connections being served, for the idle exit.
    connections: AtomicUsize,
    /// Workers still warming their models (see `Spawner::warming`).
    warming: Arc<AtomicUsize>,
    /// The listening socket's descriptor, to wake the accept loop at shutdown.
    listener_fd: std::os::fd::RawFd,
}

/// Checks that `dir` is this user's folder and nobody else can write in it (so nobody else can
/// put a socket of their own where clients look for ours).
fn check_private_dir(dir: &Path) -> Result<(), StartError> {
    let refuse = |reason: String| StartError::UnsafeSocketDir {
        path: dir.to_path_buf(),
        reason,
    };
    let meta = std::fs::symlink_metadata(dir).map_err(|e| refuse(e.to_string()))?;
    if !meta.is_dir() {
        return Err(refuse("it is not a folder".into()));
    }
    let me = nix::unistd::getuid().as_raw();
    if meta.uid() != me {
        return Err(refuse(format!(
            "it belongs to user {}, not to this user ({me}); another user may be trying to intercept Easel's socket",
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(refuse(format!(
            "other users can write in it (mode {:o}); run `chmod 700 {}`",
            meta.mode() & 0o777,
            dir.display()
        )));
    }
    Ok(())
}

/// Only this user's processes may talk to the daemon. The socket's mode already keeps others
/// out; the peer's credentials are checked too, in case the socket or its folder were opened up.
fn check_peer(stream: &UnixStream) -> Result<(), String> {
    let creds = nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials)
        .map_err(|e| format!("cannot read the peer's credentials: {e}"))?;
    let me = nix::unistd::getuid().as_raw();
    if creds.uid() != me {
        return Err(format!(
            "process {} of user {} is not this daemon's user ({me})",
            creds.pid(),
            creds.uid()
        ));
    }
    Ok(())
}

/// Prepares the socket path: a private folder, no other daemon there, a stale socket removed.
fn claim_socket(path: &Path) -> Result<UnixListener, StartError> {
    let socket_err = |source| StartError::Socket {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(socket_err)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(socket_err)?;
        }
        check_private_dir(dir)?;
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(StartError::AlreadyRunning(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(socket_err)?;
    }
    // The socket is created 0600: nobody else may talk to this user's daemon.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let listener = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = listener.map_err(socket_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(socket_err)?;
    Ok(listener)
}

/// The listening socket systemd passed us (socket activation: `LISTEN_PID` is ours and
/// `LISTEN_FDS` at least 1, the socket on descriptor 3), if it did.
fn activated_listener() -> Option<UnixListener> {
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    let fds: u32 = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    if pid != std::process::id() || fds < 1 {
        return None;
    }
    // SAFETY: systemd's protocol hands this process descriptor 3 as its listening socket.
    let listener = unsafe { <UnixListener as std::os::fd::FromRawFd>::from_raw_fd(3) };
    // Our workers must not inherit it.
    let _ = nix::fcntl::fcntl(
        &listener,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    Some(listener)
}

/// Where the built-in plugins are: next to `easeld` (a build tree) and in `../lib/easel/plugins`
/// (an installed prefix).
fn builtin_plugin_dirs() -> Vec<PathBuf> {
    let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    else {
        return Vec::new();
    };
    vec![exe_dir.join("../lib/easel/plugins"), exe_dir]
}

/// Large buffers pass through the daemon's connection threads (a 4K image is 33 MB as rgba8,
/// 133 MB converted to rgba32f). After the first such buffer is freed, glibc raises its mmap
/// threshold and serves the next ones from per-thread arenas that it keeps: in a 10-minute soak
/// the idle daemon's RSS climbed from 5 MB to 600 MB without any leak. A fixed threshold (1 MiB
/// and more is mapped, and unmapped when freed) and two arenas keep it at its working size.
fn limit_allocator_retention() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Runs the daemon until a `shutdown` request (or, when configured, an idle time) ends it.
pub fn run_daemon(config: Config) -> Result<(), StartError> {
    limit_allocator_retention();
    let activated = activated_listener();
    // An activated daemon serves the socket it was given, wherever that is.
    let socket = activated
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .and_then(|a| a.as_pathname().map(Path::to_path_buf))
        .unwrap_or_else(|| config.socket_path());
    let owns_socket = activated.is_none();
    // Refuse early if another daemon answers, before starting any worker.
    if activated.is_none() && UnixStream::connect(&socket).is_ok() {
        return Err(StartError::AlreadyRunning(socket));
    }
    let spawner = Spawner::from_config(&config)?;
    let builtin = if config.builtin_plugins {
        builtin_plugin_dirs()
    } else {
        Vec::new()
    };
    let found = discovery::discover_plugins(&builtin, &config.plugin_dirs);
    let scheduler = Arc::new(Scheduler::new(
        config.limits.max_queued_jobs,
        config.limits.max_queued_mb.saturating_mul(1 << 20),
    ));
    let plugins = supervisor::start_plugins(
        found,
        &spawner,
        config.workers_per_plugin,
        &config.limits,
        &scheduler,
    );
    let mut ops = HashMap::new();
    let mut listed = Vec::new();
    for rec in &plugins {
        if let LoadOutcome::Loaded {
            name, operations, ..
        } = &rec.outcome
        {
            for op in operations {
                if ops.contains_key(&op.id) {
                    log::warn!(
                        "operation '{}' of plugin '{name}' is already provided; ignored",
                        op.id
                    );
                    continue;
                }
                listed.push(op.clone());
                ops.insert(op.id.clone(), op.clone());
            }
        }
    }
    let listener = match activated {
        Some(l) => {
            log::info!("easeld started by socket activation");
            l
        }
        None => claim_socket(&socket)?,
    };
    log::info!(
        "easeld listening on {} ({} operations)",
        socket.display(),
        ops.len()
    );
    let daemon = Arc::new(Daemon {
        config,
        socket,
        ops,
        listed,
        plugins,
        scheduler,
        next_id: AtomicU64::new(1),
        streams: Mutex::new(HashMap::new()),
        shutting_down: AtomicBool::new(false),
        connections: AtomicUsize::new(0),
        warming: spawner.warming.clone(),
        listener_fd: std::os::fd::AsRawFd::as_raw_fd(&listener),
    });
    if daemon.config.exit_when_idle_s > 0 {
        let d = daemon.clone();
        std::thread::spawn(move || d.exit_when_idle());
    }
    for stream in listener.incoming() {
        if daemon.shutting_down.load(Ordering::SeqCst) {
            break;
        }
        match stream {
            Ok(stream) => {
                if let Err(reason) = check_peer(&stream) {
                    // Not answered: another user learns nothing from this daemon.
                    log::warn!("refused a connection: {reason}");
                    continue;
                }
                let daemon = daemon.clone();
                std::thread::spawn(move || daemon.serve(stream));
            }
            Err(e) => log::warn!("accept failed: {e}"),
        }
    }
    // Slots end and their workers are killed and reaped as their handles drop.
    daemon.scheduler.shutdown();
    // A socket systemd made stays: it starts the next daemon.
    if owns_socket {
        let _ = std::fs::remove_file(&daemon.socket);
    }
    log::info!("shut down on request");
    Ok(())
}

impl Daemon {
    /// Ends the accept loop: sets the flag and wakes `accept`, by a connection to our own socket
    /// or, when its file is gone (a cleaned /tmp or runtime folder), by shutting the listening
    /// socket down, which makes a blocked `accept` return on Linux.
    pub(super) fn stop_accepting(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        if UnixStream::connect(&self.socket).is_err() {
            // The listener outlives every use of this (`run_daemon` holds it until the loop ends).
            let _ = nix::sys::socket::shutdown(self.listener_fd, nix::sys::socket::Shutdown::Read);
        }
    }

    pub(super) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn frame_limits(&self) -> FrameLimits {
        FrameLimits {
            max_json: self.config.limits.max_message_bytes,
            max_payload: self.config.limits.max_inline_bytes,
        }
    }

    pub(super) fn intake(&self) -> IntakeSettings {
        IntakeSettings {
            max_pixels: self.config.limits.max_pixels,
            tile_size: self.config.tile_size,
            tile_overlap: self.config.tile_overlap,
        }
    }

    /// Ends the daemon once no client is connected and no job is queued or running for
    /// `exit_when_idle_s` (a daemon started on demand does not outlive its users).
    fn exit_when_idle(&self) {
        let idle_for = Duration::from_secs(self.config.exit_when_idle_s);
        let mut idle_since = std::time::Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let busy =
                self.connections.load(Ordering::SeqCst) > 0 || self.scheduler.counts() != (0, 0);
            if busy {
                idle_since = std::time::Instant::now();
            } else if idle_since.elapsed() >= idle_for {
                log::info!(
                    "no client and no job for {} s: exiting (started with exit_when_idle_s)",
                    idle_for.as_secs()
                );
                self.stop_accepting();
                return;
            }
        }
    }
}
