//! Plugin supervision: one worker process per plugin slot, restarted when it dies. A job runs
//! as one exchange with the worker, or as a loop of exchanges over its tiles; either way its
//! results go through the same masking and blending into the output.

pub mod discovery;
mod exchange;
pub mod process;

use crate::{
    config::Limits,
    jobs::{mask_result, JobOutput, JobState, SharedImage, WorkInput},
    scheduler::Scheduler,
};
use easel_imaging::{
    self as imaging,
    tiling::{output_layout, Blender, Tile},
    ImageView, Rect,
};
use easel_ipc::SharedMem;
use easel_protocol::{Code, JobTimings, PixelFormat, PluginStatus, ProtocolError};
use exchange::{bad_result, exchange, JobSupervision, RunFailure, RunParts};
pub use process::{probe, LoadOutcome, Spawner, WorkerProcess};
use std::{
    borrow::Cow,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

/// A plugin library and what became of it.
#[derive(Debug, Clone)]
pub struct PluginRecord {
    pub path: PathBuf,
    pub outcome: LoadOutcome,
}

impl PluginRecord {
    pub fn status(&self) -> PluginStatus {
        let path = self.path.display().to_string();
        match &self.outcome {
            LoadOutcome::Loaded { name, version, .. } => PluginStatus::Loaded {
                name: name.clone(),
                version: version.clone(),
                path,
            },
            LoadOutcome::Refused(reason) => PluginStatus::Refused {
                path,
                reason: reason.clone(),
            },
        }
    }
}

/// Loads every plugin (each in its own worker, in parallel) and starts the slot threads that
/// feed them jobs. Returns what was found.
pub fn start_plugins(
    found: Vec<discovery::Found>,
    spawner: &Spawner,
    workers_per_plugin: usize,
    limits: &Limits,
    scheduler: &Arc<Scheduler>,
) -> Vec<PluginRecord> {
    let mut records = Vec::new();
    let mut probes = Vec::new();
    for f in found {
        match f {
            discovery::Found::Library(path) => {
                let spawner = spawner.clone();
                probes.push(std::thread::spawn(move || {
                    let (outcome, worker) = probe(&spawner, &path);
                    (path, outcome, worker)
                }));
            }
            discovery::Found::Refused { path, reason } => {
                log::warn!("plugin {} refused: {reason}", path.display());
                records.push(PluginRecord {
                    path,
                    outcome: LoadOutcome::Refused(reason),
                });
            }
        }
    }
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

impl Slot {
    fn drive(self, mut worker: Option<WorkerProcess>) {
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
                Ok(out) => job.finish(Ok(out)),
                Err(RunFailure::Job(err)) => job.finish(Err(err)),
                Err(RunFailure::WorkerLost(err)) => {
                    // Dropping the handle kills and reaps the process.
                    worker = None;
                    job.finish(Err(err));
                }
            }
            self.scheduler.done();
        }
    }

    /// Runs a job: its whole crop as one tile, or each tile of a large crop of a tileable
    /// operation, blending each masked result into the output.
    fn run(&self, w: &mut WorkerProcess, job: &Arc<JobState>) -> Result<JobOutput, RunFailure> {
        let started = Instant::now();
        if job.is_cancelled() {
            return Err(RunFailure::Job(ProtocolError::cancelled()));
        }
        let Some(work) = job.work.lock().take() else {
            return Err(RunFailure::Job(ProtocolError::internal(
                "job has no prepared input",
            )));
        };
        let post = &work.post;
        let scale = post.output_scale.max(1);
        let job_err = |e: ProtocolError| RunFailure::Job(e);
        let layout = output_layout(post.crop.width, post.crop.height, scale, post.result_format)
            .ok_or_else(|| {
                job_err(ProtocolError::too_large(
                    "the output does not fit in memory",
                ))
            })?;
        let len = layout.required_len().unwrap_or(0);
        let mem = SharedMem::create(len).map_err(|e| {
            job_err(ProtocolError::internal(format!(
                "cannot allocate the output ({len} bytes): {e}"
            )))
        })?;
        let full = Rect {
            x: 0,
            y: 0,
            width: post.crop.width,
            height: post.crop.height,
        };
        let (tiles, band): (Cow<'_, [Tile]>, u32) = match &work.input {
            WorkInput::Whole { .. } => (
                Cow::Owned(vec![Tile {
                    core: full,
                    input: full,
                }]),
                0,
            ),
            WorkInput::Tiled { tiles, band, .. } => (Cow::Borrowed(tiles), *band),
        };
        let mut blender = Blender::new(mem, layout, scale, band)
            .ok_or_else(|| job_err(ProtocolError::internal("the output buffer is too small")))?;
        let mut sup = JobSupervision::default();
        let mut timings = JobTimings::default();
        let n = tiles.len() as f64;
        for (i, tile) in tiles.iter().enumerate() {
            // The run's input: the prepared whole crop, or this tile converted now.
            let tile_input;
            let (image, mask, original, tile_mask) = match &work.input {
                WorkInput::Whole { image, mask } => (
                    image,
                    mask.as_ref(),
                    post.original.as_ref().map(Cow::Borrowed),
                    post.mask.as_ref().map(Cow::Borrowed),
                ),
                WorkInput::Tiled {
                    source, send_mask, ..
                } => {
                    let source_view = source.view();
                    let tile_view = source_view.sub_view(tile.input).ok_or_else(|| {
                        job_err(ProtocolError::internal("a tile lies outside the image"))
                    })?;
                    let tile_mask = post
                        .mask
                        .as_ref()
                        .map(|m| imaging::crop_mask(m, tile.input));
                    // The tile is converted once, into the worker's shared memory; an owned
                    // copy only when the result is composited over it.
                    let working = (post.composite && tile_mask.is_some())
                        .then(|| imaging::convert(&tile_view, post.working_format));
                    let image = match &working {
                        Some(w) => SharedImage::from_owned(w),
                        None => SharedImage::from_view(&tile_view, post.working_format),
                    }
                    .map_err(job_err)?;
                    let mask_shared = match tile_mask.as_ref().filter(|_| *send_mask) {
                        Some(m) => Some(
                            SharedImage::from_owned(&m.to_image(PixelFormat::Gray32F))
                                .map_err(job_err)?,
                        ),
                        None => None,
                    };
                    tile_input = (image, mask_shared);
                    (
                        &tile_input.0,
                        tile_input.1.as_ref(),
                        working.map(Cow::Owned),
                        tile_mask.map(Cow::Owned),
                    )
                }
            };
            let parts = RunParts {
                image,
                mask,
                references: &work.references,
                params: &work.params,
                progress: (i as f64 / n, 1.0 / n),
            };
            let mut result =
                exchange(w, &self.plugin, &self.limits, job, parts, started, &mut sup)?;
            timings.merge(std::mem::take(&mut result.timings));
            let bytes = result.bytes(&self.plugin).map_err(job_err)?;
            let view = ImageView::new(result.layout, &bytes)
                .map_err(|e| job_err(bad_result(&self.plugin, &e.to_string())))?;
            let masked = mask_result(
                post,
                &view,
                (tile.input.width * scale, tile.input.height * scale),
                tile_mask.as_deref(),
                original.as_deref(),
                &self.plugin,
            )
            .map_err(job_err)?;
            match &masked {
                Some(masked) => blender.place(tile, &masked.view()),
                None => blender.place(tile, &view),
            }
        }
        let mut output = post.output(
            SharedImage {
                layout,
                mem: blender.into_output(),
            },
            started,
        );
        output.timings = Some(timings);
        Ok(output)
    }
}
