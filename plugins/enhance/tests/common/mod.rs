//! The SDK's test host backed by the host's real `ModelStore` (models from
//! `<repo>/../shared/models`), photo loading and image measures shared by this crate's
//! integration tests.
#![allow(dead_code)] // each test binary uses a different part

use easel_models::{ModelStore, ModelStoreConfig};
use easel_sdk::prelude::*;
pub use easel_sdk::testing::TestHost;
use easel_sdk::Param;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// One store for the whole test binary, so each model loads (and is verified) once.
pub fn store() -> &'static ModelStore {
    static STORE: OnceLock<ModelStore> = OnceLock::new();
    STORE.get_or_init(|| {
        ModelStore::new(ModelStoreConfig {
            folders: vec![shared().join("models")],
            memory_budget_bytes: 1 << 30,
            intra_threads: 0,
            onnxruntime: None,
            providers: Vec::new(),
        })
        .expect("model store")
    })
}

/// Held across each model run: tests run in parallel, and two inferences at once on a small
/// machine only slow each other down.
static INFERENCE: Mutex<()> = Mutex::new(());

/// The SDK's test host with models from the real store (one inference at a time).
pub fn host() -> TestHost {
    TestHost::new().with_models(|id, inputs, outputs| {
        let _turn = INFERENCE.lock().unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        let result = store().run(id, inputs, outputs);
        eprintln!(
            "{id}: store.run {:.2} s (a model's first run includes loading it)",
            started.elapsed().as_secs_f64()
        );
        result.map_err(PluginError::from)
    })
}

/// Runs `op` with exactly these parameters (unchecked, to test the plugin's own checks).
pub fn run_with<O: Operation>(
    host: &TestHost,
    op: &O,
    image: ImageView<'_>,
    params: &[Param],
) -> Result<ImageBuf, PluginError> {
    let id = op.descriptor().id;
    host.run(
        op,
        &easel_sdk::testing::job(id.as_str(), image, None, &[], params),
    )
}

pub fn choice(v: &str) -> ParamValue {
    ParamValue::choice(v)
}

/// A real photo as RGBA f32.
pub fn photo(name: &str) -> image::Rgba32FImage {
    image::open(shared().join("fixtures/photos").join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .to_rgba32f()
}

/// A `size`² crop of a real photo at (x, y).
pub fn crop(name: &str, x: u32, y: u32, w: u32, h: u32) -> image::Rgba32FImage {
    image::imageops::crop_imm(&photo(name), x, y, w, h).to_image()
}

pub fn to_buf(img: &image::Rgba32FImage) -> ImageBuf {
    let (w, h) = img.dimensions();
    ImageBuf::from_rgba_f32(w, h, img.as_raw(), PixelFormat::Rgba32F).expect("image")
}

pub fn from_buf(buf: &ImageBuf) -> image::Rgba32FImage {
    image::Rgba32FImage::from_raw(buf.width(), buf.height(), buf.view().to_rgba_f32())
        .expect("size")
}

/// Resize with image-rs (an implementation independent of the plugin's): its filters are
/// antialiased when shrinking.
pub fn resize(
    img: &image::Rgba32FImage,
    w: u32,
    h: u32,
    filter: image::imageops::FilterType,
) -> image::Rgba32FImage {
    image::imageops::resize(img, w, h, filter)
}

/// Halves an image (even sides) by 2×2 block means: the area filter.
pub fn area_half(img: &image::Rgba32FImage) -> image::Rgba32FImage {
    image::Rgba32FImage::from_fn(img.width() / 2, img.height() / 2, |x, y| {
        let px =
            [(0, 0), (1, 0), (0, 1), (1, 1)].map(|(dx, dy)| *img.get_pixel(2 * x + dx, 2 * y + dy));
        image::Rgba([0, 1, 2, 3].map(|c| px.iter().map(|p| p[c]).sum::<f32>() / 4.0))
    })
}

/// PSNR over RGB (0..1), ignoring `border` pixels on every side.
pub fn psnr(a: &image::Rgba32FImage, b: &image::Rgba32FImage, border: u32) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let (w, h) = a.dimensions();
    let (mut se, mut n) = (0.0f64, 0usize);
    for y in border..h - border {
        for x in border..w - border {
            let (p, q) = (a.get_pixel(x, y), b.get_pixel(x, y));
            for c in 0..3 {
                let d = f64::from(p[c].clamp(0.0, 1.0) - q[c].clamp(0.0, 1.0));
                se += d * d;
                n += 1;
            }
        }
    }
    10.0 * (1.0 / (se / n as f64)).log10()
}

/// Rec. 709 luminance of every pixel.
pub fn luma(img: &image::Rgba32FImage) -> Vec<f64> {
    img.pixels()
        .map(|p| f64::from(0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2]))
        .collect()
}

/// Mean squared finite-difference gradient of the luminance: high for sharp images.
pub fn gradient_energy(img: &image::Rgba32FImage) -> f64 {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let l = luma(img);
    let mut sum = 0.0;
    for y in 0..h - 1 {
        for x in 0..w - 1 {
            let gx = l[y * w + x + 1] - l[y * w + x];
            let gy = l[(y + 1) * w + x] - l[y * w + x];
            sum += gx * gx + gy * gy;
        }
    }
    sum / ((w - 1) * (h - 1)) as f64
}

/// Mean |Laplacian| of the luminance divided by mean luminance: detail relative to brightness.
pub fn relative_detail(img: &image::Rgba32FImage) -> f64 {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let l = luma(img);
    let mut sum = 0.0;
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            sum += (4.0 * l[i] - l[i - 1] - l[i + 1] - l[i - w] - l[i + w]).abs();
        }
    }
    let mean = l.iter().sum::<f64>() / l.len() as f64;
    sum / ((w - 2) * (h - 2)) as f64 / mean
}

pub fn mean_luma(img: &image::Rgba32FImage) -> f64 {
    let l = luma(img);
    l.iter().sum::<f64>() / l.len() as f64
}

/// Writes an image to the temp folder for a look.
pub fn save(img: &image::Rgba32FImage, name: &str) {
    let bytes: Vec<u8> = img
        .as_raw()
        .iter()
        .map(|&v| easel_sdk::image::quantize_u8(v))
        .collect();
    let path = std::env::temp_dir().join(format!("easel-enhance-{name}.png"));
    if let Some(img) = image::RgbaImage::from_raw(img.width(), img.height(), bytes) {
        if img.save(&path).is_ok() {
            eprintln!("wrote {}", path.display());
        }
    }
}
