//! The services the host offers plugins: models, tensors, progress, cancellation, logging.

use crate::error::PluginError;
use abi_stable::{
    sabi_trait,
    sabi_types::RRef,
    std_types::{RResult, RStr, RString, RVec},
    StableAbi,
};

/// A dense f32 tensor, row-major.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Input or output name in the model.
    pub name: RString,
    pub shape: RVec<i64>,
    pub data: RVec<f32>,
}

impl Tensor {
    pub fn new(name: &str, shape: &[i64], data: Vec<f32>) -> Self {
        Tensor {
            name: name.into(),
            shape: shape.iter().copied().collect(),
            data: RVec::from(data),
        }
    }
}

/// A model's declared inputs and outputs, as the store knows them.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub id: RString,
    pub inputs: RVec<TensorSpec>,
    pub outputs: RVec<TensorSpec>,
}

/// A tensor's name and shape; -1 marks a free dimension.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct TensorSpec {
    pub name: RString,
    pub shape: RVec<i64>,
}

/// How important a log message is. A `u8` newtype, so later SDKs can add levels; a host logs a
/// level it does not name as `Info`.
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogLevel(pub u8);

#[allow(non_upper_case_globals)] // named like the enum variants they replaced
impl LogLevel {
    pub const Error: LogLevel = LogLevel(0);
    pub const Warn: LogLevel = LogLevel(1);
    pub const Info: LogLevel = LogLevel(2);
    pub const Debug: LogLevel = LogLevel(3);
}

/// Implemented by the host; plugins receive it as [`Host`].
#[sabi_trait]
pub trait HostServices {
    /// Whether the store has this model (verified and loadable), and its signature.
    fn model_info(&self, model_id: RStr<'_>) -> RResult<ModelInfo, PluginError>;

    /// Runs a model from the store; the host loads it on first use and keeps it resident.
    /// `outputs` names the outputs wanted (empty: all).
    fn run_model(
        &self,
        model_id: RStr<'_>,
        inputs: RVec<Tensor>,
        outputs: RVec<RString>,
    ) -> RResult<RVec<Tensor>, PluginError>;

    /// Reports progress in 0..1 with a short message.
    fn progress(&self, fraction: f32, message: RStr<'_>);

    /// True once the user has cancelled this job.
    fn is_cancelled(&self) -> bool;

    #[sabi(last_prefix_field)]
    fn log(&self, level: LogLevel, message: RStr<'_>);
}

/// The host as a plugin sees it during one job.
pub type Host<'a> = HostServices_TO<'a, RRef<'a, ()>>;

/// Convenience calls for plugin code.
pub trait HostExt {
    /// Returns `Err(Cancelled)` if the job was cancelled; call it between units of work.
    fn check_cancelled(&self) -> Result<(), PluginError>;

    /// Runs a model and returns the output called `output`, or a `Model` error that names the
    /// model and the outputs it did return.
    fn run_model_output(
        &self,
        model_id: &str,
        inputs: Vec<Tensor>,
        output: &str,
    ) -> Result<Tensor, PluginError>;
}

impl<T: HostServices + ?Sized> HostExt for T {
    fn check_cancelled(&self) -> Result<(), PluginError> {
        if self.is_cancelled() {
            Err(PluginError::cancelled())
        } else {
            Ok(())
        }
    }

    fn run_model_output(
        &self,
        model_id: &str,
        inputs: Vec<Tensor>,
        output: &str,
    ) -> Result<Tensor, PluginError> {
        let outputs = self
            .run_model(
                model_id.into(),
                RVec::from(inputs),
                RVec::from(vec![RString::from(output)]),
            )
            .into_result()?;
        let names: Vec<String> = outputs.iter().map(|t| t.name.to_string()).collect();
        outputs
            .into_iter()
            .find(|t| t.name == output)
            .ok_or_else(|| {
                PluginError::model(format!(
                    "model '{model_id}' returned no output '{output}' (it returned: {})",
                    if names.is_empty() {
                        "nothing".to_string()
                    } else {
                        names.join(", ")
                    }
                ))
            })
    }
}
