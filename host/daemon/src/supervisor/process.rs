//! A worker process: started with its end of a socket pair on descriptor 3, read by a thread of
//! its own, and killed and reaped when its handle is dropped, so no worker outlives its slot.

use crate::config::Config;
use easel_ipc::{read_frame, Frame, FrameLimits};
use easel_protocol::worker::FromWorker;
use easel_protocol::OperationInfo;
use nix::{
    sys::{
        signal::{kill, Signal},
        wait::{waitpid, WaitPidFlag, WaitStatus},
    },
    unistd::Pid,
};
use std::{
    os::{
        fd::AsRawFd,
        unix::{net::UnixStream, process::CommandExt},
    },
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc, Arc,
    },
    time::{Duration, Instant},
};

/// The descriptor number a worker finds its socket on.
pub const WORKER_FD: i32 = 3;

/// Frames between daemon and worker are trusted more, but still bounded.
pub const WORKER_LIMITS: FrameLimits = FrameLimits {
    max_json: 1 << 24,
    max_payload: 0,
};

/// How to start a worker: the worker binary with the model settings.
#[derive(Debug, Clone)]
pub struct Spawner {
    pub exe: PathBuf,
    pub args: Vec<String>,
    /// Each worker's CPU budget (`EASEL_THREADS`): ONNX Runtime's threads and the plugins'
    /// own pools stay within it.
    pub threads: usize,
    /// Workers started but not yet done warming their models (the daemon's readiness).
    pub warming: Arc<AtomicUsize>,
}

impl Spawner {
    /// The worker binary from the configuration, else `easel-worker` next to this executable.
    pub fn from_config(config: &Config) -> Result<Self, crate::error::StartError> {
        let exe = match &config.worker {
            Some(p) => p.clone(),
            None => std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.join("easel-worker")))
                .unwrap_or_else(|| PathBuf::from("easel-worker")),
        };
        if !exe.is_file() {
            return Err(crate::error::StartError::Worker {
                path: exe,
                reason: "no such file: install easel-worker next to easeld, or set `worker` in the configuration".into(),
            });
        }
        let mut args = Vec::new();
        for d in &config.model_dirs {
            args.push("--model-dir".to_string());
            args.push(d.display().to_string());
        }
        if let Some(p) = &config.onnxruntime {
            args.push("--onnxruntime".into());
            args.push(p.display().to_string());
        }
        for p in &config.execution_providers {
            args.push("--provider".into());
            args.push(p.clone());
        }
        args.push("--unload-after-s".into());
        args.push(config.model_idle_unload_s.to_string());
        args.push("--threads".into());
        args.push(config.threads.to_string());
        args.push("--memory-budget-mb".into());
        args.push(config.memory_budget_mb.to_string());
        for m in &config.warm_models {
            args.push("--warm-model".into());
            args.push(m.clone());
        }
        // Names of token variables only: the worker inherits the environment.
        if let Some(json) = config.inference.worker_arg() {
            args.push("--inference".into());
            args.push(json);
        }
        Ok(Spawner {
            exe,
            args,
            threads: config.worker_thread_budget(),
            warming: Arc::new(AtomicUsize::new(0)),
        })
    }

    pub fn spawn(&self, plugin: &Path) -> std::io::Result<WorkerProcess> {
        let (ours, theirs) = UnixStream::pair()?;
        let their_fd = theirs.as_raw_fd();
        let mut cmd = Command::new(&self.exe);
        cmd.arg(plugin)
            .args(&self.args)
            .env("EASEL_THREADS", self.threads.to_string())
            .stdin(Stdio::null());
        // No PR_SET_PDEATHSIG: it fires when the spawning *thread* ends. A worker exits on its own
        // when its socket to the daemon closes. SAFETY: only async-signal-safe calls here.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(their_fd, WORKER_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        drop(theirs);
        let reader = ours.try_clone()?;
        let (tx, rx) = mpsc::channel();
        // Warming until the worker says so or ends; `Warmed` is the reader's, not a job's.
        let warming = Warming::start(&self.warming);
        std::thread::spawn(move || {
            let mut warming = Some(warming);
            loop {
                match read_frame(&reader, WORKER_LIMITS) {
                    Ok(f) => {
                        if let Ok(FromWorker::Warmed { models }) = f.parse::<FromWorker>() {
                            if !models.is_empty() {
                                log::info!("warmed: {}", models.join(", "));
                            }
                            drop(warming.take());
                            continue;
                        }
                        if tx.send(Some(f)).is_err() {
                            return;
                        }
                    }
                    Err(_) => {
                        // `warming`, if still held, ends with this thread.
                        let _ = tx.send(None);
                        return;
                    }
                }
            }
        });
        Ok(WorkerProcess {
            child,
            reaped: false,
            sock: ours,
            rx,
        })
    }
}

