//! The daemon: the socket, client connections, and the dispatch of each request. Requests are
//! read on one thread per connection; answers leave through the connection's writer (see
//! `connection`), and jobs run on the supervisor's slots, so no client can hold up another.

use crate::{
    config::Config,
    connection::Connection,
    error::StartError,
    intake::{prepare, IntakeSettings},
    jobs::{JobState, SharedImage},
    scheduler::Scheduler,
    supervisor::{self, discovery, LoadOutcome, PluginRecord, Spawner},
};
use easel_ipc::{read_frame, resolve_image, Frame, FrameLimits, TransportError};
use easel_protocol::{
    params::resolve_params, Code, Envelope, Feature, HelloReply, ImageLayout, Limits,
    OperationInfo, Priority, ProtocolError, Request, ServerMessage, StreamFrame, StreamOpen,
    StreamSettings, Submit, PROTOCOL_VERSION, SERVER_FEATURES,
};
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

fn unknown_job(job: u64) -> ProtocolError {
    ProtocolError::new(
        Code::UnknownJob,
        format!("no job {job} on this connection (finished and fetched, or never submitted here)"),
    )
}

fn unknown_stream(stream: u64) -> ProtocolError {
    ProtocolError::new(
        Code::UnknownJob,
        format!("no stream {stream} on this connection"),
    )
}

impl Daemon {
    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn frame_limits(&self) -> FrameLimits {
        FrameLimits {
            max_json: self.config.limits.max_message_bytes,
            max_payload: self.config.limits.max_inline_bytes,
        }
    }

