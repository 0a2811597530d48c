//! What runs models: a small interface the store loads models through, so ONNX Runtime in this
//! process is one implementation and a remote inference server can be another.

use crate::ModelError;
use easel_sdk::Tensor;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// One input or output of a loaded model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    /// -1 for free dimensions.
    pub shape: Vec<i64>,
    /// The element type as the backend names it (`f32`, `f16`, `u8`, ...); `None` for a value
    /// that is not a tensor.
    pub element: Option<String>,
}

impl Port {
    pub fn describe(&self) -> String {
        format!("`{}` {:?}", self.name, self.shape)
    }
}

/// Loads models. Implementations are shared between threads.
pub trait Backend: Send + Sync {
    /// For logs and `easel doctor`: "onnxruntime", "triton at http://...".
    fn name(&self) -> String;
    /// Loads the model `id` from its verified file.
    fn load(&self, id: &str, path: &Path) -> Result<Box<dyn LoadedModel>, ModelError>;
    /// [`Backend::load`] of a file whose sha256 the store has just checked: a backend may key a
    /// cache of its own on it (ONNX Runtime keeps the optimized graph).
    fn load_verified(
        &self,
        id: &str,
        path: &Path,
        sha256: &str,
    ) -> Result<Box<dyn LoadedModel>, ModelError> {
        let _ = sha256;
        self.load(id, path)
    }
}

/// A model ready to run. Calls may come from several threads; an implementation that can run
/// only one call at a time serialises them itself.
pub trait LoadedModel: Send + Sync {
    fn inputs(&self) -> &[Port];
    fn outputs(&self) -> &[Port];
    /// Runs the model on f32 `inputs` by name and returns the `outputs` named (all of them when
    /// empty) as f32; stops soon after `cancel` turns true.
    fn run(
        &self,
        inputs: Vec<Tensor>,
        outputs: &[String],
        cancel: &AtomicBool,
    ) -> Result<Vec<Tensor>, ModelError>;
}
