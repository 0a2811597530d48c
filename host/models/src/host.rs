//! The host services a plugin sees during one job, over a model store: the one implementation
//! of the SDK's `HostServices` that runs real models (the worker uses it, and so do the
//! plugins' own tests).

use crate::ModelStore;
use easel_sdk::abi_stable::std_types::{RResult, RStr, RString, RVec};
use easel_sdk::{HostServices, LogLevel, ModelInfo, PluginError, Tensor};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Where progress reports go.
pub type ProgressSink<'a> = &'a (dyn Fn(f32, &str) + Sync);

/// One model run of a job, as [`StoreHost`] saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRunRecord {
    pub model: String,
    /// Each input's name and shape.
    pub inputs: Vec<(String, Vec<i64>)>,
    pub outputs: Vec<String>,
    /// The run itself (tensors in and out included, loading not).
    pub took: Duration,
}

/// Host services for one job over `store`.
pub struct StoreHost<'a> {
    job: u64,
    store: Result<&'a ModelStore, &'a str>,
    cancel: &'a AtomicBool,
    progress: Option<ProgressSink<'a>>,
    last_progress: Mutex<Option<Instant>>,
    /// The last fraction reported, so that a model load is reported where the job stands.
    last_fraction: Mutex<f32>,
    /// The job's model runs so far.
    runs: Mutex<Vec<ModelRunRecord>>,
}

impl<'a> StoreHost<'a> {
    /// Services for job `job`; `store` is the reason it cannot be had when it is an error.
    pub fn new(job: u64, store: Result<&'a ModelStore, &'a str>, cancel: &'a AtomicBool) -> Self {
        StoreHost {
            job,
            store,
            cancel,
            progress: None,
            last_progress: Mutex::new(None),
            last_fraction: Mutex::new(0.0),
            runs: Mutex::new(Vec::new()),
        }
    }

    /// The model runs of this job so far, in order.
    pub fn model_runs(&self) -> Vec<ModelRunRecord> {
        self.runs.lock().clone()
    }

    /// Progress goes to `sink`, at most ~30 times a second (the final 1.0 always).
    pub fn with_progress(mut self, sink: ProgressSink<'a>) -> Self {
        self.progress = Some(sink);
        self
    }

    /// Says "loading model `id`" (unthrottled) when the model is not resident: a first load
    /// can take seconds, and the client should see why nothing moves.
    fn report_load(&self, store: &ModelStore, id: &str) {
        let Some(sink) = self.progress else { return };
        if !store.needs_load(id) {
            return;
        }
        let fraction = *self.last_fraction.lock();
        *self.last_progress.lock() = Some(Instant::now());
        sink(fraction, &format!("loading model {id}"));
    }

    fn store(&self) -> Result<&'a ModelStore, PluginError> {
        self.store
            .map_err(|e| PluginError::environment(format!("the model store is unavailable: {e}")))
    }
}

impl HostServices for StoreHost<'_> {
    fn model_info(&self, model_id: RStr<'_>) -> RResult<ModelInfo, PluginError> {
        self.store()
            .and_then(|s| {
                if !s.info_is_declared(model_id.as_str()) {
                    self.report_load(s, model_id.as_str());
                }
                s.info(model_id.as_str()).map_err(PluginError::from)
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
        let shapes: Vec<(String, Vec<i64>)> = inputs
            .iter()
            .map(|t| (t.name.to_string(), t.shape.to_vec()))
            .collect();
        self.store()
            .and_then(|s| {
                self.report_load(s, model_id.as_str());
                let (tensors, took) = s
                    .run_timed(
                        model_id.as_str(),
                        inputs.into_iter().collect(),
                        &wanted,
                        self.cancel,
                    )
                    .map_err(PluginError::from)?;
                self.runs.lock().push(ModelRunRecord {
                    model: model_id.to_string(),
                    inputs: shapes,
                    outputs: wanted,
                    took,
                });
                Ok(RVec::from(tensors))
            })
            .into()
    }

    fn progress(&self, fraction: f32, message: RStr<'_>) {
        let Some(sink) = self.progress else { return };
        let fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        *self.last_fraction.lock() = fraction;
        let now = Instant::now();
        let mut last = self.last_progress.lock();
        if fraction < 1.0 && last.is_some_and(|t| now - t < Duration::from_millis(33)) {
            return;
        }
        *last = Some(now);
        drop(last);
        sink(fraction, message.as_str());
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    fn log(&self, level: LogLevel, message: RStr<'_>) {
        let level = match level {
            LogLevel::Error => log::Level::Error,
            LogLevel::Warn => log::Level::Warn,
            LogLevel::Info => log::Level::Info,
            _ => log::Level::Debug,
        };
        log::log!(level, "job {}: {}", self.job, message.as_str());
    }
}
