//! A Rust client of the protocol, used by the `easel` command line and the end-to-end tests.

use crate::{
    error::TransportError,
    imaging::OwnedImage,
    protocol::{DataRef, ImageRef, PROTOCOL_VERSION},
    transport::{self, Frame, FrameLimits, SharedMem},
};
use serde_json::{json, Value};
use std::{
    collections::VecDeque,
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

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
        code: String,
        fault: String,
        message: String,
    },
    #[error("connection to the daemon failed: {0}")]
    Transport(#[from] TransportError),
    #[error("unexpected answer from the daemon: {0}")]
    Protocol(String),
    #[error("timed out after {0:?} waiting for the daemon")]
    Timeout(Duration),
}

impl ClientError {
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Daemon { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A message from the daemon.
#[derive(Debug)]
pub struct Message {
    pub json: Value,
    pub frame: Frame,
}

impl Message {
    pub fn kind(&self) -> &str {
        self.json["type"].as_str().unwrap_or("")
    }

    /// The image attached under `"image"`, copied out.
    pub fn image(&self) -> Result<OwnedImage, ClientError> {
        let r: ImageRef = serde_json::from_value(self.json["image"].clone())
            .map_err(|e| ClientError::Protocol(format!("bad image reference: {e}")))?;
        let layout = r
            .layout(u64::MAX)
            .map_err(|e| ClientError::Protocol(e.message))?;
        let len = layout.required_len().unwrap_or(0);
        let bytes: Vec<u8> = match r.data {
            DataRef::Fd { fd, offset } => {
                let fd = self
                    .frame
                    .fds
                    .get(fd)
                    .ok_or_else(|| ClientError::Protocol("image descriptor missing".into()))?;
                transport::map_input(fd, offset, len)
                    .map_err(|e| ClientError::Protocol(e.to_string()))?
                    .to_vec()
            }
            DataRef::Inline { inline } => {
                let start = inline as usize;
                self.frame
                    .payload
                    .get(start..start + len)
                    .ok_or_else(|| ClientError::Protocol("inline image out of range".into()))?
                    .to_vec()
            }
        };
        let view = easel_sdk::ImageView::new(layout, &bytes)
            .map_err(|e| ClientError::Protocol(e.message.to_string()))?;
        Ok(crate::imaging::convert(&view, layout.format))
    }
}

/// An image placed in shared memory, ready to be sent.
pub struct SharedInput {
    pub reference: ImageRef,
    mem: SharedMem,
}

impl SharedInput {
    pub fn new(image: &OwnedImage) -> Result<Self, ClientError> {
        let mut mem = SharedMem::create(image.data.len())?;
        mem.as_mut_slice()[..image.data.len()].copy_from_slice(&image.data);
        Ok(SharedInput {
            reference: ImageRef::packed(&image.layout(), DataRef::Fd { fd: 0, offset: 0 }),
            mem,
        })
    }

    /// The shared memory's descriptor, for requests built by hand.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.mem.fd()
    }
}

/// A finished job.
#[derive(Debug)]
pub struct JobResult {
    pub image: OwnedImage,
    pub x: u64,
    pub y: u64,
    pub name: String,
    pub message: Value,
}

pub struct Client {
    sock: UnixStream,
    next_id: u64,
    backlog: VecDeque<Message>,
    pub server_hello: Value,
}

impl Client {
    /// Connects and says hello.
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let sock = UnixStream::connect(path).map_err(|source| ClientError::Unavailable {
            path: path.to_path_buf(),
            source,
        })?;
        let mut client = Client {
            sock,
            next_id: 1,
            backlog: VecDeque::new(),
            server_hello: Value::Null,
        };
        client.send(
            &json!({"type": "hello", "protocol": PROTOCOL_VERSION,
                    "client": format!("easel-rs/{}", env!("CARGO_PKG_VERSION")), "features": ["fd", "inline"]}),
            &[],
            &[],
        )?;
        let hello = client.read()?;
        if hello.kind() != "hello" {
            return Err(daemon_error(&hello.json));
        }
        client.server_hello = hello.json;
        Ok(client)
    }

