//! The plugin worker process: loads one plugin library, runs its jobs, offers it host services.
//!
//! `easeld` starts one or more workers per plugin (the same binary, `easeld --worker LIB`), so a
//! panic, abort, segfault, hang or memory runaway inside plugin code ends only this process. The
//! daemon talks to the worker over a socket pair on fd 3 with the same framing as clients.

use crate::{
    models::{ModelStore, ModelStoreConfig},
    protocol::{descriptor_json, DataRef, ImageRef, WireValue},
    transport::{self, FrameLimits, InputBytes, SharedMem},
};
use abi_stable::{
    library::{lib_header_from_path, LibraryError},
    sabi_trait::TD_Opaque,
    std_types::{RResult, RSlice, RStr, RString, RVec},
};
use easel_sdk::{
    HostServices, HostServices_TO, ImageView, Job, LogLevel, ModelInfo, OperationBox, Param,
    PluginError, PluginModRef, Tensor, ABI_VERSION,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::{
    os::{fd::FromRawFd, unix::net::UnixStream},
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc, Arc,
    },
    time::{Duration, Instant},
};

/// The descriptor number the daemon hands the worker its socket on.
pub const WORKER_FD: i32 = 3;

/// Frames between daemon and worker are trusted more, but still bounded.
pub const WORKER_LIMITS: FrameLimits = FrameLimits {
    max_json: 1 << 24,
    max_payload: 0,
};

/// A parameter on the daemon–worker wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireParam {
    pub name: String,
    pub value: WireValue,
}

/// `run`: the daemon asks the worker to run one job. Image references point at this frame's fds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunMessage {
    pub job: u64,
    pub operation: String,
    pub params: Vec<WireParam>,
    pub image: ImageRef,
    pub mask: Option<ImageRef>,
    pub references: Vec<ImageRef>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ToWorker {
    Run(Box<RunMessage>),
    Cancel { job: u64 },
}

/// Why a library was refused; the message says which and why.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not an Easel plugin: {0}")]
    NotAPlugin(String),
    #[error("incompatible plugin: {0}")]
    Incompatible(String),
    #[error("the plugin failed to start: {0}")]
    Failed(String),
}

fn classify(err: LibraryError) -> LoadError {
    match err {
        LibraryError::OpenError { .. } => {
            LoadError::NotAPlugin(format!("cannot be loaded as a shared library ({err})"))
        }
        LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin(
            "it exports no Easel root module (it was not built with easel_sdk::export_plugin!)"
                .to_string(),
        ),
        LibraryError::IncompatibleVersionNumber {
            expected_version,
            actual_version,
            ..
        } => LoadError::Incompatible(format!(
            "built against easel-sdk {actual_version}, this daemon needs a version compatible with {expected_version}"
        )),
        LibraryError::AbiInstability(e) => LoadError::Incompatible(format!(
            "its root module's layout differs from this daemon's easel-sdk (wrong layout): {}",
            layout_mismatch_summary(&e.to_string())
        )),
        other => LoadError::Incompatible(other.to_string()),
    }
}

/// abi_stable's report is both layouts in full followed by the verdict: keep the verdict.
fn layout_mismatch_summary(report: &str) -> String {
    let verdict = report.rfind("Error:").map_or(report, |i| &report[i..]);
    verdict.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Loads a plugin library and checks its ABI. Runs inside the worker, never in the daemon.
pub fn load_plugin(path: &Path) -> Result<(PluginModRef, easel_sdk::PluginInfo), LoadError> {
    let header = lib_header_from_path(path).map_err(classify)?;
    let module = header
        .init_root_module::<PluginModRef>()
        .map_err(classify)?;
    let info = (module.info())();
    if info.abi_version != ABI_VERSION {
        return Err(LoadError::Incompatible(format!(
            "plugin '{}' was built for Easel ABI {}, this daemon speaks ABI {}",
            info.name, info.abi_version, ABI_VERSION
        )));
    }
    Ok((module, info))
}

fn operations(module: PluginModRef) -> Result<Vec<OperationBox>, LoadError> {
    match (module.operations())() {
        RResult::ROk(ops) => Ok(ops.into_iter().collect()),
        RResult::RErr(e) => Err(LoadError::Failed(e.to_string())),
    }
}

type Writer = Arc<Mutex<UnixStream>>;

fn send(out: &Writer, msg: &serde_json::Value, fds: &[std::os::fd::BorrowedFd<'_>]) -> bool {
    transport::send_json(&out.lock(), msg, &[], fds).is_ok()
}

/// The services one job sees.
struct JobHost<'a> {
    job: u64,
    out: &'a Writer,
    cancel: &'a AtomicBool,
    store: &'a Result<ModelStore, String>,
    last_progress: Mutex<Option<Instant>>,
}

impl JobHost<'_> {
    fn store(&self) -> Result<&ModelStore, PluginError> {
        self.store
            .as_ref()
            .map_err(|e| PluginError::environment(format!("the model store is unavailable: {e}")))
    }
}

