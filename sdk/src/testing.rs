//! Test support for plugin authors (the `testing` feature): a [`TestHost`] that records what an
//! operation reports, cancels on demand and runs models through a closure, and job builders, so
//! tests call an operation through the same `Operation::run` vtable the daemon calls.
//!
//! ```ignore
//! let host = TestHost::new().cancel_after(3);
//! let out = host.run_op(&MyOp, image.view(), &[("amount", ParamValue::float(0.5))]);
//! assert!(host.progress().len() > 1);
//! ```
//! For a plugin that runs models, give the host a runner, for example one that calls the
//! daemon's own model store (`easel_models::ModelStore::run`):
//! `TestHost::new().with_models(|id, inputs, outputs| store.run(id, inputs, outputs).map_err(..))`.

use crate::{
    error::PluginError,
    host::{HostServices, HostServices_TO, LogLevel, ModelInfo, Tensor, TensorSpec},
    image::{ImageBuf, ImageView},
    op::{Job, Operation, OperationDescriptor},
    params::{Param, ParamValue},
    Host,
};
use abi_stable::{
    sabi_trait::TD_Opaque,
    sabi_types::RRef,
    std_types::{ROption, RResult, RSlice, RStr, RString, RVec},
};
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Mutex, MutexGuard,
};

/// What a [`TestHost`] does when a plugin runs a model: model id, inputs, the outputs wanted
/// (empty: all).
pub type ModelRunner =
    Box<dyn Fn(&str, Vec<Tensor>, &[String]) -> Result<Vec<Tensor>, PluginError> + Send + Sync>;

/// One recorded model run: the model id and its inputs' names and shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRun {
    pub model: String,
    pub inputs: Vec<(String, Vec<i64>)>,
}

/// Host services for tests. Records progress, logs and model runs; `is_cancelled` turns true
/// after a chosen number of checks; models run through an optional closure (without one, every
/// model is missing, as in a store without it).
#[derive(Default)]
pub struct TestHost {
    runner: Option<ModelRunner>,
    infos: Vec<ModelInfo>,
    cancel_after: Option<usize>,
    checks: AtomicUsize,
    progress: Mutex<Vec<(f32, String)>>,
    logs: Mutex<Vec<(LogLevel, String)>>,
    runs: Mutex<Vec<ModelRun>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TestHost {
    /// A host that never cancels and has no models.
    pub fn new() -> Self {
        Self::default()
    }
    /// `is_cancelled` answers true from the `checks`-th call on (counting from 0: `0` cancels
    /// at the first check).
    pub fn cancel_after(mut self, checks: usize) -> Self {
        self.cancel_after = Some(checks);
        self
    }
    /// Runs models through `runner`.
    pub fn with_models(
        mut self,
        runner: impl Fn(&str, Vec<Tensor>, &[String]) -> Result<Vec<Tensor>, PluginError>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        self.runner = Some(Box::new(runner));
        self
    }
    /// Answers `model_info` for this model (without one, `model_info` says it is missing).
    pub fn with_model_info(mut self, info: ModelInfo) -> Self {
        self.infos.push(info);
        self
    }

    /// This host as a plugin sees it.
    pub fn host(&self) -> Host<'_> {
        HostServices_TO::from_ptr(RRef::new(self), TD_Opaque)
    }

    /// Every progress report so far, in order.
    pub fn progress(&self) -> Vec<(f32, String)> {
        lock(&self.progress).clone()
    }
    /// Every log message so far, in order.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        lock(&self.logs).clone()
    }
    /// Every model run so far, in order.
    pub fn runs(&self) -> Vec<ModelRun> {
        lock(&self.runs).clone()
    }
    /// How many times the plugin asked whether the job was cancelled.
    pub fn cancel_checks(&self) -> usize {
        self.checks.load(Ordering::SeqCst)
    }

    /// Runs `op` on `job` through the boundary types, as the worker would.
    pub fn run<O: Operation + ?Sized>(
        &self,
        op: &O,
        job: &Job<'_>,
    ) -> Result<ImageBuf, PluginError> {
        op.run(job, &self.host()).into_result()
    }

    /// Runs `op` on `image` (no mask, no references) with its declared defaults, `overrides`
    /// replacing some; the job's operation id is the descriptor's.
    ///
    /// # Panics
    /// When an override names no parameter or fails the parameter's check (a test bug).
    pub fn run_op<O: Operation + ?Sized>(
        &self,
        op: &O,
        image: ImageView<'_>,
        overrides: &[(&str, ParamValue)],
    ) -> Result<ImageBuf, PluginError> {
        let d = op.descriptor();
        let params = job_params(&d, overrides);
        let job = job(d.id.as_str(), image, None, &[], &params);
        self.run(op, &job)
    }
}

impl HostServices for TestHost {
    fn model_info(&self, model_id: RStr<'_>) -> RResult<ModelInfo, PluginError> {
        match self.infos.iter().find(|i| i.id == model_id) {
            Some(info) => RResult::ROk(info.clone()),
            None => RResult::RErr(PluginError::environment(format!(
                "model '{model_id}' is not in the test host's store"
            ))),
        }
    }

    fn run_model(
        &self,
        model_id: RStr<'_>,
        inputs: RVec<Tensor>,
        outputs: RVec<RString>,
    ) -> RResult<RVec<Tensor>, PluginError> {
        lock(&self.runs).push(ModelRun {
            model: model_id.to_string(),
            inputs: inputs
                .iter()
                .map(|t| (t.name.to_string(), t.shape.to_vec()))
                .collect(),
        });
        let Some(runner) = &self.runner else {
            return RResult::RErr(PluginError::environment(format!(
                "model '{model_id}' is not in the test host's store"
            )));
        };
        let outputs: Vec<String> = outputs.iter().map(|s| s.to_string()).collect();
        runner(model_id.as_str(), inputs.into_vec(), &outputs)
            .map(RVec::from)
            .into()
    }

