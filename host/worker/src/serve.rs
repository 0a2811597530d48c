//! The worker's loop: say what the plugin offers, then run the jobs the daemon sends, one at a
//! time, while a reader thread takes cancels. The daemon's socket is on [`WORKER_FD`].

use crate::describe::{failure, operation_info, sdk_layout, sdk_param, wire_layout};
use crate::loader::load_plugin;
use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RResult, RSlice, RStr},
};
use easel_ipc::{resolve_image, send, Frame, FrameLimits, SharedMem};
use easel_models::{ModelRunRecord, ModelStore, ModelStoreConfig, StoreHost};
use easel_protocol::worker::{FailureKind, FromWorker, PluginIdentity, RunJob, ToWorker};
use easel_protocol::{DataRef, ImageRef, JobTimings, ModelRuns, TensorShape};
use easel_sdk::{HostServices_TO, ImageView, Job, OperationBox, PluginError, PluginModRef};
use std::{
    os::{fd::FromRawFd, unix::net::UnixStream},
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc, Arc, Mutex,
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

type Writer = Arc<Mutex<UnixStream>>;

/// How long after a job the worker returns the heap it freed to the system.
const TRIM_AFTER: Duration = Duration::from_secs(2);

/// Heap the worker keeps faulted in between jobs (and faults in at start), so an interactive
/// job after a pause, or the first one, does not pay a page fault for every page of its working
/// memory (at 600×399 that was half of a fix-low-light job). `EASEL_KEEP_HEAP_MB` changes it.
const KEEP_HEAP_MB: usize = 48;

fn keep_heap_bytes() -> usize {
    std::env::var("EASEL_KEEP_HEAP_MB")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(KEEP_HEAP_MB)
        .saturating_mul(1 << 20)
}

fn tell(out: &Writer, msg: &FromWorker, fds: &[std::os::fd::BorrowedFd<'_>]) -> bool {
    match out.lock() {
        Ok(sock) => send(&sock, msg, &[], fds).is_ok(),
        Err(_) => false,
    }
}

fn operations(module: PluginModRef) -> Result<Vec<OperationBox>, PluginError> {
    match (module.operations())() {
        RResult::ROk(ops) => Ok(ops.into_iter().collect()),
        RResult::RErr(e) => Err(e),
    }
}

/// Runs one job: maps its images, hands them to the plugin, returns the plugin's result.
fn run_job(
    op: &OperationBox,
    msg: &RunJob,
    frame: &Frame,
    host: &StoreHost<'_>,
) -> Result<easel_sdk::ImageBuf, PluginError> {
    let refs: Vec<&ImageRef> = std::iter::once(&msg.image)
        .chain(msg.mask.iter())
        .chain(msg.references.iter())
        .collect();
    let mut mapped = Vec::with_capacity(refs.len());
    for (i, r) in refs.iter().enumerate() {
        let (layout, bytes) = resolve_image(r, frame, u64::MAX, &format!("image {i}"))
            .map_err(|e| PluginError::plugin(format!("the daemon sent a bad image: {e}")))?;
        let layout = sdk_layout(&layout).map_err(|e| {
            PluginError::plugin(format!("the daemon sent a bad image: {}", e.message))
        })?;
        mapped.push((layout, bytes));
    }
    let views: Vec<ImageView<'_>> = mapped
        .iter()
        .map(|(l, b)| ImageView::new(*l, b))
        .collect::<Result<_, _>>()?;
    let has_mask = usize::from(msg.mask.is_some());
    let params: Vec<_> = msg.params.iter().map(sdk_param).collect();
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

/// A run's timings for the daemon: the plugin's whole run and its model runs, grouped.
fn job_timings(plugin: Duration, runs: Vec<ModelRunRecord>) -> JobTimings {
    let mut timings = JobTimings {
        plugin_ms: plugin.as_secs_f64() * 1e3,
        inference: Vec::new(),
    };
    for r in runs {
        timings.add_runs(ModelRuns {
            model: r.model,
            inputs: r
                .inputs
                .into_iter()
                .map(|(name, shape)| TensorShape { name, shape })
                .collect(),
            outputs: r.outputs,
            runs: 1,
            total_ms: r.took.as_secs_f64() * 1e3,
        });
    }
    timings
}

/// The worker's main loop with models in this process. Returns the process exit code.
pub fn worker_main(plugin: &Path, unload_after: Duration, models: ModelStoreConfig) -> i32 {
    worker_main_with(plugin, unload_after, models, None)
}

/// The worker's main loop; `inference` is the daemon's `[inference]` configuration as JSON
/// (models routed to inference servers, see `easel_models::remote`). Returns the exit code.
pub fn worker_main_with(
    plugin: &Path,
    unload_after: Duration,
    models: ModelStoreConfig,
    inference: Option<&str>,
) -> i32 {
    worker_main_warm(plugin, unload_after, models, inference, &[])
}

/// [`worker_main_with`] that also loads, in the background right after the plugin is up, the
/// models of `warm` that the plugin's operations declare (and runs each once), so the first
/// job does not wait for them.
pub fn worker_main_warm(
    plugin: &Path,
    unload_after: Duration,
    models: ModelStoreConfig,
    inference: Option<&str>,
    warm: &[String],
) -> i32 {
    // SAFETY: the daemon dup2'ed our end of the socket pair to WORKER_FD before exec.
    let sock = unsafe { UnixStream::from_raw_fd(WORKER_FD) };
    let out: Writer = match sock.try_clone() {
        Ok(s) => Arc::new(Mutex::new(s)),
        Err(_) => return 2,
    };
    let refuse = |reason: String| {
        tell(&out, &FromWorker::Refused { reason }, &[]);
        3
    };
    let (module, info) = match load_plugin(plugin) {
        Ok(m) => m,
        Err(e) => return refuse(e.to_string()),
    };
    let ops = match operations(module) {
        Ok(ops) => ops,
        Err(e) => return refuse(format!("the plugin failed to start: {e}")),
    };
    let name = info.name.to_string();
    // Operations that declare something this worker cannot describe (a value from a newer
    // SDK) are left out, with the reason in the log; the plugin's other operations load.
    let mut infos = Vec::new();
    let mut offered = Vec::new();
    for op in ops {
        let d = op.descriptor();
        match operation_info(&op, &d, &name) {
            Ok(info) => {
                infos.push(info);
                offered.push((op, d));
            }
            Err(why) => log::warn!("worker: plugin '{name}': {why}"),
        }
    }
    let (ops, descriptors): (Vec<OperationBox>, Vec<_>) = offered.into_iter().unzip();
    tell(
        &out,
        &FromWorker::Loaded {
            plugin: PluginIdentity {
                name: name.clone(),
                version: info.version.to_string(),
                abi_version: info.abi_version,
            },
            operations: infos,
        },
        &[],
    );
    let store: Result<Arc<ModelStore>, String> =
        easel_models::remote::routed_store(models, inference).map(Arc::new);
    if let Err(e) = &store {
        log::error!("worker: the model store is unavailable: {e}");
    }
    // Set when the first job comes: warming then loads, but runs nothing more.
    let busy = Arc::new(AtomicBool::new(false));
    let mut wanted: Vec<String> = Vec::new();
    if store.is_ok() {
        for d in &descriptors {
            for m in d.models.iter() {
                let m = m.to_string();
                if warm.contains(&m) && !wanted.contains(&m) {
                    wanted.push(m);
                }
            }
        }
    }
    // The daemon counts this worker as warming until it hears `Warmed` (its readiness).
    match (&store, wanted.is_empty()) {
        (Ok(store), false) => {
            let (store, busy, out) = (store.clone(), busy.clone(), out.clone());
            std::thread::spawn(move || {
                let mut models = Vec::new();
                for id in wanted {
                    match store.warm(&id, &busy) {
                        Ok(()) => models.push(id),
                        Err(e) => log::info!("worker: model `{id}` not warmed: {e}"),
                    }
                }
                tell(&out, &FromWorker::Warmed { models }, &[]);
            });
        }
        _ => {
            tell(&out, &FromWorker::Warmed { models: Vec::new() }, &[]);
        }
    }
    // Models come back out of memory when nobody has used them for a while.
    let last_job = Arc::new(Mutex::new(Instant::now()));
    if let (Ok(store), false) = (&store, unload_after.is_zero()) {
        let (store, last_job) = (store.clone(), last_job.clone());
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1).min(unload_after));
            let idle = last_job.lock().map(|t| t.elapsed()).unwrap_or_default();
            if idle >= unload_after && !store.resident().is_empty() {
                log::info!("no job for {} s: unloading the models", idle.as_secs());
                store.unload_all();
            }
        });
    }

    keep_freed_heap();
    fault_in_heap(keep_heap_bytes());
    // The heap a job freed goes back to the system once no job has come for a moment (not after
    // every job: back-to-back jobs reuse it instead of faulting it in again).
    {
        let last_job = last_job.clone();
        std::thread::spawn(move || {
            let mut trimmed_for = None;
            loop {
                std::thread::sleep(Duration::from_millis(500));
                let Ok(t) = last_job.lock().map(|t| *t) else {
                    return;
                };
                if t.elapsed() >= TRIM_AFTER && trimmed_for != Some(t) {
                    release_freed();
                    trimmed_for = Some(t);
                }
            }
        });
    }
    // A reader thread takes cancels while the main thread is inside plugin code.
    let current_job = Arc::new(AtomicU64::new(u64::MAX));
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<(Box<RunJob>, Frame)>();
    {
        let current_job = current_job.clone();
        let cancel = cancel.clone();
        let busy = busy.clone();
        std::thread::spawn(move || loop {
            let Ok(frame) = easel_ipc::read_frame(&sock, WORKER_LIMITS) else {
                // The daemon is gone: nobody wants our results.
                std::process::exit(0);
            };
            match frame.parse::<ToWorker>() {
                Ok(ToWorker::Cancel { job }) => {
                    if current_job.load(Ordering::SeqCst) == job {
                        cancel.store(true, Ordering::SeqCst);
                    }
                }
                Ok(ToWorker::Run(msg)) => {
                    busy.store(true, Ordering::Relaxed);
                    if tx.send((msg, frame)).is_err() {
                        return;
                    }
                }
                Err(e) => log::error!("worker: bad message from the daemon: {e}"),
            }
        });
    }

    while let Ok((msg, frame)) = rx.recv() {
        cancel.store(false, Ordering::SeqCst);
        current_job.store(msg.job, Ordering::SeqCst);
        let job = msg.job;
        let mut timings = JobTimings::default();
        let outcome = match descriptors
            .iter()
            .position(|d| d.id == msg.operation.as_str())
        {
            Some(i) => {
                let progress = |fraction: f32, message: &str| {
                    tell(
                        &out,
                        &FromWorker::Progress {
                            job,
                            fraction: fraction as f64,
                            message: message.to_string(),
                        },
                        &[],
                    );
                };
                let host = StoreHost::new(
                    job,
                    store.as_ref().map(|s| &**s).map_err(String::as_str),
                    &cancel,
                )
                .with_progress(&progress);
                let started = Instant::now();
                let outcome = run_job(&ops[i], &msg, &frame, &host);
                timings = job_timings(started.elapsed(), host.model_runs());
                outcome
            }
            None => Err(PluginError::plugin(format!(
                "plugin '{name}' has no operation '{}'",
                msg.operation
            ))),
        };
        drop(frame);
        current_job.store(u64::MAX, Ordering::SeqCst);
        if let Ok(mut t) = last_job.lock() {
            *t = Instant::now();
        }
        let sent = match outcome.map_err(|e| failure(&e)) {
            Ok(buf) => match deliver(&buf) {
                Ok((shm, layout)) => tell(
                    &out,
                    &FromWorker::Done {
                        job,
                        image: ImageRef::new(&layout, DataRef::Fd { fd: 0, offset: 0 }),
                        timings,
                    },
                    &[shm.fd()],
                ),
                Err(message) => tell(
                    &out,
                    &FromWorker::Failed {
                        job,
                        kind: FailureKind::Plugin,
                        message,
                    },
                    &[],
                ),
            },
            Err((kind, message)) => tell(&out, &FromWorker::Failed { job, kind, message }, &[]),
        };
        if !sent {
            break;
        }
    }
    0
}