    /// Connects, starting `easeld` (detached, logging to a file beside the socket) if nothing
    /// answers.
    pub fn connect_or_start(
        path: &Path,
        daemon: &Path,
        config: Option<&Path>,
        wait: Duration,
    ) -> Result<Client, ClientError> {
        if let Ok(c) = Client::connect(path) {
            return Ok(c);
        }
        let log_path = path.with_extension("log");
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let log = std::fs::File::create(&log_path).map_err(|e| ClientError::StartFailed {
            exe: daemon.to_path_buf(),
            message: format!("cannot create its log {}: {e}", log_path.display()),
        })?;
        let mut cmd = Command::new(daemon);
        cmd.arg("--socket").arg(path);
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        let stderr = log.try_clone().map_err(|e| ClientError::StartFailed {
            exe: daemon.to_path_buf(),
            message: e.to_string(),
        })?;
        use std::os::unix::process::CommandExt;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .map_err(|e| ClientError::StartFailed {
                exe: daemon.to_path_buf(),
                message: e.to_string(),
            })?;
        let deadline = Instant::now() + wait;
        loop {
            if let Ok(c) = Client::connect(path) {
                return Ok(c);
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(ClientError::StartFailed {
                    exe: daemon.to_path_buf(),
                    message: format!("it exited ({status}): {}", log.trim()),
                });
            }
            if Instant::now() > deadline {
                return Err(ClientError::StartFailed {
                    exe: daemon.to_path_buf(),
                    message: format!(
                        "no answer on {} after {wait:?}; see {}",
                        path.display(),
                        log_path.display()
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn send(
        &mut self,
        msg: &Value,
        payload: &[u8],
        fds: &[std::os::fd::BorrowedFd<'_>],
    ) -> Result<(), ClientError> {
        Ok(transport::send_json(&self.sock, msg, payload, fds)?)
    }

    fn read(&mut self) -> Result<Message, ClientError> {
        let frame = transport::read_frame(&self.sock, CLIENT_LIMITS)?;
        let json: Value = frame.parse()?;
        Ok(Message { json, frame })
    }

    /// Sends a request with a fresh id and returns the answer to it; events are kept.
    pub fn request(
        &mut self,
        mut msg: Value,
        payload: &[u8],
        fds: &[std::os::fd::BorrowedFd<'_>],
    ) -> Result<Message, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        msg["id"] = json!(id);
        self.send(&msg, payload, fds)?;
        loop {
            let m = self.read()?;
            if m.json["reply_to"].as_u64() == Some(id) {
                if m.kind() == "error" {
                    return Err(daemon_error(&m.json));
                }
                return Ok(m);
            }
            if m.kind() == "error" && m.json["reply_to"].is_null() && m.json["job"].is_null() {
                return Err(daemon_error(&m.json));
            }
            self.backlog.push_back(m);
        }
    }

    /// The next event (progress, frame, …), from the backlog first.
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

    pub fn operations(&mut self) -> Result<Value, ClientError> {
        Ok(self
            .request(json!({"type": "list_operations"}), &[], &[])?
            .json)
    }

    /// Submits a job; `extra` adds fields (params, mask_modifiers, priority, …).
    pub fn submit(
        &mut self,
        operation: &str,
        image: &SharedInput,
        mask: Option<&SharedInput>,
        references: &[&SharedInput],
        extra: Value,
    ) -> Result<u64, ClientError> {
        let mut msg = json!({"type": "submit", "operation": operation});
        if let Value::Object(map) = extra {
            for (k, v) in map {
                msg[k] = v;
            }
        }
        let mut fds = vec![image.mem.fd()];
        msg["image"] = json!(image.reference);
        if let Some(m) = mask {
            let mut r = m.reference.clone();
            r.data = DataRef::Fd {
                fd: fds.len(),
                offset: 0,
            };
            fds.push(m.mem.fd());
            msg["mask"] = json!(r);
        }
        let refs: Vec<ImageRef> = references
            .iter()
            .map(|s| {
                let mut r = s.reference.clone();
                r.data = DataRef::Fd {
                    fd: fds.len(),
                    offset: 0,
                };
                fds.push(s.mem.fd());
                r
            })
            .collect();
        msg["references"] = json!(refs);
        let m = self.request(msg, &[], &fds)?;
        m.json["job"]
            .as_u64()
            .ok_or_else(|| ClientError::Protocol(format!("accepted without a job id: {}", m.json)))
    }

    /// Waits for a job's result, passing progress to `on_progress`.
    pub fn wait(
        &mut self,
        job: u64,
        mut on_progress: impl FnMut(f64, &str),
    ) -> Result<JobResult, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"type": "fetch", "id": id, "job": job}), &[], &[])?;
        let mut pending: Vec<Message> = self.backlog.drain(..).collect();
        loop {
            let m = match pending.is_empty() {
                true => self.read()?,
                false => pending.remove(0),
            };
            match m.kind() {
                "progress" if m.json["job"].as_u64() == Some(job) => on_progress(
                    m.json["fraction"].as_f64().unwrap_or(0.0),
                    m.json["message"].as_str().unwrap_or(""),
                ),
                "result" if m.json["reply_to"].as_u64() == Some(id) => {
                    return Ok(JobResult {
                        image: m.image()?,
                        x: m.json["x"].as_u64().unwrap_or(0),
                        y: m.json["y"].as_u64().unwrap_or(0),
                        name: m.json["name"].as_str().unwrap_or("").to_string(),
                        message: m.json,
                    })
                }
                "error" if m.json["reply_to"].as_u64() == Some(id) => {
                    return Err(daemon_error(&m.json))
                }
                "job_finished" if m.json["job"].as_u64() == Some(job) => {}
                _ => self.backlog.push_back(m),
            }
        }
    }

    pub fn cancel(&mut self, job: u64) -> Result<(), ClientError> {
        self.request(json!({"type": "cancel", "job": job}), &[], &[])?;
        Ok(())
    }

    pub fn shutdown(&mut self) -> Result<(), ClientError> {
        self.request(json!({"type": "shutdown"}), &[], &[])?;
        Ok(())
    }
}

/// The typed error of an `error` message.
pub fn daemon_error(json: &Value) -> ClientError {
    ClientError::Daemon {
        code: json["code"].as_str().unwrap_or("unknown").to_string(),
        fault: json["fault"].as_str().unwrap_or("").to_string(),
        message: json["message"].as_str().unwrap_or("").to_string(),
    }
}
