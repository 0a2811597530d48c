//! Plugin discovery and supervision: one worker process per plugin slot, restarted when it dies;
//! time, memory and cancellation limits enforced from outside the plugin.

use crate::{
    config::{Config, Limits},
    error::{Code, ProtocolError},
    imaging::{self, OwnedImage},
    jobs::{
        apply_mask, check_result_size, post_process, JobState, PreparedWork, SharedImage, WorkInput,
    },
    protocol::{descriptor_from_json, DataRef, ImageRef},
    scheduler::Scheduler,
    tiling::{Blender, Tile},
    transport::{self, Frame, InputBytes},
    worker::{RunMessage, WORKER_FD, WORKER_LIMITS},
};
use easel_sdk::{ErrorKind, ImageView, OperationDescriptor, PixelFormat, PluginError};
use nix::{
    sys::{
        signal::{kill, Signal},
        wait::{waitpid, WaitStatus},
    },
    unistd::Pid,
};
use serde_json::{json, Value};
use std::{
    os::{
        fd::AsRawFd,
        unix::{net::UnixStream, process::CommandExt},
    },
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc},
    time::{Duration, Instant},
};

/// Finds plugin libraries: `libeasel_plugin_*.so` next to the daemon (the first-party ones), and
/// every `*.so` in the user folders.
pub fn discover_plugins(config: &Config, exe_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut scan = |dir: &Path, builtin: bool| {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut libs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                name.ends_with(".so") && (!builtin || name.starts_with("libeasel_plugin_"))
            })
            .collect();
        libs.sort();
        found.extend(libs);
    };
    if config.builtin_plugins {
        if let Some(dir) = exe_dir {
            scan(dir, true);
        }
    }
    for dir in &config.plugin_dirs {
        scan(dir, false);
    }
    found
}

/// How to start a worker: this executable with the worker flag and the model settings.
#[derive(Debug, Clone)]
pub struct Spawner {
    pub exe: PathBuf,
    pub args: Vec<String>,
}

impl Spawner {
    pub fn from_config(config: &Config) -> std::io::Result<Self> {
        let mut args = Vec::new();
        for d in &config.model_dirs {
            args.push("--model-dir".to_string());
            args.push(d.display().to_string());
        }
        if let Some(p) = &config.onnxruntime {
            args.push("--onnxruntime".into());
            args.push(p.display().to_string());
        }
        args.push("--threads".into());
        args.push(config.threads.to_string());
        args.push("--memory-budget-mb".into());
        args.push(config.memory_budget_mb.to_string());
        Ok(Spawner {
            exe: std::env::current_exe()?,
            args,
        })
    }

    fn spawn(&self, plugin: &Path) -> std::io::Result<Worker> {
        let (ours, theirs) = UnixStream::pair()?;
        let their_fd = theirs.as_raw_fd();
        let mut cmd = Command::new(&self.exe);
        cmd.arg("--worker")
            .arg(plugin)
            .args(&self.args)
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
        std::thread::spawn(move || loop {
            match transport::read_frame(&reader, WORKER_LIMITS) {
                Ok(f) => {
                    if tx.send(Some(f)).is_err() {
                        return;
                    }
                }
                Err(_) => {
                    let _ = tx.send(None);
                    return;
                }
            }
        });
        Ok(Worker {
            child,
            sock: ours,
            rx,
        })
    }
}

/// A running worker process.
struct Worker {
    child: Child,
    sock: UnixStream,
    /// Frames from the worker; `None` when its socket closed.
    rx: mpsc::Receiver<Option<Frame>>,
}

/// What a plugin said when its worker started.
#[derive(Debug, Clone)]
pub enum LoadOutcome {
    Loaded {
        name: String,
        version: String,
        operations: Vec<OperationDescriptor>,
    },
    Refused(String),
}