/// Makes glibc keep freed memory in its heap (no mmap per large block, no trim on free), so a
/// run's activations are reused by the next run without being faulted in again; the worker
/// returns it itself with [`release_freed`] once jobs stop coming.
fn keep_freed_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if trim_enabled() {
        // SAFETY: mallopt only changes glibc's allocation thresholds.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        }
    }
}

/// Grows this thread's heap by `bytes`, touching every page, and frees it again: with
/// [`keep_freed_heap`]'s settings the pages stay in the heap for the jobs, which run on this
/// thread. Nothing when freed memory is not kept (`EASEL_MALLOC_TRIM=0`).
fn fault_in_heap(bytes: usize) {
    if bytes == 0 || !trim_enabled() {
        return;
    }
    // Non-zero, so every page is written (zeros could come from untouched fresh pages).
    let block = vec![1u8; bytes];
    std::hint::black_box(&block);
}

fn trim_enabled() -> bool {
    static TRIM: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRIM.get_or_init(|| {
        !matches!(
            std::env::var("EASEL_MALLOC_TRIM").as_deref(),
            Ok("0" | "false" | "no" | "off")
        )
    })
}

/// Hands the heap jobs freed back to the system (glibc keeps freed pages of its arenas
/// otherwise: a 4K job would leave hundreds of MB resident), all but the top
/// [`KEEP_HEAP_MB`] of the heap. `EASEL_MALLOC_TRIM=0` keeps them.
fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if trim_enabled() {
            // SAFETY: malloc_trim only walks glibc's own arenas; no pointer is handed over.
            unsafe {
                libc::malloc_trim(keep_heap_bytes());
            }
        }
    }
}

/// Copies a plugin's result into shared memory for the daemon, checking its layout; returns
/// the layout as the daemon's wire describes it.
fn deliver(buf: &easel_sdk::ImageBuf) -> Result<(SharedMem, easel_protocol::ImageLayout), String> {
    let layout = wire_layout(&buf.layout())
        .map_err(|e| format!("returned an image the daemon cannot read: {e}"))?;
    let packed = easel_sdk::ImageLayout::packed(buf.width(), buf.height(), buf.format());
    let data = buf.as_bytes();
    if buf.layout() != packed || data.len() != packed.required_len().unwrap_or(usize::MAX) {
        return Err(format!(
            "returned a {}x{} image whose buffer ({} bytes) does not match its packed layout",
            buf.width(),
            buf.height(),
            data.len()
        ));
    }
    let shm = SharedMem::from_bytes(data).map_err(|e| e.to_string())?;
    Ok((shm, layout))
}
