//! easel-client: the Rust client of the Easel protocol — connect (starting the daemon when
//! asked), list operations, submit jobs with pixels in shared memory, follow progress, fetch
//! results, cancel, and stream video frames. Every message is a typed `easel_protocol` value.

use easel_imaging::{ImageView, OwnedImage};
use easel_ipc::{map_input, read_frame, Frame, FrameLimits, SharedMem, TransportError};
use easel_protocol::{
    DataRef, Feature, Hello, HelloReply, ImageRef, JobResult as ResultMsg, MaskModifiers,
    OperationInfo, PixelFormat, PluginStatus, Priority, Request, ServerMessage, StreamFrame,
    StreamOpen, StreamSettings, Submit, PROTOCOL_VERSION,
};
use serde::Deserialize;
use serde_json::Value;
use std::{
    collections::{BTreeMap, VecDeque},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

pub use easel_ipc::paths::default_socket_path;
pub use easel_protocol as protocol;

const CLIENT_LIMITS: FrameLimits = FrameLimits {
    max_json: 1 << 26,
    max_payload: 1 << 34,
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the Easel daemon is not reachable at {path}: {source}")]
    Unavailable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not start the Easel daemon ({exe}): {message}")]
    StartFailed { exe: PathBuf, message: String },
    #[error("{message} [{code}]")]
    Daemon {
        code: easel_protocol::Code,
        fault: easel_protocol::Fault,
        message: String,
    },
    #[error("connection to the daemon failed: {0}")]
    Transport(#[from] TransportError),
    #[error("unexpected answer from the daemon: {0}")]
    Protocol(String),
    #[error("bad submit options: {0}")]
    Options(serde_json::Error),
}

impl ClientError {
    /// The daemon's error code, for errors the daemon sent.
    pub fn code(&self) -> Option<easel_protocol::Code> {
        match self {
            ClientError::Daemon { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<easel_protocol::ErrorMessage> for ClientError {
    fn from(e: easel_protocol::ErrorMessage) -> Self {
        ClientError::Daemon {
            code: e.code,
            fault: e.fault,
            message: e.message,
        }
    }
}

/// A message from the daemon, with the frame that carried it (for its pixels).
#[derive(Debug)]
pub struct Message {
    pub msg: ServerMessage,
    frame: Frame,
}

impl Message {
    /// The message's `type`.
    pub fn kind(&self) -> &'static str {
        self.msg.kind()
    }

    /// The message as JSON (for tests and logs that look at the wire form).
    pub fn json(&self) -> Value {
        serde_json::to_value(&self.msg).unwrap_or(Value::Null)
    }

    /// The image this message carries, copied out tightly packed.
    pub fn image(&self) -> Result<OwnedImage, ClientError> {
        let r = self.msg.image().ok_or_else(|| {
            ClientError::Protocol(format!("a '{}' carries no image", self.kind()))
        })?;
        image_of(r, &self.frame)
    }
}

fn image_of(r: &ImageRef, frame: &Frame) -> Result<OwnedImage, ClientError> {
    let layout = r
        .layout(u64::MAX)
        .map_err(|e| ClientError::Protocol(e.message))?;
    let len = layout.required_len().unwrap_or(0);
    let bytes: Vec<u8> = match r.data {
        DataRef::Fd { fd, offset } => {
            let fd = frame
                .fds
                .get(fd)
                .ok_or_else(|| ClientError::Protocol("image descriptor missing".into()))?;
            map_input(fd, offset, len)
                .map_err(|e| ClientError::Protocol(e.to_string()))?
                .to_vec()
        }
        DataRef::Inline { inline } => {
            let start = usize::try_from(inline).unwrap_or(usize::MAX);
            frame
                .payload
                .get(start..start.saturating_add(len))
                .ok_or_else(|| ClientError::Protocol("inline image out of range".into()))?
                .to_vec()
        }
    };
    let view = ImageView::new(layout, &bytes).map_err(|e| ClientError::Protocol(e.to_string()))?;
    Ok(easel_imaging::convert(&view, layout.format))
}

/// An image placed in shared memory, ready to be sent.
pub struct SharedInput {
    pub reference: ImageRef,
    mem: SharedMem,
}

impl SharedInput {
    pub fn new(image: &OwnedImage) -> Result<Self, ClientError> {
        let mem = SharedMem::from_bytes(&image.data).map_err(TransportError::Io)?;
        Ok(SharedInput {
            reference: ImageRef::new(&image.layout(), DataRef::Fd { fd: 0, offset: 0 }),
            mem,
        })
    }

    /// The shared memory's descriptor, for requests built by hand.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.mem.fd()
    }

    /// Its reference, pointing at descriptor `fd` of the frame it goes in.
    fn at(&self, fd: usize) -> ImageRef {
        ImageRef {
            data: DataRef::Fd { fd, offset: 0 },
            ..self.reference.clone()
        }
    }
}

/// What a submit may set besides the operation and the images.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitOptions {
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    #[serde(default)]
    pub mask_modifiers: MaskModifiers,
    #[serde(default)]
    pub context_margin: Option<u32>,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub result_format: Option<PixelFormat>,
    #[serde(default)]
    pub name: Option<String>,
}

/// A finished job.
#[derive(Debug)]
pub struct JobResult {
    pub image: OwnedImage,
    pub x: u64,
    pub y: u64,
    pub name: String,
    /// The whole `result` message (seed, scale, elapsed time).
    pub message: ResultMsg,
}

/// The daemon's answer to `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonStatus {
    pub queued: usize,
    pub running: usize,
    pub socket: String,
    /// Workers still loading the models the configuration warms at start; 0 when ready.
    pub warming: usize,
}

/// The daemon's answer to `list_operations`.
#[derive(Debug, Clone)]
pub struct Operations {
    pub operations: Vec<OperationInfo>,
    pub plugins: Vec<PluginStatus>,
}

impl Operations {
    /// As the daemon sent it (`{"operations": [...], "plugins": [...]}`).
    pub fn json(&self) -> Value {
        serde_json::json!({"operations": self.operations, "plugins": self.plugins})
    }
}

pub struct Client {
    sock: UnixStream,
    next_id: u64,
    backlog: VecDeque<Message>,
    pub hello: HelloReply,
}

impl Client {
    /// Connects and says hello.
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let sock = UnixStream::connect(path).map_err(|source| ClientError::Unavailable {
            path: path.to_path_buf(),
            source,
        })?;
        let hello = Request::Hello(Hello {
            id: None,
            protocol: PROTOCOL_VERSION,
            client: format!("easel-rs/{}", env!("CARGO_PKG_VERSION")),
            features: vec![Feature::Fd, Feature::Inline],
        });
        easel_ipc::send(&sock, &hello, &[], &[])?;
        let frame = read_frame(&sock, CLIENT_LIMITS)?;
        let reply = match frame.parse::<ServerMessage>()? {
            ServerMessage::Hello(h) => h,
            ServerMessage::Error(e) => return Err(e.into()),
            other => {
                return Err(ClientError::Protocol(format!(
                    "answered hello with '{}'",
                    other.kind()
                )))
            }
        };
        Ok(Client {
            sock,
            next_id: 1,
            backlog: VecDeque::new(),
            hello: reply,
        })
    }

    /// Connects, starting `easeld` (detached, logging to a file beside the socket, exiting
    /// after [`ON_DEMAND_IDLE_EXIT_S`] without clients) if nothing answers. The lock file
    /// `<socket>.lock`, which the Python client takes too, makes concurrent starters start one.
    pub fn connect_or_start(
        path: &Path,
        daemon: &Path,
        config: Option<&Path>,
        wait: Duration,
    ) -> Result<Client, ClientError> {
        if let Ok(c) = Client::connect(path) {
            return Ok(c);
        }
        let failed = |message: String| ClientError::StartFailed {
            exe: daemon.to_path_buf(),
            message,
        };
        let log_path = path.with_extension("log");
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _lock = StartLock::take(path, wait).map_err(|e| failed(e.to_string()))?;
        // Another client may have started it while we waited for the lock.
        if let Ok(c) = Client::connect(path) {
            return Ok(c);
        }
        let log = std::fs::File::create(&log_path)
            .map_err(|e| failed(format!("cannot create its log {}: {e}", log_path.display())))?;
        let mut cmd = Command::new(daemon);
        cmd.arg("--socket")
            .arg(path)
            .arg("--exit-when-idle")
            .arg(ON_DEMAND_IDLE_EXIT_S.to_string());
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        let stderr = log.try_clone().map_err(|e| failed(e.to_string()))?;
        use std::os::unix::process::CommandExt;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .map_err(|e| failed(e.to_string()))?;
        let deadline = Instant::now() + wait;
        loop {
            if let Ok(c) = Client::connect(path) {
                return Ok(c);
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(failed(format!("it exited ({status}): {}", log.trim())));
            }
            if Instant::now() > deadline {
                return Err(failed(format!(
                    "no answer on {} after {wait:?}; see {}",
                    path.display(),
                    log_path.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends any serialisable message as one frame.
    pub fn send<T: serde::Serialize>(
        &mut self,
        msg: &T,
        payload: &[u8],
        fds: &[std::os::fd::BorrowedFd<'_>],
    ) -> Result<(), ClientError> {
        Ok(easel_ipc::send(&self.sock, msg, payload, fds)?)
    }

    fn read(&mut self) -> Result<Message, ClientError> {
        let frame = read_frame(&self.sock, CLIENT_LIMITS)?;
        let msg = frame.parse::<ServerMessage>()?;
        Ok(Message { msg, frame })
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Waits for the answer to request `id`; events that arrive meanwhile are kept.
    fn answer(&mut self, id: u64) -> Result<Message, ClientError> {
        loop {
            let m = self.read()?;
            if m.msg.reply_to() == Some(id) {
                if let ServerMessage::Error(e) = m.msg {
                    return Err(e.into());
                }
                return Ok(m);
            }
            if let ServerMessage::Error(e) = &m.msg {
                if e.reply_to.is_none() && e.job.is_none() {
                    return Err(e.clone().into());
                }
            }
            self.backlog.push_back(m);
        }
    }

    /// Sends `req` with a fresh id and returns the answer to it.
    pub fn request(
        &mut self,
        req: impl FnOnce(Option<u64>) -> Request,
        payload: &[u8],
        fds: &[std::os::fd::BorrowedFd<'_>],
    ) -> Result<Message, ClientError> {
        let id = self.take_id();
        self.send(&req(Some(id)), payload, fds)?;
        self.answer(id)
    }

    /// Sends a hand-written JSON request (tests of the wire) with a fresh id; returns its answer.
    pub fn request_json(
        &mut self,
        mut msg: Value,
        payload: &[u8],
        fds: &[std::os::fd::BorrowedFd<'_>],
    ) -> Result<Message, ClientError> {
        let id = self.take_id();
        if let Some(obj) = msg.as_object_mut() {
            obj.insert("id".into(), Value::from(id));
        }
        self.send(&msg, payload, fds)?;
        self.answer(id)
    }

    /// The next event (progress, frame, …), from the backlog first; `None` on time-out.
    pub fn next_event(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<Message>, ClientError> {
        if let Some(m) = self.backlog.pop_front() {
            return Ok(Some(m));
        }
        self.sock
            .set_read_timeout(timeout)
            .map_err(TransportError::Io)?;
        let r = self.read();
        self.sock
            .set_read_timeout(None)
            .map_err(TransportError::Io)?;
        match r {
            Ok(m) => Ok(Some(m)),
            Err(ClientError::Transport(TransportError::Sys(nix::Error::EAGAIN))) => Ok(None),
            Err(ClientError::Transport(TransportError::Io(e)))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    pub fn operations(&mut self) -> Result<Operations, ClientError> {
        let m = self.request(|id| Request::ListOperations { id }, &[], &[])?;
        match m.msg {
            ServerMessage::Operations {
                operations,
                plugins,
                ..
            } => Ok(Operations {
                operations,
                plugins,
            }),
            other => Err(unexpected("operations", &other)),
        }
    }

    /// `(queued, running, socket)`.
    pub fn status(&mut self) -> Result<(usize, usize, String), ClientError> {
        let s = self.daemon_status()?;
        Ok((s.queued, s.running, s.socket))
    }

    /// The daemon's queue, its socket, and whether it is still warming models.
    pub fn daemon_status(&mut self) -> Result<DaemonStatus, ClientError> {
        match self.request(|id| Request::Status { id }, &[], &[])?.msg {
            ServerMessage::Status {
                queued,
                running,
                socket,
                warming,
                ..
            } => Ok(DaemonStatus {
                queued,
                running,
                socket,
                warming,
            }),
            other => Err(unexpected("status", &other)),
        }
    }

    /// Waits until no worker is warming models any more (the daemon is ready for a first job
    /// at full speed), at most `timeout`; returns whether it became ready.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<bool, ClientError> {
        let until = Instant::now() + timeout;
        loop {
            if self.daemon_status()?.warming == 0 {
                return Ok(true);
            }
            if Instant::now() >= until {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Submits a job; `extra` holds [`SubmitOptions`] as JSON (params, mask_modifiers, priority, …).
    pub fn submit(
        &mut self,
        operation: &str,
        image: &SharedInput,
        mask: Option<&SharedInput>,
        references: &[&SharedInput],
        extra: Value,
    ) -> Result<u64, ClientError> {
        let options: SubmitOptions = if extra.is_null() {
            SubmitOptions::default()
        } else {
            serde_json::from_value(extra).map_err(ClientError::Options)?
        };
        self.submit_with(operation, image, mask, references, options)
    }

    /// Submits a job with typed options.
    pub fn submit_with(
        &mut self,
        operation: &str,
        image: &SharedInput,
        mask: Option<&SharedInput>,
        references: &[&SharedInput],
        o: SubmitOptions,
    ) -> Result<u64, ClientError> {
        let mut fds = vec![image.mem.fd()];
        let mask = mask.map(|m| {
            fds.push(m.mem.fd());
            m.at(fds.len() - 1)
        });
        let references = references
            .iter()
            .map(|s| {
                fds.push(s.mem.fd());
                s.at(fds.len() - 1)
            })
            .collect();
        let submit = |id| {
            Request::Submit(Box::new(Submit {
                id,
                operation: operation.to_string(),
                params: o.params,
                image: image.at(0),
                mask,
                references,
                mask_modifiers: o.mask_modifiers,
                context_margin: o.context_margin,
                priority: o.priority,
                result_format: o.result_format,
                name: o.name,
            }))
        };
        match self.request(submit, &[], &fds)?.msg {
            ServerMessage::Accepted { job, .. } => Ok(job),
            other => Err(unexpected("accepted", &other)),
        }
    }

    /// Waits for a job's result, passing progress to `on_progress`.
    pub fn wait(
        &mut self,
        job: u64,
        mut on_progress: impl FnMut(f64, &str),
    ) -> Result<JobResult, ClientError> {
        let id = self.take_id();
        self.send(&Request::Fetch { id: Some(id), job }, &[], &[])?;
        let mut pending: VecDeque<Message> = self.backlog.drain(..).collect();
        loop {
            let m = match pending.pop_front() {
                Some(m) => m,
                None => self.read()?,
            };
            match &m.msg {
                ServerMessage::Progress {
                    job: j,
                    fraction,
                    message,
                } if *j == job => on_progress(*fraction, message),
                ServerMessage::Result(r) if r.reply_to == Some(id) => {
                    return Ok(JobResult {
                        image: image_of(&r.image, &m.frame)?,
                        x: r.x,
                        y: r.y,
                        name: r.name.clone(),
                        message: (**r).clone(),
                    })
                }
                ServerMessage::Error(e) if e.reply_to == Some(id) => return Err(e.clone().into()),
                ServerMessage::JobFinished { job: j, .. } if *j == job => {}
                _ => self.backlog.push_back(m),
            }
        }
    }

    pub fn cancel(&mut self, job: u64) -> Result<(), ClientError> {
        self.request(|id| Request::Cancel { id, job }, &[], &[])?;
        Ok(())
    }

    pub fn shutdown(&mut self) -> Result<(), ClientError> {
        self.request(|id| Request::Shutdown { id }, &[], &[])?;
        Ok(())
    }

    /// Opens a latest-wins stream for video frames; returns its id.
    pub fn stream_open(&mut self, settings: StreamSettings) -> Result<u64, ClientError> {
        let open = |id| Request::StreamOpen(StreamOpen { id, settings });
        match self.request(open, &[], &[])?.msg {
            ServerMessage::StreamOpened { stream, .. } => Ok(stream),
            other => Err(unexpected("stream_opened", &other)),
        }
    }

    /// Sends frame `seq` of `stream`; its `frame`, `frame_dropped` or `frame_error` comes later
    /// through [`Client::next_event`]. Never waits for the daemon's work.
    pub fn stream_frame(
        &mut self,
        stream: u64,
        seq: u64,
        image: &SharedInput,
        mask: Option<&SharedInput>,
    ) -> Result<(), ClientError> {
        let mut fds = vec![image.mem.fd()];
        let mask = mask.map(|m| {
            fds.push(m.mem.fd());
            m.at(1)
        });
        let frame = Request::StreamFrame(StreamFrame {
            stream,
            seq,
            image: image.at(0),
            mask,
        });
        self.send(&frame, &[], &fds)
    }

    pub fn stream_close(&mut self, stream: u64) -> Result<(), ClientError> {
        self.request(|id| Request::StreamClose { id, stream }, &[], &[])?;
        Ok(())
    }
}

/// A daemon a client starts on demand exits after this many seconds without clients or jobs.
pub const ON_DEMAND_IDLE_EXIT_S: u64 = 900;

/// The single-instance lock of daemon starters: an exclusive `flock` on `<socket>.lock`, shared
/// with the Python client's autostart; released when dropped.
struct StartLock(#[allow(dead_code)] nix::fcntl::Flock<std::fs::File>);

impl StartLock {
    fn take(socket: &Path, wait: Duration) -> std::io::Result<StartLock> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut name = socket.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let deadline = Instant::now() + wait;
        loop {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)?;
            match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
                Ok(locked) => return Ok(StartLock(locked)),
                Err((_, nix::Error::EWOULDBLOCK)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err((_, e)) => return Err(e.into()),
            }
        }
    }
}

fn unexpected(wanted: &str, got: &ServerMessage) -> ClientError {
    ClientError::Protocol(format!("expected '{wanted}', got '{}'", got.kind()))
}
