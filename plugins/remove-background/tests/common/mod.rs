//! Test-side host services and job building shared by this crate's integration tests.
#![allow(dead_code)] // each test binary uses a different part

use easel_plugin_remove_background::RemoveBackground;
use easel_sdk::abi_stable::{
    sabi_trait::TD_Opaque,
    sabi_types::RRef,
    std_types::{RResult, RStr, RString, RVec},
};
use easel_sdk::prelude::*;
use easel_sdk::{HostServices, HostServices_TO, ModelInfo, Param};
use std::cell::{Cell, RefCell};

/// What a test host does when the plugin asks it to run a model.
pub type RunModel = Box<dyn Fn(&str, Vec<Tensor>, &[String]) -> Result<Vec<Tensor>, PluginError>>;

/// One recorded model run: the model id and its input tensors' names and shapes.
pub type ModelRun = (String, Vec<(String, Vec<i64>)>);

/// Host services for tests: model runs go to `run`; runs, progress and cancellation checks are
/// recorded so tests can assert on them.
pub struct TestHost {
    run: RunModel,
    /// Every progress report, in order.
    pub progress: RefCell<Vec<(f32, String)>>,
    /// Every model run, in order.
    pub runs: RefCell<Vec<ModelRun>>,
    /// `is_cancelled` answers true from this call on (counting from 0); `None`: never.
    pub cancel_at_check: Cell<Option<usize>>,
    checks: Cell<usize>,
    /// Seconds spent inside `run_model`.
    pub model_seconds: Cell<f64>,
}

impl TestHost {
    pub fn new(run: RunModel) -> Self {
        TestHost {
            run,
            progress: RefCell::new(Vec::new()),
            runs: RefCell::new(Vec::new()),
            cancel_at_check: Cell::new(None),
            checks: Cell::new(0),
            model_seconds: Cell::new(0.0),
        }
    }

    /// Runs `RemoveBackground` on `image` with the descriptor's defaults overridden by `params`.
    pub fn run_op(
        &self,
        image: ImageView<'_>,
        params: &[(&str, ParamValue)],
    ) -> Result<ImageBuf, PluginError> {
        let params = job_params(params);
        let job = Job {
            operation: "remove-background".into(),
            image,
            mask: easel_sdk::abi_stable::std_types::ROption::RNone,
            references: easel_sdk::abi_stable::std_types::RSlice::from_slice(&[]),
            params: easel_sdk::abi_stable::std_types::RSlice::from_slice(&params),
        };
        let host: Host<'_> = HostServices_TO::from_ptr(RRef::new(self), TD_Opaque);
        RemoveBackground.run(&job, &host).into_result()
    }
}

impl HostServices for TestHost {
    fn model_info(&self, model_id: RStr<'_>) -> RResult<ModelInfo, PluginError> {
        RResult::RErr(PluginError::environment(format!(
            "test host has no model info for '{model_id}'"
        )))
    }

    fn run_model(
        &self,
        model_id: RStr<'_>,
        inputs: RVec<Tensor>,
        outputs: RVec<RString>,
    ) -> RResult<RVec<Tensor>, PluginError> {
        self.runs.borrow_mut().push((
            model_id.to_string(),
            inputs
                .iter()
                .map(|t| (t.name.to_string(), t.shape.to_vec()))
                .collect(),
        ));
        let outputs: Vec<String> = outputs.iter().map(|s| s.to_string()).collect();
        let started = std::time::Instant::now();
        let result = (self.run)(model_id.as_str(), inputs.into_vec(), &outputs);
        self.model_seconds
            .set(self.model_seconds.get() + started.elapsed().as_secs_f64());
        result.map(RVec::from).into()
    }

    fn progress(&self, fraction: f32, message: RStr<'_>) {
        self.progress
            .borrow_mut()
            .push((fraction, message.to_string()));
    }

    fn is_cancelled(&self) -> bool {
        let n = self.checks.get();
        self.checks.set(n + 1);
        self.cancel_at_check.get().is_some_and(|at| n >= at)
    }

    fn log(&self, _level: LogLevel, _message: RStr<'_>) {}
}

/// Every parameter of the operation, defaults from its descriptor, some overridden.
pub fn job_params(overrides: &[(&str, ParamValue)]) -> Vec<Param> {
    RemoveBackground
        .descriptor()
        .params
        .iter()
        .map(|spec| {
            let value = overrides
                .iter()
                .find(|(n, _)| spec.name == *n)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| spec.default_value());
            Param {
                name: spec.name.clone(),
                value: spec.check(&value).expect("test parameter is valid"),
            }
        })
        .collect()
}

pub fn choice(v: &str) -> ParamValue {
    ParamValue::Choice(v.into())
}

/// Packed RGBA f32 samples of an operation's result.
pub fn rgba(buf: &ImageBuf) -> Vec<f32> {
    buf.view().to_rgba_f32()
}