impl Worker {
    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    fn wait_loaded(&mut self, timeout: Duration) -> LoadOutcome {
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
        let msg: Value = match frame.parse() {
            Ok(v) => v,
            Err(e) => return LoadOutcome::Refused(format!("bad message from the worker: {e}")),
        };
        match msg["type"].as_str() {
            Some("loaded") => {
                let ops = msg["operations"].as_array().cloned().unwrap_or_default();
                match ops
                    .iter()
                    .map(descriptor_from_json)
                    .collect::<Option<Vec<_>>>()
                {
                    Some(operations) => LoadOutcome::Loaded {
                        name: msg["plugin"]["name"].as_str().unwrap_or("?").to_string(),
                        version: msg["plugin"]["version"].as_str().unwrap_or("?").to_string(),
                        operations,
                    },
                    None => {
                        LoadOutcome::Refused("the plugin described its operations wrongly".into())
                    }
                }
            }
            _ => LoadOutcome::Refused(
                msg["reason"]
                    .as_str()
                    .unwrap_or("refused for no stated reason")
                    .to_string(),
            ),
        }
    }

    fn kill(&mut self) {
        let _ = kill(self.pid(), Signal::SIGKILL);
        let _ = self.child.wait();
    }

    /// Reaps the process and says how it ended.
    fn exit_description(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match waitpid(self.pid(), Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => return format!("exit code {code}"),
                Ok(WaitStatus::Signaled(_, sig, _)) => {
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
    fn rss_bytes(&self) -> Option<u64> {
        let statm = std::fs::read_to_string(format!("/proc/{}/statm", self.child.id())).ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        Some(pages * page_size())
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
fn probe(spawner: &Spawner, path: &Path) -> (LoadOutcome, Option<Worker>) {
    match spawner.spawn(path) {
        Ok(mut w) => match w.wait_loaded(Duration::from_secs(30)) {
            ok @ LoadOutcome::Loaded { .. } => (ok, Some(w)),
            refused => {
                w.kill();
                (refused, None)
            }
        },
        Err(e) => (
            LoadOutcome::Refused(format!("cannot start a worker: {e}")),
            None,
        ),
    }
}

/// A plugin library and what became of it.
#[derive(Debug, Clone)]
pub struct PluginRecord {
    pub path: PathBuf,
    pub outcome: LoadOutcome,
}

impl PluginRecord {
    pub fn to_json(&self) -> Value {
        match &self.outcome {
            LoadOutcome::Loaded { name, version, .. } => json!({
                "name": name, "version": version, "path": self.path, "status": "loaded"}),
            LoadOutcome::Refused(reason) => json!({
                "path": self.path, "status": "refused", "reason": reason}),
        }
    }
}

/// Loads every plugin (each in its own worker, in parallel) and starts the driver threads that
/// feed them jobs. Returns what was found.
pub fn start_plugins(
    paths: Vec<PathBuf>,
    spawner: &Spawner,
    workers_per_plugin: usize,
    limits: &Limits,
    scheduler: &Arc<Scheduler>,
) -> Vec<PluginRecord> {
    let probes: Vec<_> = paths
        .into_iter()
        .map(|path| {
            let spawner = spawner.clone();
            std::thread::spawn(move || {
                let (outcome, worker) = probe(&spawner, &path);
                (path, outcome, worker)
            })
        })
        .collect();
    let mut records = Vec::new();
    let mut seen_names = std::collections::HashSet::new();
    for handle in probes {
        let Ok((path, mut outcome, worker)) = handle.join() else {
            continue;
        };
        if let LoadOutcome::Loaded { name, .. } = &outcome {
            if !seen_names.insert(name.clone()) {
                outcome = LoadOutcome::Refused(format!(
                    "another plugin named '{name}' is already loaded"
                ));
            }
        }
        match &outcome {
            LoadOutcome::Loaded {
                name, operations, ..
            } => {
                log::info!(
                    "plugin '{name}' loaded from {} ({} operations)",
                    path.display(),
                    operations.len()
                );
                let mut first = worker;
                for _ in 0..workers_per_plugin.max(1) {
                    let slot = Slot {
                        plugin: name.clone(),
                        path: path.clone(),
                        spawner: spawner.clone(),
                        limits: limits.clone(),
                        scheduler: scheduler.clone(),
                    };
                    let w = first.take();
                    std::thread::spawn(move || slot.drive(w));
                }
            }
            LoadOutcome::Refused(reason) => {
                log::warn!("plugin {} refused: {reason}", path.display());
                if let Some(mut w) = worker {
                    w.kill();
                }
            }
        }
        records.push(PluginRecord { path, outcome });
    }
    records
}

/// One worker slot of a plugin: takes jobs, runs them in its worker, restarts it when it dies.
struct Slot {
    plugin: String,
    path: PathBuf,
    spawner: Spawner,
    limits: Limits,
    scheduler: Arc<Scheduler>,
}

enum JobEnd {
    Finished(Result<crate::jobs::JobOutput, ProtocolError>),
    /// The worker had to be killed or died; it must be restarted.
    WorkerLost(ProtocolError),
}

impl Slot {
    fn drive(self, mut worker: Option<Worker>) {
        let mut restart_failures = 0u32;
        while let Some(job) = self.scheduler.pop(&self.plugin) {
            if worker.is_none() {
                match probe(&self.spawner, &self.path) {
                    (LoadOutcome::Loaded { .. }, Some(w)) => {
                        worker = Some(w);
                        restart_failures = 0;
                    }
                    (outcome, _) => {
                        restart_failures += 1;
                        let why = match outcome {
                            LoadOutcome::Refused(r) => r,
                            LoadOutcome::Loaded { .. } => "no worker".into(),
                        };
                        job.finish(Err(ProtocolError::new(
                            Code::PluginCrashed,
                            format!("plugin '{}' could not be restarted: {why}", self.plugin),
                        )));
                        self.scheduler.done();
                        std::thread::sleep(Duration::from_millis(
                            200 * restart_failures.min(10) as u64,
                        ));
                        continue;
                    }
                }
            }
            let Some(w) = worker.as_mut() else { continue };
            match self.run(w, &job) {
                JobEnd::Finished(result) => job.finish(result),
                JobEnd::WorkerLost(err) => {
                    if let Some(mut w) = worker.take() {
                        w.kill();
                    }
                    job.finish(Err(err));
                }
            }
            self.scheduler.done();
        }
        if let Some(mut w) = worker {
            w.kill();
        }
    }

    fn run(&self, w: &mut Worker, job: &Arc<JobState>) -> JobEnd {
        let started = Instant::now();
        if job.is_cancelled() {
            return JobEnd::Finished(Err(cancelled()));
        }
        let Some(work) = job.work.lock().take() else {
            return JobEnd::Finished(Err(ProtocolError::internal("job has no prepared input")));
        };
        let mut cancel_sent = None;
        match &work.input {
            WorkInput::Whole { image, mask } => {
                let parts = RunParts {
                    image,
                    mask: mask.as_ref(),
                    work: &work,
                    progress: (0.0, 1.0),
                };
                let (msg, frame) = match self.exec(w, job, parts, started, &mut cancel_sent) {
                    Ok(done) => done,
                    Err(end) => return end,
                };
                JobEnd::Finished(self.result_view(&msg, &frame).and_then(|(layout, bytes)| {
                    let view = ImageView::new(layout, &bytes)
                        .map_err(|e| self.bad_result(e.message.to_string()))?;
                    post_process(&work.post, view, &self.plugin, started)
                }))
            }
            WorkInput::Tiled {
                source,
                tiles,
                band,
                send_mask,
            } => self.run_tiled(
                w,
                job,
                &work,
                (source, tiles, *band, *send_mask),
                started,
                &mut cancel_sent,
            ),
        }
    }

    /// Runs a tileable job one tile at a time, blending each result into the output.
    fn run_tiled(
        &self,
        w: &mut Worker,
        job: &Arc<JobState>,
        work: &PreparedWork,
        (source, tiles, band, send_mask): (&OwnedImage, &[Tile], u32, bool),
        started: Instant,
        cancel_sent: &mut Option<Instant>,
    ) -> JobEnd {
        let post = &work.post;
        let scale = post.output_scale.max(1);
        let mut blender = match Blender::new(
            post.crop.width,
            post.crop.height,
            scale,
            post.result_format,
            band,
        ) {
            Ok(b) => b,
            Err(e) => return JobEnd::Finished(Err(e)),
        };
        let n = tiles.len() as f64;
        for (i, tile) in tiles.iter().enumerate() {
            let working = imaging::convert(
                &imaging::crop(source, tile.input).view(),
                post.working_format,
            );
            let mask = post
                .mask
                .as_ref()
                .map(|m| imaging::crop_mask(m, tile.input));
            let image = match SharedImage::from_owned(&working) {
                Ok(i) => i,
                Err(e) => return JobEnd::Finished(Err(e)),
            };
            let mask_shared = match mask.as_ref().filter(|_| send_mask) {
                Some(m) => match SharedImage::from_owned(&m.to_image(PixelFormat::Gray32F)) {
                    Ok(s) => Some(s),
                    Err(e) => return JobEnd::Finished(Err(e)),
                },
                None => None,
            };
            let parts = RunParts {
                image: &image,
                mask: mask_shared.as_ref(),
                work,
                progress: (i as f64 / n, 1.0 / n),
            };
            let (msg, frame) = match self.exec(w, job, parts, started, cancel_sent) {
                Ok(done) => done,
                Err(end) => return end,
            };
            let placed = self.result_view(&msg, &frame).and_then(|(layout, bytes)| {
                let view = ImageView::new(layout, &bytes)
                    .map_err(|e| self.bad_result(e.message.to_string()))?;
                check_result_size(
                    &view,
                    (tile.input.width * scale, tile.input.height * scale),
                    &self.plugin,
                )?;
                let result = imaging::convert(&view, post.working_format);
                let masked = apply_mask(post, result, mask.as_ref(), Some(&working))?;
                blender.place(tile, &masked.view());
                Ok(())
            });
            if let Err(e) = placed {
                return JobEnd::Finished(Err(e));
            }
        }
        JobEnd::Finished(Ok(post.output(blender.out, started)))
    }

    /// Sends one run to the worker and supervises it until it answers, fails or is stopped.
    fn exec(
        &self,
        w: &mut Worker,
        job: &Arc<JobState>,
        parts: RunParts<'_>,
        started: Instant,
        cancel_sent: &mut Option<Instant>,
    ) -> Result<(Value, Frame), JobEnd> {
        let mut fds = vec![parts.image.mem.fd()];
        let mask = parts.mask.map(|m| {
            fds.push(m.mem.fd());
            m.wire_ref(fds.len() - 1)
        });
        let references = parts
            .work
            .references
            .iter()
            .map(|r| {
                fds.push(r.mem.fd());
                r.wire_ref(fds.len() - 1)
            })
            .collect();
        let msg = RunMessage {
            job: job.id,
            operation: job.operation.clone(),
            params: parts.work.params.clone(),
            image: parts.image.wire_ref(0),
            mask,
            references,
        };
        let sent = serde_json::to_value(&msg)
            .map_err(|e| e.to_string())
            .and_then(|mut v| {
                v["type"] = json!("run");
                transport::send_json(&w.sock, &v, &[], &fds).map_err(|e| e.to_string())
            });
        drop(fds);
        if let Err(e) = sent {
            return Err(JobEnd::WorkerLost(self.crashed(
                w,
                job,
                &format!("cannot send it the job: {e}"),
            )));
        }
        let timeout = Duration::from_secs_f64(self.limits.job_timeout_s.max(0.001));
        let memory_limit = self.limits.worker_memory_mb.saturating_mul(1 << 20);
        let grace = Duration::from_millis(self.limits.cancel_grace_ms);
        let (base, span) = parts.progress;
        loop {
            match w.rx.recv_timeout(Duration::from_millis(20)) {
                Ok(Some(frame)) => {
                    let Ok(msg) = frame.parse::<Value>() else {
                        continue;
                    };
                    if msg["job"].as_u64() != Some(job.id) {
                        continue;
                    }
                    match msg["type"].as_str() {
                        Some("progress") => job.progress(
                            base + span * msg["fraction"].as_f64().unwrap_or(0.0),
                            msg["message"].as_str().unwrap_or(""),
                        ),
                        Some("done") => return Ok((msg, frame)),
                        Some("failed") => {
                            // The worker sends the SDK's error kind by name; the mapping to
                            // protocol codes is ProtocolError::from_plugin's.
                            let name = msg["kind"].as_str().unwrap_or("plugin");
                            let kind = PLUGIN_ERROR_KINDS
                                .into_iter()
                                .find(|k| k.as_str() == name)
                                .unwrap_or(ErrorKind::Plugin);
                            let message = msg["message"].as_str().unwrap_or("");
                            let err = ProtocolError::from_plugin(
                                &self.plugin,
                                &PluginError::new(kind, message),
                            );
                            return Err(JobEnd::Finished(Err(err)));
                        }
                        _ => {}
                    }
                }
                Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(JobEnd::WorkerLost(self.crashed(w, job, "it died")));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if job.is_cancelled() {
                match cancel_sent {
                    None => {
                        let _ = transport::send_json(
                            &w.sock,
                            &json!({"type": "cancel", "job": job.id}),
                            &[],
                            &[],
                        );
                        *cancel_sent = Some(Instant::now());
                    }
                    Some(at) if at.elapsed() > grace => {
                        log::warn!(
                            "plugin '{}' ignored a cancel for {} ms; killing its worker",
                            self.plugin,
                            grace.as_millis()
                        );
                        return Err(JobEnd::WorkerLost(cancelled()));
                    }
                    Some(_) => {}
                }
            }
            if started.elapsed() > timeout {
                return Err(JobEnd::WorkerLost(ProtocolError::new(
                    Code::PluginTimeout,
                    format!(
                        "plugin '{}' ran '{}' for more than {} s; its worker was stopped and restarted",
                        self.plugin, job.operation, self.limits.job_timeout_s
                    ),
                )));
            }
            if let Some(rss) = w.rss_bytes() {
                if rss > memory_limit {
                    return Err(JobEnd::WorkerLost(ProtocolError::new(
                        Code::PluginMemory,
                        format!(
                            "plugin '{}' used {} MiB running '{}', over the limit of {} MiB; its worker was stopped and restarted",
                            self.plugin, rss >> 20, job.operation, self.limits.worker_memory_mb
                        ),
                    )));
                }
            }
        }
    }

    fn crashed(&self, w: &mut Worker, job: &JobState, what: &str) -> ProtocolError {
        let how = w.exit_description();
        ProtocolError::new(
            Code::PluginCrashed,
            format!(
                "plugin '{}' crashed while running '{}' ({what}: {how}); its worker was restarted",
                self.plugin, job.operation
            ),
        )
    }

    fn bad_result(&self, what: String) -> ProtocolError {
        ProtocolError::new(
            Code::PluginError,
            format!("plugin '{}' returned {what}", self.plugin),
        )
    }

    /// The layout and bytes of a worker's `done` message.
    fn result_view(
        &self,
        msg: &Value,
        frame: &Frame,
    ) -> Result<(easel_sdk::ImageLayout, InputBytes), ProtocolError> {
        let r: ImageRef = serde_json::from_value(msg["image"].clone())
            .map_err(|e| self.bad_result(format!("a malformed result: {e}")))?;
        let layout = r.layout(u64::MAX).map_err(|e| self.bad_result(e.message))?;
        let DataRef::Fd { fd, offset } = r.data else {
            return Err(self.bad_result("inline pixels".into()));
        };
        let fd = frame
            .fds
            .get(fd)
            .ok_or_else(|| self.bad_result("no pixels".into()))?;
        let len = layout
            .required_len()
            .ok_or_else(|| self.bad_result("an impossible size".into()))?;
        let bytes =
            transport::map_input(fd, offset, len).map_err(|e| self.bad_result(e.to_string()))?;
        Ok((layout, bytes))
    }
}

/// What one run message carries.
struct RunParts<'a> {
    image: &'a SharedImage,
    mask: Option<&'a SharedImage>,
    work: &'a PreparedWork,
    /// This run's share of the job's progress: (start, span).
    progress: (f64, f64),
}

const PLUGIN_ERROR_KINDS: [ErrorKind; 6] = [
    ErrorKind::InvalidInput,
    ErrorKind::Plugin,
    ErrorKind::Model,
    ErrorKind::Limits,
    ErrorKind::Environment,
    ErrorKind::Cancelled,
];

fn cancelled() -> ProtocolError {
    ProtocolError::new(Code::Cancelled, "cancelled by the user")
}