impl HostServices for JobHost<'_> {
    fn model_info(&self, model_id: RStr<'_>) -> RResult<ModelInfo, PluginError> {
        self.store()
            .and_then(|s| {
                s.info(model_id.as_str())
                    .map_err(|e| PluginError::new(e.kind(), e.to_string()))
            })
            .into()
    }

    fn run_model(
        &self,
        model_id: RStr<'_>,
        inputs: RVec<Tensor>,
        outputs: RVec<RString>,
    ) -> RResult<RVec<Tensor>, PluginError> {
        let wanted: Vec<String> = outputs.iter().map(|s| s.to_string()).collect();
        self.store()
            .and_then(|s| {
                s.run_cancellable(
                    model_id.as_str(),
                    inputs.into_iter().collect(),
                    &wanted,
                    self.cancel,
                )
                .map(RVec::from)
                .map_err(|e| PluginError::new(e.kind(), e.to_string()))
            })
            .into()
    }

    fn progress(&self, fraction: f32, message: RStr<'_>) {
        // At most ~30 updates a second reach the daemon; the last one always does at 1.0.
        let now = Instant::now();
        let mut last = self.last_progress.lock();
        if fraction < 1.0 && last.is_some_and(|t| now - t < Duration::from_millis(33)) {
            return;
        }
        *last = Some(now);
        let fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        send(
            self.out,
            &json!({"type": "progress", "job": self.job, "fraction": fraction, "message": message.as_str()}),
            &[],
        );
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    fn log(&self, level: LogLevel, message: RStr<'_>) {
        let level = match level {
            LogLevel::Error => log::Level::Error,
            LogLevel::Warn => log::Level::Warn,
            LogLevel::Info => log::Level::Info,
            LogLevel::Debug => log::Level::Debug,
        };
        log::log!(level, "job {}: {}", self.job, message.as_str());
    }
}

struct Inputs {
    bytes: Vec<InputBytes>,
}

fn map_ref(
    r: &ImageRef,
    fds: &[std::os::fd::OwnedFd],
) -> Result<(easel_sdk::ImageLayout, InputBytes), PluginError> {
    let layout = r
        .layout(u64::MAX)
        .map_err(|e| PluginError::plugin(format!("daemon sent a bad image: {e}")))?;
    let len = layout
        .required_len()
        .ok_or_else(|| PluginError::limits("image too large"))?;
    let DataRef::Fd { fd, offset } = r.data else {
        return Err(PluginError::plugin("daemon sent inline pixels to a worker"));
    };
    let fd = fds
        .get(fd)
        .ok_or_else(|| PluginError::plugin("daemon sent too few descriptors"))?;
    let bytes = transport::map_input(fd, offset, len)
        .map_err(|e| PluginError::plugin(format!("cannot map job pixels: {e}")))?;
    Ok((layout, bytes))
}

fn run_job(
    op: &OperationBox,
    msg: &RunMessage,
    fds: &[std::os::fd::OwnedFd],
    host: &JobHost<'_>,
) -> Result<easel_sdk::ImageBuf, PluginError> {
    let mut inputs = Inputs { bytes: Vec::new() };
    let mut layouts = Vec::new();
    let all_refs = std::iter::once(&msg.image)
        .chain(msg.mask.iter())
        .chain(msg.references.iter());
    for r in all_refs {
        let (layout, bytes) = map_ref(r, fds)?;
        layouts.push(layout);
        inputs.bytes.push(bytes);
    }
    let views: Vec<ImageView<'_>> = layouts
        .iter()
        .zip(&inputs.bytes)
        .map(|(l, b)| ImageView::new(*l, b))
        .collect::<Result<_, _>>()?;
    let has_mask = msg.mask.is_some() as usize;
    let params: Vec<Param> = msg
        .params
        .iter()
        .map(|p| Param {
            name: p.name.as_str().into(),
            value: (&p.value).into(),
        })
        .collect();
    let job = Job {
        operation: RStr::from_str(&msg.operation),
        image: views[0],
        mask: views.get(1).filter(|_| has_mask == 1).copied().into(),
        references: RSlice::from_slice(&views[1 + has_mask..]),
        params: RSlice::from_slice(&params),
    };
    let host_obj = HostServices_TO::from_ptr(host, TD_Opaque);
    op.run(&job, &host_obj).into_result()
}

