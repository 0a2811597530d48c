//! Test support: fixture photos, image measures and job builders over the SDK's test host
//! (`easel_sdk::testing`), so the operations run through the same `Operation::run` the daemon
//! calls.

pub use easel_sdk::testing::{model_info, TestHost};
use easel_sdk::{ImageBuf, Job, Operation, Param, ParamValue, PixelFormat};

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
    easel_sdk::testing::job_params(&op.descriptor(), overrides)
}

/// A job over borrowed buffers.
pub fn job<'a>(
    op: &'a str,
    image: &'a ImageBuf,
    mask: Option<&'a ImageBuf>,
    references: &'a [easel_sdk::ImageView<'a>],
    params: &'a [Param],
) -> Job<'a> {
    easel_sdk::testing::job(
        op,
        image.view(),
        mask.map(ImageBuf::view),
        references,
        params,
    )
}
