//! Test support: fixture photos, a host that records progress and cancels on demand, and job
//! builders, so the operations run through the same `Operation::run` the daemon calls.

use easel_sdk::abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{ROption, RResult, RSlice, RStr, RString, RVec},
};
use easel_sdk::{
    HostServices, HostServices_TO, ImageBuf, Job, LogLevel, ModelInfo, Operation, Param,
    ParamValue, PixelFormat, PluginError, Tensor, TensorSpec,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// A fixture photo as packed RGBA f32 (grey photos expanded to RGB, alpha 1).
pub fn load_photo(name: &str) -> (usize, usize, Vec<f32>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/photos")
        .join(name);
    let img = image::open(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .to_rgba8();
    let (w, h) = img.dimensions();
    let data = img.as_raw().iter().map(|&v| v as f32 / 255.0).collect();
    (w as usize, h as usize, data)
}

/// PSNR (dB, peak 1) between two RGBA images over the pixels where `region` is true, RGB only.
pub fn psnr(a: &[f32], b: &[f32], region: &[bool]) -> f64 {
    let (mut se, mut n) = (0.0f64, 0usize);
    for (i, &r) in region.iter().enumerate() {
        if r {
            for k in 0..3 {
                let d = (a[i * 4 + k] - b[i * 4 + k]) as f64;
                se += d * d;
            }
            n += 3;
        }
    }
    10.0 * (1.0 / (se / n.max(1) as f64).max(1e-12)).log10()
}

/// A model the test host can run in place of the store.
pub type TestModel = fn(&[Tensor]) -> Vec<Tensor>;

/// A host without a model store (unless given a test model): records progress, cancels after
/// a number of `is_cancelled` calls when asked to.
pub struct TestHost {
    pub cancel_after: Option<usize>,
    pub cancel_checks: AtomicUsize,
    pub progress: Mutex<Vec<(f32, String)>>,
    pub logs: Mutex<Vec<String>>,
    pub model: Option<(ModelInfo, TestModel)>,
}

impl TestHost {
    pub fn new() -> Self {
        TestHost {
            cancel_after: None,
            cancel_checks: AtomicUsize::new(0),
            progress: Mutex::new(Vec::new()),
            logs: Mutex::new(Vec::new()),
            model: None,
        }
    }
    pub fn cancelling_after(checks: usize) -> Self {
        TestHost {
            cancel_after: Some(checks),
            ..Self::new()
        }
    }
    /// Runs `op` on `job` through the boundary types, as the worker would.
    pub fn run(&self, op: &dyn Operation, job: &Job<'_>) -> Result<ImageBuf, PluginError> {
        let host = HostServices_TO::from_ptr(self, TD_Opaque);
        op.run(job, &host).into_result()
    }
}

impl HostServices for TestHost {
    fn model_info(&self, model_id: RStr<'_>) -> RResult<ModelInfo, PluginError> {
        match &self.model {
            Some((info, _)) if info.id.as_str() == model_id.as_str() => RResult::ROk(info.clone()),
            _ => RResult::RErr(PluginError::environment(format!(
                "model '{model_id}' is not in the store"
            ))),
        }
    }
    fn run_model(
        &self,
        model_id: RStr<'_>,
        inputs: RVec<Tensor>,
        _outputs: RVec<RString>,
    ) -> RResult<RVec<Tensor>, PluginError> {
        match &self.model {
            Some((info, f)) if info.id.as_str() == model_id.as_str() => {
                RResult::ROk(f(inputs.as_slice()).into())
            }
            _ => RResult::RErr(PluginError::environment(format!(
                "model '{model_id}' is not in the store"
            ))),
        }
    }
    fn progress(&self, fraction: f32, message: RStr<'_>) {
        if let Ok(mut p) = self.progress.lock() {
            p.push((fraction, message.to_string()));
        }
    }
    fn is_cancelled(&self) -> bool {
        let n = self.cancel_checks.fetch_add(1, Ordering::SeqCst);
        self.cancel_after.is_some_and(|after| n >= after)
    }
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        if let Ok(mut l) = self.logs.lock() {
            l.push(format!("{level:?}: {message}"));
        }
    }
}

/// A packed Rgba32F buffer.
pub fn rgba_buf(w: usize, h: usize, rgba: &[f32]) -> ImageBuf {
    ImageBuf::from_rgba_f32(w as u32, h as u32, rgba, PixelFormat::Rgba32F).unwrap()
}

/// A packed Gray32F mask from coverage values.
pub fn mask_buf(w: usize, h: usize, coverage: &[f32]) -> ImageBuf {
    let rgba: Vec<f32> = coverage.iter().flat_map(|&c| [c, c, c, 1.0]).collect();
    ImageBuf::from_rgba_f32(w as u32, h as u32, &rgba, PixelFormat::Gray32F).unwrap()
}

/// Every parameter of `op` at its default, with `overrides` replacing some.
pub fn params(op: &dyn Operation, overrides: &[(&str, ParamValue)]) -> Vec<Param> {
    op.descriptor()
        .params
        .iter()
        .map(|spec| {
            let value = overrides
                .iter()
                .find(|(n, _)| *n == spec.name.as_str())
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| spec.default_value());
            Param {
                name: spec.name.clone(),
                value,
            }
        })
        .collect()
}

/// A job over borrowed buffers.
pub fn job<'a>(
    op: &'a str,
    image: &'a ImageBuf,
    mask: Option<&'a ImageBuf>,
    references: &'a [easel_sdk::ImageView<'a>],
    params: &'a [Param],
) -> Job<'a> {
    Job {
        operation: op.into(),
        image: image.view(),
        mask: match mask {
            Some(m) => ROption::RSome(m.view()),
            None => ROption::RNone,
        },
        references: RSlice::from_slice(references),
        params: RSlice::from_slice(params),
    }
}

/// A store entry with the given tensor names and shapes.
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