/// One worker counted in [`Spawner::warming`] until this is dropped.
struct Warming(Arc<AtomicUsize>);

impl Warming {
    fn start(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Warming(count.clone())
    }
}

impl Drop for Warming {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a plugin said when its worker started.
#[derive(Debug, Clone)]
pub enum LoadOutcome {
    Loaded {
        name: String,
        version: String,
        operations: Vec<OperationInfo>,
    },
    Refused(String),
}

/// A running worker process; killed and reaped on drop.
pub struct WorkerProcess {
    child: Child,
    reaped: bool,
    pub sock: UnixStream,
    /// Frames from the worker; `None` when its socket closed.
    pub rx: mpsc::Receiver<Option<Frame>>,
}

impl WorkerProcess {
    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    pub fn wait_loaded(&mut self, timeout: Duration) -> LoadOutcome {
        let frame = match self.rx.recv_timeout(timeout) {
            Ok(Some(f)) => f,
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let how = self.exit_description();
                return LoadOutcome::Refused(format!("the plugin crashed while loading ({how})"));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                self.kill();
                return LoadOutcome::Refused(format!(
                    "the plugin did not finish loading within {} s",
                    timeout.as_secs()
                ));
            }
        };
        match frame.parse::<FromWorker>() {
            Ok(FromWorker::Loaded { plugin, operations }) => LoadOutcome::Loaded {
                name: plugin.name,
                version: plugin.version,
                operations,
            },
            Ok(FromWorker::Refused { reason }) => LoadOutcome::Refused(reason),
            Ok(other) => LoadOutcome::Refused(format!(
                "the worker answered its start with an unexpected message: {other:?}"
            )),
            Err(e) => LoadOutcome::Refused(format!("bad message from the worker: {e}")),
        }
    }

    /// Kills the process and reaps it.
    pub fn kill(&mut self) {
        if !self.reaped {
            let _ = kill(self.pid(), Signal::SIGKILL);
            let _ = self.child.wait();
            self.reaped = true;
        }
    }

    /// Reaps the process and says how it ended.
    pub fn exit_description(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match waitpid(self.pid(), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => {
                    self.reaped = true;
                    return format!("exit code {code}");
                }
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    self.reaped = true;
                    let what = match sig {
                        Signal::SIGABRT => "aborted: a panic or abort()",
                        Signal::SIGSEGV => "segmentation fault",
                        Signal::SIGBUS => "bus error",
                        Signal::SIGKILL => "killed",
                        Signal::SIGILL => "illegal instruction",
                        Signal::SIGFPE => "arithmetic fault",
                        _ => "killed by a signal",
                    };
                    return format!("{what}, {sig}");
                }
                Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                _ => {
                    self.kill();
                    return "its socket closed".to_string();
                }
            }
        }
    }

    /// Resident memory from /proc, in bytes.
    pub fn rss_bytes(&self) -> Option<u64> {
        let statm = std::fs::read_to_string(format!("/proc/{}/statm", self.child.id())).ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        Some(pages * page_size())
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}

/// Loads a plugin in a fresh worker and reports what it offers; the worker is kept.
pub fn probe(spawner: &Spawner, path: &Path) -> (LoadOutcome, Option<WorkerProcess>) {
    match spawner.spawn(path) {
        Ok(mut w) => match w.wait_loaded(Duration::from_secs(30)) {
            ok @ LoadOutcome::Loaded { .. } => (ok, Some(w)),
            refused => (refused, None),
        },
        Err(e) => (
            LoadOutcome::Refused(format!(
                "cannot start a worker ({}): {e}",
                spawner.exe.display()
            )),
            None,
        ),
    }
}
