//! One exchange with a worker: send one run (a whole job or one tile), then supervise it until
//! the worker answers, fails or has to be stopped — time, memory and cancellation enforced from
//! outside the plugin.

use super::process::WorkerProcess;
use crate::config::Limits;
use crate::jobs::{JobState, SharedImage};
use easel_ipc::{resolve_image, Frame, ImageBytes};
use easel_protocol::worker::{FromWorker, RunJob, ToWorker};
use easel_protocol::{Code, ImageLayout, JobTimings, ProtocolError, ResolvedParam};
use std::{
    sync::mpsc,
    time::{Duration, Instant},
};

/// How a run ended when it did not produce a result.
pub enum RunFailure {
    /// The job failed; the worker is fine.
    Job(ProtocolError),
    /// The worker had to be killed or died; it must be restarted.
    WorkerLost(ProtocolError),
}

/// What one run sends.
pub struct RunParts<'a> {
    pub image: &'a SharedImage,
    pub mask: Option<&'a SharedImage>,
    pub references: &'a [SharedImage],
    pub params: &'a [ResolvedParam],
    /// This run's share of the job's progress: (start, span).
    pub progress: (f64, f64),
}

/// A worker's result: its layout and the frame whose descriptor holds the pixels.
pub struct RunResult {
    pub layout: ImageLayout,
    /// Where the run's time went in the worker.
    pub timings: JobTimings,
    frame: Frame,
    image: easel_protocol::ImageRef,
}

impl RunResult {
    /// The result's pixels, mapped without trusting the worker.
    pub fn bytes(&self, plugin: &str) -> Result<ImageBytes<'_>, ProtocolError> {
        resolve_image(&self.image, &self.frame, u64::MAX, "result")
            .map(|(_, b)| b)
            .map_err(|e| bad_result(plugin, &e.message))
    }
}

pub fn bad_result(plugin: &str, what: &str) -> ProtocolError {
    ProtocolError::new(
        Code::PluginError,
        format!("plugin '{plugin}' returned {what}"),
    )
}

/// State kept across the runs of one job: whether a cancel was sent, and when.
#[derive(Default)]
pub struct JobSupervision {
    cancel_sent: Option<Instant>,
}

/// Sends one run to the worker and supervises it until it answers, fails or is stopped.
pub fn exchange(
    w: &mut WorkerProcess,
    plugin: &str,
    limits: &Limits,
    job: &JobState,
    parts: RunParts<'_>,
    started: Instant,
    sup: &mut JobSupervision,
) -> Result<RunResult, RunFailure> {
    let mut fds = vec![parts.image.mem.fd()];
    let mask = parts.mask.map(|m| {
        fds.push(m.mem.fd());
        m.wire_ref(fds.len() - 1)
    });
    let references = parts
        .references
        .iter()
        .map(|r| {
            fds.push(r.mem.fd());
            r.wire_ref(fds.len() - 1)
        })
        .collect();
    let msg = ToWorker::Run(Box::new(RunJob {
        job: job.id,
        operation: job.operation.clone(),
        params: parts.params.to_vec(),
        image: parts.image.wire_ref(0),
        mask,
        references,
    }));
    let sent = easel_ipc::send(&w.sock, &msg, &[], &fds);
    drop(fds);
    if let Err(e) = sent {
        return Err(RunFailure::WorkerLost(crashed(
            w,
            plugin,
            job,
            &format!("cannot send it the job: {e}"),
        )));
    }
    let timeout = Duration::from_secs_f64(limits.job_timeout_s.max(0.001));
    let memory_limit = limits.worker_memory_mb.saturating_mul(1 << 20);
    let grace = Duration::from_millis(limits.cancel_grace_ms);
    let (base, span) = parts.progress;
    loop {
        match w.rx.recv_timeout(Duration::from_millis(20)) {
            Ok(Some(frame)) => match frame.parse::<FromWorker>() {
                Ok(FromWorker::Progress {
                    job: id,
                    fraction,
                    message,
                }) if id == job.id => job.progress(base + span * fraction.clamp(0.0, 1.0), &message),
                Ok(FromWorker::Done {
                    job: id,
                    image,
                    timings,
                }) if id == job.id => {
                    let layout = image
                        .layout(u64::MAX)
                        .map_err(|e| RunFailure::Job(bad_result(plugin, &e.message)))?;
                    return Ok(RunResult {
                        layout,
                        timings,
                        frame,
                        image,
                    });
                }
                Ok(FromWorker::Failed {
                    job: id,
                    kind,
                    message,
                }) if id == job.id => return Err(RunFailure::Job(kind.to_error(plugin, &message))),
                Ok(_) => {}
                Err(e) => {
                    return Err(RunFailure::WorkerLost(ProtocolError::new(
                        Code::PluginCrashed,
                        format!("plugin '{plugin}' sent garbage on its worker channel ({e}); its worker was restarted"),
                    )))
                }
            },
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(RunFailure::WorkerLost(crashed(w, plugin, job, "it died")));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if job.is_cancelled() {
            match sup.cancel_sent {
                None => {
                    let _ = easel_ipc::send(&w.sock, &ToWorker::Cancel { job: job.id }, &[], &[]);
                    sup.cancel_sent = Some(Instant::now());
                }
                Some(at) if at.elapsed() > grace => {
                    log::warn!(
                        "plugin '{plugin}' ignored a cancel for {} ms; killing its worker",
                        grace.as_millis()
                    );
                    return Err(RunFailure::WorkerLost(ProtocolError::cancelled()));
                }
                Some(_) => {}
            }
        }
        if started.elapsed() > timeout {
            return Err(RunFailure::WorkerLost(ProtocolError::new(
                Code::PluginTimeout,
                format!(
                    "plugin '{plugin}' ran '{}' for more than {} s; its worker was stopped and restarted",
                    job.operation, limits.job_timeout_s
                ),
            )));
        }
        if let Some(rss) = w.rss_bytes() {
            if rss > memory_limit {
                return Err(RunFailure::WorkerLost(ProtocolError::new(
                    Code::PluginMemory,
                    format!(
                        "plugin '{plugin}' used {} MiB running '{}', over the limit of {} MiB; its worker was stopped and restarted",
                        rss >> 20, job.operation, limits.worker_memory_mb
                    ),
                )));
            }
        }
    }
}

fn crashed(w: &mut WorkerProcess, plugin: &str, job: &JobState, what: &str) -> ProtocolError {
    let how = w.exit_description();
    ProtocolError::new(
        Code::PluginCrashed,
        format!(
            "plugin '{plugin}' crashed while running '{}' ({what}: {how}); its worker was restarted",
            job.operation
        ),
    )
}