    fn progress(&self, fraction: f32, message: RStr<'_>) {
        lock(&self.progress).push((fraction, message.to_string()));
    }

    fn is_cancelled(&self) -> bool {
        let n = self.checks.fetch_add(1, Ordering::SeqCst);
        self.cancel_after.is_some_and(|after| n >= after)
    }

    fn log(&self, level: LogLevel, message: RStr<'_>) {
        lock(&self.logs).push((level, message.to_string()));
    }
}

/// Every parameter of an operation at its declared default, `overrides` replacing some, each
/// checked against its declaration.
///
/// # Panics
/// When an override names no parameter, fails its check, or a parameter's kind has no default.
pub fn job_params(d: &OperationDescriptor, overrides: &[(&str, ParamValue)]) -> Vec<Param> {
    for (name, _) in overrides {
        assert!(
            d.params.iter().any(|p| p.name == *name),
            "operation '{}' has no parameter '{name}'",
            d.id
        );
    }
    d.params
        .iter()
        .map(|spec| {
            let value = match overrides.iter().find(|(n, _)| spec.name == *n) {
                Some((_, v)) => spec
                    .check(v)
                    .unwrap_or_else(|e| panic!("test parameter is invalid: {e}")),
                None => spec
                    .default_value()
                    .unwrap_or_else(|| panic!("parameter '{}' has no default", spec.name)),
            };
            Param {
                name: spec.name.clone(),
                value,
            }
        })
        .collect()
}

/// Parameters exactly as given, unchecked (to test a plugin's own checks).
pub fn raw_params(values: &[(&str, ParamValue)]) -> Vec<Param> {
    values
        .iter()
        .map(|(name, value)| Param {
            name: (*name).into(),
            value: value.clone(),
        })
        .collect()
}

/// A job over borrowed views and parameters.
pub fn job<'a>(
    operation: &'a str,
    image: ImageView<'a>,
    mask: Option<ImageView<'a>>,
    references: &'a [ImageView<'a>],
    params: &'a [Param],
) -> Job<'a> {
    Job {
        operation: operation.into(),
        image,
        mask: ROption::from(mask),
        references: RSlice::from_slice(references),
        params: RSlice::from_slice(params),
    }
}

/// A store entry with the given tensor names and shapes (`-1`: a free dimension).
pub fn model_info(id: &str, inputs: &[(&str, &[i64])], outputs: &[(&str, &[i64])]) -> ModelInfo {
    let spec = |(name, shape): &(&str, &[i64])| TensorSpec {
        name: (*name).into(),
        shape: shape.iter().copied().collect(),
    };
    ModelInfo {
        id: id.into(),
        inputs: inputs.iter().map(spec).collect(),
        outputs: outputs.iter().map(spec).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HostExt, PixelFormat};

    #[test]
    fn records_reports_and_cancels_after_the_given_checks() {
        let t = TestHost::new().cancel_after(2);
        let host = t.host();
        host.progress(0.5, "half".into());
        host.log(LogLevel::Warn, "careful".into());
        assert!(host.check_cancelled().is_ok());
        assert!(host.check_cancelled().is_ok());
        assert_eq!(
            host.check_cancelled().unwrap_err().kind,
            crate::ErrorKind::Cancelled
        );
        assert_eq!(t.cancel_checks(), 3);
        assert_eq!(t.progress(), vec![(0.5, "half".to_string())]);
        assert_eq!(t.logs(), vec![(LogLevel::Warn, "careful".to_string())]);
    }

    #[test]
    fn models_run_through_the_closure_and_outputs_are_taken_by_name() {
        let t = TestHost::new().with_models(|id, inputs, _| {
            assert_eq!(id, "m");
            let doubled: Vec<f32> = inputs[0].data.iter().map(|v| v * 2.0).collect();
            Ok(vec![
                Tensor::new("side", &[1], vec![0.0]),
                Tensor::new("out", &[2], doubled),
            ])
        });
        let host = t.host();
        let out = host
            .run_model_output("m", vec![Tensor::new("in", &[2], vec![1.0, 2.0])], "out")
            .unwrap();
        assert_eq!(out.data.as_slice(), &[2.0, 4.0]);
        let err = host
            .run_model_output("m", vec![Tensor::new("in", &[1], vec![1.0])], "nope")
            .unwrap_err();
        assert!(err.message.contains("no output 'nope'"), "{err}");
        assert!(err.message.contains("side, out"), "{err}");
        assert_eq!(t.runs().len(), 2);
        assert_eq!(t.runs()[0].inputs, vec![("in".to_string(), vec![2])]);
        let none = TestHost::new();
        let err = none
            .host()
            .run_model_output("m", Vec::new(), "out")
            .unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::Environment);
    }

    #[test]
    fn job_params_fill_defaults_and_check_overrides() {
        let d = OperationDescriptor::new("x", "X", "T", "")
            .param(crate::ParamSpec::int("n", "N", "", 0, 9, 3))
            .param(crate::ParamSpec::boolean("b", "B", "", false));
        let p = job_params(&d, &[("b", ParamValue::boolean(true))]);
        assert_eq!(p[0].value, ParamValue::int(3));
        assert_eq!(p[1].value, ParamValue::boolean(true));
        let img = ImageBuf::from_rgba_f32(1, 1, &[0.0; 4], PixelFormat::Rgba32F).unwrap();
        let j = job("x", img.view(), None, &[], &p);
        assert_eq!(j.params().int("n").unwrap(), 3);
    }
}