    fn intake(&self) -> IntakeSettings {
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
                self.shutting_down.store(true, Ordering::SeqCst);
                let _ = UnixStream::connect(&self.socket);
                return;
            }
        }
    }

    /// One client connection, from hello to close.
    fn serve(self: Arc<Self>, stream: UnixStream) {
        self.connections.fetch_add(1, Ordering::SeqCst);
        self.serve_connection(stream);
        self.connections.fetch_sub(1, Ordering::SeqCst);
    }

    fn serve_connection(&self, stream: UnixStream) {
        let conn = match Connection::new(self.next_id(), &stream) {
            Ok(c) => c,
            Err(e) => {
                log::warn!("cannot serve a connection: {e}");
                return;
            }
        };
        if self.handshake(&stream, &conn) {
            loop {
                match read_frame(&stream, self.frame_limits()) {
                    Ok(frame) => self.handle(&conn, frame),
                    Err(TransportError::Closed) => break,
                    Err(
                        e @ (TransportError::TooLarge { .. }
                        | TransportError::TooManyDescriptors { .. }),
                    ) => {
                        // The rest of that frame is still in the socket: we cannot resynchronise.
                        conn.send_error(&e.into(), None, None);
                        break;
                    }
                    Err(e) => {
                        log::debug!("connection {}: {e}", conn.id);
                        break;
                    }
                }
            }
        }
        // A client that left does not want its unfinished jobs.
        let jobs: Vec<_> = conn.jobs.lock().drain().map(|(_, j)| j).collect();
        for job in jobs {
            self.cancel_job(&job);
        }
        self.streams
            .lock()
            .retain(|(owner, _), _| *owner != conn.id);
        conn.flush(Duration::from_secs(1));
        conn.close();
    }

    fn handshake(&self, stream: &UnixStream, conn: &Arc<Connection>) -> bool {
        let frame = match read_frame(stream, self.frame_limits()) {
            Ok(f) => f,
            Err(
                e @ (TransportError::TooLarge { .. } | TransportError::TooManyDescriptors { .. }),
            ) => {
                conn.send_error(&e.into(), None, None);
                conn.flush(Duration::from_secs(1));
                return false;
            }
            Err(_) => return false,
        };
        let refuse = |err: ProtocolError| {
            conn.send_error(
                &err,
                frame.parse::<Envelope>().ok().and_then(|e| e.id),
                None,
            );
            conn.flush(Duration::from_secs(1));
            false
        };
        match frame.parse_request() {
            Ok(Request::Hello(hello)) => {
                if hello.protocol != PROTOCOL_VERSION {
                    return refuse(ProtocolError::new(
                        Code::UnsupportedProtocol,
                        format!(
                            "this daemon speaks protocol {PROTOCOL_VERSION}, the client asked for {}",
                            hello.protocol
                        ),
                    ));
                }
                conn.set_fd_ok(hello.features.contains(&Feature::Fd));
                log::debug!("connection {}: hello from '{}'", conn.id, hello.client);
                let l = &self.config.limits;
                conn.send(ServerMessage::Hello(HelloReply {
                    protocol: PROTOCOL_VERSION,
                    server: format!("easeld/{}", env!("CARGO_PKG_VERSION")),
                    features: SERVER_FEATURES.to_vec(),
                    limits: Limits {
                        max_pixels: l.max_pixels,
                        max_message_bytes: l.max_message_bytes,
                        max_inline_bytes: l.max_inline_bytes,
                    },
                }));
                true
            }
            Ok(_) => refuse(ProtocolError::bad_request(
                "the first message must be a hello",
            )),
            Err(e) => {
                let envelope = frame.parse::<Envelope>().unwrap_or_default();
                let is_hello = envelope.kind.as_deref() == Some("hello");
                match &envelope.protocol {
                    // The version is what matters first, whatever else the hello lacks.
                    Some(p) if is_hello && p.as_u64() != Some(PROTOCOL_VERSION.into()) => {
                        refuse(ProtocolError::new(
                            Code::UnsupportedProtocol,
                            format!(
                                "this daemon speaks protocol {PROTOCOL_VERSION} (an integer), the client asked for {p}"
                            ),
                        ))
                    }
                    _ if is_hello => refuse(ProtocolError::bad_request(format!("bad hello: {e}"))),
                    _ => refuse(ProtocolError::bad_request(format!(
                        "the first message must be a hello; got {}",
                        describe_bad_request(&frame, &e)
                    ))),
                }
            }
        }
    }

    fn handle(&self, conn: &Arc<Connection>, frame: Frame) {
        let request = match frame.parse_request() {
            Ok(r) => r,
            Err(e) => {
                let id = frame.parse::<Envelope>().ok().and_then(|e| e.id);
                conn.send_error(
                    &ProtocolError::bad_request(describe_bad_request(&frame, &e)),
                    id,
                    None,
                );
                return;
            }
        };
        let id = request.id();
        match request {
            Request::Hello(_) => conn.send_error(
                &ProtocolError::bad_request("hello was already received on this connection"),
                id,
                None,
            ),
            Request::ListOperations { .. } => conn.send(ServerMessage::Operations {
                reply_to: id,
                operations: self.listed.clone(),
                plugins: self.plugins.iter().map(PluginRecord::status).collect(),
            }),
            Request::Submit(req) => {
                if let Err(e) = self.submit(conn, &req, &frame) {
                    conn.send_error(&e, id, None);
                }
            }
            // Look the job up before acting: finishing a job takes the jobs lock again.
            Request::Fetch { job, .. } => match self.job_of(conn, job) {
                Some(j) => j.fetch(conn, id),
                None => conn.send_error(&unknown_job(job), id, Some(job)),
            },
            Request::Cancel { job, .. } => match self.job_of(conn, job) {
                Some(j) => {
                    conn.send(ServerMessage::Cancelling { reply_to: id, job });
                    self.cancel_job(&j);
                }
                None => conn.send_error(&unknown_job(job), id, Some(job)),
            },
            Request::Status { .. } => {
                let (queued, running) = self.scheduler.counts();
                conn.send(ServerMessage::Status {
                    reply_to: id,
                    queued,
                    running,
                    socket: self.socket.display().to_string(),
                });
            }
            Request::Echo { image, .. } => match self.echo(&image, &frame) {
                Ok(shared) => conn.send_with_image(
                    ServerMessage::Echo {
                        reply_to: id,
                        image: shared.wire_ref(0),
                    },
                    Arc::new(shared),
                ),
                Err(e) => conn.send_error(&e, id, None),
            },
            Request::StreamOpen(open) => self.stream_open(conn, open),
            Request::StreamFrame(f) => self.stream_frame(conn, f, &frame),
            Request::StreamClose { stream, .. } => self.stream_close(conn, id, stream),
            Request::Shutdown { .. } => {
                conn.send(ServerMessage::ShuttingDown { reply_to: id });
                conn.flush(Duration::from_secs(1));
                self.shutting_down.store(true, Ordering::SeqCst);
                // Wake the accept loop so it sees the flag.
                let _ = UnixStream::connect(&self.socket);
            }
        }
    }

    fn unknown_operation(&self, name: &str) -> ProtocolError {
        let refused: Vec<String> = self
            .plugins
            .iter()
            .filter_map(|p| match &p.outcome {
                LoadOutcome::Refused(r) => Some(format!("{} ({r})", p.path.display())),
                _ => None,
            })
            .collect();
        let mut known: Vec<&str> = self.ops.keys().map(String::as_str).collect();
        known.sort();
        let mut message = format!("no operation '{name}'; available: {}", known.join(", "));
        if !refused.is_empty() {
            message.push_str(&format!("; refused plugins: {}", refused.join("; ")));
        }
        ProtocolError::new(Code::UnknownOperation, message)
    }

    fn job_of(&self, conn: &Connection, job: u64) -> Option<Arc<JobState>> {
        conn.jobs.lock().get(&job).cloned()
    }

    fn cancel_job(&self, job: &Arc<JobState>) {
        job.mark_cancelled();
        if let Some(j) = self.scheduler.remove(job.id) {
            j.finish(Err(ProtocolError::cancelled()));
        }
    }

    fn submit(
        &self,
        conn: &Arc<Connection>,
        req: &Submit,
        frame: &Frame,
    ) -> Result<(), ProtocolError> {
        let op = self
            .ops
            .get(&req.operation)
            .ok_or_else(|| self.unknown_operation(&req.operation))?;
        let work = prepare(op, req, frame, &self.intake())?;
        let id = self.next_id();
        let job = Arc::new(JobState::new(
            id,
            &req.operation,
            &op.plugin,
            req.priority,
            None,
            conn,
            work,
        ));
        conn.jobs.lock().insert(id, job.clone());
        if let Err(e) = self.scheduler.push(job) {
            conn.jobs.lock().remove(&id);
            return Err(e);
        }
        conn.send(ServerMessage::Accepted {
            reply_to: req.id,
            job: id,
        });
        Ok(())
    }

    fn stream_open(&self, conn: &Arc<Connection>, open: StreamOpen) {
        let settings = open.settings;
        let result = match self.ops.get(&settings.operation) {
            Some(op) => resolve_params(op, &settings.params).map(|_| ()),
            None => Err(self.unknown_operation(&settings.operation)),
        };
        match result {
            Ok(()) => {
                let stream = self.next_id();
                self.streams.lock().insert((conn.id, stream), settings);
                conn.send(ServerMessage::StreamOpened {
                    reply_to: open.id,
                    stream,
                });
            }
            Err(e) => conn.send_error(&e, open.id, None),
        }
    }

    fn stream_frame(&self, conn: &Arc<Connection>, f: StreamFrame, frame: &Frame) {
        let (stream, seq) = (f.stream, f.seq);
        let frame_error = |e: ProtocolError| {
            conn.send(ServerMessage::FrameError {
                stream,
                seq,
                code: e.code,
                fault: e.fault(),
                message: e.message,
            });
        };
        let Some(s) = self.streams.lock().get(&(conn.id, stream)).cloned() else {
            return frame_error(unknown_stream(stream));
        };
        let Some(op) = self.ops.get(&s.operation) else {
            return frame_error(self.unknown_operation(&s.operation));
        };
        let req = Submit {
            id: None,
            operation: s.operation,
            params: s.params,
            image: f.image,
            mask: f.mask,
            references: Vec::new(),
            mask_modifiers: s.mask_modifiers,
            context_margin: s.context_margin,
            priority: Priority::Interactive,
            result_format: None,
            name: None,
        };
        let work = match prepare(op, &req, frame, &self.intake()) {
            Ok(w) => w,
            Err(e) => return frame_error(e),
        };
        let id = self.next_id();
        let job = Arc::new(JobState::new(
            id,
            &req.operation,
            &op.plugin,
            Priority::Interactive,
            Some((stream, seq)),
            conn,
            work,
        ));
        conn.jobs.lock().insert(id, job.clone());
        if let Some(old) = self.scheduler.push_frame(job) {
            conn.jobs.lock().remove(&old.id);
            if let Some((s, old_seq)) = old.stream {
                conn.send(ServerMessage::FrameDropped {
                    stream: s,
                    seq: old_seq,
                    reason: "superseded".into(),
                });
            }
        }
    }

    fn stream_close(&self, conn: &Arc<Connection>, id: Option<u64>, stream: u64) {
        if self.streams.lock().remove(&(conn.id, stream)).is_none() {
            return conn.send_error(&unknown_stream(stream), id, None);
        }
        let waiting: Vec<_> = conn
            .jobs
            .lock()
            .values()
            .filter(|j| j.stream.map(|s| s.0) == Some(stream))
            .cloned()
            .collect();
        for j in waiting {
            self.cancel_job(&j);
        }
        conn.send(ServerMessage::StreamClosed {
            reply_to: id,
            stream,
        });
    }

    /// The pixels of `r`, copied tightly packed into shared memory (transport checks).
    fn echo(
        &self,
        r: &easel_protocol::ImageRef,
        frame: &Frame,
    ) -> Result<SharedImage, ProtocolError> {
        let (layout, bytes) = resolve_image(r, frame, self.config.limits.max_pixels, "image")?;
        let view = easel_imaging::ImageView::new(layout, &bytes)
            .map_err(|e| ProtocolError::invalid_image(e.to_string()))?;
        let packed = ImageLayout::packed(layout.width, layout.height, layout.format);
        let len = packed.required_len().unwrap_or(0);
        let mut mem = easel_ipc::SharedMem::create(len)
            .map_err(|e| ProtocolError::internal(format!("cannot allocate shared memory: {e}")))?;
        if layout.is_packed() {
            mem.as_mut_slice()[..len].copy_from_slice(&bytes[..len]);
        } else {
            let copy = easel_imaging::convert(&view, layout.format);
            mem.as_mut_slice()[..len].copy_from_slice(&copy.data);
        }
        Ok(SharedImage {
            layout: packed,
            mem,
        })
    }
}

/// Says what is wrong with a request that did not parse, in the client's terms.
fn describe_bad_request(frame: &Frame, err: &TransportError) -> String {
    if let TransportError::Malformed(_) = err {
        return err.to_string();
    }
    let envelope = match frame.parse::<Envelope>() {
        Ok(e) => e,
        Err(_) if matches!(err, TransportError::Message(_)) => return err.to_string(),
        Err(e) => return format!("the message is not an object with a \"type\": {e}"),
    };
    match envelope.kind.as_deref() {
        None => "the message has no \"type\" (a string)".to_string(),
        Some(t) if !Request::TYPES.contains(&t) => format!(
            "unknown message type '{t}'; known: {}",
            Request::TYPES.join(", ")
        ),
        Some(t) => format!("bad '{t}' request: {err}"),
    }
}