/// The worker's main loop. Returns the process exit code.
pub fn worker_main(plugin: &Path, models: ModelStoreConfig) -> i32 {
    // SAFETY: the daemon dup2'ed our end of the socket pair to WORKER_FD before exec.
    let sock = unsafe { UnixStream::from_raw_fd(WORKER_FD) };
    let out: Writer = match sock.try_clone() {
        Ok(s) => Arc::new(Mutex::new(s)),
        Err(_) => return 2,
    };
    let (module, info) = match load_plugin(plugin) {
        Ok(m) => m,
        Err(e) => {
            send(
                &out,
                &json!({"type": "refused", "reason": e.to_string()}),
                &[],
            );
            return 3;
        }
    };
    let ops = match operations(module) {
        Ok(ops) => ops,
        Err(e) => {
            send(
                &out,
                &json!({"type": "refused", "reason": e.to_string()}),
                &[],
            );
            return 3;
        }
    };
    let name = info.name.to_string();
    let descriptors: Vec<_> = ops.iter().map(|o| o.descriptor()).collect();
    send(
        &out,
        &json!({
            "type": "loaded",
            "plugin": {"name": name, "version": info.version.as_str(), "abi_version": info.abi_version},
            "operations": descriptors.iter().map(|d| descriptor_json(d, &name)).collect::<Vec<_>>(),
        }),
        &[],
    );
    let store = ModelStore::new(models).map_err(|e| e.to_string());

    // A reader thread takes cancels while the main thread is inside plugin code.
    let current_job = Arc::new(AtomicU64::new(u64::MAX));
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    {
        let current_job = current_job.clone();
        let cancel = cancel.clone();
        std::thread::spawn(move || loop {
            let frame = match transport::read_frame(&sock, WORKER_LIMITS) {
                Ok(f) => f,
                Err(_) => {
                    // The daemon is gone: nobody wants our results.
                    std::process::exit(0);
                }
            };
            match frame.parse::<ToWorker>() {
                Ok(ToWorker::Cancel { job }) => {
                    if current_job.load(Ordering::SeqCst) == job {
                        cancel.store(true, Ordering::SeqCst);
                    }
                }
                Ok(ToWorker::Run(msg)) => {
                    if tx.send((msg, frame.fds)).is_err() {
                        return;
                    }
                }
                Err(e) => log::error!("worker: bad message from the daemon: {e}"),
            }
        });
    }

    while let Ok((msg, fds)) = rx.recv() {
        cancel.store(false, Ordering::SeqCst);
        current_job.store(msg.job, Ordering::SeqCst);
        let outcome = match descriptors
            .iter()
            .position(|d| d.id == msg.operation.as_str())
        {
            Some(i) => {
                let host = JobHost {
                    job: msg.job,
                    out: &out,
                    cancel: &cancel,
                    store: &store,
                    last_progress: Mutex::new(None),
                };
                run_job(&ops[i], &msg, &fds, &host)
            }
            None => Err(PluginError::plugin(format!(
                "plugin '{name}' has no operation '{}'",
                msg.operation
            ))),
        };
        drop(fds);
        current_job.store(u64::MAX, Ordering::SeqCst);
        let sent = match outcome {
            Ok(buf) => match deliver(&buf) {
                Ok(shm) => send(
                    &out,
                    &json!({"type": "done", "job": msg.job,
                            "image": ImageRef::packed(&buf.layout, DataRef::Fd { fd: 0, offset: 0 })}),
                    &[shm.fd()],
                ),
                Err(e) => send(
                    &out,
                    &json!({"type": "failed", "job": msg.job, "kind": "environment", "message": e}),
                    &[],
                ),
            },
            Err(e) => send(
                &out,
                &json!({"type": "failed", "job": msg.job, "kind": e.kind.as_str(), "message": e.message.as_str()}),
                &[],
            ),
        };
        if !sent {
            break;
        }
    }
    0
}

/// Copies a plugin's result into shared memory for the daemon, checking its layout.
fn deliver(buf: &easel_sdk::ImageBuf) -> Result<SharedMem, String> {
    let packed =
        easel_sdk::ImageLayout::packed(buf.layout.width, buf.layout.height, buf.layout.format);
    if buf.layout != packed || buf.data.len() != packed.required_len().unwrap_or(usize::MAX) {
        return Err(format!(
            "plugin returned a {}x{} image whose buffer ({} bytes) does not match its packed layout",
            buf.layout.width,
            buf.layout.height,
            buf.data.len()
        ));
    }
    let mut shm = SharedMem::create(buf.data.len()).map_err(|e| e.to_string())?;
    shm.as_mut_slice()[..buf.data.len()].copy_from_slice(&buf.data);
    Ok(shm)
}
